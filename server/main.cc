// mfwq-server: Media Foundation work queues, served over gRPC.
#include <pthread.h>
#include <signal.h>

#include <cstdio>

#include "config.h"
#include "log.h"
#include "server.h"

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
  // SIGTERM and SIGINT are blocked before any thread starts (threads
  // inherit the mask), and main waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = mfwq::server::Server::Start(command_line->config);
  if (!server.ok()) {
    std::fprintf(stderr, "mfwq-server: %s\n", server.status().message().c_str());
    return 1;
  }
  // The one line on standard output: where to connect (scripts read it).
  std::printf("mfwq-server listening on %s\n", server.value()->address().c_str());
  std::fflush(stdout);

  int received = 0;
  sigwait(&stop_signals, &received);
  mfwq::server::LogLine("info", "signal").Field("signal", received == SIGTERM ? "SIGTERM" : "SIGINT");
  server.value()->Shutdown(command_line->config.drain_timeout);
  server.value().reset();
  return 0;
}
