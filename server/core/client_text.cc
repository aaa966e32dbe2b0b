#include "client_text.h"

#include <cstdint>
#include <cstdio>

namespace mfwq::server {
namespace {

// The length of the well-formed UTF-8 character at `at`, or 0.
std::size_t CharacterLength(std::string_view text, std::size_t at) {
  const auto byte = static_cast<unsigned char>(text[at]);
  std::size_t length;
  std::uint32_t code;
  if (byte < 0x80) return 1;
  if ((byte & 0xE0) == 0xC0) {
    length = 2;
    code = byte & 0x1F;
  } else if ((byte & 0xF0) == 0xE0) {
    length = 3;
    code = byte & 0x0F;
  } else if ((byte & 0xF8) == 0xF0) {
    length = 4;
    code = byte & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[at + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code = code << 6 | (next & 0x3F);
  }
  static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    return 0;
  }
  return length;
}

std::string Hex(unsigned char byte) {
  char hex[5];
  std::snprintf(hex, sizeof hex, "\\x%02X", byte);
  return hex;
}

// Appends `text` to `out`, at most `budget` bytes of output, escaping as
// Quoted says (or, with `quotes` false, only what is not UTF-8 and control
// characters other than newline and tab). Returns how much of `text` went.
std::size_t AppendEscaped(std::string& out, std::string_view text, std::size_t budget,
                          bool quotes) {
  std::size_t used = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t length = CharacterLength(text, i);
    const auto byte = static_cast<unsigned char>(text[i]);
    std::string piece;
    if (length == 0) {
      piece = Hex(byte);
    } else if (length > 1) {
      piece = std::string(text.substr(i, length));
    } else if (quotes && byte == '"') {
      piece = "\\\"";
    } else if ((byte < 0x20 || byte == 0x7F) && (quotes || (byte != '\n' && byte != '\t'))) {
      piece = Hex(byte);
    } else {
      piece = std::string(1, static_cast<char>(byte));
    }
    if (used + piece.size() > budget) break;
    out += piece;
    used += piece.size();
    i += length == 0 ? 1 : length;
  }
  return i;
}

}  // namespace

bool IsUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = CharacterLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string Quoted(std::string_view text, std::size_t keep) {
  std::string out = "\"";
  const std::size_t shown = AppendEscaped(out, text, keep, true);
  if (shown == text.size()) return out + "\"";
  return out + "\xE2\x80\xA6\" (" + std::to_string(text.size()) + " bytes)";
}

std::string FieldKey(std::string_view key) {
  bool plain = !key.empty() && key.size() <= kQuotedBytes;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) plain = false;
  }
  return plain ? std::string(key) : Quoted(key);
}

std::string BoundedMessage(std::string_view message) {
  std::string out;
  // Room for the mark of a cut (3 bytes).
  const std::size_t shown = AppendEscaped(out, message, kMaxMessageBytes - 3, false);
  if (shown < message.size()) out += "\xE2\x80\xA6";
  return out;
}

}  // namespace mfwq::server
