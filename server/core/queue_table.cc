#include "queue_table.h"
#include "client_text.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace mfwq::server {
namespace {

std::string Hex(DWORD id) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", static_cast<unsigned>(id));
  return text;
}

struct PlatformQueue {
  DWORD id;
  const char* name;
};
constexpr PlatformQueue kPlatformQueues[] = {
    {MFASYNC_CALLBACK_QUEUE_STANDARD, "MFASYNC_CALLBACK_QUEUE_STANDARD"},
    {MFASYNC_CALLBACK_QUEUE_RT, "MFASYNC_CALLBACK_QUEUE_RT"},
    {MFASYNC_CALLBACK_QUEUE_IO, "MFASYNC_CALLBACK_QUEUE_IO"},
    {MFASYNC_CALLBACK_QUEUE_TIMER, "MFASYNC_CALLBACK_QUEUE_TIMER"},
    {MFASYNC_CALLBACK_QUEUE_MULTITHREADED, "MFASYNC_CALLBACK_QUEUE_MULTITHREADED"},
    {MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION, "MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION"},
};

}  // namespace

const char* QueueTypeName(QueueType type) {
  switch (type) {
    case QueueType::kStandard:
      return "standard";
    case QueueType::kMultithreaded:
      return "multithreaded";
    case QueueType::kSerial:
      return "serial";
    case QueueType::kPlatform:
      return "platform";
  }
  return "unknown";
}

QueueTable::QueueTable(QueueLimits limits) : limits_(limits) {
  const auto now = std::chrono::system_clock::now();
  for (const PlatformQueue& q : kPlatformQueues) {
    Entry entry;
    entry.info.id = q.id;
    entry.info.type = QueueType::kPlatform;
    entry.info.name = q.name;
    entry.info.create_time = now;
    entry.info.counters = std::make_shared<QueueCounters>();
    queues_.emplace(q.id, std::move(entry));
  }
}

QueueTable::~QueueTable() {
  for (auto& [id, entry] : queues_) {
    for (auto& [client, count] : entry.locks_by_client) releaser_.Release(id, count);
  }
  // ~QueueReleaser carries them out before it returns.
}

void QueueTable::WaitForReleases() { releaser_.WaitUntilIdle(); }

Status QueueTable::CheckNameAndLabels(const std::string& name,
                                      const std::map<std::string, std::string>& labels) {
  if (name.size() > kMaxNameBytes) return InvalidArgument("name: longer than 128 bytes");
  if (labels.size() > kMaxLabels) return InvalidArgument("labels: more than 32");
  for (const auto& [key, value] : labels) {
    if (key.empty()) return InvalidArgument("labels: an empty key");
    if (key.size() > kMaxLabelBytes) {
      return InvalidArgument("labels." + FieldKey(key) + ": key longer than 64 bytes");
    }
    if (value.size() > kMaxLabelBytes) {
      return InvalidArgument("labels." + key + ": value longer than 64 bytes");
    }
  }
  return OkStatus();
}

Status QueueTable::CheckClientLimitLocked(const std::string& client) const {
  if (limits_.max_queues_per_client == 0) return OkStatus();
  auto it = held_by_client_.find(client);
  if (it == held_by_client_.end() || it->second < limits_.max_queues_per_client) return OkStatus();
  return Status(StatusCode::kResourceExhausted,
                "limit max_queues_per_client: this client holds locks on " +
                    std::to_string(it->second) +
                    " private queues, the most it may; unlock or delete one first");
}

void QueueTable::CountHolderLocked(const std::string& client, int change) {
  if (change > 0) {
    ++held_by_client_[client];
    return;
  }
  auto it = held_by_client_.find(client);
  if (it != held_by_client_.end() && --it->second == 0) held_by_client_.erase(it);
}

