// EventTable: the named events clients create, for operations that wait on
// one (MFPutWaitingWorkItem) or signal one when they complete (the remote
// hEvent). Each is an MF event handle (CreateEventW), owned by the client
// that created it: names are per client, and ReleaseClient (the client went
// away) deletes its events. Thread-safe.
#ifndef MFWQ_SERVER_CORE_EVENT_TABLE_H_
#define MFWQ_SERVER_CORE_EVENT_TABLE_H_

#include <mfwq/thread_annotations.h>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <mfwq/mfapi.h>

#include "status.h"

namespace mfwq::server {

struct EventInfo {
  std::string name;
  bool manual_reset = false;
  // Whether a manual-reset event is set. (An auto-reset event cannot be
  // looked at without consuming its signal: false.)
  bool signalled = false;
};

// An event handle kept open for as long as someone uses it (a waiting
// operation), even if its client deletes the event meanwhile.
class EventHandleRef {
 public:
  explicit EventHandleRef(HANDLE h) : h_(h) {}
  ~EventHandleRef() { CloseHandle(h_); }
  EventHandleRef(const EventHandleRef&) = delete;
  EventHandleRef& operator=(const EventHandleRef&) = delete;
  HANDLE get() const { return h_; }

 private:
  HANDLE h_;
};

class EventTable {
 public:
  static constexpr std::size_t kMaxNameBytes = 128;

  StatusOr<EventInfo> Create(const std::string& client, const std::string& name,
                             bool manual_reset, bool initially_set);
  StatusOr<EventInfo> Set(const std::string& client, const std::string& name);
  StatusOr<EventInfo> Reset(const std::string& client, const std::string& name);
  Status Delete(const std::string& client, const std::string& name);
  // The client's events, in name order.
  std::vector<EventInfo> List(const std::string& client) const;
  // The event's handle, for MFPutWaitingWorkItem or SetEvent on completion.
  // Errors name `field`: INVALID_ARGUMENT for a name no event can have,
  // NOT_FOUND for one the client has no event of.
  StatusOr<std::shared_ptr<EventHandleRef>> Handle(const std::string& client,
                                                   const std::string& name,
                                                   const std::string& field = "name") const;
  // Deletes every event of `client`; returns their names (operations
  // waiting on them are the caller's to cancel).
  std::vector<std::string> ReleaseClient(const std::string& client);

  // Letters, digits, '.', '-', '_'; 1 to 128 bytes. The error names `field`.
  static Status CheckName(const std::string& name, const std::string& field);

 private:
  struct Entry {
    std::shared_ptr<EventHandleRef> handle;
    bool manual_reset;
  };
  using Key = std::pair<std::string, std::string>;  // (client, name)
  static EventInfo Describe(const std::string& name, const Entry& entry);
  // REQUIRES: mu_ held.
  StatusOr<const Entry*> FindLocked(const std::string& client, const std::string& name) const MFWQ_REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<Key, Entry> events_ MFWQ_GUARDED_BY(mu_);
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_EVENT_TABLE_H_
