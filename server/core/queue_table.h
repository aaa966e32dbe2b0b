// QueueTable: the server's work queues: the platform ones, and those
// clients create, with their names, labels, statistics, and the MF locks
// each client holds on them.
//
// A client's locks are its own: UnlockQueue only releases the caller's,
// and ReleaseClient (the client went away) releases all of them, so a
// crashed client leaks nothing. A private queue is listed while any client
// holds a lock on it; when the last goes, MF frees it (or, if a serial queue
// runs on it, keeps it running for that queue alone). Thread-safe.
//
// Limits (QueueLimits): private queues in all, private queues one client
// holds locks on (created or locked), and how long a chain of serial queues
// may be. Past the first two a call gets RESOURCE_EXHAUSTED, past the last
// INVALID_ARGUMENT, each naming its limit. A private queue costs MF threads
// and memory; a chain of serial queues costs every item put on its end one
// hand-over per queue.
//
// Dropped locks leave the table at once; MF is given them back soon after,
// on the releaser's thread (queue_releaser.h says why), never on the
// caller's.
#ifndef MFWQ_SERVER_CORE_QUEUE_TABLE_H_
#define MFWQ_SERVER_CORE_QUEUE_TABLE_H_

#include <mfwq/thread_annotations.h>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <mfwq/mfapi.h>

#include "queue_releaser.h"
#include "status.h"

namespace mfwq::server {

enum class QueueType { kStandard, kMultithreaded, kSerial, kPlatform };

// Counters the operation layer keeps for a queue. Shared so that they stay
// valid for operations that outlive the queue's entry.
struct QueueCounters {
  std::atomic<std::uint64_t> pending{0};
  std::atomic<std::uint64_t> running{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> cancelled{0};
};

struct QueueInfo {
  DWORD id = 0;
  QueueType type = QueueType::kPlatform;
  DWORD target = 0;  // kSerial: the queue it runs on
  std::uint32_t chain = 0;  // kSerial: serial queues from here down to a non-serial one
  std::string name;
  std::map<std::string, std::string> labels;
  std::chrono::system_clock::time_point create_time;
  std::uint32_t locks = 0;         // by all clients
  std::uint32_t caller_locks = 0;  // by the client asking
  std::shared_ptr<QueueCounters> counters;
};

struct QueuePage {
  std::vector<QueueInfo> queues;
  std::string next_page_token;  // empty: the last page
};

// 0: no limit.
struct QueueLimits {
  std::size_t max_queues = 1024;
  std::size_t max_queues_per_client = 256;
  std::size_t max_serial_chain = 16;
};

class QueueTable {
 public:
  // Limits on what clients give.
  static constexpr std::size_t kMaxNameBytes = 128;
  static constexpr std::size_t kMaxLabels = 32;
  static constexpr std::size_t kMaxLabelBytes = 64;
  static constexpr int kDefaultPageSize = 100;
  static constexpr int kMaxPageSize = 1000;

  // Lists MF's platform queues. REQUIRES: MFStartup has been called.
  explicit QueueTable(QueueLimits limits = QueueLimits());
  // Releases every lock still held.
  ~QueueTable();

  QueueTable(const QueueTable&) = delete;
  QueueTable& operator=(const QueueTable&) = delete;

  // Allocates a private queue for `client`, which holds its one lock.
  // kSerial runs on `target` (any queue in the table).
  StatusOr<QueueInfo> Create(const std::string& client, QueueType type, DWORD target,
                             std::string name, std::map<std::string, std::string> labels);
  StatusOr<QueueInfo> Get(const std::string& client, DWORD id) const;
  // Queues carrying every label of `selector`, in id order.
  StatusOr<QueuePage> List(const std::string& client,
                           const std::map<std::string, std::string>& selector, int page_size,
                           const std::string& page_token) const;
  // MFLockWorkQueue / MFUnlockWorkQueue for `client`. Platform queues need
  // no locks: both succeed and count nothing. A first lock on a queue counts
  // towards max_queues_per_client.
  StatusOr<QueueInfo> Lock(const std::string& client, DWORD id);
  StatusOr<QueueInfo> Unlock(const std::string& client, DWORD id);
  // Releases all of `client`'s locks on queue `id`; returns how many.
  StatusOr<std::uint32_t> ReleaseAll(const std::string& client, DWORD id);
  // Releases all of `client`'s locks on every queue (it went away).
  void ReleaseClient(const std::string& client);

  // The counters of queue `id` (NOT_FOUND as Get says it): what a
  // submission needs of its queue, without the rest of its description.
  StatusOr<std::shared_ptr<QueueCounters>> Counters(DWORD id) const;

  // Returns once MF has been given back every lock dropped so far.
  void WaitForReleases();

 private:
  struct Entry {
    QueueInfo info;  // locks / caller_locks filled in on the way out
    std::map<std::string, std::uint32_t> locks_by_client;
  };
  QueueInfo Describe(const Entry& entry, const std::string& client) const;
  // RESOURCE_EXHAUSTED if `client` may not hold locks on one more queue.
  Status CheckClientLimitLocked(const std::string& client) const MFWQ_REQUIRES(mu_);
  // Counts a lock of `client` on a private queue it held none on (+1), or
  // the end of its last one (-1).
  void CountHolderLocked(const std::string& client, int change) MFWQ_REQUIRES(mu_);
  // Drops `count` of `client`'s locks on `id` from the table (the entry goes
  // with its last lock) and returns how many MF unlocks to make.
  // REQUIRES: mu_ held.
  std::uint32_t DropLocksLocked(const std::string& client, DWORD id, std::uint32_t count) MFWQ_REQUIRES(mu_);
  static Status CheckNameAndLabels(const std::string& name,
                                   const std::map<std::string, std::string>& labels);

  const QueueLimits limits_;
  mutable Mutex mu_;
  std::map<DWORD, Entry> queues_ MFWQ_GUARDED_BY(mu_);
  // Private queues in queues_, and those being allocated.
  std::size_t private_queues_ MFWQ_GUARDED_BY(mu_) = 0;
  // Per client: private queues it holds locks on, and those it is allocating.
  std::map<std::string, std::size_t> held_by_client_ MFWQ_GUARDED_BY(mu_);
  QueueReleaser releaser_;
};

const char* QueueTypeName(QueueType type);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_QUEUE_TABLE_H_
