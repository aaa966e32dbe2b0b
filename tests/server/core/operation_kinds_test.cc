// The server core's operation kinds, run through real Media Foundation work
// queues: the portable engine here, Wine's mfplat in the Windows build.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "builtin_kinds.h"
#include "operation.h"
#include "operation_kind.h"
#include "test_support.h"

namespace mfwq::server {
namespace {

using std::chrono::milliseconds;
using test::Gate;

// Records what the server would learn of an operation.
class Recorder final : public OperationObserver {
 public:
  bool OnStarting(Operation&) override {
    started_thread = std::this_thread::get_id();
    started.Open();
    return true;
  }
  void OnProgress(Operation&, std::uint64_t, std::uint64_t, const std::string&) override {}
  void OnCompleted(Operation& op) override {
    // What the completion notification is built from: the MFASYNCRESULT.
    status = op.hrStatusResult;
    bytes = op.dwBytesTransferred;
    ++completions;
    completed.Open();
  }
  Gate started, completed;
  std::thread::id started_thread;
  HRESULT status = E_UNEXPECTED;
  DWORD bytes = 0;
  std::atomic<int> completions{0};
};

class OperationKinds : public test::PlatformTest {
 protected:
  void SetUp() override {
    test::PlatformTest::SetUp();
    ASSERT_TRUE(RegisterBuiltinKinds(registry_).ok());
  }

  // A validated operation of `kind`, ready to put on `queue`.
  ComPtr<Operation> Make(const std::string& kind, Parameters parameters,
                         DWORD queue = MFASYNC_CALLBACK_QUEUE_MULTITHREADED) {
    std::shared_ptr<const OperationKind> k = registry_.Find(kind);
    EXPECT_NE(k, nullptr) << kind;
    if (k == nullptr) return nullptr;
    Status valid = ValidateParameters(k->info(), &parameters);
    EXPECT_TRUE(valid.ok()) << valid.message();
    Status checked = k->Check(parameters);
    EXPECT_TRUE(checked.ok()) << checked.message();
    auto callback = KindCallback::Create(k, queue);
    return Operation::Create({OperationNumber(1), kind, queue, 0, std::move(parameters), "state"},
                             callback.get(), recorder_);
  }

  KindRegistry registry_;
  std::shared_ptr<Recorder> recorder_ = std::make_shared<Recorder>();
};

TEST_F(OperationKinds, BuiltinKindsAreListedInNameOrder) {
  std::vector<std::string> names;
  for (const KindInfo* info : registry_.List()) names.push_back(info->name);
  EXPECT_EQ(names, (std::vector<std::string>{"echo", "fail", "sleep"}));
  EXPECT_EQ(registry_.Find("no.such.kind"), nullptr);
  EXPECT_EQ(RegisterBuiltinKinds(registry_).code(), StatusCode::kAlreadyExists);
}

TEST_F(OperationKinds, ParametersAreCheckedAndErrorsNameTheField) {
  const KindInfo& sleep = registry_.Find("sleep")->info();
  Parameters missing;
  Status s = ValidateParameters(sleep, &missing);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "parameters.duration: required");

  Parameters mistyped{{"duration", Value(std::string("5s"))}};
  s = ValidateParameters(sleep, &mistyped);
  EXPECT_EQ(s.message(), "parameters.duration: expected type duration, got string");

  Parameters unknown{{"duration", Value(milliseconds(1))}, {"speed", Value(true)}};
  s = ValidateParameters(sleep, &unknown);
  EXPECT_EQ(s.message(), "parameters.speed: kind \"sleep\" has no such parameter");

  Parameters negative{{"duration", Value(milliseconds(-1))}};
  ASSERT_TRUE(ValidateParameters(sleep, &negative).ok());
  EXPECT_EQ(registry_.Find("sleep")->Check(negative).message(), "parameters.duration: negative");

  Parameters success{{"hresult", Value(std::int64_t{0})}};
  const OperationKind& fail = *registry_.Find("fail");
  ASSERT_TRUE(ValidateParameters(fail.info(), &success).ok());
  EXPECT_EQ(fail.Check(success).code(), StatusCode::kInvalidArgument);
}

TEST_F(OperationKinds, DefaultsAreFilledIn) {
  Parameters none;
  ASSERT_TRUE(ValidateParameters(registry_.Find("echo")->info(), &none).ok());
  ASSERT_EQ(none.count("data"), 1u);
  EXPECT_EQ(std::get<Bytes>(none.at("data")).data, "");
}

// The completion's status and bytes are read from the MFASYNCRESULT the
// work queue handed to the kind's Invoke.
TEST_F(OperationKinds, EchoCompletesWithItsDataAndByteCount) {
  auto op = Make("echo", {{"data", Value(Bytes{"hello, queue"})}});
  ASSERT_TRUE(op);
  ASSERT_EQ(MFPutWorkItemEx2(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, 0, op.get()), S_OK);
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_EQ(recorder_->status, S_OK);
  EXPECT_EQ(recorder_->bytes, 12u);
  EXPECT_EQ(op->result(), "hello, queue");
  EXPECT_EQ(op->bytes_transferred(), 12u);
  EXPECT_EQ(recorder_->completions.load(), 1);
}

TEST_F(OperationKinds, FailCompletesWithTheChosenHResult) {
  auto op = Make("fail", {{"hresult", Value(std::int64_t{0x80070002})},
                          {"message", Value(std::string("no such file"))}});
  ASSERT_TRUE(op);
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_STANDARD, op.get()), S_OK);
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_EQ(recorder_->status, static_cast<HRESULT>(0x80070002));
  EXPECT_EQ(op->message(), "no such file");
}

