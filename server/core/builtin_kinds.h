// The operation kinds every server offers that touch nothing outside it:
//   echo   result = parameter "data" (bytes); bytes transferred = its size
//   sleep  waits parameter "duration"; cancellable while running
//   fail   completes with parameter "hresult" (a failure HRESULT) and
//          parameter "message"
#ifndef MFWQ_SERVER_CORE_BUILTIN_KINDS_H_
#define MFWQ_SERVER_CORE_BUILTIN_KINDS_H_

#include "operation_kind.h"

namespace mfwq::server {

Status RegisterBuiltinKinds(KindRegistry& registry);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_BUILTIN_KINDS_H_
