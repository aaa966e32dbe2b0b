#include "operation_table.h"

#include <algorithm>
#include <cstdio>
#include <shared_mutex>
#include <utility>

namespace mfwq::server {

const char* OperationStateName(OperationState state) {
  switch (state) {
    case OperationState::kPending:
      return "pending";
    case OperationState::kScheduled:
      return "scheduled";
    case OperationState::kWaiting:
      return "waiting";
    case OperationState::kRunning:
      return "running";
    case OperationState::kCompleted:
      return "completed";
  }
  return "unknown";
}

std::string OperationId(std::uint64_t number) {
  // By hand: snprintf, once per operation, was about 1 % of the server's CPU under load.
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id = "op-0000000000000000";
  for (int i = 0; i < 16; ++i)
    id[static_cast<std::size_t>(3 + i)] = kDigits[(number >> (60 - 4 * i)) & 0xF];
  return id;
}

std::optional<std::uint64_t> OperationNumber(std::string_view id) {
  if (id.size() != 19 || id.substr(0, 3) != "op-") return std::nullopt;
  std::uint64_t number = 0;
  for (char c : id.substr(3)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    number = number << 4 | static_cast<std::uint64_t>(digit);
  }
  return number;
}

struct OperationTable::Entry {
  // What clients see of it. Constant after Submit but for `state` and
  // `completion`, which are guarded by the table's mu_.
  OperationView view;
  // Constant after Submit.
  std::optional<std::chrono::milliseconds> delay;
  std::shared_ptr<QueueCounters> counters;
  std::shared_ptr<EventHandleRef> wait_event;
  std::string wait_event_name;
  std::shared_ptr<EventHandleRef> signal_event;
  ComPtr<Operation> op;
  std::uint64_t session = 0;
  bool unary = false;  // CompletionRecord::unary; guarded by the table's mu_

  std::uint64_t number = 0;  // the one in its id; constant

  // Guarded by the table's mu_.
  MFWORKITEM_KEY key = 0;           // the scheduled or waiting MF item
  MFWORKITEM_KEY deadline_key = 0;  // the deadline's MF timer
  std::optional<Clock::time_point> start_time;
  bool accepted = false;   // dispatched to MF; before that, clients cannot see it
  bool claimed = false;    // its completion is being (or has been) delivered
  bool delivered = false;  // the listener has had its completion
  bool ready = false;      // put on its queue to run at once, not started: counted in ready_
  // Put on its queue while its acceptance is being journaled: it may not
  // start until that is done. Cleared with the table's mu_ held.
  std::atomic<bool> gated{false};
  std::optional<std::string> cancel_message;         // set once a cancel is asked for
  HRESULT cancel_status = MF_E_OPERATION_CANCELLED;  // with cancel_message
};

// Links operations (and deadline timers) back to the table, and unlinks on
// the table's destruction, after which late MF callbacks find nothing.
class OperationTable::Observer final : public OperationObserver {
 public:
  explicit Observer(OperationTable* table) : table_(table) {}

  // Waits for callbacks in progress; later ones find no table.
  void Detach() {
    std::unique_lock lock(mu_);
    table_ = nullptr;
  }

  // Runs the operation only if it is neither completed nor cancelled.
  bool OnStarting(Operation& op) override {
    std::shared_lock lock(mu_);
    return table_ != nullptr && table_->Start(op.spec().id);
  }
  void OnProgress(Operation& op, std::uint64_t done, std::uint64_t total,
                  const std::string& message) override {
    std::shared_lock lock(mu_);
    if (table_ != nullptr) table_->OnProgress(op, done, total, message);
  }
  void OnCompleted(Operation& op) override {
    std::shared_lock lock(mu_);
    if (table_ != nullptr) table_->Finish(op.spec().id, /*only_if_not_started=*/false);
  }
  void OnDeadline(const std::string& id) {
    std::shared_lock lock(mu_);
    if (table_ != nullptr) table_->CancelInternal(id, "deadline passed");
  }

 private:
  // Shared by callbacks (which may run at once on many queues), exclusive
  // for Detach.
  std::shared_mutex mu_;
  OperationTable* table_;
};

// The MF timer of an operation's deadline.
class OperationTable::DeadlineCallback final
    : public ComObject<DeadlineCallback, IMFAsyncCallback> {
 public:
  DeadlineCallback(std::shared_ptr<OperationTable::Observer> observer, std::string id)
      : observer_(std::move(observer)), id_(std::move(id)) {}
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD*, DWORD*) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult*) override {
    observer_->OnDeadline(id_);
    return S_OK;
  }

 private:
  friend class ComObject<DeadlineCallback, IMFAsyncCallback>;
  ~DeadlineCallback() = default;
  const std::shared_ptr<OperationTable::Observer> observer_;
  const std::string id_;
};

