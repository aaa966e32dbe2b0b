#include "convert.h"
#include "client_text.h"

#include <mfwq/hresult.h>

#include <google/protobuf/util/time_util.h>

namespace mfwq::server::rpc {

using google::protobuf::util::TimeUtil;

bool ValidDuration(const google::protobuf::Duration& d) {
  constexpr std::int64_t kMaxSeconds = 315576000000;  // 10 000 years
  if (d.seconds() < -kMaxSeconds || d.seconds() > kMaxSeconds) return false;
  if (d.nanos() <= -1000000000 || d.nanos() >= 1000000000) return false;
  return !((d.seconds() < 0 && d.nanos() > 0) || (d.seconds() > 0 && d.nanos() < 0));
}

bool ValidTimestamp(const google::protobuf::Timestamp& t) {
  // 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 &&
         t.nanos() < 1000000000;
}

namespace {

// "1h", "30d", "90s": a bound, as an error message gives it.
std::string BoundText(std::chrono::seconds bound) {
  const std::int64_t s = bound.count();
  const std::int64_t a = s < 0 ? -s : s;
  std::string text = s < 0 ? "-" : "";
  if (a != 0 && a % 86400 == 0) return text + std::to_string(a / 86400) + (a == 86400 ? " day" : " days");
  if (a != 0 && a % 3600 == 0) return text + std::to_string(a / 3600) + (a == 3600 ? " hour" : " hours");
  return text + std::to_string(a) + " s";
}

// The largest count of seconds whose nanoseconds fit in 64 bits.
constexpr std::int64_t kMaxNanoSeconds = INT64_MAX / 1000000000 - 1;

}  // namespace

StatusOr<std::chrono::nanoseconds> DurationFromProto(const google::protobuf::Duration& d,
                                                     const std::string& field,
                                                     std::chrono::seconds min,
                                                     std::chrono::seconds max) {
  if (!ValidDuration(d)) return InvalidArgument(field + ": not a valid duration");
  // Compared field by field: seconds first, then the nanoseconds of a
  // duration whose seconds equal the bound's.
  const std::int64_t s = d.seconds();
  const bool below = s < min.count() || (s == min.count() && d.nanos() < 0);
  const bool above = s > max.count() || (s == max.count() && d.nanos() > 0);
  if (below) {
    if (min.count() == 0) return InvalidArgument(field + ": negative");
    return InvalidArgument(field + ": less than " + BoundText(min));
  }
  if (above) return InvalidArgument(field + ": more than " + BoundText(max));
  return std::chrono::nanoseconds(TimeUtil::DurationToNanoseconds(d));
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      BoundedMessage(status.message()));
}

void ToProto(HRESULT hr, v1::HResult* out) {
  out->set_code(static_cast<std::uint32_t>(hr));
  const char* name = HResultName(hr);
  out->set_name(name != nullptr ? name : "");
}

