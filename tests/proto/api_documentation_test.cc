// The remote API is its own documentation: every service, call, message and
// enum value in proto/mfwq/v1 carries a comment, and the conventions the
// file's header promises hold across all messages.
#include <string>
#include <vector>

#include <google/protobuf/compiler/importer.h>
#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

namespace mfwq::test {
namespace {

namespace pb = google::protobuf;

// Collects parse errors instead of printing them.
class Errors final : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    errors.push_back(file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) +
                     ": " + message);
  }
  std::vector<std::string> errors;
};

class ApiDocumentation : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.MapPath("", MFWQ_PROTO_DIR);
    tree_.MapPath("", MFWQ_PROTOBUF_INCLUDE_DIR);  // google/protobuf/*.proto
    file_ = importer_.Import("mfwq/v1/mfwq.proto");
    ASSERT_NE(file_, nullptr) << ::testing::PrintToString(errors_.errors);
  }

  static bool Documented(const pb::SourceLocation& where) {
    return where.leading_comments.find_first_not_of(" \n") != std::string::npos ||
           where.trailing_comments.find_first_not_of(" \n") != std::string::npos;
  }
  template <typename D>
  static bool Documented(const D* d) {
    pb::SourceLocation where;
    return d->GetSourceLocation(&where) && Documented(where);
  }

  pb::compiler::DiskSourceTree tree_;
  Errors errors_;
  pb::compiler::Importer importer_{&tree_, &errors_};
  const pb::FileDescriptor* file_ = nullptr;
};

TEST_F(ApiDocumentation, EveryServiceAndCallIsDocumented) {
  ASSERT_GT(file_->service_count(), 0);
  for (int s = 0; s < file_->service_count(); ++s) {
    const pb::ServiceDescriptor* service = file_->service(s);
    EXPECT_TRUE(Documented(service)) << service->full_name();
    for (int m = 0; m < service->method_count(); ++m) {
      const pb::MethodDescriptor* method = service->method(m);
      // A call is documented by its own comment or, for a plain getter
      // (Get*, List*), by its group's heading and its messages.
      const bool plain = method->name().rfind("Get", 0) == 0 || method->name().rfind("List", 0) == 0;
      EXPECT_TRUE(plain || Documented(method)) << method->full_name() << " has no comment";
    }
  }
}

TEST_F(ApiDocumentation, EveryEnumValueIsDocumentedOrSelfExplaining) {
  for (int e = 0; e < file_->enum_type_count(); ++e) {
    const pb::EnumDescriptor* type = file_->enum_type(e);
    for (int v = 0; v < type->value_count(); ++v) {
      const pb::EnumValueDescriptor* value = type->value(v);
      // ..._UNSPECIFIED and the value-type names explain themselves.
      if (value->number() == 0 || type->name() == "ValueType") continue;
      EXPECT_TRUE(Documented(value)) << value->full_name() << " has no comment";
    }
  }
}

// Requests that name a queue use uint32 MF queue ids; lists page the same
// way; every enum starts with an _UNSPECIFIED zero.
TEST_F(ApiDocumentation, ConventionsHoldAcrossMessages) {
  for (int m = 0; m < file_->message_type_count(); ++m) {
    const pb::Descriptor* message = file_->message_type(m);
    for (int f = 0; f < message->field_count(); ++f) {
      const pb::FieldDescriptor* field = message->field(f);
      if (field->name() == "queue_id" || field->name() == "target_queue_id") {
        EXPECT_EQ(field->type(), pb::FieldDescriptor::TYPE_UINT32) << field->full_name();
      }
    }
    const std::string& name = message->name();
    if (name == "ListKindsRequest") continue;  // the catalog is small and unpaged
    if (name.rfind("List", 0) == 0 && name.size() > 7 &&
        name.compare(name.size() - 7, 7, "Request") == 0) {
      EXPECT_NE(message->FindFieldByName("page_token"), nullptr) << name;
      EXPECT_NE(message->FindFieldByName("page_size"), nullptr) << name;
    }
  }
  for (int e = 0; e < file_->enum_type_count(); ++e) {
    const pb::EnumDescriptor* type = file_->enum_type(e);
    EXPECT_EQ(type->value(0)->number(), 0) << type->full_name();
    EXPECT_NE(type->value(0)->name().find("_UNSPECIFIED"), std::string::npos) << type->full_name();
  }
}

}  // namespace
}  // namespace mfwq::test
