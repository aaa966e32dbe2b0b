// The operation table: submit, deduplicate, delay, wait on and signal
// events, cancel at every stage, deadlines, and one numbered completion per
// operation, on real MF work queues.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "builtin_kinds.h"
#include "event_table.h"
#include "fake_table_clock.h"
#include "operation_table.h"
#include "queue_table.h"
#include "test_support.h"

namespace mfwq::server {
namespace {

using std::chrono::milliseconds;

class Listener final : public CompletionListener {
 public:
  void OnCompletions(std::span<const CompletionPtr> completions) override {
    std::lock_guard lock(mu);
    for (const CompletionPtr& c : completions) records.push_back(*c);
  }
  void OnStarted(OperationNumber) override { started.Open(); }
  test::Gate started;  // some operation started
  std::vector<CompletionRecord> Records() {
    std::lock_guard lock(mu);
    return records;
  }
  std::mutex mu;
  std::vector<CompletionRecord> records;
};

class OperationTableTest : public test::PlatformTest {
 protected:
  void SetUp() override {
    test::PlatformTest::SetUp();
    ASSERT_TRUE(RegisterBuiltinKinds(kinds_).ok());
    queues_ = std::make_unique<QueueTable>();
    OperationTableOptions options;
    options.clock = &clock_;
    table_ = std::make_unique<OperationTable>(kinds_, *queues_, events_, &listener_, options);
  }
  void TearDown() override {
    table_.reset();
    queues_.reset();
    test::PlatformTest::TearDown();
  }

  static SubmitSpec Echo(const std::string& data,
                         DWORD queue = MFASYNC_CALLBACK_QUEUE_MULTITHREADED) {
    SubmitSpec spec;
    spec.client = "alice";
    spec.queue = queue;
    spec.kind = "echo";
    spec.parameters = {{"data", Value(Bytes{data})}};
    spec.state = "my-state";
    return spec;
  }
  static SubmitSpec Sleep(milliseconds d, DWORD queue = MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION) {
    SubmitSpec spec;
    spec.client = "alice";
    spec.queue = queue;
    spec.kind = "sleep";
    spec.parameters = {{"duration", Value(std::chrono::nanoseconds(d))}};
    return spec;
  }
  // Submits and waits for the completion.
  CompletionRecord Run(SubmitSpec spec) {
    auto submitted = table_->Submit(std::move(spec));
    EXPECT_TRUE(submitted.ok()) << submitted.status().message();
    if (!submitted.ok()) return {};
    auto done = table_->Wait("alice", submitted->operation.number, milliseconds(test::kPatienceMs));
    EXPECT_TRUE(done.ok() && done->completion != nullptr);
    return done.ok() && done->completion ? *done->completion : CompletionRecord{};
  }

  test::FakeTableClock clock_;  // the table's: deadlines, timestamps, retention by age
  KindRegistry kinds_;
  EventTable events_;
  Listener listener_;
  std::unique_ptr<QueueTable> queues_;
  std::unique_ptr<OperationTable> table_;
};

TEST(OperationIdTest, IdsAreOpAndSixteenHexDigitsAndGiveTheirNumberBack) {
  EXPECT_EQ(OperationId(OperationNumber(1)), "op-0000000000000001");
  EXPECT_EQ(OperationId(OperationNumber(0x1234abcdu)), "op-000000001234abcd");
  EXPECT_EQ(OperationId(OperationNumber(~std::uint64_t{0})), "op-ffffffffffffffff");
  for (std::uint64_t n :
       {std::uint64_t{1}, std::uint64_t{0xfedcba9876543210u}, ~std::uint64_t{0}}) {
    EXPECT_EQ(ParseOperationId(OperationId(OperationNumber(n))), OperationNumber(n));
  }
  EXPECT_FALSE(ParseOperationId("op-000000000000000g"));
  EXPECT_FALSE(ParseOperationId("op-00000000000001"));
  EXPECT_FALSE(ParseOperationId("xx-0000000000000001"));
  EXPECT_FALSE(ParseOperationId("op-0000000000000000"));  // 0 names nothing
  EXPECT_FALSE(ParseOperationId("op-000000000000000A"));  // lowercase only
}

TEST_F(OperationTableTest, AnOperationRunsAndCompletesOnceWithItsOutcome) {
  CompletionRecord c = Run(Echo("frame"));
  EXPECT_EQ(c.status, S_OK);
  EXPECT_EQ(c.bytes_transferred, 5u);
  EXPECT_EQ(c.result, "frame");
  EXPECT_EQ(c.state, "my-state");
  EXPECT_EQ(c.kind, "echo");
  EXPECT_TRUE(c.start_time.has_value());
  EXPECT_EQ(c.sequence, 1u);
  auto records = listener_.Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].operation, c.operation);
  auto queue = queues_->Get("alice", MFASYNC_CALLBACK_QUEUE_MULTITHREADED);
  EXPECT_EQ(queue->counters->completed.load(), 1u);
  EXPECT_EQ(queue->counters->pending.load(), 0u);
  EXPECT_EQ(queue->counters->running.load(), 0u);
}

