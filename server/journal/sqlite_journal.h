// SqliteJournal: the server's journal (server/core/journal.h) in an
// embedded SQLite database in write-ahead-log mode.
//
// A batch of operations accepted together is one row in one table, a batch
// of completions one row in another, each holding its records in one blob;
// retention deletes completions and takes their operations out of their
// rows. Journals of older layouts (schema versions 1 and 2, a row per
// operation) are upgraded on open. Each call is one transaction (a batch
// of acceptances or completions commits together), committed before the
// call returns. With `synchronous
// = NORMAL` (the default) a commit survives the process being killed at
// any point; `FULL` also survives the machine losing power, at the cost of
// an fsync per commit.
#ifndef MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_
#define MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

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
  // A row of accepted operations, as read.
  struct AcceptedBatch {
    std::uint64_t first = 0, last = 0;  // its key and its largest number
    std::string operations;             // the blob
  };

  SqliteJournal(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  // UNAVAILABLE once closed. REQUIRES: mu_ held.
  Status CheckOpenLocked() const;
  // Runs SQL without results. REQUIRES: mu_ held (or not yet shared).
  Status ExecLocked(const char* sql);
  // The error for `what` failing, with SQLite's message.
  Status ErrorLocked(const std::string& what);
  // DATA_LOSS: `what` cannot be read back.
  Status DamagedLocked(const std::string& what) const;
  // DATA_LOSS: the row of `Row`s with this key cannot be read back.
  template <typename Row>
  Status DamagedRowLocked(std::uint64_t key) const;
  // Decodes every row `select` reads (its first column the row's key, its
  // last the blob; `bound` binds ?1 if it has one) and calls
  // `visit(record, key, statement)` for each record, stopping at the first
  // error. REQUIRES: mu_ held (or not yet shared).
  template <typename Row, typename Visit>
  Status ReadRowsLocked(const char* select, std::uint64_t bound, Visit visit);
  // A value in the meta table (0 if absent), and raising one to at least
  // `value`. REQUIRES: mu_ held (or not yet shared).
  StatusOr<std::int64_t> MetaLocked(const char* key);
  Status RaiseMetaLocked(const char* key, std::uint64_t value);
  Status PrepareAll();
  // Creates the tables, or upgrades those of an older schema version.
  // REQUIRES: not yet shared.
  Status CreateOrMigrate();
  Status MigrateFrom2();
  // Copies what `select` reads into rows of `insert` (in groups), `read`
  // making a record of each row selected. REQUIRES: not yet shared, in a
  // transaction.
  template <typename Row, typename Read>
  Status CopyIntoRowsLocked(const char* select, const char* insert, Read read);
  // Runs `write` in one transaction: committed if it returns OK, rolled
  // back otherwise. REQUIRES: mu_ held.
  template <typename Write>
  Status TransactionLocked(Write&& write);
  // The row holding operation `number`: the last row to start at or
  // before it, or with `scan` any whose range holds it. False if none
  // does. REQUIRES: mu_ held.
  StatusOr<bool> FindAcceptedLocked(std::uint64_t number, bool scan, AcceptedBatch* batch);
  // Takes these operations out of their rows (rewritten without them, or
  // deleted when empty); those not held are skipped. REQUIRES: mu_ held,
  // in a transaction.
  Status RemoveOperationsLocked(std::vector<std::uint64_t> numbers);
  // Rewrites `batch` without `numbers` (sorted); adds to `missing` those
  // it does not hold. REQUIRES: mu_ held, in a transaction.
  Status RewriteWithoutLocked(const AcceptedBatch& batch, std::span<const std::uint64_t> numbers,
                              std::vector<std::uint64_t>* missing);

  const std::string path_;
  std::mutex mu_;
  sqlite3* db_;                               // guarded by mu_
  sqlite3_stmt* insert_accepted_ = nullptr;   // guarded by mu_
  sqlite3_stmt* insert_completed_ = nullptr;  // guarded by mu_
  sqlite3_stmt* find_accepted_ = nullptr;     // guarded by mu_
  sqlite3_stmt* delete_accepted_ = nullptr;   // guarded by mu_
  sqlite3_stmt* begin_ = nullptr;             // guarded by mu_
  sqlite3_stmt* commit_ = nullptr;            // guarded by mu_
  sqlite3_stmt* rollback_ = nullptr;          // guarded by mu_
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_JOURNAL_SQLITE_JOURNAL_H_
