#include "event.h"

#include <algorithm>
#include <utility>

namespace mfwq::engine {

Event::Event(bool manual_reset, bool initially_set)
    : manual_reset_(manual_reset), signalled_(initially_set) {}

std::vector<Event::Waiter> Event::Set() {
  std::vector<Waiter> released;
  MutexLock lock(mu_);
  if (manual_reset_) {
    signalled_ = true;
    released.assign(std::make_move_iterator(waiters_.begin()),
                    std::make_move_iterator(waiters_.end()));
    waiters_.clear();
    cv_.notify_all();
  } else if (blocked_ > 0 || waiters_.empty()) {
    signalled_ = true;  // the first thread to wake consumes it
    cv_.notify_one();
  } else {
    released.push_back(std::move(waiters_.front()));  // signal consumed
    waiters_.pop_front();
  }
  return released;
}

void Event::Reset() {
  MutexLock lock(mu_);
  signalled_ = false;
}

bool Event::Wait(std::optional<std::chrono::milliseconds> timeout) {
  MutexLock lock(mu_);
  ++blocked_;
  bool got;
  if (timeout) {
    got = cv_.wait_for(lock.native(), *timeout, [this]() MFWQ_REQUIRES(mu_) { return signalled_; });
  } else {
    cv_.wait(lock.native(), [this]() MFWQ_REQUIRES(mu_) { return signalled_; });
    got = true;
  }
  --blocked_;
  if (got && !manual_reset_) signalled_ = false;
  return got;
}

std::optional<Event::Waiter> Event::AddWaiter(Waiter waiter) {
  MutexLock lock(mu_);
  if (signalled_) {
    if (!manual_reset_) signalled_ = false;
    return waiter;
  }
  waiters_.push_back(std::move(waiter));
  return std::nullopt;
}

std::optional<Event::Waiter> Event::RemoveWaiter(MFWORKITEM_KEY key) {
  MutexLock lock(mu_);
  auto it = std::find_if(waiters_.begin(), waiters_.end(),
                         [key](const Waiter& w) { return w.key == key; });
  if (it == waiters_.end()) return std::nullopt;
  Waiter w = std::move(*it);
  waiters_.erase(it);
  return w;
}

// A HANDLE is ((generation << 32) | (slot + 1) << 2): never NULL, never
// INVALID_HANDLE_VALUE, and a closed handle's slot reused later has another
// generation.
namespace {
HANDLE Encode(std::size_t slot, std::uint32_t generation) {
  std::uint64_t v = (std::uint64_t{generation} << 32) | ((std::uint64_t{slot} + 1) << 2);
  return reinterpret_cast<HANDLE>(static_cast<std::uintptr_t>(v));
}
bool Decode(HANDLE h, std::size_t* slot, std::uint32_t* generation) {
  auto v = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h));
  std::uint64_t low = v & 0xFFFF'FFFFull;
  if (low == 0 || (low & 3) != 0) return false;
  *slot = static_cast<std::size_t>((low >> 2) - 1);
  *generation = static_cast<std::uint32_t>(v >> 32);
  return true;
}
}  // namespace

HandleTable& HandleTable::Get() {
  static HandleTable* table = new HandleTable;  // lives as long as the process
  return *table;
}

HANDLE HandleTable::Create(bool manual_reset, bool initially_set, const std::wstring& name) {
  MutexLock lock(mu_);
  std::shared_ptr<Event> event;
  if (!name.empty()) {
    if (auto it = named_.find(name); it != named_.end()) event = it->second.lock();
  }
  if (!event) {
    event = std::make_shared<Event>(manual_reset, initially_set);
    if (!name.empty()) named_[name] = event;
  }
  std::size_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() >= (std::size_t{1} << 29)) return nullptr;  // handle space exhausted
    slot = slots_.size();
    slots_.emplace_back();
  }
  slots_[slot].event = std::move(event);
  return Encode(slot, slots_[slot].generation);
}

std::shared_ptr<Event> HandleTable::Find(HANDLE handle) const {
  std::size_t slot;
  std::uint32_t generation;
  if (!Decode(handle, &slot, &generation)) return nullptr;
  MutexLock lock(mu_);
  if (slot >= slots_.size() || slots_[slot].generation != generation) return nullptr;
  return slots_[slot].event;
}

bool HandleTable::Close(HANDLE handle) {
  std::size_t slot;
  std::uint32_t generation;
  if (!Decode(handle, &slot, &generation)) return false;
  MutexLock lock(mu_);
  if (slot >= slots_.size() || slots_[slot].generation != generation || !slots_[slot].event) {
    return false;
  }
  // Waiting items keep their own reference, so this never destroys an event
  // with items registered on it: no user code runs under mu_.
  slots_[slot].event.reset();
  ++slots_[slot].generation;
  free_.push_back(static_cast<std::uint32_t>(slot));
  std::erase_if(named_, [](const auto& entry) { return entry.second.expired(); });
  return true;
}

}  // namespace mfwq::engine