namespace {

// Completions dropped by retention before the journal is told to forget them.
constexpr std::uint64_t kPruneBatch = 1024;

// Completions delivered (journaled, numbered, published) together at most.
constexpr std::size_t kMaxDeliveryBatch = 1024;

// Group commit. A delivery is one journal transaction, whose cost hardly
// depends on how many completions it holds, and one message to each
// stream. While other operations wait on their queues to run at once, more
// completions are on their way: the delivery thread gathers them, up to
// kGather or for at most kLinger, rather than deliver a handful at a time.
// A lone operation is delivered at once by the thread that completed it.
constexpr std::size_t kGather = 256;
constexpr auto kLinger = std::chrono::microseconds(200);

// A worker that picks up an operation whose acceptance is still being
// journaled spins this long for it before it sleeps: about one small
// journal write, so a lone operation starts without a second wake-up.
constexpr auto kGateSpin = std::chrono::microseconds(50);
// Only a batch this small, and only while no other operation waits on a
// queue to run, is put on its queues before its journal write: a larger
// one's write outlasts a worker's wake-up many times over, and a busy
// server's workers are awake already; either way they would only spin.
constexpr std::size_t kGateMaxBatch = 8;

constexpr char kRestartMessage[] = "interrupted: the server stopped before the operation completed";

}  // namespace

OperationTable::OperationTable(const KindRegistry& kinds, QueueTable& queues, EventTable& events,
                               CompletionListener* listener, OperationTableOptions options)
    : kinds_(kinds),
      queues_(queues),
      events_(events),
      listener_(listener),
      options_(options),
      observer_(std::make_shared<Observer>(this)),
      deliverer_([this] { DeliveryThread(); }) {}

OperationTable::~OperationTable() {
  StopAccepting();
  CancelAll("server shutting down");
  observer_->Detach();
  {
    std::lock_guard lock(claimed_mu_);
    stopping_ = true;
  }
  deliverer_cv_.notify_one();
  deliverer_.join();
}

Status OperationTable::Restore() {
  if (options_.journal == nullptr) return OkStatus();
  auto contents = options_.journal->Load();
  if (!contents.ok()) return contents.status();
  std::lock_guard delivery(delivery_mu_);
  std::lock_guard lock(mu_);
  if (!operations_.empty()) {
    return Status(StatusCode::kFailedPrecondition, "journal: restored after operations came");
  }
  next_id_ = contents->last_operation_number + 1;
  next_sequence_ = contents->last_sequence + 1;
  completed_sequence_ = contents->last_sequence;
  std::uint64_t first_sequence = 0;
  for (JournaledOperation& journaled : contents->operations) {
    auto entry = std::make_shared<Entry>();
    entry->view = std::move(journaled.view);
    entry->accepted = true;
    entry->claimed = true;
    entry->delivered = true;
    if (!entry->view.completion) {
      // Accepted, never completed: the server went first.
      CompletionRecord record;
      record.sequence = next_sequence_++;
      record.operation_id = entry->view.id;
      record.request_id = entry->view.request_id;
      record.client = entry->view.client;
      record.queue = entry->view.queue;
      record.kind = entry->view.kind;
      record.status = MF_E_SHUTDOWN;
      record.message = kRestartMessage;
      record.state = std::move(journaled.state);
      record.submit_time = entry->view.submit_time;
      record.complete_time = Clock::now();
      CompletionPtr completion = std::make_shared<const CompletionRecord>(std::move(record));
      if (Status s = options_.journal->Completed({&completion, 1}); !s.ok()) return s;
      completed_sequence_ = completion->sequence;
      entry->view.completion = std::move(completion);
    }
    entry->view.state = OperationState::kCompleted;
    entry->view.progress.reset();
    const std::uint64_t sequence = entry->view.completion->sequence;
    if (first_sequence == 0 || sequence < first_sequence) first_sequence = sequence;
    auto number = OperationNumber(entry->view.id);
    if (!number) {
      return Status(StatusCode::kDataLoss,
                    "journal: \"" + entry->view.id + "\" is not an operation id");
    }
    entry->number = *number;
    if (!entry->view.request_id.empty()) {
      // The latest with the id has it; the key views this entry's strings.
      const RequestKey key{entry->view.client, entry->view.request_id};
      by_request_.Erase(key);
      by_request_.Insert(key, entry->number);
    }
    by_sequence_.emplace(sequence, entry);
    operations_.emplace(entry->number, std::move(entry));
  }
  // What the journal pruned before is not retained either.
  dropped_through_ = first_sequence == 0 ? contents->last_sequence : first_sequence - 1;
  pruned_through_ = dropped_through_;
  if (listener_ != nullptr) {
    for (const auto& [sequence, entry] : by_sequence_) {
      if (sequence > contents->last_sequence) {
        listener_->OnCompletions({&entry->view.completion, 1});
      }
    }
  }
  std::vector<std::shared_ptr<Entry>> dropped;
  EnforceRetentionLocked(Clock::now(), dropped);
  return OkStatus();
}

// A request of a batch, admitted to the table and waiting for the batch's
// journal write.
struct OperationTable::Admission {
  std::size_t index = 0;  // in the batch
  std::shared_ptr<Entry> entry;
  std::uint64_t number = 0;
  std::optional<Clock::time_point> deadline;
};

StatusOr<SubmitResult> OperationTable::Submit(SubmitSpec spec) {
  std::vector<SubmitSpec> one;
  one.push_back(std::move(spec));
  return std::move(SubmitBatch(std::move(one)).front());
}

