// The operation table over the real SQLite journal, in a real file:
// restarts restore completed operations, complete interrupted ones with
// MF_E_SHUTDOWN, keep request ids and numbering; retention drops and
// prunes.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include <sqlite3.h>

#include "builtin_kinds.h"
#include "old_journal_layouts.h"
#include "operation_table.h"
#include "sqlite_journal.h"
#include "test_support.h"

namespace mfwq::server {
namespace {

using std::chrono::milliseconds;

class Recorder final : public CompletionListener {
 public:
  void OnCompletions(std::span<const CompletionPtr> completions) override {
    std::lock_guard lock(mu);
    for (const CompletionPtr& c : completions) records.push_back(*c);
  }
  void OnProgress(const ProgressRecord& p, std::uint64_t) override {
    std::lock_guard lock(mu);
    progress.push_back(p);
  }
  void OnStarted(OperationNumber operation) override {
    std::lock_guard lock(mu);
    started.push_back(operation);
  }
  std::mutex mu;
  std::vector<CompletionRecord> records;
  std::vector<OperationNumber> started;
  std::vector<ProgressRecord> progress;
};

// The real journal, but its commits fail while `fail` is set, as on a
// full disk.
class FlakyJournal final : public Journal {
 public:
  explicit FlakyJournal(Journal& real) : real_(real) {}
  StatusOr<JournalContents> Load() override { return real_.Load(); }
  Status Commit(const JournalWrite& write) override {
    if (fail.load()) {
      {
        std::lock_guard lock(mu_);
        ++refused_;
      }
      cv_.notify_all();
      return Status(StatusCode::kUnavailable, "journal: disk full (injected)");
    }
    return real_.Commit(write);
  }
  // Waits until it has refused `n` commits in all.
  void WaitForRefusals(int n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return refused_ >= n; });
  }
  std::atomic<bool> fail{false};

 private:
  Journal& real_;
  std::mutex mu_;
  std::condition_variable cv_;
  int refused_ = 0;
};

