// WorkQueuesService::ParseRequests: every method of mfwq.v1.WorkQueues
// registered to take its request as bytes, which the service parses
// (request_parse.h) before the handler runs, so that a request that does
// not parse is answered INVALID_ARGUMENT naming its message rather than
// gRPC's bare UNIMPLEMENTED. Responses stay typed: gRPC serialises them.
//
// The handlers of unary calls and of WatchCompletions get a request that
// lives while they run (they take what they need from it before
// returning); a Session parses each batch it reads (session_reactor.cc).
#include <string>

#include <google/protobuf/descriptor.h>

#include "log.h"
#include "request_parse.h"
#include "service.h"
#include "unary_call.h"

namespace mfwq::server::rpc {

namespace {

// The index gRPC's generated code gives method `name` (its place in the
// proto), checked against the request type the handler expects.
int MethodIndex(const char* name, const google::protobuf::Descriptor* request) {
  const google::protobuf::ServiceDescriptor* service =
      v1::CreateQueueRequest::descriptor()->file()->FindServiceByName("WorkQueues");
  const google::protobuf::MethodDescriptor* method =
      service != nullptr ? service->FindMethodByName(name) : nullptr;
  if (method == nullptr || method->input_type() != request) {
    LogLine("error", "method_mismatch").Field("method", name);
    std::abort();
  }
  return method->index();
}

// Refuses a WatchCompletions whose request did not parse.
class RefusedWatch final : public grpc::ServerWriteReactor<v1::Notification> {
 public:
  explicit RefusedWatch(const Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

template <typename Req, typename Resp>
void WorkQueuesService::ParseFor(const char* name,
                                 Unary* (WorkQueuesService::*handler)(Ctx*, const Req*, Resp*)) {
  MarkMethodCallback(
      MethodIndex(name, Req::descriptor()),
      new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, Resp>(
          [this, handler](Ctx* ctx, const grpc::ByteBuffer* bytes, Resp* out) -> Unary* {
            auto client = ClientOf(ctx);
            Req request;
            Status parsed = client.ok() ? ParseRequest(*bytes, &request, client.value())
                                        : client.status();
            if (!parsed.ok()) {
              Unary* reactor = ctx->DefaultReactor();
              reactor->Finish(ToGrpcStatus(parsed));
              return reactor;
            }
            return (this->*handler)(ctx, &request, out);
          }));
}

void WorkQueuesService::ParseRequests() {
  using S = WorkQueuesService;
  ParseFor("CreateQueue", &S::CreateQueue);
  ParseFor("GetQueue", &S::GetQueue);
  ParseFor("ListQueues", &S::ListQueues);
  ParseFor("LockQueue", &S::LockQueue);
  ParseFor("UnlockQueue", &S::UnlockQueue);
  ParseFor("DeleteQueue", &S::DeleteQueue);
  ParseFor("Submit", &S::Submit);
  ParseFor("GetOperation", &S::GetOperation);
  ParseFor("WaitOperation", &S::WaitOperation);
  ParseFor("ListOperations", &S::ListOperations);
  ParseFor("CancelOperation", &S::CancelOperation);
  ParseFor("CreateEvent", &S::CreateEvent);
  ParseFor("SetEvent", &S::SetEvent);
  ParseFor("ResetEvent", &S::ResetEvent);
  ParseFor("DeleteEvent", &S::DeleteEvent);
  ParseFor("ListEvents", &S::ListEvents);
  ParseFor("ListKinds", &S::ListKinds);

  MarkMethodCallback(
      MethodIndex("WatchCompletions", v1::WatchCompletionsRequest::descriptor()),
      new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, v1::Notification>(
          [this](Ctx* ctx, const grpc::ByteBuffer* bytes)
              -> grpc::ServerWriteReactor<v1::Notification>* {
            auto client = ClientOf(ctx);
            v1::WatchCompletionsRequest request;
            Status parsed = client.ok() ? ParseRequest(*bytes, &request, client.value())
                                        : client.status();
            if (!parsed.ok()) return new RefusedWatch(parsed);
            return WatchCompletions(ctx, &request);
          }));

  MarkMethodCallback(
      MethodIndex("Session", v1::SessionRequest::descriptor()),
      new grpc::internal::CallbackBidiHandler<grpc::ByteBuffer, v1::SessionResponse>(
          [this](Ctx* ctx) { return OpenSession(ctx); }));
}

}  // namespace mfwq::server::rpc
