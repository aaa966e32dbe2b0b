#include "request_index.h"

#include <functional>

namespace mfwq::server {

std::uint64_t RequestIndex::Hash(Key key) {
  const std::hash<std::string_view> hash;
  const std::uint64_t h = hash(key.request_id) ^ (hash(key.client) * 0x9E3779B97F4A7C15ull);
  return h == 0 ? 1 : h;  // 0 marks an empty slot
}

std::size_t RequestIndex::Probe(Key key, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.hash == 0) return i;
    if (slot.hash == hash && slot.request_id == key.request_id && slot.client == key.client) {
      return i;
    }
  }
}

std::uint64_t* RequestIndex::Find(Key key) {
  return const_cast<std::uint64_t*>(static_cast<const RequestIndex*>(this)->Find(key));
}

const std::uint64_t* RequestIndex::Find(Key key) const {
  if (size_ == 0) return nullptr;
  const Slot& slot = slots_[Probe(key, Hash(key))];
  return slot.hash == 0 ? nullptr : &slot.number;
}

std::pair<std::uint64_t*, bool> RequestIndex::Insert(Key key, std::uint64_t number) {
  // At most half full: runs stay short.
  if (2 * (size_ + 1) > slots_.size()) Grow();
  const std::uint64_t hash = Hash(key);
  Slot& slot = slots_[Probe(key, hash)];
  if (slot.hash != 0) return {&slot.number, false};
  slot = Slot{hash, number, key.client, key.request_id};
  ++size_;
  return {&slot.number, true};
}

bool RequestIndex::Erase(Key key) {
  if (size_ == 0) return false;
  const std::size_t at = Probe(key, Hash(key));
  if (slots_[at].hash == 0) return false;
  RemoveAt(at);
  return true;
}

bool RequestIndex::Erase(Key key, std::uint64_t only_if) {
  if (size_ == 0) return false;
  const std::size_t at = Probe(key, Hash(key));
  if (slots_[at].hash == 0 || slots_[at].number != only_if) return false;
  RemoveAt(at);
  return true;
}

void RequestIndex::RemoveAt(std::size_t at) {
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = at;
  for (std::size_t i = (at + 1) & mask; slots_[i].hash != 0; i = (i + 1) & mask) {
    // The key in slot i may fill the hole if the hole lies between its
    // home slot and i (going round): it is then still found from home.
    const std::size_t home = slots_[i].hash & mask;
    if (((hole - home) & mask) < ((i - home) & mask)) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = Slot{};
  --size_;
}

void RequestIndex::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 16 : 2 * old.size(), Slot{});
  const std::size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.hash == 0) continue;
    std::size_t i = slot.hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

}  // namespace mfwq::server