// E_FAIL as C, C# and PowerShell print it (signed) is the same 32 bits as
// its pattern; anything outside both ranges is refused.
TEST_F(OperationKinds, FailTakesAnHResultSignedOrAsItsPattern) {
  const OperationKind& fail = *registry_.Find("fail");
  for (std::int64_t v : {std::int64_t{-2147467259}, std::int64_t{0x80004005},
                         std::int64_t{-1}, std::int64_t{INT32_MIN}}) {
    Parameters p{{"hresult", Value(v)}};
    ASSERT_TRUE(ValidateParameters(fail.info(), &p).ok());
    EXPECT_TRUE(fail.Check(p).ok()) << v;
  }
  for (std::int64_t v : {std::int64_t{INT32_MIN} - 1, std::int64_t{0}, std::int64_t{0x7FFFFFFF},
                         std::int64_t{0x100000000}}) {
    Parameters p{{"hresult", Value(v)}};
    ASSERT_TRUE(ValidateParameters(fail.info(), &p).ok());
    EXPECT_EQ(fail.Check(p).code(), StatusCode::kInvalidArgument) << v;
  }
  auto op = Make("fail", {{"hresult", Value(std::int64_t{-2147467259})}});
  ASSERT_TRUE(op);
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_STANDARD, op.get()), S_OK);
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_EQ(recorder_->status, E_FAIL);
}

TEST_F(OperationKinds, SleepCompletesAfterItsDuration) {
  auto op = Make("sleep", {{"duration", Value(milliseconds(30))}});
  ASSERT_TRUE(op);
  const auto put = std::chrono::steady_clock::now();
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION, op.get()), S_OK);
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_GE(std::chrono::steady_clock::now() - put, milliseconds(30));
  EXPECT_EQ(recorder_->status, S_OK);
}

TEST_F(OperationKinds, CancelledSleepStopsWithOperationCancelled) {
  auto op = Make("sleep", {{"duration", Value(std::chrono::hours(1))}});
  ASSERT_TRUE(op);
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION, op.get()), S_OK);
  ASSERT_TRUE(recorder_->started.Wait());
  op->RequestCancel();
  ASSERT_TRUE(recorder_->completed.Wait());  // an hour if the cancel were missed
  EXPECT_EQ(recorder_->status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(op->message(), "cancelled while sleeping");
}

TEST_F(OperationKinds, OperationCancelledBeforeItStartsNeverRuns) {
  auto op = Make("echo", {{"data", Value(Bytes{"x"})}});
  ASSERT_TRUE(op);
  op->RequestCancel();
  ASSERT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, op.get()), S_OK);
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_EQ(recorder_->status, MF_E_OPERATION_CANCELLED);
  EXPECT_FALSE(recorder_->started.IsOpen());
  EXPECT_EQ(op->result(), "");
}

// A scheduled operation runs on the queue its kind's callback names.
TEST_F(OperationKinds, ScheduledOperationRunsOnItsQueue) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  test::QueueBlocker blocker;
  ASSERT_TRUE(blocker.Block(queue));
  auto op = Make("echo", {{"data", Value(Bytes{"later"})}}, queue);
  ASSERT_TRUE(op);
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFScheduleWorkItemEx(op.get(), -5, &key), S_OK);
  blocker.Release();
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_EQ(recorder_->started_thread, blocker.thread());
  EXPECT_EQ(recorder_->status, S_OK);
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

// A waiting operation whose wait is cancelled completes as cancelled
// without running (MF invokes it with MF_E_OPERATION_CANCELLED).
TEST_F(OperationKinds, CancelledWaitingOperationCompletesWithoutRunning) {
  test::EventHandle event(true, false);
  auto op = Make("echo", {{"data", Value(Bytes{"never"})}});
  ASSERT_TRUE(op);
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFPutWaitingWorkItem(event.get(), 0, op.get(), &key), S_OK);
  ASSERT_EQ(MFCancelWorkItem(key), S_OK);
  ASSERT_TRUE(recorder_->completed.Wait());
  EXPECT_EQ(recorder_->status, MF_E_OPERATION_CANCELLED);
  EXPECT_FALSE(recorder_->started.IsOpen());
}

}  // namespace
}  // namespace mfwq::server
