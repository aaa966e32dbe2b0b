// Conversions between the remote API's messages (mfwq.v1) and the server
// core's records, and the one place a core Status becomes a grpc::Status.
// Conversions from requests check them: errors name the field.
#ifndef MFWQ_SERVER_RPC_CONVERT_H_
#define MFWQ_SERVER_RPC_CONVERT_H_

#include <grpcpp/grpcpp.h>

#include "mfwq/v1/mfwq.grpc.pb.h"
#include "operation_kind.h"
#include "operation_records.h"
#include "queue_table.h"
#include "event_table.h"
#include "status.h"

namespace mfwq::server::rpc {

namespace v1 = ::mfwq::v1;

grpc::Status ToGrpcStatus(const Status& status);

void ToProto(HRESULT hr, v1::HResult* out);
void ToProto(Clock::time_point t, google::protobuf::Timestamp* out);
void ToProto(const Value& value, v1::Value* out);
void ToProto(const CompletionRecord& completion, v1::Completion* out);
void ToProto(const ProgressRecord& progress, v1::Progress* out);
void ToProto(const OperationView& operation, v1::Operation* out);
// A batch item's refusal (a Session's), as a unary call would have
// returned it. The one place the server makes a CallError.
void ToProto(const Status& status, v1::CallError* out);
// The operation an id names (`field` names it in errors): INVALID_ARGUMENT
// if empty, NOT_FOUND if it is not an id this server gives.
StatusOr<OperationNumber> OperationFromProto(const std::string& id, const std::string& field);
void ToProto(const QueueInfo& queue, v1::Queue* out);
void ToProto(const EventInfo& event, std::uint32_t waiting, v1::Event* out);
void ToProto(const KindInfo& kind, v1::KindDescriptor* out);
v1::OperationState ToProto(OperationState state);

// Whether the well-known types hold values their definitions allow.
bool ValidDuration(const google::protobuf::Duration& d);
bool ValidTimestamp(const google::protobuf::Timestamp& t);

// A duration from `min` to `max` (`field` names it in errors), checked
// against both before any arithmetic: INVALID_ARGUMENT "field: ..." saying
// which bound it passes. Bounds are whole seconds, within about 292 years.
StatusOr<std::chrono::nanoseconds> DurationFromProto(const google::protobuf::Duration& d,
                                                     const std::string& field,
                                                     std::chrono::seconds min,
                                                     std::chrono::seconds max);

// The longest delay a submission may give.
inline constexpr std::chrono::hours kMaxDelay{30 * 24};
// Deadlines this far ahead or more are no deadline (they would not come
// while the server runs; 9999-12-31T23:59:59Z is one).
inline constexpr std::chrono::hours kNoDeadlineBeyond{100LL * 366 * 24};

// `field` names the value in errors ("parameters.data").
StatusOr<Value> FromProto(const v1::Value& value, const std::string& field);
StatusOr<SubmitSpec> FromProto(const v1::SubmitRequest& request, const std::string& client);
StatusOr<QueueType> FromProto(v1::QueueType type);
StatusOr<OperationState> FromProto(v1::OperationState state, const std::string& field);

}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_CONVERT_H_
