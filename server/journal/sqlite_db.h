// SqliteDb: one SQLite connection as the journal uses it: statements run
// with errors that name the journal's file and what failed, the meta
// table's values, and rows of records packed by record_codec.h.
//
// Not thread-safe: the journal calls it from one thread at a time.
#ifndef MFWQ_SERVER_JOURNAL_SQLITE_DB_H_
#define MFWQ_SERVER_JOURNAL_SQLITE_DB_H_

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "record_codec.h"
#include "status.h"

namespace mfwq::server::journal {

// A row is closed at this size and the batch goes on in another: a batch
// of large requests never makes a row SQLite would refuse.
inline constexpr std::size_t kRowBytes = 1 << 20;

// The bytes of a blob column (empty for NULL).
std::string_view Blob(sqlite3_stmt* stmt, int column);
// Binds a blob without a copy: `s` must outlive the statement's step (a
// Statement clears the bindings before it goes).
void BindBlob(sqlite3_stmt* stmt, int index, std::string_view s);

// DATA_LOSS: in the journal at `path`, `what` cannot be read back; for a
// row of `Row`s, the one with this key.
Status Damaged(const std::string& path, const std::string& what);
template <typename Row>
Status DamagedRow(const std::string& path, std::uint64_t key) {
  return Damaged(path, Row::kRowName + std::to_string(key));
}

// Resets a prepared statement however the caller leaves.
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

class SqliteDb {
 public:
  SqliteDb(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  const std::string& path() const { return path_; }
  sqlite3* get() const { return db_; }

  // Runs SQL without results.
  Status Exec(const char* sql);
  // UNAVAILABLE: `what` failed, with SQLite's message.
  Status Error(const std::string& what) const;
  // DATA_LOSS: `what` cannot be read back.
  Status Damaged(const std::string& what) const;
  // DATA_LOSS: the row of `Row`s with this key cannot be read back.
  template <typename Row>
  Status DamagedRow(std::uint64_t key) const {
    return journal::DamagedRow<Row>(path_, key);
  }
  // A value of the meta table (0 if absent), and raising one to at least `value`.
  StatusOr<std::int64_t> Meta(const char* key);
  Status RaiseMeta(const char* key, std::uint64_t value);

  // Decodes every row `select` reads (its first column the row's key, its
  // last the blob; `bound` binds ?1 if it has one) and calls
  // `visit(record, key, statement)` for each record, stopping at the first
  // error.
  template <typename Row, typename Visit>
  Status ReadRows(const char* select, std::uint64_t bound, Visit visit);

 private:
  const std::string path_;
  sqlite3* const db_;
};

// Writes records as rows of `insert` (?1 the smallest key, ?2 the largest,
// ?3 the blob): a new row every `per_row` records, or sooner at kRowBytes.
class RowInserter {
 public:
  explicit RowInserter(sqlite3_stmt* insert, std::size_t per_row = SIZE_MAX)
      : insert_(insert), per_row_(per_row) {}
  // False if SQLite refused a row (its message says why).
  template <typename Row>
  bool Add(const Row& r) {
    const std::uint64_t key = r.key();
    if (count_ == 0) first_ = last_ = key;
    first_ = std::min(first_, key);
    last_ = std::max(last_, key);
    writer_.Put(r);
    ++count_;
    return (count_ < per_row_ && writer_.bytes().size() < kRowBytes) || Flush();
  }
  bool Flush();

 private:
  sqlite3_stmt* insert_;
  const std::size_t per_row_;
  RowWriter writer_;
  std::size_t count_ = 0;
  std::uint64_t first_ = 0, last_ = 0;
};

template <typename Row, typename Visit>
Status SqliteDb::ReadRows(const char* select, std::uint64_t bound, Visit visit) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, select, -1, &stmt, nullptr) != SQLITE_OK) return Error("reading");
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
      status = in.Get(&r) ? visit(r, key, stmt) : DamagedRow<Row>(key);
    }
  }
  if (status.ok() && rc != SQLITE_DONE) status = Error("reading");
  sqlite3_finalize(stmt);
  return status;
}

}  // namespace mfwq::server::journal

#endif  // MFWQ_SERVER_JOURNAL_SQLITE_DB_H_
