// WorkQueuesService::WaitOperation: answered when the operation completes
// (a hub waiter, on the journal writer's thread) or its timeout passes (an
// MF timer, through SystemTableClock), whichever comes first; no thread waits meanwhile.
#include <algorithm>
#include <functional>
#include <memory>

#include <google/protobuf/util/time_util.h>
#include <mfwq/thread_annotations.h>

#include "service.h"
#include "table_clock.h"
#include "unary_call.h"

namespace mfwq::server::rpc {


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
    auto timeout = DurationFromProto(r->timeout(), "timeout", std::chrono::seconds(0),
                                     std::chrono::seconds(kMaxWaitMs / 1000));
    if (!timeout.ok()) return fail(timeout.status());
    timeout_ms = std::chrono::ceil<std::chrono::milliseconds>(timeout.value()).count();
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
    Mutex mu;
    bool finished MFWQ_GUARDED_BY(mu) = false;
    TableClock::TimerId timer MFWQ_GUARDED_BY(mu) = 0;
    std::uint64_t waiter MFWQ_GUARDED_BY(mu) = 0;
  };
  auto wait = std::make_shared<Wait>();
  OperationTable& table = core_.operations;
  CompletionHub& hub = core_.hub;
  const OperationNumber id = *number;
  const std::string who = client.value();
  auto finish = [wait, reactor, out, &table, &hub, id, who] {
    TableClock::TimerId timer;
    std::uint64_t waiter;
    {
      MutexLock lock(wait->mu);
      if (wait->finished) return;
      wait->finished = true;
      timer = std::exchange(wait->timer, 0);
      waiter = std::exchange(wait->waiter, 0);
    }
    if (timer != 0) SystemTableClock().Cancel(timer);
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
    MutexLock lock(wait->mu);
    done = wait->finished;
    if (!done) wait->waiter = waiter;
  }
  if (done) hub.RemoveWaiter(id, waiter);
  SystemTableClock clock;  // MF timers
  const TableClock::TimerId key =
      clock.Schedule(clock.Now() + std::chrono::milliseconds(timeout_ms), finish);
  {
    MutexLock lock(wait->mu);
    done = wait->finished;
    if (!done) wait->timer = key;
  }
  if (done) clock.Cancel(key);
  // It may have completed before the waiter was in place, or MF may be
  // shutting down (no timer): look again.
  auto again = table.Get(who, id);
  if (key == 0 || !again.ok() || again->state == OperationState::kCompleted) finish();
  return reactor;
}

}  // namespace mfwq::server::rpc
