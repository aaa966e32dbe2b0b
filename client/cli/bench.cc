#include "bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>


#include <grpcpp/grpcpp.h>

#include "cli/bench_echo.grpc.pb.h"
#include "child_process.h"
#include "mfwq/client/session.h"

namespace mfwq::cli {
namespace {

namespace v1 = ::mfwq::v1;
namespace bench = ::mfwq::bench::v1;
using Clock = std::chrono::steady_clock;
using mfwq::client::Client;

// --- The baseline: a bare echo server, in a process of its own ---------------
//
// Not in this one: a gRPC server's threads poll the process's sockets, the
// session's among them, and would hand each of its messages to the reader
// a thread later than an SDK user's program does. In its own process, it is
// also where the mfwq server is: the other end of a loopback connection.

// Reads and writes at once: each message is queued as it arrives and
// written back in order, with reads going on while writes are in flight.
class EchoStream final : public grpc::ServerBidiReactor<bench::EchoMessage, bench::EchoMessage> {
 public:
  EchoStream() { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (!ok) {
      reads_done_ = true;
      MaybeFinish(lock);
      return;
    }
    queue_.push_back(std::move(in_));
    in_.Clear();
    const bool more = queue_.size() < kMaxQueued && !broken_ && !finished_;
    reading_ = more;
    MaybeWrite(lock);
    if (more) StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    writing_ = false;
    if (!ok) {
      broken_ = true;
      MaybeFinish(lock);
      return;
    }
    const bool resume = !reading_ && !reads_done_ && queue_.size() < kMaxQueued;
    if (resume) reading_ = true;
    MaybeWrite(lock);
    if (resume) StartRead(&in_);
    MaybeFinish(lock);
  }
  void OnDone() override { delete this; }

