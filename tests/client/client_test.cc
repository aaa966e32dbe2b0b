// The C++ SDK against the real mfwq-server on 127.0.0.1 port 0: blocking
// calls, BeginSubmit/EndSubmit delivering on the named local MF work queue
// with the remote status and bytes, the future form, progress, and
// reconnection across a server restart; the same for the Session, with its
// batches, refusals and cancellation.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include <absl/strings/str_cat.h>
#include <google/protobuf/util/time_util.h>

#include "mfwq/client/client.h"
#include "server_process.h"
#include "test_support.h"

namespace mfwq::client {
namespace {

using google::protobuf::util::TimeUtil;
using mfwq::test::Gate;
using mfwq::test::ServerProcess;
using mfwq::test::TempDir;

constexpr DWORD kRemoteMultithreaded = 5;  // MFASYNC_CALLBACK_QUEUE_MULTITHREADED
constexpr DWORD kRemoteLongFunction = 7;   // MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION

// A callback on a local queue: records what Invoke sees.
class Recorder final : public ComObject<Recorder, IMFAsyncCallback> {
 public:
  Recorder(Client* client, DWORD queue) : client_(client), queue_(queue) {}
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD* flags, DWORD* queue) override {
    *flags = 0;
    *queue = queue_;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult* result) override {
    thread = std::this_thread::get_id();
    status = result->GetStatus();
    bytes = static_cast<MFASYNCRESULT*>(result)->dwBytesTransferred;
    ComPtr<IUnknown> got;
    state_ok = SUCCEEDED(result->GetState(got.ReleaseAndGetAddressOf())) && got.get() == expected_state;
    end_status = client_->EndSubmit(result, &completion);
    ++invocations;
    invoked.Open();
    return S_OK;
  }
  IUnknown* expected_state = nullptr;
  Gate invoked;
  std::thread::id thread;
  HRESULT status = E_UNEXPECTED, end_status = E_UNEXPECTED;
  DWORD bytes = 0;
  bool state_ok = false;
  v1::Completion completion;
  std::atomic<int> invocations{0};

 private:
  friend class ComObject<Recorder, IMFAsyncCallback>;
  ~Recorder() = default;
  Client* const client_;
  const DWORD queue_;
};

// Learns the thread of a one-thread local queue.
class ThreadProbe final : public ComObject<ThreadProbe, IMFAsyncCallback> {
 public:
  explicit ThreadProbe(DWORD queue) : queue_(queue) {}
  static bool Implements(REFIID riid) { return IsEqualIID(riid, IID_IMFAsyncCallback); }
  HRESULT STDMETHODCALLTYPE GetParameters(DWORD* flags, DWORD* queue) override {
    *flags = 0;
    *queue = queue_;
    return S_OK;
  }
  HRESULT STDMETHODCALLTYPE Invoke(IMFAsyncResult*) override {
    thread = std::this_thread::get_id();
    ran.Open();
    return S_OK;
  }
  Gate ran;
  std::thread::id thread;

 private:
  friend class ComObject<ThreadProbe, IMFAsyncCallback>;
  ~ThreadProbe() = default;
  const DWORD queue_;
};

class ClientTest : public mfwq::test::PlatformTest {
 protected:
  void SetUp() override {
    mfwq::test::PlatformTest::SetUp();
    Start({});
  }
  void TearDown() override {
    client_.reset();
    if (server_) {
      EXPECT_EQ(server_->Terminate(), 0) << server_->Log();
    }
    mfwq::test::PlatformTest::TearDown();
  }
  void Start(const std::vector<std::string>& args) {
    std::string error;
    server_ = ServerProcess::Start(dir_.path() + "/data", args, &error);
    ASSERT_NE(server_, nullptr) << error;
    if (!client_) {
      ClientOptions options;
      options.client_name = "sdk-test";
      client_ = Client::Connect(server_->address(), options);
    }
  }
  static v1::SubmitRequest Echo(const std::string& data) {
    v1::SubmitRequest r;
    r.set_queue_id(kRemoteMultithreaded);
    r.set_kind("echo");
    (*r.mutable_parameters())["data"].set_bytes_value(data);
    return r;
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, BlockingCallsReturnStatusOr) {
  auto kinds = client_->ListKinds();
  ASSERT_TRUE(kinds.ok()) << kinds.status();
  EXPECT_GE(kinds->kinds_size(), 3);
  v1::GetOperationRequest get;
  get.set_operation_id("op-ffffffffffffffff");
  auto missing = client_->GetOperation(get);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  v1::CreateQueueRequest create;
  create.set_type(v1::QUEUE_TYPE_SERIAL);
  auto bad = client_->CreateQueue(create);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("target_queue_id", 0), 0u) << bad.status();
  create.set_type(v1::QUEUE_TYPE_STANDARD);
  auto queue = client_->CreateQueue(create);
  ASSERT_TRUE(queue.ok()) << queue.status();
  auto submitted = client_->Submit(Echo("x"));
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->operation().owner(), "sdk-test");
}

