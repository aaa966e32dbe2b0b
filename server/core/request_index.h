// RequestIndex: operation numbers by their client's request id, for the
// operation table.

#ifndef MFWQ_SERVER_CORE_REQUEST_INDEX_H_
#define MFWQ_SERVER_CORE_REQUEST_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace mfwq::server {

// An open-addressing hash table (linear probing, at most half full) from a
// (client, request id) pair to an operation number. The table holds views,
// not copies: each key's strings must outlive its stay in the index (the
// operation table's keys view its entries' own strings).
//
// Every accepted operation is looked up once and inserted, and every one
// that retention drops is removed: with a node per key (std::unordered_map)
// each of those is a walk through nodes scattered over memory, several
// cache misses, which came to a tenth of the server's CPU under load. Here
// a look-up reads one or two adjacent slots besides the key's own strings
// (which it hashes), and compares strings only when the 64-bit hashes match.
class RequestIndex {
 public:
  struct Key {
    std::string_view client, request_id;
  };

  // The number under `key`, or nullptr. The pointer is good until the
  // next Insert or Erase.
  std::uint64_t* Find(Key key);
  const std::uint64_t* Find(Key key) const;
  // Adds `key` with `number` unless it is there: its number's place (good
  // until the next Insert or Erase), and whether it was added.
  std::pair<std::uint64_t*, bool> Insert(Key key, std::uint64_t number);
  // Removes `key`; with `only_if`, only if its number is that one. Returns
  // whether it was removed.
  bool Erase(Key key);
  bool Erase(Key key, std::uint64_t only_if);

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  struct Slot {
    std::uint64_t hash = 0;  // 0: empty
    std::uint64_t number = 0;
    std::string_view client, request_id;
  };
  static std::uint64_t Hash(Key key);
  // The slot holding `key`, or the empty slot where it would go.
  std::size_t Probe(Key key, std::uint64_t hash) const;
  // Empties slot `at`, moving later slots of its run back so that every
  // key stays reachable from its home slot.
  void RemoveAt(std::size_t at);
  void Grow();

  std::vector<Slot> slots_;  // a power of two of them, or none
  std::size_t size_ = 0;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_REQUEST_INDEX_H_