 private:
  static constexpr std::size_t kMaxQueued = 1024;
  void MaybeWrite(std::unique_lock<std::mutex>&) {
    if (writing_ || queue_.empty() || broken_) return;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&out_);
  }
  void MaybeFinish(std::unique_lock<std::mutex>&) {
    if (finished_ || writing_) return;
    if (broken_ || (reads_done_ && queue_.empty())) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }
  std::mutex mu_;
  bench::EchoMessage in_, out_;
  std::deque<bench::EchoMessage> queue_;
  bool reading_ = true, writing_ = false, reads_done_ = false, broken_ = false, finished_ = false;
};

class EchoService final : public bench::Echo::CallbackService {
  grpc::ServerBidiReactor<bench::EchoMessage, bench::EchoMessage>* Stream(
      grpc::CallbackServerContext*) override {
    return new EchoStream;
  }
  grpc::ServerUnaryReactor* Ping(grpc::CallbackServerContext* context,
                                 const bench::EchoMessage* request,
                                 bench::EchoMessage* response) override {
    *response = *request;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// --- Measuring ---------------------------------------------------------------

struct Latencies {
  std::vector<double> micros;
  void Add(Clock::duration d) {
    micros.push_back(std::chrono::duration<double, std::micro>(d).count());
  }
  double Percentile(double p) {
    if (micros.empty()) return 0;
    std::sort(micros.begin(), micros.end());
    const std::size_t i = std::min(
        micros.size() - 1, static_cast<std::size_t>(p * static_cast<double>(micros.size())));
    return micros[i];
  }
};

struct Figure {
  std::vector<double> rates;  // one per round
  Latencies latency;
  std::string error;  // set if a run failed
  double MedianRate() {
    if (rates.empty()) return 0;
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
  }
};

// At most `limit` in flight.
class Window {
 public:
  explicit Window(std::size_t limit) : free_(limit) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return free_ > 0; });
    --free_;
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      ++free_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t free_;
};

double Rate(std::size_t n, Clock::duration d) {
  return static_cast<double>(n) / std::chrono::duration<double>(d).count();
}

// The bare stream: `n` messages pipelined, at most `window` unanswered.
void BareStream(bench::Echo::Stub& stub, const BenchOptions& o, Figure& f) {
  grpc::ClientContext context;
  auto stream = stub.Stream(&context);
  Window window(o.window);
  std::vector<Clock::time_point> sent(o.ops);
  bench::EchoMessage message;
  message.set_payload(std::string(o.size, 'e'));
  const Clock::time_point start = Clock::now();
  std::thread writer([&] {
    for (std::size_t i = 0; i < o.ops; ++i) {
      window.Acquire();
      sent[i] = Clock::now();
      if (!stream->Write(message)) return;
    }
    stream->WritesDone();
  });
  bench::EchoMessage back;
  std::size_t received = 0;
  while (received < o.ops && stream->Read(&back)) {
    f.latency.Add(Clock::now() - sent[received]);
    ++received;
    window.Release();
  }
  const Clock::duration took = Clock::now() - start;
  if (received < o.ops) {
    context.TryCancel();
    for (std::size_t i = 0; i < o.ops; ++i) window.Release();  // unblock the writer
  }
  writer.join();
  grpc::Status s = stream->Finish();
  if (received < o.ops) {
    f.error = "bare echo stream: " + s.error_message();
    return;
  }
  f.rates.push_back(Rate(o.ops, took));
}

v1::SubmitRequest EchoRequest(const BenchOptions& o) {
  v1::SubmitRequest r;
  r.set_queue_id(o.queue_id);
  r.set_kind("echo");
  (*r.mutable_parameters())["data"].set_bytes_value(std::string(o.size, 'e'));
  return r;
}

// Counts completions; `all` is ready at `n`. Shared with the callbacks,
// which may still be returning when the waiter has moved on.
struct Countdown {
  explicit Countdown(std::size_t n) : left(n) {}
  void Done(bool ok, std::string why) {
    bool last;
    {
      std::lock_guard lock(mu);
      if (!ok && error.empty()) error = std::move(why);
      last = --left == 0;
    }
    if (last) all.set_value();
  }
  std::mutex mu;
  std::size_t left;
  std::string error;
  std::promise<void> all;
};

std::string Outcome(const absl::StatusOr<v1::Completion>& c) {
  if (!c.ok()) return c.status().ToString();
  if ((c->status().code() & 0x80000000u) != 0) return c->status().name() + ": " + c->message();
  return {};
}

// The session: `n` echoes, batched, at most `window` outstanding.
void SessionRun(Client& client, const BenchOptions& o, Figure& f) {
  client::SessionOptions so;
  so.max_batch = o.batch;
  so.max_outstanding = o.window + 1;  // the window below does the waiting, timed like unary's
  auto session = client.OpenSession(so);
  const v1::SubmitRequest request = EchoRequest(o);
  std::vector<Clock::time_point> sent(o.ops);
  std::vector<Clock::duration> took(o.ops);
  auto countdown = std::make_shared<Countdown>(o.ops);
  Window window(o.window);
  const Clock::time_point start = Clock::now();
  for (std::size_t i = 0; i < o.ops; ++i) {
    window.Acquire();
    sent[i] = Clock::now();
    session->SubmitThen(request, [&, countdown, i](absl::StatusOr<v1::Completion> c) {
      took[i] = Clock::now() - sent[i];
      window.Release();
      std::string why = Outcome(c);
      countdown->Done(why.empty(), std::move(why));
    });
  }
  countdown->all.get_future().wait();
  const Clock::duration elapsed = Clock::now() - start;
  absl::Status closed = session->Close();
  if (!countdown->error.empty() || !closed.ok()) {
    f.error = "session: " + (countdown->error.empty() ? closed.ToString() : countdown->error);
    return;
  }
  f.rates.push_back(Rate(o.ops, elapsed));
  for (const auto& d : took) f.latency.Add(d);
}

// Unary Submit calls from several threads; completions from the client's
// WatchCompletions stream.
void UnaryRun(Client& client, const BenchOptions& o, Figure& f) {
  const v1::SubmitRequest request = EchoRequest(o);
  std::vector<Clock::time_point> sent(o.ops);
  std::vector<Clock::duration> took(o.ops);
  auto countdown = std::make_shared<Countdown>(o.ops);
  auto window = std::make_shared<Window>(o.window);
  std::atomic<std::size_t> next{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < std::max<std::size_t>(o.unary_threads, 1); ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < o.ops; i = next++) {
        window->Acquire();
        sent[i] = Clock::now();
        client.SubmitThen(request,
                          [&sent, &took, countdown, window, i](absl::StatusOr<v1::Completion> c) {
                            took[i] = Clock::now() - sent[i];
                            window->Release();
                            std::string why = Outcome(c);
                            countdown->Done(why.empty(), std::move(why));
                          });
      }
    });
  }
  for (auto& t : threads) t.join();
  countdown->all.get_future().wait();
  const Clock::duration elapsed = Clock::now() - start;
  if (!countdown->error.empty()) {
    f.error = "unary submits: " + countdown->error;
    return;
  }
  f.rates.push_back(Rate(o.ops, elapsed));
  for (const auto& d : took) f.latency.Add(d);
}

