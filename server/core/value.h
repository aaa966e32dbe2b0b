// Typed parameter values of operations: the core's form of mfwq.v1.Value.
#ifndef MFWQ_SERVER_CORE_VALUE_H_
#define MFWQ_SERVER_CORE_VALUE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mfwq::server {

enum class ValueType { kBool, kInt, kDouble, kString, kBytes, kDuration };

// Bytes are kept apart from strings: a string is UTF-8 text, bytes are not.
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

using Value = std::variant<bool, std::int64_t, double, std::string, Bytes, std::chrono::nanoseconds>;
using Parameters = std::map<std::string, Value>;

ValueType TypeOf(const Value& value);
// "bool", "int", "double", "string", "bytes", "duration".
const char* TypeName(ValueType type);

// A compact binary form of parameters, for storing them (the journal):
// Decode(Encode(p)) == p. Decode returns false on anything Encode cannot
// have written.
std::string EncodeParameters(const Parameters& parameters);
bool DecodeParameters(std::string_view encoded, Parameters* parameters);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_VALUE_H_
