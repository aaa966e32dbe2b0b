// Operation kinds: what a submitted operation does ("echo", "sleep",
// "file.copy", ...). A new kind implements OperationKind and is registered
// in a KindRegistry; that is all the server needs to offer it.
//
// A kind runs through Media Foundation: KindCallback is the
// IMFAsyncCallback of a kind on a work queue, and the Operation it is
// invoked with is a custom result inheriting MFASYNCRESULT, whose
// hrStatusResult and dwBytesTransferred are the operation's outcome.
#ifndef MFWQ_SERVER_CORE_OPERATION_KIND_H_
#define MFWQ_SERVER_CORE_OPERATION_KIND_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <mfwq/com_object.h>
#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "operation.h"
#include "status.h"
#include "value.h"

namespace mfwq::server {

struct ParameterInfo {
  std::string name;
  ValueType type = ValueType::kString;
  bool required = false;
  std::optional<Value> default_value;  // used when not given (not required ones)
  std::string description;
};

struct KindInfo {
  std::string name;
  std::string description;
  std::vector<ParameterInfo> parameters;
  // A running operation stops when cancelled (any can be cancelled before
  // it starts).
  bool cancellable_while_running = false;
  bool reports_progress = false;
};

class OperationKind {
 public:
  virtual ~OperationKind() = default;

  virtual const KindInfo& info() const = 0;

  // Checks what ValidateParameters cannot: value ranges, combinations. The
  // parameters are complete and typed. Errors name the parameter
  // ("parameters.hresult: ...").
  virtual Status Check(const Parameters& parameters) const;

  // Runs `op` on the calling work-queue thread and sets its outcome:
  // SetStatus (S_OK if never called), SetBytesTransferred, SetResult,
  // SetMessage. A kind with cancellable_while_running returns soon after
  // op.cancel_requested() becomes true, with MF_E_OPERATION_CANCELLED.
  // Never throws.
  virtual void Run(Operation& op) const = 0;
};

// Checks `parameters` against `info`: every name known, every required one
// present, every value of its declared type; fills in defaults. The error
// names the parameter: "parameters.duration: expected type duration, got
// string".
Status ValidateParameters(const KindInfo& info, Parameters* parameters);

// The IMFAsyncCallback through which `kind` runs operations on `queue`:
// GetParameters names the queue (so MF routes scheduled and waiting items
// there), Invoke runs the Operation it is handed and reports to the
// operation's observer.
class KindCallback final : public ComObject<KindCallback, IMFAsyncCallback> {
 public:
  static ComPtr<KindCallback> Create(std::shared_ptr<const OperationKind> kind, DWORD queue);
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }

  HRESULT STDMETHODCALLTYPE GetParameters(DWORD* flags, DWORD* queue) override;
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult* result) override;

 private:
  friend class ComObject<KindCallback, IMFAsyncCallback>;
  KindCallback(std::shared_ptr<const OperationKind> kind, DWORD queue);
  ~KindCallback() = default;

  const std::shared_ptr<const OperationKind> kind_;
  const DWORD queue_;
};

// The catalog: kinds by name. Register everything before sharing it;
// lookups are then thread-safe.
class KindRegistry {
 public:
  // ALREADY_EXISTS if a kind of that name is registered.
  Status Register(std::shared_ptr<const OperationKind> kind);
  // nullptr if there is none.
  std::shared_ptr<const OperationKind> Find(const std::string& name) const;
  // In name order.
  std::vector<const KindInfo*> List() const;

 private:
  std::map<std::string, std::shared_ptr<const OperationKind>> kinds_;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_KIND_H_