std::vector<StatusOr<SubmitResult>> OperationTable::SubmitBatch(std::vector<SubmitSpec> specs,
                                                                bool brief) {
  std::vector<StatusOr<SubmitResult>> results(specs.size(),
                                              Status(StatusCode::kInternal, "not submitted"));
  std::vector<Admission> admitted;
  admitted.reserve(specs.size());
  NumberBlock numbers;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    for (;;) {
      Admission admission;
      const Admitted outcome = Admit(specs[i], numbers, specs.size() - i, &results[i], &admission);
      if (outcome == Admitted::kReserved) {
        admission.index = i;
        admitted.push_back(std::move(admission));
      }
      if (outcome != Admitted::kBusy) break;
      // Another attempt with this request id (perhaps earlier in this very
      // batch) is being accepted. Accept what this batch holds first, so
      // that no two batches wait for each other, then wait for its outcome.
      AcceptAdmitted(admitted, brief, results);
      admitted.clear();
      std::unique_lock lock(mu_);
      completed_cv_.wait(lock, [&] {
        const std::uint64_t* seen =
            by_request_.Find(RequestKey{specs[i].client, specs[i].request_id});
        return seen == nullptr || operations_.at(*seen)->accepted;
      });
    }
  }
  AcceptAdmitted(admitted, brief, results);
  return results;
}

OperationTable::Admitted OperationTable::RetriedLocked(std::unique_lock<std::mutex>& lock,
                                                       std::uint64_t first_number,
                                                       const SubmitSpec& spec,
                                                       StatusOr<SubmitResult>* answer) {
  const std::shared_ptr<Entry> first = operations_.at(first_number);
  if (!first->accepted) return Admitted::kBusy;
  if (spec.session == 0 && !first->unary) {
    first->unary = true;
    // Its completion may have been made before this asked (without
    // `unary`) and be on its way: answer with it.
    completed_cv_.wait(lock, [&] { return !first->claimed || first->delivered; });
  }
  // Whole even for a brief answer: the first attempt may differ from this
  // one (another queue or kind), and the submitter has only this one.
  *answer = SubmitResult{ViewLocked(*first), true};
  return Admitted::kAnswered;
}

OperationTable::Admitted OperationTable::Admit(SubmitSpec& spec, NumberBlock& numbers,
                                               std::size_t left, StatusOr<SubmitResult>* answer,
                                               Admission* admission) {
  if (spec.request_id.size() > 128) {
    *answer = InvalidArgument("request_id: longer than 128 bytes");
    return Admitted::kAnswered;
  }
  // A retry gets the first attempt's operation, whatever has changed since
  // (deadline passed, event deleted): refused only if it is no retry.
  const auto refuse = [&](Status status) {
    if (!spec.request_id.empty()) {
      std::unique_lock lock(mu_);
      const std::uint64_t* seen = by_request_.Find(RequestKey{spec.client, spec.request_id});
      if (seen != nullptr) return RetriedLocked(lock, *seen, spec, answer);
    }
    *answer = std::move(status);
    return Admitted::kAnswered;
  };
  std::shared_ptr<const OperationKind> kind = kinds_.Find(spec.kind);
  if (!kind) return refuse(InvalidArgument("kind: no kind \"" + spec.kind + "\" (see ListKinds)"));
  if (Status s = ValidateParameters(kind->info(), &spec.parameters); !s.ok()) return refuse(s);
  if (Status s = kind->Check(spec.parameters); !s.ok()) return refuse(s);
  if (spec.state.size() > 64 * 1024) return refuse(InvalidArgument("state: larger than 64 KiB"));
  if (spec.delay && !spec.wait_event.empty()) {
    return refuse(InvalidArgument("delay, wait_event: give at most one"));
  }
  if (spec.delay && *spec.delay < std::chrono::milliseconds::zero()) {
    return refuse(InvalidArgument("delay: negative"));
  }
  const Clock::time_point now = Clock::now();
  if (spec.deadline && *spec.deadline <= now) {
    return refuse(InvalidArgument("deadline: already passed"));
  }
  auto counters = queues_.Counters(spec.queue);
  if (!counters.ok()) return refuse(counters.status());

  auto entry = std::make_shared<Entry>();
  if (!spec.wait_event.empty()) {
    auto handle = events_.Handle(spec.client, spec.wait_event);
    if (!handle.ok()) return refuse(InvalidArgument("wait_event: " + handle.status().message()));
    entry->wait_event = handle.value();
    entry->wait_event_name = spec.wait_event;
  }
  if (!spec.signal_event.empty()) {
    auto handle = events_.Handle(spec.client, spec.signal_event);
    if (!handle.ok()) return refuse(InvalidArgument("signal_event: " + handle.status().message()));
    entry->signal_event = handle.value();
  }

  // Set before the index may view them.
  entry->view.request_id = spec.request_id;
  entry->view.client = spec.client;

  std::unique_lock lock(mu_);
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
    if (!fresh) return RetriedLocked(lock, *number, spec, answer);
    slot = number;
    provisional.key = key;
    provisional.index = &by_request_;
  }
  const auto refuse_locked = [&](Status status) {
    *answer = std::move(status);
    return Admitted::kAnswered;
  };
  // Checked under the lock that inserts: CancelAll must see every
  // operation accepted before StopAccepting.
  if (!accepting_) {
    return refuse_locked(Status(StatusCode::kUnavailable, "the server is shutting down"));
  }
  if (Status s = CheckLimitsLocked(spec.client, spec.queue); !s.ok()) return refuse_locked(s);
  if (numbers.next == numbers.end) {
    numbers.next = next_id_;
    next_id_ += left;
    numbers.end = next_id_;
  }
  admission->number = entry->number = numbers.next++;
  admission->deadline = spec.deadline;
  entry->view.id = OperationId(entry->number);
  entry->view.queue = spec.queue;
  entry->view.kind = spec.kind;
  entry->view.parameters = spec.parameters;
  entry->view.priority = spec.priority;
  entry->view.submit_time = now;
  entry->delay = spec.delay;
  entry->session = spec.session;
  entry->unary = spec.session == 0;
  entry->counters = std::move(counters.value());
  entry->view.state = spec.delay          ? OperationState::kScheduled
                      : entry->wait_event ? OperationState::kWaiting
                                          : OperationState::kPending;
  auto callback = KindCallback::Create(kind, spec.queue);
  entry->op = Operation::Create({entry->view.id, spec.kind, spec.queue, spec.priority,
                                 std::move(spec.parameters), std::move(spec.state)},
                                callback.get(), observer_);
  // In the table from now on (MF may run it the moment it is dispatched),
  // but not visible to clients until accepted.
  operations_.emplace(entry->number, entry);
  if (slot != nullptr) *slot = entry->number;
  provisional.index = nullptr;  // in the table: its key stays
  ++outstanding_;
  ++inflight_[entry->view.client];
  ++depth_[entry->view.queue];
  if (entry->wait_event) ++waiting_[{entry->view.client, entry->wait_event_name}];
  ++entry->counters->pending;
  admission->entry = std::move(entry);
  return Admitted::kReserved;
}

