// PriorityFifo: work items by priority, higher first, FIFO among equals.
//
// One FIFO per priority level in use, levels sorted: O(1) push and pop when
// all items share a priority (the common case), O(levels) otherwise. Empty
// levels are kept (up to kSpareLevels) so a queue that drains and refills
// does not reallocate. Not thread-safe: its owner locks.
#ifndef MFWQ_ENGINE_SRC_PRIORITY_FIFO_H_
#define MFWQ_ENGINE_SRC_PRIORITY_FIFO_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <type_traits>
#include <vector>

#include "work_item.h"

namespace mfwq::engine {

class PriorityFifo {
 public:
  void Push(WorkItem item);
  // REQUIRES: !empty().
  WorkItem Pop();
  // Moves up to `max` items of the highest priority into `out` (appended).
  // REQUIRES: !empty().
  void PopBatch(std::size_t max, std::vector<WorkItem>* out);
  // Puts items taken by PopBatch, all of one priority, back in front of
  // their level, in order.
  void PushFront(std::vector<WorkItem>::iterator first, std::vector<WorkItem>::iterator last);
  // Priority of the next item. REQUIRES: !empty().
  LONG TopPriority() const;
  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  // Moves every item out (to be released by the caller, unlocked).
  std::vector<WorkItem> TakeAll();

 private:
  static constexpr std::size_t kSpareLevels = 4;
  struct Level {
    LONG priority;
    // Behind a pointer: std::deque's move may throw, so a vector of deques
    // would copy the items (AddRef and Release on every queued result, under
    // the owner's lock) whenever it grows.
    std::unique_ptr<std::deque<WorkItem>> items;
  };
  static_assert(std::is_nothrow_move_constructible_v<Level>);
  static Level NewLevel(LONG priority);
  void DropSpareLevels();

  std::vector<Level> levels_;  // by priority, highest first
  std::size_t size_ = 0;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_PRIORITY_FIFO_H_
