// Helpers shared by the end-to-end tests.
#ifndef MFWQ_TESTS_E2E_E2E_TEST_H_
#define MFWQ_TESTS_E2E_E2E_TEST_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_process.h"

namespace mfwq::test {

constexpr std::uint32_t kStandard = 1;       // MFASYNC_CALLBACK_QUEUE_STANDARD
constexpr std::uint32_t kMultithreaded = 5;  // MFASYNC_CALLBACK_QUEUE_MULTITHREADED
constexpr std::uint32_t kLongFunction = 7;   // MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION
constexpr std::uint32_t kSOk = 0;
constexpr std::uint32_t kCancelled = 0xC00D36EDu;  // MF_E_OPERATION_CANCELLED
constexpr std::uint32_t kShutdown = 0xC00D3E85u;   // MF_E_SHUTDOWN

// A server of its own per test, in a data directory of its own.
class E2ETest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  // Every test ends with a graceful shutdown, which must succeed (under the
  // sanitizers this is also when the server's leak check runs).
  void TearDown() override;
  virtual std::vector<std::string> ServerArgs() const { return {}; }
  // Starts (or restarts, on the same data directory) the server.
  void StartServer();

  v1::SubmitRequest Echo(const std::string& data, std::uint32_t queue = kMultithreaded) const;
  v1::SubmitRequest Sleep(std::chrono::milliseconds d, std::uint32_t queue = kLongFunction) const;
  // Submits; fails the test if refused.
  v1::Operation Submit(const v1::SubmitRequest& request, const std::string& client = "test-client");
  // Waits (up to 30 s) for the operation to complete.
  v1::Operation WaitDone(const std::string& id, const std::string& client = "test-client");
  // Polls until the operation is in `state` (for states that no call waits for).
  v1::Operation WaitForState(const std::string& id, v1::OperationState state,
                             const std::string& client = "test-client");

  TempDir dir_;
  std::string data_dir_ = dir_.path() + "/data";
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::WorkQueues::Stub> stub_;
};

}  // namespace mfwq::test

#endif  // MFWQ_TESTS_E2E_E2E_TEST_H_