TEST_F(ClientTest, AnUnreachableServerIsUnavailable) {
  ClientOptions options;
  options.call_timeout = std::chrono::seconds(2);
  // The server's port once it has gone: nothing listens there.
  const std::string address = server_->address();
  ASSERT_EQ(server_->Terminate(), 0);
  server_.reset();
  auto lonely = Client::Connect(address, options);
  EXPECT_EQ(lonely->ListKinds().status().code(), absl::StatusCode::kUnavailable);
  absl::Status error;
  auto callback = ComPtr<Recorder>::Adopt(new Recorder(lonely.get(), MFASYNC_CALLBACK_QUEUE_STANDARD));
  EXPECT_EQ(lonely->BeginSubmit(Echo("x"), callback.get(), nullptr, &error), MF_E_SHUTDOWN);
  EXPECT_EQ(error.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(callback->invocations.load(), 0);
}

TEST_F(ClientTest, BeginSubmitInvokesOnTheNamedLocalQueueWithTheRemoteOutcome) {
  DWORD local = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&local), S_OK);
  auto probe = ComPtr<ThreadProbe>::Adopt(new ThreadProbe(local));
  ASSERT_EQ(MFPutWorkItem(local, probe.get(), nullptr), S_OK);
  ASSERT_TRUE(probe->ran.Wait());

  auto state = ComPtr<ThreadProbe>::Adopt(new ThreadProbe(local));  // any object will do
  auto callback = ComPtr<Recorder>::Adopt(new Recorder(client_.get(), local));
  callback->expected_state = state.get();
  ASSERT_EQ(client_->BeginSubmit(Echo("remote bytes"), callback.get(), state.get()), S_OK);
  ASSERT_TRUE(callback->invoked.Wait());
  EXPECT_EQ(callback->thread, probe->thread) << "Invoke runs on the queue GetParameters names";
  EXPECT_EQ(callback->status, S_OK);
  EXPECT_EQ(callback->bytes, 12u);
  EXPECT_TRUE(callback->state_ok);
  EXPECT_EQ(callback->end_status, S_OK);
  EXPECT_EQ(callback->completion.result(), "remote bytes");

  v1::SubmitRequest fail;
  fail.set_queue_id(kRemoteMultithreaded);
  fail.set_kind("fail");
  (*fail.mutable_parameters())["hresult"].set_int_value(0x80004005);
  auto failing = ComPtr<Recorder>::Adopt(new Recorder(client_.get(), local));
  ASSERT_EQ(client_->BeginSubmit(fail, failing.get(), nullptr), S_OK);
  ASSERT_TRUE(failing->invoked.Wait());
  EXPECT_EQ(failing->status, E_FAIL);
  EXPECT_EQ(failing->end_status, E_FAIL);
  EXPECT_EQ(failing->completion.status().name(), "E_FAIL");

  // A refused submission invokes nothing and says why.
  v1::SubmitRequest bad = Echo("x");
  bad.set_kind("no.such.kind");
  absl::Status error;
  auto refused = ComPtr<Recorder>::Adopt(new Recorder(client_.get(), local));
  EXPECT_EQ(client_->BeginSubmit(bad, refused.get(), nullptr, &error), E_INVALIDARG);
  EXPECT_EQ(error.message().rfind("kind", 0), 0u) << error;
  EXPECT_EQ(refused->invocations.load(), 0);
  EXPECT_EQ(MFUnlockWorkQueue(local), S_OK);
}

