#include "thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <system_error>
#include <thread>
#include <utility>

namespace mfwq::engine {

ThreadPool::ThreadPool(std::string name, unsigned max_threads)
    : name_(std::move(name)), max_threads_(std::max(1u, max_threads)) {}

ThreadPool::~ThreadPool() { Stop(); }

HRESULT ThreadPool::Submit(WorkItem item) {
  std::unique_lock<Mutex> lock(mu_);
  // A retired (freed) queue's id is gone: the caller may fall back to the
  // standard queue, as MFInvokeCallback does. `item` is released after `lock`.
  if (!accepting_) return stopped_ ? MF_E_SHUTDOWN : MF_E_INVALID_WORKQUEUE;
  queued_.Push(std::move(item));
  PublishQueueState();
  const bool wake = FindTakerLocked();
  if (threads_.empty()) {
    // No thread could be started at all: the item cannot run, so refuse it.
    std::vector<WorkItem> refused = queued_.TakeAll();
    PublishQueueState();
    lock.unlock();
    return E_OUTOFMEMORY;  // `refused` (this item alone) is released here, unlocked
  }
  lock.unlock();
  if (wake) work_cv_.NotifyOne();  // after unlocking: the thread wakes to a free mutex
  return S_OK;
}

bool ThreadPool::FindTakerLocked() {
  if (queued_.size() <= spinning_ + woken_) return false;
  if (idle_ > woken_) {
    ++woken_;
    return true;
  }
  if (threads_.size() < max_threads_) {
    try {
      threads_.emplace_back([self = shared_from_this()] { self->WorkerLoop(); });
      ++woken_;  // it looks for work as soon as it runs
    } catch (const std::system_error&) {
      // Out of threads: the threads we have will get to the item.
    }
  }
  return false;
}

void ThreadPool::PublishQueueState() {
  queued_count_.store(queued_.size(), std::memory_order_relaxed);
  if (!queued_.empty()) top_priority_.store(queued_.TopPriority(), std::memory_order_relaxed);
}

void ThreadPool::WorkerLoop() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  // A one-thread queue takes items in batches of one priority, which saves a
  // lock round trip per item. A pool never does: an item held in one
  // thread's batch could wait for another that is blocked, while a thread is
  // free.
  const std::size_t batch_max = max_threads_ == 1 ? 64 : 1;
  std::vector<WorkItem> batch;
  batch.reserve(batch_max);
  std::unique_lock<Mutex> lock(mu_);
  if (woken_ > 0) --woken_;  // started: now looking
  for (;;) {
    if (queued_.empty() && accepting_ && spinning_ == 0) SpinForWork(lock);
    while (queued_.empty() && accepting_) {
      ++idle_;
      work_cv_.Wait(lock);
      --idle_;
      if (woken_ > 0) --woken_;  // (a spurious wake-up undercounts: harmless)
    }
    if (stopped_ || queued_.empty()) break;
    queued_.PopBatch(batch_max, &batch);
    PublishQueueState();
    // More items than threads looking for them: get another thread on it
    // rather than leave it behind this batch.
    const bool wake = FindTakerLocked();
    ++running_;
    lock.unlock();
    if (wake) work_cv_.NotifyOne();
    const std::size_t ran = RunBatch(batch);
    lock.lock();
    --running_;
    if (ran < batch.size() && !stopped_) {
      queued_.PushFront(batch.begin() + static_cast<std::ptrdiff_t>(ran), batch.end());
      PublishQueueState();
    }
    if (!batch.empty()) {  // what is left over (if stopped) is released unlocked
      lock.unlock();
      batch.clear();
      lock.lock();
    }
  }
}

std::size_t ThreadPool::RunBatch(std::vector<WorkItem>& batch) {
  const LONG priority = batch.front().priority;
  std::size_t ran = 0;
  while (ran < batch.size()) {
    RunWorkItem(batch[ran]);
    batch[ran] = WorkItem{};  // release the result now, unlocked
    ++ran;
    // Stop early for a shutdown, or to let a higher priority go first.
    if (stopping_.load(std::memory_order_relaxed)) break;
    if (queued_count_.load(std::memory_order_relaxed) > 0 &&
        top_priority_.load(std::memory_order_relaxed) > priority) {
      break;
    }
  }
  return ran;
}

void ThreadPool::SpinForWork(std::unique_lock<Mutex>& lock) {
  constexpr auto kSpinFor = std::chrono::microseconds(50);
  ++spinning_;
  lock.unlock();
  const auto give_up = std::chrono::steady_clock::now() + kSpinFor;
  for (unsigned i = 1; queued_count_.load(std::memory_order_relaxed) == 0; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() >= give_up) break;
      std::this_thread::yield();  // leave the core to a producer that needs it
    }
  }
  lock.lock();
  --spinning_;
}

void ThreadPool::Retire() {
  std::lock_guard<Mutex> lock(mu_);
  accepting_ = false;
  work_cv_.NotifyAll();
}

void ThreadPool::Stop() {
  std::vector<WorkItem> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard<Mutex> lock(mu_);
    accepting_ = false;
    stopped_ = true;
    stopping_.store(true, std::memory_order_relaxed);
    dropped = queued_.TakeAll();
    threads.swap(threads_);
    work_cv_.NotifyAll();
  }
  dropped.clear();  // releases the results, with no lock held
  for (std::thread& t : threads) {
    // MFShutdown called from one of our own callbacks: that thread ends on
    // its own once the callback returns.
    if (t.get_id() == std::this_thread::get_id()) {
      t.detach();
    } else {
      t.join();
    }
  }
}

bool ThreadPool::Finished() const {
  std::lock_guard<Mutex> lock(mu_);
  return !accepting_ && queued_.empty() && running_ == 0;
}

}  // namespace mfwq::engine
