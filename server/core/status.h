// Status: the outcome of a call into the server core, for the gRPC layer to
// turn into a grpc::Status (one conversion point, in the adapter).
//
// The core builds for Windows too (mingw-w64, where Debian has no Abseil),
// so it carries its own small status type with absl's/gRPC's code values.
// An operation's outcome is never a Status: that is an HRESULT in the
// operation's MFASYNCRESULT.
#ifndef MFWQ_SERVER_CORE_STATUS_H_
#define MFWQ_SERVER_CORE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

#include <mfwq/mfapi.h>

namespace mfwq::server {

// The values of absl::StatusCode and grpc::StatusCode.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }

// A T, or the Status saying why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // REQUIRES: !status.ok().
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!status_.ok());
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

// The one place an MF call's failure becomes a Status. `what` names the
// call or object ("queue 0x10003"); the message adds the HRESULT's name.
Status StatusFromHResult(HRESULT hr, const std::string& what);
inline Status InvalidArgument(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
inline Status NotFound(std::string message) {
  return Status(StatusCode::kNotFound, std::move(message));
}

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_STATUS_H_
