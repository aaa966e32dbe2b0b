#include "exec_kind.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "command_line.h"
#include "os_error.h"
#include "path_rules.h"

#if !defined(_WIN32)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;
#endif

namespace mfwq::server {
namespace {

constexpr std::size_t kMaxTailBytes = 1 << 20;  // the most a completion's result holds
constexpr std::uint64_t kProgressEveryBytes = 64 << 10;
// How long the loop watching a program waits before looking at
// cancellation again: Operation offers no wake-up a pipe or process wait
// could include.
constexpr std::chrono::milliseconds kPollInterval(20);
constexpr std::size_t kReadBytes = 64 << 10;

std::vector<std::string> SplitArguments(const std::string& args) {
  std::vector<std::string> split;
  if (args.empty()) return split;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = args.find('\n', start);
    split.push_back(args.substr(start, end - start));
    if (end == std::string::npos) return split;
    start = end + 1;
  }
}

// The output of a program: its byte count and its last bytes; reports
// progress as it grows.
class Output {
 public:
  Output(Operation& op, std::size_t tail_bytes) : op_(op), tail_bytes_(tail_bytes) {}

  void Add(const char* data, std::size_t size) {
    total_ += size;
    tail_.append(data, size);
    if (tail_.size() > tail_bytes_ + kReadBytes) tail_.erase(0, tail_.size() - tail_bytes_);
    if (total_ >= next_report_) {
      op_.ReportProgress(total_, 0, std::to_string(total_) + " bytes of output");
      next_report_ = total_ + kProgressEveryBytes;
    }
  }
  std::uint64_t total() const { return total_; }
  std::string TakeTail() {
    if (tail_.size() > tail_bytes_) tail_.erase(0, tail_.size() - tail_bytes_);
    return std::move(tail_);
  }

 private:
  Operation& op_;
  const std::size_t tail_bytes_;
  std::uint64_t total_ = 0;
  std::uint64_t next_report_ = 1;  // the first output
  std::string tail_;
};

// How a run ended.
struct Ending {
  HRESULT start_error = S_OK;  // the program could not be started (nor watched)
  std::string start_message;
  bool cancelled = false;  // and so killed
  bool signalled = false;
  std::uint64_t code = 0;  // the exit code, or the signal when signalled
  std::uint64_t process_id = 0;
};

Ending StartFailure(const OsError& error, const std::string& what) {
  Ending ending;
  ending.start_error = error.hr == HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)
                           ? HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
                           : error.hr;
  ending.start_message = what + ": " + error.text;
  return ending;
}

void ReportStarted(Operation& op, std::uint64_t process_id) {
  op.ReportProgress(0, 0, std::string("started, process id ") + std::to_string(process_id));
}

#if defined(_WIN32)

// The most read from a killed program's pipe: what it wrote before it went.
constexpr std::size_t kDrainAfterKillBytes = kMaxTailBytes;

// Inheritable handles: only those in the attribute list go to the program
// (not other pipes being set up for other programs at the same time).
class InheritList {
 public:
  explicit InheritList(std::vector<HANDLE> handles) : handles_(std::move(handles)) {
    SIZE_T size = 0;
    InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    storage_.resize(size);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage_.data());
    if (size == 0 || !InitializeProcThreadAttributeList(list, 1, 0, &size)) return;
    if (!UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles_.data(),
                                   handles_.size() * sizeof(HANDLE), nullptr, nullptr)) {
      DeleteProcThreadAttributeList(list);
      return;
    }
    list_ = list;
  }
  ~InheritList() {
    if (list_ != nullptr) DeleteProcThreadAttributeList(list_);
  }
  InheritList(const InheritList&) = delete;
  InheritList& operator=(const InheritList&) = delete;
  // nullptr if the system offers no such list.
  LPPROC_THREAD_ATTRIBUTE_LIST get() const { return list_; }

 private:
  std::vector<HANDLE> handles_;
  std::vector<char> storage_;
  LPPROC_THREAD_ATTRIBUTE_LIST list_ = nullptr;
};

