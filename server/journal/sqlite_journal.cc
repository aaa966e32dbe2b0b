#include "sqlite_journal.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace mfwq::server {
namespace {

// Schema version 3: a batch of accepted operations is one row, and so is a
// batch of completions, each holding its records in one blob (the formats
// below). Writing a batch is one insert, whatever its size: per-row work
// was most of what the journal cost. Both tables are keyed by the batch's
// first number, with no other index.
//
// Retention forgets completions up to a sequence: rows wholly before it
// go, a row that straddles it stays and `pruned_sequence` (meta) says which
// of its completions are forgotten; the operations they completed are taken
// out of their accepted rows (a row rewritten without them, or deleted
// when none is left).
constexpr int kSchemaVersion = 3;

constexpr char kMeta[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', 3);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_sequence', 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_operation_number', 0);
INSERT OR IGNORE INTO meta (key, value) VALUES ('pruned_sequence', 0);
)sql";

constexpr char kTables[] = R"sql(
CREATE TABLE IF NOT EXISTS accepted (
  first_number INTEGER PRIMARY KEY,  -- the smallest operation number in the batch
  last_number INTEGER NOT NULL,      -- the largest
  operations BLOB NOT NULL           -- the batch's operations (OperationRow)
);
CREATE TABLE IF NOT EXISTS completed (
  first_sequence INTEGER PRIMARY KEY,
  last_sequence INTEGER NOT NULL,
  completions BLOB NOT NULL          -- the batch's completions (CompletionRow)
);
)sql";

// Version 2 kept a row per operation and one per completion.
constexpr char kTablesV2[] = R"sql(
CREATE TABLE operations (
  number INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL,
  client TEXT NOT NULL,
  queue INTEGER NOT NULL,
  kind TEXT NOT NULL,
  parameters BLOB NOT NULL,
  priority INTEGER NOT NULL,
  state BLOB NOT NULL,
  submit_time INTEGER NOT NULL
);
CREATE TABLE completions (
  sequence INTEGER PRIMARY KEY,
  number INTEGER NOT NULL,
  status INTEGER NOT NULL,
  message TEXT NOT NULL,
  bytes_transferred INTEGER NOT NULL,
  result BLOB NOT NULL,
  start_time INTEGER,
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

// A row's blob is its records one after another. Integers are LEB128
// varints (signed ones zigzagged), strings a varint length and the bytes.
// Times are nanoseconds since the Unix epoch, each written as the
// difference from the record before (the first from zero). The client and
// the kind, the same in most of a batch, are written as 0 when they repeat
// the record before's, and as their length + 1 and the bytes otherwise.
//
//   operation:  number, request_id, client*, queue, kind*, parameters
//               (EncodeParameters), priority (signed), state, submit_time
//   completion: sequence, number, status (the HRESULT's 32-bit pattern),
//               message, bytes_transferred, result, complete_time,
//               started (0 or 1) and, if 1, complete_time - start_time
struct OperationRow {
  std::uint64_t number = 0;
  std::string_view request_id, client;
  std::uint64_t queue = 0;
  std::string_view kind, parameters;
  std::int64_t priority = 0;
  std::string_view state;
  std::int64_t submit_time = 0;
  // What a damaged row of these is called, before its key.
  static constexpr const char* kRowName = "the operations accepted from number ";
};

struct CompletionRow {
  std::uint64_t sequence = 0, number = 0;
  std::uint32_t status = 0;
  std::string_view message;
  std::uint64_t bytes_transferred = 0;
  std::string_view result;
  std::int64_t complete_time = 0;
  std::optional<std::int64_t> start_time;
  static constexpr const char* kRowName = "the completions from sequence ";
};

// A row is closed at this size and the batch goes on in another: a batch
// of large requests never makes a row SQLite would refuse.
constexpr std::size_t kRowBytes = 1 << 20;

std::uint64_t ZigZag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// a - b and a + b, wrapping: times of any value round-trip.
std::int64_t Minus(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b));
}
std::int64_t Plus(std::int64_t a, std::int64_t b) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

