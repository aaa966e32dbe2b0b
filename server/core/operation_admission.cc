// OperationTable: admission (checks, deduplication, limits, numbering) and
// acceptance, once the journal has written what was admitted.
#include <algorithm>
#include <cstdio>
#include <future>
#include <utility>

#include "operation_table.h"
#include "client_text.h"

namespace mfwq::server {
namespace {

// Only a batch this small, and only while no other operation waits on a
// queue to run, is put on its queues before its journal write (gated: it
// starts once the write is done): a worker then wakes while the journal
// writes. A larger batch's write outlasts a worker's wake-up many times
// over, and a busy server's workers are awake already; either way they
// would only spin.
constexpr std::size_t kGateMaxBatch = 8;

bool RunsAtOnce(const OperationEntry& entry) { return !entry.delay && !entry.wait_event; }

}  // namespace

// The answers of one SubmitBatch, given once every part has answered: the
// batch's own journal write, and each request that waits for another
// attempt with its request id.
struct OperationTable::PendingBatch {
  PendingBatch(std::size_t n, bool brief_answers, SubmitDone answer)
      : results(n, Status(StatusCode::kInternal, "not submitted")),
        brief(brief_answers),
        done(std::move(answer)) {}
  void Release() {
    if (parts.fetch_sub(1, std::memory_order_acq_rel) == 1) done(std::move(results));
  }
  // Each written by one part only; read once all are done.
  std::vector<StatusOr<SubmitResult>> results;
  std::atomic<std::size_t> parts{1};
  const bool brief;
  SubmitDone done;
};

// A request of a batch, admitted to the table and waiting for the batch's
// journal write.
struct OperationTable::Admission {
  std::size_t index = 0;  // in the batch
  EntryPtr entry;
};

StatusOr<SubmitResult> OperationTable::Submit(SubmitSpec spec) {
  std::vector<SubmitSpec> one;
  one.push_back(std::move(spec));
  return std::move(SubmitBatch(std::move(one)).front());
}

std::vector<StatusOr<SubmitResult>> OperationTable::SubmitBatch(std::vector<SubmitSpec> specs,
                                                                bool brief) {
  std::promise<std::vector<StatusOr<SubmitResult>>> answered;
  auto answers = answered.get_future();
  SubmitBatch(std::move(specs), brief, [&answered](std::vector<StatusOr<SubmitResult>> results) {
    answered.set_value(std::move(results));
  });
  return answers.get();
}

void OperationTable::SubmitBatch(std::vector<SubmitSpec> specs, bool brief, SubmitDone done) {
  auto batch = std::make_shared<PendingBatch>(specs.size(), brief, std::move(done));
  std::vector<Admission> admitted;
  admitted.reserve(specs.size());
  NumberBlock numbers;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    Admission admission;
    if (Admit(specs[i], numbers, specs.size() - i, batch, i, &admission) == Admitted::kReserved) {
      admission.index = i;
      admitted.push_back(std::move(admission));
    }
  }
  WriteAdmitted(batch, std::move(admitted));
  batch->Release();
}

void OperationTable::Resubmit(const std::shared_ptr<PendingBatch>& batch, std::size_t index,
                              SubmitSpec spec) {
  std::vector<SubmitSpec> one;
  one.push_back(std::move(spec));
  SubmitBatch(std::move(one), batch->brief,
              [batch, index](std::vector<StatusOr<SubmitResult>> results) {
                batch->results[index] = std::move(results.front());
                batch->Release();
              });
}

OperationTable::Admitted OperationTable::RetriedLocked(const EntryPtr& first, SubmitSpec& spec,
                                                       const std::shared_ptr<PendingBatch>& batch,
                                                       std::size_t index) {
  if (!first->settled) {
    // Another attempt with this request id (perhaps earlier in this very
    // batch) is being accepted: this one is answered as a retry of it once
    // it is, or submitted afresh if it is refused.
    batch->parts.fetch_add(1, std::memory_order_relaxed);
    first->on_settled.push_back([this, batch, index, spec = std::move(spec)]() mutable {
      Resubmit(batch, index, std::move(spec));
    });
    return Admitted::kDeferred;
  }
  if (spec.session == 0 && !first->unary) {
    first->unary = true;
    if (first->claimed && !first->delivered) {
      // Its completion was made before this asked (without `unary`) and is
      // on its way: answer with it, once it is out.
      batch->parts.fetch_add(1, std::memory_order_relaxed);
      first->on_delivered.push_back([this, batch, index, first] {
        {
          MutexLock lock(mu_);
          batch->results[index] = SubmitResult{ViewLocked(*first), true, first->session};
        }
        batch->Release();
      });
      return Admitted::kDeferred;
    }
  }
  // Whole even for a brief answer: the first attempt may differ from this
  // one (another queue or kind), and the submitter has only this one.
  batch->results[index] = SubmitResult{ViewLocked(*first), true, first->session};
  return Admitted::kAnswered;
}

