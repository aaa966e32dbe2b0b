// QueueReleaser: the one thread that gives MF back the queue locks clients
// drop (MFUnlockWorkQueue), so that the threads dropping them (gRPC
// reactions, the client registry) never wait on MF.
//
// They could: the last unlock of a private queue shuts it down, and Wine's
// mfplat waits there for the items still running on it (a queue deleted
// under a running hour-long sleep would hold its caller for the hour). What
// Windows does is not documented; mfwq does not rely on it either way.
//
// Thread-safety: Release from any thread; unlocks run in the order asked,
// on the releaser's thread. WaitUntilIdle blocks until all asked so far
// have run. The destructor runs what is left, then joins.
#ifndef MFWQ_SERVER_CORE_QUEUE_RELEASER_H_
#define MFWQ_SERVER_CORE_QUEUE_RELEASER_H_

#include <mfwq/thread_annotations.h>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <mfwq/mfapi.h>

namespace mfwq::server {

class QueueReleaser {
 public:
  QueueReleaser();
  ~QueueReleaser();
  QueueReleaser(const QueueReleaser&) = delete;
  QueueReleaser& operator=(const QueueReleaser&) = delete;

  // Calls MFUnlockWorkQueue(id) `times` times, soon, on the releaser.
  void Release(DWORD id, std::uint32_t times);
  // Returns once every Release asked before has been carried out.
  void WaitUntilIdle();

 private:
  void Loop();

  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<DWORD, std::uint32_t>> pending_ MFWQ_GUARDED_BY(mu_);
  std::uint64_t asked_ MFWQ_GUARDED_BY(mu_) = 0;
  std::uint64_t done_ MFWQ_GUARDED_BY(mu_) = 0;
  bool stopping_ MFWQ_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_QUEUE_RELEASER_H_
