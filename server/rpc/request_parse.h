// Requests parsed by the service rather than by gRPC.
//
// gRPC answers a request it cannot parse with UNIMPLEMENTED and no message,
// and a stream's read simply fails, as if the client had closed its side;
// Protocol Buffers logs an ERROR line for each. So the service's methods
// take their requests as bytes (parsed_methods.cc) and parse them here:
// one that does not parse is answered INVALID_ARGUMENT, "request could not
// be parsed as mfwq.v1.X", with the reason when there is one, and makes at
// most one log line (`request_unparseable`) per client per
// kUnparseableLogInterval, saying how many were left out meanwhile.
#ifndef MFWQ_SERVER_RPC_REQUEST_PARSE_H_
#define MFWQ_SERVER_RPC_REQUEST_PARSE_H_

#include <chrono>
#include <cstddef>
#include <string_view>

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include "status.h"

namespace mfwq::server::rpc {

inline constexpr std::chrono::seconds kUnparseableLogInterval{10};
// Clients whose log lines are limited one by one; past it, new ones share
// one limit.
inline constexpr std::size_t kUnparseableLogClients = 1024;

// Parses `bytes` into `out` (cleared first). `what` names the message in
// the error (for a stream's batch: "batch 3"; empty for a call's request).
// `client` is who sent it, for the log. Any thread.
Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* out,
                    std::string_view client, std::string_view what = {});

}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_REQUEST_PARSE_H_
