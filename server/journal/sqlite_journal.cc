#include "sqlite_journal.h"

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <utility>

#include "journal_schema.h"

namespace mfwq::server {

using journal::BindBlob;
using journal::Blob;
using journal::CompletionRow;
using journal::FromNanos;
using journal::OperationRow;
using journal::RowInserter;
using journal::RowReader;
using journal::Statement;
using journal::ToNanos;

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
  MutexLock lock(journal->mu_);  // (not shared yet: for the analysis)
  journal::SqliteDb& d = journal->db_;
  // Another process on the same journal would break every promise it keeps.
  if (Status s = d.Exec("PRAGMA locking_mode = EXCLUSIVE"); !s.ok()) return s;
  if (Status s = d.Exec("PRAGMA journal_mode = WAL"); !s.ok()) return s;
  if (Status s = d.Exec(sync == Sync::kFull ? "PRAGMA synchronous = FULL"
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
  if (Status s = d.Exec("PRAGMA wal_autocheckpoint = 10000"); !s.ok()) return s;
  // Up to 64 MiB of pages in memory, not SQLite's 2 MiB: a journal at the
  // default retention is about 20 MB, and pruning reads its oldest rows
  // back. With 2 MiB each of those reads went to the kernel: the server's
  // CPU per operation while pruning was 10.4-10.9 us, and is 9.3-10.1 us.
  if (Status s = d.Exec("PRAGMA cache_size = -65536"); !s.ok()) return s;
  if (Status s = journal::CreateOrMigrate(d); !s.ok()) return s;
  if (Status s = journal->PrepareAll(); !s.ok()) return s;
  return journal;
}

SqliteJournal::~SqliteJournal() { Close(); }

void SqliteJournal::Close() {
  MutexLock lock(mu_);
  if (!open_) return;
  for (sqlite3_stmt** stmt : {&insert_accepted_, &insert_completed_, &find_accepted_,
                              &delete_accepted_, &begin_, &commit_, &rollback_}) {
    sqlite3_finalize(*stmt);
    *stmt = nullptr;
  }
  sqlite3_close(db_.get());
  open_ = false;
}

Status SqliteJournal::CheckOpenLocked() const {
  if (!open_) return Status(StatusCode::kUnavailable, "journal " + path_ + ": closed");
  return OkStatus();
}

Status SqliteJournal::PrepareAll() {
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&insert_accepted_, journal::kInsertAccepted},
      {&insert_completed_, journal::kInsertCompleted},
      {&find_accepted_,
       "SELECT first_number, last_number, operations FROM accepted WHERE first_number <= ?1 "
       "ORDER BY first_number DESC LIMIT 1"},
      {&delete_accepted_, "DELETE FROM accepted WHERE first_number = ?1"},
      {&begin_, "BEGIN"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
  };
  for (const auto& [stmt, sql] : statements) {
    if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) !=
        SQLITE_OK) {
      return db_.Error("preparing statements");
    }
  }
  return OkStatus();
}

