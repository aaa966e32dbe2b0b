// Requests that do not parse: every method answers INVALID_ARGUMENT naming
// the message it expected (not gRPC's bare UNIMPLEMENTED), the server logs
// at most one line per client per interval for them, and a Session ends
// with INVALID_ARGUMENT naming the batch, after answering those before it.
#include <chrono>
#include <future>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include "proto/probes.grpc.pb.h"
#include <gtest/gtest.h>

#include "e2e_test.h"

namespace mfwq::test {
namespace {

// Calls unary method `method` of mfwq.v1.WorkQueues with `bytes` as its
// request, as client `client`.
grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& bytes, const std::string& client = "test-client") {
  grpc::GenericStub stub(channel);
  auto context = Context(client);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), "/mfwq.v1.WorkQueues/" + method, grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

// Every unary method and the message it takes.
const std::vector<std::pair<std::string, std::string>>& UnaryMethods() {
  static const std::vector<std::pair<std::string, std::string>> methods = {
      {"CreateQueue", "CreateQueueRequest"},   {"GetQueue", "GetQueueRequest"},
      {"ListQueues", "ListQueuesRequest"},     {"LockQueue", "LockQueueRequest"},
      {"UnlockQueue", "UnlockQueueRequest"},   {"DeleteQueue", "DeleteQueueRequest"},
      {"Submit", "SubmitRequest"},             {"GetOperation", "GetOperationRequest"},
      {"WaitOperation", "WaitOperationRequest"}, {"ListOperations", "ListOperationsRequest"},
      {"CancelOperation", "CancelOperationRequest"}, {"CreateEvent", "CreateEventRequest"},
      {"SetEvent", "SetEventRequest"},         {"ResetEvent", "ResetEventRequest"},
      {"DeleteEvent", "DeleteEventRequest"},   {"ListEvents", "ListEventsRequest"},
      {"ListKinds", "ListKindsRequest"},
  };
  return methods;
}

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_F(E2ETest, RequestsThatDoNotParseAreRefusedNamingTheirMessage) {
  const auto channel = server_->Channel();
  // Field 1 as a varint whose bytes never end: no message parses it.
  const std::string truncated("\x08\xff\xff", 3);
  for (const auto& [method, message] : UnaryMethods()) {
    const grpc::Status s = RawUnary(channel, method, truncated);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method << ": "
                                                                  << s.error_message();
    EXPECT_EQ(s.error_message().rfind("request could not be parsed as mfwq.v1." + message, 0), 0u)
        << method << ": " << s.error_message();
  }
  // A string field that is not UTF-8 (name, field 1, of SetEventRequest;
  // operation_id, field 1, of GetOperationRequest): the reason names it.
  grpc::Status s = RawUnary(channel, "SetEvent", std::string("\x0a\x02\xff\xfe", 4));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "request could not be parsed as mfwq.v1.SetEventRequest: string field "
            "mfwq.v1.SetEventRequest.name is not UTF-8 (4 bytes)");
  s = RawUnary(channel, "GetOperation", std::string("\x0a\x01\xc0", 3));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("mfwq.v1.GetOperationRequest.operation_id is not UTF-8"),
            std::string::npos)
      << s.error_message();

  // A WatchCompletions whose request does not parse ends at once, the same way.
  {
    auto context = Context();
    v1::WatchCompletionsRequest watch;
    watch.add_operation_ids("\xff");  // serialised as it is (the client only logs)
    auto stream = stub_->WatchCompletions(context.get(), watch);
    v1::Notification n;
    EXPECT_FALSE(stream->Read(&n));
    s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_EQ(s.error_message().rfind(
                  "request could not be parsed as mfwq.v1.WatchCompletionsRequest: string field "
                  "mfwq.v1.WatchCompletionsRequest.operation_ids is not UTF-8",
                  0),
              0u)
        << s.error_message();
  }

  // A request that parses is answered as ever, on the same channel.
  EXPECT_TRUE(RawUnary(channel, "ListKinds", std::string()).ok());
}

