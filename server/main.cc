// mfwq-server: Media Foundation work queues, served over gRPC. Run from a
// console (or a supervisor), or on Windows as a service (`service ...`,
// host/windows_service.h).
#include <cstdio>
#include <cstring>

#include "config.h"
#include "console_stop.h"
#include "serve.h"
#if defined(_WIN32)
#include <windows.h>
// windows.h first
#include <shellapi.h>

#include <string>
#include <vector>

#include "os_error.h"
#include "windows_service.h"
#else
#include <csignal>

#include <absl/debugging/failure_signal_handler.h>
#include <absl/debugging/symbolize.h>
#endif

#if defined(_WIN32)
namespace {

// The command line as UTF-8, as the server takes every string (main's argv
// is in the ANSI code page, which cannot hold every path).
std::vector<std::string> Utf8Arguments() {
  int count = 0;
  wchar_t** wide = CommandLineToArgvW(GetCommandLineW(), &count);
  std::vector<std::string> args;
  for (int i = 0; i < count; ++i) args.push_back(mfwq::server::Narrow(wide[i]));
  LocalFree(wide);
  return args;
}

}  // namespace
#endif

int main(int argc, char** argv) {
#if defined(_WIN32)
  const std::vector<std::string> utf8 = Utf8Arguments();
  std::vector<char*> utf8_argv;
  for (const std::string& arg : utf8) utf8_argv.push_back(const_cast<char*>(arg.c_str()));
  utf8_argv.push_back(nullptr);
  argc = static_cast<int>(utf8.size());
  argv = utf8_argv.data();
  if (argc >= 2 && std::strcmp(argv[1], "service") == 0) {
    return mfwq::server::ServiceCommand(argc - 1, argv + 1);
  }
#endif
  auto command_line = mfwq::server::ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    std::fprintf(stderr, "mfwq-server: %s\n", command_line.status().message().c_str());
    return 2;
  }
  if (command_line->help) {
    std::fputs(mfwq::server::UsageText(), stdout);
    return 0;
  }
  if (command_line->version) {
    std::puts("mfwq-server " MFWQ_VERSION);
    return 0;
  }
#if !defined(_WIN32)
  // A crash writes the signal and the stack to standard error, then ends
  // the process as the signal would have. SIGTERM is a request to stop
  // (host/console_stop.h), not a crash.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  std::signal(SIGTERM, SIG_DFL);
#endif
  mfwq::server::PrepareForConsoleStop();

  mfwq::server::ServeHooks hooks;
  hooks.listening = [](const std::string& address) {
    // The one line on standard output: where to connect (scripts read it).
    std::printf("mfwq-server listening on %s\n", address.c_str());
    std::fflush(stdout);
  };
  hooks.wait_for_stop = mfwq::server::WaitForConsoleStop;
  const mfwq::server::Status served = mfwq::server::Serve(command_line->config, hooks);
  mfwq::server::ConsoleStopDone();
  if (!served.ok()) {
    std::fprintf(stderr, "mfwq-server: %s\n", served.message().c_str());
    return 1;
  }
  return 0;
}
