// QueueRegistry: maps MF work-queue ids to executors.
//
// Platform queues (MFASYNC_CALLBACK_QUEUE_STANDARD ... LONG_FUNCTION) exist
// from MFStartup to MFShutdown. Private queues carry ids with bits in
// MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK; an id is an allocation serial, so an id
// is not handed out again until 2^32 - 2^16 further allocations, and a stale
// id is rejected with MF_E_INVALID_WORKQUEUE. There is no fixed cap on the
// number of queues.
#ifndef MFWQ_ENGINE_SRC_QUEUE_REGISTRY_H_
#define MFWQ_ENGINE_SRC_QUEUE_REGISTRY_H_

#include <array>
#include <memory>
#include <unordered_map>
#include <vector>

#include <mfwq/engine.h>
#include <mfwq/mfapi.h>
#include <mfwq/thread_annotations.h>

#include "executor.h"

namespace mfwq::engine {

class QueueRegistry {
 public:
  void Start(const EngineOptions& options);
  // Stops every queue: queued items are released without running, and this
  // returns once running callbacks have returned.
  // REQUIRES: no engine lock held.
  void Stop();

  // The executor of `queue`; MF_E_SHUTDOWN when the platform is down,
  // MF_E_INVALID_WORKQUEUE for an unknown or freed id.
  HRESULT Find(DWORD queue, std::shared_ptr<Executor>* executor) const;

  HRESULT Allocate(MFASYNC_WORKQUEUE_TYPE type, DWORD* queue);
  HRESULT AllocateSerial(DWORD target, DWORD* queue);
  // Platform queues: S_OK, nothing to count. Private ones: count locks; the
  // last unlock frees the id at once and lets the queue finish what it holds.
  HRESULT Lock(DWORD queue);
  HRESULT Unlock(DWORD queue);

 private:
  struct Entry {
    std::shared_ptr<Executor> executor;
    long locks = 1;
  };
  static bool IsPlatformQueue(DWORD queue);
  DWORD NextPrivateId() MFWQ_REQUIRES(mu_);
  HRESULT Insert(std::shared_ptr<Executor> executor, DWORD* queue) MFWQ_EXCLUDES(mu_);
  // Joins retired queues that have finished.
  void Reap() MFWQ_EXCLUDES(mu_);

  alignas(64) mutable SharedMutex mu_;  // taken on every put: a line of its own
  alignas(64) bool running_ MFWQ_GUARDED_BY(mu_) = false;
  unsigned pool_threads_ MFWQ_GUARDED_BY(mu_) = 1;
  std::array<std::shared_ptr<Executor>, 8> platform_ MFWQ_GUARDED_BY(mu_);
  std::unordered_map<DWORD, Entry> private_ MFWQ_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Executor>> retired_ MFWQ_GUARDED_BY(mu_);
  // Survives restarts so that ids from before a restart stay stale.
  DWORD next_id_ MFWQ_GUARDED_BY(mu_) = 0x00010000;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_QUEUE_REGISTRY_H_
