// Helpers for the engine's conformance tests. They use only <mfwq/mfapi.h>
// and the standard library, so the same tests build against the portable
// engine and against Windows' mfplat.
#ifndef MFWQ_TESTS_ENGINE_TEST_SUPPORT_H_
#define MFWQ_TESTS_ENGINE_TEST_SUPPORT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <mfwq/com_object.h>
#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

namespace mfwq::test {

// True when this Windows build runs under Wine (whose ntdll exports
// wine_get_version), and so against Wine's mfplat rather than Microsoft's.
inline bool RunningOnWine() {
#if defined(_WIN32)
  static const bool on_wine = [] {
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll != nullptr && GetProcAddress(ntdll, "wine_get_version") != nullptr;
  }();
  return on_wine;
#else
  return false;
#endif
}

// Skips the rest of a test under Wine, for a behaviour where Wine's mfplat
// is known to deviate from Microsoft's documentation. `reason` names the
// deviation; docs/fidelity.md lists every use.
#define MFWQ_SKIP_ON_WINE(reason)                          \
  do {                                                     \
    if (::mfwq::test::RunningOnWine()) GTEST_SKIP() << "Wine: " reason; \
  } while (0)

// Longest any test waits for something that should happen at once; reaching
// it means the behaviour under test is broken, not that the machine is slow.
constexpr DWORD kPatienceMs = 30000;

// A one-shot gate: Open() once, Wait() any number of times.
class Gate {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // True if opened within kPatienceMs.
  bool Wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(kPatienceMs), [this] { return open_; });
  }
  bool IsOpen() {
    std::lock_guard lock(mu_);
    return open_;
  }
  // True if opened within `ms`. For checking that something does NOT happen
  // while a condition holds: a correct implementation never opens the gate,
  // so the result never depends on the machine's speed; only how surely a
  // wrong one is caught does.
  bool WaitFor(std::chrono::milliseconds ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, ms, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts to a target, then opens.
class Countdown {
 public:
  explicit Countdown(int count) : left_(count) {}
  void Arrive() {
    std::lock_guard lock(mu_);
    if (--left_ <= 0) cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(kPatienceMs), [this] { return left_ <= 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_;
};

// An IUnknown that reports its own destruction: proof that whoever held it
// (a pending work item, a cancelled timer) released it.
class Tracked final : public ComObject<Tracked, IUnknown> {
 public:
  // `destroyed` is counted up and `gone` (if any) opened on destruction;
  // `tag` tells objects apart.
  static ComPtr<Tracked> Make(std::atomic<int>* destroyed, Gate* gone = nullptr, int tag = 0) {
    return ComPtr<Tracked>::Adopt(new Tracked(destroyed, gone, tag));
  }
  static bool Implements(REFIID) { return false; }
  int tag() const { return tag_; }

 private:
  friend class ComObject<Tracked, IUnknown>;
  Tracked(std::atomic<int>* destroyed, Gate* gone, int tag)
      : destroyed_(destroyed), gone_(gone), tag_(tag) {}
  ~Tracked() {
    ++*destroyed_;
    if (gone_ != nullptr) gone_->Open();
  }
  std::atomic<int>* destroyed_;
  Gate* gone_;
  int tag_;
};

// An IMFAsyncCallback whose Invoke runs a function, on the queue and with the
// flags it is given. GetParameters returns E_NOTIMPL when `use_defaults`.
class Callback final : public ComObject<Callback, IMFAsyncCallback> {
 public:
  using Fn = std::function<void(IMFAsyncResult*)>;
  static ComPtr<Callback> Make(Fn fn, DWORD queue = MFASYNC_CALLBACK_QUEUE_STANDARD,
                               DWORD flags = 0) {
    return ComPtr<Callback>::Adopt(new Callback(std::move(fn), queue, flags, false));
  }
  static ComPtr<Callback> MakeWithDefaults(Fn fn) {
    return ComPtr<Callback>::Adopt(new Callback(std::move(fn), 0, 0, true));
  }
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }

  HRESULT STDMETHODCALLTYPE GetParameters(DWORD* flags, DWORD* queue) override {
    if (use_defaults_) return E_NOTIMPL;
    *flags = flags_;
    *queue = queue_;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult* result) override {
    ++invocations_;
    fn_(result);
    return S_OK;
  }
  int invocations() const { return invocations_.load(); }

 private:
  friend class ComObject<Callback, IMFAsyncCallback>;
  Callback(Fn fn, DWORD queue, DWORD flags, bool use_defaults)
      : fn_(std::move(fn)), queue_(queue), flags_(flags), use_defaults_(use_defaults) {}
  ~Callback() = default;
  std::atomic<int> invocations_{0};
  Fn fn_;
  DWORD queue_;
  DWORD flags_;
  bool use_defaults_;
};

// A custom result object, as MF's documentation describes: it inherits
// MFASYNCRESULT, zeroes everything but pCallback (or sets hEvent instead).
class CustomResult final : public ComObject<CustomResult, MFASYNCRESULT> {
 public:
  static ComPtr<CustomResult> Make(IMFAsyncCallback* callback, HANDLE event = nullptr) {
    return ComPtr<CustomResult>::Adopt(new CustomResult(callback, event));
  }
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncResult); }
  HRESULT STDMETHODCALLTYPE GetState(IUnknown** state) override {
    if (state == nullptr) return E_POINTER;
    *state = nullptr;
    return E_POINTER;
  }
  HRESULT STDMETHODCALLTYPE GetStatus() override { return hrStatusResult; }
  HRESULT STDMETHODCALLTYPE SetStatus(HRESULT status) override {
    hrStatusResult = status;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE GetObject(IUnknown** object) override {
    if (object == nullptr) return E_POINTER;
    *object = nullptr;
    return E_POINTER;
  }
  IUnknown* STDMETHODCALLTYPE GetStateNoAddRef() override { return nullptr; }

 private:
  friend class ComObject<CustomResult, MFASYNCRESULT>;
  CustomResult(IMFAsyncCallback* callback, HANDLE event) {
    overlapped = {};
    pCallback = callback;
    if (pCallback != nullptr) pCallback->AddRef();
    hrStatusResult = S_OK;
    dwBytesTransferred = 0;
    hEvent = event;
  }
  ~CustomResult() {
    if (pCallback != nullptr) pCallback->Release();
  }
};

// Holds a queue: Block() puts an item that runs and then waits until
// Release() (or destruction), so items put meanwhile stay queued.
class QueueBlocker {
 public:
  QueueBlocker()
      : callback_(Callback::Make([this](IMFAsyncResult*) {
          thread_ = std::this_thread::get_id();
          held_.Open();
          hold_.Wait();
          finished_.Open();  // last touch of *this
        })) {}
  // Releases the queue and waits for the blocking item to be done with us.
  ~QueueBlocker() {
    Release();
    if (held_.IsOpen()) finished_.Wait();
  }
  QueueBlocker(const QueueBlocker&) = delete;
  QueueBlocker& operator=(const QueueBlocker&) = delete;

  // Puts the blocking item on `queue` and waits until it runs.
  ::testing::AssertionResult Block(DWORD queue) {
    HRESULT hr = MFPutWorkItem(queue, callback_.get(), nullptr);
    if (FAILED(hr)) return ::testing::AssertionFailure() << "MFPutWorkItem: 0x" << std::hex << hr;
    if (!held_.Wait()) return ::testing::AssertionFailure() << "the blocking item never ran";
    return ::testing::AssertionSuccess();
  }
  void Release() { hold_.Open(); }
  bool released() { return hold_.IsOpen(); }
  // The thread the blocking item runs on. REQUIRES: Block() succeeded.
  std::thread::id thread() const { return thread_; }

 private:
  Gate hold_, held_, finished_;
  std::thread::id thread_;
  ComPtr<Callback> callback_;
};

// {from, from + 1, ..., from + n - 1}: the order n items put in turn run in.
inline std::vector<int> Iota(int n, int from = 0) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = from + i;
  return v;
}