class JournalTest : public test::PlatformTest {
 protected:
  void SetUp() override {
    test::PlatformTest::SetUp();
    ASSERT_TRUE(RegisterBuiltinKinds(kinds_).ok());
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("mfwq-journal-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    queues_ = std::make_unique<QueueTable>();
  }
  void TearDown() override {
    Close();
    queues_.reset();
    std::filesystem::remove_all(dir_);
    test::PlatformTest::TearDown();
  }

  // Opens the journal and a table over it, restored; `flaky`: through a
  // FlakyJournal (flaky_).
  void Open(OperationTableOptions options = {}, bool flaky = false) {
    auto journal = SqliteJournal::Open((dir_ / "journal.db").string());
    ASSERT_TRUE(journal.ok()) << journal.status().message();
    journal_ = std::move(journal.value());
    flaky_ = std::make_unique<FlakyJournal>(*journal_);
    options.journal = flaky ? static_cast<Journal*>(flaky_.get()) : journal_.get();
    recorder_ = std::make_unique<Recorder>();
    table_ = std::make_unique<OperationTable>(kinds_, *queues_, events_, recorder_.get(), options);
    Status restored = table_->Restore();
    ASSERT_TRUE(restored.ok()) << restored.message();
  }
  // As a crash would leave it: nothing more reaches the file (the table's
  // own shutdown completions included).
  void Crash() { journal_->Close(); }
  void Close() {
    table_.reset();
    flaky_.reset();
    journal_.reset();
  }
  std::vector<std::uint64_t> HeardSequences() {
    std::lock_guard lock(recorder_->mu);
    std::vector<std::uint64_t> heard;
    for (const CompletionRecord& c : recorder_->records) heard.push_back(c.sequence);
    return heard;
  }

  static SubmitSpec Echo(const std::string& data, const std::string& request_id = "") {
    SubmitSpec spec;
    spec.client = "alice";
    spec.request_id = request_id;
    spec.queue = MFASYNC_CALLBACK_QUEUE_MULTITHREADED;
    spec.kind = "echo";
    spec.parameters = {{"data", Value(Bytes{data})}};
    spec.state = "state-" + data;
    return spec;
  }
  OperationView Done(OperationNumber id) {
    auto view = table_->Wait("alice", id, std::chrono::seconds(30));
    EXPECT_TRUE(view.ok());
    EXPECT_TRUE(view->completion != nullptr) << id;
    return view.value();
  }

  std::filesystem::path dir_;
  KindRegistry kinds_;
  std::unique_ptr<QueueTable> queues_;
  EventTable events_;
  std::unique_ptr<SqliteJournal> journal_;
  std::unique_ptr<FlakyJournal> flaky_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<OperationTable> table_;
};

TEST_F(JournalTest, ParametersSurviveTheirStoredForm) {
  Parameters p = {{"b", Value(true)},
                  {"i", Value(std::int64_t{-42})},
                  {"d", Value(2.5)},
                  {"s", Value(std::string("text"))},
                  {"y", Value(Bytes{std::string("\0\1\2", 3)})},
                  {"t", Value(std::chrono::nanoseconds(-7))}};
  Parameters back;
  ASSERT_TRUE(DecodeParameters(EncodeParameters(p), &back));
  EXPECT_EQ(back, p);
  const std::string encoded = EncodeParameters(p);
  EXPECT_FALSE(DecodeParameters(encoded.substr(0, encoded.size() - 1), &back));
  EXPECT_FALSE(DecodeParameters("garbage", &back));
}

TEST_F(JournalTest, ARestartRestoresCompletionsAndCompletesInterruptedOperations) {
  Open();
  auto done = table_->Submit(Echo("one", "req-1"));
  ASSERT_TRUE(done.ok());
  const OperationView finished = Done(done->operation.number);
  SubmitSpec scheduled = Echo("two", "req-2");
  scheduled.delay = std::chrono::hours(1);
  auto pending = table_->Submit(scheduled);
  ASSERT_TRUE(pending.ok());
  Crash();
  Close();

  Open();
  // The completed one is back as it was.
  OperationView restored = Done(finished.number);
  EXPECT_EQ(restored.completion->sequence, finished.completion->sequence);
  EXPECT_EQ(restored.completion->result, "one");
  EXPECT_EQ(restored.completion->state, "state-one");
  EXPECT_EQ(restored.parameters, finished.parameters);
  // The interrupted one completed with MF_E_SHUTDOWN, numbered after.
  OperationView interrupted = Done(pending->operation.number);
  EXPECT_EQ(interrupted.completion->status, MF_E_SHUTDOWN);
  EXPECT_EQ(interrupted.completion->state, "state-two");
  EXPECT_EQ(interrupted.completion->sequence, finished.completion->sequence + 1);
  EXPECT_EQ(table_->last_sequence(), interrupted.completion->sequence);
  // Request ids still deduplicate; new ids and sequences carry on.
  auto retry = table_->Submit(Echo("two", "req-2"));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->deduplicated);
  EXPECT_EQ(retry->operation.number, pending->operation.number);
  auto fresh = table_->Submit(Echo("three"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_GT(fresh->operation.number, pending->operation.number);
  const std::uint64_t fresh_sequence = Done(fresh->operation.number).completion->sequence;
  EXPECT_EQ(fresh_sequence, interrupted.completion->sequence + 1);
  EXPECT_EQ(table_->last_sequence(), fresh_sequence);

  // And the interrupted completion is itself durable: a second restart
  // does not complete it again.
  const std::uint64_t last = table_->last_sequence();
  Close();
  Open();
  EXPECT_EQ(table_->last_sequence(), last);
  EXPECT_EQ(Done(pending->operation.number).completion->sequence, interrupted.completion->sequence);
}

// A batch's acceptances are written together: after a crash every one of
// them comes back, completed or interrupted, and none twice. A batch the
// journal cannot write is refused whole, leaving nothing behind.
TEST_F(JournalTest, ABatchIsJournaledWhole) {
  Open();
  std::vector<SubmitSpec> batch;
  for (int i = 0; i < 200; ++i) {
    std::string id = "batch-";
    id += std::to_string(i);
    batch.push_back(Echo("x", id));
    if (i % 2 == 1) batch.back().delay = std::chrono::hours(1);  // these are interrupted
  }
  auto answers = table_->SubmitBatch(batch);
  std::vector<OperationNumber> ids;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.ok()) << a.status().message();
    ids.push_back(a->operation.number);
  }
  for (std::size_t i = 0; i < ids.size(); i += 2) Done(ids[i]);
  Crash();
  EXPECT_EQ(table_->SubmitBatch(batch).size(), batch.size());  // deduplicated: nothing written
  std::vector<SubmitSpec> refused = {Echo("y", "after-1"), Echo("z", "after-2")};
  for (const auto& a : table_->SubmitBatch(refused)) {
    EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(a.status().message().find("journal"), std::string::npos) << a.status().message();
  }
  Close();  // waits for what MF still runs
  {
    // Put on their queue while the journal was being written (and failed):
    // they never started.
    const std::set<OperationNumber> accepted(ids.begin(), ids.end());
    std::lock_guard lock(recorder_->mu);
    EXPECT_FALSE(recorder_->started.empty());
    for (const OperationNumber id : recorder_->started) EXPECT_EQ(accepted.count(id), 1u) << id;
  }

