// The exec kind, run through real Media Foundation work queues (the portable
// engine here, Wine's mfplat in the Windows build), starting real programs:
// POSIX tools natively, cmd.exe in the Windows build, and this test program
// itself (its ExecChild "tests", which only run when asked for).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exec_kind.h"
#include "operation.h"
#include "operation_kind.h"
#include "os_error.h"
#include "kind_recorder.h"
#include "test_support.h"

#if !defined(_WIN32)
#include <sys/wait.h>

#include <cerrno>
#endif

namespace mfwq::server {
namespace {

using test::Gate;

// --- Programs the exec tests run: this executable, asked for one of these.

TEST(ExecChild, DISABLED_PrintArguments) {
  std::string line = "arguments:";
  const std::vector<std::string> argv = ::testing::internal::GetArgvs();
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (argv[i].rfind("--gtest_", 0) != 0) line += "[" + argv[i] + "]";
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

TEST(ExecChild, DISABLED_PrintMuchOutput) {
  const std::string line = std::string(999, 'x') + "\n";
  for (int i = 0; i < 300; ++i) std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

TEST(ExecChild, DISABLED_CountInput) {
  std::size_t count = 0;
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, stdin)) > 0;) count += got;
  std::fputs(("input bytes: " + std::to_string(count) + "\n").c_str(), stdout);
  std::fflush(stdout);
}

#if defined(_WIN32)
// Says its process id, sets the named event it is given (the test waits for
// it), then runs until killed: a grandchild, started by a cmd.exe that exec
// runs.
TEST(ExecChild, DISABLED_PrintPidThenRunOn) {
  std::printf("pid %lu\n", static_cast<unsigned long>(GetCurrentProcessId()));
  std::fflush(stdout);
  const std::vector<std::string> argv = ::testing::internal::GetArgvs();
  ASSERT_FALSE(argv.empty());
  HANDLE ready = OpenEventA(EVENT_MODIFY_STATE, FALSE, argv.back().c_str());
  ASSERT_NE(ready, nullptr) << "no event " << argv.back();
  SetEvent(ready);
  CloseHandle(ready);
  std::this_thread::sleep_for(std::chrono::seconds(60));
}
#endif

// Runs until killed (the test that starts it cancels it at once).
TEST(ExecChild, DISABLED_PrintThenRunOn) {
  std::printf("running\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(60));
}

std::string ThisProgram() {
#if defined(_WIN32)
  std::wstring path(32768, L'\0');
  path.resize(GetModuleFileNameW(nullptr, path.data(), static_cast<DWORD>(path.size())));
  return Narrow(path);
#else
  return std::filesystem::read_symlink("/proc/self/exe").string();
#endif
}

// The args that make this program run ExecChild.DISABLED_<child>, then `more`.
std::string ChildArgs(const std::string& child, const std::string& more = "") {
  return "--gtest_also_run_disabled_tests\n--gtest_filter=ExecChild.DISABLED_" + child +
         (more.empty() ? std::string() : "\n" + more);
}

// --- The tests.

struct Command {
  std::string program;
  std::string args;
};

#if defined(_WIN32)
std::string SystemFolder() {
  wchar_t folder[MAX_PATH];
  return Narrow(std::wstring(folder, GetSystemDirectoryW(folder, MAX_PATH)));
}
const std::string kShell = SystemFolder() + "\\cmd.exe";
const std::string kMissing = "C:\\no\\such\\program.exe";
// Words of a cmd.exe command line, one per line.
Command Shell(const std::string& words) { return {kShell, "/c\n" + words}; }
const std::string kNewline = "\r\n";
#else
const std::string kShell = "/bin/sh";
const std::string kMissing = "/no/such/program";
Command Shell(const std::string& script) { return {kShell, "-c\n" + script}; }
const std::string kNewline = "\n";
#endif

// Holds in the first report of output.
KindRecorder::HoldWhen HoldAtOutput() {
  return [](const ProgressReport& report, std::size_t) { return report.done > 0; };
}

using Recorder = KindRecorder;

struct Ran {
  ComPtr<Operation> op;
  std::shared_ptr<Recorder> recorder;
};

class ExecKindTest : public test::PlatformTest {
 protected:
  void SetUp() override {
    test::PlatformTest::SetUp();
    Register(registry_, 64 * 1024);
  }

  void Register(KindRegistry& registry, std::size_t tail_bytes) {
    ExecOptions options;
#if defined(_WIN32)
    options.allowlist = {kShell, ThisProgram(), kMissing};
#else
    options.allowlist = {"/bin/echo", kShell, ThisProgram(), kMissing};
#endif
    options.output_tail_bytes = tail_bytes;
    Status registered = RegisterExecKind(registry, options);
    ASSERT_TRUE(registered.ok()) << registered.message();
  }

  Status Submit(const std::string& program, const std::string& args,
                const KindRegistry* registry = nullptr) {
    const OperationKind& kind = *(registry ? *registry : registry_).Find("exec");
    Parameters parameters{{"program", Value(program)}, {"args", Value(args)}};
    if (Status s = ValidateParameters(kind.info(), &parameters); !s.ok()) return s;
    return kind.Check(parameters);
  }

  Ran Start(const Command& command,
            std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>(),
            const KindRegistry* registry = nullptr) {
    std::shared_ptr<const OperationKind> kind = (registry ? *registry : registry_).Find("exec");
    Parameters parameters{{"program", Value(command.program)}, {"args", Value(command.args)}};
    Status valid = ValidateParameters(kind->info(), &parameters);
    EXPECT_TRUE(valid.ok()) << valid.message();
    Status checked = kind->Check(parameters);
    EXPECT_TRUE(checked.ok()) << checked.message();
    const DWORD queue = MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION;
    auto callback = KindCallback::Create(kind, queue);
    Ran run{Operation::Create({OperationNumber(1), "exec", queue, 0, std::move(parameters), ""}, callback.get(),
                              recorder),
            recorder};
    EXPECT_EQ(MFPutWorkItemEx(queue, run.op.get()), S_OK);
    return run;
  }

  Ran Finish(const Command& command, const KindRegistry* registry = nullptr) {
    Ran run = Start(command, std::make_shared<Recorder>(), registry);
    EXPECT_TRUE(run.recorder->completed.Wait()) << command.program << " never completed";
    return run;
  }

  KindRegistry registry_;
};

TEST_F(ExecKindTest, KindIsListedAndNamesItsAllowlist) {
  const KindInfo& info = registry_.Find("exec")->info();
  EXPECT_TRUE(info.cancellable_while_running);
  EXPECT_TRUE(info.reports_progress);
  EXPECT_NE(info.description.find("Allowlisted programs: "), std::string::npos);
  EXPECT_NE(info.description.find(kShell), std::string::npos) << info.description;
  EXPECT_EQ(RegisterExecKind(registry_, {}).code(), StatusCode::kAlreadyExists);
}

TEST_F(ExecKindTest, RegistrationRefusesBadOptions) {
  KindRegistry registry;
  Status s = RegisterExecKind(registry, {{"bin/echo"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("is not a full path"), std::string::npos) << s.message();
  EXPECT_EQ(RegisterExecKind(registry, {{kShell}, (1 << 20) + 1}).code(),
            StatusCode::kInvalidArgument);
#if defined(_WIN32)
  for (const char* batch : {"C:\\jobs\\run.bat", "C:\\jobs\\run.CMD"}) {
    s = RegisterExecKind(registry, {{batch}});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << batch;
    EXPECT_NE(s.message().find("is a batch file"), std::string::npos) << s.message();
  }
#endif
  EXPECT_EQ(registry.Find("exec"), nullptr);
}

TEST_F(ExecKindTest, ProgramsNotAllowlistedAreRefused) {
#if defined(_WIN32)
  const std::string other = SystemFolder() + "\\whoami.exe";
  const std::string respelled = SystemFolder() + "\\..\\system32\\cmd.exe";
#else
  const std::string other = "/bin/ls";
  const std::string respelled = "/bin/../bin/sh";
#endif
  for (const std::string& program : {other, respelled, std::string("sh")}) {
    Status s = Submit(program, "");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << program;
    EXPECT_EQ(s.message(), "parameters.program: \"" + program + "\" is not allowlisted");
  }
  EXPECT_EQ(Submit(kShell, std::string("a\0b", 3)).message(),
            "parameters.args: contains a NUL character");

  KindRegistry none;
  ASSERT_TRUE(RegisterExecKind(none, {}).ok());
  EXPECT_NE(none.Find("exec")->info().description.find("No program is allowlisted"),
            std::string::npos);
  EXPECT_EQ(Submit(kShell, "", &none).message(), "parameters.program: \"" + kShell +
                                                     "\" is not allowlisted (this server "
                                                     "allowlists no programs)");
}

TEST_F(ExecKindTest, AllowlistedProgramRunsAndItsOutputIsTheResult) {
#if defined(_WIN32)
  Ran run = Finish(Shell("echo\nhello\nworld"));
#else
  Ran run = Finish({"/bin/echo", "hello\nworld"});
#endif
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_EQ(run.op->message(), "exited with code 0");
  EXPECT_EQ(run.op->result(), "hello world" + kNewline);
  EXPECT_EQ(run.recorder->bytes, 11 + kNewline.size());
  const std::vector<ProgressReport> reports = run.recorder->reports();
  ASSERT_GE(reports.size(), 2u);
  EXPECT_EQ(reports[0].message.rfind("started, process id ", 0), 0u) << reports[0].message;
  EXPECT_EQ(reports[0].done, 0u);
  EXPECT_EQ(reports[1].done, 11 + kNewline.size());
  EXPECT_EQ(reports[1].total, 0u);
}

TEST_F(ExecKindTest, NonzeroExitIsAFailureNamingTheCode) {
#if defined(_WIN32)
  Ran run = Finish(Shell("exit\n3"));
#else
  Ran run = Finish(Shell("exit 3"));
#endif
  EXPECT_EQ(run.recorder->status, E_FAIL);
  EXPECT_EQ(run.op->message(), "exited with code 3");
}

#if !defined(_WIN32)
TEST_F(ExecKindTest, DeathBySignalIsAFailureNamingTheSignal) {
  Ran run = Finish(Shell("kill -9 $$"));
  EXPECT_EQ(run.recorder->status, E_FAIL);
  EXPECT_EQ(run.op->message(), "killed by signal 9");
}
#endif

TEST_F(ExecKindTest, StandardErrorIsCapturedToo) {
#if defined(_WIN32)
  Ran run = Finish(Shell("echo\nerr\n1>&2"));
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_NE(run.op->result().find("err"), std::string::npos) << run.op->result();
#else
  Ran run = Finish(Shell("echo out; echo err >&2"));
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_EQ(run.op->result(), "out\nerr\n");
#endif
}

TEST_F(ExecKindTest, TheProgramReadsAnEmptyInput) {
  Ran run = Finish({ThisProgram(), ChildArgs("CountInput")});
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_NE(run.op->result().find("input bytes: 0" + kNewline), std::string::npos)
      << run.op->result();
}

TEST_F(ExecKindTest, OnlyTheTailOfTheOutputIsKept) {
  KindRegistry registry;
  Register(registry, 4);
#if defined(_WIN32)
  Ran run = Finish(Shell("echo\nhello"), &registry);
#else
  Ran run = Finish({"/bin/echo", "hello"}, &registry);
#endif
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_EQ(run.op->result(), ("hello" + kNewline).substr(5 + kNewline.size() - 4));
  EXPECT_EQ(run.recorder->bytes, 5 + kNewline.size());
}

TEST_F(ExecKindTest, ArgumentsArePassedVerbatim) {
  Ran run =
      Finish({ThisProgram(), ChildArgs("PrintArguments", "a b\n\nq\"uote\nback\\slash\\\nx")});
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message() << "\n" << run.op->result();
  EXPECT_NE(run.op->result().find("arguments:[a b][][q\"uote][back\\slash\\][x]" + kNewline),
            std::string::npos)
      << run.op->result();
}

TEST_F(ExecKindTest, LargeOutputIsCountedAndItsTailKept) {
  Ran run = Finish({ThisProgram(), ChildArgs("PrintMuchOutput")});
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_GT(run.op->bytes_transferred(), 300000u);
  EXPECT_EQ(run.recorder->bytes, run.op->bytes_transferred());
  EXPECT_EQ(run.op->result().size(), 64u * 1024);
  std::uint64_t last = 0;
  const std::vector<ProgressReport> reports = run.recorder->reports();
  // Started, the first output, then after each 64 KiB more: with reads of
  // up to 64 KiB, at least twice more in 300 KB.
  EXPECT_GE(reports.size(), 4u);
  for (const ProgressReport& report : reports) {
    EXPECT_GE(report.done, last);
    last = report.done;
  }
}

TEST_F(ExecKindTest, MissingProgramFailsWithFileNotFound) {
  Ran run = Finish({kMissing, ""});
  EXPECT_EQ(run.recorder->status, static_cast<HRESULT>(0x80070002)) << run.op->message();
  EXPECT_EQ(run.op->message().rfind("cannot run " + kMissing + ": ", 0), 0u) << run.op->message();
}

// Cancelled once it has written output (so surely running; the first output
// may be only the start of it), the program is killed at once: it would
// otherwise run for a minute.
TEST_F(ExecKindTest, CancelKillsTheRunningProgram) {
#if defined(_WIN32)
  const Command forever{ThisProgram(), ChildArgs("PrintThenRunOn")};
#else
  const Command forever = Shell("echo running; /bin/sleep 60; echo never");
#endif
  auto recorder = std::make_shared<Recorder>(HoldAtOutput());
  const auto start = std::chrono::steady_clock::now();
  Ran run = Start(forever, recorder);
  ASSERT_TRUE(recorder->held.Wait());
  run.op->RequestCancel();
  recorder->resume.Open();
  ASSERT_TRUE(recorder->completed.Wait());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_EQ(recorder->status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(run.op->message().rfind("cancelled: process ", 0), 0u) << run.op->message();
  EXPECT_FALSE(run.op->result().empty());  // what it wrote before it was killed
  EXPECT_EQ(run.op->result().find("never"), std::string::npos);
}

#if defined(_WIN32)
// The program's job holds what it starts: cancelled, cmd.exe goes, and so
// does the program cmd.exe started.
TEST_F(ExecKindTest, CancelKillsTheProgramsWholeProcessTree) {
  // Set by the grandchild once it has said its process id.
  const std::string name = "mfwq-exec-test-" + std::to_string(GetCurrentProcessId());
  HANDLE ready = CreateEventA(nullptr, TRUE, FALSE, name.c_str());
  ASSERT_NE(ready, nullptr);
  const Command tree = Shell(ThisProgram() + "\n" + ChildArgs("PrintPidThenRunOn", name));
  auto recorder = std::make_shared<Recorder>();
  Ran run = Start(tree, recorder);
  const DWORD waited = WaitForSingleObject(ready, test::kPatienceMs);
  CloseHandle(ready);
  ASSERT_EQ(waited, WAIT_OBJECT_0) << "the grandchild did not start";
  run.op->RequestCancel();
  ASSERT_TRUE(recorder->completed.Wait());
  EXPECT_EQ(recorder->status, MF_E_OPERATION_CANCELLED);
  const std::string output = run.op->result();
  const std::size_t at = output.find("pid ");
  ASSERT_NE(at, std::string::npos) << output;
  const DWORD pid = static_cast<DWORD>(std::stoul(output.substr(at + 4)));
  HANDLE grandchild = OpenProcess(SYNCHRONIZE, FALSE, pid);
  if (grandchild != nullptr) {  // else it is gone already
    EXPECT_EQ(WaitForSingleObject(grandchild, test::kPatienceMs), WAIT_OBJECT_0)
        << "process " << pid << " outlived the cancelled operation";
    CloseHandle(grandchild);
  }
}
#endif

#if defined(__linux__)
std::size_t OpenDescriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// Finished, failed or killed, a program leaves no descriptor open and no
// child unreaped.
TEST_F(ExecKindTest, NothingIsLeftBehind) {
  const std::size_t before = OpenDescriptors();
  Finish({"/bin/echo", "hi"});
  Finish(Shell("exit 3"));
  Finish({kMissing, ""});
  auto recorder = std::make_shared<Recorder>(HoldAtOutput());
  Ran run = Start(Shell("echo running; exec /bin/sleep 60"), recorder);
  ASSERT_TRUE(recorder->held.Wait());
  run.op->RequestCancel();
  recorder->resume.Open();
  ASSERT_TRUE(recorder->completed.Wait());
  EXPECT_EQ(OpenDescriptors(), before);
  int status = 0;
  EXPECT_EQ(::waitpid(-1, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}
#endif

}  // namespace
}  // namespace mfwq::server
