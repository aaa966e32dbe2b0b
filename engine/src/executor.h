// Executor: a place that runs work items. Implemented by ThreadPool (a pool
// of threads: MF standard and multithreaded queues) and SerialQueue (one item
// at a time, on another executor).
#ifndef MFWQ_ENGINE_SRC_EXECUTOR_H_
#define MFWQ_ENGINE_SRC_EXECUTOR_H_

#include <mfwq/mfapi.h>

#include "work_item.h"

namespace mfwq::engine {

class Executor {
 public:
  virtual ~Executor() = default;

  // Queues `item`. On failure (MF_E_SHUTDOWN once stopped,
  // MF_E_INVALID_WORKQUEUE once retired: its id is gone) the item is released
  // and will never run. Thread-safe.
  virtual HRESULT Submit(WorkItem item) = 0;

  // Stops taking items but runs what is already queued, then winds down.
  // Does not block. Used when the last lock on a private queue goes.
  virtual void Retire() = 0;

  // Stops at once: releases queued items without running them and waits for
  // running ones to return. Used by MFShutdown.
  // REQUIRES: no engine lock held.
  virtual void Stop() = 0;

  // True once retired or stopped with nothing left queued or running.
  virtual bool Finished() const = 0;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_EXECUTOR_H_
