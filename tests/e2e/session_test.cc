// A Session's batches, several with the table at once: answered in the
// order they came, each before any completion of the operations it names.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "e2e_test.h"

namespace mfwq::test {
namespace {

// A request id: `prefix` and `n`.
std::string RequestId(const char* prefix, int n) {
  std::string id = prefix;
  id += std::to_string(n);
  return id;
}

// With every commit an fsync, batches that need the journal wait for it,
// and a batch refused whole (answered without the journal) would overtake
// them if answers went out as they came.
class PipelinedSessionTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override { return {"--journal-sync", "full"}; }
};

TEST_F(PipelinedSessionTest, BatchesAreAnsweredInOrderAndBeforeTheirCompletions) {
  constexpr int kBatches = 24;
  for (int round = 0; round < 3; ++round) {
    auto context = Context();
    auto stream = stub_->Session(context.get());
    // Batch i holds i + 1 requests, which tells its answer from the others'.
    // Every third is refused whole (an unknown kind).
    std::size_t accepted_expected = 0;
    for (int i = 0; i < kBatches; ++i) {
      v1::SessionRequest batch;
      for (int j = 0; j <= i; ++j) {
        v1::SubmitRequest r = Echo(std::to_string(round * kBatches + i));
        if (i % 3 == 2) r.set_kind("no.such.kind");
        *batch.mutable_submit()->add_requests() = r;
      }
      if (i % 3 != 2) accepted_expected += static_cast<std::size_t>(i + 1);
      ASSERT_TRUE(stream->Write(batch)) << "batch " << i;
    }
    stream->WritesDone();

    int answers = 0;
    std::set<std::string> answered;
    std::set<std::string> completed;
    v1::SessionResponse response;
    while (stream->Read(&response)) {
      if (response.has_submitted()) {
        ASSERT_LT(answers, kBatches);
        ASSERT_EQ(response.submitted().results_size(), answers + 1)
            << "round " << round << ": the answer to batch " << answers << " came out of order";
        for (const v1::SubmitResult& result : response.submitted().results()) {
          if (answers % 3 == 2) {
            ASSERT_TRUE(result.has_error());
            EXPECT_EQ(result.error().code(), 3);  // INVALID_ARGUMENT
            continue;
          }
          ASSERT_TRUE(result.has_accepted()) << result.error().message();
          answered.insert(result.accepted().operation().id());
        }
        ++answers;
      }
      for (const v1::Notification& n : response.notifications().notifications()) {
        if (!n.has_completion()) continue;
        const std::string& id = n.completion().operation_id();
        EXPECT_EQ(answered.count(id), 1u) << id << ": its completion came before its answer";
        EXPECT_TRUE(completed.insert(id).second) << id << ": completed twice";
      }
    }
    const grpc::Status s = stream->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(answers, kBatches);
    EXPECT_EQ(answered.size(), accepted_expected);
    EXPECT_EQ(completed, answered);
  }
}

// Retries pipelined behind their first attempt, of the session's own
// operations and of operations submitted by unary calls, in batches that
// wait for their fsync while earlier completions are written: each
// operation's completion is reported exactly once, whatever the order its
// answers and its completion meet in, and the stream ends once all are.
TEST_F(PipelinedSessionTest, PipelinedRetriesAreReportedOnceAndTheStreamEnds) {
  constexpr int kOps = 120;
  constexpr int kUnary = 40;
  // The unary calls' operations wait for an event, set halfway through
  // the batches: their first retries find them waiting, later ones find
  // them done, and some complete between a retry's admission and its answer.
  v1::CreateEventRequest create;
  create.set_name("release");
  create.set_manual_reset(true);
  v1::Event event;
  ASSERT_TRUE(stub_->CreateEvent(Context().get(), create, &event).ok());
  for (int i = 0; i < kUnary; ++i) {
    v1::SubmitRequest r = Echo(RequestId("unary ", i));
    r.set_request_id(RequestId("u", i));
    r.set_wait_event("release");
    EXPECT_EQ(Submit(r).state(), v1::OPERATION_STATE_WAITING);
  }
  auto context = Context("test-client", std::chrono::seconds(30));
  auto stream = stub_->Session(context.get());
  std::set<std::string> answered;
  std::set<std::string> owed;  // answered at least once as not completed
  std::map<std::string, int> reported;
  int answers = 0;
  auto read = [&](const v1::SessionResponse& response) {
    if (response.has_submitted()) ++answers;
    for (const v1::SubmitResult& result : response.submitted().results()) {
      ASSERT_TRUE(result.has_accepted()) << result.error().message();
      const v1::Operation& op = result.accepted().operation();
      answered.insert(op.id());
      if (op.state() != v1::OPERATION_STATE_COMPLETED) owed.insert(op.id());
    }
    for (const v1::Notification& n : response.notifications().notifications()) {
      if (!n.has_completion()) continue;
      const std::string& id = n.completion().operation_id();
      EXPECT_EQ(answered.count(id), 1u) << id << ": its completion came before its answer";
      ++reported[id];
    }
  };
  // Batch k: a new operation "s<k>", retries of the two before it, and,
  // in the first 80, retries of two unary calls' operations (each one
  // four times in all, 20 batches apart).
  v1::SessionResponse response;
  for (int k = 0; k < kOps; ++k) {
    if (k == kOps / 2) {
      // Once the first half is answered (every unary operation retried
      // while it waits), the event; the second half meets its completions.
      while (answers < k && stream->Read(&response)) read(response);
      ASSERT_EQ(answers, k);
      v1::SetEventRequest set;
      set.set_name("release");
      ASSERT_TRUE(stub_->SetEvent(Context().get(), set, &event).ok());
    }
    v1::SessionRequest batch;
    auto* requests = batch.mutable_submit()->mutable_requests();
    v1::SubmitRequest fresh = Echo(RequestId("session ", k));
    fresh.set_request_id(RequestId("s", k));
    *requests->Add() = fresh;
    for (int back = 1; back <= 2 && back <= k; ++back) {
      v1::SubmitRequest retry = Echo(RequestId("session ", k - back));
      retry.set_request_id(RequestId("s", k - back));
      *requests->Add() = retry;
    }
    for (int u : {k % kUnary, (k + kUnary / 2) % kUnary}) {
      if (k >= kUnary * 2) break;
      v1::SubmitRequest retry = Echo(RequestId("unary ", u));
      retry.set_request_id(RequestId("u", u));
      *requests->Add() = retry;
    }
    ASSERT_TRUE(stream->Write(batch)) << "batch " << k;
  }
  stream->WritesDone();
  while (stream->Read(&response)) read(response);
  const grpc::Status s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(answered.size(), static_cast<std::size_t>(kOps + kUnary));
  // Every unary call's operation was retried while it waited.
  EXPECT_EQ(owed.size(), answered.size());
  for (const auto& [id, times] : reported) {
    EXPECT_EQ(times, 1) << id << ": reported " << times << " times";
  }
  for (const std::string& id : owed) {
    EXPECT_EQ(reported.count(id), 1u) << id << ": answered as not completed, and never reported";
  }
}

}  // namespace
}  // namespace mfwq::test
