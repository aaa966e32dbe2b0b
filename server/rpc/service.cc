#include "service.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_set>

#include <google/protobuf/arena.h>
#include <google/protobuf/util/time_util.h>

#include "convert.h"
#include "log.h"

namespace mfwq::server::rpc {

using google::protobuf::util::TimeUtil;

namespace {

// Lets a stream reactor be woken from other threads (the hub) and still be
// deleted safely: wakes enter while it is alive; OnDone kills it, waiting
// for wakes in progress.
class Liveness {
 public:
  bool Enter() {
    std::lock_guard lock(mu_);
    if (dead_) return false;
    ++inside_;
    return true;
  }
  void Leave() {
    std::lock_guard lock(mu_);
    if (--inside_ == 0) cv_.notify_all();
  }
  void Kill() {
    std::unique_lock lock(mu_);
    dead_ = true;
    cv_.wait(lock, [this] { return inside_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  bool dead_ = false;
};

// A function run on an MF timer (MFScheduleWorkItem) unless cancelled first.
class TimerCallback final : public ComObject<TimerCallback, IMFAsyncCallback> {
 public:
  explicit TimerCallback(std::function<void()> fn) : fn_(std::move(fn)) {}
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD*, DWORD*) override { return E_NOTIMPL; }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult*) override {
    fn_();
    return S_OK;
  }

 private:
  friend class ComObject<TimerCallback, IMFAsyncCallback>;
  ~TimerCallback() = default;
  const std::function<void()> fn_;
};

bool ValidClientName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Status CheckPageSize(int page_size) {
  if (page_size < 0 || page_size > 1000) return InvalidArgument("page_size: must be 0 to 1000");
  return OkStatus();
}

}  // namespace

WorkQueuesService::WorkQueuesService(ServiceCore core, ServiceOptions options)
    : core_(core), options_(options) {}

StatusOr<std::string> WorkQueuesService::ClientOf(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kClientMetadata);
  if (it == metadata.end()) return std::string(kAnonymous);
  std::string name(it->second.data(), it->second.size());
  if (!ValidClientName(name)) {
    return InvalidArgument(
        "metadata mfwq-client: 1 to 128 bytes of letters, digits, '.', '-', '_'");
  }
  return name;
}

// A call's answer: the core's result converted into `out`, or its error.
template <typename T, typename Out>
Status Reply(StatusOr<T> result, Out* out) {
  if (!result.ok()) return result.status();
  ToProto(result.value(), out);
  return OkStatus();
}

template <typename Body>
WorkQueuesService::Unary* WorkQueuesService::RunAsync(Ctx* context, Body&& body) {
  Unary* reactor = context->DefaultReactor();
  auto client = ClientOf(context);
  if (!client.ok()) {
    reactor->Finish(ToGrpcStatus(client.status()));
    return reactor;
  }
  core_.clients.Touch(client.value());
  body(client.value(), Finisher([reactor](const Status& s) { reactor->Finish(ToGrpcStatus(s)); }));
  return reactor;
}

template <typename Body>
WorkQueuesService::Unary* WorkQueuesService::Run(Ctx* context, Body&& body) {
  Unary* reactor = context->DefaultReactor();
  auto client = ClientOf(context);
  if (!client.ok()) {
    reactor->Finish(ToGrpcStatus(client.status()));
    return reactor;
  }
  core_.clients.Touch(client.value());
  reactor->Finish(ToGrpcStatus(body(client.value())));
  return reactor;
}

// --- Queues -----------------------------------------------------------------

WorkQueuesService::Unary* WorkQueuesService::CreateQueue(Ctx* ctx, const v1::CreateQueueRequest* r,
                                                         v1::Queue* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto type = FromProto(r->type());
    if (!type.ok()) return type.status();
    if (type.value() != QueueType::kSerial && r->target_queue_id() != 0) {
      return InvalidArgument("target_queue_id: only for QUEUE_TYPE_SERIAL");
    }
    if (type.value() == QueueType::kSerial && r->target_queue_id() == 0) {
      return InvalidArgument("target_queue_id: required for QUEUE_TYPE_SERIAL");
    }
    std::map<std::string, std::string> labels(r->labels().begin(), r->labels().end());
    auto queue = core_.queues.Create(client, type.value(), r->target_queue_id(), r->name(),
                                     std::move(labels));
    if (!queue.ok()) return queue.status();
    ToProto(queue.value(), out);
    LogLine("info", "queue_created")
        .Field("client", client)
        .Field("queue", std::uint64_t{queue->id})
        .Field("name", queue->name);
    return OkStatus();
  });
}

WorkQueuesService::Unary* WorkQueuesService::GetQueue(Ctx* ctx, const v1::GetQueueRequest* r,
                                                      v1::Queue* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    return Reply(core_.queues.Get(client, r->queue_id()), out);
  });
}