// Random and mutated encodings thrown at every unary method of a real
// server (a fixed seed, a bounded count): each is answered with a status
// that fits a client's mistake, never UNKNOWN, INTERNAL or UNIMPLEMENTED,
// and the server stays healthy and answers valid calls after them all.
TEST_F(E2ETest, RandomAndMutatedEncodingsGetFittingAnswersAndTheServerStaysHealthy) {
  const auto channel = server_->Channel();
  // Valid encodings to mutate: an echo submission, a lookup, an event.
  std::vector<std::string> seeds;
  seeds.push_back(Echo("seed").SerializeAsString());
  v1::GetOperationRequest get;
  get.set_operation_id("op-1");
  seeds.push_back(get.SerializeAsString());
  v1::CreateEventRequest event;
  event.set_name("ev");
  seeds.push_back(event.SerializeAsString());
  v1::ListOperationsRequest list;
  list.add_states(v1::OPERATION_STATE_COMPLETED);
  list.set_page_size(5);
  seeds.push_back(list.SerializeAsString());
  std::mt19937 random(20261202);
  const auto byte = [&] { return static_cast<char>(random() & 0xff); };
  constexpr int kPerMethod = 60;
  std::map<grpc::StatusCode, int> seen;
  for (const auto& [method, message] : UnaryMethods()) {
    for (int i = 0; i < kPerMethod; ++i) {
      std::string bytes;
      if (i % 2 == 0) {  // random bytes, 0 to 63 of them
        bytes.resize(random() % 64);
        for (char& c : bytes) c = byte();
      } else {  // a valid encoding (of some request) with bytes flipped, cut or added
        bytes = seeds[random() % seeds.size()];
        const int edits = 1 + static_cast<int>(random() % 4);
        for (int e = 0; e < edits && !bytes.empty(); ++e) {
          const std::size_t at = random() % bytes.size();
          switch (random() % 3) {
            case 0: bytes[at] = byte(); break;
            case 1: bytes.resize(at); break;
            default: bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(at), byte());
          }
        }
      }
      const grpc::Status s = RawUnary(channel, method, bytes);
      ++seen[s.error_code()];
      const bool fitting =
          s.ok() || s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
          s.error_code() == grpc::StatusCode::NOT_FOUND ||
          s.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
          s.error_code() == grpc::StatusCode::OUT_OF_RANGE ||
          s.error_code() == grpc::StatusCode::ALREADY_EXISTS ||
          s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
      EXPECT_TRUE(fitting) << method << " answered " << s.error_code() << " "
                           << s.error_message().substr(0, 300);
      EXPECT_LE(s.error_message().size(), 1024u) << method;
    }
  }
  EXPECT_GT(seen[grpc::StatusCode::INVALID_ARGUMENT], 0);
  // Healthy, and answering.
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest check;
  grpc::health::v1::HealthCheckResponse healthy;
  ASSERT_TRUE(health->Check(Context().get(), check, &healthy).ok());
  EXPECT_EQ(healthy.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(WaitDone(Submit(Echo("after")).id()).completion().status().code(), kSOk);
}

// Each client's unparseable requests make at most one log line per
// interval (10 s): here 50 from each of two clients, so one line each,
// unless the test took longer than an interval.
TEST_F(E2ETest, UnparseableRequestsAreLoggedAtMostOncePerClientPerInterval) {
  const auto channel = server_->Channel();
  const auto start = std::chrono::steady_clock::now();
  const std::string bad("\x0a\x02\xff\xfe", 4);
  for (int i = 0; i < 50; ++i) {
    for (const char* client : {"rig-a", "rig-b"}) {
      ASSERT_EQ(RawUnary(channel, "SetEvent", bad, client).error_code(),
                grpc::StatusCode::INVALID_ARGUMENT);
    }
  }
  const auto intervals =
      1 + std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                           start)
                  .count() /
              10;
  // Stopped first: all it logged is then written (a Windows server's
  // standard error is not written line by line).
  stub_.reset();
  ASSERT_EQ(server_->Terminate(), 0) << server_->Log();
  const std::string log = server_->Log();
  server_.reset();  // (stopped already)
  for (const char* client : {"rig-a", "rig-b"}) {
    std::string lines;
    std::size_t at = 0;
    int n = 0;
    while ((at = log.find("\"request_unparseable\"", at)) != std::string::npos) {
      const auto begin = log.rfind('\n', at) + 1;
      const auto end = log.find('\n', at);
      const std::string line = log.substr(begin, end - begin);
      if (line.find(std::string("\"client\":\"") + client + "\"") != std::string::npos) ++n;
      at = end;
    }
    EXPECT_GE(n, 1) << client << "\n" << log.substr(0, 4000);
    EXPECT_LE(n, intervals) << client << "\n" << log.substr(0, 4000);
  }
  // Protocol Buffers' own complaint is not logged per request.
  EXPECT_EQ(CountOf(log, "invalid UTF-8 data when parsing"), 0) << log.substr(0, 4000);
}