Ending RunProgram(Operation& op, const std::string& program, const std::vector<std::string>& args,
                  Output& output) {
  const std::wstring application = Widen(program);
  std::vector<std::wstring> wide_args;
  for (const std::string& arg : args) wide_args.push_back(Widen(arg));
  std::wstring command_line = JoinCommandLine(application, wide_args);

  SECURITY_ATTRIBUTES inheritable{static_cast<DWORD>(sizeof(SECURITY_ATTRIBUTES)), nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!CreatePipe(&read_end, &write_end, &inheritable, kReadBytes)) {
    return StartFailure(LastWin32Error(), std::string("cannot make a pipe for ") + program);
  }
  SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  HANDLE input = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inheritable,
                             OPEN_EXISTING, 0, nullptr);
  if (input == INVALID_HANDLE_VALUE) {
    const OsError error = LastWin32Error();
    CloseHandle(read_end);
    CloseHandle(write_end);
    return StartFailure(error, std::string("cannot open NUL for ") + program);
  }

  PROCESS_INFORMATION process{};
  BOOL created = FALSE;
  DWORD create_error = 0;
  {
    InheritList inherit({input, write_end});
    STARTUPINFOEXW startup{};
    startup.StartupInfo.cb = sizeof startup;
    startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    startup.StartupInfo.hStdInput = input;
    startup.StartupInfo.hStdOutput = write_end;
    startup.StartupInfo.hStdError = write_end;
    startup.lpAttributeList = inherit.get();
    DWORD flags = CREATE_NO_WINDOW | CREATE_SUSPENDED;
    if (inherit.get() != nullptr) flags |= EXTENDED_STARTUPINFO_PRESENT;
    // The application name is given: no search along PATH, no shell.
    created = CreateProcessW(application.c_str(), command_line.data(), nullptr, nullptr, TRUE,
                             flags, nullptr, nullptr, &startup.StartupInfo, &process);
    create_error = GetLastError();
  }
  CloseHandle(write_end);  // the program's now: the pipe ends when it (and its children) close it
  CloseHandle(input);
  if (!created) {
    CloseHandle(read_end);
    return StartFailure(Win32Error(create_error), std::string("cannot run ") + program);
  }
  // A job holds the processes the program starts, to kill them with it;
  // closed (the server ending, even killed), it kills them too.
  HANDLE job = CreateJobObjectW(nullptr, nullptr);
  if (job != nullptr) {
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits);
    if (!AssignProcessToJobObject(job, process.hProcess)) {
      CloseHandle(job);
      job = nullptr;
    }
  }
  ResumeThread(process.hThread);
  CloseHandle(process.hThread);

  Ending ending;
  ending.process_id = process.dwProcessId;
  ReportStarted(op, ending.process_id);
  std::vector<char> buffer(kReadBytes);
  bool exited = false;
  for (;;) {
    if (op.cancel_requested()) {
      if (job != nullptr) TerminateJobObject(job, 1);
      TerminateProcess(process.hProcess, 1);
      WaitForSingleObject(process.hProcess, INFINITE);
      ending.cancelled = true;
      // Keep what it wrote before it was killed (bounded: a process that
      // escaped the job may still be writing).
      std::size_t drained = 0;
      DWORD left = 0;
      while (drained < kDrainAfterKillBytes &&
             PeekNamedPipe(read_end, nullptr, 0, nullptr, &left, nullptr) && left > 0) {
        DWORD got = 0;
        if (!ReadFile(read_end, buffer.data(), std::min<DWORD>(left, kReadBytes), &got, nullptr) ||
            got == 0) {
          break;
        }
        output.Add(buffer.data(), got);
        drained += got;
      }
      break;
    }
    // Anonymous pipes offer no overlapped reads: peek, read what is there.
    DWORD available = 0;
    if (PeekNamedPipe(read_end, nullptr, 0, nullptr, &available, nullptr) && available > 0) {
      DWORD got = 0;
      if (ReadFile(read_end, buffer.data(), std::min<DWORD>(available, kReadBytes), &got,
                   nullptr) &&
          got > 0) {
        output.Add(buffer.data(), got);
        continue;
      }
    }
    if (exited) break;  // and all it wrote has been read
    const DWORD waited =
        WaitForSingleObject(process.hProcess, static_cast<DWORD>(kPollInterval.count()));
    if (waited == WAIT_OBJECT_0) {
      exited = true;
    } else if (waited == WAIT_FAILED) {
      // A process the system cannot wait for (seen under Wine with a
      // program that is not a Windows one): without this, the loop would
      // spin for ever, neither waiting nor finding it gone.
      const OsError error = LastWin32Error();
      if (job != nullptr) TerminateJobObject(job, 1);
      TerminateProcess(process.hProcess, 1);
      ending.start_error = FAILED(error.hr) ? error.hr : E_FAIL;
      ending.start_message = std::string("lost track of process ") +
                             std::to_string(ending.process_id) + ": cannot wait for it: " +
                             error.text;
      break;
    }
  }
  if (!ending.cancelled && SUCCEEDED(ending.start_error)) {
    DWORD code = 0;
    GetExitCodeProcess(process.hProcess, &code);
    ending.code = code;
  }
  if (job != nullptr) CloseHandle(job);
  CloseHandle(process.hProcess);
  CloseHandle(read_end);
  return ending;
}