WorkQueuesService::Unary* WorkQueuesService::ListQueues(Ctx* ctx, const v1::ListQueuesRequest* r,
                                                        v1::ListQueuesResponse* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    std::map<std::string, std::string> selector(r->label_selector().begin(),
                                                r->label_selector().end());
    auto page = core_.queues.List(client, selector, r->page_size(), r->page_token());
    if (!page.ok()) return page.status();
    for (const QueueInfo& q : page->queues) ToProto(q, out->add_queues());
    out->set_next_page_token(page->next_page_token);
    return OkStatus();
  });
}

WorkQueuesService::Unary* WorkQueuesService::LockQueue(Ctx* ctx, const v1::LockQueueRequest* r,
                                                       v1::Queue* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    return Reply(core_.queues.Lock(client, r->queue_id()), out);
  });
}

WorkQueuesService::Unary* WorkQueuesService::UnlockQueue(Ctx* ctx, const v1::UnlockQueueRequest* r,
                                                         v1::Queue* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    return Reply(core_.queues.Unlock(client, r->queue_id()), out);
  });
}

WorkQueuesService::Unary* WorkQueuesService::DeleteQueue(Ctx* ctx, const v1::DeleteQueueRequest* r,
                                                         v1::DeleteQueueResponse* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto queue = core_.queues.Get(client, r->queue_id());
    if (!queue.ok()) return queue.status();
    if (queue->type == QueueType::kPlatform) {
      return Status(StatusCode::kFailedPrecondition, "queue_id: platform queues cannot be deleted");
    }
    std::uint64_t cancelled = 0;
    if (r->cancel_pending()) {
      OperationFilter filter;
      filter.queue = r->queue_id();
      filter.states = {OperationState::kPending, OperationState::kScheduled,
                       OperationState::kWaiting};
      std::string token;
      std::vector<OperationNumber> numbers;
      do {
        auto page = core_.operations.List(client, filter, 1000, token);
        if (!page.ok()) return page.status();
        for (const OperationView& op : page->operations) numbers.push_back(op.number);
        token = page->next_page_token;
      } while (!token.empty());
      for (const OperationNumber number : numbers) {
        auto result = core_.operations.RequestCancel(client, number);
        if (result.ok() && *result) ++cancelled;
      }
    }
    auto released = core_.queues.ReleaseAll(client, r->queue_id());
    if (!released.ok()) return released.status();
    out->set_locks_released(released.value());
    out->set_operations_cancelled(cancelled);
    LogLine("info", "queue_deleted")
        .Field("client", client)
        .Field("queue", std::uint64_t{r->queue_id()})
        .Field("locks_released", std::uint64_t{released.value()})
        .Field("operations_cancelled", cancelled);
    return OkStatus();
  });
}

// --- Operations ---------------------------------------------------------------

void WorkQueuesService::SubmitMany(
    const std::string& client,
    const google::protobuf::RepeatedPtrField<v1::SubmitRequest>& requests, std::uint64_t session,
    OperationTable::SubmitDone done) {
  // Refusals here share the answers' indexes with what the table answers.
  auto refused = std::make_shared<std::vector<StatusOr<SubmitResult>>>(
      static_cast<std::size_t>(requests.size()), Status(StatusCode::kInternal, "not submitted"));
  std::vector<SubmitSpec> specs;
  auto indexes = std::make_shared<std::vector<std::size_t>>();  // of specs, in `requests`
  specs.reserve(refused->size());
  indexes->reserve(refused->size());
  for (int i = 0; i < requests.size(); ++i) {
    auto spec = FromProto(requests.Get(i), client);
    if (!spec.ok()) {
      (*refused)[static_cast<std::size_t>(i)] = spec.status();
      continue;
    }
    spec->session = session;
    specs.push_back(std::move(spec.value()));
    indexes->push_back(static_cast<std::size_t>(i));
  }
  // A session's answers leave out the parameters (see SubmitResults).
  core_.operations.SubmitBatch(
      std::move(specs), /*brief=*/session != 0,
      [refused, indexes, done = std::move(done)](std::vector<StatusOr<SubmitResult>> submitted) {
        for (std::size_t k = 0; k < submitted.size(); ++k) {
          (*refused)[(*indexes)[k]] = std::move(submitted[k]);
        }
        done(std::move(*refused));
      });
}

