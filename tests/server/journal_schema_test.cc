// The journal's schema and its upgrades (server/journal/journal_schema.h),
// on real SQLite files: a new journal gets the current schema; journals of
// versions 1 and 2 are upgraded with every operation and completion
// carried over, in rows of the current layout; an upgrade that cannot
// finish (the disk full) leaves the journal as it was; a newer version is
// refused.
#include "journal_schema.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "old_journal_layouts.h"
#include "record_codec.h"

namespace mfwq::server::journal {
namespace {

using test::kVersion1Tables;
using test::kVersion2Tables;

// More than one row of the current layout holds (256 records each).
constexpr int kOperations = 300;
constexpr int kCompleted = 260;  // operations 1..260, as sequences 1..260

std::string Parameters(int number) { return "parameters-" + std::to_string(number); }

class JournalSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() /
           ("mfwq-journal-schema-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "journal.db").string();
    ASSERT_EQ(sqlite3_open(path_.c_str(), &raw_), SQLITE_OK);
    db_ = std::make_unique<SqliteDb>(path_, raw_);
  }
  void TearDown() override {
    db_.reset();
    sqlite3_close(raw_);
    std::filesystem::remove_all(dir_);
  }

  void Exec(const std::string& sql) {
    ASSERT_EQ(sqlite3_exec(raw_, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(raw_);
  }
  std::int64_t Count(const std::string& table) { return Int("SELECT count(*) FROM " + table); }
  std::int64_t Int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(raw_);
    std::int64_t value = -1;
    if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  std::vector<std::string> Tables() {
    std::vector<std::string> names;
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(raw_, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                       -1, &stmt, nullptr);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      names.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    return names;
  }
  std::int64_t Version() { return Int("SELECT value FROM meta WHERE key = 'schema_version'"); }

  // Writes kOperations operations, the first kCompleted of them completed
  // (odd ones without a start), in version 1's or 2's layout.
  void WriteVersion1() {
    Exec(kVersion1Tables);
    Exec("INSERT INTO meta VALUES ('schema_version', 1)");
    Exec("BEGIN");
    for (int n = 1; n <= kOperations; ++n) {
      std::string row = "INSERT INTO operations VALUES (" + std::to_string(n) + ", 'op-" +
                        std::to_string(n) + "', 'req-" + std::to_string(n) + "', 'alice', 5, " +
                        "'echo', CAST('" + Parameters(n) + "' AS BLOB), " + std::to_string(-n) +
                        ", X'5354', " + std::to_string(1000 + n) + ", ";
      if (n <= kCompleted) {
        row += std::to_string(n) + ", " + std::to_string(0x80000000LL + n) + ", 'done', " +
               std::to_string(n * 10) + ", X'0001', " +
               (n % 2 == 0 ? std::to_string(2000 + n) : std::string("NULL")) + ", " +
               std::to_string(3000 + n) + ")";
      } else {
        row += "NULL, NULL, NULL, NULL, NULL, NULL, NULL)";
      }
      Exec(row);
    }
    Exec("COMMIT");
  }
  void WriteVersion2() {
    Exec(kVersion2Tables);
    Exec("INSERT INTO meta VALUES ('schema_version', 2), ('last_sequence', 0), "
         "('last_operation_number', 0)");
    Exec("BEGIN");
    for (int n = 1; n <= kOperations; ++n) {
      Exec("INSERT INTO operations VALUES (" + std::to_string(n) + ", 'req-" + std::to_string(n) +
           "', 'alice', 5, 'echo', CAST('" + Parameters(n) + "' AS BLOB), " + std::to_string(-n) +
           ", X'5354', " + std::to_string(1000 + n) + ")");
      if (n <= kCompleted) {
        Exec("INSERT INTO completions VALUES (" + std::to_string(n) + ", " + std::to_string(n) +
             ", " + std::to_string(0x80000000LL + n) + ", 'done', " + std::to_string(n * 10) +
             ", X'0001', " + (n % 2 == 0 ? std::to_string(2000 + n) : std::string("NULL")) + ", " +
             std::to_string(3000 + n) + ")");
      }
    }
    Exec("COMMIT");
  }

  // Reads back every record of the current layout and checks it against
  // what WriteVersion1/2 wrote.
  void ExpectEverythingCarriedOver() {
    EXPECT_EQ(Version(), kSchemaVersion);
    EXPECT_EQ(Tables(), (std::vector<std::string>{"accepted", "completed", "meta"}));
    int operations = 0, completions = 0;
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw_,
                                 "SELECT first_number, last_number, operations FROM accepted "
                                 "ORDER BY first_number",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const std::string blob = std::string(Blob(stmt, 2));
      RowReader in(blob);
      OperationRow r;
      std::uint64_t first = 0, last = 0;
      while (!in.done()) {
        ASSERT_TRUE(in.Get(&r)) << "after operation " << operations;
        ++operations;
        EXPECT_EQ(r.number, static_cast<std::uint64_t>(operations));
        EXPECT_EQ(r.request_id, "req-" + std::to_string(operations));
        EXPECT_EQ(r.client, "alice");
        EXPECT_EQ(r.queue, 5u);
        EXPECT_EQ(r.kind, "echo");
        EXPECT_EQ(r.parameters, Parameters(operations));
        EXPECT_EQ(r.priority, -operations);
        EXPECT_EQ(r.state, "ST");
        EXPECT_EQ(r.submit_time, 1000 + operations);
        if (first == 0) first = r.number;
        last = r.number;
      }
      EXPECT_EQ(static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0)), first);
      EXPECT_EQ(static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 1)), last);
    }
    sqlite3_finalize(stmt);
    ASSERT_EQ(sqlite3_prepare_v2(raw_,
                                 "SELECT first_sequence, last_sequence, completions FROM completed "
                                 "ORDER BY first_sequence",
                                 -1, &stmt, nullptr),
              SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      const std::string blob = std::string(Blob(stmt, 2));
      RowReader in(blob);
      CompletionRow r;
      while (!in.done()) {
        ASSERT_TRUE(in.Get(&r)) << "after completion " << completions;
        ++completions;
        EXPECT_EQ(r.sequence, static_cast<std::uint64_t>(completions));
        EXPECT_EQ(r.number, static_cast<std::uint64_t>(completions));
        EXPECT_EQ(r.status, 0x80000000u + static_cast<std::uint32_t>(completions));
        EXPECT_EQ(r.message, "done");
        EXPECT_EQ(r.bytes_transferred, static_cast<std::uint64_t>(completions) * 10);
        EXPECT_EQ(r.result, std::string("\0\1", 2));
        EXPECT_EQ(r.start_time.has_value(), completions % 2 == 0);
        if (r.start_time) {
          EXPECT_EQ(*r.start_time, 2000 + completions);
        }
        EXPECT_EQ(r.complete_time, 3000 + completions);
      }
    }
    sqlite3_finalize(stmt);
    EXPECT_EQ(operations, kOperations);
    EXPECT_EQ(completions, kCompleted);
    // Grouped, not a row each.
    EXPECT_EQ(Count("accepted"), 2);
    EXPECT_EQ(Count("completed"), 2);
  }

  std::filesystem::path dir_;
  std::string path_;
  sqlite3* raw_ = nullptr;
  std::unique_ptr<SqliteDb> db_;
};