class RowWriter {
 public:
  void Put(const OperationRow& r) {
    Varint(r.number);
    String(r.request_id);
    Repeated(r.client, client_);
    Varint(r.queue);
    Repeated(r.kind, kind_);
    String(r.parameters);
    Varint(ZigZag(r.priority));
    String(r.state);
    Time(r.submit_time);
    seen_ = true;
  }
  void Put(const CompletionRow& r) {
    Varint(r.sequence);
    Varint(r.number);
    Varint(r.status);
    String(r.message);
    Varint(r.bytes_transferred);
    String(r.result);
    Time(r.complete_time);
    out_.push_back(r.start_time ? 1 : 0);
    if (r.start_time) Varint(ZigZag(Minus(r.complete_time, *r.start_time)));
    seen_ = true;
  }
  const std::string& bytes() const { return out_; }
  bool empty() const { return !seen_; }
  // Ready for the next row.
  void Clear() {
    out_.clear();
    time_ = 0;
    seen_ = false;
  }

 private:
  void Varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void String(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  void Repeated(std::string_view s, std::string& previous) {
    if (seen_ && s == previous) {
      Varint(0);
    } else {
      Varint(s.size() + 1);
      out_.append(s);
      previous.assign(s);
    }
  }
  void Time(std::int64_t t) {
    Varint(ZigZag(Minus(t, time_)));
    time_ = t;
  }

  std::string out_;
  std::string client_, kind_;  // copies: a record's strings may go once it is written
  std::int64_t time_ = 0;
  bool seen_ = false;  // a record was written: there is one to repeat
};

// Reads what RowWriter wrote. The views point into the blob given.
class RowReader {
 public:
  explicit RowReader(std::string_view in) : in_(in) {}
  bool done() const { return in_.empty(); }
  bool Get(OperationRow* r) {
    std::uint64_t priority;
    if (!Varint(&r->number) || !String(&r->request_id) || !Repeated(&r->client, client_) ||
        !Varint(&r->queue) || !Repeated(&r->kind, kind_) || !String(&r->parameters) ||
        !Varint(&priority) || !String(&r->state) || !Time(&r->submit_time)) {
      return false;
    }
    r->priority = UnZigZag(priority);
    seen_ = true;
    return true;
  }
  bool Get(CompletionRow* r) {
    std::uint64_t status, started = 0, took;
    if (!Varint(&r->sequence) || !Varint(&r->number) || !Varint(&status) || status > 0xFFFFFFFFu ||
        !String(&r->message) || !Varint(&r->bytes_transferred) || !String(&r->result) ||
        !Time(&r->complete_time) || !Varint(&started) || started > 1) {
      return false;
    }
    r->status = static_cast<std::uint32_t>(status);
    r->start_time.reset();
    if (started == 1) {
      if (!Varint(&took)) return false;
      r->start_time = Minus(r->complete_time, UnZigZag(took));
    }
    seen_ = true;
    return true;
  }

