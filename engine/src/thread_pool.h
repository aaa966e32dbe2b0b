// ThreadPool: an executor with up to N threads and one priority-ordered
// queue. N = 1 gives MF's standard queue (one item at a time, in order);
// N > 1 a multithreaded queue. Threads start on demand. Create with
// std::make_shared: each thread holds a reference, so the pool outlives a
// callback that stops it from inside.
#ifndef MFWQ_ENGINE_SRC_THREAD_POOL_H_
#define MFWQ_ENGINE_SRC_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "executor.h"
#include "priority_fifo.h"

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

  // Constant after construction.
  const std::string name_;
  const unsigned max_threads_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // items queued, or state changed
  PriorityFifo queued_;              // guarded by mu_
  unsigned idle_ = 0;                // threads waiting on work_cv_; guarded by mu_
  unsigned running_ = 0;             // items being run; guarded by mu_
  bool accepting_ = true;            // guarded by mu_
  bool stopped_ = false;             // discard what is queued; guarded by mu_
  std::vector<std::thread> threads_; // guarded by mu_
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_THREAD_POOL_H_
