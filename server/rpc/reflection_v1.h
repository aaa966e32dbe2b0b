// ReflectionV1: gRPC server reflection under grpc.reflection.v1, the version
// current clients (grpcurl, Postman) try first; gRPC 1.51's own library
// serves only v1alpha, which the server keeps serving too. Answers from the
// process's generated descriptor pool.
//
// Threads: gRPC's callback threads; each stream answers its requests one at
// a time, in order, and nothing blocks.
#ifndef MFWQ_SERVER_RPC_REFLECTION_V1_H_
#define MFWQ_SERVER_RPC_REFLECTION_V1_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace mfwq::server::rpc {

class ReflectionV1 final : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  // `services`: the fully qualified names ListServices answers with.
  explicit ReflectionV1(std::vector<std::string> services) : services_(std::move(services)) {}

  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

  // The answer to one request.
  grpc::reflection::v1::ServerReflectionResponse Answer(
      const grpc::reflection::v1::ServerReflectionRequest& request) const;

 private:
  const std::vector<std::string> services_;
};

}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_REFLECTION_V1_H_