  Open();
  std::set<std::uint64_t> sequences;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    OperationView v = Done(ids[i]);
    EXPECT_EQ(v.completion->status, i % 2 == 0 ? S_OK : MF_E_SHUTDOWN) << ids[i];
    EXPECT_TRUE(sequences.insert(v.completion->sequence).second);
  }
  // The refused ones were never written: their request ids are free.
  auto again = table_->SubmitBatch(refused);
  for (const auto& a : again) {
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(a->deduplicated);
  }
}

// On a full disk, a completion the journal cannot write is told to nobody:
// no listener hears of it and the table does not show it; nothing new is
// accepted. Once the journal writes again, it is written under the
// sequence it was given, then published; a restart finds the same.
TEST_F(JournalTest, ACompletionIsToldToNobodyUntilTheJournalHasIt) {
  Open({}, /*flaky=*/true);
  const OperationView first = Done(table_->Submit(Echo("first"))->operation.number);
  ASSERT_TRUE(events_.Create("alice", "go", true, false).ok());
  SubmitSpec waiting = Echo("later");
  waiting.wait_event = "go";
  auto later = table_->Submit(waiting);
  ASSERT_TRUE(later.ok());

  flaky_->fail = true;
  ASSERT_TRUE(events_.Set("alice", "go").ok());  // it runs now, and its write fails
  flaky_->WaitForRefusals(2);                     // written again, and refused again
  EXPECT_EQ(HeardSequences(), std::vector<std::uint64_t>{first.completion->sequence});
  auto shown = table_->Get("alice", later->operation.number);
  ASSERT_TRUE(shown.ok());
  EXPECT_NE(shown->state, OperationState::kCompleted);
  EXPECT_EQ(shown->completion, nullptr);
  auto refused = table_->Submit(Echo("refused"));
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("disk full (injected)"), std::string::npos)
      << refused.status().message();

  flaky_->fail = false;
  const OperationView done = Done(later->operation.number);
  EXPECT_EQ(done.completion->sequence, first.completion->sequence + 1);
  EXPECT_EQ(done.completion->result, "later");
  EXPECT_EQ(HeardSequences(),
            (std::vector<std::uint64_t>{first.completion->sequence, done.completion->sequence}));
  EXPECT_TRUE(table_->Submit(Echo("accepted again")).ok());
  Close();
  Open();
  EXPECT_EQ(Done(later->operation.number).completion->sequence, done.completion->sequence);
}