StatusOr<QueueInfo> QueueTable::Create(const std::string& client, QueueType type, DWORD target,
                                       std::string name,
                                       std::map<std::string, std::string> labels) {
  if (Status s = CheckNameAndLabels(name, labels); !s.ok()) return s;
  if (type == QueueType::kPlatform) {
    return InvalidArgument("type: platform queues exist already and cannot be created");
  }
  std::uint32_t chain = 0;
  {
    // Checked, and this queue counted, before MF allocates it.
    MutexLock lock(mu_);
    if (type == QueueType::kSerial) {
      auto it = queues_.find(target);
      if (it == queues_.end()) return NotFound("target_queue_id: no queue " + Hex(target));
      chain = it->second.info.chain + 1;
      if (limits_.max_serial_chain != 0 && chain > limits_.max_serial_chain) {
        return InvalidArgument("limit max_serial_chain: target_queue_id " + Hex(target) +
                               " ends a chain of " + std::to_string(chain - 1) +
                               " serial queues, the longest a chain may be");
      }
    }
    if (limits_.max_queues != 0 && private_queues_ >= limits_.max_queues) {
      return Status(StatusCode::kResourceExhausted,
                    "limit max_queues: the server has " + std::to_string(private_queues_) +
                        " private queues, the most it may have");
    }
    if (Status s = CheckClientLimitLocked(client); !s.ok()) return s;
    ++private_queues_;
    CountHolderLocked(client, +1);
  }
  DWORD id = 0;
  HRESULT hr = E_UNEXPECTED;
  switch (type) {
    case QueueType::kStandard:
      hr = MFAllocateWorkQueueEx(MF_STANDARD_WORKQUEUE, &id);
      break;
    case QueueType::kMultithreaded:
      hr = MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &id);
      break;
    case QueueType::kSerial:
      hr = MFAllocateSerialWorkQueue(target, &id);
      break;
    case QueueType::kPlatform:
      break;
  }
  if (FAILED(hr)) {
    MutexLock lock(mu_);
    --private_queues_;
    CountHolderLocked(client, -1);
    if (type == QueueType::kSerial && hr == MF_E_INVALID_WORKQUEUE) {
      return NotFound("target_queue_id: no queue " + Hex(target));
    }
    return StatusFromHResult(hr, "allocating a " + std::string(QueueTypeName(type)) + " queue");
  }

  Entry entry;
  entry.info.id = id;
  entry.info.type = type;
  entry.info.target = type == QueueType::kSerial ? target : 0;
  entry.info.chain = chain;
  entry.info.name = std::move(name);
  entry.info.labels = std::move(labels);
  entry.info.create_time = std::chrono::system_clock::now();
  entry.info.counters = std::make_shared<QueueCounters>();
  entry.locks_by_client[client] = 1;  // the allocation's lock (counted above)
  MutexLock lock(mu_);
  auto [it, inserted] = queues_.insert_or_assign(id, std::move(entry));
  return Describe(it->second, client);
}

QueueInfo QueueTable::Describe(const Entry& entry, const std::string& client) const {
  QueueInfo info = entry.info;
  info.locks = 0;
  for (const auto& [holder, count] : entry.locks_by_client) info.locks += count;
  auto mine = entry.locks_by_client.find(client);
  info.caller_locks = mine == entry.locks_by_client.end() ? 0 : mine->second;
  return info;
}

StatusOr<QueueInfo> QueueTable::Get(const std::string& client, DWORD id) const {
  MutexLock lock(mu_);
  auto it = queues_.find(id);
  if (it == queues_.end()) return NotFound("queue_id: no queue " + Hex(id));
  return Describe(it->second, client);
}

StatusOr<QueuePage> QueueTable::List(const std::string& client,
                                     const std::map<std::string, std::string>& selector,
                                     int page_size, const std::string& page_token) const {
  if (page_size < 0 || page_size > kMaxPageSize) {
    return InvalidArgument("page_size: must be 0 to 1000");
  }
  if (page_size == 0) page_size = kDefaultPageSize;
  // The token is the id of the last queue of the previous page.
  DWORD after = 0;
  bool has_after = false;
  if (!page_token.empty()) {
    unsigned long long parsed = 0;
    int used = 0;
    if (std::sscanf(page_token.c_str(), "%llu%n", &parsed, &used) != 1 ||
        static_cast<std::size_t>(used) != page_token.size() || parsed > 0xFFFFFFFFull) {
      return InvalidArgument("page_token: not one this server gave");
    }
    after = static_cast<DWORD>(parsed);
    has_after = true;
  }
  QueuePage page;
  MutexLock lock(mu_);
  auto it = has_after ? queues_.upper_bound(after) : queues_.begin();
  for (; it != queues_.end(); ++it) {
    bool match = true;
    for (const auto& [key, value] : selector) {
      auto label = it->second.info.labels.find(key);
      if (label == it->second.info.labels.end() || label->second != value) match = false;
    }
    if (!match) continue;
    if (static_cast<int>(page.queues.size()) == page_size) {
      page.next_page_token = std::to_string(page.queues.back().id);
      break;
    }
    page.queues.push_back(Describe(it->second, client));
  }
  return page;
}