void OperationTable::AcceptAdmitted(std::vector<Admission>& admitted, bool brief,
                                    std::vector<StatusOr<SubmitResult>>& results) {
  if (admitted.empty()) return;
  const auto runs_at_once = [](const Admission& a) {
    return !a.entry->delay && !a.entry->wait_event;
  };
  // Those to run at once go on their queues first, gated: a worker wakes
  // while the journal writes, and starts them once they are durable (Start
  // waits for the gate). Nothing runs before it is journaled.
  std::vector<HRESULT> early(admitted.size(), S_FALSE);  // S_FALSE: not dispatched yet
  const bool gate =
      options_.journal != nullptr && admitted.size() <= kGateMaxBatch && ready_.load() == 0;
  if (gate) {
    {
      std::lock_guard lock(mu_);
      for (Admission& a : admitted) {
        if (!runs_at_once(a)) continue;
        a.entry->gated.store(true);
        MarkReadyLocked(*a.entry, true);
      }
    }
    for (std::size_t i = 0; i < admitted.size(); ++i) {
      if (runs_at_once(admitted[i])) early[i] = Dispatch(admitted[i].entry);
    }
  }
  // Durable before any can run, in one write: a restart then completes
  // those that did not. Those MF refused are not written.
  Status journaled = OkStatus();
  if (options_.journal != nullptr) {
    std::vector<AcceptedRecord> records;
    records.reserve(admitted.size());
    for (std::size_t i = 0; i < admitted.size(); ++i) {
      if (FAILED(early[i])) continue;
      const Admission& a = admitted[i];
      records.push_back({a.number, &a.entry->view, &a.entry->op->spec().state});
    }
    if (!records.empty()) journaled = options_.journal->Accepted(records);
  }
  if (!gate) {
    // Counted before they are put on their queues, where they may start at once.
    std::lock_guard lock(mu_);
    for (Admission& a : admitted) {
      if (runs_at_once(a)) MarkReadyLocked(*a.entry, true);
    }
  }
  std::vector<HRESULT> outcome(admitted.size());
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    const std::shared_ptr<Entry>& entry = admitted[i].entry;
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
      (void)options_.journal->Withdrawn(entry->view.id);
    }
    {
      std::lock_guard lock(mu_);
      MarkReadyLocked(*entry, false);
      operations_.erase(entry->number);
      if (!entry->view.request_id.empty())
        by_request_.Erase(RequestKey{entry->view.client, entry->view.request_id});
      --outstanding_;
      ReleaseLimitsLocked(entry->view.client, entry->view.queue);
      if (entry->wait_event) LeaveWaitingLocked(*entry);
      --entry->counters->pending;
      completed_cv_.notify_all();
    }
  }
  if (gate) {
    {
      std::lock_guard lock(mu_);
      for (Admission& a : admitted) a.entry->gated.store(false);
    }
    gate_cv_.notify_all();
  }
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    const Admission& a = admitted[i];
    if (SUCCEEDED(outcome[i])) {
      results[a.index] = Accept(a, brief);
      continue;
    }
    if (!journaled.ok()) {
      results[a.index] = Status(StatusCode::kUnavailable, "journal: " + journaled.message());
      continue;
    }
    const std::string what = a.entry->delay        ? "delay: scheduling"
                             : a.entry->wait_event ? "wait_event: waiting"
                                                   : "queue_id: queueing";
    results[a.index] = StatusFromHResult(outcome[i], what);
  }
}

SubmitResult OperationTable::Accept(const Admission& admission, bool brief) {
  const std::shared_ptr<Entry>& entry = admission.entry;
  std::optional<std::string> cancelled;
  HRESULT cancel_status;
  {
    std::lock_guard lock(mu_);
    entry->accepted = true;
    cancelled = entry->cancel_message;
    cancel_status = entry->cancel_status;
    completed_cv_.notify_all();  // a retry waiting for the outcome
  }
  // Cancelled while being accepted (an event deleted, the server going).
  if (cancelled) CancelInternal(entry->view.id, *cancelled, cancel_status);
  if (admission.deadline) SetDeadline(entry, *admission.deadline - Clock::now());
  std::lock_guard lock(mu_);
  return SubmitResult{ViewLocked(*entry, brief), false};
}

