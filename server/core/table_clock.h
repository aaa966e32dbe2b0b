// TableClock: the time the operation table goes by: the timestamps it
// records (submit, start, completion), deadlines, and retention by age.
// The server uses SystemTableClock; tests use a fake one they advance by
// hand, so that deadline and retention tests are instant and exact.
//
// Delays (SubmitRequest.delay) are not the table's: MF schedules them
// (MFScheduleWorkItemEx), on its own clock.
#ifndef MFWQ_SERVER_CORE_TABLE_CLOCK_H_
#define MFWQ_SERVER_CORE_TABLE_CLOCK_H_

#include <cstdint>
#include <functional>

#include "operation_records.h"

namespace mfwq::server {

class TableClock {
 public:
  using TimerId = std::uint64_t;  // 0: none

  virtual ~TableClock() = default;
  virtual Clock::time_point Now() const = 0;
  // Calls `fn` once, on a thread of the clock's, at `when` or soon after
  // (at once if it has passed), unless cancelled first. 0 if it cannot
  // (MF is shutting down).
  virtual TimerId Schedule(Clock::time_point when, std::function<void()> fn) = 0;
  // `fn` will not be called, unless it is being called already.
  virtual void Cancel(TimerId id) = 0;
};

// The system clock, with MF timers (MFScheduleWorkItem, millisecond
// resolution).
class SystemTableClock final : public TableClock {
 public:
  Clock::time_point Now() const override { return Clock::now(); }
  TimerId Schedule(Clock::time_point when, std::function<void()> fn) override;
  void Cancel(TimerId id) override;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_TABLE_CLOCK_H_
