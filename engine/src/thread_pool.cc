#include "thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <system_error>
#include <utility>

namespace mfwq::engine {

ThreadPool::ThreadPool(std::string name, unsigned max_threads)
    : name_(std::move(name)), max_threads_(std::max(1u, max_threads)) {}

ThreadPool::~ThreadPool() { Stop(); }

HRESULT ThreadPool::Submit(WorkItem item) {
  std::unique_lock lock(mu_);
  if (!accepting_) return MF_E_SHUTDOWN;  // `item` is released after `lock`
  queued_.Push(std::move(item));
  if (idle_ > 0) {
    // Wake a thread after unlocking, so it does not wake into a held mutex.
    lock.unlock();
    work_cv_.notify_one();
  } else if (threads_.size() < max_threads_) {
    try {
      threads_.emplace_back([self = shared_from_this()] { self->WorkerLoop(); });
    } catch (const std::system_error&) {
      // Out of threads. The item stays queued for the threads we have; with
      // none at all it cannot run, so refuse it.
      if (threads_.empty()) {
        std::vector<WorkItem> refused = queued_.TakeAll();
        lock.unlock();
        return E_OUTOFMEMORY;  // `refused` (this item alone) is released here, unlocked
      }
    }
  }
  return S_OK;
}

void ThreadPool::WorkerLoop() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  std::unique_lock lock(mu_);
  for (;;) {
    while (queued_.empty() && accepting_) {
      ++idle_;
      work_cv_.wait(lock);
      --idle_;
    }
    if (stopped_ || queued_.empty()) break;
    WorkItem item = queued_.Pop();
    ++running_;
    lock.unlock();
    RunWorkItem(item);
    item = WorkItem{};  // release the result before taking the lock again
    lock.lock();
    --running_;
  }
}

void ThreadPool::Retire() {
  std::lock_guard lock(mu_);
  accepting_ = false;
  work_cv_.notify_all();
}

void ThreadPool::Stop() {
  std::vector<WorkItem> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    stopped_ = true;
    dropped = queued_.TakeAll();
    threads.swap(threads_);
    work_cv_.notify_all();
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
  std::lock_guard lock(mu_);
  return !accepting_ && queued_.empty() && running_ == 0;
}

}  // namespace mfwq::engine
