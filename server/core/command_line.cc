#include "command_line.h"

#if defined(_WIN32)

namespace mfwq::server {

std::wstring QuoteArgument(const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) return arg;
  std::wstring quoted = L"\"";
  for (auto it = arg.begin();; ++it) {
    std::size_t backslashes = 0;
    while (it != arg.end() && *it == L'\\') {
      ++it;
      ++backslashes;
    }
    if (it == arg.end()) {
      quoted.append(backslashes * 2, L'\\');  // before the closing quote
      break;
    }
    if (*it == L'"') {
      quoted.append(backslashes * 2 + 1, L'\\');
    } else {
      quoted.append(backslashes, L'\\');
    }
    quoted.push_back(*it);
  }
  quoted.push_back(L'"');
  return quoted;
}

std::wstring JoinCommandLine(const std::wstring& program, const std::vector<std::wstring>& args) {
  std::wstring line = QuoteArgument(program);
  for (const std::wstring& arg : args) line += L" " + QuoteArgument(arg);
  return line;
}

}  // namespace mfwq::server

#endif  // _WIN32
