// WorkQueuesService: mfwq.v1.WorkQueues on gRPC's callback API, a thin
// adapter over the server core: it checks requests, converts messages,
// tells the ClientRegistry who is calling, and streams what the
// CompletionHub hears. Everything that decides anything is in the core.
//
// Client identity: the `mfwq-client` request metadata (1 to 128 bytes of
// letters, digits, '.', '-', '_'); "anonymous" when absent
// (<mfwq/client/metadata.h> names them). A client sees its own operations
// and events only; queues are shared by all.
//
// Its files: service.cc (identity; queues, events, the catalog),
// operation_handlers.cc, wait_operation.cc, watch_reactor.cc and
// session_reactor.cc, with hub_stream.h and unary_call.h between them;
// parsed_methods.cc registers them all with gRPC to take their requests as
// bytes, parsed by the service (request_parse.h): a handler's request lives
// while the handler runs, its response until the call is finished.
//
// Threads: gRPC's callback threads run the handlers and reactions, which
// never block: Submit and Cancel are answered from the journal writer's
// thread (the table's callbacks), WaitOperation from the hub or an MF
// timer, the streams' writes started by whichever thread has news.
#ifndef MFWQ_SERVER_RPC_SERVICE_H_
#define MFWQ_SERVER_RPC_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <mfwq/client/metadata.h>

#include "client_registry.h"
#include "completion_hub.h"
#include "event_table.h"
#include "mfwq/v1/mfwq.grpc.pb.h"
#include "operation_kind.h"
#include "operation_table.h"
#include "queue_table.h"

namespace mfwq::server::rpc {

struct ServiceOptions {
  // Notifications a stream may have waiting to be sent before it is ended
  // with RESOURCE_EXHAUSTED (resumable).
  std::size_t max_buffered_notifications = 10000;
  // Requests in one SubmitBatch or CancelBatch.
  std::size_t max_batch = 1000;
  // The server's message size limit: a session's notification batches stay
  // within half of it.
  std::size_t max_message_bytes = 4 << 20;
};

// The core the service adapts. Everything must outlive the service.
struct ServiceCore {
  const KindRegistry& kinds;
  QueueTable& queues;
  EventTable& events;
  OperationTable& operations;
  CompletionHub& hub;
  ClientRegistry& clients;
};

class WorkQueuesService final : public ::mfwq::v1::WorkQueues::CallbackService {
 public:
  static constexpr const char* kClientMetadata = metadata::kClient;
  static constexpr const char* kAnonymous = metadata::kAnonymous;
  // WaitOperation's longest wait.
  static constexpr std::int64_t kMaxWaitMs = 3600 * 1000;
  // In WatchCompletions' response headers, once the stream is subscribed.
  static constexpr const char* kSubscribedMetadata = metadata::kSubscribed;

  WorkQueuesService(ServiceCore core, ServiceOptions options);

  // The caller's identity, from its metadata.
  static StatusOr<std::string> ClientOf(const grpc::CallbackServerContext* context);

  using Ctx = grpc::CallbackServerContext;
  using Unary = grpc::ServerUnaryReactor;
  grpc::ServerUnaryReactor* CreateQueue(Ctx*, const v1::CreateQueueRequest*, v1::Queue*) override;
  Unary* GetQueue(Ctx*, const v1::GetQueueRequest*, v1::Queue*) override;
  Unary* ListQueues(Ctx*, const v1::ListQueuesRequest*, v1::ListQueuesResponse*) override;
  Unary* LockQueue(Ctx*, const v1::LockQueueRequest*, v1::Queue*) override;
  Unary* UnlockQueue(Ctx*, const v1::UnlockQueueRequest*, v1::Queue*) override;
  Unary* DeleteQueue(Ctx*, const v1::DeleteQueueRequest*, v1::DeleteQueueResponse*) override;
  Unary* Submit(Ctx*, const v1::SubmitRequest*, v1::SubmitResponse*) override;
  Unary* GetOperation(Ctx*, const v1::GetOperationRequest*, v1::Operation*) override;
  Unary* WaitOperation(Ctx*, const v1::WaitOperationRequest*, v1::Operation*) override;
  Unary* ListOperations(Ctx*, const v1::ListOperationsRequest*,
                        v1::ListOperationsResponse*) override;
  Unary* CancelOperation(Ctx*, const v1::CancelOperationRequest*,
                         v1::CancelOperationResponse*) override;
  grpc::ServerWriteReactor<v1::Notification>* WatchCompletions(
      Ctx*, const v1::WatchCompletionsRequest*) override;
  Unary* CreateEvent(Ctx*, const v1::CreateEventRequest*, v1::Event*) override;
  Unary* SetEvent(Ctx*, const v1::SetEventRequest*, v1::Event*) override;
  Unary* ResetEvent(Ctx*, const v1::ResetEventRequest*, v1::Event*) override;
  Unary* DeleteEvent(Ctx*, const v1::DeleteEventRequest*, v1::DeleteEventResponse*) override;
  Unary* ListEvents(Ctx*, const v1::ListEventsRequest*, v1::ListEventsResponse*) override;
  Unary* ListKinds(Ctx*, const v1::ListKindsRequest*, v1::ListKindsResponse*) override;

  // Finishes a call (or one item of a batch) with its status; any thread.
  using Finisher = std::function<void(const Status&)>;

  // The requests of a SubmitBatch, accepted together (one journal write);
  // `done` gets the answers at the same indexes, their views without
  // parameters when `session` (non-zero) submitted them.
  void SubmitMany(const std::string& client,
                  const google::protobuf::RepeatedPtrField<v1::SubmitRequest>& requests,
                  std::uint64_t session, OperationTable::SubmitDone done);
  // One id of a CancelBatch, or a unary CancelOperation: `out` filled, then `done`.
  void CancelOne(const std::string& client, const std::string& id,
                 v1::CancelOperationResponse* out, Finisher done);

  const ServiceCore& core() const { return core_; }
  const ServiceOptions& options() const { return options_; }
  std::uint64_t NewSessionId() { return next_session_.fetch_add(1); }

 private:
  // Registers every method to take its request as bytes (parsed_methods.cc).
  void ParseRequests();
  template <typename Req, typename Resp>
  void ParseFor(const char* name, Unary* (WorkQueuesService::*handler)(Ctx*, const Req*, Resp*));
  // A Session, which parses each batch it reads.
  grpc::ServerBidiReactor<grpc::ByteBuffer, v1::SessionResponse>* OpenSession(Ctx*);

  template <typename Base>
  class HubStream;
  class WatchReactor;
  class SessionReactor;

  // Runs `body` for the identified caller and finishes the call with its status.
  template <typename Body>
  Unary* Run(Ctx* context, Body&& body);
  // Runs `body(client, finish)`, which finishes the call when it can.
  template <typename Body>
  Unary* RunAsync(Ctx* context, Body&& body);
  void EventToProto(const std::string& client, const EventInfo& info, v1::Event* out) const;

  const ServiceCore core_;
  const ServiceOptions options_;
  std::atomic<std::uint64_t> next_session_{1};
};

}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_SERVICE_H_
