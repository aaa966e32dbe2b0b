// mfwq::client::Session: submissions, cancellations and completions over
// one bidirectional Session stream, in batches, for throughput.
//
//   auto session = client->OpenSession();
//   for (...) session->SubmitThen(request, [](absl::StatusOr<v1::Completion> c) { ... });
//   absl::Status ended = session->Close();  // every callback has run
//
// Submissions are queued and a writer thread sends them as SubmitBatch
// messages: while one batch is on its way, the next one fills up, so a busy
// session sends few large messages and an idle one sends each submission at
// once. Completions (and progress) come back on the same stream and are
// delivered on the session's reader thread (the function forms; Submit
// reads its own while the reader thread is idle) or on the
// local MF work queue the callback's GetParameters names (BeginSubmit).
//
// Nothing is lost or run twice when the stream breaks (a server restart, a
// network cut, a session that fell behind): the session reconnects with
// backoff and sends again every submission not yet completed, with its
// request id; the server answers those it already has from what it has (a
// completion, or a watch on the running operation) instead of running them
// again. A session that cannot reconnect for `reconnect_timeout` gives up:
// what is outstanding completes locally with UNAVAILABLE (the remote
// operations may still run).
//
// Thread-safe. A Session must be destroyed before the Client it came from.
#ifndef MFWQ_CLIENT_SESSION_H_
#define MFWQ_CLIENT_SESSION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include <absl/status/statusor.h>

#include <mfwq/mfapi.h>

#include "mfwq/v1/mfwq.pb.h"

namespace mfwq::client {

class Client;

struct SessionOptions {
  // Submissions per SubmitBatch message, at most 1000 (the server's limit).
  std::size_t max_batch = 500;
  // Bytes per SubmitBatch message: keep it within the server's
  // max_message_bytes (4 MiB by default). A single request larger than this
  // is refused locally (INVALID_ARGUMENT).
  std::size_t max_batch_bytes = 2 << 20;
  // Submissions not yet completed; beyond this, SubmitThen and friends wait
  // for room (except on the session's own reader thread, which never
  // waits). Keep it within the server's max_inflight_per_client.
  std::size_t max_outstanding = 5000;
  // How long the session keeps trying to reconnect before it gives up.
  std::chrono::milliseconds reconnect_timeout{30000};
};

// Counters, for benchmarks and logs.
struct SessionStats {
  std::uint64_t submitted = 0;      // submissions accepted by SubmitThen & co.
  std::uint64_t completed = 0;      // callbacks delivered (any status)
  std::uint64_t batches = 0;        // SubmitBatch messages written
  std::uint64_t requests_sent = 0;  // submissions written, resends included
  std::uint64_t reconnects = 0;     // streams opened after the first
};

class Session {
 public:
  using Done = std::function<void(absl::StatusOr<v1::Completion>)>;
  using OnProgress = std::function<void(const v1::Progress&)>;

  // Without Close: stops at once. Callbacks of submissions still
  // outstanding run with MF_E_SHUTDOWN (the function forms: CANCELLED);
  // the remote operations go on.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Queues `request` for the next batch (giving it a request id if it has
  // none) and returns. `done` runs once: with the completion, or with the
  // status of a refusal (the server's, as a unary Submit would return it;
  // ALREADY_EXISTS for a request id still outstanding in this session;
  // FAILED_PRECONDITION once Close has begun). `progress`, if given, runs
  // with the operation's progress reports (hints: one missed while the
  // stream reconnects is not sent again). Both run on the session's reader
  // thread (or a thread in Submit reading for it), or the caller's for a
  // local refusal. Returns the request id, by which Cancel knows it.
  std::string SubmitThen(const v1::SubmitRequest& request, Done done, OnProgress progress = {});
  // Submits and waits for the outcome (what `done` would be given). While
  // it waits, if the reader thread is idle, this thread reads the stream
  // itself, so the completion reaches it without a hand-off between
  // threads; callbacks of other submissions that arrive meanwhile then run
  // on it. Not from a callback of this session (it would wait for itself).
  absl::StatusOr<v1::Completion> Submit(const v1::SubmitRequest& request);
  std::future<absl::StatusOr<v1::Completion>> SubmitAsync(const v1::SubmitRequest& request);

  // The Media Foundation way: returns S_OK once queued (E_POINTER without a
  // callback, MF_E_SHUTDOWN once Close has begun, E_INVALIDARG for a
  // request id still outstanding). Invoke then runs on the MF work queue
  // the callback's GetParameters names, with an IMFAsyncResult whose status
  // and bytes are the remote ones (a refusal's status is its HRESULT, see
  // HResultFromStatus) and whose state is `state`.
  HRESULT BeginSubmit(const v1::SubmitRequest& request, IMFAsyncCallback* callback,
                      IUnknown* state);
  // Works on the results of both Session and Client.
  static HRESULT EndSubmit(IMFAsyncResult* result, v1::Completion* completion = nullptr);

  // Cancels the outstanding submission with this request id, on the stream
  // (once the server has answered it, if it has not yet). The answer says
  // whether it was cancelled (false: it completed first); the completion,
  // MF_E_OPERATION_CANCELLED, comes to the submission's own callback.
  // NOT_FOUND when no submission with this id is outstanding here.
  std::future<absl::StatusOr<v1::CancelOperationResponse>> Cancel(const std::string& request_id);

  // Sends what is queued, half-closes, and waits until every submission has
  // had its callback and the server has ended the stream. Returns how the
  // stream ended (OK, or why the session gave up). Further submissions and
  // cancels are refused. Not from a callback of this session (it would wait for
  // itself).
  absl::Status Close();

  SessionStats stats() const;

 private:
  friend class Client;
  struct State;
  Session(Client& client, SessionOptions options);
  std::unique_ptr<State> state_;
};

}  // namespace mfwq::client

#endif  // MFWQ_CLIENT_SESSION_H_
