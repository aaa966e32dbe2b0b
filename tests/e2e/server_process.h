// The real mfwq-server binary, started by a test on 127.0.0.1 port 0 with
// its own data directory, and a client for it.
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

  // SIGTERM, then waits for it to exit; returns its exit status (the
  // waitpid status decoded: exit code, or 128 + signal).
  int Terminate();
  // SIGKILL, then reaps it.
  void Kill();
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

}  // namespace mfwq::test

#endif  // MFWQ_TESTS_E2E_SERVER_PROCESS_H_
