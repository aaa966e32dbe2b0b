// mfwq::client::Client: a connection to an mfwq-server (mfwq.v1.WorkQueues).
//
// Every remote call is a plain blocking call returning absl::StatusOr: the
// gRPC status of the call (INVALID_ARGUMENT naming the field, NOT_FOUND,
// RESOURCE_EXHAUSTED naming the limit, UNAVAILABLE when the server cannot
// be reached, ...). An operation's own outcome is never a call status: it
// is the HRESULT in its completion.
//
// Remote work the Media Foundation way:
//
//   client->BeginSubmit(request, callback, state);       // returns at once
//   ... callback->Invoke(result) runs on the local work queue its
//   GetParameters names, once the remote operation completes; result is an
//   IMFAsyncResult (an MFASYNCRESULT) whose hrStatusResult and
//   dwBytesTransferred are the remote ones ...
//   client->EndSubmit(result, &completion);              // in Invoke: all of it
//
// or, for code that is not COM-style, SubmitAsync (a future) and
// SubmitThen (a function). Completions come from one WatchCompletions
// stream per Client that reconnects by itself; submissions get a request id
// (unless they have one), so a retry never runs an operation twice.
//
// REQUIRES for BeginSubmit: MFStartup (the callback runs on a local MF
// work queue). Thread-safe.
#ifndef MFWQ_CLIENT_CLIENT_H_
#define MFWQ_CLIENT_CLIENT_H_

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <absl/status/statusor.h>
#include <grpcpp/grpcpp.h>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "mfwq/client/session.h"
#include "mfwq/v1/mfwq.grpc.pb.h"

namespace mfwq::client {

namespace v1 = ::mfwq::v1;

struct ClientOptions {
  // Sent as the `mfwq-client` metadata: the server keys operations, events
  // and queue locks by it. Empty: "anonymous".
  std::string client_name;
  // Default: insecure (plain TCP).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // The deadline of each blocking call.
  std::chrono::milliseconds call_timeout{30000};
  // Keepalive pings on idle connections, so that long idle streams survive
  // proxies and NAT.
  std::chrono::milliseconds keepalive_time{20000};
  // Channel arguments to start from (the keepalive settings are added).
  grpc::ChannelArguments channel_arguments;
};

class Session;
struct SessionOptions;

class Client {
 public:
  // The channel connects lazily: an unreachable server shows as
  // UNAVAILABLE on the first call.
  static std::unique_ptr<Client> Connect(const std::string& target, ClientOptions options = {});
  // Stops the completion stream. Callbacks of operations still pending are
  // invoked with MF_E_SHUTDOWN (a local status: the remote operations go on).
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // --- Blocking calls, one per RPC of mfwq.v1.WorkQueues --------------------
  absl::StatusOr<v1::Queue> CreateQueue(const v1::CreateQueueRequest& request);
  absl::StatusOr<v1::Queue> GetQueue(const v1::GetQueueRequest& request);
  absl::StatusOr<v1::ListQueuesResponse> ListQueues(const v1::ListQueuesRequest& request);
  absl::StatusOr<v1::Queue> LockQueue(const v1::LockQueueRequest& request);
  absl::StatusOr<v1::Queue> UnlockQueue(const v1::UnlockQueueRequest& request);
  absl::StatusOr<v1::DeleteQueueResponse> DeleteQueue(const v1::DeleteQueueRequest& request);
  absl::StatusOr<v1::SubmitResponse> Submit(const v1::SubmitRequest& request);
  absl::StatusOr<v1::Operation> GetOperation(const v1::GetOperationRequest& request);
  // The call's deadline is stretched to cover request.timeout.
  absl::StatusOr<v1::Operation> WaitOperation(const v1::WaitOperationRequest& request);
  absl::StatusOr<v1::ListOperationsResponse> ListOperations(
      const v1::ListOperationsRequest& request);
  absl::StatusOr<v1::CancelOperationResponse> CancelOperation(
      const v1::CancelOperationRequest& request);
  absl::StatusOr<v1::Event> CreateEvent(const v1::CreateEventRequest& request);
  absl::StatusOr<v1::Event> SetEvent(const v1::SetEventRequest& request);
  absl::StatusOr<v1::Event> ResetEvent(const v1::ResetEventRequest& request);
  absl::StatusOr<v1::DeleteEventResponse> DeleteEvent(const v1::DeleteEventRequest& request);
  absl::StatusOr<v1::ListEventsResponse> ListEvents(const v1::ListEventsRequest& request);
  absl::StatusOr<v1::ListKindsResponse> ListKinds();

