#include "sqlite_journal.h"

#include <sqlite3.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

namespace mfwq::server {
namespace {

// Schema version 2: operations and their completions in two tables, each
// keyed by its own number (rowid), with no other index. Accepting appends
// to one, completing to the other, and pruning deletes from the oldest end
// of both: the cheapest writes SQLite has.
constexpr int kSchemaVersion = 2;

constexpr char kMeta[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 2);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_sequence', 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_operation_number', 0);
)sql";

constexpr char kTables[] = R"sql(
CREATE TABLE IF NOT EXISTS operations (
  number INTEGER PRIMARY KEY,        -- the n in its id, op-%016x
  request_id TEXT NOT NULL,
  client TEXT NOT NULL,
  queue INTEGER NOT NULL,
  kind TEXT NOT NULL,
  parameters BLOB NOT NULL,          -- EncodeParameters
  priority INTEGER NOT NULL,
  state BLOB NOT NULL,
  submit_time INTEGER NOT NULL       -- nanoseconds since the Unix epoch
);
CREATE TABLE IF NOT EXISTS completions (
  sequence INTEGER PRIMARY KEY,
  number INTEGER NOT NULL,           -- the operation's
  status INTEGER NOT NULL,           -- the HRESULT, as its 32-bit pattern
  message TEXT NOT NULL,
  bytes_transferred INTEGER NOT NULL,
  result BLOB NOT NULL,
  start_time INTEGER,                -- NULL: it never started
  complete_time INTEGER NOT NULL
);
)sql";

// Version 1 kept one row per operation, completed in place, with indexes
// on its id and its sequence.
constexpr char kMigrateFrom1[] = R"sql(
BEGIN;
ALTER TABLE operations RENAME TO operations_v1;
%TABLES%
INSERT INTO operations (number, request_id, client, queue, kind, parameters, priority, state,
                        submit_time)
  SELECT number, request_id, client, queue, kind, parameters, priority, state, submit_time
  FROM operations_v1;
INSERT INTO completions (sequence, number, status, message, bytes_transferred, result,
                         start_time, complete_time)
  SELECT sequence, number, status, IFNULL(message, ''), IFNULL(bytes_transferred, 0),
         IFNULL(result, X''), start_time, complete_time
  FROM operations_v1 WHERE sequence IS NOT NULL;
DROP TABLE operations_v1;
UPDATE meta SET value = 2 WHERE key = 'schema_version';
COMMIT;
)sql";

std::int64_t ToNanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Clock::time_point FromNanos(std::int64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

std::string Text(sqlite3_stmt* stmt, int column) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, column));
  return p == nullptr ? std::string() : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

// Binds text or blob without a copy: `s` must outlive the statement's
// step (the Statement below clears the bindings before it goes).
void BindText(sqlite3_stmt* stmt, int index, const std::string& s) {
  sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}
void BindBlob(sqlite3_stmt* stmt, int index, const std::string& s) {
  sqlite3_bind_blob(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

// Resets a statement however the caller leaves.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

StatusOr<std::unique_ptr<SqliteJournal>> SqliteJournal::Open(const std::string& path, Sync sync) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "journal " + path + ": cannot open: " +
                          (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Status(StatusCode::kUnavailable, std::move(message));
  }
  std::unique_ptr<SqliteJournal> journal(new SqliteJournal(path, db));
  // Another process on the same journal would break every promise it keeps.
  if (Status s = journal->ExecLocked("PRAGMA locking_mode = EXCLUSIVE"); !s.ok()) return s;
  if (Status s = journal->ExecLocked("PRAGMA journal_mode = WAL"); !s.ok()) return s;
  if (Status s = journal->ExecLocked(sync == Sync::kFull ? "PRAGMA synchronous = FULL"
                                                         : "PRAGMA synchronous = NORMAL");
      !s.ok()) {
    return s;
  }
  if (Status s = journal->CreateOrMigrate(); !s.ok()) return s;
  if (Status s = journal->PrepareAll(); !s.ok()) return s;
  return journal;
}

Status SqliteJournal::CreateOrMigrate() {
  if (Status s = ExecLocked(kMeta); !s.ok()) return s;
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &raw,
                         nullptr) != SQLITE_OK) {
    return ErrorLocked("reading its schema version");
  }
  const std::int64_t version = sqlite3_step(raw) == SQLITE_ROW ? sqlite3_column_int64(raw, 0) : 0;
  sqlite3_finalize(raw);
  if (version == 1) {
    std::string sql = kMigrateFrom1;
    sql.replace(sql.find("%TABLES%"), 8, kTables);
    if (Status s = ExecLocked(sql.c_str()); !s.ok()) {
      (void)ExecLocked("ROLLBACK");
      return Status(StatusCode::kUnavailable, s.message() + " (upgrading it from schema version 1)");
    }
    return OkStatus();
  }
  if (version != kSchemaVersion) {
    return Status(StatusCode::kFailedPrecondition,
                  "journal " + path_ + ": schema version " + std::to_string(version) +
                      " is not one this server knows (it knows 1 and " +
                      std::to_string(kSchemaVersion) + ")");
  }
  return ExecLocked(kTables);
}

