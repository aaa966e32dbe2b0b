// End-to-end: the file kinds (confined to a root folder, with progress) and
// exec (allowlisted programs only, killed on cancel) through the real
// server.
#include <google/protobuf/util/time_util.h>

#include <filesystem>
#include <cctype>
#include <fstream>

#include "e2e_test.h"

namespace mfwq::test {
namespace {

using google::protobuf::util::TimeUtil;

class KindsTest : public E2ETest {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(root_);
    E2ETest::SetUp();
  }
  std::vector<std::string> ServerArgs() const override {
    std::vector<std::string> args = {"--file-root", ServerPath(root_), "--exec-allow",
                                     ShellProgram()};
    if (ServerIsWindows()) {
      // A Linux program, which Wine starts but gives no process to wait on.
      args.push_back("--exec-allow");
      args.push_back(ServerPath("/bin/true"));
    }
    return args;
  }
  // The server's shell: sh, or cmd.exe for a Windows server.
  static std::string ShellProgram() {
    return ServerIsWindows() ? "C:\\windows\\system32\\cmd.exe" : "/bin/sh";
  }
  v1::SubmitRequest File(const std::string& kind,
                         std::initializer_list<std::pair<const char*, std::string>> strings) {
    v1::SubmitRequest r;
    r.set_queue_id(kLongFunction);
    r.set_kind(kind);
    for (const auto& [name, value] : strings) {
      (*r.mutable_parameters())[name].set_string_value(value);
    }
    return r;
  }
  v1::SubmitRequest Shell(const std::string& script) {
    v1::SubmitRequest r;
    r.set_queue_id(kLongFunction);
    r.set_kind("exec");
    (*r.mutable_parameters())["program"].set_string_value(ShellProgram());
    (*r.mutable_parameters())["args"].set_string_value((ServerIsWindows() ? "/c\n" : "-c\n") +
                                                       script);
    return r;
  }
  std::string root_ = dir_.path() + "/files";
};

TEST_F(KindsTest, FilesAreWrittenReadHashedAndCopiedInsideTheRoot) {
  v1::SubmitRequest write = File("file.write", {{"path", ServerPath(root_ + "/in/a.txt")}});
  (*write.mutable_parameters())["data"].set_bytes_value("abc");
  (*write.mutable_parameters())["create_dirs"].set_bool_value(true);
  v1::Operation w = WaitDone(Submit(write).id());
  EXPECT_EQ(w.completion().status().code(), kSOk) << w.completion().message();
  EXPECT_EQ(w.completion().bytes_transferred(), 3u);

  v1::Operation r = WaitDone(Submit(File("file.read", {{"path", "in/a.txt"}})).id());
  EXPECT_EQ(r.completion().result(), "abc");
  EXPECT_EQ(r.completion().bytes_transferred(), 3u);

  v1::Operation h = WaitDone(Submit(File("file.hash", {{"path", "in/a.txt"}})).id());
  EXPECT_EQ(h.completion().message(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h.completion().result().size(), 32u);

  v1::Operation c =
      WaitDone(Submit(File("file.copy", {{"source", "in/a.txt"}, {"destination", "b.txt"}})).id());
  EXPECT_EQ(c.completion().status().code(), kSOk) << c.completion().message();
  std::ifstream copied(root_ + "/b.txt");
  std::string text;
  copied >> text;
  EXPECT_EQ(text, "abc");

  v1::Operation missing = WaitDone(Submit(File("file.read", {{"path", "nope.txt"}})).id());
  EXPECT_EQ(missing.completion().status().code(), 0x80070002u);
  EXPECT_NE(missing.completion().message().find("no such file"), std::string::npos);

  // Outside the root: refused at submission, naming the parameter.
  v1::SubmitResponse refused;
  grpc::Status s = stub_->Submit(Context().get(), File("file.read", {{"path", "../../etc/passwd"}}),
                                 &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("parameters.path", 0), 0u) << s.error_message();
}

TEST_F(KindsTest, ALongCopyReportsProgressOnTheStream) {
  {
    std::ofstream big(root_ + "/big.bin", std::ios::binary);
    const std::string mib(1 << 20, 'm');
    for (int i = 0; i < 40; ++i) big << mib;
  }
  v1::WatchCompletionsRequest w;
  w.set_include_progress(true);
  auto context = Context("test-client", std::chrono::seconds(120));
  auto reader = stub_->WatchCompletions(context.get(), w);
  const v1::Operation op =
      Submit(File("file.copy", {{"source", "big.bin"}, {"destination", "copy.bin"}}));
  std::vector<v1::Progress> progress;
  v1::Notification n;
  while (reader->Read(&n)) {
    if (n.has_progress()) {
      EXPECT_EQ(n.progress().operation_id(), op.id());
      progress.push_back(n.progress());
    }
    if (n.has_completion()) {
      EXPECT_EQ(n.completion().operation_id(), op.id());
      EXPECT_EQ(n.completion().bytes_transferred(), 40u << 20);
      break;
    }
  }
  context->TryCancel();
  while (reader->Read(&n)) {
  }
  (void)reader->Finish();
  ASSERT_GE(progress.size(), 2u);
  for (std::size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GT(progress[i].bytes_done(), progress[i - 1].bytes_done());
  }
  EXPECT_EQ(progress.back().bytes_total(), 40u << 20);
}

TEST_F(KindsTest, AllowlistedProgramsRunAndAreKilledWhenCancelled) {
  // A Windows program writing in text mode ends its lines with \r\n: the
  // output is the bytes it wrote.
  const std::string newline = ServerIsWindows() ? "\r\n" : "\n";
  v1::Operation ok = WaitDone(Submit(Shell(ServerIsWindows() ? "echo hello" : "echo hello; exit 0")).id());
  EXPECT_EQ(ok.completion().status().code(), kSOk) << ok.completion().message();
  EXPECT_EQ(ok.completion().result(), "hello" + newline);
  EXPECT_EQ(ok.completion().message(), "exited with code 0");

  v1::Operation bad = WaitDone(Submit(Shell("exit 3")).id());
  EXPECT_EQ(bad.completion().status().name(), "E_FAIL");
  EXPECT_EQ(bad.completion().message(), "exited with code 3");

  // Runs until killed: cmd.exe's endless counting loop (FOR /L with a
  // step of 0), or sleep.
  const v1::Operation long_running =
      Submit(Shell(ServerIsWindows() ? "for /l %i in (1,0,2) do rem" : "exec sleep 3600"));
  WaitForState(long_running.id(), v1::OPERATION_STATE_RUNNING);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(long_running.id());
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(stub_->CancelOperation(Context().get(), cancel, &cancelled).ok());
  EXPECT_EQ(WaitDone(long_running.id()).completion().status().code(), kCancelled);

  v1::SubmitRequest other = Shell("true");
  (*other.mutable_parameters())["program"].set_string_value(
      ServerIsWindows() ? "C:\\windows\\system32\\CMD.exe" : "/bin/bash");
  v1::SubmitResponse refused;
  grpc::Status s = stub_->Submit(Context().get(), other, &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("parameters.program", 0), 0u) << s.error_message();
}

// Wine starts a Linux program from CreateProcessW, but hands back a process
// handle nothing can wait on (WAIT_FAILED, ERROR_INVALID_HANDLE). The wait
// loop once spun on it for ever, a thread at 40 % CPU; the operation now
// completes, saying so.
TEST_F(KindsTest, AProgramTheServerCannotWaitForEndsItsOperation) {
  if (!ServerIsWindows()) GTEST_SKIP() << "Wine's CreateProcessW of a Linux program";
  v1::SubmitRequest r;
  r.set_queue_id(kLongFunction);
  r.set_kind("exec");
  (*r.mutable_parameters())["program"].set_string_value(ServerPath("/bin/true"));
  v1::Operation done = WaitDone(Submit(r).id());
  EXPECT_EQ(done.completion().status().name(), "E_HANDLE") << done.completion().message();
  EXPECT_NE(done.completion().message().find("cannot wait for it"), std::string::npos)
      << done.completion().message();
}

TEST_F(KindsTest, AServerWhoseRootDoesNotExistRefusesToStartAndSaysWhy) {
  std::string error;
  TempDir other;
  auto broken = ServerProcess::Start(other.path() + "/data",
                                     {"--file-root", ServerPath("/no/such/folder")}, &error);
  EXPECT_EQ(broken, nullptr);
  EXPECT_NE(error.find("file_root"), std::string::npos) << error;
  EXPECT_NE(error.find(ServerPath("/no/such/folder")), std::string::npos) << error;
}

TEST_F(KindsTest, PathsOfTheServersOwnSystemAreRequired) {
  // A Windows server is given Windows paths; "/tmp/x" there has no drive,
  // and would mean a different folder for each current drive.
  std::string error;
  TempDir other;
  const std::string foreign = ServerIsWindows() ? other.path() : "C:\\media";
  auto broken = ServerProcess::Start(other.path() + "/data", {"--file-root", foreign}, &error);
  EXPECT_EQ(broken, nullptr);
  EXPECT_NE(error.find("--file-root: \"" + foreign + "\""), std::string::npos) << error;
  EXPECT_NE(error.find(ServerIsWindows() ? "has no drive" : "is not a full path"),
            std::string::npos)
      << error;
}

// What a file kind says of `path` at submission, as "CODE message".
std::string Refusal(v1::WorkQueues::Stub& stub, const v1::SubmitRequest& request) {
  v1::SubmitResponse response;
  grpc::Status s = stub.Submit(Context().get(), request, &response);
  return std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message();
}

TEST_F(KindsTest, WindowsPathTricksCannotLeaveTheRoot) {
  if (!ServerIsWindows()) GTEST_SKIP() << "Windows paths: for a Windows server";
  {
    std::filesystem::create_directories(root_ + "/in");
    std::ofstream(root_ + "/in/Long File Name.txt") << "inside";
    std::filesystem::create_directories(dir_.path() + "/outside");
    std::ofstream(dir_.path() + "/outside/secret.txt") << "secret";
  }
  const std::string root = ServerPath(root_);
  const std::string invalid = std::to_string(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  struct Trick {
    std::string path, reason;
  };
  const std::vector<Trick> tricks = {
      {"..\\outside\\secret.txt", "outside the root folders"},
      {"in\\..\\..\\outside\\secret.txt", "outside the root folders"},
      {"in/../..\\outside/secret.txt", "outside the root folders"},
      {ServerPath(dir_.path() + "/outside/secret.txt"), "outside the root folders"},
      {"Z:outside\\secret.txt", "relative to the current folder of drive Z:"},
      {"\\tmp\\x", "has no drive"},
      {"\\\\?\\" + root + "\\..\\outside\\secret.txt", "device or verbatim path"},
      {"\\\\.\\" + root + "\\in", "device or verbatim path"},
      {"\\\\localhost\\share\\secret.txt", "outside the root folders"},
      {"in\\Long File Name.txt::$DATA", "alternate data stream"},
      {"in\\Long File Name.txt:hidden", "alternate data stream"},
      {"CON", "reserved device name"},
      {"in\\nul.txt", "reserved device name"},
      {"in\\.. \\..\\outside\\secret.txt", "ends in a dot or a space"},
      {"in\\x.", "ends in a dot or a space"},
  };
  for (const Trick& trick : tricks) {
    const std::string said = Refusal(*stub_, File("file.read", {{"path", trick.path}}));
    EXPECT_EQ(said.rfind(invalid + " parameters.path: ", 0), 0u) << trick.path << ": " << said;
    EXPECT_NE(said.find(trick.reason), std::string::npos) << trick.path << ": " << said;
  }

  // The root in another case is inside (8.3 short names: server_core_test).
  std::string upper = root;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string other_case = upper + "\\IN\\long file name.TXT";
  v1::Operation r = WaitDone(Submit(File("file.read", {{"path", other_case}})).id());
  EXPECT_EQ(r.completion().status().code(), kSOk) << other_case << ": " << r.completion().message();
  EXPECT_EQ(r.completion().result(), "inside");

  // A link inside the root to a folder outside it (made on this side: a
  // Unix symbolic link, which Wine shows as a link) is found out when the
  // file is opened.
  std::filesystem::create_directory_symlink(dir_.path() + "/outside", root_ + "/link");
  v1::Operation linked = WaitDone(Submit(File("file.read", {{"path", "link\\secret.txt"}})).id());
  EXPECT_EQ(linked.completion().status().name(), "E_ACCESSDENIED") << linked.completion().message();
  EXPECT_NE(linked.completion().message().find("outside the root folders"), std::string::npos)
      << linked.completion().message();
  EXPECT_EQ(linked.completion().result(), "");

  // Writing through it makes nothing outside: no file, and no folders for
  // create_dirs; nor through a link to a file that does not exist yet.
  std::filesystem::create_symlink(dir_.path() + "/outside/made.txt", root_ + "/dangling.txt");
  for (const auto& [target, create_dirs] :
       std::vector<std::pair<std::string, bool>>{{"link\\new.txt", false},
                                                 {"link\\sub\\new.txt", true},
                                                 {"dangling.txt", false}}) {
    v1::SubmitRequest write = File("file.write", {{"path", target}});
    (*write.mutable_parameters())["data"].set_bytes_value("x");
    (*write.mutable_parameters())["create_dirs"].set_bool_value(create_dirs);
    v1::Operation w = WaitDone(Submit(write).id());
    EXPECT_EQ(w.completion().status().name(), "E_ACCESSDENIED")
        << target << ": " << w.completion().message();
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/outside/new.txt"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/outside/sub"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/outside/made.txt"));
}

}  // namespace
}  // namespace mfwq::test
