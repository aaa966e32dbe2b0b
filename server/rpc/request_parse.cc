#include "request_parse.h"

#include <string>

#include <grpcpp/support/proto_buffer_reader.h>

#include "client_text.h"
#include "library_log.h"
#include "log.h"

namespace mfwq::server::rpc {

namespace {

KeyedLogRateLimit& UnparseableLimit() {
  static KeyedLogRateLimit limit(kUnparseableLogInterval, kUnparseableLogClients,
                                 [] { return KeyedLogRateLimit::Clock::now(); });
  return limit;
}

// Why Protocol Buffers refused it, from its log line, in our words.
std::string Reason(const std::string& line) {
  // "String field 'mfwq.v1.X.name' contains invalid UTF-8 data when parsing..."
  static constexpr std::string_view kString = "String field '";
  if (const auto at = line.find(kString); at != std::string::npos) {
    const auto start = at + kString.size();
    const auto end = line.find('\'', start);
    if (end != std::string::npos && line.find("invalid UTF-8", end) != std::string::npos) {
      return "string field " + line.substr(start, end - start) + " is not UTF-8";
    }
  }
  if (line.empty()) return "not a valid encoding";
  return line;
}

}  // namespace

Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* out,
                    std::string_view client, std::string_view what) {
  out->Clear();
  const std::string& type = out->GetDescriptor()->full_name();
  if (!bytes.Valid()) return InvalidArgument("no request message: expected " + type);
  std::size_t size = 0;
  bool parsed = false;
  std::string reason;
  {
    grpc::ByteBuffer copy(bytes);  // (shares the slices) the reader wants it mutable
    size = copy.Length();
    ProtobufLogCapture capture;
    grpc::ProtoBufferReader reader(&copy);
    parsed = reader.status().ok() && out->ParseFromZeroCopyStream(&reader);
    if (!parsed) reason = Reason(capture.first());
  }
  if (parsed) return OkStatus();
  out->Clear();
  const std::string subject = what.empty() ? "request" : std::string(what);
  if (const auto left_out = UnparseableLimit().Admit(client)) {
    LogLine("warn", "request_unparseable")
        .Field("client", client)
        .Field("message", type)
        .Field("bytes", std::uint64_t{size})
        .Field("reason", reason)
        .Field("left_out", *left_out);
  }
  return InvalidArgument(subject + " could not be parsed as " + type + ": " + reason + " (" +
                         std::to_string(size) + " bytes)");
}

}  // namespace mfwq::server::rpc