void OperationTable::SetDeadline(const std::shared_ptr<Entry>& entry, Clock::duration left) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
  auto timer = ComPtr<DeadlineCallback>::Adopt(new DeadlineCallback(observer_, entry->view.id));
  MFWORKITEM_KEY key = 0;
  if (FAILED(MFScheduleWorkItem(timer.get(), nullptr, -std::max<INT64>(1, ms), &key))) {
    // Only when MF is shutting down: an operation must not outlive its deadline.
    CancelInternal(entry->view.id, "deadline: could not be scheduled");
    return;
  }
  bool done;
  {
    std::lock_guard lock(mu_);
    done = entry->claimed;
    if (!done) entry->deadline_key = key;
  }
  if (done) MFCancelWorkItem(key);  // completed already: the timer would hold on for nothing
}

HRESULT OperationTable::Dispatch(const std::shared_ptr<Entry>& entry) {
  MFWORKITEM_KEY key = 0;
  HRESULT hr;
  if (entry->delay) {
    hr = MFScheduleWorkItemEx(entry->op.get(), -static_cast<INT64>(entry->delay->count()), &key);
  } else if (entry->wait_event) {
    hr =
        MFPutWaitingWorkItem(entry->wait_event->get(), entry->view.priority, entry->op.get(), &key);
  } else {
    return MFPutWorkItemEx2(entry->view.queue, entry->view.priority, entry->op.get());
  }
  if (SUCCEEDED(hr)) {
    bool drop;
    {
      std::lock_guard lock(mu_);
      drop = entry->claimed || entry->cancel_message.has_value();
      if (!drop) entry->key = key;
    }
    // Completed or cancelled before its key was known here: take the item
    // back from MF, or it would wait (and take an event's signal) for nothing.
    if (drop) MFCancelWorkItem(key);
  }
  return hr;
}

void OperationTable::AwaitGate(const Entry& entry) {
  const Clock::time_point spin_until = Clock::now() + kGateSpin;
  while (entry.gated.load() && Clock::now() < spin_until) std::this_thread::yield();
  if (!entry.gated.load()) return;
  std::unique_lock lock(mu_);
  gate_cv_.wait(lock, [&entry] { return !entry.gated.load(); });
}

bool OperationTable::Start(const std::string& id) {
  {
    std::unique_lock lock(mu_);
    auto it = FindLocked(id);
    if (it == operations_.end()) return false;
    if (it->second->gated.load()) {
      // Its acceptance is still being journaled: it starts once that is
      // done, if it is still in the table (not refused meanwhile).
      const std::shared_ptr<Entry> gated = it->second;
      lock.unlock();
      AwaitGate(*gated);
      lock.lock();
      it = FindLocked(id);
      if (it == operations_.end()) return false;
    }
    if (it->second->claimed || it->second->cancel_message) return false;
    Entry& entry = *it->second;
    MarkReadyLocked(entry, false);
    if (entry.view.state == OperationState::kWaiting) LeaveWaitingLocked(entry);
    entry.view.state = OperationState::kRunning;
    entry.key = 0;  // fired: nothing left to cancel in MF
    entry.start_time = Clock::now();
    --entry.counters->pending;
    ++entry.counters->running;
  }
  if (listener_ != nullptr) listener_->OnStarted(id);
  return true;
}

void OperationTable::Finish(const std::string& id, bool only_if_not_started) {
  std::shared_ptr<Entry> entry;
  MFWORKITEM_KEY deadline_key = 0;
  {
    std::lock_guard lock(mu_);
    auto it = FindLocked(id);
    if (it == operations_.end() || it->second->claimed) return;
    // A running kind delivers its own outcome when it returns.
    if (only_if_not_started && it->second->start_time) return;
    entry = it->second;
    entry->claimed = true;
    MarkReadyLocked(*entry, false);  // claimed before its turn came: not on its way
    deadline_key = std::exchange(entry->deadline_key, 0);
  }
  if (deadline_key != 0) MFCancelWorkItem(deadline_key);
  Deliver(std::move(entry));
}

void OperationTable::Deliver(std::shared_ptr<Entry> entry) {
  {
    std::lock_guard lock(claimed_mu_);
    claimed_.push_back(std::move(entry));
    if (delivering_) {
      // The thread delivering takes it along; it may be waiting for it.
      if (gathering_ && GatheredLocked()) deliverer_cv_.notify_one();
      return;
    }
    delivering_ = true;
    if (ready_.load() != 0) {
      // More are on their way: the delivery thread gathers them, and this
      // one goes back to its queue.
      wake_deliverer_ = true;
      deliverer_cv_.notify_one();
      return;
    }
  }
  DeliverClaimed(false);
}

bool OperationTable::GatheredLocked() const {
  return claimed_.size() >= kGather || ready_.load() == 0;
}