OperationTable::Admitted OperationTable::Admit(SubmitSpec& spec, NumberBlock& numbers,
                                               std::size_t left,
                                               const std::shared_ptr<PendingBatch>& batch,
                                               std::size_t index, Admission* admission) {
  StatusOr<SubmitResult>& answer = batch->results[index];
  if (spec.request_id.size() > 128) {
    answer = InvalidArgument("request_id: longer than 128 bytes");
    return Admitted::kAnswered;
  }
  // A retry gets the first attempt's operation, whatever has changed since
  // (deadline passed, event deleted): refused only if it is no retry.
  const auto refuse = [&](Status status) {
    if (!spec.request_id.empty()) {
      MutexLock lock(mu_);
      const std::uint64_t* seen = by_request_.Find(RequestKey{spec.client, spec.request_id});
      if (seen != nullptr) {
        return RetriedLocked(operations_.at(OperationNumber(*seen)), spec, batch, index);
      }
    }
    answer = std::move(status);
    return Admitted::kAnswered;
  };
  std::shared_ptr<const OperationKind> kind = kinds_.Find(spec.kind);
  if (!kind) return refuse(InvalidArgument("kind: no kind " + Quoted(spec.kind) + " (see ListKinds)"));
  if (Status s = ValidateParameters(kind->info(), &spec.parameters); !s.ok()) return refuse(s);
  if (Status s = kind->Check(spec.parameters); !s.ok()) return refuse(s);
  if (spec.state.size() > 64 * 1024) return refuse(InvalidArgument("state: larger than 64 KiB"));
  if (spec.delay && !spec.wait_event.empty()) {
    return refuse(InvalidArgument("delay, wait_event: give at most one"));
  }
  if (spec.delay && *spec.delay < std::chrono::milliseconds::zero()) {
    return refuse(InvalidArgument("delay: negative"));
  }
  const Clock::time_point now = clock_.Now();
  if (spec.deadline && *spec.deadline <= now) {
    return refuse(InvalidArgument("deadline: already passed"));
  }
  auto counters = queues_.Counters(spec.queue);
  if (!counters.ok()) return refuse(counters.status());

  auto entry = std::make_shared<OperationEntry>();
  if (!spec.wait_event.empty()) {
    auto handle = events_.Handle(spec.client, spec.wait_event, "wait_event");
    if (!handle.ok()) return refuse(handle.status());
    entry->wait_event = handle.value();
    entry->wait_event_name = spec.wait_event;
  }
  if (!spec.signal_event.empty()) {
    auto handle = events_.Handle(spec.client, spec.signal_event, "signal_event");
    if (!handle.ok()) return refuse(handle.status());
    entry->signal_event = handle.value();
  }

  // Set before the index may view them.
  entry->view.request_id = spec.request_id;
  entry->view.client = spec.client;

  MutexLock lock(mu_);
  // Its request id, taken in the one look-up a submission needs; an
  // earlier attempt's outcome is this one's.
  const RequestKey key{entry->view.client, entry->view.request_id};
  std::uint64_t* slot = nullptr;  // good until the index changes
  // Takes the key out again unless the entry makes it into the table
  // (refused, or something throws): it must not outlive the strings it views.
  struct Provisional {
    RequestIndex* index = nullptr;
    RequestKey key;
    ~Provisional() {
      if (index != nullptr) index->Erase(key);
    }
  } provisional;
  if (!spec.request_id.empty()) {
    auto [number, fresh] = by_request_.Insert(key, 0);
    if (!fresh) return RetriedLocked(operations_.at(OperationNumber(*number)), spec, batch, index);
    slot = number;
    provisional.key = key;
    provisional.index = &by_request_;
  }
  // Checked under the lock that inserts: CancelAll must see every
  // operation accepted before StopAccepting.
  if (!accepting_) {
    answer = Status(StatusCode::kUnavailable, "the server is shutting down");
    return Admitted::kAnswered;
  }
  if (writer_.failing()) {
    answer = Status(StatusCode::kUnavailable,
                    "journal: " + writer_.failure().message() +
                        "; nothing is accepted until the journal can be written again");
    return Admitted::kAnswered;
  }
  if (Status s = CheckLimitsLocked(spec.client, spec.queue); !s.ok()) {
    answer = std::move(s);
    return Admitted::kAnswered;
  }
  if (numbers.next == numbers.end) {
    numbers.next = next_number_;
    next_number_ += left;
    numbers.end = next_number_;
  }
  entry->view.number = OperationNumber(numbers.next++);
  entry->view.queue = spec.queue;
  entry->view.kind = spec.kind;
  entry->view.parameters = spec.parameters;
  entry->view.priority = spec.priority;
  entry->view.submit_time = now;
  entry->delay = spec.delay;
  entry->deadline = spec.deadline;
  entry->session = spec.session;
  entry->unary = spec.session == 0;
  entry->counters = std::move(counters.value());
  entry->view.state = spec.delay          ? OperationState::kScheduled
                      : entry->wait_event ? OperationState::kWaiting
                                          : OperationState::kPending;
  auto callback = KindCallback::Create(kind, spec.queue);
  entry->op = Operation::Create({entry->view.number, spec.kind, spec.queue, spec.priority,
                                 std::move(spec.parameters), std::move(spec.state)},
                                callback.get(), observer_);
  // In the table from now on (MF may run it the moment it is dispatched),
  // but not visible to clients until accepted.
  operations_.emplace(entry->view.number, entry);
  if (slot != nullptr) *slot = entry->view.number.value;
  provisional.index = nullptr;  // in the table: its key stays
  ++outstanding_;
  ++inflight_[entry->view.client];
  ++depth_[entry->view.queue];
  if (entry->wait_event) ++waiting_[{entry->view.client, entry->wait_event_name}];
  // Scheduled and waiting ones are not pending until they are due or set.
  if (entry->view.state == OperationState::kPending) {
    entry->counted_pending = true;
    ++entry->counters->pending;
  }
  admission->entry = std::move(entry);
  return Admitted::kReserved;
}