 private:
  bool Varint(std::uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && !in_.empty(); shift += 7) {
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      *v |= std::uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Bytes(std::uint64_t n, std::string_view* s) {
    if (n > in_.size()) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool String(std::string_view* s) {
    std::uint64_t n;
    return Varint(&n) && Bytes(n, s);
  }
  bool Repeated(std::string_view* s, std::string_view& previous) {
    std::uint64_t n;
    if (!Varint(&n)) return false;
    if (n == 0) {
      if (!seen_) return false;  // nothing to repeat
      *s = previous;
      return true;
    }
    if (!Bytes(n - 1, s)) return false;
    previous = *s;
    return true;
  }
  bool Time(std::int64_t* t) {
    std::uint64_t delta;
    if (!Varint(&delta)) return false;
    time_ = Plus(time_, UnZigZag(delta));
    *t = time_;
    return true;
  }

  std::string_view in_;
  std::string_view client_, kind_;
  std::int64_t time_ = 0;
  bool seen_ = false;  // a record was read: there is one to repeat
};

std::int64_t ToNanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Clock::time_point FromNanos(std::int64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

std::string_view Blob(sqlite3_stmt* stmt, int column) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, column));
  return p == nullptr
             ? std::string_view()
             : std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

// Binds a blob without a copy: `s` must outlive the statement's step (the
// Statement below clears the bindings before it goes).
void BindBlob(sqlite3_stmt* stmt, int index, std::string_view s) {
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

std::uint64_t KeyOf(const OperationRow& r) { return r.number; }
std::uint64_t KeyOf(const CompletionRow& r) { return r.sequence; }

// Writes records as rows of `insert` (?1 the smallest key, ?2 the largest,
// ?3 the blob): a new row every `per_row` records, or sooner at kRowBytes.
class RowInserter {
 public:
  explicit RowInserter(sqlite3_stmt* insert, std::size_t per_row = SIZE_MAX)
      : insert_(insert), per_row_(per_row) {}
  // False if SQLite refused a row (its message says why).
  template <typename Row>
  bool Add(const Row& r) {
    const std::uint64_t key = KeyOf(r);
    if (count_ == 0) first_ = last_ = key;
    first_ = std::min(first_, key);
    last_ = std::max(last_, key);
    writer_.Put(r);
    ++count_;
    return (count_ < per_row_ && writer_.bytes().size() < kRowBytes) || Flush();
  }
  bool Flush() {
    if (count_ == 0) return true;
    Statement stmt(insert_);
    sqlite3_bind_int64(insert_, 1, static_cast<sqlite3_int64>(first_));
    sqlite3_bind_int64(insert_, 2, static_cast<sqlite3_int64>(last_));
    BindBlob(insert_, 3, writer_.bytes());
    const bool ok = sqlite3_step(insert_) == SQLITE_DONE;
    writer_.Clear();
    count_ = 0;
    return ok;
  }

 private:
  sqlite3_stmt* insert_;
  const std::size_t per_row_;
  RowWriter writer_;
  std::size_t count_ = 0;
  std::uint64_t first_ = 0, last_ = 0;
};

// Rows of schema version 2 carried over in groups of this many.
constexpr std::size_t kMigratedPerRow = 256;

}  // namespace

StatusOr<std::unique_ptr<SqliteJournal>> SqliteJournal::Open(const std::string& path, Sync sync) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
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
  // The write-ahead log is copied into the database (a checkpoint, with a
  // sync of each file) when it reaches this many pages: about 40 MB, not
  // SQLite's 1000 (4 MB). Each commit then pays for fewer checkpoints, and
  // a page rewritten by many commits is copied once per checkpoint, not
  // once for every few hundred operations. Measured with a session of
  // echoes on 2 cores, after 200 000 operations (pruning under way): the
  // server's CPU per operation 12.0-13.9 us -> 11.3-11.5 us.
  if (Status s = journal->ExecLocked("PRAGMA wal_autocheckpoint = 10000"); !s.ok()) return s;
  // Up to 64 MiB of pages in memory, not SQLite's 2 MiB: a journal at the
  // default retention is about 20 MB, and pruning reads its oldest rows
  // back. With 2 MiB each of those reads went to the kernel: the server's
  // CPU per operation while pruning was 10.4-10.9 us, and is 9.3-10.1 us.
  if (Status s = journal->ExecLocked("PRAGMA cache_size = -65536"); !s.ok()) return s;
  if (Status s = journal->CreateOrMigrate(); !s.ok()) return s;
  if (Status s = journal->PrepareAll(); !s.ok()) return s;
  return journal;
}

Status SqliteJournal::CreateOrMigrate() {
  if (Status s = ExecLocked(kMeta); !s.ok()) return s;
  auto version = MetaLocked("schema_version");
  if (!version.ok()) return version.status();
  if (*version == 1) {
    std::string sql = kMigrateFrom1;
    sql.replace(sql.find("%TABLES%"), 8, kTablesV2);
    if (Status s = ExecLocked(sql.c_str()); !s.ok()) {
      (void)ExecLocked("ROLLBACK");
      return Status(StatusCode::kUnavailable,
                    s.message() + " (upgrading it from schema version 1)");
    }
    *version = 2;
  }
  if (*version == 2) {
    if (Status s = MigrateFrom2(); !s.ok()) {
      (void)ExecLocked("ROLLBACK");
      return Status(StatusCode::kUnavailable,
                    s.message() + " (upgrading it from schema version 2)");
    }
    return OkStatus();
  }
  if (*version != kSchemaVersion) {
    return Status(StatusCode::kFailedPrecondition,
                  "journal " + path_ + ": schema version " + std::to_string(*version) +
                      " is not one this server knows (it knows 1 to " +
                      std::to_string(kSchemaVersion) + ")");
  }
  return ExecLocked(kTables);
}

template <typename Row, typename Read>
Status SqliteJournal::CopyIntoRowsLocked(const char* select, const char* insert, Read read) {
  sqlite3_stmt* from = nullptr;
  sqlite3_stmt* to = nullptr;
  Status status = OkStatus();
  if (sqlite3_prepare_v2(db_, select, -1, &from, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, insert, -1, &to, nullptr) != SQLITE_OK) {
    status = ErrorLocked("preparing");
  } else {
    RowInserter rows(to, kMigratedPerRow);
    int rc;
    while ((rc = sqlite3_step(from)) == SQLITE_ROW) {
      Row r;
      read(from, r);
      if (!rows.Add(r)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      status = ErrorLocked("reading");
    } else if (rc == SQLITE_ROW || !rows.Flush()) {
      status = ErrorLocked("writing");
    }
  }
  sqlite3_finalize(from);
  sqlite3_finalize(to);
  return status;
}

Status SqliteJournal::MigrateFrom2() {
  if (Status s = ExecLocked("BEGIN"); !s.ok()) return s;
  if (Status s = ExecLocked(kTables); !s.ok()) return s;
  // The operations, in groups of consecutive numbers ...
  Status s = CopyIntoRowsLocked<OperationRow>(
      "SELECT number, request_id, client, queue, kind, parameters, priority, state, submit_time "
      "FROM operations ORDER BY number",
      "INSERT INTO accepted (first_number, last_number, operations) VALUES (?1, ?2, ?3)",
      [](sqlite3_stmt* from, OperationRow& r) {
        r.number = static_cast<std::uint64_t>(sqlite3_column_int64(from, 0));
        r.request_id = Blob(from, 1);
        r.client = Blob(from, 2);
        r.queue = static_cast<std::uint64_t>(sqlite3_column_int64(from, 3));
        r.kind = Blob(from, 4);
        r.parameters = Blob(from, 5);
        r.priority = sqlite3_column_int64(from, 6);
        r.state = Blob(from, 7);
        r.submit_time = sqlite3_column_int64(from, 8);
      });
  if (!s.ok()) return s;
  // ... and the completions, in groups of consecutive sequences.
  s = CopyIntoRowsLocked<CompletionRow>(
      "SELECT sequence, number, status, message, bytes_transferred, result, start_time, "
      "complete_time FROM completions ORDER BY sequence",
      "INSERT INTO completed (first_sequence, last_sequence, completions) VALUES (?1, ?2, ?3)",
      [](sqlite3_stmt* from, CompletionRow& r) {
        r.sequence = static_cast<std::uint64_t>(sqlite3_column_int64(from, 0));
        r.number = static_cast<std::uint64_t>(sqlite3_column_int64(from, 1));
        r.status = static_cast<std::uint32_t>(sqlite3_column_int64(from, 2));
        r.message = Blob(from, 3);
        r.bytes_transferred = static_cast<std::uint64_t>(sqlite3_column_int64(from, 4));
        r.result = Blob(from, 5);
        if (sqlite3_column_type(from, 6) != SQLITE_NULL) {
          r.start_time = sqlite3_column_int64(from, 6);
        }
        r.complete_time = sqlite3_column_int64(from, 7);
      });
  if (!s.ok()) return s;
  return ExecLocked(
      "DROP TABLE operations; DROP TABLE completions;"
      "UPDATE meta SET value = 3 WHERE key = 'schema_version'; COMMIT;");
}

SqliteJournal::~SqliteJournal() { Close(); }

void SqliteJournal::Close() {
  std::lock_guard lock(mu_);
  if (db_ == nullptr) return;
  for (sqlite3_stmt** stmt : {&insert_accepted_, &insert_completed_, &find_accepted_,
                              &delete_accepted_, &begin_, &commit_, &rollback_}) {
    sqlite3_finalize(*stmt);
    *stmt = nullptr;
  }
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

Status SqliteJournal::DamagedLocked(const std::string& what) const {
  return Status(StatusCode::kDataLoss, "journal " + path_ + ": " + what + " is damaged");
}

template <typename Row>
Status SqliteJournal::DamagedRowLocked(std::uint64_t key) const {
  return DamagedLocked(Row::kRowName + std::to_string(key));
}

template <typename Row, typename Visit>
Status SqliteJournal::ReadRowsLocked(const char* select, std::uint64_t bound, Visit visit) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, select, -1, &stmt, nullptr) != SQLITE_OK) {
    return ErrorLocked("reading");
  }
  if (sqlite3_bind_parameter_count(stmt) > 0) {
    sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(bound));
  }
  const int blob = sqlite3_column_count(stmt) - 1;
  Status status = OkStatus();
  int rc = SQLITE_DONE;
  while (status.ok() && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto key = static_cast<std::uint64_t>(sqlite3_column_int64(stmt, 0));
    RowReader in(Blob(stmt, blob));
    while (status.ok() && !in.done()) {
      Row r;
      status = in.Get(&r) ? visit(r, key, stmt) : DamagedRowLocked<Row>(key);
    }
  }
  if (status.ok() && rc != SQLITE_DONE) status = ErrorLocked("reading");
  sqlite3_finalize(stmt);
  return status;
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