TEST_F(OperationTableTest, FailuresCarryTheirHResult) {
  SubmitSpec spec;
  spec.client = "alice";
  spec.queue = MFASYNC_CALLBACK_QUEUE_STANDARD;
  spec.kind = "fail";
  spec.parameters = {{"hresult", Value(std::int64_t{0x80004005})}};
  CompletionRecord c = Run(std::move(spec));
  EXPECT_EQ(c.status, E_FAIL);
  EXPECT_EQ(queues_->Get("alice", MFASYNC_CALLBACK_QUEUE_STANDARD)->counters->failed.load(), 1u);
}

TEST_F(OperationTableTest, ARetryWithTheSameRequestIdGetsTheSameOperation) {
  SubmitSpec first = Echo("once");
  first.request_id = "req-1";
  SubmitSpec retry = first;
  auto a = table_->Submit(std::move(first));
  auto b = table_->Submit(std::move(retry));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->deduplicated);
  EXPECT_TRUE(b->deduplicated);
  EXPECT_EQ(a->operation.number, b->operation.number);
  ASSERT_TRUE(table_->Wait("alice", a->operation.number, milliseconds(test::kPatienceMs))->completion);
  EXPECT_EQ(listener_.Records().size(), 1u);
  // A retry is answered even when the attempt itself would now be refused.
  SubmitSpec late = Echo("once");
  late.request_id = "req-1";
  late.deadline = clock_.Now() - milliseconds(1);
  late.wait_event = "gone";
  auto d = table_->Submit(std::move(late));
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->deduplicated);
  EXPECT_EQ(d->operation.number, a->operation.number);
  // Another client's request ids are its own.
  SubmitSpec other = Echo("other");
  other.client = "bob";
  other.request_id = "req-1";
  auto c = table_->Submit(std::move(other));
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->deduplicated);
}

TEST_F(OperationTableTest, BadSubmissionsNameTheField) {
  SubmitSpec no_kind = Echo("x");
  no_kind.kind = "transcode";
  EXPECT_EQ(table_->Submit(no_kind).status().message(),
            "kind: no kind \"transcode\" (see ListKinds)");
  SubmitSpec bad_param = Echo("x");
  bad_param.parameters["speed"] = Value(true);
  EXPECT_EQ(table_->Submit(bad_param).status().message(),
            "parameters.speed: kind \"echo\" has no such parameter");
  SubmitSpec no_queue = Echo("x", 0x00990000);
  EXPECT_EQ(table_->Submit(no_queue).status().message(), "queue_id: no queue 0x00990000");
  SubmitSpec both = Echo("x");
  both.delay = milliseconds(1);
  both.wait_event = "e";
  EXPECT_EQ(table_->Submit(both).status().message(), "delay, wait_event: give at most one");
  SubmitSpec no_event = Echo("x");
  no_event.wait_event = "never-made";
  EXPECT_EQ(table_->Submit(no_event).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(table_->Submit(no_event).status().message(),
            "wait_event: no event \"never-made\" (see ListEvents)");
  SubmitSpec no_signal = Echo("x");
  no_signal.signal_event = "never-made";
  EXPECT_EQ(table_->Submit(no_signal).status().message(),
            "signal_event: no event \"never-made\" (see ListEvents)");
  no_signal.signal_event = "bad name!";
  EXPECT_EQ(table_->Submit(no_signal).status().code(), StatusCode::kInvalidArgument);
  SubmitSpec late = Echo("x");
  late.deadline = clock_.Now() - milliseconds(1);
  EXPECT_EQ(table_->Submit(late).status().message(), "deadline: already passed");
  EXPECT_TRUE(listener_.Records().empty());
}

TEST_F(OperationTableTest, ADelayedOperationRunsAfterItsDelay) {
  SubmitSpec spec = Echo("later");
  spec.delay = milliseconds(30);
  const auto put = std::chrono::steady_clock::now();  // the timer's clock, not the wall's
  CompletionRecord c = Run(std::move(spec));
  EXPECT_EQ(c.status, S_OK);
  EXPECT_GE(std::chrono::steady_clock::now() - put, milliseconds(30));
}

// Cancelled at each stage, an operation completes once, as cancelled, and
// its kind never runs.
TEST_F(OperationTableTest, CancelBeforeItRunsCompletesItAsCancelled) {
  // Scheduled.
  SubmitSpec scheduled = Echo("s");
  scheduled.delay = std::chrono::hours(1);
  auto s = table_->Submit(std::move(scheduled));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->operation.state, OperationState::kScheduled);
  // Waiting.
  ASSERT_TRUE(events_.Create("alice", "never", true, false).ok());
  SubmitSpec waiting = Echo("w");
  waiting.wait_event = "never";
  auto w = table_->Submit(std::move(waiting));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->operation.state, OperationState::kWaiting);
  // Queued behind a blocked queue.
  auto created = queues_->Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(created.ok());
  test::QueueBlocker blocker;
  ASSERT_TRUE(blocker.Block(created->id));
  auto p = table_->Submit(Echo("p", created->id));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->operation.state, OperationState::kPending);

  for (const OperationNumber id : {s->operation.number, w->operation.number, p->operation.number}) {
    auto cancel = table_->Cancel("alice", id);
    ASSERT_TRUE(cancel.ok()) << id;
    EXPECT_TRUE(cancel->cancelled);
    if (id != w->operation.number) {
      // Completed by the cancel itself: the answer carries the completion.
      // (A waiting one completes when MF gives it back, on its queue.)
      EXPECT_EQ(cancel->operation.state, OperationState::kCompleted) << id;
      ASSERT_TRUE(cancel->operation.completion) << id;
      EXPECT_EQ(cancel->operation.completion->status, MF_E_OPERATION_CANCELLED) << id;
    }
    auto done = table_->Wait("alice", id, milliseconds(test::kPatienceMs));
    ASSERT_TRUE(done.ok() && done->completion) << id;
    EXPECT_EQ(done->completion->status, MF_E_OPERATION_CANCELLED) << id;
    EXPECT_EQ(done->completion->message, "cancelled by client") << id;
    EXPECT_FALSE(done->completion->start_time.has_value()) << id;
    EXPECT_EQ(done->completion->result, "") << id;
    EXPECT_FALSE(table_->Cancel("alice", id)->cancelled) << id;  // completed already
  }
  blocker.Release();
  EXPECT_EQ(listener_.Records().size(), 3u);
}