TEST_F(ClientTest, TheFutureFormGivesTheCompletion) {
  std::vector<std::future<absl::StatusOr<v1::Completion>>> futures;
  for (int i = 0; i < 50; ++i) futures.push_back(client_->SubmitAsync(Echo(std::to_string(i))));
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(futures[i].wait_for(std::chrono::seconds(30)), std::future_status::ready);
    auto c = futures[i].get();
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->result(), std::to_string(i));
  }
}

TEST_F(ClientTest, CompletionsArriveAcrossAServerRestart) {
  v1::SubmitRequest sleep;
  sleep.set_queue_id(kRemoteLongFunction);
  sleep.set_kind("sleep");
  *(*sleep.mutable_parameters())["duration"].mutable_duration_value() =
      TimeUtil::SecondsToDuration(3600);
  auto interrupted = client_->SubmitAsync(sleep);
  // Once it runs, the server goes down hard and comes back on the same port.
  const std::string port = server_->address().substr(server_->address().rfind(':') + 1);
  v1::ListOperationsRequest running;
  running.add_states(v1::OPERATION_STATE_RUNNING);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto list = client_->ListOperations(running);
    ASSERT_TRUE(list.ok()) << list.status();
    if (list->operations_size() == 1) break;
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the sleep never ran";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->Kill();
  Start({"--listen", "127.0.0.1:" + port});

  ASSERT_EQ(interrupted.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  auto c = interrupted.get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status().name(), "MF_E_SHUTDOWN");
  // And new work goes through the same client.
  auto after = client_->SubmitAsync(Echo("after"));
  ASSERT_EQ(after.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  auto done = after.get();
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->result(), "after");
}