void OperationTable::WriteAdmitted(const std::shared_ptr<PendingBatch>& batch,
                                   std::vector<Admission> admitted) {
  if (admitted.empty()) return;
  // Those to run at once go on their queues first, gated: a worker wakes
  // while the journal writes, and starts them once they are durable (Start
  // waits for the gate). Nothing runs before it is journaled.
  std::vector<HRESULT> early(admitted.size(), S_FALSE);  // S_FALSE: not dispatched yet
  const bool gate =
      options_.journal != nullptr && admitted.size() <= kGateMaxBatch && ready_.load() == 0;
  if (gate) {
    {
      MutexLock lock(mu_);
      for (Admission& a : admitted) {
        if (!RunsAtOnce(*a.entry)) continue;
        a.entry->gated.store(true);
        MarkReadyLocked(*a.entry, true);
      }
    }
    for (std::size_t i = 0; i < admitted.size(); ++i) {
      if (RunsAtOnce(*admitted[i].entry)) early[i] = Dispatch(admitted[i].entry);
    }
  }
  // Durable before any can run: a restart then completes those that did
  // not. Those MF refused are not written. (The records point into the
  // entries, which `admitted` holds until the write is done.)
  std::vector<AcceptedRecord> records;
  records.reserve(admitted.size());
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    if (FAILED(early[i])) continue;
    const OperationEntry& e = *admitted[i].entry;
    records.push_back({&e.view, &e.op->spec().state});
  }
  batch->parts.fetch_add(1, std::memory_order_relaxed);
  writer_.Accept(std::move(records), [this, batch, admitted = std::move(admitted),
                                      early = std::move(early), gate](const Status& s) mutable {
    AdmittedWritten(batch, admitted, early, gate, s);
    batch->Release();
  });
}