void ToProto(Clock::time_point t, google::protobuf::Timestamp* out) {
  *out = TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

void ToProto(const Value& value, v1::Value* out) {
  std::visit(
      [out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out->set_bool_value(v);
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out->set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_double_value(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(v);
        } else if constexpr (std::is_same_v<T, Bytes>) {
          out->set_bytes_value(v.data);
        } else {
          *out->mutable_duration_value() = TimeUtil::NanosecondsToDuration(v.count());
        }
      },
      value);
}

void ToProto(const CompletionRecord& c, v1::Completion* out) {
  out->set_operation_id(OperationId(c.operation));
  out->set_request_id(c.request_id);
  out->set_queue_id(c.queue);
  out->set_kind(c.kind);
  ToProto(c.status, out->mutable_status());
  out->set_message(c.message);
  out->set_bytes_transferred(c.bytes_transferred);
  out->set_result(c.result);
  out->set_state(c.state);
  ToProto(c.submit_time, out->mutable_submit_time());
  if (c.start_time) ToProto(*c.start_time, out->mutable_start_time());
  ToProto(c.complete_time, out->mutable_complete_time());
}

void ToProto(const ProgressRecord& p, v1::Progress* out) {
  out->set_operation_id(OperationId(p.operation));
  out->set_bytes_done(p.done);
  out->set_bytes_total(p.total);
  out->set_message(p.message);
}

v1::OperationState ToProto(OperationState state) {
  switch (state) {
    case OperationState::kPending:
      return v1::OPERATION_STATE_PENDING;
    case OperationState::kScheduled:
      return v1::OPERATION_STATE_SCHEDULED;
    case OperationState::kWaiting:
      return v1::OPERATION_STATE_WAITING;
    case OperationState::kRunning:
      return v1::OPERATION_STATE_RUNNING;
    case OperationState::kCompleted:
      return v1::OPERATION_STATE_COMPLETED;
  }
  return v1::OPERATION_STATE_UNSPECIFIED;
}

void ToProto(const OperationView& op, v1::Operation* out) {
  out->set_id(OperationId(op.number));
  out->set_request_id(op.request_id);
  out->set_queue_id(op.queue);
  out->set_kind(op.kind);
  for (const auto& [name, value] : op.parameters) ToProto(value, &(*out->mutable_parameters())[name]);
  out->set_priority(op.priority);
  out->set_state(ToProto(op.state));
  if (op.completion) ToProto(*op.completion, out->mutable_completion());
  if (op.progress) ToProto(*op.progress, out->mutable_progress());
  ToProto(op.submit_time, out->mutable_submit_time());
  out->set_owner(op.client);
}

void ToProto(const QueueInfo& q, v1::Queue* out) {
  out->set_id(q.id);
  switch (q.type) {
    case QueueType::kStandard:
      out->set_type(v1::QUEUE_TYPE_STANDARD);
      break;
    case QueueType::kMultithreaded:
      out->set_type(v1::QUEUE_TYPE_MULTITHREADED);
      break;
    case QueueType::kSerial:
      out->set_type(v1::QUEUE_TYPE_SERIAL);
      out->set_target_queue_id(q.target);
      break;
    case QueueType::kPlatform:
      out->set_type(v1::QUEUE_TYPE_PLATFORM);
      break;
  }
  out->set_name(q.name);
  for (const auto& [k, v] : q.labels) (*out->mutable_labels())[k] = v;
  v1::QueueStats* stats = out->mutable_stats();
  if (q.counters) {
    stats->set_pending(q.counters->pending.load());
    stats->set_running(q.counters->running.load());
    stats->set_completed(q.counters->completed.load());
    stats->set_failed(q.counters->failed.load());
    stats->set_cancelled(q.counters->cancelled.load());
  }
  stats->set_locks(q.locks);
  stats->set_locks_held_by_caller(q.caller_locks);
  ToProto(q.create_time, out->mutable_create_time());
}

void ToProto(const EventInfo& e, std::uint32_t waiting, v1::Event* out) {
  out->set_name(e.name);
  out->set_manual_reset(e.manual_reset);
  out->set_signalled(e.signalled);
  out->set_waiting_operations(waiting);
}

void ToProto(const KindInfo& kind, v1::KindDescriptor* out) {
  out->set_name(kind.name);
  out->set_description(kind.description);
  out->set_cancellable_while_running(kind.cancellable_while_running);
  out->set_reports_progress(kind.reports_progress);
  for (const ParameterInfo& p : kind.parameters) {
    v1::ParameterDescriptor* d = out->add_parameters();
    d->set_name(p.name);
    d->set_type(static_cast<v1::ValueType>(static_cast<int>(p.type) + 1));
    d->set_required(p.required);
    if (p.default_value) ToProto(*p.default_value, d->mutable_default_value());
    d->set_description(p.description);
  }
}

StatusOr<Value> FromProto(const v1::Value& value, const std::string& field) {
  switch (value.value_case()) {
    case v1::Value::kBoolValue:
      return Value(value.bool_value());
    case v1::Value::kIntValue:
      return Value(static_cast<std::int64_t>(value.int_value()));
    case v1::Value::kDoubleValue:
      return Value(value.double_value());
    case v1::Value::kStringValue:
      return Value(value.string_value());
    case v1::Value::kBytesValue:
      return Value(Bytes{value.bytes_value()});
    case v1::Value::kDurationValue: {
      // Any a kind could be given; each kind's own bounds are checked after.
      auto d = DurationFromProto(value.duration_value(), field,
                                 std::chrono::seconds(-kMaxNanoSeconds),
                                 std::chrono::seconds(kMaxNanoSeconds));
      if (!d.ok()) return d.status();
      return Value(d.value());
    }
    case v1::Value::VALUE_NOT_SET:
      break;
  }
  return InvalidArgument(field + ": no value set");
}

StatusOr<SubmitSpec> FromProto(const v1::SubmitRequest& r, const std::string& client) {
  SubmitSpec spec;
  spec.client = client;
  spec.request_id = r.request_id();
  if (r.queue_id() == 0) return InvalidArgument("queue_id: required");
  spec.queue = r.queue_id();
  if (r.kind().empty()) return InvalidArgument("kind: required (see ListKinds)");
  spec.kind = r.kind();
  for (const auto& [name, value] : r.parameters()) {
    auto v = FromProto(value, "parameters." + FieldKey(name));
    if (!v.ok()) return v.status();
    spec.parameters.emplace(name, std::move(v.value()));
  }
  spec.priority = r.priority();
  switch (r.trigger_case()) {
    case v1::SubmitRequest::kDelay: {
      auto delay = DurationFromProto(r.delay(), "delay", std::chrono::seconds(0), kMaxDelay);
      if (!delay.ok()) return delay.status();
      spec.delay = std::chrono::duration_cast<std::chrono::milliseconds>(delay.value());
      break;
    }
    case v1::SubmitRequest::kWaitEvent:
      if (Status s = EventTable::CheckName(r.wait_event(), "wait_event"); !s.ok()) return s;
      spec.wait_event = r.wait_event();
      break;
    case v1::SubmitRequest::TRIGGER_NOT_SET:
      break;
  }
  spec.state = r.state();
  if (!r.signal_event().empty()) {
    if (Status s = EventTable::CheckName(r.signal_event(), "signal_event"); !s.ok()) return s;
    spec.signal_event = r.signal_event();
  }
  if (r.has_deadline()) {
    if (!ValidTimestamp(r.deadline())) {
      return InvalidArgument("deadline: not a valid timestamp");
    }
    // Compared in seconds before any conversion: the clock's nanoseconds
    // reach only from 1677 to 2262.
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 Clock::now().time_since_epoch())
                                 .count();
    const std::int64_t seconds = r.deadline().seconds();
    if (seconds < now - 1) {
      spec.deadline = Clock::time_point();  // passed: admission says so
    } else if (seconds - now < std::chrono::seconds(kNoDeadlineBeyond).count()) {
      spec.deadline = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
          std::chrono::nanoseconds(TimeUtil::TimestampToNanoseconds(r.deadline()))));
    }  // else no deadline
  }
  return spec;
}