#else  // !_WIN32

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Close(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
};

// `fd`, or a copy of it numbered 3 or more if it is 0, 1 or 2 (in a server
// whose standard streams are closed), which the program's would replace.
int AboveStandardStreams(int fd) {
  if (fd < 0 || fd > 2) return fd;
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int saved_errno = errno;
  ::close(fd);
  errno = saved_errno;
  return copy;
}

// What posix_spawn needs besides the program: file actions and attributes.
class SpawnSetup {
 public:
  explicit SpawnSetup(int output_fd) {
    posix_spawn_file_actions_init(&actions_);
    posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions_, output_fd, 1);
    posix_spawn_file_actions_adddup2(&actions_, output_fd, 2);
    posix_spawnattr_init(&attributes_);
    // A process group of its own, to kill it with what it starts; the
    // signals a server may ignore or block back to their defaults.
    posix_spawnattr_setflags(
        &attributes_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attributes_, 0);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attributes_, &defaults);
    sigset_t mask;
    sigemptyset(&mask);
    posix_spawnattr_setsigmask(&attributes_, &mask);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attributes_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attributes() const { return &attributes_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attributes_;
};

// Reads what `fd` (non-blocking) has now; true at its end (or a failure).
bool Drain(int fd, std::vector<char>& buffer, Output& output) {
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      output.Add(buffer.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      return true;
    } else if (errno == EINTR) {
      continue;
    } else {
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }
}

void Reap(pid_t pid, int* status) {
  while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

Ending RunProgram(Operation& op, const std::string& program, const std::vector<std::string>& args,
                  Output& output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return StartFailure(ErrnoError(errno), std::string("cannot make a pipe for ") + program);
  }
  Fd read_end(AboveStandardStreams(fds[0])), write_end(AboveStandardStreams(fds[1]));
  if (read_end.get() < 0 || write_end.get() < 0) {
    return StartFailure(ErrnoError(errno), std::string("cannot make a pipe for ") + program);
  }
  const int flags = ::fcntl(read_end.get(), F_GETFL);
  if (flags < 0 || ::fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return StartFailure(ErrnoError(errno), std::string("cannot make a pipe for ") + program);
  }

  std::vector<std::string> strings;
  strings.reserve(args.size() + 1);
  strings.push_back(program);
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  int spawn_error;
  {
    SpawnSetup setup(write_end.get());
    spawn_error = ::posix_spawn(&pid, program.c_str(), setup.actions(), setup.attributes(),
                                argv.data(), environ);
  }
  write_end.Close();  // the program's now: the pipe ends when it (and its children) close it
  if (spawn_error != 0)
    return StartFailure(ErrnoError(spawn_error), std::string("cannot run ") + program);

  Ending ending;
  ending.process_id = static_cast<std::uint64_t>(pid);
  ReportStarted(op, ending.process_id);
  std::vector<char> buffer(kReadBytes);
  bool at_end = false;
  int status = 0;
  for (;;) {
    if (op.cancel_requested()) {
      ::kill(-pid, SIGKILL);  // its process group
      ::kill(pid, SIGKILL);   // in case it left the group
      Reap(pid, &status);
      ending.cancelled = true;
      return ending;
    }
    if (!at_end) {
      pollfd readable{read_end.get(), POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(kPollInterval.count())) > 0) {
        at_end = Drain(read_end.get(), buffer, output);
      }
    } else {
      op.WaitForCancel(kPollInterval);  // it closed its output but runs on
    }
    const pid_t waited = ::waitpid(pid, &status, WNOHANG);
    if (waited == pid) break;
    if (waited < 0 && errno != EINTR) {
      // Reaped elsewhere (SIGCHLD ignored?): the id may be another's now.
      const OsError error = ErrnoError(errno);
      ending.start_error = error.hr;
      ending.start_message =
          std::string("lost track of process ") + std::to_string(pid) + ": " + error.text;
      return ending;
    }
  }
  if (!at_end) Drain(read_end.get(), buffer, output);  // what it wrote before exiting
  if (WIFSIGNALED(status)) {
    ending.signalled = true;
    ending.code = static_cast<std::uint64_t>(WTERMSIG(status));
  } else {
    ending.code = static_cast<std::uint64_t>(WEXITSTATUS(status));
  }
  return ending;
}

#endif  // _WIN32