TEST_F(OperationTableTest, CancellingARunningSleepStopsIt) {
  auto s = table_->Submit(Sleep(std::chrono::hours(1)));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(listener_.started.Wait());
  ASSERT_EQ(table_->Get("alice", s->operation.number)->state, OperationState::kRunning);
  ASSERT_TRUE(table_->Cancel("alice", s->operation.number)->cancelled);
  auto done = table_->Wait("alice", s->operation.number, milliseconds(test::kPatienceMs));
  ASSERT_TRUE(done->completion);
  EXPECT_EQ(done->completion->status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(done->completion->message, "cancelled by client");
  EXPECT_TRUE(done->completion->start_time.has_value());
}

// On the table's (fake) clock: running until the very nanosecond before its
// deadline, cancelled at it; the times it records are the clock's.
TEST_F(OperationTableTest, AnOperationPastItsDeadlineIsCancelled) {
  const Clock::time_point submitted = clock_.Now();
  SubmitSpec spec = Sleep(std::chrono::hours(1));
  spec.deadline = submitted + milliseconds(50);
  auto s = table_->Submit(std::move(spec));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(listener_.started.Wait());
  clock_.Advance(milliseconds(50) - std::chrono::nanoseconds(1));
  EXPECT_EQ(table_->Get("alice", s->operation.number)->state, OperationState::kRunning);
  EXPECT_EQ(clock_.timers(), 1u);
  clock_.Advance(std::chrono::nanoseconds(1));
  auto done = table_->Wait("alice", s->operation.number, milliseconds(test::kPatienceMs));
  ASSERT_TRUE(done.ok() && done->completion);
  EXPECT_EQ(done->completion->status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(done->completion->message, "deadline passed");
  EXPECT_EQ(done->completion->submit_time, submitted);
  EXPECT_EQ(done->completion->start_time, submitted);
  EXPECT_EQ(done->completion->complete_time, submitted + milliseconds(50));
  EXPECT_EQ(clock_.timers(), 0u);
}

// Completed first, the deadline's timer goes with it.
TEST_F(OperationTableTest, AnOperationDoneBeforeItsDeadlineLeavesNoTimer) {
  SubmitSpec spec = Echo("quick");
  spec.deadline = clock_.Now() + std::chrono::hours(1);
  CompletionRecord c = Run(std::move(spec));
  EXPECT_EQ(c.status, S_OK);
  EXPECT_EQ(clock_.timers(), 0u);
}

// B waits on the event A signals when it completes.
TEST_F(OperationTableTest, OperationsChainThroughEvents) {
  ASSERT_TRUE(events_.Create("alice", "a-done", true, false).ok());
  SubmitSpec b = Echo("B");
  b.wait_event = "a-done";
  auto waiting = table_->Submit(std::move(b));
  ASSERT_TRUE(waiting.ok());
  EXPECT_FALSE(table_->Wait("alice", waiting->operation.number, milliseconds(0))->completion);

  SubmitSpec a = Echo("A");
  a.signal_event = "a-done";
  CompletionRecord first = Run(std::move(a));
  auto second = table_->Wait("alice", waiting->operation.number, milliseconds(test::kPatienceMs));
  ASSERT_TRUE(second->completion);
  EXPECT_EQ(second->completion->result, "B");
  EXPECT_GT(second->completion->sequence, first.sequence);
}

// Many operations at once: one completion each, numbered 1..N in the order
// the listener receives them.
TEST_F(OperationTableTest, EveryOperationGetsOneCompletionInSequenceOrder) {
  constexpr int kOps = 300;
  std::vector<OperationNumber> ids;
  for (int i = 0; i < kOps; ++i) {
    auto s = table_->Submit(Echo(std::to_string(i)));
    ASSERT_TRUE(s.ok());
    ids.push_back(s->operation.number);
  }
  for (const OperationNumber id : ids) {
    ASSERT_TRUE(table_->Wait("alice", id, milliseconds(test::kPatienceMs))->completion);
  }
  auto records = listener_.Records();
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kOps));
  std::set<OperationNumber> seen;
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].sequence, i + 1);
    seen.insert(records[i].operation);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kOps));
  EXPECT_EQ(table_->last_sequence(), static_cast<std::uint64_t>(kOps));
}

