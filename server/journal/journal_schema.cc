#include "journal_schema.h"

#include <string>

namespace mfwq::server::journal {
namespace {

constexpr char kMetaTable[] = R"sql(
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// A new journal's values (those an older one lacks, too).
constexpr char kMetaValues[] = R"sql(
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

// Rows of schema version 2 carried over in groups of this many.
constexpr std::size_t kMigratedPerRow = 256;

// Copies what `select` reads into rows of `insert` (in groups), `read`
// making a record of each row selected. REQUIRES: in a transaction.
template <typename Row, typename Read>
Status CopyIntoRows(SqliteDb& db, const char* select, const char* insert, Read read) {
  sqlite3_stmt* from = nullptr;
  sqlite3_stmt* to = nullptr;
  Status status = OkStatus();
  if (sqlite3_prepare_v2(db.get(), select, -1, &from, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db.get(), insert, -1, &to, nullptr) != SQLITE_OK) {
    status = db.Error("preparing");
  } else {
    RowInserter rows(to, kMigratedPerRow);
    int rc;
    while ((rc = sqlite3_step(from)) == SQLITE_ROW) {
      Row r;
      read(from, r);
      if (!rows.Add(r)) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      status = db.Error("reading");
    } else if (rc == SQLITE_ROW || !rows.Flush()) {
      status = db.Error("writing");
    }
  }
  sqlite3_finalize(from);
  sqlite3_finalize(to);
  return status;
}

Status MigrateFrom1(SqliteDb& db) {
  std::string sql = kMigrateFrom1;
  sql.replace(sql.find("%TABLES%"), 8, kTablesV2);
  return db.Exec(sql.c_str());
}

Status MigrateFrom2(SqliteDb& db) {
  if (Status s = db.Exec("BEGIN"); !s.ok()) return s;
  if (Status s = db.Exec(kTables); !s.ok()) return s;
  // The operations, in groups of consecutive numbers ...
  Status s = CopyIntoRows<OperationRow>(
      db,
      "SELECT number, request_id, client, queue, kind, parameters, priority, state, submit_time "
      "FROM operations ORDER BY number",
      kInsertAccepted, [](sqlite3_stmt* from, OperationRow& r) {
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
  s = CopyIntoRows<CompletionRow>(
      db,
      "SELECT sequence, number, status, message, bytes_transferred, result, start_time, "
      "complete_time FROM completions ORDER BY sequence",
      kInsertCompleted, [](sqlite3_stmt* from, CompletionRow& r) {
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
  return db.Exec(
      "DROP TABLE operations; DROP TABLE completions;"
      "UPDATE meta SET value = 3 WHERE key = 'schema_version'; COMMIT;");
}

// Runs one upgrade step, rolled back whole if it fails.
template <typename Step>
Status Upgrade(SqliteDb& db, int from, Step step) {
  Status s = step(db);
  if (s.ok()) return s;
  (void)db.Exec("ROLLBACK");
  return Status(StatusCode::kUnavailable,
                s.message() + " (upgrading it from schema version " + std::to_string(from) + ")");
}

}  // namespace

Status CreateOrMigrate(SqliteDb& db) {
  if (Status s = db.Exec(kMetaTable); !s.ok()) return s;
  auto version = db.Meta("schema_version");  // 0: a new journal
  if (!version.ok()) return version.status();
  if (*version < 0 || *version > kSchemaVersion) {
    // Refused before anything is written: a newer server's journal stays
    // as that server left it.
    return Status(StatusCode::kFailedPrecondition,
                  "journal " + db.path() + ": schema version " + std::to_string(*version) +
                      " is not one this server knows (it knows 1 to " +
                      std::to_string(kSchemaVersion) + ")");
  }
  if (Status s = db.Exec(kMetaValues); !s.ok()) return s;
  if (*version == 0) *version = kSchemaVersion;
  if (*version == 1) {
    if (Status s = Upgrade(db, 1, MigrateFrom1); !s.ok()) return s;
    *version = 2;
  }
  if (*version == 2) return Upgrade(db, 2, MigrateFrom2);
  return db.Exec(kTables);
}

}  // namespace mfwq::server::journal