StatusOr<QueueType> FromProto(v1::QueueType type) {
  switch (type) {
    case v1::QUEUE_TYPE_STANDARD:
      return QueueType::kStandard;
    case v1::QUEUE_TYPE_MULTITHREADED:
      return QueueType::kMultithreaded;
    case v1::QUEUE_TYPE_SERIAL:
      return QueueType::kSerial;
    default:
      return InvalidArgument(
          "type: must be QUEUE_TYPE_STANDARD, QUEUE_TYPE_MULTITHREADED or QUEUE_TYPE_SERIAL");
  }
}

StatusOr<OperationState> FromProto(v1::OperationState state, const std::string& field) {
  switch (state) {
    case v1::OPERATION_STATE_PENDING:
      return OperationState::kPending;
    case v1::OPERATION_STATE_SCHEDULED:
      return OperationState::kScheduled;
    case v1::OPERATION_STATE_WAITING:
      return OperationState::kWaiting;
    case v1::OPERATION_STATE_RUNNING:
      return OperationState::kRunning;
    case v1::OPERATION_STATE_COMPLETED:
      return OperationState::kCompleted;
    default:
      return InvalidArgument(field + ": not an operation state");
  }
}

void ToProto(const Status& status, v1::CallError* out) {
  out->set_code(static_cast<int>(ToGrpcStatus(status).error_code()));
  out->set_message(BoundedMessage(status.message()));
}

StatusOr<OperationNumber> OperationFromProto(const std::string& id, const std::string& field) {
  if (id.empty()) return InvalidArgument(field + ": required");
  auto number = ParseOperationId(id);
  // Not one this server could have given: no such operation, as for any other.
  if (!number) return NotFound(field + ": no operation " + Quoted(id));
  return *number;
}

}  // namespace mfwq::server::rpc