SqliteJournal::~SqliteJournal() { Close(); }

void SqliteJournal::Close() {
  std::lock_guard lock(mu_);
  if (db_ == nullptr) return;
  sqlite3_finalize(insert_);
  sqlite3_finalize(complete_);
  sqlite3_finalize(withdraw_);
  sqlite3_finalize(begin_);
  sqlite3_finalize(commit_);
  sqlite3_finalize(rollback_);
  insert_ = complete_ = withdraw_ = begin_ = commit_ = rollback_ = nullptr;
  sqlite3_close(db_);
  db_ = nullptr;
}

Status SqliteJournal::CheckOpenLocked() const {
  if (db_ == nullptr) return Status(StatusCode::kUnavailable, "journal " + path_ + ": closed");
  return OkStatus();
}

Status SqliteJournal::ErrorLocked(const std::string& what) {
  return Status(StatusCode::kUnavailable,
                "journal " + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

Status SqliteJournal::ExecLocked(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = "journal " + path_ + ": " + (error != nullptr ? error : "error");
    sqlite3_free(error);
    return Status(StatusCode::kUnavailable, std::move(message));
  }
  return OkStatus();
}

Status SqliteJournal::PrepareAll() {
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&insert_,
       "INSERT INTO operations (number, request_id, client, queue, kind, parameters, priority, "
       "state, submit_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
      {&complete_,
       "INSERT INTO completions (sequence, number, status, message, bytes_transferred, result, "
       "start_time, complete_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      {&withdraw_, "DELETE FROM operations WHERE number = ?1"},
      {&begin_, "BEGIN"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
  };
  for (const auto& [stmt, sql] : statements) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) != SQLITE_OK) {
      return ErrorLocked("preparing statements");
    }
  }
  return OkStatus();
}

