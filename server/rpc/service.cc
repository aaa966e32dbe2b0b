// WorkQueuesService: construction, the caller's identity, and the unary
// handlers of queues, events and the catalog. Operations' handlers are in
// operation_handlers.cc and wait_operation.cc, the streams in
// watch_reactor.cc and session_reactor.cc.
#include "service.h"

#include "log.h"
#include "unary_call.h"

namespace mfwq::server::rpc {

namespace {

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
    : core_(core), options_(options) {
  ParseRequests();
}

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
}  // namespace mfwq::server::rpc
