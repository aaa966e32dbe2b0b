// WorkQueuesService::WatchReactor: WatchCompletions. Replays retained
// completions after the requested sequence, then streams new ones as the
// hub hears them; one write in flight at a time.
#include <deque>
#include <memory>
#include <mutex>

#include "hub_stream.h"
#include "client_text.h"

namespace mfwq::server::rpc {

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
    if (!Admit()) return;
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
            InvalidArgument(field + ": " + Quoted(r.operation_ids(i)) + " is not an operation id")));
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
        MutexLock lock(mu_);
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
      MutexLock lock(mu_);
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
      MutexLock lock(mu_);
      busy_ = false;
      if (!ok) broken_ = true;
    }
    Pump();
  }

 private:
  // Writes the next notification, unless one is in flight.
  void Pump() override {
    MutexLock lock(mu_);
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
          const std::uint64_t from = cursor_;
          lock.Unlock();
          auto batch = service_.core_.operations.ReadCompletions(from, 256);
          lock.Lock();
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
      lock.Unlock();
      StartWrite(&message_, more ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
      return;
    }
  }

  // Guarded by mu_ (HubStream's).
  std::uint64_t live_from_ MFWQ_GUARDED_BY(mu_) = 0;
  bool replaying_ MFWQ_GUARDED_BY(mu_) = false;
  std::uint64_t cursor_ MFWQ_GUARDED_BY(mu_) = 0;     // replayed up to here
  std::uint64_t last_sent_ MFWQ_GUARDED_BY(mu_) = 0;  // the last completion written
  std::deque<CompletionPtr> replay_ MFWQ_GUARDED_BY(mu_);
  std::deque<HubItem> live_ MFWQ_GUARDED_BY(mu_);
  v1::Notification message_;
};

grpc::ServerWriteReactor<v1::Notification>* WorkQueuesService::WatchCompletions(
    Ctx* ctx, const v1::WatchCompletionsRequest* r) {
  auto client = ClientOf(ctx);
  if (client.ok()) core_.clients.Touch(client.value());
  return new WatchReactor(*this, ctx, *r);
}
}  // namespace mfwq::server::rpc
