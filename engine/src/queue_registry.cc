#include "queue_registry.h"

#include <mutex>
#include <string>
#include <utility>

#include "serial_queue.h"
#include "thread_pool.h"

namespace mfwq::engine {

bool QueueRegistry::IsPlatformQueue(DWORD queue) {
  switch (queue) {
    case MFASYNC_CALLBACK_QUEUE_STANDARD:
    case MFASYNC_CALLBACK_QUEUE_RT:
    case MFASYNC_CALLBACK_QUEUE_IO:
    case MFASYNC_CALLBACK_QUEUE_TIMER:
    case MFASYNC_CALLBACK_QUEUE_MULTITHREADED:
    case MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION:
      return true;
    default:
      return false;
  }
}

void QueueRegistry::Start(const EngineOptions& options) {
  WriterLock lock(mu_);
  pool_threads_ = PoolThreads(options);
  // As in MF: the standard, real-time and timer queues run one item at a
  // time; IO, multithreaded and long-function queues are pools.
  auto pool = [](const char* name, unsigned threads) {
    return std::make_shared<ThreadPool>(name, threads);
  };
  platform_[MFASYNC_CALLBACK_QUEUE_STANDARD] = pool("mfwq-standard", 1);
  platform_[MFASYNC_CALLBACK_QUEUE_RT] = pool("mfwq-rt", 1);
  platform_[MFASYNC_CALLBACK_QUEUE_IO] = pool("mfwq-io", pool_threads_);
  platform_[MFASYNC_CALLBACK_QUEUE_TIMER] = pool("mfwq-timer", 1);
  platform_[MFASYNC_CALLBACK_QUEUE_MULTITHREADED] = pool("mfwq-mt", pool_threads_);
  platform_[MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION] = pool("mfwq-long", pool_threads_);
  running_ = true;
}

void QueueRegistry::Stop() {
  std::vector<std::shared_ptr<Executor>> all;
  {
    WriterLock lock(mu_);
    running_ = false;
    for (std::shared_ptr<Executor>& e : platform_) {
      if (e) all.push_back(std::move(e));
    }
    for (auto& [id, entry] : private_) all.push_back(std::move(entry.executor));
    private_.clear();
    for (std::shared_ptr<Executor>& e : retired_) all.push_back(std::move(e));
    retired_.clear();
  }
  for (const std::shared_ptr<Executor>& e : all) e->Stop();
}

HRESULT QueueRegistry::Find(DWORD queue, std::shared_ptr<Executor>* executor) const {
  ReaderLock lock(mu_);
  if (!running_) return MF_E_SHUTDOWN;
  if (IsPlatformQueue(queue)) {
    *executor = platform_[queue];
    return S_OK;
  }
  auto it = private_.find(queue);
  if (it == private_.end()) return MF_E_INVALID_WORKQUEUE;
  *executor = it->second.executor;
  return S_OK;
}

DWORD QueueRegistry::NextPrivateId() {
  for (;;) {
    DWORD id = next_id_++;
    if ((id & MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK) == 0 || id == MFASYNC_CALLBACK_QUEUE_ALL) {
      continue;  // wrapped around: skip platform ids and the "all" id
    }
    if (private_.find(id) == private_.end()) return id;
  }
}

HRESULT QueueRegistry::Insert(std::shared_ptr<Executor> executor, DWORD* queue) {
  WriterLock lock(mu_);
  if (!running_) return MF_E_SHUTDOWN;
  DWORD id = NextPrivateId();
  private_.emplace(id, Entry{std::move(executor)});
  *queue = id;
  return S_OK;
}

HRESULT QueueRegistry::Allocate(MFASYNC_WORKQUEUE_TYPE type, DWORD* queue) {
  unsigned threads = 0;
  {
    ReaderLock lock(mu_);
    if (!running_) return MF_E_SHUTDOWN;
    threads = pool_threads_;
  }
  Reap();
  std::shared_ptr<Executor> executor;
  switch (type) {
    case MF_STANDARD_WORKQUEUE:
    case MF_WINDOW_WORKQUEUE:  // no window messages off Windows: one thread
      executor = std::make_shared<ThreadPool>("mfwq-private", 1);
      break;
    case MF_MULTITHREADED_WORKQUEUE:
      executor = std::make_shared<ThreadPool>("mfwq-private-mt", threads);
      break;
    default:
      return E_INVALIDARG;
  }
  return Insert(std::move(executor), queue);
}

HRESULT QueueRegistry::AllocateSerial(DWORD target, DWORD* queue) {
  std::shared_ptr<Executor> target_executor;
  if (HRESULT hr = Find(target, &target_executor); FAILED(hr)) return hr;
  // The serial queue holds a lock on its target for as long as it lives.
  if (HRESULT hr = Lock(target); FAILED(hr)) return hr;
  HRESULT hr = Insert(std::make_shared<SerialQueue>(std::move(target_executor), target), queue);
  if (FAILED(hr)) Unlock(target);
  return hr;
}

HRESULT QueueRegistry::Lock(DWORD queue) {
  WriterLock lock(mu_);
  if (!running_) return MF_E_SHUTDOWN;
  if (IsPlatformQueue(queue)) return S_OK;
  auto it = private_.find(queue);
  if (it == private_.end()) return MF_E_INVALID_WORKQUEUE;
  ++it->second.locks;
  return S_OK;
}

HRESULT QueueRegistry::Unlock(DWORD queue) {
  std::shared_ptr<Executor> freed;
  {
    WriterLock lock(mu_);
    if (!running_) return MF_E_SHUTDOWN;
    if (IsPlatformQueue(queue)) return S_OK;
    auto it = private_.find(queue);
    if (it == private_.end()) return MF_E_INVALID_WORKQUEUE;
    if (--it->second.locks > 0) return S_OK;
    freed = std::move(it->second.executor);
    private_.erase(it);
    retired_.push_back(freed);
  }
  // A retired serial queue unlocks its target, which may retire that one,
  // and so on down a chain of any depth: retired by this loop, one after
  // another, not by calls nested in each other.
  static thread_local std::vector<std::shared_ptr<Executor>>* retiring = nullptr;
  if (retiring != nullptr) {
    retiring->push_back(std::move(freed));
    return S_OK;
  }
  std::vector<std::shared_ptr<Executor>> chain{std::move(freed)};
  retiring = &chain;
  while (!chain.empty()) {
    std::shared_ptr<Executor> next = std::move(chain.back());
    chain.pop_back();
    next->Retire();  // may unlock its target: added to `chain`
  }
  retiring = nullptr;
  return S_OK;
}

void QueueRegistry::Reap() {
  std::vector<std::shared_ptr<Executor>> done;
  {
    WriterLock lock(mu_);
    for (auto it = retired_.begin(); it != retired_.end();) {
      if ((*it)->Finished()) {
        done.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const std::shared_ptr<Executor>& e : done) e->Stop();  // joins finished threads
}

}  // namespace mfwq::engine