void OperationTable::DeliverClaimed(bool gather) {
  // Until no claimed completion is left: those claimed meanwhile (by other
  // threads) share a journal write.
  std::vector<std::shared_ptr<Entry>> batch;
  for (;;) {
    {
      std::unique_lock lock(claimed_mu_);
      if (gather && !GatheredLocked()) {
        gathering_ = true;
        deliverer_cv_.wait_for(lock, kLinger, [this] { return GatheredLocked(); });
        gathering_ = false;
      }
      if (claimed_.empty()) {
        delivering_ = false;
        return;
      }
      const std::size_t n = std::min(claimed_.size(), kMaxDeliveryBatch);
      batch.assign(std::make_move_iterator(claimed_.begin()),
                   std::make_move_iterator(claimed_.begin() + static_cast<std::ptrdiff_t>(n)));
      claimed_.erase(claimed_.begin(), claimed_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    DeliverBatch(batch);
    batch.clear();
  }
}

void OperationTable::DeliveryThread() {
  std::unique_lock lock(claimed_mu_);
  for (;;) {
    deliverer_cv_.wait(lock, [this] { return wake_deliverer_ || stopping_; });
    if (!wake_deliverer_) return;
    wake_deliverer_ = false;
    lock.unlock();
    DeliverClaimed(true);
    lock.lock();
  }
}

CompletionRecord OperationTable::RecordLocked(const Entry& entry) const {
  const Operation& op = *entry.op;
  CompletionRecord record;
  record.operation_id = entry.view.id;
  record.request_id = entry.view.request_id;
  record.client = entry.view.client;
  record.queue = entry.view.queue;
  record.kind = entry.view.kind;
  record.state = op.spec().state;
  record.submit_time = entry.view.submit_time;
  record.session = entry.session;
  record.unary = entry.unary;
  record.start_time = entry.start_time;
  if (entry.start_time) {
    // The kind ran and returned: what the work queue's MFASYNCRESULT holds.
    record.status = op.hrStatusResult;
    record.bytes_transferred =
        op.dwBytesTransferred == 0xFFFFFFFFu ? op.bytes_transferred() : op.dwBytesTransferred;
    record.message = op.message();
    record.result = op.result();
    if (record.status == MF_E_OPERATION_CANCELLED && entry.cancel_message) {
      // It stopped because it was asked to: say who asked (a client, its
      // deadline, the server going: then MF_E_SHUTDOWN).
      record.status = entry.cancel_status;
      record.message = *entry.cancel_message;
    }
  } else {
    // It never ran (cancelled, or past its deadline, before its turn). The
    // Operation itself is not read: a queue may still be handing it over.
    record.status = entry.cancel_status;
    record.message = entry.cancel_message.value_or("cancelled");
  }
  return record;
}

void OperationTable::DeliverBatch(const std::vector<std::shared_ptr<Entry>>& batch) {
  std::vector<CompletionRecord> built;
  built.reserve(batch.size());
  {
    std::lock_guard lock(mu_);
    for (const auto& entry : batch) built.push_back(RecordLocked(*entry));
  }
  // Dropped by retention: freed at the end, with no lock held.
  std::vector<std::shared_ptr<Entry>> dropped_entries;
  std::lock_guard delivery(delivery_mu_);
  const Clock::time_point now = Clock::now();
  std::vector<CompletionPtr> records;
  records.reserve(built.size());
  for (CompletionRecord& record : built) {
    record.sequence = next_sequence_++;
    record.complete_time = now;
    records.push_back(std::make_shared<const CompletionRecord>(std::move(record)));
  }
  // Durable before anyone hears of them, in one write.
  if (options_.journal != nullptr) {
    if (Status s = options_.journal->Completed(records); !s.ok() && listener_ != nullptr) {
      listener_->OnJournalError(s);
    }
  }
  std::uint64_t dropped;
  {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Entry& entry = *batch[i];
      const CompletionRecord& record = *records[i];
      if (entry.view.state == OperationState::kWaiting) LeaveWaitingLocked(entry);
      entry.view.state = OperationState::kCompleted;
      entry.view.progress.reset();
      entry.key = 0;
      entry.view.completion = records[i];
      // Its work is done: what ran it (and its copy of the request) goes.
      entry.op.Reset();
      by_sequence_.emplace(record.sequence, batch[i]);
      ReleaseLimitsLocked(entry.view.client, entry.view.queue);
      QueueCounters& c = *entry.counters;
      --(record.start_time ? c.running : c.pending);
      if (record.status == MF_E_OPERATION_CANCELLED || record.status == MF_E_SHUTDOWN) {
        ++c.cancelled;
      } else if (FAILED(record.status)) {
        ++c.failed;
      } else {
        ++c.completed;
      }
    }
    completed_sequence_ = records.back()->sequence;
    dropped = EnforceRetentionLocked(now, dropped_entries);
  }
  // The journal forgets in batches: one delete per completion would double its writes.
  if (dropped >= pruned_through_ + kPruneBatch) PruneJournalLocked(dropped);
  if (listener_ != nullptr) listener_->OnCompletions(records);
  // The remote hEvent: set once the completion is out.
  for (const auto& entry : batch) {
    if (entry->signal_event) SetEvent(entry->signal_event->get());
  }
  // Only now are they done: Wait returns, and the table may go (its
  // destructor waits for outstanding_ to reach zero).
  std::lock_guard lock(mu_);
  for (const auto& entry : batch) entry->delivered = true;
  outstanding_ -= batch.size();
  completed_cv_.notify_all();
}

void OperationTable::MarkReadyLocked(Entry& entry, bool ready) {
  if (entry.ready == ready) return;
  entry.ready = ready;
  if (ready) {
    ready_.fetch_add(1);
  } else if (ready_.fetch_sub(1) == 1) {
    // None left to wait for.
    std::lock_guard lock(claimed_mu_);
    if (gathering_) deliverer_cv_.notify_one();
  }
}

void OperationTable::LeaveWaitingLocked(const Entry& entry) {
  auto it = waiting_.find({entry.view.client, entry.wait_event_name});
  if (it != waiting_.end() && --it->second == 0) waiting_.erase(it);
}

std::uint32_t OperationTable::WaitingOn(const std::string& client, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = waiting_.find({client, name});
  return it == waiting_.end() ? 0 : it->second;
}

std::uint32_t OperationTable::CancelWaitingOn(const std::string& client, const std::string& name) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    if (waiting_.count({client, name}) == 0) return 0;
    for (const auto& [number, entry] : operations_) {
      if (!entry->claimed && entry->view.state == OperationState::kWaiting &&
          entry->view.client == client && entry->wait_event_name == name) {
        ids.push_back(entry->view.id);
      }
    }
  }
  std::uint32_t cancelled = 0;
  for (const std::string& id : ids) {
    if (CancelInternal(id, "cancelled: the event it waited on was deleted")) ++cancelled;
  }
  return cancelled;
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

