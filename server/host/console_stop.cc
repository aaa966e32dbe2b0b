#include "console_stop.h"

#if defined(_WIN32)
#include <windows.h>

#include <condition_variable>

#include <mfwq/thread_annotations.h>
#else
#include <pthread.h>
#include <signal.h>
#endif

namespace mfwq::server {

#if defined(_WIN32)

namespace {

Mutex g_mu;
std::condition_variable g_cv;
const char* g_reason MFWQ_GUARDED_BY(g_mu) = nullptr;
bool g_done MFWQ_GUARDED_BY(g_mu) = false;

const char* EventName(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
      return "CTRL_C";
    case CTRL_BREAK_EVENT:
      return "CTRL_BREAK";
    case CTRL_CLOSE_EVENT:
      return "CTRL_CLOSE";
    case CTRL_LOGOFF_EVENT:
      return "CTRL_LOGOFF";
    case CTRL_SHUTDOWN_EVENT:
      return "CTRL_SHUTDOWN";
    default:
      return "CTRL_OTHER";
  }
}

BOOL WINAPI OnConsoleControl(DWORD type) {
  MutexLock lock(g_mu);
  if (g_reason == nullptr) g_reason = EventName(type);
  g_cv.notify_all();
  if (type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT) return TRUE;
  // Returning ends the process: wait for the drain (the system allows a
  // few seconds for a close, more for a shutdown, then ends it anyway).
  g_cv.wait(lock.native(), []() MFWQ_REQUIRES(g_mu) { return g_done; });
  return TRUE;
}

}  // namespace

void PrepareForConsoleStop() { SetConsoleCtrlHandler(OnConsoleControl, TRUE); }

std::string WaitForConsoleStop() {
  MutexLock lock(g_mu);
  g_cv.wait(lock.native(), []() MFWQ_REQUIRES(g_mu) { return g_reason != nullptr; });
  return g_reason;
}

void ConsoleStopDone() {
  MutexLock lock(g_mu);
  g_done = true;
  g_cv.notify_all();
}

#else  // !_WIN32

namespace {

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void PrepareForConsoleStop() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string WaitForConsoleStop() {
  const sigset_t set = StopSignals();
  int received = 0;
  sigwait(&set, &received);
  return received == SIGTERM ? "SIGTERM" : "SIGINT";
}

void ConsoleStopDone() {}

#endif  // _WIN32

}  // namespace mfwq::server
