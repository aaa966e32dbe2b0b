#include "value.h"

#include <cstring>
#include <type_traits>

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

namespace {

// Little-endian fixed-width integers, length-prefixed strings.
void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutString(std::string& out, std::string_view s) {
  PutU64(out, s.size());
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U64(std::uint64_t* v) {
    if (in_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= std::uint64_t{static_cast<unsigned char>(in_[i])} << (8 * i);
    in_.remove_prefix(8);
    return true;
  }
  bool String(std::string* s) {
    std::uint64_t n;
    if (!U64(&n) || n > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Byte(unsigned char* b) {
    if (in_.empty()) return false;
    *b = static_cast<unsigned char>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeParameters(const Parameters& parameters) {
  // Sized first: one allocation, not one per append that outgrows it.
  std::size_t size = 0;
  for (const auto& [name, value] : parameters) {
    size += 8 + name.size() + 1 + 8;
    if (const auto* s = std::get_if<std::string>(&value)) size += s->size();
    if (const auto* b = std::get_if<Bytes>(&value)) size += b->data.size();
  }
  std::string out;
  out.reserve(size);
  for (const auto& [name, value] : parameters) {
    PutString(out, name);
    out.push_back(static_cast<char>(value.index()));
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) {
            out.push_back(v ? 1 : 0);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            PutU64(out, static_cast<std::uint64_t>(v));
          } else if constexpr (std::is_same_v<T, double>) {
            std::uint64_t bits;
            std::memcpy(&bits, &v, sizeof bits);
            PutU64(out, bits);
          } else if constexpr (std::is_same_v<T, std::string>) {
            PutString(out, v);
          } else if constexpr (std::is_same_v<T, Bytes>) {
            PutString(out, v.data);
          } else {
            PutU64(out, static_cast<std::uint64_t>(v.count()));
          }
        },
        value);
  }
  return out;
}

bool DecodeParameters(std::string_view encoded, Parameters* parameters) {
  parameters->clear();
  Reader in(encoded);
  while (!in.empty()) {
    std::string name;
    unsigned char type;
    if (!in.String(&name) || !in.Byte(&type)) return false;
    Value value;
    std::uint64_t u;
    switch (static_cast<ValueType>(type)) {
      case ValueType::kBool: {
        unsigned char b;
        if (!in.Byte(&b) || b > 1) return false;
        value = b == 1;
        break;
      }
      case ValueType::kInt:
        if (!in.U64(&u)) return false;
        value = static_cast<std::int64_t>(u);
        break;
      case ValueType::kDouble: {
        if (!in.U64(&u)) return false;
        double d;
        std::memcpy(&d, &u, sizeof d);
        value = d;
        break;
      }
      case ValueType::kString: {
        std::string s;
        if (!in.String(&s)) return false;
        value = std::move(s);
        break;
      }
      case ValueType::kBytes: {
        Bytes b;
        if (!in.String(&b.data)) return false;
        value = std::move(b);
        break;
      }
      case ValueType::kDuration:
        if (!in.U64(&u)) return false;
        value = std::chrono::nanoseconds(static_cast<std::int64_t>(u));
        break;
      default:
        return false;
    }
    if (!parameters->emplace(std::move(name), std::move(value)).second) return false;
  }
  return true;
}

}  // namespace mfwq::server
