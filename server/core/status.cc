#include "status.h"

#include <mfwq/hresult.h>

namespace mfwq::server {

Status StatusFromHResult(HRESULT hr, const std::string& what) {
  if (SUCCEEDED(hr)) return OkStatus();
  const std::string message = what + ": " + FormatHResult(hr);
  switch (hr) {
    case MF_E_SHUTDOWN:
      return Status(StatusCode::kUnavailable, message);
    case MF_E_INVALID_WORKQUEUE:
    case MF_E_NOT_FOUND:
      return Status(StatusCode::kNotFound, message);
    case E_INVALIDARG:
    case E_POINTER:
      return Status(StatusCode::kInvalidArgument, message);
    case E_OUTOFMEMORY:
      return Status(StatusCode::kResourceExhausted, message);
    default:
      return Status(StatusCode::kInternal, message);
  }
}

}  // namespace mfwq::server
