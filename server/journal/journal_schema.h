// The journal's schema, and the upgrades of journals of older layouts.
//
// Schema version 3: a batch of accepted operations is one row, and so is a
// batch of completions, each holding its records in one blob
// (record_codec.h). Writing a batch is one insert, whatever its size:
// per-row work was most of what the journal cost. Both tables are keyed by
// the batch's first number, with no other index.
//
// Retention forgets completions up to a sequence: rows wholly before it
// go, a row that straddles it stays and `pruned_sequence` (meta) says which
// of its completions are forgotten; the operations they completed are taken
// out of their accepted rows (a row rewritten without them, or deleted
// when none is left).
//
// Versions 1 (one row per operation, completed in place) and 2 (a row per
// operation and one per completion) are upgraded on open, in one
// transaction each, with nothing lost.
#ifndef MFWQ_SERVER_JOURNAL_JOURNAL_SCHEMA_H_
#define MFWQ_SERVER_JOURNAL_JOURNAL_SCHEMA_H_

#include "sqlite_db.h"

namespace mfwq::server::journal {

inline constexpr int kSchemaVersion = 3;

// Creates the tables of a new journal, or upgrades those of an older
// version to the current one; FAILED_PRECONDITION for a version this
// server does not know (a newer server's journal).
Status CreateOrMigrate(SqliteDb& db);

// The statements that write the current schema's rows (?1 first key, ?2
// last key, ?3 blob).
inline constexpr char kInsertAccepted[] =
    "INSERT INTO accepted (first_number, last_number, operations) VALUES (?1, ?2, ?3)";
inline constexpr char kInsertCompleted[] =
    "INSERT INTO completed (first_sequence, last_sequence, completions) VALUES (?1, ?2, ?3)";

}  // namespace mfwq::server::journal

#endif  // MFWQ_SERVER_JOURNAL_JOURNAL_SCHEMA_H_
