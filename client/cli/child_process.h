// A copy of this very program, started with other arguments as a process of
// its own (`mfwq bench` starts `mfwq bench-baseline` so). It reads its
// standard input from a pipe the parent holds, and ends when that closes;
// its first line of standard output is read back; standard error is the
// parent's. posix_spawn of /proc/self/exe on Linux, CreateProcessW of the
// module's own file on Windows.
//
// Thread-safety: one thread at a time.
#ifndef MFWQ_CLIENT_CLI_CHILD_PROCESS_H_
#define MFWQ_CLIENT_CLI_CHILD_PROCESS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace mfwq::cli {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Stops it if still running.
  ~ChildProcess() { (void)Stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts this program with `args` (its argv after argv[0]; args[0] is
  // the command, such as "bench-baseline") and reads its first line of
  // output into first_line() (without the newline). The error says why it
  // could not, or that it ended before writing a line; empty on success.
  std::string Start(const std::vector<std::string>& args);
  const std::string& first_line() const { return first_line_; }

  // Closes its input and waits for it to end. Its exit code (128 + the
  // signal if a signal ended it), or -1 if none was running.
  int Stop();

  // Reads standard input until it ends: what a child started so does to
  // wait for its parent's Stop.
  static void WaitForInputToEnd();

 private:
  std::string first_line_;
#if defined(_WIN32)
  void* process_ = nullptr;  // HANDLE
  void* input_ = nullptr;    // HANDLE: the write end of its standard input
#else
  int pid_ = -1;
  int input_ = -1;
#endif
};

}  // namespace mfwq::cli

#endif  // MFWQ_CLIENT_CLI_CHILD_PROCESS_H_