WorkQueuesService::Unary* WorkQueuesService::Submit(Ctx* ctx, const v1::SubmitRequest* r,
                                                    v1::SubmitResponse* out) {
  return RunAsync(ctx, [&](const std::string& client, Finisher finish) {
    auto spec = FromProto(*r, client);
    if (!spec.ok()) return finish(spec.status());
    std::vector<SubmitSpec> one;
    one.push_back(std::move(spec.value()));
    // Answered once the journal has it: on the journal writer's thread.
    core_.operations.SubmitBatch(
        std::move(one), /*brief=*/false,
        [out, finish](std::vector<StatusOr<SubmitResult>> results) {
          StatusOr<SubmitResult>& result = results.front();
          if (!result.ok()) return finish(result.status());
          ToProto(result->operation, out->mutable_operation());
          out->set_deduplicated(result->deduplicated);
          finish(OkStatus());
        });
  });
}

WorkQueuesService::Unary* WorkQueuesService::GetOperation(Ctx* ctx,
                                                          const v1::GetOperationRequest* r,
                                                          v1::Operation* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto number = OperationFromProto(r->operation_id(), "operation_id");
    if (!number.ok()) return number.status();
    return Reply(core_.operations.Get(client, *number), out);
  });
}

WorkQueuesService::Unary* WorkQueuesService::WaitOperation(Ctx* ctx,
                                                           const v1::WaitOperationRequest* r,
                                                           v1::Operation* out) {
  Unary* reactor = ctx->DefaultReactor();
  auto client = ClientOf(ctx);
  if (!client.ok()) {
    reactor->Finish(ToGrpcStatus(client.status()));
    return reactor;
  }
  core_.clients.Touch(client.value());
  const auto fail = [reactor](Status s) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  };
  auto number = OperationFromProto(r->operation_id(), "operation_id");
  if (!number.ok()) return fail(number.status());
  std::int64_t timeout_ms;
  if (r->has_timeout()) {
    if (!ValidDuration(r->timeout())) {
      return fail(InvalidArgument("timeout: not a valid duration"));
    }
    timeout_ms = TimeUtil::DurationToMilliseconds(r->timeout());
    if (timeout_ms < 0 || timeout_ms > kMaxWaitMs) {
      return fail(InvalidArgument("timeout: must be 0 to 1 hour"));
    }
  } else {
    // Unset: until the call's own deadline, at most the hour (an explicit
    // zero returns at once).
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          ctx->deadline() - std::chrono::system_clock::now())
                          .count();
    timeout_ms = std::clamp<std::int64_t>(left, 0, kMaxWaitMs);
  }
  auto op = core_.operations.Get(client.value(), *number);
  if (!op.ok()) return fail(op.status());
  if (op->state == OperationState::kCompleted || timeout_ms == 0) {
    ToProto(op.value(), out);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  // Finished by whichever comes first: the completion or the timer. Nothing
  // blocks a thread meanwhile.
  struct Wait {
    std::mutex mu;
    bool finished = false;
    MFWORKITEM_KEY timer = 0;
    std::uint64_t waiter = 0;
  };
  auto wait = std::make_shared<Wait>();
  OperationTable& table = core_.operations;
  CompletionHub& hub = core_.hub;
  const OperationNumber id = *number;
  const std::string who = client.value();
  auto finish = [wait, reactor, out, &table, &hub, id, who] {
    MFWORKITEM_KEY timer;
    std::uint64_t waiter;
    {
      std::lock_guard lock(wait->mu);
      if (wait->finished) return;
      wait->finished = true;
      timer = std::exchange(wait->timer, 0);
      waiter = std::exchange(wait->waiter, 0);
    }
    if (timer != 0) MFCancelWorkItem(timer);
    if (waiter != 0) hub.RemoveWaiter(id, waiter);
    auto now = table.Get(who, id);
    if (now.ok()) ToProto(now.value(), out);
    reactor->Finish(now.ok() ? grpc::Status::OK : ToGrpcStatus(now.status()));
  };
  // Each of the two is recorded for `finish` to take back, or taken back
  // here if `finish` ran first.
  const std::uint64_t waiter = hub.AddWaiter(id, finish);
  bool done;
  {
    std::lock_guard lock(wait->mu);
    done = wait->finished;
    if (!done) wait->waiter = waiter;
  }
  if (done) hub.RemoveWaiter(id, waiter);
  auto timer = ComPtr<TimerCallback>::Adopt(new TimerCallback(finish));
  MFWORKITEM_KEY key = 0;
  const HRESULT hr = MFScheduleWorkItem(timer.get(), nullptr, -timeout_ms, &key);
  {
    std::lock_guard lock(wait->mu);
    done = wait->finished;
    if (!done && SUCCEEDED(hr)) wait->timer = key;
  }
  if (done && SUCCEEDED(hr)) MFCancelWorkItem(key);
  // It may have completed before the waiter was in place, or MF may be
  // shutting down: look again.
  auto again = table.Get(who, id);
  if (FAILED(hr) || !again.ok() || again->state == OperationState::kCompleted) finish();
  return reactor;
}

