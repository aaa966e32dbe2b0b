// SqliteJournal: the server's journal (server/core/journal.h) in an
// embedded SQLite database in write-ahead-log mode.
//
// An operation is a row in one table when it is accepted, and its
// completion a row in another when it completes; retention deletes both.
// Journals of the older layout (schema version 1) are upgraded on open.
// Each call is one transaction (a batch of acceptances or completions
// commits together), committed before the call returns. With `synchronous
// = NORMAL` (the default) a commit survives the process being killed at
// any point; `FULL` also survives the machine losing power, at the cost of
// an fsync per commit.
#ifndef MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_
#define MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_

#include <memory>
#include <mutex>
#include <string>

#include "journal.h"

struct sqlite3;
struct sqlite3_stmt;

namespace mfwq::server {

class SqliteJournal final : public Journal {
 public:
  enum class Sync { kNormal, kFull };

  // Opens (creating if need be) the journal at `path`; its folder must
  // exist. The error says what failed, with SQLite's message.
  static StatusOr<std::unique_ptr<SqliteJournal>> Open(const std::string& path,
                                                       Sync sync = Sync::kNormal);
  ~SqliteJournal() override;

  StatusOr<JournalContents> Load() override;
  Status Accepted(std::span<const AcceptedRecord> operations) override;
  Status Withdrawn(const std::string& operation_id) override;
  Status Completed(std::span<const CompletionPtr> completions) override;
  Status Prune(std::uint64_t sequence) override;

  // Closes the database: later calls fail (UNAVAILABLE), as if the
  // process had stopped here. Called by the destructor.
  void Close();

  const std::string& path() const { return path_; }

 private:
  SqliteJournal(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  // UNAVAILABLE once closed. REQUIRES: mu_ held.
  Status CheckOpenLocked() const;
  // Runs SQL without results. REQUIRES: mu_ held (or not yet shared).
  Status ExecLocked(const char* sql);
  // The error for `what` failing, with SQLite's message.
  Status ErrorLocked(const std::string& what);
  Status PrepareAll();
  // Creates the tables, or upgrades those of an older schema version.
  // REQUIRES: not yet shared.
  Status CreateOrMigrate();
  // Runs `write` in one transaction: committed if it returns OK, rolled
  // back otherwise. REQUIRES: mu_ held.
  template <typename Write>
  Status TransactionLocked(Write&& write);
  // One row each. REQUIRES: mu_ held, in a transaction.
  Status InsertLocked(const AcceptedRecord& accepted);
  Status CompleteLocked(const CompletionRecord& completion);

  const std::string path_;
  std::mutex mu_;
  sqlite3* db_;  // guarded by mu_
  sqlite3_stmt* insert_ = nullptr;    // guarded by mu_
  sqlite3_stmt* complete_ = nullptr;  // guarded by mu_
  sqlite3_stmt* withdraw_ = nullptr;  // guarded by mu_
  sqlite3_stmt* begin_ = nullptr;     // guarded by mu_
  sqlite3_stmt* commit_ = nullptr;    // guarded by mu_
  sqlite3_stmt* rollback_ = nullptr;  // guarded by mu_
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_