// A completion still unwritten when the server goes is given up: nobody
// heard of it, and after a restart it is interrupted (MF_E_SHUTDOWN) under
// a sequence number nobody was told before.
TEST_F(JournalTest, ACompletionUnwrittenAtShutdownComesBackInterrupted) {
  Open({}, /*flaky=*/true);
  ASSERT_TRUE(events_.Create("alice", "go", true, false).ok());
  SubmitSpec waiting = Echo("never written");
  waiting.wait_event = "go";
  auto op = table_->Submit(waiting);
  ASSERT_TRUE(op.ok());
  flaky_->fail = true;
  ASSERT_TRUE(events_.Set("alice", "go").ok());
  flaky_->WaitForRefusals(1);
  Close();  // gives up on it
  EXPECT_TRUE(HeardSequences().empty());
  Open();
  const OperationView v = Done(op->operation.number);
  EXPECT_EQ(v.completion->status, MF_E_SHUTDOWN);
  EXPECT_EQ(v.completion->sequence, 1u);
  EXPECT_EQ(HeardSequences(), std::vector<std::uint64_t>{1});
  EXPECT_EQ(Done(table_->Submit(Echo("next"))->operation.number).completion->sequence, 2u);
}

TEST_F(JournalTest, ShutdownCompletesOpenOperationsWithMfEShutdownDurably) {
  Open();
  SubmitSpec sleep;
  sleep.client = "alice";
  sleep.queue = MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION;
  sleep.kind = "sleep";
  sleep.parameters = {{"duration", Value(std::chrono::nanoseconds(std::chrono::hours(1)))}};
  auto running = table_->Submit(sleep);
  ASSERT_TRUE(running.ok());
  table_->StopAccepting();
  EXPECT_EQ(table_->Submit(Echo("late")).status().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(table_->Drain(Clock::now() + milliseconds(10)));
  table_->CancelAll("server shutting down");
  EXPECT_EQ(table_->outstanding(), 0u);
  Close();
  Open();
  OperationView v = Done(running->operation.number);
  EXPECT_EQ(v.completion->status, MF_E_SHUTDOWN);
  EXPECT_EQ(v.completion->message, "server shutting down");
}

TEST_F(JournalTest, RetentionDropsTheOldestAndReplayStartsAfterThem) {
  OperationTableOptions options;
  options.retain_count = 5;
  Open(options);
  std::vector<OperationNumber> ids;
  for (int i = 0; i < 12; ++i) {
    auto op = table_->Submit(Echo(std::to_string(i), "r" + std::to_string(i)));
    ASSERT_TRUE(op.ok());
    Done(op->operation.number);
    ids.push_back(op->operation.number);
  }
  auto all = table_->ReadCompletions(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->completions.size(), 5u);
  EXPECT_EQ(all->completions.front()->sequence, 8u);
  EXPECT_EQ(table_->Get("alice", ids[0]).status().code(), StatusCode::kNotFound);
  auto gone = table_->ReadCompletions(3, 100);
  EXPECT_EQ(gone.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(gone.status().message().find("oldest retained is 8"), std::string::npos)
      << gone.status().message();
  ASSERT_TRUE(table_->ReadCompletions(7, 100).ok());
  // A dropped request id no longer deduplicates.
  auto again = table_->Submit(Echo("0", "r0"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->deduplicated);
  Done(again->operation.number);

  // The journal forgets them too, and numbering carries on after a restart.
  table_->Maintain();
  const std::uint64_t last = table_->last_sequence();
  Close();
  Open(options);
  EXPECT_EQ(table_->last_sequence(), last);
  auto kept = table_->ReadCompletions(0, 100);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->completions.size(), 5u);
  EXPECT_EQ(kept->completions.back()->sequence, last);
}

// A journal written by a server of the first layout (one row per
// operation, schema version 1) is upgraded when opened, and loses nothing:
// completions come back, interrupted operations complete, numbering goes on.
TEST_F(JournalTest, AVersion1JournalIsUpgradedWithNothingLost) {
  const std::string path = (dir_ / "journal.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string parameters = EncodeParameters({{"data", Value(Bytes{std::string("old")})}});
    std::string sql = std::string(journal::test::kVersion1Tables) + R"sql(
      INSERT INTO meta VALUES ('schema_version', 1), ('last_sequence', 7),
                              ('last_operation_number', 9);
    )sql";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_stmt* insert = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "INSERT INTO operations VALUES (?1, ?2, ?3, 'alice', 5, 'echo', "
                                 "?4, 0, ?5, ?13, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                 -1, &insert, nullptr),
              SQLITE_OK);
    // Within retention: nanoseconds since the Unix epoch, as the journal keeps times.
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
            .count();
    // Operation 10 completed (sequence 8); operation 11 was never completed.
    for (int number : {10, 11}) {
      sqlite3_bind_int64(insert, 1, number);
      const std::string id = OperationId(OperationNumber(static_cast<std::uint64_t>(number)));
      sqlite3_bind_text(insert, 2, id.c_str(), -1, SQLITE_TRANSIENT);
      const std::string request = number == 10 ? "old-done" : "old-open";
      sqlite3_bind_text(insert, 3, request.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(insert, 4, parameters.data(), static_cast<int>(parameters.size()),
                        SQLITE_TRANSIENT);
      sqlite3_bind_blob(insert, 5, "st", 2, SQLITE_STATIC);
      if (number == 10) {
        sqlite3_bind_int64(insert, 6, 8);
        sqlite3_bind_int64(insert, 7, 0);
        sqlite3_bind_text(insert, 8, "done", -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 9, 3);
        sqlite3_bind_blob(insert, 10, "old", 3, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 11, now + 1);
        sqlite3_bind_int64(insert, 12, now + 2);
      }
      sqlite3_bind_int64(insert, 13, now);
      ASSERT_EQ(sqlite3_step(insert), SQLITE_DONE) << sqlite3_errmsg(db);
      sqlite3_reset(insert);
      sqlite3_clear_bindings(insert);
    }
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }

  Open();
  OperationView done = Done(OperationNumber(10));
  EXPECT_EQ(done.request_id, "old-done");
  EXPECT_EQ(done.completion->sequence, 8u);
  EXPECT_EQ(done.completion->status, S_OK);
  EXPECT_EQ(done.completion->result, "old");
  EXPECT_EQ(done.completion->bytes_transferred, 3u);
  EXPECT_EQ(done.completion->state, "st");
  EXPECT_EQ(done.parameters.at("data"), Value(Bytes{std::string("old")}));
  OperationView open = Done(OperationNumber(11));
  EXPECT_EQ(open.completion->status, MF_E_SHUTDOWN);
  EXPECT_EQ(open.completion->sequence, 9u);
  auto retry = table_->Submit(Echo("x", "old-open"));
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->deduplicated);
  auto fresh = table_->Submit(Echo("new"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->operation.number, OperationNumber(12));
  EXPECT_EQ(Done(fresh->operation.number).completion->sequence, 10u);
  // And it stays upgraded.
  Close();
  Open();
  EXPECT_EQ(Done(OperationNumber(10)).completion->result, "old");
  EXPECT_EQ(table_->last_sequence(), 10u);
}

// The journal alone: batches of operations and of completions written as
// the table writes them, read back after retention has forgotten part of a
// batch.
class SqliteJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("mfwq-sqlite-journal-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string path() const { return (dir_ / "journal.db").string(); }
  void Reopen() {
    journal_.reset();
    auto journal = SqliteJournal::Open(path());
    ASSERT_TRUE(journal.ok()) << journal.status().message();
    journal_ = std::move(journal.value());
  }
  // Accepts operations `numbers` as one batch.
  void Accept(const std::vector<std::uint64_t>& numbers) {
    std::vector<OperationView> views(numbers.size());
    std::vector<std::string> states(numbers.size());
    std::vector<AcceptedRecord> records;
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      OperationView& v = views[i];
      v.number = OperationNumber(numbers[i]);
      v.request_id = "req-" + std::to_string(numbers[i]);
      v.client = numbers[i] % 2 == 0 ? "alice" : "bob";
      v.queue = 5;
      v.kind = "echo";
      v.parameters = {{"data", Value(Bytes{std::to_string(numbers[i])})}};
      v.priority = -static_cast<LONG>(numbers[i]);
      v.submit_time = Clock::now();
      states[i] = "state-" + std::to_string(numbers[i]);
      records.push_back({&views[i], &states[i]});
    }
    Status s = journal_->Accepted(records);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // Completes them as one batch: {sequence, operation number}.
  void Complete(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& completions) {
    std::vector<CompletionPtr> records;
    for (const auto& [sequence, number] : completions) {
      CompletionRecord c;
      c.sequence = sequence;
      c.operation = OperationNumber(number);
      c.status = static_cast<HRESULT>(0x80000000u + static_cast<std::uint32_t>(number));
      c.message = "done " + std::to_string(number);
      c.bytes_transferred = number * 1000;
      c.result = "result-" + std::to_string(number);
      if (number % 2 == 0) c.start_time = Clock::now() - std::chrono::seconds(1);
      c.complete_time = Clock::now();
      records.push_back(std::make_shared<const CompletionRecord>(std::move(c)));
    }
    Status s = journal_->Completed(records);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // Operation number -> completion sequence (0: not completed).
  std::map<std::uint64_t, std::uint64_t> Loaded(JournalContents* contents = nullptr) {
    auto loaded = journal_->Load();
    EXPECT_TRUE(loaded.ok()) << loaded.status().message();
    std::map<std::uint64_t, std::uint64_t> out;
    if (!loaded.ok()) return out;
    OperationNumber previous;
    for (const JournaledOperation& op : loaded->operations) {
      EXPECT_LT(previous, op.view.number) << "in number order";
      previous = op.view.number;
      const std::uint64_t number = op.view.number.value;
      EXPECT_EQ(op.view.request_id, "req-" + std::to_string(number));
      EXPECT_EQ(op.view.client, number % 2 == 0 ? "alice" : "bob");
      EXPECT_EQ(op.view.priority, -static_cast<LONG>(number));
      EXPECT_EQ(op.state, "state-" + std::to_string(number));
      EXPECT_EQ(op.view.parameters.at("data"), Value(Bytes{std::to_string(number)}));
      const CompletionPtr& c = op.view.completion;
      if (c != nullptr) {
        EXPECT_EQ(static_cast<std::uint32_t>(c->status), 0x80000000u + number);
        EXPECT_EQ(c->message, "done " + std::to_string(number));
        EXPECT_EQ(c->bytes_transferred, number * 1000);
        EXPECT_EQ(c->result, "result-" + std::to_string(number));
        EXPECT_EQ(c->start_time.has_value(), number % 2 == 0);
        if (c->start_time) {
          EXPECT_LT(*c->start_time, c->complete_time);
        }
        EXPECT_EQ(c->submit_time, op.view.submit_time);
      }
      out[number] = c == nullptr ? 0 : c->sequence;
    }
    if (contents != nullptr) *contents = std::move(loaded.value());
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteJournal> journal_;
};

TEST_F(SqliteJournalTest, RetentionTakesItsOperationsOutOfTheirBatches) {
  Accept({1, 2, 3});
  Accept({4, 5, 6});
  Complete({{1, 2}, {2, 1}, {3, 4}});
  Complete({{4, 3}, {5, 6}});
  using Map = std::map<std::uint64_t, std::uint64_t>;
  EXPECT_EQ(Loaded(), (Map{{1, 2}, {2, 1}, {3, 4}, {4, 3}, {5, 0}, {6, 5}}));
  // Sequences 1-4 go: a batch of completions straddles the cut, and both
  // batches of operations lose some of theirs.
  ASSERT_TRUE(journal_->Prune(4).ok());
  JournalContents contents;
  EXPECT_EQ(Loaded(&contents), (Map{{5, 0}, {6, 5}}));
  EXPECT_EQ(contents.last_sequence, 5u);
  EXPECT_EQ(contents.last_operation_number, 6u);
  // Pruning again, or less, changes nothing; it all survives a reopen.
  ASSERT_TRUE(journal_->Prune(4).ok());
  ASSERT_TRUE(journal_->Prune(2).ok());
  Reopen();
  EXPECT_EQ(Loaded(), (Map{{5, 0}, {6, 5}}));
  // Everything completed goes; numbering carries on after it all.
  Complete({{6, 5}});
  ASSERT_TRUE(journal_->Prune(6).ok());
  EXPECT_EQ(Loaded(&contents), Map{});
  EXPECT_EQ(contents.last_sequence, 6u);
  EXPECT_EQ(contents.last_operation_number, 6u);
}

// Batches accepted at the same time may interleave their numbers: each
// operation is still found in its own batch.
TEST_F(SqliteJournalTest, InterleavedBatchesAndWithdrawals) {
  Accept({1, 3, 5, 7});
  Accept({2, 4, 6, 8});
  Accept({9});
  Complete({{1, 2}, {2, 5}, {3, 8}, {4, 1}});
  ASSERT_TRUE(journal_->Prune(3).ok());
  using Map = std::map<std::uint64_t, std::uint64_t>;
  EXPECT_EQ(Loaded(), (Map{{1, 4}, {3, 0}, {4, 0}, {6, 0}, {7, 0}, {9, 0}}));
  // A withdrawn operation goes, wherever it is; one not held changes nothing.
  ASSERT_TRUE(journal_->Withdrawn(OperationNumber(7)).ok());
  ASSERT_TRUE(journal_->Withdrawn(OperationNumber(4)).ok());
  ASSERT_TRUE(journal_->Withdrawn(OperationNumber(9)).ok());
  ASSERT_TRUE(journal_->Withdrawn(OperationNumber(100)).ok());
  Reopen();
  JournalContents contents;
  EXPECT_EQ(Loaded(&contents), (Map{{1, 4}, {3, 0}, {6, 0}}));
  EXPECT_EQ(contents.last_operation_number, 9u);
}

// A batch larger than a row holds is split over several, whole.
TEST_F(SqliteJournalTest, ALargeBatchSpansRows) {
  std::vector<OperationView> views(3);
  std::vector<std::string> states(3, std::string(700 * 1024, 's'));
  std::vector<AcceptedRecord> records;
  for (std::uint64_t n = 1; n <= 3; ++n) {
    views[n - 1].number = OperationNumber(n);
    views[n - 1].kind = "echo";
    records.push_back({&views[n - 1], &states[n - 1]});
  }
  ASSERT_TRUE(journal_->Accepted(records).ok());
  ASSERT_TRUE(journal_->Withdrawn(OperationNumber(2)).ok());
  Reopen();
  auto loaded = journal_->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_EQ(loaded->operations.size(), 2u);
  EXPECT_EQ(loaded->operations[0].view.number, OperationNumber(1));
  EXPECT_EQ(loaded->operations[1].view.number, OperationNumber(3));
  EXPECT_EQ(loaded->operations[1].state, states[2]);
}

// A row that cannot be read back is reported, not skipped.
TEST_F(SqliteJournalTest, ADamagedRowIsDataLoss) {
  Accept({1, 2});
  journal_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE accepted SET operations = substr(operations, 1, 10)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  Reopen();
  auto loaded = journal_->Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find("accepted from number 1 is damaged"), std::string::npos)
      << loaded.status().message();
}

// A journal of schema version 2 (a row per operation and per completion)
// is upgraded when opened, with nothing lost and what was pruned still gone.
TEST_F(SqliteJournalTest, AVersion2JournalIsUpgradedWithNothingLost) {
  journal_.reset();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path().c_str(), &db), SQLITE_OK);
    const std::string sql = std::string(journal::test::kVersion2Tables) + R"sql(
      INSERT INTO meta VALUES ('schema_version', 2), ('last_sequence', 3),
                              ('last_operation_number', 4);
    )sql";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_stmt* op = nullptr;
    sqlite3_stmt* done = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "INSERT INTO operations VALUES (?1, ?2, ?3, 5, 'echo', ?4, "
                                 "?5, ?6, 1000)",
                                 -1, &op, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(db,
                                 "INSERT INTO completions VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                                 "?7, 3000)",
                                 -1, &done, nullptr),
              SQLITE_OK);
    // Operations 5-7 (1-4 pruned); 5 and 7 completed, 6 not.
    for (std::uint64_t n : {5u, 6u, 7u}) {
      const std::string request = "req-" + std::to_string(n);
      const std::string client = n % 2 == 0 ? "alice" : "bob";
      const std::string parameters = EncodeParameters({{"data", Value(Bytes{std::to_string(n)})}});
      const std::string state = "state-" + std::to_string(n);
      sqlite3_bind_int64(op, 1, static_cast<sqlite3_int64>(n));
      sqlite3_bind_text(op, 2, request.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(op, 3, client.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_blob(op, 4, parameters.data(), static_cast<int>(parameters.size()),
                        SQLITE_TRANSIENT);
      sqlite3_bind_int64(op, 5, -static_cast<sqlite3_int64>(n));
      sqlite3_bind_blob(op, 6, state.data(), static_cast<int>(state.size()), SQLITE_TRANSIENT);
      ASSERT_EQ(sqlite3_step(op), SQLITE_DONE) << sqlite3_errmsg(db);
      sqlite3_reset(op);
      if (n == 6) continue;
      const std::string message = "done " + std::to_string(n);
      const std::string result = "result-" + std::to_string(n);
      sqlite3_bind_int64(done, 1, n == 5 ? 4 : 5);
      sqlite3_bind_int64(done, 2, static_cast<sqlite3_int64>(n));
      sqlite3_bind_int64(done, 3, 0x80000000LL + static_cast<sqlite3_int64>(n));
      sqlite3_bind_text(done, 4, message.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(done, 5, static_cast<sqlite3_int64>(n * 1000));
      sqlite3_bind_blob(done, 6, result.data(), static_cast<int>(result.size()), SQLITE_TRANSIENT);
      if (n % 2 == 0) {
        sqlite3_bind_int64(done, 7, 2000);
      } else {
        sqlite3_bind_null(done, 7);
      }
      ASSERT_EQ(sqlite3_step(done), SQLITE_DONE) << sqlite3_errmsg(db);
      sqlite3_reset(done);
    }
    sqlite3_finalize(op);
    sqlite3_finalize(done);
    sqlite3_close(db);
  }
  Reopen();
  using Map = std::map<std::uint64_t, std::uint64_t>;
  JournalContents contents;
  EXPECT_EQ(Loaded(&contents), (Map{{5, 4}, {6, 0}, {7, 5}}));
  EXPECT_EQ(contents.last_sequence, 5u);
  EXPECT_EQ(contents.last_operation_number, 7u);
  // It stays upgraded, and goes on from there.
  Complete({{6, 6}});
  ASSERT_TRUE(journal_->Prune(5).ok());
  Reopen();
  EXPECT_EQ(Loaded(), (Map{{6, 6}}));
}

TEST_F(JournalTest, AJournalOfAnUnknownSchemaVersionIsRefused) {
  const std::string path = (dir_ / "journal.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) "
                           "WITHOUT ROWID; INSERT INTO meta VALUES ('schema_version', 9);",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto journal = SqliteJournal::Open(path);
  ASSERT_FALSE(journal.ok());
  EXPECT_EQ(journal.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(journal.status().message().find("schema version 9"), std::string::npos)
      << journal.status().message();
}

TEST_F(JournalTest, ASecondServerCannotOpenAJournalInUse) {
  Open();
  auto second = SqliteJournal::Open((dir_ / "journal.db").string());
  if (second.ok()) {
    // The lock is taken at the first write: one is refused.
    auto loaded = second.value()->Load();
    EXPECT_FALSE(loaded.ok());
  } else {
    EXPECT_NE(second.status().message().find("journal"), std::string::npos);
  }
}

}  // namespace
}  // namespace mfwq::server