WorkQueuesService::Unary* WorkQueuesService::ListOperations(Ctx* ctx,
                                                            const v1::ListOperationsRequest* r,
                                                            v1::ListOperationsResponse* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    OperationFilter filter;
    if (r->queue_id() != 0) filter.queue = r->queue_id();
    for (int i = 0; i < r->states_size(); ++i) {
      auto state = FromProto(r->states(i), "states[" + std::to_string(i) + "]");
      if (!state.ok()) return state.status();
      filter.states.push_back(state.value());
    }
    filter.kind = r->kind();
    auto page = core_.operations.List(client, filter, r->page_size(), r->page_token());
    if (!page.ok()) return page.status();
    for (const OperationView& op : page->operations) ToProto(op, out->add_operations());
    out->set_next_page_token(page->next_page_token);
    return OkStatus();
  });
}

void WorkQueuesService::CancelOne(const std::string& client, const std::string& id,
                                  v1::CancelOperationResponse* out, Finisher done) {
  auto number = OperationFromProto(id, "operation_id");
  if (!number.ok()) return done(number.status());
  core_.operations.Cancel(client, *number, [out, done](StatusOr<CancelResult> result) {
    if (!result.ok()) return done(result.status());
    out->set_cancelled(result->cancelled);
    ToProto(result->operation, out->mutable_operation());
    done(OkStatus());
  });
}

WorkQueuesService::Unary* WorkQueuesService::CancelOperation(Ctx* ctx,
                                                             const v1::CancelOperationRequest* r,
                                                             v1::CancelOperationResponse* out) {
  return RunAsync(ctx, [&](const std::string& client, Finisher finish) {
    CancelOne(client, r->operation_id(), out, std::move(finish));
  });
}

// --- Events -------------------------------------------------------------------

void WorkQueuesService::EventToProto(const std::string& client, const EventInfo& info,
                                     v1::Event* out) const {
  ToProto(info, core_.operations.WaitingOn(client, info.name), out);
}

WorkQueuesService::Unary* WorkQueuesService::CreateEvent(Ctx* ctx, const v1::CreateEventRequest* r,
                                                         v1::Event* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto event = core_.events.Create(client, r->name(), r->manual_reset(), r->initially_set());
    if (!event.ok()) return event.status();
    EventToProto(client, event.value(), out);
    return OkStatus();
  });
}

WorkQueuesService::Unary* WorkQueuesService::SetEvent(Ctx* ctx, const v1::SetEventRequest* r,
                                                      v1::Event* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto event = core_.events.Set(client, r->name());
    if (!event.ok()) return event.status();
    EventToProto(client, event.value(), out);
    return OkStatus();
  });
}

WorkQueuesService::Unary* WorkQueuesService::ResetEvent(Ctx* ctx, const v1::ResetEventRequest* r,
                                                        v1::Event* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    auto event = core_.events.Reset(client, r->name());
    if (!event.ok()) return event.status();
    EventToProto(client, event.value(), out);
    return OkStatus();
  });
}

WorkQueuesService::Unary* WorkQueuesService::DeleteEvent(Ctx* ctx, const v1::DeleteEventRequest* r,
                                                         v1::DeleteEventResponse* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    // Deleted first, so that nothing new can start waiting on it.
    if (Status s = core_.events.Delete(client, r->name()); !s.ok()) return s;
    out->set_operations_cancelled(core_.operations.CancelWaitingOn(client, r->name()));
    return OkStatus();
  });
}

WorkQueuesService::Unary* WorkQueuesService::ListEvents(Ctx* ctx, const v1::ListEventsRequest* r,
                                                        v1::ListEventsResponse* out) {
  return Run(ctx, [&](const std::string& client) -> Status {
    if (Status s = CheckPageSize(r->page_size()); !s.ok()) return s;
    const int page_size = r->page_size() == 0 ? 100 : r->page_size();
    // The token is the last name of the previous page; names sort.
    int n = 0;
    for (const EventInfo& e : core_.events.List(client)) {
      if (!r->page_token().empty() && e.name <= r->page_token()) continue;
      if (n == page_size) {
        out->set_next_page_token(out->events(n - 1).name());
        break;
      }
      EventToProto(client, e, out->add_events());
      ++n;
    }
    return OkStatus();
  });
}

// --- Catalog ------------------------------------------------------------------

WorkQueuesService::Unary* WorkQueuesService::ListKinds(Ctx* ctx, const v1::ListKindsRequest*,
                                                       v1::ListKindsResponse* out) {
  return Run(ctx, [&](const std::string&) -> Status {
    for (const KindInfo* kind : core_.kinds.List()) ToProto(*kind, out->add_kinds());
    return OkStatus();
  });
}

// --- WatchCompletions ---------------------------------------------------------

