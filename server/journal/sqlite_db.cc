#include "sqlite_db.h"

namespace mfwq::server::journal {

std::string_view Blob(sqlite3_stmt* stmt, int column) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, column));
  return p == nullptr
             ? std::string_view()
             : std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt, column)));
}

void BindBlob(sqlite3_stmt* stmt, int index, std::string_view s) {
  sqlite3_bind_blob(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

Status SqliteDb::Exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = "journal " + path_ + ": " + (error != nullptr ? error : "error");
    sqlite3_free(error);
    return Status(StatusCode::kUnavailable, std::move(message));
  }
  return OkStatus();
}

Status SqliteDb::Error(const std::string& what) const {
  return Status(StatusCode::kUnavailable,
                "journal " + path_ + ": " + what + ": " + sqlite3_errmsg(db_));
}

Status Damaged(const std::string& path, const std::string& what) {
  return Status(StatusCode::kDataLoss, "journal " + path + ": " + what + " is damaged");
}

Status SqliteDb::Damaged(const std::string& what) const { return journal::Damaged(path_, what); }

StatusOr<std::int64_t> SqliteDb::Meta(const char* key) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT value FROM meta WHERE key = ?1", -1, &raw, nullptr) !=
      SQLITE_OK) {
    return Error(std::string("reading ") + key);
  }
  sqlite3_bind_text(raw, 1, key, -1, SQLITE_STATIC);
  const int rc = sqlite3_step(raw);
  const std::int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(raw, 0) : 0;
  sqlite3_finalize(raw);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error(std::string("reading ") + key);
  return value;
}

Status SqliteDb::RaiseMeta(const char* key, std::uint64_t value) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, "UPDATE meta SET value = MAX(value, ?2) WHERE key = ?1", -1, &raw,
                         nullptr) != SQLITE_OK) {
    return Error(std::string("writing ") + key);
  }
  sqlite3_bind_text(raw, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(raw, 2, static_cast<sqlite3_int64>(value));
  const int rc = sqlite3_step(raw);
  sqlite3_finalize(raw);
  if (rc != SQLITE_DONE) return Error(std::string("writing ") + key);
  return OkStatus();
}

bool RowInserter::Flush() {
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

}  // namespace mfwq::server::journal
