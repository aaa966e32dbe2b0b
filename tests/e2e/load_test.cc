// The load run: MFWQ_LOAD_OPERATIONS echo operations from 8 concurrent
// clients over sessions, with the server killed (SIGKILL) part way and
// restarted; clients retry everything with the same request ids. At the
// end every operation has exactly one completion: the completion sequence
// numbers across all clients are exactly 1..N, and each request id maps to
// one operation.
#include <atomic>
#include <barrier>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "e2e_test.h"

namespace mfwq::test {
namespace {

constexpr int kClients = 8;
// The operations of the run: MFWQ_LOAD_OPERATIONS, or 8000 against a
// Windows server under Wine, where gRPC itself runs some 20 times slower.
int Operations() { return ServerIsWindows() ? 8000 : MFWQ_LOAD_OPERATIONS; }
int PerClient() { return Operations() / kClients; }
constexpr int kBatch = 250;

class LoadTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--retain-count", std::to_string(2 * Operations()), "--max-inflight-per-client",
            std::to_string(PerClient()), "--log-level", "warn"};
  }
};

struct ClientResult {
  std::map<std::string, std::string> operation_by_request;  // every accepted one
  std::string error;
};

std::string RequestId(int client, int i) {
  return std::string("c") + std::to_string(client) + "-" + std::to_string(i);
}

// Submits the client's operations [0, PerClient()) over one session in
// batches, reading the answers; stops at the first broken stream (the
// server was killed). `accepted` counts acceptances across clients.
void SubmitAll(v1::WorkQueues::Stub& stub, int client, ClientResult* result,
               std::atomic<int>* accepted) {
  auto context = Context(std::string("load-") + std::to_string(client), std::chrono::minutes(10));
  auto stream = stub.Session(context.get());
  for (int start = 0; start < PerClient(); start += kBatch) {
    v1::SessionRequest request;
    for (int i = start; i < std::min(start + kBatch, PerClient()); ++i) {
      v1::SubmitRequest* r = request.mutable_submit()->add_requests();
      r->set_request_id(RequestId(client, i));
      r->set_queue_id(kMultithreaded);
      r->set_kind("echo");
      (*r->mutable_parameters())["data"].set_bytes_value("payload");
    }
    if (!stream->Write(request)) break;
    v1::SessionResponse response;
    bool answered = false;
    while (!answered && stream->Read(&response)) {
      if (!response.has_submitted()) continue;  // notifications: counted from the journal later
      answered = true;
      for (int k = 0; k < response.submitted().results_size(); ++k) {
        const auto& one = response.submitted().results(k);
        if (!one.has_accepted()) {
          result->error = "refused: " + one.error().message();
          return;
        }
        const std::string& request_id = request.submit().requests(k).request_id();
        const std::string& id = one.accepted().operation().id();
        auto [it, inserted] = result->operation_by_request.emplace(request_id, id);
        if (!inserted && it->second != id) {
          result->error = request_id + " got two operations: " + it->second + " and " + id;
          return;
        }
        if (inserted) accepted->fetch_add(1);
      }
    }
    if (!answered) break;
  }
  stream->WritesDone();
  v1::SessionResponse rest;
  while (stream->Read(&rest)) {
  }
  (void)stream->Finish();
}

TEST_F(LoadTest, EveryOperationOfEightClientsCompletesExactlyOnceAcrossASigkill) {
  std::vector<ClientResult> results(kClients);
  std::atomic<int> accepted{0};
  const auto started = std::chrono::steady_clock::now();

  // Phase 1: all clients submit; the server is killed when about half of
  // the operations are accepted.
  {
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] { SubmitAll(*stub_, c, &results[c], &accepted); });
    }
    while (accepted.load() < Operations() / 2) std::this_thread::yield();
    server_->Kill();
    for (std::thread& t : clients) t.join();
  }
  const int before_kill = accepted.load();
  ASSERT_GE(before_kill, Operations() / 2);
  ASSERT_LT(before_kill, Operations()) << "the kill came after everything was accepted";

  // Phase 2: restart; every client retries all of its operations.
  StartServer();
  {
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] { SubmitAll(*stub_, c, &results[c], &accepted); });
    }
    for (std::thread& t : clients) t.join();
  }
  for (int c = 0; c < kClients; ++c) {
    ASSERT_TRUE(results[c].error.empty()) << "client " << c << ": " << results[c].error;
    ASSERT_EQ(results[c].operation_by_request.size(), static_cast<std::size_t>(PerClient()));
  }

  // Every operation's one completion, from each client's stream.
  std::set<std::uint64_t> sequences;
  std::size_t shut_down = 0;
  for (int c = 0; c < kClients; ++c) {
    std::set<std::string> expected;
    for (const auto& [request_id, id] : results[c].operation_by_request) expected.insert(id);
    auto context = Context(std::string("load-") + std::to_string(c), std::chrono::minutes(5));
    v1::WatchCompletionsRequest w;
    auto reader = stub_->WatchCompletions(context.get(), w);
    std::set<std::string> completed;
    v1::Notification n;
    while (completed.size() < expected.size() && reader->Read(&n)) {
      ASSERT_TRUE(completed.insert(n.completion().operation_id()).second)
          << "two completions for " << n.completion().operation_id();
      ASSERT_TRUE(sequences.insert(n.sequence()).second) << "sequence " << n.sequence();
      if (n.completion().status().code() == kShutdown) ++shut_down;
    }
    context->TryCancel();
    while (reader->Read(&n)) {
    }
    (void)reader->Finish();
    EXPECT_EQ(completed, expected) << "client " << c;
  }
  // Exactly N completions in all, numbered 1..N: none extra, none missing.
  ASSERT_EQ(sequences.size(), static_cast<std::size_t>(Operations()));
  EXPECT_EQ(*sequences.begin(), 1u);
  EXPECT_EQ(*sequences.rbegin(), static_cast<std::uint64_t>(Operations()));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("load: %d operations, %d clients, %d accepted before SIGKILL, %zu completed as "
              "interrupted (MF_E_SHUTDOWN), %.1f s\n",
              Operations(), kClients, before_kill, shut_down, seconds);
}

}  // namespace
}  // namespace mfwq::test