// What the two streaming reactors share: the caller, its subscription to
// the hub (whose wakes call Pump), its presence, the state of the one write
// in flight, and an end that happens once. `Base` is the gRPC reactor.
template <typename Base>
class WorkQueuesService::HubStream : public Base {
 protected:
  explicit HubStream(WorkQueuesService& service)
      : service_(service), life_(std::make_shared<Liveness>()) {}

  // Writes what there is to write, unless a write is in flight; ends the
  // call when it is over. Called from any thread.
  virtual void Pump() = 0;

  // Subscribes to the hub with `filter` and counts the stream as the
  // client's; returns the hub's last sequence (the stream hears of every
  // completion after it). The hub may call Pump from now on.
  std::uint64_t Subscribe(Subscriber::Filter filter) {
    subscriber_ = std::make_shared<Subscriber>(
        std::move(filter), service_.options_.max_buffered_notifications, [this, life = life_] {
          if (!life->Enter()) return;
          Pump();
          life->Leave();
        });
    service_.core_.clients.OpenStream(client_);
    return service_.core_.hub.Subscribe(subscriber_);
  }

  void OnCancel() override {
    {
      std::lock_guard lock(mu_);
      broken_ = true;
    }
    Pump();
  }

  void OnDone() override {
    if (subscriber_) {
      service_.core_.hub.Unsubscribe(subscriber_);
      service_.core_.clients.CloseStream(client_);
    }
    life_->Kill();  // waits for wakes in progress; later ones do nothing
    delete this;
  }

  void FinishLocked(std::unique_lock<std::mutex>& lock, const grpc::Status& status) {
    finished_ = true;
    lock.unlock();
    this->Finish(status);
  }

  // Ends the call before it started streaming.
  void Refuse(const grpc::Status& status) {
    std::unique_lock lock(mu_);
    FinishLocked(lock, status);
  }

  WorkQueuesService& service_;
  const std::shared_ptr<Liveness> life_;
  std::string client_;
  std::shared_ptr<Subscriber> subscriber_;

  std::mutex mu_;
  bool busy_ = false;      // a write is in flight, or Pump is choosing one
  bool finished_ = false;  // Finish called
  bool broken_ = false;    // the client went, or a write failed
};

