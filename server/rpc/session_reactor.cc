// WorkQueuesService::SessionReactor: a Session. Reads request batches one
// at a time, has the table answer each (asynchronously: the answer comes
// from the journal writer's thread), answers with one response batch, and
// streams the session's notifications in batches.
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>

#include <google/protobuf/arena.h>

#include "hub_stream.h"

namespace mfwq::server::rpc {

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
      MutexLock lock(mu_);
      reading_ = true;
    }
    StartRead(NewRequest());
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client closed its side: finish once its operations are reported.
      {
        MutexLock lock(mu_);
        reading_ = false;
        reads_done_ = true;
      }
      Pump();
      return;
    }
    {
      MutexLock lock(mu_);
      if (finished_ || broken_) {  // ended meanwhile: nothing more is taken on
        reading_ = false;
        return;
      }
      // From here until its answer is queued the call cannot end (Pump
      // waits for it), so the table's callback finds this reactor alive.
      ++processing_;
    }
    service_.core_.clients.Touch(client_);
    grpc::Status refused = Process([this](Outgoing response) { Answered(std::move(response)); });
    if (!refused.ok()) {
      {
        MutexLock lock(mu_);
        --processing_;
        reading_ = false;
        reads_done_ = true;
        refusal_ = refused;
      }
      Pump();
    }
  }

  // The table answered the batch read last: queued to be written, and the
  // next batch read unless enough responses wait.
  // Runs on the journal writer's thread (or this one's, if nothing needed
  // the journal): not a reaction, so OnDone does not wait for it; the
  // reactor's liveness does, from when this batch leaves processing_.
  void Answered(Outgoing response) {
    if (!life_->Enter())
      return;  // (cannot fail: the call cannot end while processing_ counts this batch)
    bool read_more;
    {
      MutexLock lock(mu_);
      out_.push_back(std::move(response));
      read_more = !broken_ && !finished_ && out_.size() < kMaxQueuedResponses;
      reading_ = read_more;
    }
    // The next read starts before this batch leaves processing_: until
    // then the call cannot have finished. (That read's batch may reach
    // the table first: processing_ counts batches, so that it still holds
    // back the notifications of operations its answer will name.)
    if (read_more) StartRead(NewRequest());
    bool read_now = false;
    {
      MutexLock lock(mu_);
      // The last batch out: if reading stopped meanwhile (a later batch's
      // answer filled out_) and every answer has been written since,
      // OnWriteDone left the restart to this (as it does while a batch is
      // with the table).
      if (--processing_ == 0 && !reading_ && !reads_done_ && !broken_ && !finished_ &&
          out_.size() < kMaxQueuedResponses) {
        reading_ = read_now = true;
      }
    }
    if (read_now) StartRead(NewRequest());
    Pump();
    life_->Leave();
  }

  void OnWriteDone(bool ok) override {
    bool read_again = false;
    Outgoing written;
    {
      MutexLock lock(mu_);
      busy_ = false;
      written = std::move(writing_);  // freed below, unlocked
      if (!ok) broken_ = true;
      // (Not while a batch is with the table: its answer restarts reading,
      // so that batches are answered one at a time, in order.)
      if (ok && !reading_ && !reads_done_ && processing_ == 0 &&
          out_.size() < kMaxQueuedResponses) {
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
  // REQUIRES: this batch counted in processing_ by the caller.
  grpc::Status Process(std::function<void(Outgoing)> answered) {
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
                ToProto(result.status(), out->mutable_error());
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
      MutexLock lock(mu_);
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
    MutexLock lock(mu_);
    if (busy_ || finished_) return;
    // (Not while the table answers a batch: its answer comes to this reactor.)
    if (broken_) {
      if (processing_ != 0) return;
      return FinishLocked(lock, grpc::Status::CANCELLED);
    }
    if (!out_.empty()) {
      writing_ = std::move(out_.front());
      out_.pop_front();
    } else if (processing_ == 0) {
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
    lock.Unlock();
    StartWrite(message);
  }

  std::uint64_t session_ = 0;
  // Read into; used by the reading side only.
  google::protobuf::Arena read_arena_;
  v1::SessionRequest* request_ = nullptr;

  // Guarded by mu_ (HubStream's).
  // Request batches being answered: more than one only briefly (the next
  // one read while the last one's answer is being queued).
  unsigned processing_ MFWQ_GUARDED_BY(mu_) = 0;
  bool reading_ MFWQ_GUARDED_BY(mu_) = false;     // a read is in flight
  bool reads_done_ MFWQ_GUARDED_BY(mu_) = false;  // the client closed its side (or was refused)
  grpc::Status refusal_ MFWQ_GUARDED_BY(mu_);     // how the stream ends
  // Operations whose completion is still to be sent.
  std::unordered_set<OperationNumber> pending_ MFWQ_GUARDED_BY(mu_);
  std::deque<Outgoing> out_ MFWQ_GUARDED_BY(mu_);
  std::deque<HubItem> carry_ MFWQ_GUARDED_BY(mu_);  // taken from the subscriber, not yet sent
  Outgoing writing_ MFWQ_GUARDED_BY(mu_);           // the write in flight
};

grpc::ServerBidiReactor<v1::SessionRequest, v1::SessionResponse>* WorkQueuesService::Session(
    Ctx* ctx) {
  auto client = ClientOf(ctx);
  if (client.ok()) core_.clients.Touch(client.value());
  return new SessionReactor(*this, ctx);
}

}  // namespace mfwq::server::rpc
