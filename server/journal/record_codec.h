// The journal's record codec: how the operations and completions of one
// row are packed into its blob, and read back.
//
// A blob is its records one after another. Integers are LEB128 varints
// (signed ones zigzagged), strings a varint length and the bytes. Times are
// nanoseconds since the Unix epoch, each written as the difference from the
// record before (the first from zero). The client and the kind, the same in
// most of a batch, are written as 0 when they repeat the record before's,
// and as their length + 1 and the bytes otherwise.
//
//   operation:  number, request_id, client*, queue, kind*, parameters
//               (EncodeParameters), priority (signed), state, submit_time
//   completion: sequence, number, status (the HRESULT's 32-bit pattern),
//               message, bytes_transferred, result, complete_time,
//               started (0 or 1) and, if 1, complete_time - start_time
//
// Pure functions of bytes: no SQLite here.
#ifndef MFWQ_SERVER_JOURNAL_RECORD_CODEC_H_
#define MFWQ_SERVER_JOURNAL_RECORD_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "operation_records.h"

namespace mfwq::server::journal {

struct OperationRow {
  std::uint64_t number = 0;
  std::string_view request_id, client;
  std::uint64_t queue = 0;
  std::string_view kind, parameters;
  std::int64_t priority = 0;
  std::string_view state;
  std::int64_t submit_time = 0;
  std::uint64_t key() const { return number; }
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
  std::uint64_t key() const { return sequence; }
  static constexpr const char* kRowName = "the completions from sequence ";
};

// Packs records into one blob.
class RowWriter {
 public:
  void Put(const OperationRow& r);
  void Put(const CompletionRow& r);
  const std::string& bytes() const { return out_; }
  bool empty() const { return !seen_; }
  // Ready for the next row.
  void Clear();

 private:
  void Varint(std::uint64_t v);
  void String(std::string_view s);
  void Repeated(std::string_view s, std::string& previous);
  void Time(std::int64_t t);

  std::string out_;
  std::string client_, kind_;  // copies: a record's strings may go once it is written
  std::int64_t time_ = 0;
  bool seen_ = false;  // a record was written: there is one to repeat
};

// Reads what RowWriter wrote. The views point into the blob given; Get is
// false for bytes that are not a whole record (a damaged row).
class RowReader {
 public:
  explicit RowReader(std::string_view in) : in_(in) {}
  bool done() const { return in_.empty(); }
  bool Get(OperationRow* r);
  bool Get(CompletionRow* r);

 private:
  bool Varint(std::uint64_t* v);
  bool Bytes(std::uint64_t n, std::string_view* s);
  bool String(std::string_view* s);
  bool Repeated(std::string_view* s, std::string_view& previous);
  bool Time(std::int64_t* t);

  std::string_view in_;
  std::string_view client_, kind_;
  std::int64_t time_ = 0;
  bool seen_ = false;  // a record was read: there is one to repeat
};

// Times as the journal keeps them: nanoseconds since the Unix epoch.
std::int64_t ToNanos(Clock::time_point t);
Clock::time_point FromNanos(std::int64_t ns);

}  // namespace mfwq::server::journal

#endif  // MFWQ_SERVER_JOURNAL_RECORD_CODEC_H_
