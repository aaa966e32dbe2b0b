// WorkQueuesService::SessionReactor: a Session. Reads request batches, has
// the table answer each (asynchronously: the answer comes from the journal
// writer's thread), answers each with one response batch, in order, and
// streams the session's notifications in batches.
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <unordered_set>
#include <vector>

#include <google/protobuf/arena.h>

#include "hub_stream.h"
#include "request_parse.h"

namespace mfwq::server::rpc {

// Reads request batches, up to kMaxBatchesAtTable of them with the table at
// once (under journal_sync = full a batch waits for an fsync: the next one
// is admitted meanwhile, to share the next commit), answers each with one
// response batch, in the order they came, and streams the session's
// notifications in batches. A notification is never written before the
// first answer that names its operation (the table may publish a completion
// before the batch that made the operation is answered, when that answer
// is finished on another thread): an operation is reported only once its
// answer is queued or held (it is then in pending_), and notifications are
// written only while no answer is queued or held (Pump). A later retry's
// answer may come after the completion was written: it carries the state
// the retry found, and the completion is not reported again.
class WorkQueuesService::SessionReactor final
    : public HubStream<grpc::ServerBidiReactor<grpc::ByteBuffer, v1::SessionResponse>> {
  struct Outgoing;

 public:
  // Answers waiting to be written (queued, or held behind an earlier
  // batch's) before reading stops.
  static constexpr std::size_t kMaxQueuedResponses = 16;
  // Request batches with the table at once.
  static constexpr unsigned kMaxBatchesAtTable = 8;
  static constexpr std::size_t kMaxNotificationsPerBatch = 512;

  SessionReactor(WorkQueuesService& service, Ctx* ctx) : HubStream(service) {
    auto client = ClientOf(ctx);
    if (!client.ok()) {
      Refuse(ToGrpcStatus(client.status()));
      return;
    }
    client_ = client.value();
    if (!Admit()) return;
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
    StartRead(&read_bytes_);
  }

  void OnReadDone(bool ok) override {
    std::uint64_t batch;
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
      batch = next_batch_++;
    }
    service_.core_.clients.Touch(client_);
    // reading_ stays set until Process is done with request_: no other
    // thread starts a read (which would reuse its arena) meanwhile.
    // Named for the client counting from 1.
    const std::string name = "batch " + std::to_string(batch + 1);
    Status parsed = ParseRequest(read_bytes_, NewRequest(), client_, name);
    read_bytes_.Clear();  // (its slices are not kept while the batch is at the table)
    grpc::Status refused = ToGrpcStatus(parsed);
    if (parsed.ok()) {
      refused = Process([this, batch](Outgoing response) { Answered(batch, std::move(response)); });
      if (!refused.ok()) refused = grpc::Status(refused.error_code(), name + ": " + refused.error_message());
    }
    if (refused.ok()) {
      bool read_more;
      {
        MutexLock lock(mu_);
        reading_ = false;
        read_more = ReadMoreLocked();
      }
      if (read_more) StartRead(&read_bytes_);  // (a reaction: the call cannot be done)
    } else {
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

  // The table answered batch number `batch`: queued to be written once the
  // batches before it are, and the next batch read if there is room.
  // Runs on the journal writer's thread (or the reading one's, if nothing
  // needed the journal): not a reaction, so OnDone does not wait for it.
  // The call cannot end while processing_ counts this batch, nor while
  // starting_ counts a read this starts (Pump ends it only at zero): a read
  // started off a reaction could otherwise race OnDone. (Reactions may
  // start one after Finish: OnDone waits for them to return.)
  void Answered(std::uint64_t batch, Outgoing response) {
    if (!life_->Enter())
      return;  // (cannot fail: the call cannot end while processing_ counts this batch)
    std::vector<OperationNumber> watch;
    bool read_more;
    {
      MutexLock lock(mu_);
      // Reported from now on: with their answer queued, in the same step.
      for (OperationNumber number : response.track) pending_.insert(number);
      // Watched from now on, those not watched before (an earlier retry's
      // answer tracks those, or their completion is written already).
      for (OperationNumber number : response.watch) {
        if (!subscriber_->AddOperation(number)) continue;
        pending_.insert(number);
        watch.push_back(number);
      }
      if (!early_.empty()) {
        // Completions that came before their answer go out after it, in
        // the order they came.
        std::deque<HubItem> still_early;
        for (HubItem& item : early_) {
          const bool now = pending_.count(std::get<CompletionPtr>(item.body)->operation) != 0;
          (now ? carry_ : still_early).push_back(std::move(item));
        }
        early_.swap(still_early);
      }
      held_.emplace(batch, std::move(response));
      for (auto it = held_.begin(); it != held_.end() && it->first == next_answer_;
           it = held_.erase(it), ++next_answer_) {
        out_.push_back(std::move(it->second));
      }
      // Leaving the table and deciding on the next read in one step: a
      // read the reading side declined meanwhile is started here.
      --processing_;
      read_more = ReadMoreLocked();
      if (read_more) ++starting_;
    }
    if (read_more) {
      StartRead(&read_bytes_);
      MutexLock lock(mu_);
      --starting_;
    }
    // Operations submitted elsewhere, which this session reports too, once
    // their answer is queued (their completions must not be written
    // first); those that completed before they were watched are offered
    // now. (If the call ends meanwhile, OnDone waits for this to Leave; the
    // subscriber outlives it.)
    for (OperationNumber number : watch) {
      auto now = service_.core_.operations.Get(client_, number);
      if (now.ok() && now->completion) subscriber_->Offer(now->completion);  // came before the watch
    }
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
      read_again = ok && ReadMoreLocked();
    }
    written = Outgoing();
    if (read_again) StartRead(&read_bytes_);
    Pump();
  }

 private:
  // A message to send, and the arena that holds it and everything in it:
  // building and freeing a batch of notifications costs a few allocations,
  // not several per notification.
  struct Outgoing {
    std::unique_ptr<google::protobuf::Arena> arena;
    v1::SessionResponse* message = nullptr;
    // An answer's operations to report (pending_ once it is queued), and
    // those of them submitted elsewhere, to watch then too.
    std::vector<OperationNumber> track;
    std::vector<OperationNumber> watch;
  };
  // Whether to read another batch now; if so, marks the read in flight.
  // Called wherever what it depends on changes, under the same lock.
  bool ReadMoreLocked() MFWQ_REQUIRES(mu_) {
    if (reading_ || reads_done_ || broken_ || finished_ || overflowed_) return false;
    if (processing_ >= kMaxBatchesAtTable) return false;
    if (out_.size() + held_.size() >= kMaxQueuedResponses) return false;
    reading_ = true;
    return true;
  }
  static Outgoing NewOutgoing() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 16 << 10;
    options.max_block_size = 1 << 20;
    Outgoing out;
    out.arena = std::make_unique<google::protobuf::Arena>(options);
    out.message = google::protobuf::Arena::CreateMessage<v1::SessionResponse>(out.arena.get());
    return out;
  }
  // The message the batch just read is parsed into, on the reading side's
  // arena (emptied first: the last request has been given to the table).
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
              Track(result.value(), &response);
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

