// An OperationObserver for tests of operation kinds: records the progress
// reports and the outcome (read from the MFASYNCRESULT), and can hold the
// work queue's thread in a progress report until told to resume, so that a
// test can act (cancel, say) at a known point of a running operation.
#ifndef MFWQ_TESTS_SERVER_CORE_KIND_RECORDER_H_
#define MFWQ_TESTS_SERVER_CORE_KIND_RECORDER_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "operation.h"
#include "test_support.h"

namespace mfwq::server {

struct ProgressReport {
  std::uint64_t done;
  std::uint64_t total;
  std::string message;
};

class KindRecorder final : public OperationObserver {
 public:
  // Whether to hold in this report (the `count`th so far); at most once.
  using HoldWhen = std::function<bool(const ProgressReport& report, std::size_t count)>;

  explicit KindRecorder(HoldWhen hold_when = nullptr) : hold_when_(std::move(hold_when)) {}

  bool OnStarting(Operation&) override { return true; }
  void OnProgress(Operation&, std::uint64_t done, std::uint64_t total,
                  const std::string& message) override {
    bool hold;
    {
      std::lock_guard lock(mu_);
      reports_.push_back({done, total, message});
      hold = hold_when_ && !held.IsOpen() && hold_when_(reports_.back(), reports_.size());
    }
    if (hold) {
      held.Open();
      resume.Wait();
    }
  }
  void OnCompleted(Operation& op) override {
    status = op.hrStatusResult;
    bytes = op.dwBytesTransferred;
    completed.Open();
  }
  std::vector<ProgressReport> reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }

  ::mfwq::test::Gate held, resume, completed;
  // Read once `completed` is open.
  HRESULT status = E_UNEXPECTED;
  DWORD bytes = 0;

 private:
  const HoldWhen hold_when_;
  std::mutex mu_;
  std::vector<ProgressReport> reports_;
};

}  // namespace mfwq::server

#endif  // MFWQ_TESTS_SERVER_CORE_KIND_RECORDER_H_
