// OperationNumber: an operation's identity inside the server. Numbers are
// given in submission order, from 1, and carry on across restarts (the
// journal keeps the largest given), so they never repeat.
//
// Its text form, the operation id clients see, exists only at the API's
// edge: "op-" and the number in 16 lowercase hex digits, so that ids sort
// as their numbers do.
#ifndef MFWQ_SERVER_CORE_OPERATION_NUMBER_H_
#define MFWQ_SERVER_CORE_OPERATION_NUMBER_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace mfwq::server {

struct OperationNumber {
  std::uint64_t value = 0;  // 0: none

  constexpr OperationNumber() = default;
  constexpr explicit OperationNumber(std::uint64_t v) : value(v) {}
  constexpr bool valid() const { return value != 0; }
  friend constexpr auto operator<=>(OperationNumber, OperationNumber) = default;
};

// "op-000000000000002a" for 42.
std::string OperationId(OperationNumber number);
// The number an operation id names; none if `id` is not one (number 0
// included: it names nothing).
std::optional<OperationNumber> ParseOperationId(std::string_view id);
// Writes the id (for logs and test failures).
std::ostream& operator<<(std::ostream& out, OperationNumber number);

}  // namespace mfwq::server

template <>
struct std::hash<mfwq::server::OperationNumber> {
  std::size_t operator()(mfwq::server::OperationNumber n) const noexcept {
    return std::hash<std::uint64_t>()(n.value);
  }
};

#endif  // MFWQ_SERVER_CORE_OPERATION_NUMBER_H_
