// mfwq::ComPtr: a small owning smart pointer for COM interfaces.
//
// Holds one reference: AddRef on copy, Release on destruction. Works with the
// portable <mfwq/mfapi.h> and with the Windows SDK alike, so code shared by
// both (the engine's conformance tests, the server) can use it.
// Not thread-safe per instance; the referenced object's own counting is.
#ifndef MFWQ_COM_PTR_H_
#define MFWQ_COM_PTR_H_

#include <cstddef>
#include <utility>

namespace mfwq {

template <typename T>
class ComPtr {
 public:
  ComPtr() = default;
  ComPtr(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)
  // Takes a new reference on `p`.
  explicit ComPtr(T* p) : p_(p) {
    if (p_) p_->AddRef();
  }
  ComPtr(const ComPtr& other) : ComPtr(other.p_) {}
  ComPtr(ComPtr&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  ~ComPtr() { Reset(); }

  ComPtr& operator=(ComPtr other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }

  // Adopts a reference the caller already owns (no AddRef).
  static ComPtr Adopt(T* p) {
    ComPtr c;
    c.p_ = p;
    return c;
  }

  void Reset() {
    if (T* p = std::exchange(p_, nullptr)) p->Release();
  }
  // Gives up ownership without Release.
  T* Detach() { return std::exchange(p_, nullptr); }

  // Releases what is held and returns the slot for an out-parameter.
  T** ReleaseAndGetAddressOf() {
    Reset();
    return &p_;
  }

  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

}  // namespace mfwq

#endif  // MFWQ_COM_PTR_H_
