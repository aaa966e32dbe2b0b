// What the SDK hands to IMFAsyncCallback::Invoke, and the pieces the Client
// and the Session share to deliver a completion.
#ifndef MFWQ_CLIENT_SRC_REMOTE_RESULT_H_
#define MFWQ_CLIENT_SRC_REMOTE_RESULT_H_

#include <string>

#include <absl/status/status.h>
#include <grpcpp/grpcpp.h>

#include <mfwq/com_ptr.h>
#include <mfwq/mfapi.h>

#include "mfwq/v1/mfwq.pb.h"

namespace mfwq::client::internal {

absl::Status ToAbsl(const grpc::Status& status);

// A request id unique to this process run ("sdk-<random salt>-<counter>").
std::string NewRequestId();

// A completion made locally: the remote one is not known (the client was
// destroyed, the server refused the submission, or no longer has it).
v1::Completion LocalCompletion(const std::string& request_id, const std::string& operation_id,
                               HRESULT status, std::string message);

// Invoke(result) on the MF work queue the callback's GetParameters names,
// with an MFASYNCRESULT holding the completion's status and bytes and
// `state`. If MF is shutting down, Invoke runs here with MF_E_SHUTDOWN, as
// MF does.
void InvokeWithCompletion(IMFAsyncCallback* callback, IUnknown* state, v1::Completion completion);

// EndSubmit of a result InvokeWithCompletion made: its status and, if
// `completion` is given, the whole completion. E_INVALIDARG for another
// kind of result.
HRESULT EndSubmitResult(IMFAsyncResult* result, v1::Completion* completion);

}  // namespace mfwq::client::internal

#endif  // MFWQ_CLIENT_SRC_REMOTE_RESULT_H_
