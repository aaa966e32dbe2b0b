#include "priority_fifo.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace mfwq::engine {

PriorityFifo::Level PriorityFifo::NewLevel(LONG priority) {
  return Level{priority, std::make_unique<std::deque<WorkItem>>()};
}

void PriorityFifo::Push(WorkItem item) {
  const LONG priority = item.priority;
  auto it = std::lower_bound(levels_.begin(), levels_.end(), priority,
                             [](const Level& l, LONG p) { return l.priority > p; });
  if (it == levels_.end() || it->priority != priority) {
    it = levels_.insert(it, NewLevel(priority));
  }
  it->items->push_back(std::move(item));
  ++size_;
}

WorkItem PriorityFifo::Pop() {
  auto it = std::find_if(levels_.begin(), levels_.end(),
                         [](const Level& l) { return !l.items->empty(); });
  WorkItem item = std::move(it->items->front());
  it->items->pop_front();
  --size_;
  if (it->items->empty()) DropSpareLevels();
  return item;
}

void PriorityFifo::PopBatch(std::size_t max, std::vector<WorkItem>* out) {
  auto it = std::find_if(levels_.begin(), levels_.end(),
                         [](const Level& l) { return !l.items->empty(); });
  const std::size_t n = std::min(max, it->items->size());
  auto first = it->items->begin();
  auto last = first + static_cast<std::ptrdiff_t>(n);
  std::move(first, last, std::back_inserter(*out));
  it->items->erase(first, last);
  size_ -= n;
  if (it->items->empty()) DropSpareLevels();
}

void PriorityFifo::PushFront(std::vector<WorkItem>::iterator first,
                             std::vector<WorkItem>::iterator last) {
  if (first == last) return;
  const LONG priority = first->priority;
  auto it = std::lower_bound(levels_.begin(), levels_.end(), priority,
                             [](const Level& l, LONG p) { return l.priority > p; });
  if (it == levels_.end() || it->priority != priority) {
    it = levels_.insert(it, NewLevel(priority));
  }
  size_ += static_cast<std::size_t>(last - first);
  it->items->insert(it->items->begin(), std::make_move_iterator(first), std::make_move_iterator(last));
}

LONG PriorityFifo::TopPriority() const {
  auto it = std::find_if(levels_.begin(), levels_.end(),
                         [](const Level& l) { return !l.items->empty(); });
  return it->priority;
}

std::vector<WorkItem> PriorityFifo::TakeAll() {
  std::vector<WorkItem> all;
  all.reserve(size_);
  for (Level& level : levels_) {
    std::move(level.items->begin(), level.items->end(), std::back_inserter(all));
  }
  levels_.clear();
  size_ = 0;
  return all;
}

void PriorityFifo::DropSpareLevels() {
  std::size_t empty = 0;
  for (const Level& level : levels_) empty += level.items->empty() ? 1 : 0;
  if (empty <= kSpareLevels) return;
  std::erase_if(levels_, [](const Level& l) { return l.items->empty(); });
}

}  // namespace mfwq::engine
