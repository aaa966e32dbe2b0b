#include "platform.h"

#include <thread>
#include <utility>

namespace mfwq::engine {
namespace {
// MF accepts the version numbers of its first SDK (Vista) and of the current
// one (Windows 7 and later).
constexpr ULONG kVersionVista = (0x0001 << 16) | MF_API_VERSION;
}  // namespace

Platform& Platform::Get() {
  static Platform* platform = new Platform;
  return *platform;
}

HRESULT Platform::Startup(ULONG version) {
  if (version != MF_VERSION && version != kVersionVista) return MF_E_BAD_STARTUP_VERSION;
  std::lock_guard lock(mu_);
  if (startups_++ > 0) return S_OK;
  Lock();  // MFStartup holds a platform lock until MFShutdown
  queues_.Start(options_);
  timer_.Start();
  waiting_.Start();
  return S_OK;
}

HRESULT Platform::Shutdown() {
  std::lock_guard lock(mu_);
  if (startups_ == 0) return S_OK;  // unbalanced: nothing to stop
  if (--startups_ > 0) return S_OK;
  Unlock();
  locks_.WaitUntilUnlocked(options_.shutdown_wait);
  // Stop the sources of new work first, then the queues they feed.
  timer_.Stop();
  waiting_.Stop();
  queues_.Stop();
  replies_.Clear();
  return S_OK;
}

void Platform::Lock() { locks_.Lock(); }

void Platform::Unlock() { locks_.Unlock(); }

void Platform::SetOptions(const EngineOptions& options) {
  std::lock_guard lock(mu_);
  options_ = options;
}

EngineOptions Platform::options() const {
  std::lock_guard lock(mu_);
  return options_;
}

HRESULT Platform::Dispatch(ComPtr<IMFAsyncResult> result, LONG priority) {
  const DWORD named = GetCallbackParameters(result.get()).queue;
  std::shared_ptr<Executor> executor;
  HRESULT hr = queues_.Find(named, &executor);
  if (hr == MF_E_INVALID_WORKQUEUE) hr = queues_.Find(MFASYNC_CALLBACK_QUEUE_STANDARD, &executor);
  if (FAILED(hr)) return hr;
  return executor->Submit(WorkItem{std::move(result), priority, {}});
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
