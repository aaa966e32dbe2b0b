// ThreadPool: an executor with up to N threads and one priority-ordered
// queue. N = 1 gives MF's standard queue (one item at a time, in order);
// N > 1 a multithreaded queue. Threads start on demand. Create with
// std::make_shared: each thread holds a reference, so the pool outlives a
// callback that stops it from inside.
//
// Producers do not take the pool's mutex: they push onto a lock-free inbox,
// which the threads move into the priority queue under the mutex before
// each decision. A producer takes the mutex only to wake or start a thread,
// when none is already looking for work.
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
  struct InboxNode {
    WorkItem item;
    InboxNode* next;
    static void* operator new(std::size_t size);
    static void operator delete(void* p);
  };
  enum Closing : int { kOpen, kRetiring, kStopping };

  void WorkerLoop();
  static HRESULT Refusal(int closing);
  // Stops producers (`how`) and waits until none is still pushing, so that
  // the inbox holds everything that will ever be pushed. REQUIRES: mu_ not held.
  void CloseInbox(Closing how);
  // Moves the inbox into queued_, in push order. REQUIRES: mu_ held.
  void DrainInboxLocked() MFWQ_REQUIRES(mu_);
  // While more items are queued than threads will look for (spinning, or
  // woken or started and not yet looking), wakes idle threads (returns how
  // many: the caller notifies after unlocking) or starts new ones, up to the
  // maximum; then publishes and checks the inbox again. Keeps every item
  // within reach of a thread while the pool has threads to spare.
  // REQUIRES: mu_ held.
  unsigned FindTakersLocked() MFWQ_REQUIRES(mu_);
  // Runs the batch in order until done, stopped, or a higher priority is
  // waiting; returns how many ran. REQUIRES: mu_ not held.
  std::size_t RunBatch(std::vector<WorkItem>& batch);
  // Updates what producers and spinning threads read without mu_.
  // REQUIRES: mu_ held.
  void PublishLocked() MFWQ_REQUIRES(mu_);
  // Called by a worker that found no work: waits a little for some without
  // sleeping, since a sleeping thread costs a system call and a context
  // switch to wake. Lets go of mu_ while it spins; holds it again on return.
  void SpinForWork() MFWQ_REQUIRES(mu_);

  // Constant after construction.
  const std::string name_;
  const unsigned max_threads_;

  // Fields written on every item sit on cache lines of their own (alignas),
  // apart from those only read, so that producers and threads do not
  // invalidate each other's lines needlessly.

  // Lock-free: producers push here (a stack; drained and reversed to FIFO).
  alignas(64) std::atomic<InboxNode*> inbox_{nullptr};
  // Highest priority pushed since the last drain (LONG min when none).
  std::atomic<LONG> inbox_top_priority_;
  alignas(64) std::atomic<unsigned> pushing_{0};  // producers between their check and push
  std::atomic<int> closing_{kOpen};

  alignas(64) mutable AdaptiveMutex mu_;
  CondVar work_cv_;                  // items queued, or state changed
  PriorityFifo queued_ MFWQ_GUARDED_BY(mu_);
  unsigned idle_ MFWQ_GUARDED_BY(mu_) = 0;      // threads waiting on work_cv_
  unsigned spinning_ MFWQ_GUARDED_BY(mu_) = 0;  // threads in SpinForWork
  unsigned woken_ MFWQ_GUARDED_BY(mu_) = 0;     // notified or started, not yet looking
  unsigned running_ MFWQ_GUARDED_BY(mu_) = 0;   // items being run
  bool accepting_ MFWQ_GUARDED_BY(mu_) = true;  // false once closed and drained
  bool stopped_ MFWQ_GUARDED_BY(mu_) = false;   // discard what is queued
  std::vector<std::thread> threads_ MFWQ_GUARDED_BY(mu_);

  // What PublishLocked last stored, to store only changes.
  unsigned published_looking_ MFWQ_GUARDED_BY(mu_) = 0;
  unsigned published_sleeping_ MFWQ_GUARDED_BY(mu_) = 0;
  bool published_can_start_ MFWQ_GUARDED_BY(mu_) = true;
  // Mirrors of the above for readers without mu_ (written under mu_).
  alignas(64) std::atomic<unsigned> looking_{0};   // spinning_ + woken_
  std::atomic<unsigned> sleeping_{0};  // idle_
  std::atomic<bool> can_start_{true};  // threads_.size() < max_threads_
  std::atomic<std::size_t> queued_count_{0};
  std::atomic<LONG> top_priority_{0};  // of queued_, when not empty
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_THREAD_POOL_H_
