#include "thread_pool.h"

#include "recycler.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>
#include <new>
#include <system_error>
#include <thread>
#include <utility>

namespace mfwq::engine {
namespace {
constexpr LONG kNoPriority = std::numeric_limits<LONG>::min();
}  // namespace

ThreadPool::ThreadPool(std::string name, unsigned max_threads)
    : name_(std::move(name)), max_threads_(std::max(1u, max_threads)),
      inbox_top_priority_(kNoPriority) {}

ThreadPool::~ThreadPool() { Stop(); }

HRESULT ThreadPool::Submit(WorkItem item) {
  // A closed pool refuses at once, without touching pushing_ (so that a
  // stream of refused puts cannot hold up CloseInbox).
  if (int closing = closing_.load(std::memory_order_relaxed); closing != kOpen) {
    return Refusal(closing);  // `item` is released on return
  }
  const LONG priority = item.priority;
  InboxNode* node;
  try {
    node = new InboxNode{std::move(item), nullptr};
  } catch (const std::bad_alloc&) {
    return E_OUTOFMEMORY;
  }
  // Announce the push before checking closing_ again (both sequentially
  // consistent): CloseInbox either sees us and waits, or we see it.
  pushing_.fetch_add(1);
  if (int closing = closing_.load(); closing != kOpen) {
    pushing_.fetch_sub(1);
    delete node;  // releases the item, unlocked
    return Refusal(closing);
  }
  node->next = inbox_.load(std::memory_order_relaxed);
  while (!inbox_.compare_exchange_weak(node->next, node)) {
  }
  // Only a one-thread pool's batches read this (to stop for a higher priority).
  if (max_threads_ == 1) {
    for (LONG top = inbox_top_priority_.load(std::memory_order_relaxed);
         priority > top && !inbox_top_priority_.compare_exchange_weak(top, priority);) {
    }
  }
  pushing_.fetch_sub(1);

  // A thread already looking (spinning, woken, starting) will find the item;
  // so will a running one when it is done, unless the pool could use more.
  // Sequentially consistent with the thread side: a thread that stops
  // looking, or is about to sleep, publishes that first and then checks the
  // inbox once more.
  if (looking_.load() > 0) return S_OK;
  if (sleeping_.load() == 0 && !can_start_.load()) return S_OK;
  AdaptiveMutexLock lock(mu_);
  DrainInboxLocked();
  const unsigned wakes = FindTakersLocked();
  lock.Unlock();
  for (unsigned i = 0; i < wakes; ++i) work_cv_.NotifyOne();  // unlocked: wake to a free mutex
  // If no thread could be started at all (the process is out of threads),
  // the item stays queued: the next put tries again, and MFShutdown releases
  // whatever is left, as it does for any queued item.
  return S_OK;
}

HRESULT ThreadPool::Refusal(int closing) {
  // A retired (freed) queue's id is gone: the caller may fall back to the
  // standard queue, as MFInvokeCallback does.
  return closing == kStopping ? MF_E_SHUTDOWN : MF_E_INVALID_WORKQUEUE;
}

void ThreadPool::DrainInboxLocked() {
  if (inbox_.load(std::memory_order_relaxed) == nullptr) return;
  // Reset before taking the inbox: a priority raised by a push after the
  // exchange then survives (a stale high value only ends a batch early).
  if (max_threads_ == 1) inbox_top_priority_.store(kNoPriority, std::memory_order_relaxed);
  InboxNode* node = inbox_.exchange(nullptr);
  if (node == nullptr) return;
  InboxNode* fifo = nullptr;  // reverse the stack into push order
  while (node != nullptr) {
    InboxNode* next = node->next;
    node->next = fifo;
    fifo = node;
    node = next;
  }
  while (fifo != nullptr) {
    InboxNode* next = fifo->next;
    queued_.Push(std::move(fifo->item));
    delete fifo;  // holds a moved-from item only: no user code runs
    fifo = next;
  }
  PublishLocked();
}

void* ThreadPool::InboxNode::operator new(std::size_t size) {
  if (size != sizeof(InboxNode)) return ::operator new(size);
  return Recycler<sizeof(InboxNode)>::Allocate();
}

void ThreadPool::InboxNode::operator delete(void* p) { Recycler<sizeof(InboxNode)>::Free(p); }

void ThreadPool::PublishLocked() {
  // Sequentially consistent stores (each a full fence), so only on change.
  if (const unsigned looking = spinning_ + woken_; looking != published_looking_) {
    looking_.store(published_looking_ = looking);
  }
  if (idle_ != published_sleeping_) sleeping_.store(published_sleeping_ = idle_);
  if (const bool can = threads_.size() < max_threads_; can != published_can_start_) {
    can_start_.store(published_can_start_ = can);
  }
  queued_count_.store(queued_.size(), std::memory_order_relaxed);
  if (!queued_.empty()) top_priority_.store(queued_.TopPriority(), std::memory_order_relaxed);
}

unsigned ThreadPool::FindTakersLocked() {
  unsigned wakes = 0;
  for (;;) {
    while (queued_.size() > spinning_ + woken_) {
      if (idle_ > woken_) {
        ++woken_;
        ++wakes;
      } else if (threads_.size() < max_threads_) {
        try {
          threads_.emplace_back([self = shared_from_this()] { self->WorkerLoop(); });
          ++woken_;  // it looks for work as soon as it runs
        } catch (const std::exception&) {  // std::system_error, std::bad_alloc
          break;  // out of threads: the threads we have will get to the items
        }
      } else {
        break;  // every thread is busy; each looks again when done
      }
    }
    // A producer that saw a thread looking (looking_) left its item to it.
    // Having published that this thread no longer looks, look once more
    // (both sequentially consistent): an item pushed meanwhile is seen here.
    PublishLocked();
    if (inbox_.load() == nullptr) return wakes;
    DrainInboxLocked();
  }
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
  AdaptiveMutexLock lock(mu_);
  if (woken_ > 0) --woken_;  // started: now looking
  for (;;) {
    DrainInboxLocked();
    if (queued_.empty() && accepting_ && spinning_ == 0) {
      SpinForWork();
      DrainInboxLocked();
    }
    while (queued_.empty() && accepting_) {
      ++idle_;
      PublishLocked();  // sleeping_ first, then the last look at the inbox
      if (inbox_.load() == nullptr) work_cv_.Wait(lock);
      --idle_;
      if (woken_ > 0) --woken_;  // (a spurious wake-up undercounts: harmless)
      DrainInboxLocked();
      PublishLocked();
    }
    if (stopped_ || queued_.empty()) break;
    if (closing_.load(std::memory_order_relaxed) == kStopping) {
      // Stop() is on its way to release what is queued: run no more of it.
      ++idle_;
      PublishLocked();
      work_cv_.Wait(lock);
      --idle_;
      if (woken_ > 0) --woken_;
      continue;
    }
    queued_.PopBatch(batch_max, &batch);
    // More items than threads looking for them: get other threads on them
    // rather than leave them behind this batch.
    const unsigned wakes = FindTakersLocked();
    ++running_;
    lock.Unlock();
    for (unsigned i = 0; i < wakes; ++i) work_cv_.NotifyOne();
    const std::size_t ran = RunBatch(batch);
    lock.Lock();
    --running_;
    if (ran < batch.size() && !stopped_) {
      queued_.PushFront(batch.begin() + static_cast<std::ptrdiff_t>(ran), batch.end());
      PublishLocked();
    }
    if (!batch.empty()) {  // what is left over (if stopped) is released unlocked
      lock.Unlock();
      batch.clear();
      lock.Lock();
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
    if (closing_.load(std::memory_order_relaxed) == kStopping) break;
    if (inbox_top_priority_.load(std::memory_order_relaxed) > priority) break;
    if (queued_count_.load(std::memory_order_relaxed) > 0 &&
        top_priority_.load(std::memory_order_relaxed) > priority) {
      break;
    }
  }
  return ran;
}

void ThreadPool::SpinForWork() {
  // Long enough for a client that submits its next operation once it has
  // the last one's completion: on a virtual machine a thread that slept
  // costs its waker a system call of 10-15 us and itself 20-40 us to come
  // back, as much as the rest of the round trip. Spinning (yielding the
  // core to anyone who needs it) costs CPU time: up to this much per pool
  // after each burst of work, and a whole core while items keep coming less
  // than this far apart. Measured with mfwq bench, one operation at a time
  // over a session: 50 us, p50 165-183 us and the server's CPU 243-252 us per
  // operation; 200 us, p50 120-149 us and 275-287 us of CPU.
  constexpr auto kSpinFor = std::chrono::microseconds(200);
  ++spinning_;
  PublishLocked();
  mu_.unlock();  // (the caller's AdaptiveMutexLock holds it again on return)
  const auto give_up = std::chrono::steady_clock::now() + kSpinFor;
  for (unsigned i = 1; inbox_.load(std::memory_order_relaxed) == nullptr &&
                       queued_count_.load(std::memory_order_relaxed) == 0;
       ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0) {
      if (std::chrono::steady_clock::now() >= give_up) break;
      std::this_thread::yield();  // leave the core to a producer that needs it
    }
  }
  mu_.lock();
  --spinning_;
  PublishLocked();
}

void ThreadPool::CloseInbox(Closing how) {
  int open = kOpen;
  closing_.compare_exchange_strong(open, how);
  if (how == kStopping) closing_.store(kStopping);
  while (pushing_.load() != 0) std::this_thread::yield();  // a push takes nanoseconds
}

void ThreadPool::Retire() {
  CloseInbox(kRetiring);
  AdaptiveMutexLock lock(mu_);
  accepting_ = false;  // threads end once the queue and the inbox are empty
  DrainInboxLocked();
  work_cv_.NotifyAll();
}

void ThreadPool::Stop() {
  CloseInbox(kStopping);
  std::vector<WorkItem> dropped;
  std::vector<std::thread> threads;
  {
    AdaptiveMutexLock lock(mu_);
    accepting_ = false;
    stopped_ = true;
    DrainInboxLocked();
    dropped = queued_.TakeAll();
    PublishLocked();
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
  AdaptiveMutexLock lock(mu_);
  return !accepting_ && queued_.empty() && inbox_.load() == nullptr && running_ == 0;
}

}  // namespace mfwq::engine
