#include "path_rules.h"
#include "client_text.h"

#include <array>
#include <cctype>

namespace mfwq::server {
namespace {

bool IsSeparator(char c) { return c == '\\' || c == '/'; }

std::string Upper(std::string_view s) {
  std::string upper(s);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

// Whether `component` names a device whatever folder it is in: the name
// before the first dot, less trailing spaces, is a reserved one.
bool IsDeviceName(std::string_view component) {
  std::string_view base = component.substr(0, component.find('.'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  const std::string name = Upper(base);
  static constexpr std::array<std::string_view, 6> kNames = {"CON", "PRN",    "AUX",
                                                            "NUL", "CONIN$", "CONOUT$"};
  for (std::string_view reserved : kNames) {
    if (name == reserved) return true;
  }
  // COM0-9 and LPT0-9, and with the superscript digits ¹ ² ³ (UTF-8).
  if (name.size() >= 4 && (name.rfind("COM", 0) == 0 || name.rfind("LPT", 0) == 0)) {
    const std::string_view digit = std::string_view(name).substr(3);
    if (digit.size() == 1 && digit[0] >= '0' && digit[0] <= '9') return true;
    if (digit == "\xC2\xB9" || digit == "\xC2\xB2" || digit == "\xC2\xB3") return true;
  }
  return false;
}

// What is wrong with one component of a path (empty if nothing).
std::string ComponentProblem(std::string_view component) {
  const std::string quoted = Quoted(component, kQuotedPathBytes);
  if (component == "." || component == "..") return "";
  if (component.find(':') != std::string_view::npos) {
    return quoted + " names an alternate data stream (a colon after the drive)";
  }
  for (char c : component) {
    if (static_cast<unsigned char>(c) < 0x20) return quoted + " contains a control character";
    if (std::string_view("<>\"|?*").find(c) != std::string_view::npos) {
      return quoted + " contains the character " + std::string(1, c) +
             ", which Windows reserves";
    }
  }
  if (component.back() == '.' || component.back() == ' ') {
    return quoted + " ends in a dot or a space, which Windows drops";
  }
  if (IsDeviceName(component)) return quoted + " is a reserved device name";
  return "";
}

}  // namespace

std::string WindowsPathProblem(std::string_view path, bool full) {
  if (path.empty()) return "empty";
  const std::string quoted = Quoted(path, kQuotedPathBytes);
  std::size_t rest;  // where the components after the root begin
  if (path.size() >= 2 && IsSeparator(path[0]) && IsSeparator(path[1])) {
    if (path.size() >= 3 && (path[2] == '?' || path[2] == '.') &&
        (path.size() == 3 || IsSeparator(path[3]))) {
      return quoted + " is a device or verbatim path (\\\\?\\ or \\\\.\\), which is refused";
    }
    // \\server\share: both named.
    std::size_t server_end = 2;
    while (server_end < path.size() && !IsSeparator(path[server_end])) ++server_end;
    std::size_t share_end = server_end + 1;
    while (share_end < path.size() && !IsSeparator(path[share_end])) ++share_end;
    if (server_end == 2 || server_end >= path.size() || share_end == server_end + 1) {
      return quoted + " is not a full UNC path (\\\\server\\share\\...)";
    }
    rest = share_end;
  } else if (path.size() >= 2 && path[1] == ':' && std::isalpha(static_cast<unsigned char>(path[0]))) {
    if (path.size() == 2 || !IsSeparator(path[2])) {
      return quoted + " is relative to the current folder of drive " + std::string(path.substr(0, 2)) +
             " (write " + std::string(path.substr(0, 2)) + "\\...)";
    }
    rest = 3;
  } else if (IsSeparator(path[0])) {
    return quoted + " has no drive (write it with one, such as C:" + std::string(path) + ")";
  } else {
    if (full) return quoted + " is not a full path (such as C:\\mfwq or \\\\server\\share\\mfwq)";
    rest = 0;
  }
  while (rest < path.size()) {
    std::size_t end = rest;
    while (end < path.size() && !IsSeparator(path[end])) ++end;
    if (end > rest) {
      if (std::string problem = ComponentProblem(path.substr(rest, end - rest)); !problem.empty()) {
        return quoted + ": " + problem;
      }
    }
    rest = end + 1;
  }
  return "";
}

Status CheckPath(std::string_view field, const std::string& path, bool full) {
  const std::string name(field);
  if (path.empty()) return InvalidArgument(name + ": empty");
  if (path.find('\0') != std::string::npos) return InvalidArgument(name + ": contains a NUL character");
#if defined(_WIN32)
  if (std::string problem = WindowsPathProblem(path, full); !problem.empty()) {
    return InvalidArgument(name + ": " + problem);
  }
#else
  if (full && path[0] != '/') {
    return InvalidArgument(name + ": " + Quoted(path, kQuotedPathBytes) +
                           " is not a full path (one starting with /)");
  }
#endif
  return OkStatus();
}

}  // namespace mfwq::server