TEST_F(JournalSchemaTest, ANewJournalGetsTheCurrentSchema) {
  Status s = CreateOrMigrate(*db_);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Version(), kSchemaVersion);
  EXPECT_EQ(Tables(), (std::vector<std::string>{"accepted", "completed", "meta"}));
  for (const char* key : {"last_sequence", "last_operation_number", "pruned_sequence"}) {
    EXPECT_EQ(Int(std::string("SELECT value FROM meta WHERE key = '") + key + "'"), 0) << key;
  }
  // Opening it again changes nothing.
  Exec("INSERT INTO accepted VALUES (1, 1, X'00')");
  s = CreateOrMigrate(*db_);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Version(), kSchemaVersion);
  EXPECT_EQ(Count("accepted"), 1);
}

TEST_F(JournalSchemaTest, AVersion1JournalIsUpgradedWithEverythingCarriedOver) {
  WriteVersion1();
  Status s = CreateOrMigrate(*db_);
  ASSERT_TRUE(s.ok()) << s.message();
  ExpectEverythingCarriedOver();
}

TEST_F(JournalSchemaTest, AVersion2JournalIsUpgradedWithEverythingCarriedOver) {
  WriteVersion2();
  Status s = CreateOrMigrate(*db_);
  ASSERT_TRUE(s.ok()) << s.message();
  ExpectEverythingCarriedOver();
}

// The disk fills during the upgrade: it is rolled back whole, the journal
// stays a version 2 one with all it held, and the upgrade succeeds once
// there is room.
TEST_F(JournalSchemaTest, AnUpgradeThatCannotFinishLeavesTheJournalAsItWas) {
  WriteVersion2();
  Exec("INSERT INTO meta VALUES ('pruned_sequence', 0)");  // (else the first write adds it)
  const std::int64_t pages = Int("PRAGMA page_count");
  ASSERT_GT(pages, 0);
  // No room for the rows of the new layout.
  Int("PRAGMA max_page_count = " + std::to_string(pages + 1));
  Status s = CreateOrMigrate(*db_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.message();
  EXPECT_NE(s.message().find("upgrading it from schema version 2"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  EXPECT_EQ(Version(), 2);
  EXPECT_EQ(Tables(), (std::vector<std::string>{"completions", "meta", "operations"}));
  EXPECT_EQ(Count("operations"), kOperations);
  EXPECT_EQ(Count("completions"), kCompleted);

  Int("PRAGMA max_page_count = 1073741823");
  s = CreateOrMigrate(*db_);
  ASSERT_TRUE(s.ok()) << s.message();
  ExpectEverythingCarriedOver();
}

TEST_F(JournalSchemaTest, AJournalOfANewerVersionIsRefusedAndLeftAlone) {
  Exec(
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
      "INSERT INTO meta VALUES ('schema_version', 4);"
      "CREATE TABLE things (x INTEGER)");
  Status s = CreateOrMigrate(*db_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("schema version 4 is not one this server knows (it knows 1 to 3)"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(Version(), 4);
  EXPECT_EQ(Count("meta"), 1);  // nothing written
  EXPECT_EQ(Tables(), (std::vector<std::string>{"meta", "things"}));
}

}  // namespace
}  // namespace mfwq::server::journal
