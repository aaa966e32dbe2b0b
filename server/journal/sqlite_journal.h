// SqliteJournal: the server's journal (server/core/journal.h) in an
// embedded SQLite database in write-ahead-log mode.
//
// Its layout and upgrades are in journal_schema.h, its rows' format in
// record_codec.h. Each Commit is one transaction, committed before it
// returns. With `synchronous
// = NORMAL` (the default) a commit survives the process being killed at
// any point; `FULL` also survives the machine losing power, at the cost of
// an fsync per commit.
#ifndef MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_
#define MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_

#include <mfwq/thread_annotations.h>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "journal.h"
#include "sqlite_db.h"

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
  Status Commit(const JournalWrite& write) override;

  // Closes the database: later calls fail (UNAVAILABLE), as if the
  // process had stopped here. Called by the destructor.
  void Close();

  const std::string& path() const { return path_; }

 private:
  // A row of accepted operations, as read.
  struct AcceptedBatch {
    std::uint64_t first = 0, last = 0;  // its key and its largest number
    std::string operations;             // the blob
  };

  SqliteJournal(std::string path, sqlite3* db) : path_(path), db_(std::move(path), db) {}
  // UNAVAILABLE once closed. REQUIRES: mu_ held.
  Status CheckOpenLocked() const MFWQ_REQUIRES(mu_);
  Status PrepareAll() MFWQ_REQUIRES(mu_);
  // Runs `write` in one transaction: committed if it returns OK, rolled
  // back otherwise. REQUIRES: mu_ held.
  template <typename Write>
  Status TransactionLocked(Write&& write) MFWQ_REQUIRES(mu_);
  // Each writes its part of a JournalWrite. REQUIRES: mu_ held, in a transaction.
  Status WriteAcceptedLocked(std::span<const AcceptedRecord> operations) MFWQ_REQUIRES(mu_);
  Status WriteCompletedLocked(std::span<const CompletionPtr> completions) MFWQ_REQUIRES(mu_);
  Status PruneLocked(std::uint64_t sequence) MFWQ_REQUIRES(mu_);
  // The row holding operation `number`: the last row to start at or
  // before it, or with `scan` any whose range holds it. False if none
  // does. REQUIRES: mu_ held.
  StatusOr<bool> FindAcceptedLocked(std::uint64_t number, bool scan, AcceptedBatch* batch) MFWQ_REQUIRES(mu_);
  // Takes these operations out of their rows (rewritten without them, or
  // deleted when empty); those not held are skipped. REQUIRES: mu_ held,
  // in a transaction.
  Status RemoveOperationsLocked(std::vector<std::uint64_t> numbers) MFWQ_REQUIRES(mu_);
  // Rewrites `batch` without `numbers` (sorted); adds to `missing` those
  // it does not hold. REQUIRES: mu_ held, in a transaction.
  Status RewriteWithoutLocked(const AcceptedBatch& batch, std::span<const std::uint64_t> numbers,
                              std::vector<std::uint64_t>* missing) MFWQ_REQUIRES(mu_);

  const std::string path_;
  Mutex mu_;
  bool open_ MFWQ_GUARDED_BY(mu_) = true;
  journal::SqliteDb db_ MFWQ_GUARDED_BY(mu_);
  sqlite3_stmt* insert_accepted_ MFWQ_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* insert_completed_ MFWQ_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* find_accepted_ MFWQ_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* delete_accepted_ MFWQ_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* begin_ MFWQ_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* commit_ MFWQ_GUARDED_BY(mu_) = nullptr;
  sqlite3_stmt* rollback_ MFWQ_GUARDED_BY(mu_) = nullptr;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_
