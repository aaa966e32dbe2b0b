// How a server run from a console (or by a supervisor such as systemd, or a
// test) is asked to stop gracefully.
//   POSIX    SIGTERM or SIGINT. Both are blocked before any thread starts
//            (threads inherit the mask) and waited for with sigwait.
//   Windows  the console control handler: Ctrl+C, Ctrl+Break, closing the
//            console window, logoff and system shutdown (Wine delivers a
//            SIGINT sent to a Windows process as Ctrl+C). The system ends
//            the process once the handler returns from a close, logoff or
//            shutdown event, so for those the handler waits until the
//            server has stopped (ConsoleStopDone) or the system's own time
//            runs out.
// Thread use: PrepareForConsoleStop on the main thread before any other
// starts; WaitForConsoleStop and ConsoleStopDone on the thread that runs the
// server; Windows calls the handler on a thread of its own.
#ifndef MFWQ_SERVER_HOST_CONSOLE_STOP_H_
#define MFWQ_SERVER_HOST_CONSOLE_STOP_H_

#include <string>

namespace mfwq::server {

void PrepareForConsoleStop();
// Blocks until a stop is asked for; what asked ("SIGTERM", "CTRL_C", ...).
std::string WaitForConsoleStop();
// The server has shut down.
void ConsoleStopDone();

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_HOST_CONSOLE_STOP_H_