StatusOr<QueueInfo> QueueTable::Lock(const std::string& client, DWORD id) {
  MutexLock lock(mu_);
  auto it = queues_.find(id);
  if (it == queues_.end()) return NotFound("queue_id: no queue " + Hex(id));
  if (it->second.info.type != QueueType::kPlatform) {
    const bool first = it->second.locks_by_client.count(client) == 0;
    if (first) {
      if (Status s = CheckClientLimitLocked(client); !s.ok()) return s;
    }
    // MF's lock never calls back into us: safe under mu_, and it keeps the
    // table's count and MF's in step.
    if (HRESULT hr = MFLockWorkQueue(id); FAILED(hr)) {
      return StatusFromHResult(hr, "locking queue " + Hex(id));
    }
    ++it->second.locks_by_client[client];
    if (first) CountHolderLocked(client, +1);
  }
  return Describe(it->second, client);
}

std::uint32_t QueueTable::DropLocksLocked(const std::string& client, DWORD id,
                                          std::uint32_t count) {
  auto it = queues_.find(id);
  if (it == queues_.end()) return 0;
  auto mine = it->second.locks_by_client.find(client);
  if (mine == it->second.locks_by_client.end()) return 0;
  const std::uint32_t dropped = std::min(count, mine->second);
  mine->second -= dropped;
  if (mine->second == 0) {
    it->second.locks_by_client.erase(mine);
    CountHolderLocked(client, -1);
  }
  if (it->second.locks_by_client.empty()) {
    queues_.erase(it);  // MF frees it with the last unlock
    --private_queues_;
  }
  return dropped;
}

StatusOr<QueueInfo> QueueTable::Unlock(const std::string& client, DWORD id) {
  QueueInfo info;
  {
    MutexLock lock(mu_);
    auto it = queues_.find(id);
    if (it == queues_.end()) return NotFound("queue_id: no queue " + Hex(id));
    if (it->second.info.type == QueueType::kPlatform) return Describe(it->second, client);
    info = Describe(it->second, client);
    if (info.caller_locks == 0) {
      return Status(StatusCode::kFailedPrecondition,
                    "queue " + Hex(id) + ": this client holds no lock on it");
    }
    DropLocksLocked(client, id, 1);
  }
  --info.locks;
  --info.caller_locks;
  releaser_.Release(id, 1);  // the last unlock frees the queue
  return info;
}

StatusOr<std::uint32_t> QueueTable::ReleaseAll(const std::string& client, DWORD id) {
  std::uint32_t released;
  {
    MutexLock lock(mu_);
    auto it = queues_.find(id);
    if (it == queues_.end()) return NotFound("queue_id: no queue " + Hex(id));
    if (it->second.info.type == QueueType::kPlatform) {
      return Status(StatusCode::kFailedPrecondition,
                    "queue " + Hex(id) + ": platform queues cannot be deleted");
    }
    released = DropLocksLocked(client, id, 0xFFFFFFFFu);
  }
  releaser_.Release(id, released);
  return released;
}

void QueueTable::ReleaseClient(const std::string& client) {
  std::vector<std::pair<DWORD, std::uint32_t>> unlocks;
  {
    MutexLock lock(mu_);
    std::vector<DWORD> ids;
    for (const auto& [id, entry] : queues_) {
      if (entry.locks_by_client.count(client) != 0) ids.push_back(id);
    }
    for (DWORD id : ids) unlocks.emplace_back(id, DropLocksLocked(client, id, 0xFFFFFFFFu));
  }
  for (const auto& [id, times] : unlocks) releaser_.Release(id, times);
}

StatusOr<std::shared_ptr<QueueCounters>> QueueTable::Counters(DWORD id) const {
  MutexLock lock(mu_);
  auto it = queues_.find(id);
  if (it == queues_.end()) return NotFound("queue_id: no queue " + Hex(id));
  return it->second.info.counters;
}

}  // namespace mfwq::server