// Records the order items run in, and whether two ever ran at once.
class SequenceProbe {
 public:
  void Run(int id) {
    if (++inside_ > 1) overlapped_ = true;
    {
      std::lock_guard lock(mu_);
      order_.push_back(id);
    }
    --inside_;
  }
  std::vector<int> order() {
    std::lock_guard lock(mu_);
    return order_;
  }
  bool overlapped() const { return overlapped_.load(); }

 private:
  std::atomic<int> inside_{0};
  std::atomic<bool> overlapped_{false};
  std::mutex mu_;
  std::vector<int> order_;
};

// Starts the platform for each test and shuts it down after.
class PlatformTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK); }
  void TearDown() override { EXPECT_EQ(MFShutdown(), S_OK); }
};

// An event handle closed on destruction.
class EventHandle {
 public:
  EventHandle(bool manual_reset, bool initially_set)
      : h_(CreateEventW(nullptr, manual_reset ? TRUE : FALSE, initially_set ? TRUE : FALSE,
                        nullptr)) {}
  ~EventHandle() {
    if (h_ != nullptr) CloseHandle(h_);
  }
  EventHandle(const EventHandle&) = delete;
  EventHandle& operator=(const EventHandle&) = delete;
  HANDLE get() const { return h_; }
  bool WaitSignalled(DWORD ms = kPatienceMs) const { return WaitForSingleObject(h_, ms) == WAIT_OBJECT_0; }

 private:
  HANDLE h_;
};

}  // namespace mfwq::test

#endif  // MFWQ_TESTS_ENGINE_TEST_SUPPORT_H_
