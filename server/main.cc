// mfwq-server: Media Foundation work queues, served over gRPC. Run from a
// console (or a supervisor), or on Windows as a service (`service ...`,
// host/windows_service.h).
#include <cstdio>
#include <cstring>

#include "config.h"
#include "console_stop.h"
#include "serve.h"
#if defined(_WIN32)
#include "windows_service.h"
#endif

int main(int argc, char** argv) {
#if defined(_WIN32)
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
