// How WorkQueuesService's unary handlers run: the caller identified (and
// its presence renewed), the handler's body run, the call finished with
// its status, at once (Run) or when the body's work is done (RunAsync).
// Included by the service's handler files only.
#ifndef MFWQ_SERVER_RPC_UNARY_CALL_H_
#define MFWQ_SERVER_RPC_UNARY_CALL_H_

#include "convert.h"
#include "service.h"

namespace mfwq::server::rpc {

// A call's answer: the core's result converted into `out`, or its error.
template <typename T, typename Out>
Status Reply(StatusOr<T> result, Out* out) {
  if (!result.ok()) return result.status();
  ToProto(result.value(), out);
  return OkStatus();
}

template <typename Body>
WorkQueuesService::Unary* WorkQueuesService::RunAsync(Ctx* context, Body&& body) {
  Unary* reactor = context->DefaultReactor();
  auto client = ClientOf(context);
  if (!client.ok()) {
    reactor->Finish(ToGrpcStatus(client.status()));
    return reactor;
  }
  core_.clients.Touch(client.value());
  body(client.value(), Finisher([reactor](const Status& s) { reactor->Finish(ToGrpcStatus(s)); }));
  return reactor;
}

template <typename Body>
WorkQueuesService::Unary* WorkQueuesService::Run(Ctx* context, Body&& body) {
  return RunAsync(context, [&](const std::string& client, const Finisher& finish) {
    finish(body(client));
  });
}
}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_UNARY_CALL_H_