std::uint64_t OperationTable::EnforceRetentionLocked(
    Clock::time_point now, std::vector<std::shared_ptr<Entry>>& dropped_entries) {
  std::uint64_t dropped = 0;
  while (!by_sequence_.empty()) {
    const auto oldest = by_sequence_.begin();
    const Entry& entry = *oldest->second;
    if (by_sequence_.size() <= options_.retain_count &&
        now - entry.view.completion->complete_time <= options_.retain_age) {
      break;
    }
    if (!entry.view.request_id.empty()) {
      // (A later operation may have taken the request id since this one was dropped.)
      by_request_.Erase(RequestKey{entry.view.client, entry.view.request_id}, entry.number);
    }
    operations_.erase(entry.number);
    dropped = oldest->first;
    dropped_entries.push_back(std::move(oldest->second));
    by_sequence_.erase(oldest);
  }
  if (dropped != 0) dropped_through_ = dropped;
  return dropped;
}

void OperationTable::PruneJournalLocked(std::uint64_t sequence) {
  if (options_.journal == nullptr || sequence <= pruned_through_) return;
  if (Status s = options_.journal->Prune(sequence); !s.ok()) {
    if (listener_ != nullptr) listener_->OnJournalError(s);
    return;
  }
  pruned_through_ = sequence;
}

void OperationTable::Maintain() {
  std::vector<std::shared_ptr<Entry>> dropped_entries;  // freed last, unlocked
  std::lock_guard delivery(delivery_mu_);
  std::uint64_t dropped;
  {
    std::lock_guard lock(mu_);
    EnforceRetentionLocked(Clock::now(), dropped_entries);
    dropped = dropped_through_;
  }
  PruneJournalLocked(dropped);
}

void OperationTable::OnProgress(const Operation& op, std::uint64_t done, std::uint64_t total,
                                const std::string& message) {
  ProgressRecord progress;
  std::uint64_t last_sequence;
  {
    std::lock_guard lock(mu_);
    auto it = FindLocked(op.spec().id);
    if (it == operations_.end() || it->second->claimed) return;
    Entry& entry = *it->second;
    progress.operation_id = entry.view.id;
    progress.client = entry.view.client;
    progress.queue = entry.view.queue;
    progress.done = done;
    progress.total = total;
    progress.message = message;
    progress.session = entry.session;
    progress.unary = entry.unary;
    entry.view.progress = progress;
    last_sequence = completed_sequence_;
  }
  if (listener_ != nullptr) listener_->OnProgress(progress, last_sequence);
}

StatusOr<CancelResult> OperationTable::Cancel(const std::string& client, const std::string& id) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mu_);
    auto found = FindLocked(client, id);
    if (!found.ok()) return found.status();
    entry = found.value();
  }
  const bool cancelled = CancelInternal(id, "cancelled by client");
  std::unique_lock lock(mu_);
  // Its completion is claimed (perhaps on another thread, sharing a batch):
  // answer with it.
  completed_cv_.wait(lock, [&] { return !entry->claimed || entry->delivered; });
  return CancelResult{cancelled, ViewLocked(*entry)};
}

bool OperationTable::CancelInternal(const std::string& id, const std::string& message,
                                    HRESULT status) {
  std::shared_ptr<Entry> entry;
  ComPtr<Operation> op;  // (the entry lets go of it once completed)
  OperationState state;
  MFWORKITEM_KEY key;
  {
    std::lock_guard lock(mu_);
    auto it = FindLocked(id);
    if (it == operations_.end() || it->second->claimed) return false;
    entry = it->second;
    if (!entry->cancel_message) {  // from now on it will not start
      entry->cancel_message = message;
      entry->cancel_status = status;
    }
    // Submit has not finished accepting it (journal, MF): Submit completes
    // the cancellation once it has.
    if (!entry->accepted) return true;
    state = entry->view.state;
    key = entry->key;
    op = entry->op;
  }
  // A running kind that can stop, stops (and reports MF_E_OPERATION_CANCELLED).
  op->RequestCancel();
  if (state == OperationState::kRunning) {
    // One that cannot runs its course: its own outcome stands.
    std::shared_ptr<const OperationKind> kind = kinds_.Find(entry->view.kind);
    return kind != nullptr && kind->info().cancellable_while_running;
  }
  if (key != 0 && state == OperationState::kWaiting && MFCancelWorkItem(key) == S_OK) {
    // MF invokes a cancelled waiting item (with MF_E_OPERATION_CANCELLED):
    // it completes through the usual path, without running.
    return true;
  }
  // A cancelled scheduled item is dropped without a call; a queued one will
  // not run when its turn comes. Either way, complete it now.
  if (key != 0 && state == OperationState::kScheduled) MFCancelWorkItem(key);
  Finish(id, /*only_if_not_started=*/true);
  return true;
}

