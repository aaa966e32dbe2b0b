// A TableClock for tests: time stands still until Advance moves it, and
// timers due by then run in Advance, on the test's thread.
#ifndef MFWQ_TESTS_SERVER_CORE_FAKE_TABLE_CLOCK_H_
#define MFWQ_TESTS_SERVER_CORE_FAKE_TABLE_CLOCK_H_

#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "table_clock.h"

namespace mfwq::test {

using server::Clock;
using server::TableClock;

class FakeTableClock final : public TableClock {
 public:
  // 2026-01-01T00:00:00Z.
  FakeTableClock() : now_(Clock::time_point(std::chrono::seconds(1767225600))) {}

  Clock::time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  TimerId Schedule(Clock::time_point when, std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    const TimerId id = next_++;
    timers_.emplace(id, Timer{when, std::move(fn)});
    return id;
  }
  void Cancel(TimerId id) override {
    std::lock_guard lock(mu_);
    timers_.erase(id);
  }
  // Moves time on by `d`, running the timers due, in the order they are due.
  void Advance(Clock::duration d) {
    std::vector<std::function<void()>> due;
    {
      std::lock_guard lock(mu_);
      now_ += d;
      std::multimap<Clock::time_point, TimerId> order;
      for (const auto& [id, t] : timers_) {
        if (t.when <= now_) order.emplace(t.when, id);
      }
      for (const auto& [when, id] : order) {
        due.push_back(std::move(timers_.at(id).fn));
        timers_.erase(id);
      }
    }
    for (auto& fn : due) fn();
  }
  std::size_t timers() const {
    std::lock_guard lock(mu_);
    return timers_.size();
  }

 private:
  struct Timer {
    Clock::time_point when;
    std::function<void()> fn;
  };
  mutable std::mutex mu_;
  Clock::time_point now_;
  TimerId next_ = 1;
  std::map<TimerId, Timer> timers_;
};

}  // namespace mfwq::test

#endif  // MFWQ_TESTS_SERVER_CORE_FAKE_TABLE_CLOCK_H_