// A Session that reads a batch it cannot parse answers the batches before
// it, then ends with INVALID_ARGUMENT naming the batch (before: OK, at
// once, with the client told nothing).
TEST_F(E2ETest, ASessionEndsWithInvalidArgumentAtABatchThatDoesNotParse) {
  auto context = Context();
  auto stream = stub_->Session(context.get());
  v1::SessionRequest good;
  *good.mutable_submit()->add_requests() = Echo("first");
  ASSERT_TRUE(stream->Write(good));
  v1::SessionRequest bad;
  v1::SubmitRequest r = Echo("second");
  r.set_kind("\xff\xfe");  // serialised as it is (the client only logs)
  *bad.mutable_submit()->add_requests() = r;
  ASSERT_TRUE(stream->Write(bad));
  stream->Write(good);  // (may fail: the stream may have ended)
  stream->WritesDone();
  int answers = 0;
  v1::SessionResponse response;
  while (stream->Read(&response)) {
    if (response.has_submitted()) {
      ++answers;
      ASSERT_EQ(response.submitted().results_size(), 1);
      EXPECT_TRUE(response.submitted().results(0).has_accepted());
    }
  }
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(answers, 1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message().rfind("batch 2 could not be parsed as mfwq.v1.SessionRequest: "
                                    "string field mfwq.v1.SubmitRequest.kind is not UTF-8",
                                    0),
            0u)
      << s.error_message();
}

}  // namespace
}  // namespace mfwq::test

namespace mfwq::test {
namespace {

class SmallMessagesTest : public E2ETest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--max-message-bytes", "65536"};
  }
};

// Oversize batches end a Session naming what was too large, after the
// batches before them are answered: more requests than a batch may hold
// (INVALID_ARGUMENT, naming the batch), or more bytes than a message may
// (RESOURCE_EXHAUSTED, from gRPC, which does not read it).
TEST_F(SmallMessagesTest, ASessionEndsAtAnOversizeBatchNamingIt) {
  for (const bool too_many : {true, false}) {
    auto context = Context();
    auto stream = stub_->Session(context.get());
    v1::SessionRequest good;
    *good.mutable_submit()->add_requests() = Echo("first");
    ASSERT_TRUE(stream->Write(good));
    v1::SessionRequest big;
    if (too_many) {
      for (int i = 0; i < 1001; ++i) *big.mutable_submit()->add_requests() = Echo("x");
    } else {
      *big.mutable_submit()->add_requests() = Echo(std::string(70000, 'x'));
    }
    stream->Write(big);  // (may fail: the stream may have ended)
    stream->WritesDone();
    int answers = 0;
    v1::SessionResponse response;
    while (stream->Read(&response)) answers += response.has_submitted() ? 1 : 0;
    const grpc::Status s = stream->Finish();
    if (too_many) {
      EXPECT_EQ(answers, 1);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
      EXPECT_EQ(s.error_message(), "batch 2: submit.requests: at most 1000 per batch");
    } else {
      EXPECT_LE(answers, 1);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      EXPECT_NE(s.error_message().find("larger than max"), std::string::npos) << s.error_message();
    }
  }
}

}  // namespace
}  // namespace mfwq::test