StatusOr<std::int64_t> SqliteJournal::MetaLocked(const char* key) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = ?1", -1, &raw, nullptr) !=
      SQLITE_OK) {
    return ErrorLocked(std::string("reading ") + key);
  }
  sqlite3_bind_text(raw, 1, key, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(raw);
  const std::int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(raw, 0) : 0;
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ErrorLocked(std::string("reading ") + key);
  return value;
}

Status SqliteJournal::RaiseMetaLocked(const char* key, std::uint64_t value) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "UPDATE meta SET value = MAX(value, ?2) WHERE key = ?1", -1, &raw,
                         nullptr) != SQLITE_OK) {
    return ErrorLocked(std::string("writing ") + key);
  }
  sqlite3_bind_text(raw, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(raw, 2, static_cast<sqlite3_int64>(value));
  const int rc = sqlite3_step(raw);
  sqlite3_finalize(raw);
  if (rc != SQLITE_DONE) return ErrorLocked(std::string("writing ") + key);
  return OkStatus();
}

Status SqliteJournal::PrepareAll() {
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&insert_accepted_,
       "INSERT INTO accepted (first_number, last_number, operations) VALUES (?1, ?2, ?3)"},
      {&insert_completed_,
       "INSERT INTO completed (first_sequence, last_sequence, completions) VALUES (?1, ?2, ?3)"},
      {&find_accepted_,
       "SELECT first_number, last_number, operations FROM accepted WHERE first_number <= ?1 "
       "ORDER BY first_number DESC LIMIT 1"},
      {&delete_accepted_, "DELETE FROM accepted WHERE first_number = ?1"},
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
  auto last_sequence = MetaLocked("last_sequence");
  auto last_number = MetaLocked("last_operation_number");
  auto pruned = MetaLocked("pruned_sequence");
  for (const auto* value : {&last_sequence, &last_number, &pruned}) {
    if (!value->ok()) return value->status();
  }
  contents.last_sequence = static_cast<std::uint64_t>(*last_sequence);
  contents.last_operation_number = static_cast<std::uint64_t>(*last_number);
  const auto pruned_sequence = static_cast<std::uint64_t>(*pruned);

  // The operations ...
  Status read = ReadRowsLocked<OperationRow>(
      "SELECT first_number, operations FROM accepted ORDER BY first_number", 0,
      [&](const OperationRow& r, std::uint64_t key, sqlite3_stmt*) -> Status {
        JournaledOperation op;
        OperationView& v = op.view;
        if (!DecodeParameters(r.parameters, &v.parameters)) {
          return DamagedRowLocked<OperationRow>(key);
        }
        v.id = OperationId(r.number);
        v.request_id = r.request_id;
        v.client = r.client;
        v.queue = static_cast<DWORD>(r.queue);
        v.kind = r.kind;
        v.priority = static_cast<LONG>(r.priority);
        v.submit_time = FromNanos(r.submit_time);
        op.state = r.state;
        contents.last_operation_number = std::max(contents.last_operation_number, r.number);
        contents.operations.push_back(std::move(op));
        return OkStatus();
      });
  if (!read.ok()) return read;
  // (Batches accepted at the same time may interleave their numbers.)
  std::sort(contents.operations.begin(), contents.operations.end(),
            [](const JournaledOperation& a, const JournaledOperation& b) {
              return a.view.id < b.view.id;
            });
  std::unordered_map<std::uint64_t, std::size_t> index;  // by number
  index.reserve(contents.operations.size());
  for (std::size_t i = 0; i < contents.operations.size(); ++i) {
    const std::string& id = contents.operations[i].view.id;
    if (!index.emplace(*OperationNumber(id), i).second) {
      return DamagedLocked("operation " + id + ", accepted twice,");
    }
  }

  // ... and their completions, but those retention forgot.
  read = ReadRowsLocked<CompletionRow>(
      "SELECT first_sequence, completions FROM completed ORDER BY first_sequence", 0,
      [&](const CompletionRow& r, std::uint64_t, sqlite3_stmt*) -> Status {
        contents.last_sequence = std::max(contents.last_sequence, r.sequence);
        if (r.sequence <= pruned_sequence) return OkStatus();
        auto at = index.find(r.number);
        if (at == index.end() || contents.operations[at->second].view.completion) {
          return Status(
              StatusCode::kDataLoss,
              "journal " + path_ + ": completion " + std::to_string(r.sequence) + " of " +
                  OperationId(r.number) +
                  (at == index.end() ? ", which it does not hold" : ", completed already"));
        }
        JournaledOperation& op = contents.operations[at->second];
        OperationView& v = op.view;
        CompletionRecord c;
        c.sequence = r.sequence;
        c.operation_id = v.id;
        c.request_id = v.request_id;
        c.client = v.client;
        c.queue = v.queue;
        c.kind = v.kind;
        c.status = static_cast<HRESULT>(r.status);
        c.message = r.message;
        c.bytes_transferred = r.bytes_transferred;
        c.result = r.result;
        c.state = op.state;
        c.submit_time = v.submit_time;
        if (r.start_time) c.start_time = FromNanos(*r.start_time);
        c.complete_time = FromNanos(r.complete_time);
        v.state = OperationState::kCompleted;
        v.completion = std::make_shared<const CompletionRecord>(std::move(c));
        return OkStatus();
      });
  if (!read.ok()) return read;
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