StatusOr<JournalContents> SqliteJournal::Load() {
  MutexLock lock(mu_);
  if (Status s = CheckOpenLocked(); !s.ok()) return s;
  journal::SqliteDb& db = db_;
  JournalContents contents;
  auto last_sequence = db.Meta("last_sequence");
  auto last_number = db.Meta("last_operation_number");
  auto pruned = db.Meta("pruned_sequence");
  for (const auto* value : {&last_sequence, &last_number, &pruned}) {
    if (!value->ok()) return value->status();
  }
  contents.last_sequence = static_cast<std::uint64_t>(*last_sequence);
  contents.last_operation_number = static_cast<std::uint64_t>(*last_number);
  const auto pruned_sequence = static_cast<std::uint64_t>(*pruned);

  // The operations ...
  Status read = db.ReadRows<OperationRow>(
      "SELECT first_number, operations FROM accepted ORDER BY first_number", 0,
      [&](const OperationRow& r, std::uint64_t key, sqlite3_stmt*) -> Status {
        JournaledOperation op;
        OperationView& v = op.view;
        if (r.number == 0 || !DecodeParameters(r.parameters, &v.parameters)) {
          return journal::DamagedRow<OperationRow>(path_, key);
        }
        v.number = OperationNumber(r.number);
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
  // (Journals of older servers may hold batches whose numbers interleave.)
  std::sort(contents.operations.begin(), contents.operations.end(),
            [](const JournaledOperation& a, const JournaledOperation& b) {
              return a.view.number < b.view.number;
            });
  std::unordered_map<OperationNumber, std::size_t> index;
  index.reserve(contents.operations.size());
  for (std::size_t i = 0; i < contents.operations.size(); ++i) {
    const OperationNumber number = contents.operations[i].view.number;
    if (!index.emplace(number, i).second) {
      return db.Damaged("operation " + OperationId(number) + ", accepted twice,");
    }
  }

  // ... and their completions, but those retention forgot.
  read = db.ReadRows<CompletionRow>(
      "SELECT first_sequence, completions FROM completed ORDER BY first_sequence", 0,
      [&](const CompletionRow& r, std::uint64_t, sqlite3_stmt*) -> Status {
        contents.last_sequence = std::max(contents.last_sequence, r.sequence);
        if (r.sequence <= pruned_sequence) return OkStatus();
        auto at = index.find(OperationNumber(r.number));
        if (at == index.end() || contents.operations[at->second].view.completion) {
          return Status(
              StatusCode::kDataLoss,
              "journal " + path_ + ": completion " + std::to_string(r.sequence) + " of " +
                  OperationId(OperationNumber(r.number)) +
                  (at == index.end() ? ", which it does not hold" : ", completed already"));
        }
        JournaledOperation& op = contents.operations[at->second];
        OperationView& v = op.view;
        CompletionRecord c;
        c.sequence = r.sequence;
        c.operation = v.number;
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
    if (sqlite3_step(begin_) != SQLITE_DONE) return db_.Error("beginning a transaction");
  }
  Status written = write();
  if (written.ok()) {
    Statement commit(commit_);
    if (sqlite3_step(commit_) == SQLITE_DONE) return OkStatus();
    written = db_.Error("committing");
  }
  // Nothing of the batch stays (SQLite may have rolled back already).
  if (sqlite3_get_autocommit(db_.get()) == 0) {
    Statement rollback(rollback_);
    sqlite3_step(rollback_);
  }
  return written;
}

Status SqliteJournal::Commit(const JournalWrite& write) {
  if (write.empty()) return OkStatus();
  MutexLock lock(mu_);
  return TransactionLocked([&]() MFWQ_REQUIRES(mu_) -> Status {
    for (std::span<const AcceptedRecord> group : write.accepted) {
      if (Status s = WriteAcceptedLocked(group); !s.ok()) return s;
    }
    if (!write.withdrawn.empty()) {
      std::vector<std::uint64_t> numbers;
      numbers.reserve(write.withdrawn.size());
      for (OperationNumber n : write.withdrawn) numbers.push_back(n.value);
      if (Status s = RemoveOperationsLocked(std::move(numbers)); !s.ok()) return s;
    }
    if (!write.completed.empty()) {
      if (Status s = WriteCompletedLocked(write.completed); !s.ok()) return s;
    }
    if (write.prune_through != 0) return PruneLocked(write.prune_through);
    return OkStatus();
  });
}

Status SqliteJournal::WriteAcceptedLocked(std::span<const AcceptedRecord> operations) {
  RowInserter rows(insert_accepted_);
  std::string parameters;
  for (const AcceptedRecord& a : operations) {
    const OperationView& v = *a.operation;
    parameters = EncodeParameters(v.parameters);
    OperationRow r;
    r.number = v.number.value;
    r.request_id = v.request_id;
    r.client = v.client;
    r.queue = v.queue;
    r.kind = v.kind;
    r.parameters = parameters;
    r.priority = v.priority;
    r.state = *a.state;
    r.submit_time = ToNanos(v.submit_time);
    if (!rows.Add(r)) return db_.Error("writing operation " + OperationId(v.number));
  }
  return rows.Flush() ? OkStatus() : db_.Error("writing operations");
}

Status SqliteJournal::WriteCompletedLocked(std::span<const CompletionPtr> completions) {
  RowInserter rows(insert_completed_);
  for (const CompletionPtr& c : completions) {
    CompletionRow r;
    r.sequence = c->sequence;
    r.number = c->operation.value;
    r.status = static_cast<std::uint32_t>(c->status);
    r.message = c->message;
    r.bytes_transferred = c->bytes_transferred;
    r.result = c->result;
    r.complete_time = ToNanos(c->complete_time);
    if (c->start_time) r.start_time = ToNanos(*c->start_time);
    if (!rows.Add(r)) {
      return db_.Error("writing the completion of " + OperationId(c->operation));
    }
  }
  return rows.Flush() ? OkStatus() : db_.Error("writing completions");
}

StatusOr<bool> SqliteJournal::FindAcceptedLocked(std::uint64_t number, bool scan,
                                                 AcceptedBatch* batch) {
  sqlite3_stmt* raw = nullptr;
  if (scan && sqlite3_prepare_v2(db_.get(),
                                 "SELECT first_number, last_number, operations FROM accepted "
                                 "WHERE first_number <= ?1 AND last_number >= ?1",
                                 -1, &raw, nullptr) != SQLITE_OK) {
    return db_.Error("reading");
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
      // was accepted at the same time (journals of older servers).
      RowReader in(batch->operations);
      OperationRow r;
      while (!found && in.Get(&r)) found = r.number == number;
    }
    if (!found && rc != SQLITE_DONE && rc != SQLITE_ROW) error = db_.Error("reading");
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
  return largest == 0 ? OkStatus() : db_.RaiseMeta("last_operation_number", largest);
}

Status SqliteJournal::RewriteWithoutLocked(const AcceptedBatch& batch,
                                           std::span<const std::uint64_t> numbers,
                                           std::vector<std::uint64_t>* missing) {
  {
    Statement stmt(delete_accepted_);
    sqlite3_bind_int64(delete_accepted_, 1, static_cast<sqlite3_int64>(batch.first));
    if (sqlite3_step(delete_accepted_) != SQLITE_DONE) return db_.Error("deleting operations");
  }
  std::vector<bool> held(numbers.size(), false);
  RowInserter rows(insert_accepted_);
  RowReader in(batch.operations);
  while (!in.done()) {
    OperationRow r;
    if (!in.Get(&r)) return db_.DamagedRow<OperationRow>(batch.first);
    auto at = std::lower_bound(numbers.begin(), numbers.end(), r.number);
    if (at != numbers.end() && *at == r.number) {
      held[static_cast<std::size_t>(at - numbers.begin())] = true;
    } else if (!rows.Add(r)) {
      return db_.Error("rewriting operations");
    }
  }
  if (!rows.Flush()) return db_.Error("rewriting operations");
  if (missing != nullptr) {
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      if (!held[i]) missing->push_back(numbers[i]);
    }
  }
  return OkStatus();
}

Status SqliteJournal::PruneLocked(std::uint64_t sequence) {
  auto pruned = db_.Meta("pruned_sequence");
  if (!pruned.ok()) return pruned.status();
  const auto previous = static_cast<std::uint64_t>(*pruned);
  if (sequence <= previous) return OkStatus();
  // The operations whose completions go, from the rows that hold them.
  std::vector<std::uint64_t> numbers;
  std::uint64_t last = 0;
  Status read = db_.ReadRows<CompletionRow>(
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
  if (sqlite3_prepare_v2(db_.get(),
                         "DELETE FROM completed WHERE first_sequence <= ?1 AND last_sequence <= ?1",
                         -1, &raw, nullptr) != SQLITE_OK) {
    return db_.Error("pruning");
  }
  sqlite3_bind_int64(raw, 1, static_cast<sqlite3_int64>(sequence));
  const int rc = sqlite3_step(raw);
  sqlite3_finalize(raw);
  if (rc != SQLITE_DONE) return db_.Error("pruning");
  // Numbering carries on after what goes.
  if (Status s = db_.RaiseMeta("last_sequence", last); !s.ok()) return s;
  return db_.RaiseMeta("pruned_sequence", sequence);
}

}  // namespace mfwq::server
