// A Session's batches, several with the table at once: answered in the
// order they came, each before any completion of the operations it names.
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "e2e_test.h"

namespace mfwq::test {
namespace {

// With every commit an fsync, batches that need the journal wait for it,
// and a batch refused whole (answered without the journal) would overtake
// them if answers went out as they came.
class PipelinedSessionTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override { return {"--journal-sync", "full"}; }
};

TEST_F(PipelinedSessionTest, BatchesAreAnsweredInOrderAndBeforeTheirCompletions) {
  constexpr int kBatches = 24;
  for (int round = 0; round < 3; ++round) {
    auto context = Context();
    auto stream = stub_->Session(context.get());
    // Batch i holds i + 1 requests, which tells its answer from the others'.
    // Every third is refused whole (an unknown kind).
    std::size_t accepted_expected = 0;
    for (int i = 0; i < kBatches; ++i) {
      v1::SessionRequest batch;
      for (int j = 0; j <= i; ++j) {
        v1::SubmitRequest r = Echo(std::to_string(round * kBatches + i));
        if (i % 3 == 2) r.set_kind("no.such.kind");
        *batch.mutable_submit()->add_requests() = r;
      }
      if (i % 3 != 2) accepted_expected += static_cast<std::size_t>(i + 1);
      ASSERT_TRUE(stream->Write(batch)) << "batch " << i;
    }
    stream->WritesDone();

    int answers = 0;
    std::set<std::string> answered;
    std::set<std::string> completed;
    v1::SessionResponse response;
    while (stream->Read(&response)) {
      if (response.has_submitted()) {
        ASSERT_LT(answers, kBatches);
        ASSERT_EQ(response.submitted().results_size(), answers + 1)
            << "round " << round << ": the answer to batch " << answers << " came out of order";
        for (const v1::SubmitResult& result : response.submitted().results()) {
          if (answers % 3 == 2) {
            ASSERT_TRUE(result.has_error());
            EXPECT_EQ(result.error().code(), 3);  // INVALID_ARGUMENT
            continue;
          }
          ASSERT_TRUE(result.has_accepted()) << result.error().message();
          answered.insert(result.accepted().operation().id());
        }
        ++answers;
      }
      for (const v1::Notification& n : response.notifications().notifications()) {
        if (!n.has_completion()) continue;
        const std::string& id = n.completion().operation_id();
        EXPECT_EQ(answered.count(id), 1u) << id << ": its completion came before its answer";
        EXPECT_TRUE(completed.insert(id).second) << id << ": completed twice";
      }
    }
    const grpc::Status s = stream->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(answers, kBatches);
    EXPECT_EQ(answered.size(), accepted_expected);
    EXPECT_EQ(completed, answered);
  }
}

}  // namespace
}  // namespace mfwq::test