Status SqliteJournal::Accepted(std::span<const AcceptedRecord> operations) {
  if (operations.empty()) return OkStatus();
  std::vector<std::string> parameters;
  parameters.reserve(operations.size());
  for (const AcceptedRecord& a : operations) {
    parameters.push_back(EncodeParameters(a.operation->parameters));
  }
  std::lock_guard lock(mu_);
  return TransactionLocked([&] {
    RowInserter rows(insert_accepted_);
    for (std::size_t i = 0; i < operations.size(); ++i) {
      const AcceptedRecord& a = operations[i];
      const OperationView& v = *a.operation;
      OperationRow r;
      r.number = a.number;
      r.request_id = v.request_id;
      r.client = v.client;
      r.queue = v.queue;
      r.kind = v.kind;
      r.parameters = parameters[i];
      r.priority = v.priority;
      r.state = *a.state;
      r.submit_time = ToNanos(v.submit_time);
      if (!rows.Add(r)) return ErrorLocked("writing operation " + v.id);
    }
    return rows.Flush() ? OkStatus() : ErrorLocked("writing operations");
  });
}

Status SqliteJournal::Withdrawn(const std::string& operation_id) {
  auto number = OperationNumber(operation_id);
  if (!number) return InvalidArgument("journal: \"" + operation_id + "\" is not an operation id");
  std::lock_guard lock(mu_);
  return TransactionLocked([&] { return RemoveOperationsLocked({*number}); });
}

