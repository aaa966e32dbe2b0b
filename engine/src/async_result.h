// AsyncResult: the engine's IMFAsyncResult, made by MFCreateAsyncResult.
// Like every IMFAsyncResult it inherits MFASYNCRESULT: hrStatusResult is the
// status GetStatus returns. It holds a platform lock while alive.
#ifndef MFWQ_ENGINE_SRC_ASYNC_RESULT_H_
#define MFWQ_ENGINE_SRC_ASYNC_RESULT_H_

#include <atomic>
#include <cstddef>

#include <mfwq/com_object.h>
#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

namespace mfwq::engine {

class AsyncResult final : public ComObject<AsyncResult, MFASYNCRESULT> {
 public:
  // Starts with one reference, status S_OK, 0 bytes and no event.
  AsyncResult(IUnknown* object, IMFAsyncCallback* callback, IUnknown* state);

  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncResult); }

  // Blocks are recycled: results are made on one thread, freed on another.
  static void* operator new(std::size_t size);
  static void operator delete(void* p);

  HRESULT STDMETHODCALLTYPE GetState(IUnknown** state) override;
  HRESULT STDMETHODCALLTYPE GetStatus() override;
  HRESULT STDMETHODCALLTYPE SetStatus(HRESULT status) override;
  HRESULT STDMETHODCALLTYPE GetObject(IUnknown** object) override;
  IUnknown* STDMETHODCALLTYPE GetStateNoAddRef() override;

 private:
  friend class ComObject<AsyncResult, MFASYNCRESULT>;
  ~AsyncResult();

  // Constant after construction.
  const ComPtr<IUnknown> object_;
  const ComPtr<IUnknown> state_;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_ASYNC_RESULT_H_