  // An operation whose completion `answer` promises: Answered adds it to
  // pending_ once the answer is queued. One submitted elsewhere (a retry of
  // another call's) is watched by number then, the first time only; this
  // session's own are tagged with it, and the hub brings them once.
  void Track(const SubmitResult& result, Outgoing* answer) {
    const OperationView& op = result.operation;
    if (!result.deduplicated) {
      answer->track.push_back(op.number);
      return;
    }
    if (op.state == OperationState::kCompleted) return;  // answered already
    // A retry of this session's own: the first attempt's answer tracks it
    // (pending_, or not queued yet), or its completion is written already.
    if (result.session == session_) return;
    answer->watch.push_back(op.number);
  }

  // Moves notifications from carry_ into a new writing_, as many as fit in
  // half the message size limit (at least one); false if none could go.
  bool TakeNotificationsLocked() MFWQ_REQUIRES(mu_) {
    if (carry_.empty()) return false;
    const std::size_t budget = service_.options_.max_message_bytes / 2;
    std::size_t bytes = 0;
    Outgoing out = NewOutgoing();
    v1::NotificationBatch* batch = out.message->mutable_notifications();
    while (!carry_.empty()) {
      const HubItem& item = carry_.front();
      const auto* c = std::get_if<CompletionPtr>(&item.body);
      const OperationNumber about =
          c != nullptr ? (*c)->operation : std::get<ProgressRecord>(item.body).operation;
      if (pending_.count(about) == 0) {
        // Its answer is not queued yet: a completion waits for it in
        // early_; a progress report is let go (they are not retained
        // anyway, and the next one tells more).
        if (c != nullptr) early_.push_back(std::move(carry_.front()));
        carry_.pop_front();
        continue;
      }
      v1::Notification* n = batch->add_notifications();
      n->set_sequence(item.sequence);
      if (c != nullptr) {
        ToProto(**c, n->mutable_completion());
      } else {
        ToProto(std::get<ProgressRecord>(item.body), n->mutable_progress());
      }
      const std::size_t size = n->ByteSizeLong();
      if (batch->notifications_size() > 1 && bytes + size > budget) {
        batch->mutable_notifications()->RemoveLast();  // the next batch's
        break;
      }
      bytes += size;
      if (c != nullptr) pending_.erase(about);
      carry_.pop_front();
    }
    if (batch->notifications_size() == 0) return false;
    writing_ = std::move(out);
    return true;
  }

