#include "mfwq/client/client.h"

#include "mfwq/client/metadata.h"
#include "remote_result.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace mfwq::client {
namespace {

using internal::NewRequestId;
using internal::ToAbsl;

constexpr const char* kClientMetadata = metadata::kClient;

}  // namespace

HRESULT HResultFromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return S_OK;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return E_INVALIDARG;
    case absl::StatusCode::kNotFound:
      return MF_E_NOT_FOUND;
    case absl::StatusCode::kResourceExhausted:
      return E_OUTOFMEMORY;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
      return MF_E_SHUTDOWN;
    default:
      return E_FAIL;
  }
}

// The Client's one WatchCompletions stream (its own thread), and the
// submissions waiting for their completion, by request id. It reconnects by
// itself; after each (re)connection, operations whose completion may have
// come while it was away are looked up with GetOperation.
class Client::Watcher {
 public:
  using Done = std::function<void(absl::StatusOr<v1::Completion>)>;
  using Pending = PendingSubmit;

  explicit Watcher(Client& client) : client_(client), thread_([this] { Run(); }) {}

  ~Watcher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      if (context_) context_->TryCancel();
    }
    cv_.notify_all();
    thread_.join();
    // What never completed is told so, locally.
    std::map<std::string, Pending> left;
    {
      std::lock_guard lock(mu_);
      left.swap(pending_);
    }
    for (auto& [request_id, p] : left) {
      v1::Completion c =
          internal::LocalCompletion(request_id, p.operation_id, MF_E_SHUTDOWN,
                                    "the client was destroyed before the operation completed");
      Deliver(std::move(p), std::move(c));
    }
  }

  // Waits until the stream is subscribed (so that no completion after this
  // is missed), up to `timeout`.
  bool WaitConnected(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return connected_ || stop_; }) && connected_;
  }

  // ALREADY_EXISTS if a submission with this request id is still pending.
  absl::Status Add(const std::string& request_id, Pending pending) {
    std::lock_guard lock(mu_);
    if (!pending_.emplace(request_id, std::move(pending)).second) {
      return absl::AlreadyExistsError("request_id: a submission with \"" + request_id +
                                      "\" is still waiting for its completion on this client");
    }
    if (pending_.size() == 1) cv_.notify_all();  // the stream is read again
    return absl::OkStatus();
  }
  // Submit answered: `completion` is set if it had completed already
  // (a deduplicated retry).
  void Accepted(const std::string& request_id, const v1::Operation& op) {
    std::optional<Pending> ready;
    {
      std::lock_guard lock(mu_);
      auto it = pending_.find(request_id);
      if (it == pending_.end()) return;  // delivered from the stream already
      it->second.operation_id = op.id();
      if (it->second.progress) by_operation_[op.id()] = request_id;
      if (op.has_completion()) {
        by_operation_.erase(op.id());
        ready = std::move(it->second);
        pending_.erase(it);
      }
    }
    if (ready) Deliver(std::move(*ready), op.completion());
  }
  // Submit refused: nothing will come.
  std::optional<Pending> Remove(const std::string& request_id) {
    std::lock_guard lock(mu_);
    auto it = pending_.find(request_id);
    if (it == pending_.end()) return std::nullopt;
    Pending p = std::move(it->second);
    pending_.erase(it);
    if (!p.operation_id.empty()) by_operation_.erase(p.operation_id);
    return p;
  }

  static void Deliver(Pending p, v1::Completion completion) {
    if (p.callback) {
      internal::InvokeWithCompletion(p.callback.get(), p.state.get(), std::move(completion));
    } else if (p.done) {
      p.done(std::move(completion));
    }
  }

 private:
  void Run() {
    std::chrono::milliseconds backoff(50);
    // Where the next stream starts: none yet, or after OUT_OF_RANGE: from now.
    std::optional<std::uint64_t> resume_after;
    for (;;) {
      auto context = client_.NewContext();
      context->set_deadline(std::chrono::system_clock::time_point::max());
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
        context_ = context.get();
      }
      v1::WatchCompletionsRequest request;
      request.set_include_progress(true);
      // A Session of this client reports its own operations.
      request.set_exclude_session_operations(true);
      if (resume_after) {
        request.set_after_sequence(*resume_after);
      } else {
        request.set_from_now(true);
      }
      auto reader = client_.stub_->WatchCompletions(context.get(), request);
      // The server answers with its metadata once the stream is subscribed.
      reader->WaitForInitialMetadata();
      // Subscribed at this sequence: resuming after it (rather than from
      // now) leaves no gap if this stream breaks before a completion comes.
      const auto& headers = context->GetServerInitialMetadata();
      auto at = headers.find(metadata::kSubscribed);
      const bool subscribed = at != headers.end();
      if (subscribed && !resume_after) {
        resume_after =
            std::strtoull(std::string(at->second.data(), at->second.size()).c_str(), nullptr, 10);
      }
      bool up;
      {
        std::lock_guard lock(mu_);
        up = subscribed && !stop_;
        connected_ = up;
      }
      cv_.notify_all();
      if (up) {
        // A stream from now on may have missed completions of operations
        // submitted before it: ask for them one by one.
        if (request.from_now()) CatchUp();
        backoff = std::chrono::milliseconds(50);
        v1::Notification n;
        while (AwaitPending() && reader->Read(&n)) {
          if (n.has_progress()) {
            Progress(n.progress());
            continue;
          }
          if (!n.has_completion()) continue;
          resume_after = n.sequence();
          std::optional<Pending> p = Remove(n.completion().request_id());
          if (p) Deliver(std::move(*p), std::move(*n.mutable_completion()));
        }
      }
      if (!up) context->TryCancel();  // not subscribed: do not wait for it
      const grpc::Status status = reader->Finish();
      // What it missed is no longer retained: from now on, and CatchUp asks
      // for the rest one by one.
      if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) resume_after.reset();
      std::unique_lock lock(mu_);
      connected_ = false;
      context_ = nullptr;
      if (stop_) return;
      cv_.wait_for(lock, backoff, [this] { return stop_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }

  // Waits until a submission waits for its completion; false once stopped.
  // The stream is read only while one does: gRPC's blocking reads in one
  // process take turns at polling its connections, so an idle reader here
  // would take a Session's messages off the socket and pass them on to the
  // Session's reader a thread hand-off later. Completions meanwhile (of
  // nothing pending) wait in the stream, and are skipped when it is read.
  bool AwaitPending() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
    return !stop_;
  }

  // To the submission's progress function, if it has one. Progress that
  // comes before Submit answered (the operation id is not known yet) is not
  // reported: progress is a hint, never retained or replayed.
  void Progress(const v1::Progress& progress) {
    std::function<void(const v1::Progress&)> report;
    {
      std::lock_guard lock(mu_);
      auto at = by_operation_.find(progress.operation_id());
      if (at == by_operation_.end()) return;
      auto it = pending_.find(at->second);
      if (it == pending_.end()) return;
      report = it->second.progress;
    }
    report(progress);
  }

  // Completions that may have come while the stream was away.
  void CatchUp() {
    std::vector<std::pair<std::string, std::string>> ids;  // (request id, operation id)
    {
      std::lock_guard lock(mu_);
      for (const auto& [request_id, p] : pending_) {
        if (!p.operation_id.empty()) ids.emplace_back(request_id, p.operation_id);
      }
    }
    for (const auto& [request_id, operation_id] : ids) {
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
      }
      v1::GetOperationRequest get;
      get.set_operation_id(operation_id);
      auto op = client_.GetOperation(get);
      v1::Completion completion;
      if (op.ok() && op->has_completion()) {
        completion = op->completion();
      } else if (op.status().code() == absl::StatusCode::kNotFound) {
        // Completed and no longer retained (or the server lost its journal).
        completion = internal::LocalCompletion(
            request_id, operation_id, MF_E_NOT_FOUND,
            "the server no longer has this operation: " + std::string(op.status().message()));
      } else {
        continue;  // not completed, or not known now: the stream brings it
      }
      std::optional<Pending> p = Remove(request_id);
      if (p) Deliver(std::move(*p), std::move(completion));
    }
  }

  Client& client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                       // guarded by mu_
  bool connected_ = false;                  // guarded by mu_
  grpc::ClientContext* context_ = nullptr;  // the stream's; guarded by mu_
  std::map<std::string, Pending> pending_;  // by request id; guarded by mu_
  // Request ids of pending submissions with a progress function, by
  // operation id; guarded by mu_.
  std::unordered_map<std::string, std::string> by_operation_;
  std::thread thread_;
};

