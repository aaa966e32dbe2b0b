#include "platform.h"

#include <chrono>
#include <thread>
#include <utility>

namespace mfwq::engine {
namespace {
// MF accepts the version numbers of its first SDK (Vista) and of the current
// one (Windows 7 and later).
constexpr ULONG kVersionVista = (0x0001 << 16) | MF_API_VERSION;
}  // namespace

Platform& Platform::Get() {
  // Built on first use, never destroyed. (Its guard variable is read on
  // every call: keep it off lines that others write.)
  alignas(64) static Platform* platform = new Platform;
  return *platform;
}

HRESULT Platform::Startup(ULONG version) {
  if (version != MF_VERSION && version != kVersionVista) return MF_E_BAD_STARTUP_VERSION;
  MutexLock lock(mu_);
  // While a shutdown is stopping the parts, this only counts: that shutdown
  // starts them again when it is done (it may be waiting for the very
  // callback calling this, so this must not wait for it).
  if (startups_++ == 0 && state_ == State::kStopped) StartLocked();
  return S_OK;
}

void Platform::StartLocked() {
  Lock();  // MFStartup holds a platform lock until MFShutdown
  queues_.Start(options_);
  timer_.Start();
  waiting_.Start();
  state_ = State::kRunning;
}

HRESULT Platform::Shutdown() {
  std::chrono::milliseconds wait;
  {
    MutexLock lock(mu_);
    if (startups_ == 0) return S_OK;  // unbalanced: nothing to stop
    if (--startups_ > 0 || state_ != State::kRunning) return S_OK;
    state_ = State::kStopping;
    wait = options_.shutdown_wait;
  }
  // Without mu_: callbacks still running may call into the platform, and
  // stopping releases user objects.
  Unlock();
  locks_.WaitUntilUnlocked(wait);
  // Stop the sources of new work first, then the queues they feed.
  timer_.Stop();
  waiting_.Stop();
  queues_.Stop();
  replies_.Clear();

  MutexLock lock(mu_);
  state_ = State::kStopped;
  if (startups_ > 0) StartLocked();  // MFStartup was called while stopping
  return S_OK;
}

void Platform::Lock() { locks_.Lock(); }

void Platform::Unlock() { locks_.Unlock(); }

void Platform::SetOptions(const EngineOptions& options) {
  MutexLock lock(mu_);
  options_ = options;
}

EngineOptions Platform::options() const {
  MutexLock lock(mu_);
  return options_;
}

HRESULT Platform::Dispatch(ComPtr<IMFAsyncResult> result, LONG priority) {
  const DWORD named = GetCallbackParameters(result.get()).queue;
  // Keep a reference: Submit releases its item when it refuses it.
  ComPtr<IMFAsyncResult> keep(result);
  std::shared_ptr<Executor> executor;
  HRESULT hr = queues_.Find(named, &executor);
  if (SUCCEEDED(hr)) hr = executor->Submit(WorkItem{std::move(result), priority, {}});
  // The named queue is unknown, or was freed between Find and Submit.
  if (hr == MF_E_INVALID_WORKQUEUE && named != MFASYNC_CALLBACK_QUEUE_STANDARD) {
    hr = queues_.Find(MFASYNC_CALLBACK_QUEUE_STANDARD, &executor);
    if (SUCCEEDED(hr)) hr = executor->Submit(WorkItem{std::move(keep), priority, {}});
  }
  return hr;
}

}  // namespace mfwq::engine

namespace mfwq {

void SetEngineOptions(const EngineOptions& options) {
  engine::Platform::Get().SetOptions(options);
}

EngineOptions GetEngineOptions() { return engine::Platform::Get().options(); }

unsigned PoolThreads(const EngineOptions& options) {
  if (options.pool_threads != 0) return options.pool_threads;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : n;
}

}  // namespace mfwq