// The bare unary baseline at the same concurrency as UnaryRun: as many
// calls, from as many threads, each thread's calls one after another (the
// SDK's SubmitThen makes its Submit call before it returns), answered by
// the bare echo server.
void BareUnaryRun(bench::Echo::Stub& stub, const BenchOptions& o, Figure& f) {
  std::vector<Clock::duration> took(o.ops);
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::string error;
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < std::max<std::size_t>(o.unary_threads, 1); ++t) {
    threads.emplace_back([&] {
      bench::EchoMessage request, response;
      request.set_payload(std::string(o.size, 'e'));
      for (std::size_t i = next++; i < o.ops; i = next++) {
        grpc::ClientContext context;
        const Clock::time_point sent = Clock::now();
        grpc::Status s = stub.Ping(&context, request, &response);
        took[i] = Clock::now() - sent;
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (error.empty()) error = s.error_message();
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const Clock::duration elapsed = Clock::now() - start;
  if (!error.empty()) {
    f.error = "bare unary calls: " + error;
    return;
  }
  f.rates.push_back(Rate(o.ops, elapsed));
  for (const auto& d : took) f.latency.Add(d);
}

// One call at a time, timed: a ping-pong, or an operation from submit to
// completion. `call` returns why it failed (empty: it did not).
struct TimedCall {
  const char* what;
  std::function<std::string()> call;
  Figure* figure;
};

// Calls of one kind taken back to back, before the next kind's turn.
constexpr std::size_t kLatencyBlock = 100;

// --latency-samples of each call, in turns of kLatencyBlock: on a shared
// host the machine's speed drifts over seconds, and timing each kind all in
// one stretch would put that drift into the ratios. Within a turn the
// calls follow each other as in a program making them one after another
// (taken one of each in turn instead, every call would find the other
// processes' threads gone to sleep, and all the figures would double). The
// first call of each turn finds them so, and is made but not counted:
// counted, it would be the slowest 1 % and set the p99.
void Interleaved(const BenchOptions& o, const std::vector<TimedCall>& calls) {
  for (std::size_t done = 0; done < o.latency_samples; done += kLatencyBlock) {
    const std::size_t n = std::min(kLatencyBlock, o.latency_samples - done);
    for (const TimedCall& c : calls) {
      for (std::size_t i = 0; i <= n; ++i) {  // i == 0: the turn's warm-up
        const Clock::time_point t = Clock::now();
        if (std::string why = c.call(); !why.empty()) {
          c.figure->error = std::string(c.what) + ": " + why;
          return;
        }
        if (i > 0) c.figure->latency.Add(Clock::now() - t);
      }
    }
  }
}

// Whether `channel` connects by `deadline`; false at its first failure.
bool Connected(grpc::Channel& channel, std::chrono::system_clock::time_point deadline) {
  for (;;) {
    const grpc_connectivity_state state = channel.GetState(true);
    if (state == GRPC_CHANNEL_READY) return true;
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) return false;
    if (!channel.WaitForStateChange(state, deadline)) return false;
  }
}

}  // namespace

int RunBench(Client& client, const std::string& server, const BenchOptions& o, bool json) {
  // The mfwq server must answer before anything is measured.
  if (auto kinds = client.ListKinds(); !kinds.ok()) {
    std::fprintf(stderr, "mfwq bench: cannot use the server at %s: %s\n", server.c_str(),
                 kinds.status().ToString().c_str());
    return 3;
  }

  // The bare echo server, a process of its own unless one was named; it
  // ends when its input closes.
  ChildProcess baseline;
  std::string baseline_address = o.baseline;
  if (baseline_address.empty()) {
    if (std::string why = baseline.Start({"bench-baseline"}); !why.empty()) {
      std::fprintf(stderr, "mfwq bench: %s\n", why.c_str());
      return 3;
    }
    baseline_address = baseline.first_line();
  }
  auto channel = grpc::CreateChannel(baseline_address, grpc::InsecureChannelCredentials());
  if (!Connected(*channel, std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "mfwq bench: cannot reach the baseline echo server at %s\n",
                 baseline_address.c_str());
    return 3;
  }
  auto stub = bench::Echo::NewStub(channel);

  Figure bare_stream, session, bare_unary, unary, ping, session_one, unary_one;
  auto session_for_latency = client.OpenSession();
  const v1::SubmitRequest request = EchoRequest(o);
  bench::EchoMessage ping_message;
  ping_message.set_payload(std::string(o.size, 'e'));
  const std::vector<TimedCall> one_at_a_time = {
      {"ping-pong",
       [&]() -> std::string {
         grpc::ClientContext context;
         bench::EchoMessage back;
         grpc::Status s = stub->Ping(&context, ping_message, &back);
         return s.ok() ? std::string() : s.error_message();
       },
       &ping},
      {"session", [&] { return Outcome(session_for_latency->Submit(request)); }, &session_one},
      {"unary submit", [&] { return Outcome(client.SubmitAsync(request).get()); }, &unary_one},
  };
  if (!json) {
    std::printf(
        "mfwq bench: %zu echo operations of %zu bytes per run, %zu rounds; server %s;\n"
        "baseline: a bare gRPC echo server%s at %s\n",
        o.ops, o.size, o.rounds, server.c_str(),
        o.baseline.empty() ? " (mfwq bench-baseline, a process of its own)" : "",
        baseline_address.c_str());
    std::fflush(stdout);
  }
  for (std::size_t r = 0; r < o.rounds; ++r) {
    BareStream(*stub, o, bare_stream);
    SessionRun(client, o, session);
    BareUnaryRun(*stub, o, bare_unary);
    UnaryRun(client, o, unary);
    Interleaved(o, one_at_a_time);
    for (Figure* f :
         {&bare_stream, &session, &bare_unary, &unary, &ping, &session_one, &unary_one}) {
      if (!f->error.empty()) {
        std::fprintf(stderr, "mfwq bench: %s\n", f->error.c_str());
        return 3;
      }
    }
  }
  (void)session_for_latency->Close();
  if (const int status = baseline.Stop(); o.baseline.empty() && status != 0) {
    std::fprintf(stderr, "mfwq bench: the baseline echo server ended with status %d\n", status);
    return 3;
  }

  const double bare_rate = bare_stream.MedianRate();
  const double session_rate = session.MedianRate();
  const double unary_rate = unary.MedianRate();
  const double bare_unary_rate = bare_unary.MedianRate();
  const double ping_p50 = ping.latency.Percentile(0.5);
  const double session_p50 = session_one.latency.Percentile(0.5);
  const double unary_p50 = unary_one.latency.Percentile(0.5);
  const double throughput_ratio = session_rate / bare_rate;
  const double latency_ratio = session_p50 / ping_p50;

  if (json) {
    std::printf(
        "{\"ops\":%zu,\"size\":%zu,\"batch\":%zu,\"window\":%zu,\"rounds\":%zu,"
        "\"bare_stream_msgs_per_s\":%.0f,\"session_ops_per_s\":%.0f,\"unary_ops_per_s\":%.0f,"
        "\"session_p50_us\":%.1f,\"session_p99_us\":%.1f,\"unary_p50_us\":%.1f,"
        "\"unary_p99_us\":%.1f,\"ping_pong_p50_us\":%.1f,\"ping_pong_p99_us\":%.1f,"
        "\"single_session_p50_us\":%.1f,\"single_session_p99_us\":%.1f,"
        "\"single_unary_p50_us\":%.1f,\"single_unary_p99_us\":%.1f,"
        "\"session_vs_bare_stream\":%.3f,\"single_session_p50_vs_ping_pong\":%.3f,"
        "\"unary_vs_bare_stream\":%.3f,\"single_unary_p50_vs_ping_pong\":%.3f,"
        "\"bare_unary_calls_per_s\":%.0f,\"unary_vs_bare_unary\":%.3f}\n",
        o.ops, o.size, o.batch, o.window, o.rounds, bare_rate, session_rate, unary_rate,
        session.latency.Percentile(0.5), session.latency.Percentile(0.99),
        unary.latency.Percentile(0.5), unary.latency.Percentile(0.99), ping_p50,
        ping.latency.Percentile(0.99), session_p50, session_one.latency.Percentile(0.99), unary_p50,
        unary_one.latency.Percentile(0.99), throughput_ratio, latency_ratio, unary_rate / bare_rate,
        unary_p50 / ping_p50, bare_unary_rate, unary_rate / bare_unary_rate);
    return 0;
  }
  std::printf(
      "\nthroughput (median of rounds)          per second   p50 ms   p99 ms   vs bare stream\n");
  std::printf("  bare gRPC echo stream (messages)     %10.0f %8.2f %8.2f\n", bare_rate,
              bare_stream.latency.Percentile(0.5) / 1000,
              bare_stream.latency.Percentile(0.99) / 1000);
  std::printf(
      "  mfwq session, batches of <= %-5zu    %10.0f %8.2f %8.2f   %.2fx (target >= 1.0x)\n",
      o.batch, session_rate, session.latency.Percentile(0.5) / 1000,
      session.latency.Percentile(0.99) / 1000, throughput_ratio);
  std::printf("  mfwq unary submits (%zu threads)      %10.0f %8.2f %8.2f   %.2fx\n",
              o.unary_threads, unary_rate, unary.latency.Percentile(0.5) / 1000,
              unary.latency.Percentile(0.99) / 1000, unary_rate / bare_rate);
  std::printf("\nunary throughput (median of rounds)    per second   p50 ms   p99 ms   vs bare unary\n");
  std::printf("  bare gRPC unary calls (%zu threads)   %10.0f %8.2f %8.2f\n", o.unary_threads,
              bare_unary_rate, bare_unary.latency.Percentile(0.5) / 1000,
              bare_unary.latency.Percentile(0.99) / 1000);
  std::printf("  mfwq unary submits (%zu threads)      %10.0f %8.2f %8.2f   %.2fx (target >= 0.5x)\n",
              o.unary_threads, unary_rate, unary.latency.Percentile(0.5) / 1000,
              unary.latency.Percentile(0.99) / 1000, unary_rate / bare_unary_rate);
  std::printf("\nlatency, one at a time                   p50 us   p99 us   p50 vs ping-pong\n");
  std::printf("  bare gRPC ping-pong (unary)          %8.0f %8.0f\n", ping_p50,
              ping.latency.Percentile(0.99));
  std::printf("  mfwq session, submit -> completion   %8.0f %8.0f   %.2fx (target <= 1.5x)\n",
              session_p50, session_one.latency.Percentile(0.99), latency_ratio);
  std::printf("  mfwq unary submit -> completion      %8.0f %8.0f   %.2fx\n", unary_p50,
              unary_one.latency.Percentile(0.99), unary_p50 / ping_p50);
  std::printf(
      "\nlatency under load is submit -> completion of each operation during the throughput "
      "runs\n");
  return 0;
}

int RunBenchBaseline(const std::string& listen) {
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a port in use is refused, not shared
  std::unique_ptr<grpc::Server> bare = builder.BuildAndStart();
  if (!bare || port == 0) {
    std::fprintf(stderr, "mfwq bench-baseline: cannot listen on %s\n", listen.c_str());
    return 3;
  }
  // The address, for `mfwq bench` (or whoever started it) to read.
  const std::size_t colon = listen.rfind(':');
  std::printf("%s:%d\n", listen.substr(0, colon).c_str(), port);
  std::fflush(stdout);
  // Serves until its input ends.
  ChildProcess::WaitForInputToEnd();
  bare->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}

}  // namespace mfwq::cli