// Replays retained completions after the requested sequence, then streams
// new ones as the hub hears them; one write in flight at a time.
class WorkQueuesService::WatchReactor final
    : public HubStream<grpc::ServerWriteReactor<v1::Notification>> {
 public:
  WatchReactor(WorkQueuesService& service, Ctx* ctx, const v1::WatchCompletionsRequest& r)
      : HubStream(service) {
    auto client = ClientOf(ctx);
    if (!client.ok()) {
      Refuse(ToGrpcStatus(client.status()));
      return;
    }
    client_ = client.value();
    Subscriber::Filter filter;
    filter.client = client_;
    filter.queues.insert(r.queue_ids().begin(), r.queue_ids().end());
    for (int i = 0; i < r.operation_ids_size(); ++i) {
      const std::string field = "operation_ids[" + std::to_string(i) + "]";
      if (r.operation_ids(i).empty()) {
        Refuse(ToGrpcStatus(InvalidArgument(field + ": empty")));
        return;
      }
      auto number = ParseOperationId(r.operation_ids(i));
      if (!number) {
        Refuse(ToGrpcStatus(
            InvalidArgument(field + ": \"" + r.operation_ids(i) + "\" is not an operation id")));
        return;
      }
      filter.operations.insert(*number);
    }
    filter.include_progress = r.include_progress();
    filter.exclude_session_operations = r.exclude_session_operations();
    OperationTable& table = service_.core_.operations;
    cursor_ = r.after_sequence();
    if (r.from_now()) {  // nothing to replay
      {
        std::lock_guard lock(mu_);
        busy_ = true;
        live_from_ = Subscribe(std::move(filter));
        cursor_ = last_sent_ = live_from_;
        // Tells the client it is subscribed (before any write).
        ctx->AddInitialMetadata(kSubscribedMetadata, std::to_string(live_from_));
        StartSendInitialMetadata();
        busy_ = false;
      }
      Pump();
      return;
    }
    if (cursor_ > table.last_sequence()) {
      Refuse(ToGrpcStatus(
          Status(StatusCode::kOutOfRange, "after_sequence: " + std::to_string(cursor_) +
                                              " is beyond the last sequence, " +
                                              std::to_string(table.last_sequence()))));
      return;
    }
    if (auto check = table.ReadCompletions(cursor_, 0); !check.ok()) {
      Refuse(ToGrpcStatus(check.status()));
      return;
    }
    last_sent_ = cursor_;
    {
      // The hub may wake Pump the moment the subscriber is in: it finds
      // busy_ set until the replay range is known.
      std::lock_guard lock(mu_);
      busy_ = true;
      live_from_ = Subscribe(std::move(filter));
      replaying_ = cursor_ < live_from_;
      ctx->AddInitialMetadata(kSubscribedMetadata, std::to_string(live_from_));
      StartSendInitialMetadata();
      busy_ = false;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      if (!ok) broken_ = true;
    }
    Pump();
  }

 private:
  // Writes the next notification, unless one is in flight.
  void Pump() override {
    std::unique_lock lock(mu_);
    if (busy_ || finished_) return;
    busy_ = true;
    for (;;) {
      if (broken_) return FinishLocked(lock, grpc::Status::CANCELLED);
      if (replaying_) {
        if (replay_.empty()) {
          if (cursor_ >= live_from_) {
            replaying_ = false;
            continue;
          }
          lock.unlock();
          auto batch = service_.core_.operations.ReadCompletions(cursor_, 256);
          lock.lock();
          if (!batch.ok()) return FinishLocked(lock, ToGrpcStatus(batch.status()));
          for (CompletionPtr& c : batch->completions) {
            if (c->sequence > live_from_) {
              cursor_ = live_from_;  // the rest comes live
              break;
            }
            cursor_ = c->sequence;
            if (subscriber_->Matches(c->client, c->queue, c->operation, c->session, c->unary)) {
              replay_.push_back(std::move(c));
            }
          }
          if (batch->completions.empty()) cursor_ = live_from_;  // nothing more retained
          continue;
        }
        message_.Clear();
        message_.set_sequence(replay_.front()->sequence);
        ToProto(*replay_.front(), message_.mutable_completion());
        last_sent_ = replay_.front()->sequence;
        replay_.pop_front();
      } else {
        if (live_.empty()) {
          bool overflowed;
          live_ = subscriber_->Take(256, &overflowed);
          if (overflowed) {
            return FinishLocked(
                lock,
                grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "limit max_buffered_notifications: this watcher fell more "
                             "than " +
                                 std::to_string(service_.options_.max_buffered_notifications) +
                                 " notifications behind; resume with after_sequence = " +
                                 std::to_string(last_sent_)));
          }
          if (live_.empty()) {
            busy_ = false;
            return;
          }
        }
        HubItem& item = live_.front();
        if (std::holds_alternative<CompletionPtr>(item.body) && item.sequence <= last_sent_) {
          live_.pop_front();  // replayed already
          continue;
        }
        message_.Clear();
        message_.set_sequence(item.sequence);
        if (auto* c = std::get_if<CompletionPtr>(&item.body)) {
          ToProto(**c, message_.mutable_completion());
          last_sent_ = item.sequence;
        } else {
          ToProto(std::get<ProgressRecord>(item.body), message_.mutable_progress());
        }
        live_.pop_front();
      }
      // More are waiting: gRPC may hold this one back and send it with
      // them (the last of them goes without the hint, and flushes).
      const bool more = replaying_ ? !replay_.empty() : !live_.empty();
      lock.unlock();
      StartWrite(&message_, more ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
      return;
    }
  }

  std::uint64_t live_from_ = 0;  // guarded by mu_
  bool replaying_ = false;
  std::uint64_t cursor_ = 0;     // replayed up to here
  std::uint64_t last_sent_ = 0;  // the last completion written
  std::deque<CompletionPtr> replay_;
  std::deque<HubItem> live_;
  v1::Notification message_;
};

grpc::ServerWriteReactor<v1::Notification>* WorkQueuesService::WatchCompletions(
    Ctx* ctx, const v1::WatchCompletionsRequest* r) {
  auto client = ClientOf(ctx);
  if (client.ok()) core_.clients.Touch(client.value());
  return new WatchReactor(*this, ctx, *r);
}

// --- Session ------------------------------------------------------------------