// A batch is answered request by request, at the same indexes: a refusal
// in the middle leaves the others accepted, and a request id given twice
// in one batch is one operation.
TEST_F(OperationTableTest, ABatchIsAnsweredRequestByRequest) {
  std::vector<SubmitSpec> batch;
  batch.push_back(Echo("a"));
  batch.back().request_id = "same";
  SubmitSpec bad = Echo("b");
  bad.kind = "no-such-kind";
  batch.push_back(bad);
  batch.push_back(Echo("c"));
  batch.push_back(Echo("a, again"));
  batch.back().request_id = "same";
  auto answers = table_->SubmitBatch(std::move(batch));
  ASSERT_EQ(answers.size(), 4u);
  ASSERT_TRUE(answers[0].ok()) << answers[0].status().message();
  EXPECT_FALSE(answers[0]->deduplicated);
  EXPECT_EQ(answers[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(answers[1].status().message().find("kind"), std::string::npos);
  ASSERT_TRUE(answers[2].ok());
  ASSERT_TRUE(answers[3].ok());
  EXPECT_TRUE(answers[3]->deduplicated);
  EXPECT_EQ(answers[3]->operation.number, answers[0]->operation.number);
  // Accepted in order, and each completes once.
  EXPECT_LT(answers[0]->operation.number, answers[2]->operation.number);
  auto first = table_->Wait("alice", answers[0]->operation.number, milliseconds(test::kPatienceMs));
  auto third = table_->Wait("alice", answers[2]->operation.number, milliseconds(test::kPatienceMs));
  ASSERT_TRUE(first.ok() && first->completion && third.ok() && third->completion);
  EXPECT_EQ(first->completion->result, "a");
  EXPECT_EQ(third->completion->result, "c");
  EXPECT_EQ(listener_.Records().size(), 2u);
  EXPECT_EQ(table_->outstanding(), 0u);
}

// A completion says whether a unary Submit (no session) asked for its
// operation, first or as a retry of a session's: a client's own watcher
// leaves the others to their sessions.
TEST_F(OperationTableTest, ACompletionSaysWhetherAUnarySubmitAskedForIt) {
  SubmitSpec alone = Echo("alone");
  alone.session = 7;
  alone.request_id = "alone";
  alone.delay = std::chrono::hours(1);  // completes when cancelled
  SubmitSpec retried = alone;
  retried.request_id = "retried";
  auto a = table_->Submit(alone);
  auto b = table_->Submit(retried);
  retried.session = 0;
  auto again = table_->Submit(retried);
  auto plain = table_->Submit(Echo("plain"));
  ASSERT_TRUE(a.ok() && b.ok() && again.ok() && plain.ok());
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(again->operation.number, b->operation.number);
  ASSERT_TRUE(table_->Cancel("alice", a->operation.number).ok());
  ASSERT_TRUE(table_->Cancel("alice", b->operation.number).ok());
  ASSERT_TRUE(table_->Drain(Clock::now() + milliseconds(test::kPatienceMs)));
  std::map<OperationNumber, CompletionRecord> by_id;
  for (CompletionRecord& c : listener_.Records()) by_id[c.operation] = c;
  ASSERT_EQ(by_id.size(), 3u);
  EXPECT_FALSE(by_id[a->operation.number].unary);
  EXPECT_EQ(by_id[a->operation.number].session, 7u);
  EXPECT_TRUE(by_id[b->operation.number].unary);
  EXPECT_EQ(by_id[b->operation.number].session, 7u);
  EXPECT_TRUE(by_id[plain->operation.number].unary);
}

std::string RequestId(int round, int i) {
  std::string id = "r";
  id += std::to_string(round);
  id += '-';
  id += std::to_string(i);
  return id;
}

// Two batches that name the same request ids in opposite orders, at once,
// neither wait for each other for ever: each id is one operation.
TEST_F(OperationTableTest, BatchesSharingRequestIdsDoNotWaitForEachOther) {
  constexpr int kIds = 50;
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<SubmitSpec> forward, backward;
    for (int i = 0; i < kIds; ++i) {
      forward.push_back(Echo("f"));
      forward.back().request_id = RequestId(round, i);
      backward.push_back(Echo("b"));
      backward.back().request_id = RequestId(round, kIds - 1 - i);
    }
    std::vector<StatusOr<SubmitResult>> other;
    std::thread t([&] { other = table_->SubmitBatch(std::move(backward)); });
    auto mine = table_->SubmitBatch(std::move(forward));
    t.join();
    for (int i = 0; i < kIds; ++i) {
      const auto& a = mine[static_cast<std::size_t>(i)];
      const auto& b = other[static_cast<std::size_t>(kIds - 1 - i)];
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(a->operation.number, b->operation.number);
      EXPECT_NE(a->deduplicated, b->deduplicated);  // one of the two made it
    }
  }
  ASSERT_TRUE(table_->Drain(Clock::now() + milliseconds(test::kPatienceMs)));
  EXPECT_EQ(listener_.Records().size(), static_cast<std::size_t>(kIds * kRounds));
}

// Completions delivered together reach a listener that takes them in
// batches in sequence order, each once; a cancel answers with the
// completion however it was delivered.
TEST_F(OperationTableTest, CompletionsDeliveredTogetherStayInSequenceOrder) {
  class BatchListener final : public CompletionListener {
   public:
    void OnCompletions(std::span<const CompletionPtr> batch) override {
      std::lock_guard lock(mu);
      ++calls;
      for (const CompletionPtr& c : batch) sequences.push_back(c->sequence);
    }
    std::mutex mu;
    int calls = 0;
    std::vector<std::uint64_t> sequences;
  } batches;
  table_.reset();
  table_ = std::make_unique<OperationTable>(kinds_, *queues_, events_, &batches);
  constexpr std::size_t kOps = 2000;
  std::vector<SubmitSpec> specs;
  for (std::size_t i = 0; i < kOps; ++i) specs.push_back(Echo(std::to_string(i)));
  SubmitSpec later = Echo("later");
  later.delay = std::chrono::hours(1);
  specs.push_back(later);
  auto answers = table_->SubmitBatch(std::move(specs));
  for (const auto& a : answers) ASSERT_TRUE(a.ok());
  auto cancelled = table_->Cancel("alice", answers.back()->operation.number);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_TRUE(cancelled->cancelled);
  EXPECT_EQ(cancelled->operation.state, OperationState::kCompleted);
  ASSERT_TRUE(cancelled->operation.completion != nullptr);
  EXPECT_EQ(cancelled->operation.completion->status, MF_E_OPERATION_CANCELLED);
  ASSERT_TRUE(table_->Drain(Clock::now() + milliseconds(test::kPatienceMs)));
  std::lock_guard lock(batches.mu);
  ASSERT_EQ(batches.sequences.size(), kOps + 1);
  for (std::size_t i = 0; i < batches.sequences.size(); ++i) {
    EXPECT_EQ(batches.sequences[i], i + 1);
  }
  EXPECT_LE(batches.calls, static_cast<int>(kOps + 1));
}

// Operations on their queue waiting for their turn are counted as ready
// (their completions are on their way, and deliveries wait for them) until
// they start or complete otherwise; delayed and waiting ones are not. Once
// the queue runs them, each is delivered once, in sequence order.
TEST_F(OperationTableTest, OperationsWaitingForTheirTurnAreReadyUntilTheyStart) {
  auto created = queues_->Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(created.ok());
  test::QueueBlocker blocker;
  ASSERT_TRUE(blocker.Block(created->id));
  constexpr std::size_t kOps = 50;
  std::vector<SubmitSpec> specs;
  for (std::size_t i = 0; i < kOps; ++i) specs.push_back(Echo(std::to_string(i), created->id));
  SubmitSpec later = Echo("later", created->id);
  later.delay = std::chrono::hours(1);
  specs.push_back(later);
  ASSERT_TRUE(events_.Create("alice", "never", true, false).ok());
  SubmitSpec waiting = Echo("waiting", created->id);
  waiting.wait_event = "never";
  specs.push_back(waiting);
  auto answers = table_->SubmitBatch(std::move(specs));
  for (const auto& a : answers) ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(table_->ready(), kOps);

  // Cancelled before its turn: no longer on its way.
  ASSERT_TRUE(table_->Cancel("alice", answers[0]->operation.number)->cancelled);
  EXPECT_EQ(table_->ready(), kOps - 1);
  ASSERT_TRUE(table_->Cancel("alice", answers[kOps]->operation.number)->cancelled);
  ASSERT_TRUE(table_->Cancel("alice", answers[kOps + 1]->operation.number)->cancelled);
  EXPECT_EQ(table_->ready(), kOps - 1);

  blocker.Release();
  ASSERT_TRUE(table_->Drain(Clock::now() + milliseconds(test::kPatienceMs)));
  EXPECT_EQ(table_->ready(), 0u);
  auto records = listener_.Records();
  ASSERT_EQ(records.size(), kOps + 2);
  std::map<OperationNumber, std::size_t> seen;
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].sequence, i + 1);
    ++seen[records[i].operation];
  }
  for (std::size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(seen[answers[i]->operation.number], 1u) << i;
  }
  for (const CompletionRecord& c : records) {
    if (c.operation == answers[1]->operation.number) {
      EXPECT_EQ(c.result, "1");
    }
  }
}