class ExecKind final : public OperationKind {
 public:
  explicit ExecKind(ExecOptions options) : options_(std::move(options)) {
    std::string programs;
    for (const std::string& program : options_.allowlist) {
      if (!programs.empty()) programs += ", ";
      programs += program;
    }
    info_ = {"exec",
             std::string("Runs an allowlisted program (no shell) and completes when it exits: "
                         "S_OK for exit code 0, else E_FAIL; the message is \"exited with code "
                         "N\" or \"killed by signal N\", the result the last ") +
                 std::to_string(options_.output_tail_bytes) +
                 " bytes of its output (standard output and error), bytes transferred the "
                 "number of bytes of output. Cancelled while running, the program is killed and "
                 "the operation stops with MF_E_OPERATION_CANCELLED. " +
                 (programs.empty()
                      ? std::string("No program is allowlisted on this server: every one is "
                                    "refused.")
                      : std::string("Allowlisted programs: ") + programs + "."),
             {{"program", ValueType::kString, true, std::nullopt,
               "the program to run: an absolute path, exactly as allowlisted"},
              {"args", ValueType::kString, false, Value(std::string()),
               "its arguments, one per line (split at each newline; empty: no arguments)"}},
             true,
             true};
  }

  const KindInfo& info() const override { return info_; }

  Status Check(const Parameters& parameters) const override {
    const std::string& program = std::get<std::string>(parameters.at("program"));
    if (!Allowlisted(program)) {
      return InvalidArgument(
          std::string("parameters.program: \"") + program + "\" is not allowlisted" +
          (options_.allowlist.empty() ? " (this server allowlists no programs)" : ""));
    }
    if (std::get<std::string>(parameters.at("args")).find('\0') != std::string::npos) {
      return InvalidArgument("parameters.args: contains a NUL character");
    }
    return OkStatus();
  }

  void Run(Operation& op) const override {
    const std::string& program = std::get<std::string>(op.spec().parameters.at("program"));
    if (!Allowlisted(program)) {  // Check was bypassed
      op.SetStatus(E_ACCESSDENIED);
      op.SetMessage(program + " is not allowlisted");
      return;
    }
    if (op.cancel_requested()) {
      op.SetStatus(MF_E_OPERATION_CANCELLED);
      op.SetMessage("cancelled before the program started");
      return;
    }
    Output output(op, options_.output_tail_bytes);
    const Ending ending =
        RunProgram(op, program,
                   SplitArguments(std::get<std::string>(op.spec().parameters.at("args"))), output);
    op.SetBytesTransferred(output.total());
    op.SetResult(output.TakeTail());
    if (FAILED(ending.start_error)) {
      op.SetStatus(ending.start_error);
      op.SetMessage(ending.start_message);
    } else if (ending.cancelled) {
      op.SetStatus(MF_E_OPERATION_CANCELLED);
      op.SetMessage(std::string("cancelled: process ") + std::to_string(ending.process_id) +
                    " killed");
    } else if (ending.signalled) {
      op.SetStatus(E_FAIL);
      op.SetMessage(std::string("killed by signal ") + std::to_string(ending.code));
    } else {
      op.SetStatus(ending.code == 0 ? S_OK : E_FAIL);
      op.SetMessage(std::string("exited with code ") + std::to_string(ending.code));
    }
  }

 private:
  bool Allowlisted(const std::string& program) const {
    return std::find(options_.allowlist.begin(), options_.allowlist.end(), program) !=
           options_.allowlist.end();
  }

  const ExecOptions options_;
  KindInfo info_;
};

}  // namespace

Status RegisterExecKind(KindRegistry& registry, ExecOptions options) {
  for (const std::string& program : options.allowlist) {
    if (Status s = CheckPath("exec: allowlisted program", program, true); !s.ok()) return s;
#if defined(_WIN32)
    // CreateProcessW runs a batch file through cmd.exe, which parses its
    // arguments its own way: a quoted argument could run another command.
    std::string extension = std::filesystem::path(Widen(program)).extension().string();
    for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (extension == ".bat" || extension == ".cmd") {
      return InvalidArgument(std::string("exec: allowlisted program \"") + program +
                             "\" is a batch file, which Windows runs through cmd.exe (a shell); "
                             "allowlist cmd.exe itself if a shell is what you mean");
    }
#endif
  }
  if (options.output_tail_bytes > kMaxTailBytes) {
    return InvalidArgument("exec: output_tail_bytes over 1 MiB (1048576)");
  }
  return registry.Register(std::make_shared<ExecKind>(std::move(options)));
}

}  // namespace mfwq::server
