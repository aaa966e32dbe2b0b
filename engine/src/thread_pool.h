// ThreadPool: an executor with up to N threads and one priority-ordered
// queue. N = 1 gives MF's standard queue (one item at a time, in order);
// N > 1 a multithreaded queue. Threads start on demand. Create with
// std::make_shared: each thread holds a reference, so the pool outlives a
// callback that stops it from inside.
#ifndef MFWQ_ENGINE_SRC_THREAD_POOL_H_
#define MFWQ_ENGINE_SRC_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "executor.h"
#include "priority_fifo.h"
#include "sync.h"

namespace mfwq::engine {

class ThreadPool final : public Executor,
                         public std::enable_shared_from_this<ThreadPool> {
 public:
  // `name` (at most 15 characters) names the threads for debuggers and top.
  ThreadPool(std::string name, unsigned max_threads);
  ~ThreadPool() override;  // Stop()s

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  HRESULT Submit(WorkItem item) override;
  void Retire() override;
  void Stop() override;
  bool Finished() const override;

 private:
  void WorkerLoop();
  // When more items are queued than threads will look for (spinning, or
  // woken or started and not yet looking), wakes an idle thread (returns true:
  // the caller notifies after unlocking) or starts a new one, up to the
  // maximum. Keeps every queued item within reach of a thread while the
  // pool has threads to spare. REQUIRES: mu_ held.
  bool FindTakerLocked();
  // Runs the batch in order until done, stopped, or a higher priority is
  // queued; returns how many ran. REQUIRES: mu_ not held.
  std::size_t RunBatch(std::vector<WorkItem>& batch);
  // Updates what SpinForWork and RunBatch read without mu_.
  // REQUIRES: mu_ held.
  void PublishQueueState();
  // Called by a worker that found no work: waits a little for some without
  // sleeping, since a sleeping thread costs a system call and a context
  // switch to wake. REQUIRES: `lock` holds mu_; holds it again on return.
  void SpinForWork(std::unique_lock<Mutex>& lock);

  // Constant after construction.
  const std::string name_;
  const unsigned max_threads_;

  mutable Mutex mu_;
  CondVar work_cv_;                  // items queued, or state changed
  PriorityFifo queued_;              // guarded by mu_
  unsigned idle_ = 0;                // threads waiting on work_cv_; guarded by mu_
  unsigned spinning_ = 0;            // threads in SpinForWork; guarded by mu_
  unsigned woken_ = 0;               // notified or started, not yet looking; guarded by mu_
  // queued_.size(), readable without mu_ by a spinning thread.
  std::atomic<std::size_t> queued_count_{0};
  // The highest queued priority (when queued_count_ > 0), and stopped_.
  std::atomic<LONG> top_priority_{0};
  std::atomic<bool> stopping_{false};
  unsigned running_ = 0;             // items being run; guarded by mu_
  bool accepting_ = true;            // guarded by mu_
  bool stopped_ = false;             // discard what is queued; guarded by mu_
  std::vector<std::thread> threads_; // guarded by mu_
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_THREAD_POOL_H_
