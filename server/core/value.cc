#include "value.h"

namespace mfwq::server {

ValueType TypeOf(const Value& value) {
  // The variant's alternatives are in ValueType's order.
  return static_cast<ValueType>(value.index());
}

const char* TypeName(ValueType type) {
  switch (type) {
    case ValueType::kBool:
      return "bool";
    case ValueType::kInt:
      return "int";
    case ValueType::kDouble:
      return "double";
    case ValueType::kString:
      return "string";
    case ValueType::kBytes:
      return "bytes";
    case ValueType::kDuration:
      return "duration";
  }
  return "unknown";
}

}  // namespace mfwq::server
