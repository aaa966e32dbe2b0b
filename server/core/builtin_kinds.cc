#include "builtin_kinds.h"


#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace mfwq::server {
namespace {

using std::chrono::nanoseconds;

class EchoKind final : public OperationKind {
 public:
  const KindInfo& info() const override {
    static const KindInfo info{
        "echo",
        "Completes at once with S_OK; the result is the bytes of \"data\" and bytes "
        "transferred is their size.",
        {{"data", ValueType::kBytes, false, Value(Bytes{}), "bytes to echo back (at most 1 MiB)"}},
        false,
        false};
    return info;
  }
  Status Check(const Parameters& parameters) const override {
    if (std::get<Bytes>(parameters.at("data")).data.size() > kMaxData) {
      return InvalidArgument("parameters.data: more than 1 MiB");
    }
    return OkStatus();
  }
  void Run(Operation& op) const override {
    const std::string& data = std::get<Bytes>(op.spec().parameters.at("data")).data;
    op.SetBytesTransferred(data.size());
    op.SetResult(data);
  }

 private:
  static constexpr std::size_t kMaxData = 1 << 20;
};

class SleepKind final : public OperationKind {
 public:
  const KindInfo& info() const override {
    static const KindInfo info{
        "sleep",
        "Waits for \"duration\", holding its work-queue thread, then completes with S_OK; "
        "cancelled, it stops at once with MF_E_OPERATION_CANCELLED.",
        {{"duration", ValueType::kDuration, true, std::nullopt, "how long, at most 24 hours"}},
        true,
        false};
    return info;
  }
  Status Check(const Parameters& parameters) const override {
    const nanoseconds d = std::get<nanoseconds>(parameters.at("duration"));
    if (d < nanoseconds::zero()) return InvalidArgument("parameters.duration: negative");
    if (d > std::chrono::hours(24)) return InvalidArgument("parameters.duration: over 24 hours");
    return OkStatus();
  }
  void Run(Operation& op) const override {
    if (op.WaitForCancel(std::get<nanoseconds>(op.spec().parameters.at("duration")))) {
      op.SetStatus(MF_E_OPERATION_CANCELLED);
      op.SetMessage("cancelled while sleeping");
    }
  }
};

class FailKind final : public OperationKind {
 public:
  // The 32 bits of a failure HRESULT given as its pattern (0x80000000 to
  // 0xFFFFFFFF) or signed (-2^31 to -1); none for anything else.
  static std::optional<std::uint32_t> FailureBits(std::int64_t v) {
    if (v >= INT64_C(0x80000000) && v <= INT64_C(0xFFFFFFFF)) return static_cast<std::uint32_t>(v);
    if (v >= INT64_C(-0x80000000) && v <= -1) {
      return static_cast<std::uint32_t>(static_cast<std::int32_t>(v));
    }
    return std::nullopt;
  }

  const KindInfo& info() const override {
    static const KindInfo info{
        "fail",
        "Completes at once with the failure HRESULT \"hresult\" and the message \"message\".",
        {{"hresult", ValueType::kInt, true, std::nullopt,
          "a failure HRESULT: its 32-bit pattern (0x80004005 = 2147500037 for E_FAIL) or "
          "the same 32 bits signed, as C, C# and PowerShell print it (-2147467259)"},
         {"message", ValueType::kString, false, Value(std::string()), "the completion's message"}},
        false,
        false};
    return info;
  }
  Status Check(const Parameters& parameters) const override {
    const std::int64_t hr = std::get<std::int64_t>(parameters.at("hresult"));
    if (!FailureBits(hr)) {
      char text[64];
      std::snprintf(text, sizeof text, "%lld", static_cast<long long>(hr));
      return InvalidArgument(std::string("parameters.hresult: ") + text +
                             " is not a failure HRESULT (0x80000000 to 0xFFFFFFFF, or "
                             "-2147483648 to -1 signed)");
    }
    return OkStatus();
  }
  void Run(Operation& op) const override {
    const std::uint32_t hr = *FailureBits(std::get<std::int64_t>(op.spec().parameters.at("hresult")));
    op.SetStatus(static_cast<HRESULT>(hr));
    op.SetMessage(std::get<std::string>(op.spec().parameters.at("message")));
  }
};

}  // namespace

Status RegisterBuiltinKinds(KindRegistry& registry) {
  for (std::shared_ptr<const OperationKind> kind :
       {std::shared_ptr<const OperationKind>(std::make_shared<EchoKind>()),
        std::shared_ptr<const OperationKind>(std::make_shared<SleepKind>()),
        std::shared_ptr<const OperationKind>(std::make_shared<FailKind>())}) {
    if (Status s = registry.Register(std::move(kind)); !s.ok()) return s;
  }
  return OkStatus();
}

}  // namespace mfwq::server