TEST_F(ClientTest, ARequestIdStillPendingIsRefusedAndOneAlreadyCompletedCompletesAtOnce) {
  v1::SubmitRequest sleep;
  sleep.set_request_id("once");
  sleep.set_queue_id(kRemoteLongFunction);
  sleep.set_kind("sleep");
  *(*sleep.mutable_parameters())["duration"].mutable_duration_value() =
      TimeUtil::MillisecondsToDuration(200);
  auto first = client_->SubmitAsync(sleep);
  auto second = client_->SubmitAsync(sleep);
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(second.get().status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_EQ(first.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto c = first.get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status().name(), "S_OK");
  // A retry after the completion gets the same completion, from the
  // server's deduplication.
  auto again = client_->SubmitAsync(sleep);
  ASSERT_EQ(again.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto same = again.get();
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->operation_id(), c->operation_id());
}

// Waits until `client` has exactly one running operation.
void WaitUntilOneRuns(Client& client) {
  v1::ListOperationsRequest running;
  running.add_states(v1::OPERATION_STATE_RUNNING);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    auto list = client.ListOperations(running);
    ASSERT_TRUE(list.ok()) << list.status();
    if (list->operations_size() == 1) return;
    ASSERT_LT(std::chrono::steady_clock::now(), give_up) << "the operation never ran";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

v1::SubmitRequest Sleep(std::int64_t seconds) {
  v1::SubmitRequest r;
  r.set_queue_id(kRemoteLongFunction);
  r.set_kind("sleep");
  *(*r.mutable_parameters())["duration"].mutable_duration_value() =
      TimeUtil::SecondsToDuration(seconds);
  return r;
}

// Counts completions by result and opens a gate at `expected`.
struct Tally {
  explicit Tally(int expected_count) : expected(expected_count) {}
  Session::Done Done() {
    return [this](absl::StatusOr<v1::Completion> c) {
      std::lock_guard lock(mu);
      if (!c.ok()) {
        errors.push_back(c.status());
      } else {
        ++by_result[c->result()];
        statuses[c->status().name()]++;
      }
      if (++count == expected) all.Open();
    };
  }
  const int expected;
  std::mutex mu;
  int count = 0;
  std::map<std::string, int> by_result;
  std::map<std::string, int> statuses;
  std::vector<absl::Status> errors;
  Gate all;
};

TEST_F(ClientTest, ASessionDeliversEveryCompletionOnce) {
  constexpr int kCount = 3000;
  auto session = client_->OpenSession();
  Tally tally(kCount);
  std::set<std::string> request_ids;
  for (int i = 0; i < kCount; ++i) {
    request_ids.insert(session->SubmitThen(Echo(std::to_string(i)), tally.Done()));
  }
  ASSERT_TRUE(tally.all.Wait()) << tally.count << " of " << kCount;
  EXPECT_TRUE(session->Close().ok());
  // Each submission was given a request id of its own.
  EXPECT_EQ(request_ids.size(), static_cast<std::size_t>(kCount));
  const std::regex form("sdk-[0-9a-f]{16}-[0-9a-f]+");
  for (const std::string& id : request_ids) EXPECT_TRUE(std::regex_match(id, form)) << id;
  std::lock_guard lock(tally.mu);
  EXPECT_TRUE(tally.errors.empty()) << tally.errors.front();
  ASSERT_EQ(tally.by_result.size(), static_cast<std::size_t>(kCount));
  for (const auto& [result, n] : tally.by_result) EXPECT_EQ(n, 1) << result;
  EXPECT_EQ(tally.statuses["S_OK"], kCount);
  const SessionStats stats = session->stats();
  EXPECT_EQ(stats.submitted, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(stats.requests_sent, static_cast<std::uint64_t>(kCount));
  EXPECT_GE(stats.batches, static_cast<std::uint64_t>(kCount / 500));
  EXPECT_LE(stats.batches, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(stats.reconnects, 0u);
  // Closed: nothing more is taken.
  auto late = session->SubmitAsync(Echo("late"));
  EXPECT_EQ(late.get().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ClientTest, SessionBeginSubmitInvokesOnTheNamedLocalQueue) {
  DWORD local = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&local), S_OK);
  auto probe = ComPtr<ThreadProbe>::Adopt(new ThreadProbe(local));
  ASSERT_EQ(MFPutWorkItem(local, probe.get(), nullptr), S_OK);
  ASSERT_TRUE(probe->ran.Wait());
  auto session = client_->OpenSession();

  auto state = ComPtr<ThreadProbe>::Adopt(new ThreadProbe(local));
  auto callback = ComPtr<Recorder>::Adopt(new Recorder(client_.get(), local));
  callback->expected_state = state.get();
  ASSERT_EQ(session->BeginSubmit(Echo("over the session"), callback.get(), state.get()), S_OK);
  ASSERT_TRUE(callback->invoked.Wait());
  EXPECT_EQ(callback->thread, probe->thread) << "Invoke runs on the queue GetParameters names";
  EXPECT_EQ(callback->status, S_OK);
  EXPECT_EQ(callback->bytes, 16u);
  EXPECT_TRUE(callback->state_ok);
  EXPECT_EQ(callback->end_status, S_OK);
  EXPECT_EQ(callback->completion.result(), "over the session");

  // A refusal comes to Invoke as its HRESULT, with the server's words.
  v1::SubmitRequest bad = Echo("x");
  bad.set_kind("no.such.kind");
  auto refused = ComPtr<Recorder>::Adopt(new Recorder(client_.get(), local));
  ASSERT_EQ(session->BeginSubmit(bad, refused.get(), nullptr), S_OK);
  ASSERT_TRUE(refused->invoked.Wait());
  EXPECT_EQ(refused->status, E_INVALIDARG);
  EXPECT_EQ(refused->completion.message().rfind("kind", 0), 0u) << refused->completion.message();
  EXPECT_EQ(session->BeginSubmit(Echo("x"), nullptr, nullptr), E_POINTER);
  EXPECT_TRUE(session->Close().ok());
  EXPECT_EQ(session->BeginSubmit(Echo("x"), callback.get(), nullptr), MF_E_SHUTDOWN);
  EXPECT_EQ(MFUnlockWorkQueue(local), S_OK);
}

TEST_F(ClientTest, SessionRefusalsDuplicatesAndCancellation) {
  auto session = client_->OpenSession();
  v1::SubmitRequest bad = Echo("x");
  bad.set_kind("no.such.kind");
  auto refused = session->SubmitAsync(bad).get();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message().rfind("kind", 0), 0u) << refused.status();

  v1::SubmitRequest sleep = Sleep(3600);
  sleep.set_request_id("long-one");
  auto first = session->SubmitAsync(sleep);
  auto second = session->SubmitAsync(sleep);
  EXPECT_EQ(second.get().status().code(), absl::StatusCode::kAlreadyExists);
  // Cancelled by request id, perhaps before the server has answered it.
  auto cancel = session->Cancel("long-one").get();
  ASSERT_TRUE(cancel.ok()) << cancel.status();
  EXPECT_TRUE(cancel->cancelled());
  auto c = first.get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status().name(), "MF_E_OPERATION_CANCELLED");
  EXPECT_EQ(session->Cancel("long-one").get().status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(session->Close().ok());
}

// A session's operation retried with a unary Submit of the same client
// (same request id) completes for both, though the client's completion
// stream leaves out what only sessions submitted.
TEST_F(ClientTest, ASessionsOperationRetriedByAUnarySubmitCompletesForBoth) {
  v1::CreateEventRequest event;
  event.set_name("gate");
  event.set_manual_reset(true);
  ASSERT_TRUE(client_->CreateEvent(event).ok());
  auto session = client_->OpenSession();
  v1::SubmitRequest gated = Echo("shared");
  gated.set_request_id("shared-id");
  gated.set_wait_event("gate");
  auto by_session = session->SubmitAsync(gated);
  // A session's submissions are accepted in order: once this one has
  // completed, the gated one is accepted (and waiting).
  ASSERT_TRUE(session->SubmitAsync(Echo("marker")).get().ok());
  auto by_unary = client_->SubmitAsync(gated);  // answered (deduplicated) on return
  v1::SetEventRequest go;
  go.set_name("gate");
  ASSERT_TRUE(client_->SetEvent(go).ok());
  const auto patience = std::chrono::milliseconds(mfwq::test::kPatienceMs);
  ASSERT_EQ(by_unary.wait_for(patience), std::future_status::ready);
  ASSERT_EQ(by_session.wait_for(patience), std::future_status::ready);
  auto u = by_unary.get();
  auto s = by_session.get();
  ASSERT_TRUE(u.ok()) << u.status();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(u->operation_id(), s->operation_id());
  EXPECT_EQ(u->request_id(), "shared-id");
  EXPECT_TRUE(session->Close().ok());
}

TEST_F(ClientTest, ASessionSurvivesAServerRestartWithNothingLostOrDuplicated) {
  constexpr int kBefore = 300, kDuring = 300;
  auto session = client_->OpenSession();
  Tally before(kBefore);
  Tally after(kDuring + 1);
  session->SubmitThen(Sleep(3600), after.Done());
  for (int i = 0; i < kBefore; ++i) session->SubmitThen(Echo(absl::StrCat("b", i)), before.Done());
  ASSERT_TRUE(before.all.Wait()) << before.count << " of " << kBefore;
  WaitUntilOneRuns(*client_);
  const std::string port = server_->address().substr(server_->address().rfind(':') + 1);
  server_->Kill();
  // Queued while the server is away, sent once it is back.
  for (int i = 0; i < kDuring; ++i) session->SubmitThen(Echo(absl::StrCat("d", i)), after.Done());
  Start({"--listen", "127.0.0.1:" + port});

  ASSERT_TRUE(after.all.Wait()) << after.count << " of " << after.expected;
  EXPECT_TRUE(session->Close().ok());
  for (Tally* t : {&before, &after}) {
    std::lock_guard lock(t->mu);
    EXPECT_TRUE(t->errors.empty()) << t->errors.front();
    for (const auto& [result, n] : t->by_result) EXPECT_EQ(n, 1) << result;
  }
  EXPECT_EQ(before.statuses["S_OK"], kBefore);
  // The sleep was running when the server died: the restarted server
  // completed it with MF_E_SHUTDOWN, and the resent request found that.
  EXPECT_EQ(after.statuses["MF_E_SHUTDOWN"], 1);
  EXPECT_EQ(after.statuses["S_OK"], kDuring);
  EXPECT_EQ(after.by_result.size(), static_cast<std::size_t>(kDuring + 1));
  EXPECT_EQ(session->stats().completed, static_cast<std::uint64_t>(kBefore + kDuring + 1));
  EXPECT_GE(session->stats().reconnects, 1u);
}

// The blocking form: the outcome, returned; with other submissions
// outstanding (whose callbacks may run on the thread in Submit), from
// several threads at once, and across a server restart.
TEST_F(ClientTest, SessionSubmitWaitsForTheOutcome) {
  auto session = client_->OpenSession();
  auto one = session->Submit(Echo("one"));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->result(), "one");
  EXPECT_EQ(one->status().name(), "S_OK");

  v1::SubmitRequest bad = Echo("x");
  bad.set_queue_id(0x7777);
  auto refused = session->Submit(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kNotFound) << refused.status();

  constexpr int kThreads = 4, kEach = 200, kAlongside = 400;
  Tally alongside(kAlongside);
  for (int i = 0; i < kAlongside / 2; ++i) {
    session->SubmitThen(Echo(absl::StrCat("a", i)), alongside.Done());
  }
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string data = absl::StrCat("t", t, "-", i);
        auto c = session->Submit(Echo(data));
        if (c.ok() && c->result() == data) ++right;
      }
    });
  }
  for (int i = kAlongside / 2; i < kAlongside; ++i) {
    session->SubmitThen(Echo(absl::StrCat("a", i)), alongside.Done());
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(right.load(), kThreads * kEach);
  ASSERT_TRUE(alongside.all.Wait()) << alongside.count << " of " << kAlongside;
  {
    std::lock_guard lock(alongside.mu);
    EXPECT_EQ(alongside.by_result.size(), static_cast<std::size_t>(kAlongside));
    EXPECT_EQ(alongside.statuses["S_OK"], kAlongside);
  }

  // The server goes while the session is idle: the next Submit finds the
  // stream broken, and the reader thread reconnects and sends it again.
  const std::string port = server_->address().substr(server_->address().rfind(':') + 1);
  server_->Kill();
  Start({"--listen", "127.0.0.1:" + port});
  auto after = session->Submit(Echo("after"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->result(), "after");
  EXPECT_TRUE(session->Close().ok());
  EXPECT_EQ(session->stats().completed,
            static_cast<std::uint64_t>(1 + 1 + kThreads * kEach + kAlongside + 1));
  EXPECT_GE(session->stats().reconnects, 1u);
}

// Idle, neither the Client's completion stream nor a Session reads (so that
// neither takes the other's messages off the connection); they find out
// that the server went when next used, and carry on.
TEST_F(ClientTest, IdleStreamsCarryOnAfterAServerRestart) {
  auto session = client_->OpenSession();
  for (const char* round : {"before", "after"}) {
    auto unary = client_->SubmitAsync(Echo(std::string("unary ") + round));
    auto streamed = session->SubmitAsync(Echo(std::string("session ") + round));
    for (auto* f : {&unary, &streamed}) {
      ASSERT_EQ(f->wait_for(std::chrono::seconds(60)), std::future_status::ready) << round;
    }
    auto u = unary.get();
    auto s = streamed.get();
    ASSERT_TRUE(u.ok()) << u.status();
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(u->result(), std::string("unary ") + round);
    EXPECT_EQ(s->result(), std::string("session ") + round);
    if (std::string(round) == "before") {
      const std::string port = server_->address().substr(server_->address().rfind(':') + 1);
      server_->Kill();
      Start({"--listen", "127.0.0.1:" + port});
    }
  }
  EXPECT_TRUE(session->Close().ok());
  EXPECT_EQ(session->stats().completed, 2u);
  EXPECT_GE(session->stats().reconnects, 1u);
}

// Close waits for a cancel asked before the server answered its
// submission; once the answer (here a refusal) settles it, the session
// half-closes and ends. The server is away until Close has begun, so the
// cancel is still waiting then.
TEST_F(ClientTest, CloseEndsASessionOnceACancelWaitingForItsAnswerIsSettled) {
  const std::string port = server_->address().substr(server_->address().rfind(':') + 1);
  ASSERT_EQ(server_->Terminate(), 0);
  server_.reset();
  auto session = client_->OpenSession();
  v1::SubmitRequest bad = Echo("x");
  bad.set_kind("no.such.kind");
  bad.set_request_id("doomed");
  auto refused = session->SubmitAsync(bad);
  auto cancel = session->Cancel("doomed");  // not answered yet: it waits
  auto closed = std::async(std::launch::async, [&session] { return session->Close(); });
  // Close has begun once the session takes nothing new.
  while (session->Cancel("unknown").get().status().code() !=
         absl::StatusCode::kFailedPrecondition) {
    std::this_thread::yield();
  }
  Start({"--listen", "127.0.0.1:" + port});
  ASSERT_EQ(closed.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_TRUE(closed.get().ok());
  EXPECT_EQ(refused.get().status().code(), absl::StatusCode::kInvalidArgument);
  auto settled = cancel.get();
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_FALSE(settled->cancelled());
}

TEST_F(ClientTest, ASessionWithoutAServerCanStillBeDestroyed) {
  const std::string address = server_->address();
  ASSERT_EQ(server_->Terminate(), 0);
  server_.reset();
  auto lonely = Client::Connect(address);
  auto session = lonely->OpenSession();
  auto pending = session->SubmitAsync(Echo("never sent"));
  session.reset();  // while it retries the connection
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(pending.get().status().code(), absl::StatusCode::kCancelled);
}

// With a file root, for kinds that report progress.
class ClientFilesTest : public ClientTest {
 protected:
  void SetUp() override {
    mfwq::test::PlatformTest::SetUp();
    std::filesystem::create_directories(root_);
    {
      std::ofstream big(root_ + "/big.bin", std::ios::binary);
      const std::string mib(1 << 20, 'm');
      for (int i = 0; i < 40; ++i) big << mib;
    }
    Start({"--file-root", mfwq::test::ServerPath(root_)});
  }
  v1::SubmitRequest Copy(const std::string& destination) {
    v1::SubmitRequest r;
    r.set_queue_id(kRemoteLongFunction);
    r.set_kind("file.copy");
    (*r.mutable_parameters())["source"].set_string_value("big.bin");
    (*r.mutable_parameters())["destination"].set_string_value(destination);
    return r;
  }
  static void ExpectRising(const std::vector<v1::Progress>& progress) {
    ASSERT_GE(progress.size(), 2u);
    for (std::size_t i = 1; i < progress.size(); ++i) {
      EXPECT_GT(progress[i].bytes_done(), progress[i - 1].bytes_done());
    }
    EXPECT_EQ(progress.back().bytes_total(), 40u << 20);
  }
  std::string root_ = dir_.path() + "/files";
};

TEST_F(ClientFilesTest, ProgressReachesSdkCallers) {
  // The client: reports come once Submit has answered, so the copy waits
  // for an event set after that.
  v1::CreateEventRequest event;
  event.set_name("go");
  event.set_manual_reset(true);
  ASSERT_TRUE(client_->CreateEvent(event).ok());
  v1::SubmitRequest gated = Copy("one.bin");
  gated.set_wait_event("go");
  std::vector<v1::Progress> seen;  // on the completion thread only, until done
  std::promise<absl::StatusOr<v1::Completion>> done;
  client_->SubmitThen(
      gated, [&done](absl::StatusOr<v1::Completion> c) { done.set_value(std::move(c)); },
      [&seen](const v1::Progress& p) { seen.push_back(p); });
  v1::SetEventRequest go;
  go.set_name("go");
  ASSERT_TRUE(client_->SetEvent(go).ok());
  auto c = done.get_future().get();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bytes_transferred(), 40u << 20);
  ExpectRising(seen);

  // The session: reports never come before the answer that names the
  // operation, so none is missed.
  auto session = client_->OpenSession();
  std::vector<v1::Progress> on_session;
  std::promise<absl::StatusOr<v1::Completion>> session_done;
  session->SubmitThen(
      Copy("two.bin"),
      [&session_done](absl::StatusOr<v1::Completion> s) { session_done.set_value(std::move(s)); },
      [&on_session](const v1::Progress& p) { on_session.push_back(p); });
  auto sc = session_done.get_future().get();
  ASSERT_TRUE(sc.ok()) << sc.status();
  EXPECT_EQ(sc->bytes_transferred(), 40u << 20);
  ExpectRising(on_session);
  EXPECT_TRUE(session->Close().ok());
}

}  // namespace
}  // namespace mfwq::client