Status SqliteJournal::Completed(std::span<const CompletionPtr> completions) {
  if (completions.empty()) return OkStatus();
  std::lock_guard lock(mu_);
  return TransactionLocked([&] {
    RowInserter rows(insert_completed_);
    for (const CompletionPtr& c : completions) {
      auto number = OperationNumber(c->operation_id);
      if (!number) {
        return InvalidArgument("journal: \"" + c->operation_id + "\" is not an operation id");
      }
      CompletionRow r;
      r.sequence = c->sequence;
      r.number = *number;
      r.status = static_cast<std::uint32_t>(c->status);
      r.message = c->message;
      r.bytes_transferred = c->bytes_transferred;
      r.result = c->result;
      r.complete_time = ToNanos(c->complete_time);
      if (c->start_time) r.start_time = ToNanos(*c->start_time);
      if (!rows.Add(r)) return ErrorLocked("writing the completion of " + c->operation_id);
    }
    return rows.Flush() ? OkStatus() : ErrorLocked("writing completions");
  });
}

StatusOr<bool> SqliteJournal::FindAcceptedLocked(std::uint64_t number, bool scan,
                                                 AcceptedBatch* batch) {
  sqlite3_stmt* raw = nullptr;
  if (scan && sqlite3_prepare_v2(db_,
                                 "SELECT first_number, last_number, operations FROM accepted "
                                 "WHERE first_number <= ?1 AND last_number >= ?1",
                                 -1, &raw, nullptr) != SQLITE_OK) {
    return ErrorLocked("reading");
  }
  sqlite3_stmt* const find = scan ? raw : find_accepted_;
  bool found = false;
  Status error = OkStatus();
  {
    Statement stmt(find);
    sqlite3_bind_int64(find, 1, static_cast<sqlite3_int64>(number));
    int rc = SQLITE_DONE;
    while (!found && (rc = sqlite3_step(find)) == SQLITE_ROW) {
      batch->first = static_cast<std::uint64_t>(sqlite3_column_int64(find, 0));
      batch->last = static_cast<std::uint64_t>(sqlite3_column_int64(find, 1));
      batch->operations.assign(Blob(find, 2));
      if (number > batch->last) break;
      // Within its range; one of another batch's numbers if that batch
      // was accepted at the same time.
      RowReader in(batch->operations);
      OperationRow r;
      while (!found && in.Get(&r)) found = r.number == number;
    }
    if (!found && rc != SQLITE_DONE && rc != SQLITE_ROW) error = ErrorLocked("reading");
  }
  if (scan) sqlite3_finalize(raw);  // after the Statement has reset it
  if (!error.ok()) return error;
  return found;
}

