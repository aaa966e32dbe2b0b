// OperationEntry: the operation table's record of one operation, from
// admission to retention dropping it. Internal to the table's parts
// (operation_table*.cc, dispatcher.cc).
#ifndef MFWQ_SERVER_CORE_OPERATION_ENTRY_H_
#define MFWQ_SERVER_CORE_OPERATION_ENTRY_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "event_table.h"
#include "operation.h"
#include "operation_records.h"
#include "queue_table.h"

namespace mfwq::server {

struct OperationEntry {
  // What clients see of it. Constant after admission but for `state`,
  // `completion` and `progress`, which are guarded by the table's mu_.
  OperationView view;
  // Constant after admission.
  std::optional<std::chrono::milliseconds> delay;
  std::shared_ptr<QueueCounters> counters;
  std::shared_ptr<EventHandleRef> wait_event;
  std::string wait_event_name;
  std::shared_ptr<EventHandleRef> signal_event;
  std::uint64_t session = 0;
  std::optional<Clock::time_point> deadline;

  // Guarded by the table's mu_.
  ComPtr<Operation> op;             // what MF runs; let go once completed
  bool unary = false;               // CompletionRecord::unary
  MFWORKITEM_KEY key = 0;           // the scheduled or waiting MF item
  std::uint64_t deadline_timer = 0;  // the deadline's TableClock timer
  std::optional<Clock::time_point> start_time;
  bool accepted = false;   // journaled and dispatched; before that, clients cannot see it
  bool settled = false;    // its acceptance is decided: accepted, or refused and gone
  bool claimed = false;    // its completion is made and on its way to the journal
  bool delivered = false;  // the completion is published (or, at shutdown, given up)
  bool ready = false;      // put on its queue to run at once, not started: counted in ready_
  bool counted_pending = false;  // counted in counters->pending (queued to run, not started)
  std::optional<std::string> cancel_message;         // set once a cancel is asked for
  HRESULT cancel_status = MF_E_OPERATION_CANCELLED;  // with cancel_message
  // Run (with no lock held) once `settled`, and once `delivered`.
  std::vector<std::function<void()>> on_settled;
  std::vector<std::function<void()>> on_delivered;

  // Put on its queue while its acceptance is being journaled: it may not
  // start until that is done. Cleared with the table's mu_ held.
  std::atomic<bool> gated{false};
};

using EntryPtr = std::shared_ptr<OperationEntry>;

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OPERATION_ENTRY_H_