// A submission refused by a limit leaves its request id free for a later
// attempt, which then runs.
TEST_F(OperationTableTest, ASubmissionALimitRefusesLeavesItsRequestIdFree) {
  table_.reset();
  OperationTableOptions options;
  options.max_inflight_per_client = 1;
  table_ = std::make_unique<OperationTable>(kinds_, *queues_, events_, &listener_, options);
  auto blocking = table_->Submit(Sleep(std::chrono::hours(1)));
  ASSERT_TRUE(blocking.ok());
  SubmitSpec spec = Echo("later");
  spec.request_id = "req-limited";
  SubmitSpec again = spec;
  auto refused = table_->Submit(std::move(spec));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(table_->Cancel("alice", blocking->operation.number)->cancelled);
  ASSERT_TRUE(
      table_->Wait("alice", blocking->operation.number, milliseconds(test::kPatienceMs))->completion);
  auto accepted = table_->Submit(std::move(again));
  ASSERT_TRUE(accepted.ok()) << accepted.status().message();
  EXPECT_FALSE(accepted->deduplicated);
  auto done = table_->Wait("alice", accepted->operation.number, milliseconds(test::kPatienceMs));
  ASSERT_TRUE(done.ok() && done->completion);
  EXPECT_EQ(done->completion->result, "later");
}