OperationTable::Operations::const_iterator OperationTable::FindLocked(const std::string& id) const {
  auto number = OperationNumber(id);
  return number ? operations_.find(*number) : operations_.end();
}

StatusOr<std::shared_ptr<OperationTable::Entry>> OperationTable::FindLocked(
    const std::string& client, const std::string& id) const {
  auto it = FindLocked(id);
  if (it == operations_.end() || it->second->view.client != client || !it->second->accepted) {
    return NotFound("operation_id: no operation \"" + id + "\"");
  }
  return it->second;
}

OperationView OperationTable::ViewLocked(const Entry& entry, bool brief) const {
  if (!brief) return entry.view;
  OperationView view;
  view.id = entry.view.id;
  view.state = entry.view.state;
  view.completion = entry.view.completion;
  return view;
}

StatusOr<OperationView> OperationTable::Get(const std::string& client,
                                            const std::string& id) const {
  std::lock_guard lock(mu_);
  auto found = FindLocked(client, id);
  if (!found.ok()) return found.status();
  return ViewLocked(*found.value());
}

StatusOr<OperationView> OperationTable::Wait(const std::string& client, const std::string& id,
                                             std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  auto found = FindLocked(client, id);
  if (!found.ok()) return found.status();
  std::shared_ptr<Entry> entry = found.value();
  // Until the listener has it too: a waiter may count on that.
  completed_cv_.wait_for(lock, timeout, [&] { return entry->delivered; });
  return ViewLocked(*entry);
}

StatusOr<OperationPage> OperationTable::List(const std::string& client,
                                             const OperationFilter& filter, int page_size,
                                             const std::string& page_token) const {
  if (page_size < 0 || page_size > 1000) return InvalidArgument("page_size: must be 0 to 1000");
  if (page_size == 0) page_size = 100;
  // The token is the id of the previous page's last operation; ids sort in
  // submission order.
  OperationPage page;
  std::lock_guard lock(mu_);
  auto after = OperationNumber(page_token);
  if (!page_token.empty() && !after) return InvalidArgument("page_token: not one this server gave");
  for (auto it = after ? operations_.upper_bound(*after) : operations_.begin();
       it != operations_.end(); ++it) {
    const Entry& entry = *it->second;
    const OperationView& v = entry.view;
    if (!entry.accepted || v.client != client) continue;
    if (filter.queue && v.queue != *filter.queue) continue;
    if (!filter.kind.empty() && v.kind != filter.kind) continue;
    if (!filter.states.empty() &&
        std::find(filter.states.begin(), filter.states.end(), v.state) == filter.states.end()) {
      continue;
    }
    if (static_cast<int>(page.operations.size()) == page_size) {
      page.next_page_token = page.operations.back().id;
      break;
    }
    page.operations.push_back(v);
  }
  return page;
}

std::uint64_t OperationTable::last_sequence() const {
  std::lock_guard lock(mu_);
  return completed_sequence_;
}

StatusOr<CompletionBatch> OperationTable::ReadCompletions(std::uint64_t after,
                                                          std::size_t max) const {
  std::lock_guard lock(mu_);
  if (after != 0 && after < dropped_through_) {
    return Status(StatusCode::kOutOfRange, "after_sequence: " + std::to_string(after) +
                                               " is no longer retained; the oldest retained is " +
                                               std::to_string(dropped_through_ + 1));
  }
  CompletionBatch batch;
  batch.last_sequence = completed_sequence_;
  for (auto it = by_sequence_.upper_bound(after);
       it != by_sequence_.end() && batch.completions.size() < max; ++it) {
    batch.completions.push_back(it->second->view.completion);
  }
  return batch;
}

void OperationTable::StopAccepting() {
  std::lock_guard lock(mu_);
  accepting_ = false;
}

bool OperationTable::Drain(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return completed_cv_.wait_until(lock, deadline, [this] { return outstanding_ == 0; });
}

void OperationTable::CancelAll(const std::string& reason) {
  std::vector<std::string> open;
  {
    std::lock_guard lock(mu_);
    for (const auto& [number, entry] : operations_) {
      if (!entry->claimed) open.push_back(entry->view.id);
    }
  }
  for (const std::string& id : open) CancelInternal(id, reason, MF_E_SHUTDOWN);
  std::unique_lock lock(mu_);
  completed_cv_.wait(lock, [this] { return outstanding_ == 0; });
}

std::size_t OperationTable::outstanding() const {
  std::lock_guard lock(mu_);
  return outstanding_;
}

std::size_t OperationTable::ready() const { return ready_.load(); }

}  // namespace mfwq::server
