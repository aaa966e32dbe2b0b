// The tables of the journal's earlier layouts, as servers of those versions
// created them: for the tests that write such a journal and open it with
// today's server (the upgrades in server/journal/journal_schema.cc). Kept
// here as written then, not taken from the server's own statements, which
// move on with it.
#ifndef MFWQ_TESTS_SERVER_OLD_JOURNAL_LAYOUTS_H_
#define MFWQ_TESTS_SERVER_OLD_JOURNAL_LAYOUTS_H_

namespace mfwq::server::journal::test {

// Version 1: one row per operation, completed in place.
constexpr char kVersion1Tables[] = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE operations (
  number INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, request_id TEXT NOT NULL,
  client TEXT NOT NULL, queue INTEGER NOT NULL, kind TEXT NOT NULL,
  parameters BLOB NOT NULL, priority INTEGER NOT NULL, state BLOB NOT NULL,
  submit_time INTEGER NOT NULL, sequence INTEGER UNIQUE, status INTEGER, message TEXT,
  bytes_transferred INTEGER, result BLOB, start_time INTEGER, complete_time INTEGER);
)sql";

// Version 2: a row per operation and one per completion.
constexpr char kVersion2Tables[] = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE operations (
  number INTEGER PRIMARY KEY, request_id TEXT NOT NULL, client TEXT NOT NULL,
  queue INTEGER NOT NULL, kind TEXT NOT NULL, parameters BLOB NOT NULL,
  priority INTEGER NOT NULL, state BLOB NOT NULL, submit_time INTEGER NOT NULL);
CREATE TABLE completions (
  sequence INTEGER PRIMARY KEY, number INTEGER NOT NULL, status INTEGER NOT NULL,
  message TEXT NOT NULL, bytes_transferred INTEGER NOT NULL, result BLOB NOT NULL,
  start_time INTEGER, complete_time INTEGER NOT NULL);
)sql";

}  // namespace mfwq::server::journal::test

#endif  // MFWQ_TESTS_SERVER_OLD_JOURNAL_LAYOUTS_H_
