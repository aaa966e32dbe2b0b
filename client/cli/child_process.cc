#include "child_process.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#if defined(_WIN32)
#include <windows.h>
#else
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern "C" char** environ;
#endif

namespace mfwq::cli {

#if defined(_WIN32)

namespace {

std::string Win32Message(DWORD error) {
  char* text = nullptr;
  const DWORD n = FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, error, 0, reinterpret_cast<char*>(&text), 0, nullptr);
  std::string message = n > 0 ? std::string(text, n) : "error " + std::to_string(error);
  if (text != nullptr) LocalFree(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                              message.back() == ' ' || message.back() == '.')) {
    message.pop_back();
  }
  return message;
}

// `arg` quoted so that the C runtime's argument parsing gives it back.
std::wstring Quote(const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) return arg;
  std::wstring quoted = L"\"";
  std::size_t backslashes = 0;
  for (wchar_t c : arg) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    quoted.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
    backslashes = 0;
    quoted.push_back(c);
  }
  quoted.append(backslashes * 2, L'\\');
  quoted.push_back(L'"');
  return quoted;
}

std::wstring Widen(const std::string& s) {
  if (s.empty()) return {};
  const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), nullptr, 0);
  std::wstring wide(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()), wide.data(), n);
  return wide;
}

}  // namespace

std::string ChildProcess::Start(const std::vector<std::string>& args) {
  const std::string name = "mfwq " + (args.empty() ? std::string() : args[0]);
  std::wstring self(MAX_PATH, L'\0');
  for (;;) {
    const DWORD n = GetModuleFileNameW(nullptr, self.data(), static_cast<DWORD>(self.size()));
    if (n == 0) return "cannot start " + name + ": " + Win32Message(GetLastError());
    if (n < self.size()) {
      self.resize(n);
      break;
    }
    self.resize(self.size() * 2);
  }
  std::wstring command_line = Quote(self);
  for (const std::string& arg : args) command_line += L" " + Quote(Widen(arg));

  SECURITY_ATTRIBUTES inheritable{static_cast<DWORD>(sizeof(SECURITY_ATTRIBUTES)), nullptr, TRUE};
  HANDLE in_read = nullptr, in_write = nullptr, out_read = nullptr, out_write = nullptr;
  if (!CreatePipe(&in_read, &in_write, &inheritable, 0)) {
    return "cannot start " + name + ": a pipe: " + Win32Message(GetLastError());
  }
  if (!CreatePipe(&out_read, &out_write, &inheritable, 0)) {
    const DWORD error = GetLastError();
    CloseHandle(in_read);
    CloseHandle(in_write);
    return "cannot start " + name + ": a pipe: " + Win32Message(error);
  }
  // The parent's ends stay the parent's.
  SetHandleInformation(in_write, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(out_read, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW startup{};
  startup.cb = sizeof startup;
  startup.dwFlags = STARTF_USESTDHANDLES;
  startup.hStdInput = in_read;
  startup.hStdOutput = out_write;
  startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  PROCESS_INFORMATION process{};
  const BOOL created = CreateProcessW(self.c_str(), command_line.data(), nullptr, nullptr, TRUE, 0,
                                      nullptr, nullptr, &startup, &process);
  const DWORD create_error = GetLastError();
  CloseHandle(in_read);
  CloseHandle(out_write);
  if (!created) {
    CloseHandle(in_write);
    CloseHandle(out_read);
    return "cannot start " + name + ": " + Win32Message(create_error);
  }
  CloseHandle(process.hThread);
  process_ = process.hProcess;
  input_ = in_write;
  std::string line;
  char c;
  DWORD got = 0;
  while (ReadFile(out_read, &c, 1, &got, nullptr) && got == 1 && c != '\n') line += c;
  CloseHandle(out_read);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    const int status = Stop();
    return name + " ended before it wrote a line (exit code " + std::to_string(status) + ")";
  }
  first_line_ = std::move(line);
  return "";
}

int ChildProcess::Stop() {
  if (input_ != nullptr) CloseHandle(std::exchange(input_, nullptr));
  if (process_ == nullptr) return -1;
  HANDLE process = std::exchange(process_, nullptr);
  WaitForSingleObject(process, INFINITE);
  DWORD code = 0;
  GetExitCodeProcess(process, &code);
  CloseHandle(process);
  return static_cast<int>(code);
}

void ChildProcess::WaitForInputToEnd() {
  HANDLE input = GetStdHandle(STD_INPUT_HANDLE);
  char buffer[256];
  DWORD got = 0;
  while (ReadFile(input, buffer, sizeof buffer, &got, nullptr) && got > 0) {
  }
}

#else  // !_WIN32

namespace {

std::string Errno(const std::string& what, int error) {
  return "cannot start " + what + ": " + std::strerror(error);
}

}  // namespace

std::string ChildProcess::Start(const std::vector<std::string>& args) {
  const std::string name = "mfwq " + (args.empty() ? std::string() : args[0]);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return Errno(name + ": a pipe", errno);
  if (pipe2(out, O_CLOEXEC) != 0) {
    const int error = errno;
    ::close(in[0]);
    ::close(in[1]);
    return Errno(name + ": a pipe", error);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  std::vector<std::string> strings = {"mfwq"};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (spawned != 0) {
    ::close(in[1]);
    ::close(out[0]);
    return Errno(name, spawned);
  }
  pid_ = pid;
  input_ = in[1];
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
  ::close(out[0]);
  if (line.empty()) {
    const int status = Stop();
    return name + " ended before it wrote a line (status " + std::to_string(status) + ")";
  }
  first_line_ = std::move(line);
  return "";
}

int ChildProcess::Stop() {
  if (input_ >= 0) ::close(std::exchange(input_, -1));
  if (pid_ <= 0) return -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ChildProcess::WaitForInputToEnd() {
  char buffer[256];
  for (;;) {
    const ssize_t n = ::read(0, buffer, sizeof buffer);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    return;
  }
}

#endif  // _WIN32

}  // namespace mfwq::cli