  void Pump() override {
    MutexLock lock(mu_);
    if (busy_ || finished_) return;
    // The call ends only with no batch at the table (its answer comes to
    // this reactor) and no read being started by Answered.
    const bool may_end = processing_ == 0 && starting_ == 0;
    if (broken_) {
      if (!may_end) return;
      return FinishLocked(lock, grpc::Status::CANCELLED);
    }
    if (!out_.empty()) {
      writing_ = std::move(out_.front());
      out_.pop_front();
    } else if (held_.empty()) {  // no answer waits: notifications may go
      // (None taken: carry_ was empty, or all in it wait for their answers.)
      while (!TakeNotificationsLocked()) {
        bool overflowed = false;
        carry_ = subscriber_->Take(kMaxNotificationsPerBatch, &overflowed);
        if (overflowed) {
          overflowed_ = true;  // nothing more is taken on; the call ends once it may
          if (!may_end) return;
          return FinishLocked(
              lock, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "limit max_buffered_notifications: this session fell more than " +
                                     std::to_string(service_.options_.max_buffered_notifications) +
                                     " notifications behind; its operations' completions can be "
                                     "read with GetOperation or WatchCompletions"));
        }
        if (carry_.empty()) {
          if (!may_end || !reads_done_) return;
          if (pending_.empty() || !refusal_.ok()) return FinishLocked(lock, refusal_);
          return;
        }
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
  // Read into, and parsed from; used by the reading side only.
  grpc::ByteBuffer read_bytes_;
  google::protobuf::Arena read_arena_;
  v1::SessionRequest* request_ = nullptr;

  // Guarded by mu_ (HubStream's).
  // Request batches with the table (at most kMaxBatchesAtTable), and the
  // number the next one read gets.
  unsigned processing_ MFWQ_GUARDED_BY(mu_) = 0;
  unsigned starting_ MFWQ_GUARDED_BY(mu_) = 0;  // reads being started by Answered
  std::uint64_t next_batch_ MFWQ_GUARDED_BY(mu_) = 0;
  // Answers that came before an earlier batch's, by batch number, and the
  // number of the batch to answer next.
  std::map<std::uint64_t, Outgoing> held_ MFWQ_GUARDED_BY(mu_);
  std::uint64_t next_answer_ MFWQ_GUARDED_BY(mu_) = 0;
  // A read is in flight, or its batch is still being given to the table
  // (which reads request_).
  bool reading_ MFWQ_GUARDED_BY(mu_) = false;
  bool reads_done_ MFWQ_GUARDED_BY(mu_) = false;  // the client closed its side (or was refused)
  grpc::Status refusal_ MFWQ_GUARDED_BY(mu_);     // how the stream ends
  // The session fell max_buffered_notifications behind: it ends with
  // RESOURCE_EXHAUSTED once no batch is at the table, and reads no more.
  bool overflowed_ MFWQ_GUARDED_BY(mu_) = false;
  // Operations whose completion is still to be sent.
  std::unordered_set<OperationNumber> pending_ MFWQ_GUARDED_BY(mu_);
  std::deque<Outgoing> out_ MFWQ_GUARDED_BY(mu_);
  std::deque<HubItem> carry_ MFWQ_GUARDED_BY(mu_);  // taken from the subscriber, not yet sent
  // Completions of operations whose answer is not queued yet (the table
  // can publish one before its batch's answer is made).
  std::deque<HubItem> early_ MFWQ_GUARDED_BY(mu_);
  Outgoing writing_ MFWQ_GUARDED_BY(mu_);           // the write in flight
};

grpc::ServerBidiReactor<grpc::ByteBuffer, v1::SessionResponse>* WorkQueuesService::OpenSession(
    Ctx* ctx) {
  auto client = ClientOf(ctx);
  if (client.ok()) core_.clients.Touch(client.value());
  return new SessionReactor(*this, ctx);
}

}  // namespace mfwq::server::rpc
