#include "reflection_v1.h"

#include <set>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

namespace mfwq::server::rpc {
namespace {

namespace v1 = ::grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// Adds `file` and, after it, the files it imports (transitively), each
// once in the response.
void AddFile(const FileDescriptor* file, std::set<const FileDescriptor*>& seen,
             v1::FileDescriptorResponse* out) {
  if (!seen.insert(file).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  out->add_file_descriptor_proto(proto.SerializeAsString());
  for (int i = 0; i < file->dependency_count(); ++i) AddFile(file->dependency(i), seen, out);
}

void Error(grpc::StatusCode code, const std::string& message, v1::ServerReflectionResponse* out) {
  out->mutable_error_response()->set_error_code(static_cast<int>(code));
  out->mutable_error_response()->set_error_message(message);
}

// Answers a stream's requests one at a time.
class Stream final
    : public grpc::ServerBidiReactor<v1::ServerReflectionRequest, v1::ServerReflectionResponse> {
 public:
  explicit Stream(const ReflectionV1& service) : service_(service) { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);
      return;
    }
    response_ = service_.Answer(request_);
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::CANCELLED);
      return;
    }
    request_.Clear();
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  const ReflectionV1& service_;
  v1::ServerReflectionRequest request_;
  v1::ServerReflectionResponse response_;
};

}  // namespace

grpc::ServerBidiReactor<v1::ServerReflectionRequest, v1::ServerReflectionResponse>*
ReflectionV1::ServerReflectionInfo(grpc::CallbackServerContext*) {
  return new Stream(*this);
}

v1::ServerReflectionResponse ReflectionV1::Answer(const v1::ServerReflectionRequest& r) const {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  v1::ServerReflectionResponse out;
  out.set_valid_host(r.host());
  *out.mutable_original_request() = r;
  std::set<const FileDescriptor*> seen;
  switch (r.message_request_case()) {
    case v1::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        out.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case v1::ServerReflectionRequest::kFileByFilename:
      if (const FileDescriptor* file = pool->FindFileByName(r.file_by_filename())) {
        AddFile(file, seen, out.mutable_file_descriptor_response());
      } else {
        Error(grpc::StatusCode::NOT_FOUND, "file_by_filename: no file \"" + r.file_by_filename() + "\"",
              &out);
      }
      break;
    case v1::ServerReflectionRequest::kFileContainingSymbol:
      if (const FileDescriptor* file = pool->FindFileContainingSymbol(r.file_containing_symbol())) {
        AddFile(file, seen, out.mutable_file_descriptor_response());
      } else {
        Error(grpc::StatusCode::NOT_FOUND,
              "file_containing_symbol: no symbol \"" + r.file_containing_symbol() + "\"", &out);
      }
      break;
    case v1::ServerReflectionRequest::kFileContainingExtension: {
      const auto& e = r.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(e.containing_type());
      const auto* extension =
          type == nullptr ? nullptr : pool->FindExtensionByNumber(type, e.extension_number());
      if (extension != nullptr) {
        AddFile(extension->file(), seen, out.mutable_file_descriptor_response());
      } else {
        Error(grpc::StatusCode::NOT_FOUND,
              "file_containing_extension: no extension " + std::to_string(e.extension_number()) +
                  " of \"" + e.containing_type() + "\"",
              &out);
      }
      break;
    }
    case v1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(r.all_extension_numbers_of_type());
      if (type == nullptr) {
        Error(grpc::StatusCode::NOT_FOUND,
              "all_extension_numbers_of_type: no type \"" + r.all_extension_numbers_of_type() +
                  "\"",
              &out);
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = out.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* f : extensions) numbers->add_extension_number(f->number());
      break;
    }
    case v1::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      Error(grpc::StatusCode::INVALID_ARGUMENT, "message_request: none given", &out);
      break;
  }
  return out;
}

}  // namespace mfwq::server::rpc