Status SqliteJournal::RemoveOperationsLocked(std::vector<std::uint64_t> numbers) {
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  std::uint64_t largest = 0;
  // Each batch once for all its numbers, found by the cheap look-up; a
  // number it misses (an interleaved batch holds it) by a scan.
  std::vector<std::uint64_t> elsewhere;
  std::size_t i = 0;
  while (i < numbers.size()) {
    AcceptedBatch batch;
    auto found = FindAcceptedLocked(numbers[i], false, &batch);
    if (!found.ok()) return found.status();
    if (!*found) {
      elsewhere.push_back(numbers[i++]);
      continue;
    }
    std::size_t end = i;
    while (end < numbers.size() && numbers[end] <= batch.last) ++end;
    std::span<const std::uint64_t> in_range(numbers.data() + i, end - i);
    if (Status s = RewriteWithoutLocked(batch, in_range, &elsewhere); !s.ok()) return s;
    largest = std::max(largest, numbers[end - 1]);
    i = end;
  }
  for (const std::uint64_t number : elsewhere) {
    AcceptedBatch batch;
    auto found = FindAcceptedLocked(number, true, &batch);
    if (!found.ok()) return found.status();
    if (!*found) continue;  // gone already
    if (Status s = RewriteWithoutLocked(batch, {&number, 1}, nullptr); !s.ok()) return s;
    largest = std::max(largest, number);
  }
  // Numbering carries on after those that go.
  return largest == 0 ? OkStatus() : RaiseMetaLocked("last_operation_number", largest);
}