  // --- Remote operations, completed locally ----------------------------------

  // Submits `request` (given a request id if it has none) and returns: S_OK
  // once the server accepted it, or the HRESULT of why not (E_INVALIDARG
  // for a bad request, MF_E_SHUTDOWN if the server cannot be reached, ...;
  // `error`, if given, gets the call status). A request id still pending on
  // this client is refused (ALREADY_EXISTS). An operation the server no
  // longer retains when the client catches up after a disconnection
  // completes with MF_E_NOT_FOUND. When the operation completes,
  // `callback`'s Invoke runs on the MF work queue its GetParameters names
  // with an IMFAsyncResult whose GetStatus and dwBytesTransferred are the
  // remote ones and whose GetState is `state`.
  HRESULT BeginSubmit(const v1::SubmitRequest& request, IMFAsyncCallback* callback,
                      IUnknown* state, absl::Status* error = nullptr);
  // From the result handed to Invoke: its status (the remote HRESULT) and,
  // if `completion` is given, the whole completion.
  HRESULT EndSubmit(IMFAsyncResult* result, v1::Completion* completion = nullptr);

  // The same without COM: `done` runs with the completion, or with the call
  // status if the server refused it. It runs on the client's completion
  // thread (or the caller's, for a refusal): it must not block waiting for
  // another completion of the same client, nor destroy the client.
  // `progress`, if given, runs on the completion thread with each progress
  // report of a kind that makes them (file kinds, for example), from when
  // Submit has answered until the completion; reports are hints, not
  // retained: one missed while the stream reconnects is not sent again.
  void SubmitThen(const v1::SubmitRequest& request,
                  std::function<void(absl::StatusOr<v1::Completion>)> done,
                  std::function<void(const v1::Progress&)> progress = {});
  std::future<absl::StatusOr<v1::Completion>> SubmitAsync(const v1::SubmitRequest& request);

  // A bidirectional Session stream over this client's channel, for
  // throughput: submissions are sent in batches. See session.h. The
  // Session must be destroyed before the Client.
  std::unique_ptr<Session> OpenSession(SessionOptions options = {});

  v1::WorkQueues::Stub& stub() { return *stub_; }
  // A context with this client's metadata and call deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

 private:
  class Watcher;
  // A submission waiting for its completion.
  struct PendingSubmit {
    ComPtr<IMFAsyncCallback> callback;  // the MF way, or
    ComPtr<IUnknown> state;
    std::function<void(absl::StatusOr<v1::Completion>)> done;  // a function
    std::function<void(const v1::Progress&)> progress;         // optional
    std::string operation_id;  // once Submit answered
  };

  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);
  // Connects the completion stream (once), then submits.
  absl::Status StartSubmit(const v1::SubmitRequest& request, PendingSubmit pending);

  const ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkQueues::Stub> stub_;
  std::mutex watcher_mu_;
  std::unique_ptr<Watcher> watcher_;  // started by the first submission; guarded by watcher_mu_
  bool closing_ = false;              // guarded by watcher_mu_
};

// The conversion of a call status to the HRESULT BeginSubmit returns.
HRESULT HResultFromStatus(const absl::Status& status);

}  // namespace mfwq::client

#endif  // MFWQ_CLIENT_CLIENT_H_
