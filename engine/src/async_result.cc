#include "async_result.h"

#include <cstring>

#include "platform.h"
#include "recycler.h"

namespace mfwq::engine {

AsyncResult::AsyncResult(IUnknown* object, IMFAsyncCallback* callback, IUnknown* state)
    : object_(object), state_(state) {
  std::memset(&overlapped, 0, sizeof overlapped);
  pCallback = callback;
  if (pCallback != nullptr) pCallback->AddRef();
  hrStatusResult = S_OK;
  dwBytesTransferred = 0;
  hEvent = nullptr;
  Platform::Get().Lock();
}

void* AsyncResult::operator new(std::size_t size) {
  if (size != sizeof(AsyncResult)) return ::operator new(size);
  return Recycler<sizeof(AsyncResult)>::Allocate();
}

void AsyncResult::operator delete(void* p) { Recycler<sizeof(AsyncResult)>::Free(p); }

AsyncResult::~AsyncResult() {
  if (pCallback != nullptr) pCallback->Release();
  Platform::Get().Unlock();
}

HRESULT AsyncResult::GetState(IUnknown** state) {
  if (state == nullptr) return E_POINTER;
  if (!state_) return E_POINTER;
  *state = state_.get();
  (*state)->AddRef();
  return S_OK;
}

HRESULT AsyncResult::GetStatus() {
  return std::atomic_ref<HRESULT>(hrStatusResult).load(std::memory_order_acquire);
}

HRESULT AsyncResult::SetStatus(HRESULT status) {
  std::atomic_ref<HRESULT>(hrStatusResult).store(status, std::memory_order_release);
  return S_OK;
}

HRESULT AsyncResult::GetObject(IUnknown** object) {
  if (object == nullptr) return E_POINTER;
  if (!object_) return E_POINTER;
  *object = object_.get();
  (*object)->AddRef();
  return S_OK;
}

IUnknown* AsyncResult::GetStateNoAddRef() { return state_.get(); }

}  // namespace mfwq::engine
