#include "event_table.h"
#include "client_text.h"

namespace mfwq::server {

Status EventTable::CheckName(const std::string& name, const std::string& field) {
  if (name.empty()) return InvalidArgument(field + ": empty");
  if (name.size() > kMaxNameBytes) return InvalidArgument(field + ": longer than 128 bytes");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return InvalidArgument(field + ": only letters, digits, '.', '-' and '_' allowed");
  }
  return OkStatus();
}

EventInfo EventTable::Describe(const std::string& name, const Entry& entry) {
  EventInfo info{name, entry.manual_reset, false};
  // Waiting on a manual-reset event does not reset it.
  if (entry.manual_reset) info.signalled = WaitForSingleObject(entry.handle->get(), 0) == WAIT_OBJECT_0;
  return info;
}

StatusOr<const EventTable::Entry*> EventTable::FindLocked(const std::string& client,
                                                          const std::string& name) const {
  auto it = events_.find(Key(client, name));
  if (it == events_.end()) return NotFound("name: no event " + Quoted(name));
  return &it->second;
}

StatusOr<EventInfo> EventTable::Create(const std::string& client, const std::string& name,
                                       bool manual_reset, bool initially_set) {
  if (Status s = CheckName(name, "name"); !s.ok()) return s;
  MutexLock lock(mu_);
  if (events_.count(Key(client, name)) != 0) {
    return Status(StatusCode::kAlreadyExists, "name: event " + Quoted(name) + " exists");
  }
  // Unnamed at the MF level: names here are per client, not process-wide.
  HANDLE h = CreateEventW(nullptr, manual_reset ? TRUE : FALSE, initially_set ? TRUE : FALSE,
                          nullptr);
  if (h == nullptr) {
    return Status(StatusCode::kResourceExhausted, "name: could not create event " + Quoted(name));
  }
  Entry& entry = events_[Key(client, name)] = Entry{std::make_shared<EventHandleRef>(h), manual_reset};
  return Describe(name, entry);
}

StatusOr<EventInfo> EventTable::Set(const std::string& client, const std::string& name) {
  std::shared_ptr<EventHandleRef> handle;
  bool manual;
  {
    MutexLock lock(mu_);
    auto found = FindLocked(client, name);
    if (!found.ok()) return found.status();
    handle = found.value()->handle;
    manual = found.value()->manual_reset;
  }
  // Outside mu_: setting the event releases waiting work items.
  SetEvent(handle->get());
  return Describe(name, Entry{handle, manual});
}

StatusOr<EventInfo> EventTable::Reset(const std::string& client, const std::string& name) {
  MutexLock lock(mu_);
  auto found = FindLocked(client, name);
  if (!found.ok()) return found.status();
  ResetEvent(found.value()->handle->get());
  return Describe(name, *found.value());
}

Status EventTable::Delete(const std::string& client, const std::string& name) {
  std::shared_ptr<EventHandleRef> gone;  // closed after mu_, if this was the last user
  MutexLock lock(mu_);
  auto it = events_.find(Key(client, name));
  if (it == events_.end()) return NotFound("name: no event " + Quoted(name));
  gone = std::move(it->second.handle);
  events_.erase(it);
  return OkStatus();
}

std::vector<EventInfo> EventTable::List(const std::string& client) const {
  std::vector<EventInfo> infos;
  MutexLock lock(mu_);
  for (auto it = events_.lower_bound(Key(client, "")); it != events_.end() && it->first.first == client;
       ++it) {
    infos.push_back(Describe(it->first.second, it->second));
  }
  return infos;
}

StatusOr<std::shared_ptr<EventHandleRef>> EventTable::Handle(const std::string& client,
                                                             const std::string& name,
                                                             const std::string& field) const {
  if (Status s = CheckName(name, field); !s.ok()) return s;
  MutexLock lock(mu_);
  auto it = events_.find(Key(client, name));
  if (it == events_.end()) return NotFound(field + ": no event " + Quoted(name) + " (see ListEvents)");
  return it->second.handle;
}

std::vector<std::string> EventTable::ReleaseClient(const std::string& client) {
  std::vector<std::string> names;
  std::vector<std::shared_ptr<EventHandleRef>> gone;  // closed after the lock
  MutexLock lock(mu_);
  for (auto it = events_.lower_bound(Key(client, "")); it != events_.end() && it->first.first == client;) {
    names.push_back(it->first.second);
    gone.push_back(std::move(it->second.handle));
    it = events_.erase(it);
  }
  return names;
}

}  // namespace mfwq::server