std::unique_ptr<Client> Client::Connect(const std::string& target, ClientOptions options) {
  grpc::ChannelArguments args = options.channel_arguments;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive_time.count()));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto credentials = options.credentials ? options.credentials : grpc::InsecureChannelCredentials();
  auto channel = grpc::CreateCustomChannel(target, credentials, args);
  return std::unique_ptr<Client>(new Client(std::move(channel), std::move(options)));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      stub_(v1::WorkQueues::NewStub(channel_)) {}

Client::~Client() {
  std::unique_ptr<Watcher> watcher;
  {
    std::lock_guard lock(watcher_mu_);
    closing_ = true;  // submissions from callbacks run meanwhile are refused
    watcher = std::move(watcher_);
  }
  watcher.reset();
}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!options_.client_name.empty()) context->AddMetadata(kClientMetadata, options_.client_name);
  context->set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
  return context;
}

#define MFWQ_CLIENT_UNARY(Method, Request, Response)                        \
  absl::StatusOr<v1::Response> Client::Method(const v1::Request& request) { \
    auto context = NewContext();                                            \
    v1::Response response;                                                  \
    grpc::Status s = stub_->Method(context.get(), request, &response);      \
    if (!s.ok()) return ToAbsl(s);                                          \
    return response;                                                        \
  }