Status SqliteJournal::RewriteWithoutLocked(const AcceptedBatch& batch,
                                           std::span<const std::uint64_t> numbers,
                                           std::vector<std::uint64_t>* missing) {
  {
    Statement stmt(delete_accepted_);
    sqlite3_bind_int64(delete_accepted_, 1, static_cast<sqlite3_int64>(batch.first));
    if (sqlite3_step(delete_accepted_) != SQLITE_DONE) return ErrorLocked("deleting operations");
  }
  std::vector<bool> held(numbers.size(), false);
  RowInserter rows(insert_accepted_);
  RowReader in(batch.operations);
  while (!in.done()) {
    OperationRow r;
    if (!in.Get(&r)) return DamagedRowLocked<OperationRow>(batch.first);
    auto at = std::lower_bound(numbers.begin(), numbers.end(), r.number);
    if (at != numbers.end() && *at == r.number) {
      held[static_cast<std::size_t>(at - numbers.begin())] = true;
    } else if (!rows.Add(r)) {
      return ErrorLocked("rewriting operations");
    }
  }
  if (!rows.Flush()) return ErrorLocked("rewriting operations");
  if (missing != nullptr) {
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      if (!held[i]) missing->push_back(numbers[i]);
    }
  }
  return OkStatus();
}

Status SqliteJournal::Prune(std::uint64_t sequence) {
  std::lock_guard lock(mu_);
  return TransactionLocked([&]() -> Status {
    auto pruned = MetaLocked("pruned_sequence");
    if (!pruned.ok()) return pruned.status();
    const auto previous = static_cast<std::uint64_t>(*pruned);
    if (sequence <= previous) return OkStatus();
    // The operations whose completions go, from the rows that hold them.
    std::vector<std::uint64_t> numbers;
    std::uint64_t last = 0;
    Status read = ReadRowsLocked<CompletionRow>(
        "SELECT first_sequence, last_sequence, completions FROM completed "
        "WHERE first_sequence <= ?1 ORDER BY first_sequence",
        sequence, [&](const CompletionRow& r, std::uint64_t, sqlite3_stmt* row) {
          last = std::max(last, static_cast<std::uint64_t>(sqlite3_column_int64(row, 1)));
          if (r.sequence > previous && r.sequence <= sequence) numbers.push_back(r.number);
          return OkStatus();
        });
    if (!read.ok()) return read;
    if (Status s = RemoveOperationsLocked(std::move(numbers)); !s.ok()) return s;
    // Rows wholly forgotten go; one that straddles `sequence` stays, and
    // `pruned_sequence` says what of it is forgotten.
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(
            db_, "DELETE FROM completed WHERE first_sequence <= ?1 AND last_sequence <= ?1", -1,
            &raw, nullptr) != SQLITE_OK) {
      return ErrorLocked("pruning");
    }
    sqlite3_bind_int64(raw, 1, static_cast<sqlite3_int64>(sequence));
    const int rc = sqlite3_step(raw);
    sqlite3_finalize(raw);
    if (rc != SQLITE_DONE) return ErrorLocked("pruning");
    // Numbering carries on after what goes.
    if (Status s = RaiseMetaLocked("last_sequence", last); !s.ok()) return s;
    return RaiseMetaLocked("pruned_sequence", sequence);
  });
}

}  // namespace mfwq::server