// A batch's operations are numbered consecutively, from one block taken
// for the whole batch: batches submitted at the same time never interleave
// their numbers (the journal relies on it to find an operation's batch).
TEST_F(OperationTableTest, ABatchIsNumberedFromOneBlock) {
  auto first = table_->Submit(Echo("a"));
  ASSERT_TRUE(first.ok());
  const std::uint64_t n = first->operation.number.value;
  std::vector<SubmitSpec> batch = {Echo("b"), Echo("c"), Echo("d")};
  batch[1].kind = "no-such-kind";
  std::vector<StatusOr<SubmitResult>> answers = table_->SubmitBatch(batch);
  ASSERT_TRUE(answers[0].ok() && answers[2].ok());
  EXPECT_FALSE(answers[1].ok());
  EXPECT_EQ(answers[0]->operation.number, OperationNumber(n + 1));
  EXPECT_EQ(answers[2]->operation.number, OperationNumber(n + 2));
  // The refused one's place at the end of the block stays unused; a retry
  // answered with its first attempt takes no number at all.
  SubmitSpec retried = Echo("e");
  retried.request_id = "req-e";
  auto e = table_->Submit(retried);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->operation.number, OperationNumber(n + 4));
  auto again = table_->Submit(retried);
  ASSERT_TRUE(again.ok() && again->deduplicated);
  auto f = table_->Submit(Echo("f"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->operation.number, OperationNumber(n + 5));
  for (const OperationNumber id :
       {answers[0]->operation.number, answers[2]->operation.number, e->operation.number, f->operation.number}) {
    EXPECT_TRUE(table_->Wait("alice", id, milliseconds(test::kPatienceMs))->completion) << id;
  }
}

