// Fuzzes requests as the service takes them: the first byte picks a
// method of mfwq.v1.WorkQueues, the rest is its request's bytes, parsed as
// the service parses them (request_parse.h); what parses is converted and
// checked as the handlers do (convert.h), and a submission's kind and
// parameters validated against the built-in kinds, as admission does.
// Every refusal must be INVALID_ARGUMENT or NOT_FOUND with a bounded message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <grpcpp/support/byte_buffer.h>

#include "builtin_kinds.h"
#include "client_text.h"
#include "convert.h"
#include "library_log.h"
#include "log.h"
#include "mfwq/v1/mfwq.pb.h"
#include "operation_kind.h"
#include "request_parse.h"

namespace {

using mfwq::server::Status;
using mfwq::server::StatusCode;
namespace rpc = mfwq::server::rpc;
namespace v1 = mfwq::v1;

void Expect(const Status& s) {
  if (s.ok()) return;
  const bool fitting = s.code() == StatusCode::kInvalidArgument ||
                       s.code() == StatusCode::kNotFound || s.code() == StatusCode::kOutOfRange;
  if (!fitting || s.message().size() > mfwq::server::kMaxMessageBytes ||
      !mfwq::server::IsUtf8(s.message())) {
    std::abort();
  }
}

const mfwq::server::KindRegistry& Kinds() {
  static const auto* kinds = [] {
    auto* registry = new mfwq::server::KindRegistry();
    if (!mfwq::server::RegisterBuiltinKinds(*registry).ok()) std::abort();
    return registry;
  }();
  return *kinds;
}

template <typename Req>
bool Parse(const grpc::ByteBuffer& bytes, Req* request) {
  const Status s = rpc::ParseRequest(bytes, request, "fuzz-client");
  Expect(s);
  return s.ok();
}

void Submit(const v1::SubmitRequest& r) {
  auto spec = rpc::FromProto(r, "fuzz-client");
  Expect(spec.status());
  if (!spec.ok()) return;
  auto kind = Kinds().Find(spec->kind);
  if (!kind) return;
  Status s = mfwq::server::ValidateParameters(kind->info(), &spec->parameters);
  Expect(s);
  if (s.ok()) Expect(kind->Check(spec->parameters));
}

}  // namespace

// As the server starts: Protocol Buffers' lines routed (and, while a
// request is parsed, captured); the service's own lines quiet but errors.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  mfwq::server::RouteProtobufLogs();
  mfwq::server::LogLine::SetLevel("error");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  grpc::Slice slice(data + 1, size - 1);
  const grpc::ByteBuffer bytes(&slice, 1);
  switch (data[0] % 8) {
    case 0: {
      v1::SubmitRequest r;
      if (Parse(bytes, &r)) Submit(r);
      break;
    }
    case 1: {
      v1::SessionRequest r;
      if (!Parse(bytes, &r)) break;
      for (const v1::SubmitRequest& s : r.submit().requests()) Submit(s);
      for (const std::string& id : r.cancel().operation_ids()) {
        Expect(rpc::OperationFromProto(id, "operation_id").status());
      }
      break;
    }
    case 2: {
      v1::WaitOperationRequest r;
      if (!Parse(bytes, &r)) break;
      Expect(rpc::OperationFromProto(r.operation_id(), "operation_id").status());
      Expect(rpc::DurationFromProto(r.timeout(), "timeout", std::chrono::seconds(0),
                                    std::chrono::seconds(3600))
                 .status());
      break;
    }
    case 3: {
      v1::ListOperationsRequest r;
      if (!Parse(bytes, &r)) break;
      for (int i = 0; i < r.states_size(); ++i) Expect(rpc::FromProto(r.states(i), "states").status());
      break;
    }
    case 4: {
      v1::CreateQueueRequest r;
      if (Parse(bytes, &r)) Expect(rpc::FromProto(r.type()).status());
      break;
    }
    case 5: {
      v1::WatchCompletionsRequest r;
      if (!Parse(bytes, &r)) break;
      for (const std::string& id : r.operation_ids()) {
        Expect(rpc::OperationFromProto(id, "operation_ids").status());
      }
      break;
    }
    case 6: {
      v1::SetEventRequest r;
      if (Parse(bytes, &r)) {
        const std::string shown = mfwq::server::Quoted(r.name());
        if (shown.size() > 4 * mfwq::server::kQuotedBytes + 64) std::abort();
      }
      break;
    }
    default: {
      v1::CancelOperationRequest r;
      if (Parse(bytes, &r)) Expect(rpc::OperationFromProto(r.operation_id(), "operation_id").status());
      break;
    }
  }
  return 0;
}