MFWQ_CLIENT_UNARY(CreateQueue, CreateQueueRequest, Queue)
MFWQ_CLIENT_UNARY(GetQueue, GetQueueRequest, Queue)
MFWQ_CLIENT_UNARY(ListQueues, ListQueuesRequest, ListQueuesResponse)
MFWQ_CLIENT_UNARY(LockQueue, LockQueueRequest, Queue)
MFWQ_CLIENT_UNARY(UnlockQueue, UnlockQueueRequest, Queue)
MFWQ_CLIENT_UNARY(DeleteQueue, DeleteQueueRequest, DeleteQueueResponse)
MFWQ_CLIENT_UNARY(Submit, SubmitRequest, SubmitResponse)
MFWQ_CLIENT_UNARY(GetOperation, GetOperationRequest, Operation)
MFWQ_CLIENT_UNARY(ListOperations, ListOperationsRequest, ListOperationsResponse)
MFWQ_CLIENT_UNARY(CancelOperation, CancelOperationRequest, CancelOperationResponse)
MFWQ_CLIENT_UNARY(CreateEvent, CreateEventRequest, Event)
MFWQ_CLIENT_UNARY(SetEvent, SetEventRequest, Event)
MFWQ_CLIENT_UNARY(ResetEvent, ResetEventRequest, Event)
MFWQ_CLIENT_UNARY(DeleteEvent, DeleteEventRequest, DeleteEventResponse)
MFWQ_CLIENT_UNARY(ListEvents, ListEventsRequest, ListEventsResponse)

#undef MFWQ_CLIENT_UNARY

