// The journal's record codec (server/journal/record_codec.h): rows of
// operations and completions round-trip, repeated clients and kinds take a
// byte, times of any value survive, and damaged bytes are refused.
#include "record_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace mfwq::server::journal {
namespace {

OperationRow Op(std::uint64_t number, std::string_view client, std::string_view kind,
                std::int64_t submit_time) {
  OperationRow r;
  r.number = number;
  r.request_id = "req";
  r.client = client;
  r.queue = 5;
  r.kind = kind;
  r.parameters = "params";
  r.priority = -3;
  r.state = "state";
  r.submit_time = submit_time;
  return r;
}

TEST(RecordCodec, OperationsRoundTripAndRepeatsAreShort) {
  RowWriter w;
  EXPECT_TRUE(w.empty());
  const std::vector<OperationRow> rows = {Op(1, "alice", "echo", 1000),
                                          Op(2, "alice", "echo", 900),  // earlier: a negative step
                                          Op(3, "bob", "sleep", std::numeric_limits<std::int64_t>::max()),
                                          Op(4, "bob", "sleep", std::numeric_limits<std::int64_t>::min())};
  for (const OperationRow& r : rows) w.Put(r);
  const std::string bytes = w.bytes();
  RowReader in(bytes);
  for (const OperationRow& want : rows) {
    OperationRow got;
    ASSERT_TRUE(in.Get(&got));
    EXPECT_EQ(got.number, want.number);
    EXPECT_EQ(got.request_id, want.request_id);
    EXPECT_EQ(got.client, want.client);
    EXPECT_EQ(got.queue, want.queue);
    EXPECT_EQ(got.kind, want.kind);
    EXPECT_EQ(got.parameters, want.parameters);
    EXPECT_EQ(got.priority, want.priority);
    EXPECT_EQ(got.state, want.state);
    EXPECT_EQ(got.submit_time, want.submit_time);
  }
  EXPECT_TRUE(in.done());

  // The second record's client and kind repeat the first's: one byte each.
  RowWriter one, two;
  one.Put(rows[0]);
  two.Put(rows[0]);
  two.Put(rows[1]);
  RowWriter alone;
  alone.Put(rows[1]);
  EXPECT_EQ(two.bytes().size() - one.bytes().size(),
            alone.bytes().size() - std::string("alice").size() - std::string("echo").size());
}

TEST(RecordCodec, CompletionsRoundTripWithAndWithoutAStart) {
  const std::string result("\0\1\2", 3);  // (the row views it)
  CompletionRow ran;
  ran.sequence = 7;
  ran.number = 42;
  ran.status = 0x80004005u;
  ran.message = "failed";
  ran.bytes_transferred = std::uint64_t{1} << 40;
  ran.result = result;
  ran.complete_time = 5'000'000'000;
  ran.start_time = 4'000'000'000;
  CompletionRow never = ran;
  never.sequence = 8;
  never.start_time.reset();
  RowWriter w;
  w.Put(ran);
  w.Put(never);
  const std::string bytes = w.bytes();
  RowReader in(bytes);
  CompletionRow got;
  ASSERT_TRUE(in.Get(&got));
  EXPECT_EQ(got.sequence, 7u);
  EXPECT_EQ(got.number, 42u);
  EXPECT_EQ(got.status, 0x80004005u);
  EXPECT_EQ(got.message, "failed");
  EXPECT_EQ(got.bytes_transferred, std::uint64_t{1} << 40);
  EXPECT_EQ(got.result, result);
  EXPECT_EQ(got.complete_time, 5'000'000'000);
  EXPECT_EQ(got.start_time, 4'000'000'000);
  ASSERT_TRUE(in.Get(&got));
  EXPECT_EQ(got.sequence, 8u);
  EXPECT_FALSE(got.start_time.has_value());
  EXPECT_TRUE(in.done());
}

// Every proper prefix of a record is refused, and so is a repeat with
// nothing to repeat.
TEST(RecordCodec, DamagedBytesAreRefused) {
  RowWriter w;
  w.Put(Op(1, "alice", "echo", 1000));
  const std::string bytes = w.bytes();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    RowReader in(std::string_view(bytes).substr(0, n));
    OperationRow r;
    EXPECT_FALSE(in.Get(&r)) << n << " bytes of " << bytes.size();
  }
  // number 1, request "", then client "repeat the previous" (0) with none before.
  const std::string repeat_first = std::string("\x01\x00\x00", 3);
  RowReader in(repeat_first);
  OperationRow r;
  EXPECT_FALSE(in.Get(&r));
  // A status beyond 32 bits.
  RowWriter c;
  CompletionRow big;
  c.Put(big);
  std::string tampered = c.bytes();
  tampered[2] = '\xff';  // the status varint (after sequence 0, number 0) now continues
  RowReader bad(tampered);
  CompletionRow out;
  EXPECT_FALSE(bad.Get(&out));
}

TEST(RecordCodec, ClearStartsAFreshRow) {
  RowWriter w;
  w.Put(Op(1, "alice", "echo", 10));
  w.Clear();
  EXPECT_TRUE(w.empty());
  w.Put(Op(2, "alice", "echo", 20));  // the client written whole again, the time from zero
  RowReader in(w.bytes());
  OperationRow r;
  ASSERT_TRUE(in.Get(&r));
  EXPECT_EQ(r.client, "alice");
  EXPECT_EQ(r.submit_time, 20);
  EXPECT_TRUE(in.done());
}

}  // namespace
}  // namespace mfwq::server::journal
