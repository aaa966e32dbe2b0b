// Operation: one submitted operation, as the object Media Foundation hands
// to Invoke. It inherits MFASYNCRESULT (a custom result object, as MF's
// documentation describes): the operation's outcome is hrStatusResult (the
// HRESULT) and dwBytesTransferred, read from that struct to build the
// completion, plus what MF has no field for (result bytes, a message, a
// 64-bit byte count, progress and cancellation).
//
// Thread-safety: the kind that runs it writes the outcome from one work-queue
// thread; RequestCancel and the accessors of what does not change after
// creation may be called from any thread.
#ifndef MFWQ_SERVER_CORE_OPERATION_H_
#define MFWQ_SERVER_CORE_OPERATION_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <mfwq/com_object.h>
#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "operation_number.h"
#include "value.h"

namespace mfwq::server {

class Operation;

// What the owner of operations (the server) learns of them; called on the
// work-queue thread that runs the operation. Must not block.
class OperationObserver {
 public:
  virtual ~OperationObserver() = default;
  // Called when the operation's turn comes on its queue; false means it
  // must not run (it completed meanwhile, for example cancelled), and
  // OnCompleted follows at once.
  virtual bool OnStarting(Operation& op) = 0;
  virtual void OnProgress(Operation& op, std::uint64_t done, std::uint64_t total,
                          const std::string& message) = 0;
  // Called after the kind has set the outcome (or instead of running it).
  virtual void OnCompleted(Operation& op) = 0;
};

// What does not change after submission.
struct OperationSpec {
  OperationNumber number;
  std::string kind;
  DWORD queue = MFASYNC_CALLBACK_QUEUE_STANDARD;
  LONG priority = 0;
  Parameters parameters;  // validated, defaults filled in
  std::string state;      // opaque, echoed in the completion
};

class Operation final : public ComObject<Operation, MFASYNCRESULT> {
 public:
  // `callback` (the kind on the operation's queue) becomes pCallback and is
  // held; `observer` may be null.
  static ComPtr<Operation> Create(OperationSpec spec, IMFAsyncCallback* callback,
                                  std::shared_ptr<OperationObserver> observer);

  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncResult); }

  // IMFAsyncResult. GetState and GetObject give E_POINTER: the remote state
  // is bytes (spec().state), not an object.
  HRESULT STDMETHODCALLTYPE GetState(IUnknown** state) override;
  HRESULT STDMETHODCALLTYPE GetStatus() override;
  HRESULT STDMETHODCALLTYPE SetStatus(HRESULT status) override;
  HRESULT STDMETHODCALLTYPE GetObject(IUnknown** object) override;
  IUnknown* STDMETHODCALLTYPE GetStateNoAddRef() override;

  const OperationSpec& spec() const { return spec_; }
  OperationObserver* observer() const { return observer_.get(); }

  // --- For the kind that runs it ---
  // Sets dwBytesTransferred (saturated at its 32 bits) and the full count.
  void SetBytesTransferred(std::uint64_t bytes);
  std::uint64_t bytes_transferred() const { return bytes_transferred_; }
  void SetResult(std::string bytes) { result_ = std::move(bytes); }
  const std::string& result() const { return result_; }
  void SetMessage(std::string message) { message_ = std::move(message); }
  const std::string& message() const { return message_; }
  void ReportProgress(std::uint64_t done, std::uint64_t total, const std::string& message);

  // --- Cancellation, from any thread ---
  void RequestCancel();
  bool cancel_requested() const { return cancel_requested_.load(); }
  // Waits `duration` or until cancelled; true if cancelled.
  bool WaitForCancel(std::chrono::nanoseconds duration);

 private:
  friend class ComObject<Operation, MFASYNCRESULT>;
  Operation(OperationSpec spec, IMFAsyncCallback* callback,
            std::shared_ptr<OperationObserver> observer);
  ~Operation();

  // Constant after construction.
  const OperationSpec spec_;
  const std::shared_ptr<OperationObserver> observer_;
  // Written by the running kind.
  std::uint64_t bytes_transferred_ = 0;
  std::string result_;
  std::string message_;

  std::atomic<bool> cancel_requested_{false};
  std::mutex cancel_mu_;
  std::condition_variable cancel_cv_;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_H_
