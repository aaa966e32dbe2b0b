// Windows command lines: a program receives one string and splits it
// itself, so the arguments of a program the server starts (exec) or has
// started for it (the service control manager) are quoted by these rules.
#ifndef MFWQ_SERVER_CORE_COMMAND_LINE_H_
#define MFWQ_SERVER_CORE_COMMAND_LINE_H_

#if defined(_WIN32)

#include <string>
#include <vector>

namespace mfwq::server {

// `arg` quoted so that CommandLineToArgvW and the C runtime give it back
// whole: as it is if it has no space, tab, newline or quote; else in quotes,
// with each quote escaped and the backslashes before a quote doubled.
std::wstring QuoteArgument(const std::wstring& arg);

// `program` and `args`, each quoted, separated by spaces.
std::wstring JoinCommandLine(const std::wstring& program, const std::vector<std::wstring>& args);

}  // namespace mfwq::server

#endif  // _WIN32

#endif  // MFWQ_SERVER_CORE_COMMAND_LINE_H_