void OperationTable::AdmittedWritten(const std::shared_ptr<PendingBatch>& batch,
                                     std::vector<Admission>& admitted,
                                     const std::vector<HRESULT>& early, bool gated,
                                     const Status& journaled) {
  if (!gated) {
    // Counted before they are put on their queues, where they may start at once.
    MutexLock lock(mu_);
    for (Admission& a : admitted) {
      if (RunsAtOnce(*a.entry)) MarkReadyLocked(*a.entry, true);
    }
  }
  std::vector<HRESULT> outcome(admitted.size());
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    const EntryPtr& entry = admitted[i].entry;
    HRESULT hr = early[i];
    if (hr == S_FALSE) {
      hr = journaled.ok() ? Dispatch(entry) : E_FAIL;
    } else if (SUCCEEDED(hr) && !journaled.ok()) {
      hr = E_FAIL;  // on its queue but not durable: it must not run
    }
    outcome[i] = hr;
    if (SUCCEEDED(hr)) continue;
    // Refused by the journal or by MF, so no callback can come (one that
    // was dispatched finds nothing when it is let through): as if never
    // submitted, in the journal too.
    if (journaled.ok() && options_.journal != nullptr && early[i] == S_FALSE) {
      writer_.Withdraw(entry->view.number);
    }
    Unreserve(entry);
  }
  if (gated) {
    {
      MutexLock lock(mu_);
      for (Admission& a : admitted) a.entry->gated.store(false);
    }
    gate_cv_.notify_all();
  }
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    const Admission& a = admitted[i];
    StatusOr<SubmitResult>& answer = batch->results[a.index];
    if (SUCCEEDED(outcome[i])) {
      answer = Accept(a, batch->brief);
    } else if (!journaled.ok()) {
      answer = Status(StatusCode::kUnavailable, "journal: " + journaled.message());
    } else {
      const std::string what = a.entry->delay        ? "delay: scheduling"
                               : a.entry->wait_event ? "wait_event: waiting"
                                                     : "queue_id: queueing";
      answer = StatusFromHResult(outcome[i], what);
    }
  }
}

void OperationTable::Unreserve(const EntryPtr& entry) {
  std::vector<std::function<void()>> settled;
  {
    MutexLock lock(mu_);
    MarkReadyLocked(*entry, false);
    operations_.erase(entry->view.number);
    if (!entry->view.request_id.empty()) {
      by_request_.Erase(RequestKey{entry->view.client, entry->view.request_id},
                        entry->view.number.value);
    }
    --outstanding_;
    ReleaseLimitsLocked(entry->view.client, entry->view.queue);
    if (entry->wait_event) LeaveWaitingLocked(*entry);
    if (std::exchange(entry->counted_pending, false)) --entry->counters->pending;
    entry->settled = true;
    settled.swap(entry->on_settled);
    completed_cv_.notify_all();
  }
  for (auto& fn : settled) fn();
}

SubmitResult OperationTable::Accept(const Admission& admission, bool brief) {
  const EntryPtr& entry = admission.entry;
  std::optional<std::string> cancelled;
  HRESULT cancel_status;
  std::vector<std::function<void()>> settled;
  {
    MutexLock lock(mu_);
    entry->accepted = entry->settled = true;
    cancelled = entry->cancel_message;
    cancel_status = entry->cancel_status;
    settled.swap(entry->on_settled);
  }
  // Cancelled while being accepted (an event deleted, the server going).
  if (cancelled) CancelInternal(entry->view.number, *cancelled, cancel_status);
  if (entry->deadline) SetDeadline(entry);
  SubmitResult result;
  {
    MutexLock lock(mu_);
    result = SubmitResult{ViewLocked(*entry, brief), false, entry->session};
  }
  // Retries that waited for it.
  for (auto& fn : settled) fn();
  return result;
}

Status OperationTable::CheckLimitsLocked(const std::string& client, DWORD queue) const {
  if (options_.max_inflight_per_client != 0) {
    auto it = inflight_.find(client);
    if (it != inflight_.end() && it->second >= options_.max_inflight_per_client) {
      return Status(StatusCode::kResourceExhausted,
                    "limit max_inflight_per_client: this client has " + std::to_string(it->second) +
                        " operations not completed yet, the most it may have");
    }
  }
  if (options_.max_queue_depth != 0) {
    auto it = depth_.find(queue);
    if (it != depth_.end() && it->second >= options_.max_queue_depth) {
      char id[16];
      std::snprintf(id, sizeof id, "0x%X", static_cast<unsigned>(queue));
      return Status(StatusCode::kResourceExhausted,
                    std::string("limit max_queue_depth: queue ") + id + " has " +
                        std::to_string(it->second) +
                        " operations not completed yet, the most it may have");
    }
  }
  return OkStatus();
}

void OperationTable::ReleaseLimitsLocked(const std::string& client, DWORD queue) {
  if (auto it = inflight_.find(client); it != inflight_.end() && --it->second == 0) {
    inflight_.erase(it);
  }
  if (auto it = depth_.find(queue); it != depth_.end() && --it->second == 0) depth_.erase(it);
}

}  // namespace mfwq::server