StatusOr<JournalContents> SqliteJournal::Load() {
  std::lock_guard lock(mu_);
  if (Status s = CheckOpenLocked(); !s.ok()) return s;
  JournalContents contents;
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT (SELECT value FROM meta WHERE key = 'last_sequence'), "
                         "(SELECT value FROM meta WHERE key = 'last_operation_number'), "
                         "(SELECT IFNULL(MAX(sequence), 0) FROM completions), "
                         "(SELECT IFNULL(MAX(number), 0) FROM operations)",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return ErrorLocked("reading");
  }
  if (sqlite3_step(raw) == SQLITE_ROW) {
    contents.last_sequence = static_cast<std::uint64_t>(
        std::max(sqlite3_column_int64(raw, 0), sqlite3_column_int64(raw, 2)));
    contents.last_operation_number = static_cast<std::uint64_t>(
        std::max(sqlite3_column_int64(raw, 1), sqlite3_column_int64(raw, 3)));
  }
  sqlite3_finalize(raw);

  // The operations, in number order ...
  if (sqlite3_prepare_v2(db_,
                         "SELECT number, request_id, client, queue, kind, parameters, priority, "
                         "state, submit_time FROM operations ORDER BY number",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return ErrorLocked("reading");
  }
  std::unordered_map<std::uint64_t, std::size_t> index;  // by number
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    JournaledOperation op;
    OperationView& v = op.view;
    const auto number = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 0));
    v.id = OperationId(number);
    v.request_id = Text(raw, 1);
    v.client = Text(raw, 2);
    v.queue = static_cast<DWORD>(sqlite3_column_int64(raw, 3));
    v.kind = Text(raw, 4);
    if (!DecodeParameters(Text(raw, 5), &v.parameters)) {
      sqlite3_finalize(raw);
      return Status(StatusCode::kDataLoss,
                    "journal " + path_ + ": operation " + v.id + ": parameters are damaged");
    }
    v.priority = static_cast<LONG>(sqlite3_column_int64(raw, 6));
    op.state = Text(raw, 7);
    v.submit_time = FromNanos(sqlite3_column_int64(raw, 8));
    index.emplace(number, contents.operations.size());
    contents.operations.push_back(std::move(op));
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_DONE) return ErrorLocked("reading");

  // ... and their completions.
  if (sqlite3_prepare_v2(db_,
                         "SELECT sequence, number, status, message, bytes_transferred, result, "
                         "start_time, complete_time FROM completions ORDER BY sequence",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return ErrorLocked("reading");
  }
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    const auto sequence = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 0));
    const auto number = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 1));
    auto at = index.find(number);
    if (at == index.end() || contents.operations[at->second].view.completion) {
      sqlite3_finalize(raw);
      return Status(StatusCode::kDataLoss,
                    "journal " + path_ + ": completion " + std::to_string(sequence) + " of " +
                        OperationId(number) +
                        (at == index.end() ? ", which it does not hold" : ", completed already"));
    }
    JournaledOperation& op = contents.operations[at->second];
    OperationView& v = op.view;
    CompletionRecord c;
    c.sequence = sequence;
    c.operation_id = v.id;
    c.request_id = v.request_id;
    c.client = v.client;
    c.queue = v.queue;
    c.kind = v.kind;
    c.status = static_cast<HRESULT>(static_cast<std::uint32_t>(sqlite3_column_int64(raw, 2)));
    c.message = Text(raw, 3);
    c.bytes_transferred = static_cast<std::uint64_t>(sqlite3_column_int64(raw, 4));
    c.result = Text(raw, 5);
    c.state = op.state;
    c.submit_time = v.submit_time;
    if (sqlite3_column_type(raw, 6) != SQLITE_NULL) {
      c.start_time = FromNanos(sqlite3_column_int64(raw, 6));
    }
    c.complete_time = FromNanos(sqlite3_column_int64(raw, 7));
    v.state = OperationState::kCompleted;
    v.completion = std::make_shared<const CompletionRecord>(std::move(c));
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_DONE) return ErrorLocked("reading");
  return contents;
}

template <typename Write>
Status SqliteJournal::TransactionLocked(Write&& write) {
  if (Status s = CheckOpenLocked(); !s.ok()) return s;
  {
    Statement begin(begin_);
    if (sqlite3_step(begin_) != SQLITE_DONE) return ErrorLocked("beginning a transaction");
  }
  Status written = write();
  if (written.ok()) {
    Statement commit(commit_);
    if (sqlite3_step(commit_) == SQLITE_DONE) return OkStatus();
    written = ErrorLocked("committing");
  }
  // Nothing of the batch stays (SQLite may have rolled back already).
  if (sqlite3_get_autocommit(db_) == 0) {
    Statement rollback(rollback_);
    sqlite3_step(rollback_);
  }
  return written;
}

Status SqliteJournal::InsertLocked(const AcceptedRecord& accepted) {
  const OperationView& v = *accepted.operation;
  const std::string parameters = EncodeParameters(v.parameters);
  Statement stmt(insert_);
  sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(accepted.number));
  BindText(insert_, 2, v.request_id);
  BindText(insert_, 3, v.client);
  sqlite3_bind_int64(insert_, 4, v.queue);
  BindText(insert_, 5, v.kind);
  BindBlob(insert_, 6, parameters);
  sqlite3_bind_int64(insert_, 7, v.priority);
  BindBlob(insert_, 8, *accepted.state);
  sqlite3_bind_int64(insert_, 9, ToNanos(v.submit_time));
  if (sqlite3_step(insert_) != SQLITE_DONE) return ErrorLocked("writing operation " + v.id);
  return OkStatus();
}