// A submission MF refuses leaves nothing behind: no completion, no counts,
// and its request id free for a later attempt.
TEST_F(OperationTableTest, ASubmissionMfRefusesLeavesNothingBehind) {
  ASSERT_TRUE(events_.Create("alice", "e", true, false).ok());
  auto handle = events_.Handle("alice", "e");
  ASSERT_TRUE(handle.ok());
  SubmitSpec spec = Echo("x");
  spec.request_id = "r";
  ASSERT_EQ(MFShutdown(), S_OK);  // MF now refuses every put
  auto refused = table_->Submit(spec);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  EXPECT_TRUE(listener_.Records().empty());
  EXPECT_EQ(queues_->Get("alice", MFASYNC_CALLBACK_QUEUE_MULTITHREADED)->counters->pending.load(),
            0u);
  CompletionRecord c = Run(spec);  // the request id was not taken
  EXPECT_EQ(c.status, S_OK);
}

// A deadline also ends an operation still waiting for its delay, and the
// counters show it cancelled, never run.
TEST_F(OperationTableTest, ADeadlineEndsAScheduledOperation) {
  SubmitSpec spec = Echo("x");
  spec.delay = std::chrono::hours(1);
  spec.deadline = clock_.Now() + milliseconds(20);
  auto s = table_->Submit(std::move(spec));
  ASSERT_TRUE(s.ok());
  clock_.Advance(milliseconds(20));
  auto done = table_->Wait("alice", s->operation.number, milliseconds(test::kPatienceMs));
  ASSERT_TRUE(done.ok() && done->completion);
  const CompletionRecord c = *done->completion;
  EXPECT_EQ(c.status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(c.message, "deadline passed");
  EXPECT_FALSE(c.start_time.has_value());
  auto counters = queues_->Get("alice", MFASYNC_CALLBACK_QUEUE_MULTITHREADED)->counters;
  EXPECT_EQ(counters->cancelled.load(), 1u);
  EXPECT_EQ(counters->pending.load(), 0u);
  EXPECT_EQ(counters->running.load(), 0u);
}

// Retention by age, on the table's clock: what completed more than
// retain_age ago goes at the next Maintain (and replaying from before it
// is OUT_OF_RANGE); what is younger stays.
TEST_F(OperationTableTest, RetentionByAgeDropsWhatCompletedTooLongAgo) {
  table_.reset();
  OperationTableOptions options;
  options.clock = &clock_;
  options.retain_age = std::chrono::hours(1);
  table_ = std::make_unique<OperationTable>(kinds_, *queues_, events_, &listener_, options);
  std::vector<OperationNumber> old, young;
  for (int i = 0; i < 3; ++i) old.push_back(Run(Echo("old")).operation);
  clock_.Advance(std::chrono::minutes(30));
  for (int i = 0; i < 2; ++i) young.push_back(Run(Echo("young")).operation);
  clock_.Advance(std::chrono::minutes(30));
  table_->Maintain();  // exactly an hour: kept
  EXPECT_TRUE(table_->Get("alice", old[0]).ok());
  clock_.Advance(std::chrono::nanoseconds(1));
  table_->Maintain();
  for (OperationNumber n : old) {
    EXPECT_EQ(table_->Get("alice", n).status().code(), StatusCode::kNotFound) << n;
  }
  for (OperationNumber n : young) EXPECT_TRUE(table_->Get("alice", n).ok()) << n;
  auto replay = table_->ReadCompletions(0, 100);
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->completions.size(), 2u);
  EXPECT_EQ(replay->completions[0]->operation, young[0]);
  EXPECT_EQ(table_->ReadCompletions(1, 100).status().code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(table_->ReadCompletions(3, 100).ok());
}

// A queue's pending count holds what is queued to run and has not started:
// not operations still waiting for their delay or their event.
TEST_F(OperationTableTest, PendingCountsOnlyOperationsQueuedToRun) {
  auto created = queues_->Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(created.ok());
  auto counters = queues_->Counters(created->id);
  ASSERT_TRUE(counters.ok());
  SubmitSpec later = Echo("later", created->id);
  later.delay = std::chrono::hours(1);
  auto scheduled = table_->Submit(later);
  ASSERT_TRUE(events_.Create("alice", "go", true, false).ok());
  SubmitSpec gated = Echo("gated", created->id);
  gated.wait_event = "go";
  auto waiting = table_->Submit(gated);
  ASSERT_TRUE(scheduled.ok() && waiting.ok());
  EXPECT_EQ((*counters)->pending.load(), 0u);

  test::QueueBlocker blocker;
  ASSERT_TRUE(blocker.Block(created->id));
  auto queued = table_->Submit(Echo("queued", created->id));
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ((*counters)->pending.load(), 1u);
  ASSERT_TRUE(table_->Cancel("alice", scheduled->operation.number).ok());
  ASSERT_TRUE(table_->Cancel("alice", waiting->operation.number).ok());
  EXPECT_EQ((*counters)->pending.load(), 1u);
  blocker.Release();
  // (The waiting one is given back by MF on its queue, once it is free.)
  for (const auto* submitted : {&scheduled, &waiting, &queued}) {
    ASSERT_TRUE(table_->Wait("alice", (*submitted)->operation.number,
                             milliseconds(test::kPatienceMs))
                    ->completion);
  }
  EXPECT_EQ((*counters)->pending.load(), 0u);
  EXPECT_EQ((*counters)->running.load(), 0u);
  EXPECT_EQ((*counters)->cancelled.load(), 2u);
  EXPECT_EQ((*counters)->completed.load(), 1u);
}

// On a queue that runs one item at a time, an operation's completion time
// is taken as its callback returns: the next one starts after it, never
// before (their times never overlap).
TEST_F(OperationTableTest, OneAtATimeOperationsNeverOverlapInTheirTimes) {
  auto created = queues_->Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(created.ok());
  constexpr int kOps = 300;
  std::vector<SubmitSpec> specs;
  for (int i = 0; i < kOps; ++i) specs.push_back(Echo(std::to_string(i), created->id));
  auto answers = table_->SubmitBatch(std::move(specs));
  std::vector<CompletionRecord> done;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.ok());
    auto v = table_->Wait("alice", a->operation.number, milliseconds(test::kPatienceMs));
    ASSERT_TRUE(v.ok() && v->completion);
    ASSERT_TRUE(v->completion->start_time);
    done.push_back(*v->completion);
  }
  std::sort(done.begin(), done.end(), [](const CompletionRecord& a, const CompletionRecord& b) {
    return *a.start_time < *b.start_time;
  });
  for (std::size_t i = 1; i < done.size(); ++i) {
    EXPECT_GE(*done[i].start_time, done[i - 1].complete_time)
        << done[i].operation << " started before " << done[i - 1].operation << " completed";
  }
}

