// mfwq::ComObject: reference counting and QueryInterface for a class that
// implements one COM interface, so that a callback or result object needs
// only its own methods.
//
//   class MyCallback final : public mfwq::ComObject<MyCallback, IMFAsyncCallback> {
//    public:
//     static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }
//     STDMETHODIMP GetParameters(DWORD* flags, DWORD* queue) override;
//     STDMETHODIMP Invoke(IMFAsyncResult* result) override;
//   };
//
// `Interface` is the interface (or, for a custom async result, MFASYNCRESULT);
// QueryInterface answers IID_IUnknown and whatever Derived::Implements
// accepts. Objects start with one reference, owned by whoever creates them
// (mfwq::ComPtr<T>::Adopt), and the last Release deletes the Derived object
// (through its own operator delete, if it has one). A Derived with a private
// destructor befriends ComObject<Derived, Interface>. Counting is atomic.
// Works with the portable <mfwq/mfapi.h> and with the Windows SDK alike.
#ifndef MFWQ_COM_OBJECT_H_
#define MFWQ_COM_OBJECT_H_

#include <atomic>

#include <mfwq/mfapi.h>

namespace mfwq {

template <typename Derived, typename Interface>
class ComObject : public Interface {
 public:
  HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void** object) override {
    if (object == nullptr) return E_POINTER;
    if (IsEqualIID(riid, IID_IUnknown) || Derived::Implements(riid)) {
      *object = static_cast<Interface*>(this);
      this->AddRef();
      return S_OK;
    }
    *object = nullptr;
    return E_NOINTERFACE;
  }
  ULONG STDMETHODCALLTYPE AddRef() override {
    return refs_.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  ULONG STDMETHODCALLTYPE Release() override {
    const ULONG left = refs_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    if (left == 0) delete static_cast<Derived*>(this);
    return left;
  }

 protected:
  ComObject() = default;
  ~ComObject() = default;
  ComObject(const ComObject&) = delete;
  ComObject& operator=(const ComObject&) = delete;

 private:
  std::atomic<ULONG> refs_{1};
};

}  // namespace mfwq

#endif  // MFWQ_COM_OBJECT_H_
