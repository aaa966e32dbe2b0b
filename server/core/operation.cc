#include "operation.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace mfwq::server {

ComPtr<Operation> Operation::Create(OperationSpec spec, IMFAsyncCallback* callback,
                                    std::shared_ptr<OperationObserver> observer) {
  return ComPtr<Operation>::Adopt(new Operation(std::move(spec), callback, std::move(observer)));
}

Operation::Operation(OperationSpec spec, IMFAsyncCallback* callback,
                     std::shared_ptr<OperationObserver> observer)
    : spec_(std::move(spec)), observer_(std::move(observer)) {
  std::memset(&overlapped, 0, sizeof overlapped);  // MF's: the work queue uses it
  pCallback = callback;
  if (pCallback != nullptr) pCallback->AddRef();
  hrStatusResult = S_OK;
  dwBytesTransferred = 0;
  hEvent = nullptr;
}

Operation::~Operation() {
  if (pCallback != nullptr) pCallback->Release();
}

HRESULT Operation::GetState(IUnknown** state) {
  if (state != nullptr) *state = nullptr;
  return E_POINTER;
}

HRESULT Operation::GetStatus() { return hrStatusResult; }

HRESULT Operation::SetStatus(HRESULT status) {
  hrStatusResult = status;
  return S_OK;
}

HRESULT Operation::GetObject(IUnknown** object) {
  if (object != nullptr) *object = nullptr;
  return E_POINTER;
}

IUnknown* Operation::GetStateNoAddRef() { return nullptr; }

void Operation::SetBytesTransferred(std::uint64_t bytes) {
  bytes_transferred_ = bytes;
  dwBytesTransferred = static_cast<DWORD>(std::min<std::uint64_t>(bytes, 0xFFFFFFFFu));
}

void Operation::ReportProgress(std::uint64_t done, std::uint64_t total,
                               const std::string& message) {
  if (observer_) observer_->OnProgress(*this, done, total, message);
}

void Operation::RequestCancel() {
  std::lock_guard lock(cancel_mu_);
  cancel_requested_ = true;
  cancel_cv_.notify_all();
}

bool Operation::WaitForCancel(std::chrono::nanoseconds duration) {
  std::unique_lock lock(cancel_mu_);
  return cancel_cv_.wait_for(lock, duration, [this] { return cancel_requested_.load(); });
}

}  // namespace mfwq::server