Status SqliteJournal::Accepted(std::span<const AcceptedRecord> operations) {
  if (operations.empty()) return OkStatus();
  std::lock_guard lock(mu_);
  return TransactionLocked([&] {
    for (const AcceptedRecord& accepted : operations) {
      if (Status s = InsertLocked(accepted); !s.ok()) return s;
    }
    return OkStatus();
  });
}

Status SqliteJournal::Withdrawn(const std::string& operation_id) {
  std::lock_guard lock(mu_);
  if (Status s = CheckOpenLocked(); !s.ok()) return s;
  auto number = OperationNumber(operation_id);
  if (!number) return InvalidArgument("journal: \"" + operation_id + "\" is not an operation id");
  Statement stmt(withdraw_);
  sqlite3_bind_int64(withdraw_, 1, static_cast<sqlite3_int64>(*number));
  if (sqlite3_step(withdraw_) != SQLITE_DONE) return ErrorLocked("withdrawing " + operation_id);
  return OkStatus();
}

Status SqliteJournal::CompleteLocked(const CompletionRecord& c) {
  auto number = OperationNumber(c.operation_id);
  if (!number) return InvalidArgument("journal: \"" + c.operation_id + "\" is not an operation id");
  Statement stmt(complete_);
  sqlite3_bind_int64(complete_, 1, static_cast<sqlite3_int64>(c.sequence));
  sqlite3_bind_int64(complete_, 2, static_cast<sqlite3_int64>(*number));
  sqlite3_bind_int64(complete_, 3, static_cast<std::uint32_t>(c.status));
  BindText(complete_, 4, c.message);
  sqlite3_bind_int64(complete_, 5, static_cast<sqlite3_int64>(c.bytes_transferred));
  BindBlob(complete_, 6, c.result);
  if (c.start_time) {
    sqlite3_bind_int64(complete_, 7, ToNanos(*c.start_time));
  } else {
    sqlite3_bind_null(complete_, 7);
  }
  sqlite3_bind_int64(complete_, 8, ToNanos(c.complete_time));
  if (sqlite3_step(complete_) != SQLITE_DONE) {
    return ErrorLocked("writing the completion of " + c.operation_id);
  }
  return OkStatus();
}

Status SqliteJournal::Completed(std::span<const CompletionPtr> completions) {
  if (completions.empty()) return OkStatus();
  std::lock_guard lock(mu_);
  return TransactionLocked([&] {
    for (const CompletionPtr& c : completions) {
      if (Status s = CompleteLocked(*c); !s.ok()) return s;
    }
    return OkStatus();
  });
}

Status SqliteJournal::Prune(std::uint64_t sequence) {
  std::lock_guard lock(mu_);
  if (Status s = CheckOpenLocked(); !s.ok()) return s;
  // Numbering carries on after what goes: remember the largest numbers first.
  const std::string sql =
      "BEGIN;"
      "UPDATE meta SET value = MAX(value, (SELECT IFNULL(MAX(sequence), 0) FROM completions)) "
      "WHERE key = 'last_sequence';"
      "UPDATE meta SET value = MAX(value, (SELECT IFNULL(MAX(number), 0) FROM operations)) "
      "WHERE key = 'last_operation_number';"
      "DELETE FROM operations WHERE number IN (SELECT number FROM completions WHERE sequence <= " +
      std::to_string(sequence) + ");DELETE FROM completions WHERE sequence <= " +
      std::to_string(sequence) + ";COMMIT;";
  if (Status s = ExecLocked(sql.c_str()); !s.ok()) {
    (void)ExecLocked("ROLLBACK");
    return s;
  }
  return OkStatus();
}

}  // namespace mfwq::server
