#include "mfwq/client/session.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <grpcpp/grpcpp.h>

#include <mfwq/com_ptr.h>

#include "mfwq/client/client.h"
#include "remote_result.h"

namespace mfwq::client {
namespace {

// A batch item's refusal as the server sent it: what a unary call would
// have returned. The one place the SDK reads a CallError.
absl::Status StatusFromCallError(const v1::CallError& error) {
  return absl::Status(static_cast<absl::StatusCode>(error.code()), error.message());
}

using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<v1::SessionRequest, v1::SessionResponse>;

// Stream endings after which the session reconnects and sends again what
// is outstanding: the server went away or restarted, the network broke, or
// the session fell behind. Anything else is an answer, given to everything
// outstanding.
bool Retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct Session::State {
  struct PendingCancel {
    std::string operation_id;
    std::promise<absl::StatusOr<v1::CancelOperationResponse>> answer;
  };
  // A submission not yet completed.
  struct Entry {
    // Never changed once added; shared with a batch being written, which
    // sends it from here rather than from a copy.
    std::shared_ptr<const v1::SubmitRequest> request;
    std::size_t bytes = 0;    // its serialized size
    std::uint64_t order = 0;  // submissions are (re)sent in this order
    Done done;
    OnProgress progress;
    ComPtr<IMFAsyncCallback> callback;
    ComPtr<IUnknown> state;
    std::string operation_id;  // once the server answered
    // Cancel asked before the server answered: sent once it has.
    std::vector<std::shared_ptr<PendingCancel>> cancels_waiting;
  };
  // A batch written and not yet answered.
  struct Sent {
    std::vector<std::uint64_t> submits;                   // a SubmitBatch (by order), or
    std::vector<std::shared_ptr<PendingCancel>> cancels;  // a CancelBatch
  };
  // Something to deliver once the lock is released.
  struct Delivery {
    Entry entry;
    absl::StatusOr<v1::Completion> outcome;
  };

  State(Client& c, SessionOptions o) : client(c), options(std::move(o)) {
    options.max_batch = std::clamp<std::size_t>(options.max_batch, 1, 1000);
    options.max_outstanding = std::max<std::size_t>(options.max_outstanding, 1);
    options.max_batch_bytes = std::max<std::size_t>(options.max_batch_bytes, 1024);
  }

  Client& client;
  SessionOptions options;

  mutable std::mutex mu;
  // Each wakes only those with something to do: a wake-up of a thread
  // that finds nothing costs the waker a system call and the machine a
  // context switch, on every message.
  std::condition_variable write_wake;  // the writer, when WritableLocked()
  std::condition_variable wake;        // submitters waiting for room, Close, a write's end
  std::condition_variable read_wake;   // the reader, waiting for something to read for
  // Outstanding submissions by Entry::order; their request ids are
  // by_request's keys, which view each entry's own request (not copied).
  absl::flat_hash_map<std::uint64_t, Entry> entries;
  absl::flat_hash_map<std::string_view, std::uint64_t> by_request;  // order by request id
  absl::flat_hash_map<std::string, std::uint64_t> by_operation;     // order by operation id
  std::deque<std::uint64_t> to_send;                                // orders
  std::deque<std::shared_ptr<PendingCancel>> cancels_to_send;
  std::deque<Sent> sent;
  std::uint64_t next_order = 0;
  std::size_t cancels_waiting = 0;  // in entries' cancels_waiting, all told
  SessionStats stats;

  grpc::ClientContext* live_context = nullptr;  // the current stream's
  Stream* stream = nullptr;
  bool stream_up = false;    // the writer may write on `stream`
  bool writing = false;      // the writer is in Write or WritesDone
  bool writes_done = false;  // WritesDone sent on the current stream
  bool closing = false;      // Close has begun: nothing new is taken
  bool stopping = false;     // the destructor: stop at once
  bool dead = false;         // the reader is ending: nothing more is taken
  bool finished = false;     // the reader has ended; `ending` says how
  absl::Status ending;
  std::thread::id reader_id;
  // Who reads the stream: the reader thread, or a caller of Submit waiting
  // for its own completion, which then reaches it without a hand-off. One
  // at a time; a caller takes it only from an idle reader thread.
  bool reader_reading = true;   // the reader thread is past AwaitReading
  bool caller_reading = false;  // a caller of Submit reads, on `caller_reader`
  std::thread::id caller_reader;
  bool read_broken = false;  // that caller saw the stream end: the reader takes over

  std::thread reader;
  std::thread writer;
  std::once_flag joined;
  void Join() {
    std::call_once(joined, [this] {
      reader.join();
      writer.join();
    });
  }

  // --- Both threads --------------------------------------------------------

  // Everything outstanding, to be told `outcome` (the lock is held).
  std::vector<Delivery> TakeAllLocked(const absl::Status& outcome) {
    std::vector<Delivery> out;
    for (auto& [id, e] : entries) {
      for (auto& c : e.cancels_waiting) c->answer.set_value(outcome);
      cancels_waiting -= e.cancels_waiting.size();
      e.cancels_waiting.clear();
      out.push_back({std::move(e), outcome});
    }
    by_request.clear();
    entries.clear();
    by_operation.clear();
    to_send.clear();
    for (Sent& s : sent) {
      for (auto& c : s.cancels) c->answer.set_value(outcome);
    }
    sent.clear();
    for (auto& c : cancels_to_send) c->answer.set_value(outcome);
    cancels_to_send.clear();
    std::sort(out.begin(), out.end(),
              [](const Delivery& a, const Delivery& b) { return a.entry.order < b.entry.order; });
    return out;
  }

  static void Deliver(std::vector<Delivery>& deliveries) {
    for (Delivery& d : deliveries) {
      Entry& e = d.entry;
      if (e.callback) {
        v1::Completion completion;
        if (d.outcome.ok()) {
          completion = std::move(*d.outcome);
        } else {
          completion = internal::LocalCompletion(e.request->request_id(), e.operation_id,
                                                 HResultFromStatus(d.outcome.status()),
                                                 std::string(d.outcome.status().message()));
        }
        internal::InvokeWithCompletion(e.callback.get(), e.state.get(), std::move(completion));
      } else if (e.done) {
        e.done(std::move(d.outcome));
      }
    }
    deliveries.clear();
  }

  // Removes a submission that has its outcome (the lock is held).
  void Finish(absl::flat_hash_map<std::uint64_t, Entry>::iterator it,
              absl::StatusOr<v1::Completion> outcome, std::vector<Delivery>& out) {
    if (!it->second.operation_id.empty()) by_operation.erase(it->second.operation_id);
    by_request.erase(it->second.request->request_id());
    // Asked to cancel before the answer came, and it ended first.
    for (auto& c : it->second.cancels_waiting) c->answer.set_value(v1::CancelOperationResponse());
    cancels_waiting -= it->second.cancels_waiting.size();
    it->second.cancels_waiting.clear();
    out.push_back({std::move(it->second), std::move(outcome)});
    entries.erase(it);
    ++stats.completed;
  }

  // --- The writer thread ------------------------------------------------------

  // Everything is answered and the caller is closing: half-close.
  bool ReadyToHalfCloseLocked() const {
    return closing && to_send.empty() && cancels_to_send.empty() && cancels_waiting == 0;
  }

  // Whether there is something for the writer to do on the current stream.
  bool WritableLocked() const {
    if (!stream_up || writes_done || writing) return false;
    return !to_send.empty() || !cancels_to_send.empty() || ReadyToHalfCloseLocked();
  }

  // Wakes the writer if it has something to do (the lock is held).
  void WakeWriterLocked() {
    if (stopping || finished || WritableLocked()) write_wake.notify_one();
  }

  void Write() {
    std::unique_lock lock(mu);
    for (;;) {
      write_wake.wait(lock, [this] { return stopping || finished || WritableLocked(); });
      if (stopping || finished) return;
      WriteLocked(lock);
    }
  }

  // Writes one batch (cancels first), or half-closes. REQUIRES: `lock`
  // holds mu and WritableLocked(); holds it again on return.
  void WriteLocked(std::unique_lock<std::mutex>& lock) {
    Stream* s = stream;
    v1::SessionRequest message;
    // The requests `message` borrows (it must not free them): held until
    // it is written, whatever becomes of their entries meanwhile.
    std::vector<std::shared_ptr<const v1::SubmitRequest>> lent;
    if (!cancels_to_send.empty()) {
      Sent batch;
      while (!cancels_to_send.empty() && batch.cancels.size() < options.max_batch) {
        message.mutable_cancel()->add_operation_ids(cancels_to_send.front()->operation_id);
        batch.cancels.push_back(std::move(cancels_to_send.front()));
        cancels_to_send.pop_front();
      }
      sent.push_back(std::move(batch));
    } else if (!to_send.empty()) {
      Sent batch;
      auto* requests = message.mutable_submit()->mutable_requests();
      std::size_t bytes = 0;
      while (!to_send.empty() && batch.submits.size() < options.max_batch) {
        auto it = entries.find(to_send.front());
        if (it != entries.end()) {
          // Within the message size (each request is at most half of it).
          const std::size_t size = it->second.bytes + 8;
          if (!batch.submits.empty() && bytes + size > options.max_batch_bytes) break;
          bytes += size;
          lent.push_back(it->second.request);
          requests->UnsafeArenaAddAllocated(const_cast<v1::SubmitRequest*>(lent.back().get()));
          batch.submits.push_back(it->first);
        }
        to_send.pop_front();
      }
      if (batch.submits.empty()) return;
      stats.requests_sent += batch.submits.size();
      ++stats.batches;
      sent.push_back(std::move(batch));
    } else {
      // Closing and everything sent: the server ends the stream once it
      // has reported every operation.
      writing = writes_done = true;
      lock.unlock();
      s->WritesDone();
      lock.lock();
      writing = false;
      wake.notify_all();
      WakeWriterLocked();
      return;
    }
    writing = true;
    lock.unlock();
    const bool ok = s->Write(message);
    if (!lent.empty()) {
      auto* requests = message.mutable_submit()->mutable_requests();
      while (!requests->empty()) requests->UnsafeArenaReleaseLast();  // given back, not freed
    }
    lent.clear();
    lock.lock();
    writing = false;
    // A failed write means the stream is over: the reader sees it end,
    // and opens the next one.
    if (!ok) stream_up = false;
    wake.notify_all();
    WakeWriterLocked();
  }

  // --- The reader thread ------------------------------------------------------

  void Read() {
    std::chrono::milliseconds backoff(50);
    // Since when no stream has worked (min() while one does).
    Clock::time_point down_since = Clock::time_point::min();
    bool first = true;
    for (;;) {
      auto context = client.NewContext();
      context->set_deadline(std::chrono::system_clock::time_point::max());
      std::unique_ptr<Stream> s;
      {
        std::unique_lock lock(mu);
        if (stopping) {
          lock.unlock();
          return End(absl::CancelledError("the session was destroyed"));
        }
        live_context = context.get();
      }
      s = client.stub().Session(context.get());
      {
        std::lock_guard lock(mu);
        stream = s.get();
        stream_up = true;
        read_broken = false;
        writes_done = false;
        if (!first) ++stats.reconnects;
        first = false;
        // Everything outstanding goes (again) in submission order, with
        // its request id: the server answers those it has from what it
        // has, and the answers of the last stream are not coming.
        std::vector<std::uint64_t> order;
        order.reserve(entries.size());
        for (const auto& [o, e] : entries) order.push_back(o);
        std::sort(order.begin(), order.end());
        to_send.assign(order.begin(), order.end());
        for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
          for (auto c = it->cancels.rbegin(); c != it->cancels.rend(); ++c) {
            cancels_to_send.push_front(std::move(*c));
          }
        }
        sent.clear();
      }
      wake.notify_all();
      write_wake.notify_one();

      v1::SessionResponse response;
      std::vector<Delivery> deliveries;
      while (AwaitReading() && s->Read(&response)) {
        down_since = Clock::time_point::min();
        backoff = std::chrono::milliseconds(50);
        Handle(response, deliveries);
        Deliver(deliveries);
      }
      {
        std::unique_lock lock(mu);
        stream_up = false;
        wake.wait(lock, [this] { return !writing; });
        stream = nullptr;
        live_context = nullptr;
      }
      const grpc::Status status = s->Finish();
      std::unique_lock lock(mu);
      if (stopping) {
        lock.unlock();
        return End(absl::CancelledError("the session was destroyed"));
      }
      if (status.ok() || !Retryable(status.error_code())) {
        // Ended by the server: after Close, once everything was reported;
        // or refused (INVALID_ARGUMENT, PERMISSION_DENIED, ...).
        absl::Status outcome = internal::ToAbsl(status);
        if (status.ok() && !entries.empty()) {
          outcome =
              absl::InternalError("the server ended the session with " +
                                  std::to_string(entries.size()) + " submissions not reported");
        }
        dead = true;  // callbacks run below cannot add what nothing would send
        std::vector<Delivery> left = TakeAllLocked(
            outcome.ok() ? absl::FailedPreconditionError("session: closed before this was sent")
                         : outcome);
        lock.unlock();
        Deliver(left);
        return End(outcome);
      }
      if (down_since == Clock::time_point::min()) down_since = Clock::now();
      if (Clock::now() - down_since > options.reconnect_timeout) {
        absl::Status gave_up =
            absl::UnavailableError("session: no stream to the server for " +
                                   std::to_string(options.reconnect_timeout.count()) +
                                   " ms; last: " + status.error_message());
        dead = true;
        std::vector<Delivery> left = TakeAllLocked(gave_up);
        lock.unlock();
        Deliver(left);
        return End(gave_up);
      }
      wake.wait_for(lock, backoff, [this] { return stopping; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }

  // Waits until there is something to read for: a submission outstanding,
  // a batch or cancel unanswered, or the end of the stream after Close.
  // False once destroyed (the stream is cancelled), or when a caller of
  // Submit reading for it saw the stream end. An idle session does
  // not read: gRPC's blocking reads in one process take turns at polling
  // its connections, and an idle reader would take another stream's
  // messages (the Client's completions, another Session's) and pass them
  // to their reader a thread hand-off later.
  bool AwaitReading() {
    std::unique_lock lock(mu);
    reader_reading = false;
    read_wake.wait(lock, [this] { return !caller_reading && ReaderWantedLocked(); });
    // The reader thread has the stream from here, the end of a stream and
    // the opening of the next included, until it waits here again.
    reader_reading = true;
    return !stopping && !read_broken;
  }

  // Whether the reader thread has something to do: read for what is
  // outstanding, or end the stream (the lock is held).
  bool ReaderWantedLocked() const {
    return stopping || read_broken || closing || !entries.empty() || !sent.empty();
  }

  // Whether this thread reads the stream now (the lock is held).
  bool ReadingThreadLocked() const {
    const std::thread::id self = std::this_thread::get_id();
    return self == reader_id || (caller_reading && self == caller_reader);
  }

  // A caller of Submit holding the read: reads until `done` is ready (or
  // the stream ends, which the reader thread then deals with), delivering
  // whatever comes meanwhile, then gives the read back.
  void ReadUntil(const std::future<absl::StatusOr<v1::Completion>>& done) {
    v1::SessionResponse response;
    std::vector<Delivery> deliveries;
    while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      Stream* s;
      {
        std::lock_guard lock(mu);
        if (stopping || !stream_up || stream == nullptr) break;
        s = stream;
      }
      if (!s->Read(&response)) {
        std::lock_guard lock(mu);
        read_broken = true;
        break;
      }
      Handle(response, deliveries);
      Deliver(deliveries);
    }
    bool reader_needed;
    {
      std::lock_guard lock(mu);
      caller_reading = false;
      reader_needed = ReaderWantedLocked();
    }
    if (reader_needed) read_wake.notify_one();
  }

  void End(absl::Status how) {
    std::lock_guard lock(mu);
    finished = true;
    ending = std::move(how);
    wake.notify_all();
    write_wake.notify_one();
  }

  void Handle(v1::SessionResponse& response, std::vector<Delivery>& out) {
    std::vector<std::pair<OnProgress, v1::Progress>> progress;
    {
      std::lock_guard lock(mu);
      if (response.has_submitted()) {
        if (sent.empty() || sent.front().submits.empty()) return;  // not ours to answer
        Sent batch = std::move(sent.front());
        sent.pop_front();
        auto& results = *response.mutable_submitted()->mutable_results();
        for (int i = 0; i < results.size() && i < static_cast<int>(batch.submits.size()); ++i) {
          auto it = entries.find(batch.submits[static_cast<std::size_t>(i)]);
          if (it == entries.end()) continue;
          v1::SubmitResult& r = results[i];
          if (r.has_error()) {
            Finish(it, StatusFromCallError(r.error()), out);
            continue;
          }
          v1::Operation* op = r.mutable_accepted()->mutable_operation();
          it->second.operation_id = op->id();
          for (auto& c : it->second.cancels_waiting) {
            c->operation_id = op->id();
            cancels_to_send.push_back(std::move(c));
          }
          cancels_waiting -= it->second.cancels_waiting.size();
          it->second.cancels_waiting.clear();
          if (it->second.progress) by_operation[op->id()] = it->first;
          // A retry of one that completed already: its answer is all.
          if (op->has_completion()) Finish(it, std::move(*op->mutable_completion()), out);
        }
      } else if (response.has_cancelled()) {
        if (sent.empty() || !sent.front().submits.empty()) return;
        Sent batch = std::move(sent.front());
        sent.pop_front();
        auto& results = *response.mutable_cancelled()->mutable_results();
        for (std::size_t i = 0; i < batch.cancels.size(); ++i) {
          if (static_cast<int>(i) < results.size()) {
            batch.cancels[i]->answer.set_value(std::move(results[static_cast<int>(i)]));
          } else {
            batch.cancels[i]->answer.set_value(absl::InternalError("cancel: no answer"));
          }
        }
      } else if (response.has_notifications()) {
        for (v1::Notification& n : *response.mutable_notifications()->mutable_notifications()) {
          if (n.has_completion()) {
            // Not found: reported already (a resend's second report).
            auto at = by_request.find(n.completion().request_id());
            if (at == by_request.end()) continue;
            auto it = entries.find(at->second);
            if (it != entries.end()) Finish(it, std::move(*n.mutable_completion()), out);
          } else if (n.has_progress()) {
            auto at = by_operation.find(n.progress().operation_id());
            if (at == by_operation.end()) continue;
            auto it = entries.find(at->second);
            if (it != entries.end() && it->second.progress) {
              progress.emplace_back(it->second.progress, std::move(*n.mutable_progress()));
            }
          }
        }
      }
      // Room for waiting submitters; for the writer, cancels to send, or
      // (closing) the last waiting cancel settled, so it may half-close.
      if (!out.empty()) wake.notify_all();
      WakeWriterLocked();
    }
    for (auto& [report, p] : progress) report(p);
  }

  // --- Callers ----------------------------------------------------------------

  // An entry for `request`, with a request id of its own if it has none.
  static Entry NewEntry(const v1::SubmitRequest& request) {
    auto copy = std::make_shared<v1::SubmitRequest>(request);
    if (copy->request_id().empty()) copy->set_request_id(internal::NewRequestId());
    Entry e;
    e.bytes = copy->ByteSizeLong();
    e.request = std::move(copy);
    return e;
  }

  // Takes `entry` (moved from) unless it fails. With `read`, this thread
  // takes the read if the reader thread is idle (*read says whether it did).
  absl::Status Add(Entry& entry, bool* read = nullptr) {
    std::unique_lock lock(mu);
    if (closing || finished || dead || stopping) {
      return absl::FailedPreconditionError(closing ? "session: closing" : "session: ended");
    }
    if (!ReadingThreadLocked()) {
      wake.wait(lock, [this] {
        return entries.size() < options.max_outstanding || stopping || finished || dead || closing;
      });
      if (stopping || finished || dead || closing) {
        return absl::FailedPreconditionError("session: closed while waiting for room");
      }
    }
    // The entry's own request, which by_request's key views.
    const std::string& id = entry.request->request_id();
    if (entry.bytes > options.max_batch_bytes) {
      return absl::InvalidArgumentError("request: " + std::to_string(entry.bytes) +
                                        " bytes, more than the session's max_batch_bytes (" +
                                        std::to_string(options.max_batch_bytes) + ")");
    }
    if (by_request.contains(id)) {
      return absl::AlreadyExistsError("request_id: a submission with \"" + id +
                                      "\" is still outstanding in this session");
    }
    const std::uint64_t order = entry.order = next_order++;
    // The entry first, then its key (which views the entry's request):
    // if an insert throws, no key is left viewing a request nobody holds.
    auto added = entries.emplace(order, std::move(entry)).first;
    try {
      by_request.emplace(id, order);
      to_send.push_back(order);
    } catch (...) {
      by_request.erase(id);
      entry = std::move(added->second);  // the caller's again
      entries.erase(added);
      throw;
    }
    ++stats.submitted;
    // An idle session (nothing written awaits its answer): write it on this
    // thread, sparing the hand-off to the writer. A busy one leaves it to
    // the writer, to go with others in its next batch. Never on a thread
    // that reads, which must keep reading while a write waits.
    const bool write_here = sent.empty() && !ReadingThreadLocked() && WritableLocked();
    if (read != nullptr && !reader_reading && !caller_reading && stream_up) {
      caller_reading = *read = true;
      caller_reader = std::this_thread::get_id();
    } else if (entries.size() == 1) {
      read_wake.notify_one();  // reading again, while this is written
    }
    if (write_here) {
      WriteLocked(lock);
    } else {
      WakeWriterLocked();
    }
    return absl::OkStatus();
  }
};

Session::Session(Client& client, SessionOptions options)
    : state_(std::make_unique<State>(client, std::move(options))) {
  State& s = *state_;
  std::lock_guard lock(s.mu);  // reader_id is set before any caller reads it
  s.reader = std::thread([&s] { s.Read(); });
  s.reader_id = s.reader.get_id();
  s.writer = std::thread([&s] { s.Write(); });
}

Session::~Session() {
  State& s = *state_;
  {
    std::lock_guard lock(s.mu);
    s.stopping = true;
    if (s.live_context != nullptr) s.live_context->TryCancel();
  }
  s.wake.notify_all();
  s.write_wake.notify_one();
  s.read_wake.notify_all();
  s.Join();
  std::vector<State::Delivery> left;
  {
    std::lock_guard lock(s.mu);
    left = s.TakeAllLocked(
        absl::CancelledError("the session was destroyed before the operation completed"));
  }
  // The MF form reports a local stop as MF_E_SHUTDOWN, as MF does.
  for (State::Delivery& d : left) {
    if (d.entry.callback) {
      d.outcome =
          internal::LocalCompletion(d.entry.request->request_id(), d.entry.operation_id,
                                    MF_E_SHUTDOWN, std::string(d.outcome.status().message()));
    }
  }
  State::Deliver(left);
}

std::string Session::SubmitThen(const v1::SubmitRequest& request, Done done, OnProgress progress) {
  State::Entry e = State::NewEntry(request);
  std::string request_id = e.request->request_id();
  e.done = std::move(done);
  e.progress = std::move(progress);
  if (absl::Status s = state_->Add(e); !s.ok() && e.done) e.done(s);
  return request_id;
}

absl::StatusOr<v1::Completion> Session::Submit(const v1::SubmitRequest& request) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::Completion>>>();
  auto done = promise->get_future();
  State::Entry e = State::NewEntry(request);
  e.done = [promise](absl::StatusOr<v1::Completion> c) { promise->set_value(std::move(c)); };
  bool read = false;
  if (absl::Status s = state_->Add(e, &read); !s.ok()) return s;
  if (read) state_->ReadUntil(done);
  return done.get();
}

std::future<absl::StatusOr<v1::Completion>> Session::SubmitAsync(const v1::SubmitRequest& request) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<v1::Completion>>>();
  auto future = promise->get_future();
  SubmitThen(request,
             [promise](absl::StatusOr<v1::Completion> c) { promise->set_value(std::move(c)); });
  return future;
}

HRESULT Session::BeginSubmit(const v1::SubmitRequest& request, IMFAsyncCallback* callback,
                             IUnknown* state) {
  if (callback == nullptr) return E_POINTER;
  State::Entry e = State::NewEntry(request);
  e.callback = ComPtr<IMFAsyncCallback>(callback);
  e.state = ComPtr<IUnknown>(state);
  absl::Status s = state_->Add(e);
  if (s.code() == absl::StatusCode::kFailedPrecondition) return MF_E_SHUTDOWN;
  return HResultFromStatus(s);
}

HRESULT Session::EndSubmit(IMFAsyncResult* result, v1::Completion* completion) {
  return internal::EndSubmitResult(result, completion);
}

std::future<absl::StatusOr<v1::CancelOperationResponse>> Session::Cancel(
    const std::string& request_id) {
  auto c = std::make_shared<State::PendingCancel>();
  auto future = c->answer.get_future();
  State& s = *state_;
  {
    std::lock_guard lock(s.mu);
    if (s.closing || s.finished || s.dead || s.stopping) {
      c->answer.set_value(absl::FailedPreconditionError("session: closing"));
      return future;
    }
    auto at = s.by_request.find(request_id);
    auto it = at == s.by_request.end() ? s.entries.end() : s.entries.find(at->second);
    if (it == s.entries.end()) {
      c->answer.set_value(absl::NotFoundError("request_id: no submission \"" + request_id +
                                              "\" is outstanding in this session"));
      return future;
    }
    if (it->second.operation_id.empty()) {
      it->second.cancels_waiting.push_back(std::move(c));  // sent once answered
      ++s.cancels_waiting;
      return future;
    }
    c->operation_id = it->second.operation_id;
    s.cancels_to_send.push_back(std::move(c));
    s.WakeWriterLocked();
  }
  return future;
}

absl::Status Session::Close() {
  State& s = *state_;
  {
    std::unique_lock lock(s.mu);
    s.closing = true;
    s.wake.notify_all();
    s.WakeWriterLocked();
    s.read_wake.notify_all();
    s.wake.wait(lock, [&s] { return s.finished; });
  }
  s.Join();
  std::lock_guard lock(s.mu);
  return s.ending;
}

SessionStats Session::stats() const {
  std::lock_guard lock(state_->mu);
  return state_->stats;
}

std::unique_ptr<Session> Client::OpenSession(SessionOptions options) {
  return std::unique_ptr<Session>(new Session(*this, std::move(options)));
}

}  // namespace mfwq::client
