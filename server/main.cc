// mfwq-server: Media Foundation work queues, served over gRPC.
#include <cstdio>

#ifdef _WIN32
#include <windows.h>

#include <condition_variable>
#include <mutex>
#else
#include <pthread.h>
#include <signal.h>
#endif

#include "config.h"
#include "log.h"
#include "server.h"

namespace {

#ifdef _WIN32
// Ctrl+C, Ctrl+Break and the service stop arrive on a thread of their own.
std::mutex g_mu;
std::condition_variable g_cv;
const char* g_stop_reason = nullptr;

BOOL WINAPI OnConsoleControl(DWORD type) {
  std::lock_guard lock(g_mu);
  g_stop_reason = type == CTRL_C_EVENT ? "CTRL_C" : "CTRL_CLOSE";
  g_cv.notify_all();
  return TRUE;
}

void BlockStopSignals() { SetConsoleCtrlHandler(OnConsoleControl, TRUE); }

const char* WaitForStopSignal() {
  std::unique_lock lock(g_mu);
  g_cv.wait(lock, [] { return g_stop_reason != nullptr; });
  return g_stop_reason;
}
#else
// SIGTERM and SIGINT are blocked before any thread starts (threads inherit
// the mask), and main waits for them with sigwait.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

const char* WaitForStopSignal() {
  const sigset_t set = StopSignals();
  int received = 0;
  sigwait(&set, &received);
  return received == SIGTERM ? "SIGTERM" : "SIGINT";
}
#endif

}  // namespace

int main(int argc, char** argv) {
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
  BlockStopSignals();

  auto server = mfwq::server::Server::Start(command_line->config);
  if (!server.ok()) {
    std::fprintf(stderr, "mfwq-server: %s\n", server.status().message().c_str());
    return 1;
  }
  // The one line on standard output: where to connect (scripts read it).
  std::printf("mfwq-server listening on %s\n", server.value()->address().c_str());
  std::fflush(stdout);

  const char* signal_name = WaitForStopSignal();
  mfwq::server::LogLine("info", "signal").Field("signal", signal_name);
  server.value()->Shutdown(command_line->config.drain_timeout);
  server.value().reset();
  return 0;
}
