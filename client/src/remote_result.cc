#include "remote_result.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>

#include <mfwq/com_object.h>
#include <mfwq/hresult.h>

namespace mfwq::client::internal {
namespace {

// The private interface id by which EndSubmit recognises its results.
constexpr GUID kRemoteResultIid = {0x6d667771, 0x7265, 0x6d6f,
                                   {0x74, 0x65, 0x72, 0x65, 0x73, 0x75, 0x6c, 0x74}};

// What Invoke is handed: an MFASYNCRESULT holding the remote outcome
// (hrStatusResult, dwBytesTransferred) and the whole completion.
class RemoteResult final : public ComObject<RemoteResult, MFASYNCRESULT> {
 public:
  RemoteResult(IMFAsyncCallback* callback, IUnknown* state, v1::Completion completion)
      : completion_(std::move(completion)), state_(state) {
    std::memset(&overlapped, 0, sizeof overlapped);
    pCallback = callback;
    if (pCallback != nullptr) pCallback->AddRef();
    if (state_ != nullptr) state_->AddRef();
    hrStatusResult = static_cast<HRESULT>(completion_.status().code());
    dwBytesTransferred =
        static_cast<DWORD>(std::min<std::uint64_t>(completion_.bytes_transferred(), 0xFFFFFFFFu));
    hEvent = nullptr;
  }
  static bool Implements(REFIID riid) {
    return IsEqualIID(riid, IID_IMFAsyncResult) || IsEqualIID(riid, kRemoteResultIid);
  }
  HRESULT STDMETHODCALLTYPE GetState(IUnknown** state) override {
    if (state == nullptr) return E_POINTER;
    *state = state_;
    if (state_ == nullptr) return E_POINTER;
    state_->AddRef();
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE GetStatus() override { return hrStatusResult; }
  HRESULT STDMETHODCALLTYPE SetStatus(HRESULT status) override {
    hrStatusResult = status;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE GetObject(IUnknown** object) override {
    if (object != nullptr) *object = nullptr;
    return E_POINTER;
  }
  IUnknown* STDMETHODCALLTYPE GetStateNoAddRef() override { return state_; }
  const v1::Completion& completion() const { return completion_; }

 private:
  friend class ComObject<RemoteResult, MFASYNCRESULT>;
  ~RemoteResult() {
    if (pCallback != nullptr) pCallback->Release();
    if (state_ != nullptr) state_->Release();
  }
  const v1::Completion completion_;
  IUnknown* const state_;
};

}  // namespace

absl::Status ToAbsl(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::string NewRequestId() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = [] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }();
  // "sdk-", the salt in 16 hex digits, "-", the count in hex: formatted by
  // hand: snprintf took about a sixth of the CPU of a session's submit.
  static constexpr char kDigits[] = "0123456789abcdef";
  const std::uint64_t count = counter.fetch_add(1);
  char text[4 + 16 + 1 + 16];
  std::memcpy(text, "sdk-", 4);
  for (int i = 0; i < 16; ++i) text[4 + i] = kDigits[(salt >> (60 - 4 * i)) & 0xF];
  text[20] = '-';
  std::size_t size = 21;
  int shift = 60;
  while (shift > 0 && ((count >> shift) & 0xF) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) text[size++] = kDigits[(count >> shift) & 0xF];
  return std::string(text, size);
}

v1::Completion LocalCompletion(const std::string& request_id, const std::string& operation_id,
                               HRESULT status, std::string message) {
  v1::Completion c;
  c.set_request_id(request_id);
  c.set_operation_id(operation_id);
  c.mutable_status()->set_code(static_cast<std::uint32_t>(status));
  const char* name = HResultName(status);
  if (name != nullptr) c.mutable_status()->set_name(name);
  c.set_message(std::move(message));
  return c;
}

void InvokeWithCompletion(IMFAsyncCallback* callback, IUnknown* state, v1::Completion completion) {
  auto result = ComPtr<RemoteResult>::Adopt(new RemoteResult(callback, state, std::move(completion)));
  if (FAILED(MFInvokeCallback(result.get()))) {
    result->SetStatus(MF_E_SHUTDOWN);
    callback->Invoke(result.get());
  }
}

HRESULT EndSubmitResult(IMFAsyncResult* result, v1::Completion* completion) {
  if (result == nullptr) return E_POINTER;
  void* ours = nullptr;
  if (FAILED(result->QueryInterface(kRemoteResultIid, &ours))) return E_INVALIDARG;
  auto remote = ComPtr<RemoteResult>::Adopt(static_cast<RemoteResult*>(
      static_cast<MFASYNCRESULT*>(static_cast<IMFAsyncResult*>(ours))));
  if (completion != nullptr) *completion = remote->completion();
  return remote->GetStatus();
}

}  // namespace mfwq::client::internal