// Reads request batches one at a time, answers each with one response
// batch, and streams the session's notifications in batches. Notifications
// are held back while a submit batch is processed, so that a completion
// never arrives before the answer that names its operation.
class WorkQueuesService::SessionReactor final
    : public HubStream<grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionResponse>> {
  struct Outgoing;

 public:
  // Responses waiting to be written before reading stops.
  static constexpr std::size_t kMaxQueuedResponses = 16;
  static constexpr std::size_t kMaxNotificationsPerBatch = 512;

  SessionReactor(WorkQueuesService& service, Ctx* ctx) : HubStream(service) {
    auto client = ClientOf(ctx);
    if (!client.ok()) {
      Refuse(ToGrpcStatus(client.status()));
      return;
    }
    client_ = client.value();
    session_ = service_.NewSessionId();
    Subscriber::Filter filter;
    filter.client = client_;
    filter.session = session_;
    filter.include_progress = true;
    Subscribe(std::move(filter));
    {
      std::lock_guard lock(mu_);
      reading_ = true;
    }
    StartRead(NewRequest());
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client closed its side: finish once its operations are reported.
      {
        std::lock_guard lock(mu_);
        reading_ = false;
        reads_done_ = true;
      }
      Pump();
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (finished_ || broken_) {  // ended meanwhile: nothing more is taken on
        reading_ = false;
        return;
      }
    }
    service_.core_.clients.Touch(client_);
    grpc::Status refused = Process([this](Outgoing response) { Answered(std::move(response)); });
    if (!refused.ok()) {
      {
        std::lock_guard lock(mu_);
        processing_ = false;
        reading_ = false;
        reads_done_ = true;
        refusal_ = refused;
      }
      Pump();
    }
  }

  // The table answered the batch read last: queued to be written, and the
  // next batch read unless enough responses wait.
  void Answered(Outgoing response) {
    bool read_more;
    {
      std::lock_guard lock(mu_);
      processing_ = false;
      out_.push_back(std::move(response));
      read_more = !broken_ && !finished_ && out_.size() < kMaxQueuedResponses;
      reading_ = read_more;
    }
    if (read_more) StartRead(NewRequest());
    Pump();
  }

  void OnWriteDone(bool ok) override {
    bool read_again = false;
    Outgoing written;
    {
      std::lock_guard lock(mu_);
      busy_ = false;
      written = std::move(writing_);  // freed below, unlocked
      if (!ok) broken_ = true;
      if (ok && !reading_ && !reads_done_ && out_.size() < kMaxQueuedResponses) {
        reading_ = read_again = true;
      }
    }
    written = Outgoing();
    if (read_again) StartRead(NewRequest());
    Pump();
  }

 private:
  // A message to send, and the arena that holds it and everything in it:
  // building and freeing a batch of notifications costs a few allocations,
  // not several per notification.
  struct Outgoing {
    std::unique_ptr<google::protobuf::Arena> arena;
    v1::SessionResponse* message = nullptr;
  };
  static Outgoing NewOutgoing() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 16 << 10;
    options.max_block_size = 1 << 20;
    Outgoing out;
    out.arena = std::make_unique<google::protobuf::Arena>(options);
    out.message = google::protobuf::Arena::CreateMessage<v1::SessionResponse>(out.arena.get());
    return out;
  }
  // The message the next read fills, on the reading side's arena (emptied
  // first: the last request has been answered).
  v1::SessionRequest* NewRequest() {
    request_ = nullptr;
    read_arena_.Reset();
    request_ = google::protobuf::Arena::CreateMessage<v1::SessionRequest>(&read_arena_);
    return request_;
  }

  // Answers *request_: `answered` gets the response, on this thread or
  // another (the journal writer's) once the table has answered. A status
  // other than OK, returned at once, ends the stream instead.
  grpc::Status Process(std::function<void(Outgoing)> answered) {
    {
      std::lock_guard lock(mu_);
      processing_ = true;
    }
    const std::size_t max = service_.options_.max_batch;
    const v1::SessionRequest& request = *request_;
    if (request.has_submit()) {
      const auto& requests = request.submit().requests();
      if (static_cast<std::size_t>(requests.size()) > max) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "submit.requests: at most " + std::to_string(max) + " per batch");
      }
      // Accepted together: one journal write for the batch.
      service_.SubmitMany(
          client_, requests, session_,
          [this, answered](std::vector<StatusOr<SubmitResult>> submitted) {
            Outgoing response = NewOutgoing();
            v1::SubmitResults* results = response.message->mutable_submitted();
            for (auto& result : submitted) {
              v1::SubmitResult* out = results->add_results();
              if (!result.ok()) {
                out->mutable_error()->set_code(static_cast<int>(result.status().code()));
                out->mutable_error()->set_message(result.status().message());
                continue;
              }
              Track(result.value());
              const OperationView& view = result->operation;
              v1::Operation* op = out->mutable_accepted()->mutable_operation();
              if (result->deduplicated) {
                // A retry: the first attempt's operation, which may differ
                // from this request, whole but for its parameters; with its
                // completion if it has one.
                ToProto(view, op);
                op->clear_parameters();
              } else {
                // Kept small: the client has the rest, and the completion
                // comes as a notification.
                op->set_id(OperationId(view.number));
                op->set_state(ToProto(view.state));
              }
              out->mutable_accepted()->set_deduplicated(result->deduplicated);
            }
            answered(std::move(response));
          });
      return grpc::Status::OK;
    }
    if (request.has_cancel()) {
      const auto& ids = request.cancel().operation_ids();
      if (static_cast<std::size_t>(ids.size()) > max) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "cancel.operation_ids: at most " + std::to_string(max) + " per batch");
      }
      // Each answered when the table has; the response once all are.
      struct Cancels {
        Outgoing response;
        std::atomic<int> left{1};
        std::function<void(Outgoing)> answered;
        void Release() {
          if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) answered(std::move(response));
        }
      };
      auto cancels = std::make_shared<Cancels>();
      cancels->response = NewOutgoing();
      cancels->answered = std::move(answered);
      v1::CancelResults* results = cancels->response.message->mutable_cancelled();
      for (const std::string& id : ids) {
        v1::CancelOperationResponse* out = results->add_results();
        cancels->left.fetch_add(1, std::memory_order_relaxed);
        service_.CancelOne(client_, id, out, [cancels, out](const Status& s) {
          // An unknown id: not cancelled, and no operation.
          if (!s.ok()) out->Clear();
          cancels->Release();
        });
      }
      cancels->Release();
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "request: neither submit nor cancel");
  }

  // An operation this session will report the completion of.
  void Track(const SubmitResult& result) {
    const OperationView& op = result.operation;
    if (op.state == OperationState::kCompleted && result.deduplicated) return;  // answered already
    {
      std::lock_guard lock(mu_);
      if (!pending_.insert(op.number).second) return;  // a retry within the session
    }
    if (!result.deduplicated) return;  // tagged with this session: the hub brings it
    // Submitted elsewhere: watch it by id, and catch a completion that came
    // before the watch.
    subscriber_->AddOperation(op.number);
    auto now = service_.core_.operations.Get(client_, op.number);
    if (now.ok() && now->completion) subscriber_->Offer(now->completion);
  }

  void Pump() override {
    std::unique_lock lock(mu_);
    if (busy_ || finished_) return;
    // (Not while the table answers a batch: its answer comes to this reactor.)
    if (broken_) {
      if (processing_) return;
      return FinishLocked(lock, grpc::Status::CANCELLED);
    }
    if (!out_.empty()) {
      writing_ = std::move(out_.front());
      out_.pop_front();
    } else if (!processing_) {
      bool overflowed = false;
      if (carry_.empty()) carry_ = subscriber_->Take(kMaxNotificationsPerBatch, &overflowed);
      if (overflowed) {
        return FinishLocked(
            lock, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "limit max_buffered_notifications: this session fell more than " +
                                   std::to_string(service_.options_.max_buffered_notifications) +
                                   " notifications behind; its operations' completions can be "
                                   "read with GetOperation or WatchCompletions"));
      }
      if (carry_.empty()) {
        if (reads_done_ && pending_.empty()) {
          return FinishLocked(lock, refusal_);
        }
        if (reads_done_ && !refusal_.ok()) return FinishLocked(lock, refusal_);
        return;
      }
      // As many as fit in half the message size limit (at least one).
      const std::size_t budget = service_.options_.max_message_bytes / 2;
      std::size_t bytes = 0;
      writing_ = NewOutgoing();
      v1::NotificationBatch* batch = writing_.message->mutable_notifications();
      while (!carry_.empty()) {
        v1::Notification* n = batch->add_notifications();
        n->set_sequence(carry_.front().sequence);
        const auto* c = std::get_if<CompletionPtr>(&carry_.front().body);
        if (c != nullptr) {
          ToProto(**c, n->mutable_completion());
        } else {
          ToProto(std::get<ProgressRecord>(carry_.front().body), n->mutable_progress());
        }
        const std::size_t size = n->ByteSizeLong();
        if (batch->notifications_size() > 1 && bytes + size > budget) {
          batch->mutable_notifications()->RemoveLast();  // the next batch's
          break;
        }
        bytes += size;
        if (c != nullptr) pending_.erase((*c)->operation);
        carry_.pop_front();
      }
    } else {
      return;
    }
    busy_ = true;
    v1::SessionResponse* message = writing_.message;
    lock.unlock();
    StartWrite(message);
  }

  std::uint64_t session_ = 0;
  // Read into; used by the reading side only.
  google::protobuf::Arena read_arena_;
  v1::SessionRequest* request_ = nullptr;

  bool processing_ = false;  // a request batch is being answered
  bool reading_ = false;     // a read is in flight
  bool reads_done_ = false;  // the client closed its side (or was refused)
  grpc::Status refusal_;     // how the stream ends
  // Operations whose completion is still to be sent.
  std::unordered_set<OperationNumber> pending_;
  std::deque<Outgoing> out_;
  std::deque<HubItem> carry_;  // taken from the subscriber, not yet sent
  Outgoing writing_;           // the write in flight
};

grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionResponse>* WorkQueuesService::Session(
    Ctx* ctx) {
  auto client = ClientOf(ctx);
  if (client.ok()) core_.clients.Touch(client.value());
  return new SessionReactor(*this, ctx);
}

}  // namespace mfwq::server::rpc