absl::StatusOr<v1::Operation> Client::WaitOperation(const v1::WaitOperationRequest& request) {
  auto context = NewContext();
  context->set_deadline(std::chrono::system_clock::now() + options_.call_timeout +
                        std::chrono::seconds(request.timeout().seconds()));
  v1::Operation response;
  grpc::Status s = stub_->WaitOperation(context.get(), request, &response);
  if (!s.ok()) return ToAbsl(s);
  return response;
}

absl::StatusOr<v1::ListKindsResponse> Client::ListKinds() {
  auto context = NewContext();
  v1::ListKindsResponse response;
  grpc::Status s = stub_->ListKinds(context.get(), v1::ListKindsRequest(), &response);
  if (!s.ok()) return ToAbsl(s);
  return response;
}

absl::Status Client::StartSubmit(const v1::SubmitRequest& request, PendingSubmit pending) {
  Watcher* watcher;
  {
    std::lock_guard lock(watcher_mu_);
    if (closing_) return absl::CancelledError("the client is being destroyed");
    if (!watcher_) watcher_ = std::make_unique<Watcher>(*this);
    watcher = watcher_.get();  // lives until ~Client
  }
  // Subscribed first, so that the completion cannot slip by.
  if (!watcher->WaitConnected(options_.call_timeout)) {
    return absl::UnavailableError("completion stream: the server cannot be reached");
  }
  v1::SubmitRequest r = request;
  if (r.request_id().empty()) r.set_request_id(NewRequestId());
  if (absl::Status s = watcher->Add(r.request_id(), std::move(pending)); !s.ok()) return s;
  // Failures for want of the server are retried with the same request id:
  // the server runs the operation once whatever happens.
  absl::StatusOr<v1::SubmitResponse> response;
  std::chrono::milliseconds backoff(50);
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) {
      std::this_thread::sleep_for(backoff);  // between attempts at reaching the server
      backoff *= 2;
    }
    response = Submit(r);
    const absl::StatusCode code = response.status().code();
    if (response.ok() ||
        (code != absl::StatusCode::kUnavailable && code != absl::StatusCode::kDeadlineExceeded)) {
      break;
    }
  }
  if (!response.ok()) {
    // Unless its completion came meanwhile (then it was accepted after all
    // and its callback has run or will run), nothing will come.
    if (watcher->Remove(r.request_id())) return response.status();
    return absl::OkStatus();
  }
  watcher->Accepted(r.request_id(), response->operation());
  return absl::OkStatus();
}

HRESULT Client::BeginSubmit(const v1::SubmitRequest& request, IMFAsyncCallback* callback,
                            IUnknown* state, absl::Status* error) {
  if (callback == nullptr) return E_POINTER;
  PendingSubmit pending;
  pending.callback = ComPtr<IMFAsyncCallback>(callback);
  pending.state = ComPtr<IUnknown>(state);
  absl::Status s = StartSubmit(request, std::move(pending));
  if (error != nullptr) *error = s;
  return HResultFromStatus(s);
}

HRESULT Client::EndSubmit(IMFAsyncResult* result, v1::Completion* completion) {
  return internal::EndSubmitResult(result, completion);
}

void Client::SubmitThen(const v1::SubmitRequest& request,
                        std::function<void(absl::StatusOr<v1::Completion>)> done,
                        std::function<void(const v1::Progress&)> progress) {
  PendingSubmit pending;
  pending.done = done;
  pending.progress = std::move(progress);
  absl::Status s = StartSubmit(request, std::move(pending));
  if (!s.ok()) done(s);
}

std::future<absl::StatusOr<v1::Completion>> Client::SubmitAsync(const v1::SubmitRequest& request) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::Completion>>>();
  std::future<absl::StatusOr<v1::Completion>> future = promise->get_future();
  SubmitThen(request,
             [promise](absl::StatusOr<v1::Completion> c) { promise->set_value(std::move(c)); });
  return future;
}

}  // namespace mfwq::client
