// The real mfwq-server binary, started by a test on 127.0.0.1 port 0 with
// its own data directory, and a client for it.
//
// The server under test is the one this build made, or the one the
// environment names in MFWQ_TEST_SERVER. A Windows one (a .exe, such as the
// windows-wine build's server/mfwq-server.exe) runs under Wine
// (cmake/wine-run.sh, with the WINEPREFIX of the build it came from): the
// same tests then drive a Windows server from this Linux side over
// 127.0.0.1. Paths handed to it go through ServerPath, which gives Wine's
// name for a folder of this side (Z:\tmp\...).
#ifndef MFWQ_TESTS_E2E_SERVER_PROCESS_H_
#define MFWQ_TESTS_E2E_SERVER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "mfwq/v1/mfwq.grpc.pb.h"

namespace mfwq::test {

namespace v1 = ::mfwq::v1;

// A fresh, empty folder under the temporary directory, removed with it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServerProcess {
 public:
  // Starts mfwq-server --listen 127.0.0.1:0 --data-dir `data_dir` plus
  // `args`, and waits for the line that says where it listens. Returns
  // nullptr (with the reason in *error) if it does not come up.
  static std::unique_ptr<ServerProcess> Start(const std::string& data_dir,
                                              const std::vector<std::string>& args,
                                              std::string* error);
  // Kills it if still running.
  ~ServerProcess();

  const std::string& address() const { return address_; }
  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<v1::WorkQueues::Stub> Stub() const;

  // Asks it to stop gracefully, then waits for it to exit; returns its exit
  // status (the waitpid status decoded: exit code, or 128 + signal). A
  // POSIX server gets SIGTERM; a Windows one SIGINT, which Wine hands it as
  // CTRL_C_EVENT, for its console control handler.
  int Terminate();
  // SIGKILL, then reaps it.
  void Kill();
  // Sends it `signal`, then waits for it to exit; its status as Terminate's.
  int SignalAndWait(int signal);
  // What it logged on standard error so far.
  std::string Log() const;

 private:
  ServerProcess() = default;
  int Wait();

  pid_t pid_ = -1;
  std::string address_;
  std::string log_path_;
};

// A context for a call as client `client`, with a deadline.
std::unique_ptr<grpc::ClientContext> Context(
    const std::string& client = "test-client",
    std::chrono::milliseconds deadline = std::chrono::seconds(30));

// The path of the mfwq-server binary under test.
const char* ServerBinary();
// Whether it is a Windows program (run under Wine).
bool ServerIsWindows();
// The command line that starts it (the binary, or Wine's runner and the
// binary), for a shell.
std::string ServerCommand();
// `path`, a path of this system, as the server under test names it: the
// same on POSIX; Z:\... (Wine's drive for /) for a Windows server.
std::string ServerPath(const std::string& path);
// The name of the Wine deviation that keeps a test from running against a
// Windows server under Wine; GTEST_SKIP()s with it there. Use as
//   MFWQ_SKIP_ON_WINDOWS_SERVER("why");
#define MFWQ_SKIP_ON_WINDOWS_SERVER(why)                                \
  do {                                                                 \
    if (::mfwq::test::ServerIsWindows()) GTEST_SKIP() << "Windows server: " << (why); \
  } while (0)

}  // namespace mfwq::test

#endif  // MFWQ_TESTS_E2E_SERVER_PROCESS_H_