TEST_F(OperationTableTest, ListingFiltersAndPagesInSubmissionOrder) {
  std::vector<OperationNumber> echoes;
  for (int i = 0; i < 5; ++i) {
    CompletionRecord c = Run(Echo(std::to_string(i)));
    echoes.push_back(c.operation);
  }
  SubmitSpec waiting = Echo("w");
  ASSERT_TRUE(events_.Create("alice", "later", true, false).ok());
  waiting.wait_event = "later";
  auto w = table_->Submit(std::move(waiting));
  ASSERT_TRUE(w.ok());
  SubmitSpec bobs = Echo("b");
  bobs.client = "bob";
  ASSERT_TRUE(table_->Submit(std::move(bobs)).ok());

  OperationFilter completed;
  completed.states = {OperationState::kCompleted};
  completed.kind = "echo";
  std::vector<OperationNumber> listed;
  std::string token;
  do {
    auto page = table_->List("alice", completed, 2, token);
    ASSERT_TRUE(page.ok()) << page.status().message();
    EXPECT_LE(page->operations.size(), 2u);
    for (const OperationView& v : page->operations) listed.push_back(v.number);
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(listed, echoes);

  OperationFilter waiting_only;
  waiting_only.states = {OperationState::kWaiting};
  auto page = table_->List("alice", waiting_only, 0, "");
  ASSERT_EQ(page->operations.size(), 1u);
  EXPECT_EQ(page->operations[0].number, w->operation.number);
  EXPECT_EQ(table_->List("alice", {}, 0, "x").status().message(),
            "page_token: not one this server gave");
  EXPECT_EQ(table_->List("alice", {}, 1001, "").status().message(), "page_size: must be 0 to 1000");
  ASSERT_TRUE(events_.Set("alice", "later").ok());
}

TEST_F(OperationTableTest, AClientSeesOnlyItsOwnOperations) {
  auto s = table_->Submit(Echo("mine"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(table_->Get("bob", s->operation.number).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(table_->Cancel("bob", s->operation.number).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mfwq::server
