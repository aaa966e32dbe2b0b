// The file kinds, run through real Media Foundation work queues (the
// portable engine here, Wine's mfplat in the Windows build) on a real
// folder: the bytes they read, write, copy and hash, their confinement to
// the root folders, their failures as HRESULTs, progress and cancellation.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "file_kinds.h"
#include "operation.h"
#include "operation_kind.h"
#include "os_error.h"
#include "sha256.h"
#include "kind_recorder.h"
#include "test_support.h"

namespace mfwq::server {
namespace {

namespace fs = std::filesystem;
using test::Gate;

constexpr HRESULT kFileNotFound = static_cast<HRESULT>(0x80070002);
constexpr HRESULT kFileExists = static_cast<HRESULT>(0x80070050);
constexpr HRESULT kFileTooLarge = static_cast<HRESULT>(0x800700DF);

std::string Utf8(const fs::path& path) {
  const std::u8string u8 = path.u8string();
  return std::string(u8.begin(), u8.end());
}

void WriteFile(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// 40 bytes, all different: ten chunks of 4, five progress steps of 8.
std::string FortyBytes() {
  std::string bytes;
  for (int i = 0; i < 40; ++i) bytes.push_back(static_cast<char>(200 + i));
  return bytes;
}

// A symbolic link at `link` to `target`, or why there cannot be one here.
std::error_code MakeSymlink(const fs::path& target, const fs::path& link, bool folder) {
#if defined(_WIN32)
  const DWORD flags =
      (folder ? SYMBOLIC_LINK_FLAG_DIRECTORY : 0) | SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE;
  if (CreateSymbolicLinkW(link.c_str(), target.c_str(), flags)) return {};
  return std::error_code(static_cast<int>(GetLastError()), std::system_category());
#else
  std::error_code error;
  if (folder) {
    fs::create_directory_symlink(target, link, error);
  } else {
    fs::create_symlink(target, link, error);
  }
  return error;
#endif
}

// Holds in the first progress report.
KindRecorder::HoldWhen HoldAtFirstProgress() {
  return [](const ProgressReport&, std::size_t count) { return count == 1; };
}

using Recorder = KindRecorder;

struct Ran {
  ComPtr<Operation> op;
  std::shared_ptr<Recorder> recorder;
};

class FileKinds : public test::PlatformTest {
 protected:
  void SetUp() override {
    test::PlatformTest::SetUp();
    base_ = fs::temp_directory_path() /
            ("mfwq-file-kinds-" + std::to_string(std::random_device{}()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    root_ = base_ / "root";
    outside_ = base_ / "outside";
    fs::create_directories(root_);
    fs::create_directories(outside_);
    FileKindsOptions options;
    options.roots = {Utf8(root_)};
    options.chunk_bytes = 4;
    options.progress_every_bytes = 8;
    Status registered = RegisterFileKinds(registry_, options);
    ASSERT_TRUE(registered.ok()) << registered.message();
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(base_, ignored);
    test::PlatformTest::TearDown();
  }

  // What submission says of `parameters` for `kind`: validation, then Check.
  Status Submit(const std::string& kind, Parameters parameters,
                const KindRegistry* registry = nullptr) {
    std::shared_ptr<const OperationKind> k = (registry ? *registry : registry_).Find(kind);
    if (k == nullptr) return NotFound(kind);
    if (Status s = ValidateParameters(k->info(), &parameters); !s.ok()) return s;
    return k->Check(parameters);
  }

  // Submits an operation of `kind` and puts it on the long-function queue.
  Ran Start(const std::string& kind, Parameters parameters,
            std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>(),
            const KindRegistry* registry = nullptr) {
    std::shared_ptr<const OperationKind> k = (registry ? *registry : registry_).Find(kind);
    EXPECT_NE(k, nullptr) << kind;
    if (k == nullptr) return {};
    Status valid = ValidateParameters(k->info(), &parameters);
    EXPECT_TRUE(valid.ok()) << valid.message();
    Status checked = k->Check(parameters);
    EXPECT_TRUE(checked.ok()) << checked.message();
    const DWORD queue = MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION;
    auto callback = KindCallback::Create(k, queue);
    Ran run{Operation::Create({OperationNumber(1), kind, queue, 0, std::move(parameters), ""}, callback.get(),
                              recorder),
            recorder};
    EXPECT_EQ(MFPutWorkItemEx(queue, run.op.get()), S_OK);
    return run;
  }

  // Start, then waits for the completion.
  Ran Finish(const std::string& kind, Parameters parameters,
             const KindRegistry* registry = nullptr) {
    Ran run = Start(kind, std::move(parameters), std::make_shared<Recorder>(), registry);
    if (run.op) {
      EXPECT_TRUE(run.recorder->completed.Wait()) << kind << " never completed";
    }
    return run;
  }

  static Value Str(const std::string& s) { return Value(s); }

  KindRegistry registry_;
  fs::path base_, root_, outside_;
};

TEST_F(FileKinds, KindsAreListedAndDescribeTheirRoots) {
  std::vector<std::string> names;
  for (const KindInfo* info : registry_.List()) {
    names.push_back(info->name);
    EXPECT_NE(info->description.find("Root folders: " + Utf8(root_.lexically_normal())),
              std::string::npos)
        << info->description;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"file.copy", "file.hash", "file.read", "file.write"}));
  for (const char* kind : {"file.copy", "file.hash"}) {
    EXPECT_TRUE(registry_.Find(kind)->info().cancellable_while_running) << kind;
    EXPECT_TRUE(registry_.Find(kind)->info().reports_progress) << kind;
  }
  EXPECT_EQ(RegisterFileKinds(registry_, {{Utf8(root_)}}).code(), StatusCode::kAlreadyExists);
}

TEST_F(FileKinds, RegistrationRefusesBadOptions) {
  WriteFile(root_ / "plain.txt", "x");
  KindRegistry registry;
  Status s = RegisterFileKinds(registry, {{"relative/folder"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("is not a full path"), std::string::npos) << s.message();
  s = RegisterFileKinds(registry, {{Utf8(base_ / "missing")}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("no such file"), std::string::npos) << s.message();
  s = RegisterFileKinds(registry, {{Utf8(root_ / "plain.txt")}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("not a folder"), std::string::npos) << s.message();
  FileKindsOptions no_chunks{{Utf8(root_)}};
  no_chunks.chunk_bytes = 0;
  EXPECT_EQ(RegisterFileKinds(registry, no_chunks).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry.List().empty());
}

TEST_F(FileKinds, WriteThenReadGiveTheExactBytes) {
  const std::string data("bin\0ary\xff\n", 9);
  Ran write = Finish("file.write", {{"path", Str("data.bin")}, {"data", Value(Bytes{data})}});
  EXPECT_EQ(write.recorder->status, S_OK) << write.op->message();
  EXPECT_EQ(write.recorder->bytes, 9u);
  EXPECT_EQ(ReadFile(root_ / "data.bin"), data);

  Ran read = Finish("file.read", {{"path", Str(Utf8(root_ / "data.bin"))}});
  EXPECT_EQ(read.recorder->status, S_OK) << read.op->message();
  EXPECT_EQ(read.recorder->bytes, 9u);
  EXPECT_EQ(read.op->bytes_transferred(), 9u);
  EXPECT_EQ(read.op->result(), data);
}

TEST_F(FileKinds, ReadTakesOffsetAndLength) {
  WriteFile(root_ / "digits.txt", "0123456789");
  Ran middle = Finish("file.read", {{"path", Str("digits.txt")},
                                    {"offset", Value(std::int64_t{3})},
                                    {"length", Value(std::int64_t{4})}});
  EXPECT_EQ(middle.recorder->status, S_OK) << middle.op->message();
  EXPECT_EQ(middle.op->result(), "3456");
  EXPECT_EQ(middle.recorder->bytes, 4u);

  Ran tail = Finish("file.read", {{"path", Str("digits.txt")},
                                  {"offset", Value(std::int64_t{8})},
                                  {"length", Value(std::int64_t{100})}});
  EXPECT_EQ(tail.op->result(), "89");
  EXPECT_EQ(tail.recorder->bytes, 2u);

  Ran past =
      Finish("file.read", {{"path", Str("digits.txt")}, {"offset", Value(std::int64_t{20})}});
  EXPECT_EQ(past.recorder->status, S_OK);
  EXPECT_EQ(past.op->result(), "");
  EXPECT_EQ(past.recorder->bytes, 0u);

  Status s =
      Submit("file.read", {{"path", Str("digits.txt")}, {"offset", Value(std::int64_t{-1})}});
  EXPECT_EQ(s.message(), "parameters.offset: negative");
  s = Submit("file.read", {{"path", Str("digits.txt")}, {"length", Value(std::int64_t{-2})}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("parameters.length: ", 0), 0u) << s.message();
}

// A result holds at most 1 MiB: more is refused, never cut silently.
TEST_F(FileKinds, ReadOfMoreThanAResultHoldsIsRefused) {
  WriteFile(root_ / "big.bin", std::string((1 << 20) + 1, 'b'));
  Ran whole = Finish("file.read", {{"path", Str("big.bin")}});
  EXPECT_EQ(whole.recorder->status, kFileTooLarge);
  EXPECT_NE(whole.op->message().find("1048577 bytes"), std::string::npos) << whole.op->message();
  EXPECT_EQ(whole.op->result(), "");

  Ran part =
      Finish("file.read", {{"path", Str("big.bin")}, {"length", Value(std::int64_t{1 << 20})}});
  EXPECT_EQ(part.recorder->status, S_OK) << part.op->message();
  EXPECT_EQ(part.op->result(), std::string(1 << 20, 'b'));
  EXPECT_EQ(part.recorder->bytes, 1u << 20);

  Status s = Submit("file.read",
                    {{"path", Str("big.bin")}, {"length", Value(std::int64_t{(1 << 20) + 1})}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("parameters.length: more than 1 MiB", 0), 0u) << s.message();
}

TEST_F(FileKinds, WriteReplacesOrAppends) {
  WriteFile(root_ / "log.txt", "abc");
  Ran append =
      Finish("file.write",
             {{"path", Str("log.txt")}, {"data", Value(Bytes{"def"})}, {"append", Value(true)}});
  EXPECT_EQ(append.recorder->status, S_OK) << append.op->message();
  EXPECT_EQ(ReadFile(root_ / "log.txt"), "abcdef");
  Ran replace = Finish("file.write", {{"path", Str("log.txt")}, {"data", Value(Bytes{"x"})}});
  EXPECT_EQ(replace.recorder->status, S_OK) << replace.op->message();
  EXPECT_EQ(ReadFile(root_ / "log.txt"), "x");
}

TEST_F(FileKinds, WriteCreatesMissingFoldersOnlyWhenAsked) {
  Ran refused =
      Finish("file.write", {{"path", Str("new/folder/f.txt")}, {"data", Value(Bytes{"1"})}});
  EXPECT_EQ(refused.recorder->status, kFileNotFound);
  EXPECT_EQ(refused.op->message(), "no such file: new/folder/f.txt");
  Ran created = Finish("file.write", {{"path", Str("new/folder/f.txt")},
                                      {"data", Value(Bytes{"1"})},
                                      {"create_dirs", Value(true)}});
  EXPECT_EQ(created.recorder->status, S_OK) << created.op->message();
  EXPECT_EQ(ReadFile(root_ / "new" / "folder" / "f.txt"), "1");
}

TEST_F(FileKinds, MissingFileFailsWithFileNotFound) {
  for (const char* kind : {"file.read", "file.hash"}) {
    Ran run = Finish(kind, {{"path", Str("missing.txt")}});
    EXPECT_EQ(run.recorder->status, kFileNotFound) << kind;
    EXPECT_EQ(run.op->message(), "no such file: missing.txt") << kind;
  }
  Ran copy =
      Finish("file.copy", {{"source", Str("missing.txt")}, {"destination", Str("copy.txt")}});
  EXPECT_EQ(copy.recorder->status, kFileNotFound);
  EXPECT_EQ(copy.op->message(), "no such file: missing.txt");
  EXPECT_FALSE(fs::exists(root_ / "copy.txt"));
}

TEST_F(FileKinds, AFolderIsNotAFile) {
  fs::create_directories(root_ / "folder");
  Ran run = Finish("file.read", {{"path", Str("folder")}});
  EXPECT_EQ(run.recorder->status, E_ACCESSDENIED) << run.op->message();
}

TEST_F(FileKinds, PathsOutsideTheRootsAreRefusedAtSubmission) {
  WriteFile(outside_ / "secret.txt", "secret");
  const std::string outside_file = Utf8(outside_ / "secret.txt");
  for (const std::string& path : {std::string("../outside/secret.txt"), outside_file,
                                  std::string("sub/../../outside/secret.txt"), std::string("..")}) {
    Status s = Submit("file.read", {{"path", Str(path)}});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(s.message(), "parameters.path: \"" + path + "\" is outside the root folders");
  }
  EXPECT_EQ(Submit("file.read", {{"path", Str("")}}).message(), "parameters.path: empty");
  EXPECT_EQ(Submit("file.read", {{"path", Str("bad\xff.txt")}}).message(),
            "parameters.path: not UTF-8");
  EXPECT_EQ(Submit("file.read", {{"path", Str(std::string("a\0b", 3))}}).message(),
            "parameters.path: contains a NUL character");
  EXPECT_EQ(Submit("file.copy", {{"source", Str("a.txt")}, {"destination", Str(outside_file)}})
                .message()
                .rfind("parameters.destination: ", 0),
            0u);
  EXPECT_EQ(Submit("file.copy", {{"source", Str(outside_file)}, {"destination", Str("a.txt")}})
                .message()
                .rfind("parameters.source: ", 0),
            0u);
  for (const std::string& same : {std::string("./sub/../a.txt"), Utf8(root_ / "a.txt")}) {
    EXPECT_EQ(Submit("file.copy", {{"source", Str("a.txt")}, {"destination", Str(same)}}).message(),
              "parameters.destination: the same file as parameters.source");
  }
  // Inside, however spelled.
  EXPECT_TRUE(Submit("file.write", {{"path", Str("sub/../a.txt")}}).ok());
  EXPECT_TRUE(Submit("file.write", {{"path", Str(Utf8(root_ / "deep" / "a.txt"))}}).ok());
}

// A link made inside a root that leads out passes submission (it is only a
// name there) and is refused when the operation runs.
TEST_F(FileKinds, LinksOutOfTheRootsAreRefusedWhenRunning) {
  WriteFile(outside_ / "secret.txt", "secret");
  WriteFile(root_ / "data.txt", "data");
  if (std::error_code e = MakeSymlink(outside_, root_ / "out", true); e) {
    GTEST_SKIP() << "cannot make symbolic links here: " << e.message();
  }
  if (!fs::exists(root_ / "out" / "secret.txt")) {
    MFWQ_SKIP_ON_WINE("CreateSymbolicLinkW reports success but makes no link");
  }
  ASSERT_TRUE(fs::exists(root_ / "out" / "secret.txt"));
  ASSERT_FALSE(MakeSymlink(outside_ / "secret.txt", root_ / "secret.txt", false));
  ASSERT_FALSE(MakeSymlink(root_ / "data.txt", root_ / "alias.txt", false));

  for (const char* path : {"out/secret.txt", "secret.txt"}) {
    ASSERT_TRUE(Submit("file.read", {{"path", Str(path)}}).ok()) << path;
    for (const char* kind : {"file.read", "file.hash"}) {
      Ran run = Finish(kind, {{"path", Str(path)}});
      EXPECT_EQ(run.recorder->status, E_ACCESSDENIED) << kind << " " << path;
      EXPECT_EQ(run.op->message(), std::string("outside the root folders: ") + path);
      EXPECT_EQ(run.op->result(), "");
    }
  }
  Ran write = Finish("file.write", {{"path", Str("out/new.txt")}, {"data", Value(Bytes{"x"})}});
  EXPECT_EQ(write.recorder->status, E_ACCESSDENIED) << write.op->message();
  EXPECT_FALSE(fs::exists(outside_ / "new.txt"));
  Ran overwrite = Finish("file.write", {{"path", Str("secret.txt")}, {"data", Value(Bytes{"x"})}});
  EXPECT_EQ(overwrite.recorder->status, E_ACCESSDENIED) << overwrite.op->message();
  Ran copy =
      Finish("file.copy", {{"source", Str("data.txt")}, {"destination", Str("out/copy.txt")}});
  EXPECT_EQ(copy.recorder->status, E_ACCESSDENIED) << copy.op->message();
  EXPECT_FALSE(fs::exists(outside_ / "copy.txt"));
  EXPECT_EQ(ReadFile(outside_ / "secret.txt"), "secret");

  // A link that stays inside is followed.
  Ran alias = Finish("file.read", {{"path", Str("alias.txt")}});
  EXPECT_EQ(alias.recorder->status, S_OK) << alias.op->message();
  EXPECT_EQ(alias.op->result(), "data");
}

#if defined(_WIN32)
// A junction (a mount point reparse point) at `link` to the folder `target`,
// or why there cannot be one here.
std::error_code MakeJunction(const fs::path& target, const fs::path& link) {
  std::error_code error;
  fs::create_directory(link, error);
  if (error) return error;
  HANDLE folder = CreateFileW(link.c_str(), GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                              FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
  if (folder == INVALID_HANDLE_VALUE) {
    return std::error_code(static_cast<int>(GetLastError()), std::system_category());
  }
  // REPARSE_DATA_BUFFER's MountPointReparseBuffer, laid out by hand (the
  // struct is in the DDK's headers only).
  const std::wstring substitute = L"\\??\\" + target.wstring();
  const std::wstring print = target.wstring();
  const std::size_t names = (substitute.size() + 1 + print.size() + 1) * sizeof(wchar_t);
  std::vector<char> buffer(8 + 8 + names);
  auto put16 = [&](std::size_t at, std::size_t v) {
    buffer[at] = static_cast<char>(v & 0xFF);
    buffer[at + 1] = static_cast<char>(v >> 8 & 0xFF);
  };
  const DWORD tag = IO_REPARSE_TAG_MOUNT_POINT;
  std::memcpy(buffer.data(), &tag, 4);
  put16(4, 8 + names);                                  // ReparseDataLength
  put16(8, 0);                                          // SubstituteNameOffset
  put16(10, substitute.size() * sizeof(wchar_t));       // SubstituteNameLength
  put16(12, (substitute.size() + 1) * sizeof(wchar_t)); // PrintNameOffset
  put16(14, print.size() * sizeof(wchar_t));            // PrintNameLength
  std::memcpy(buffer.data() + 16, substitute.c_str(), (substitute.size() + 1) * sizeof(wchar_t));
  std::memcpy(buffer.data() + 16 + (substitute.size() + 1) * sizeof(wchar_t), print.c_str(),
              (print.size() + 1) * sizeof(wchar_t));
  DWORD returned = 0;
  const BOOL set = DeviceIoControl(folder, FSCTL_SET_REPARSE_POINT, buffer.data(),
                                   static_cast<DWORD>(buffer.size()), nullptr, 0, &returned,
                                   nullptr);
  const DWORD set_error = GetLastError();
  CloseHandle(folder);
  if (!set) return std::error_code(static_cast<int>(set_error), std::system_category());
  return {};
}

TEST_F(FileKinds, ShortNamesAndOtherCasesOfTheRootStayInside) {
  WriteFile(root_ / "A Long File Name.txt", "inside");
  WriteFile(outside_ / "A Long Secret Name.txt", "secret");
  std::wstring shortened(MAX_PATH, L'\0');
  const DWORD n = GetShortPathNameW((root_ / "A Long File Name.txt").c_str(), shortened.data(),
                                    static_cast<DWORD>(shortened.size()));
  ASSERT_GT(n, 0u) << "GetShortPathNameW: " << GetLastError();
  shortened.resize(n);
  const fs::path short_path(shortened);
  ASSERT_NE(short_path.filename().wstring(), L"A Long File Name.txt");  // a name of 8.3 form
  std::string upper = Utf8(root_ / short_path.filename());
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& path : {Utf8(short_path.filename()), upper}) {
    ASSERT_TRUE(Submit("file.read", {{"path", Str(path)}}).ok()) << path;
    Ran read = Finish("file.read", {{"path", Str(path)}});
    EXPECT_EQ(read.recorder->status, S_OK) << path << ": " << read.op->message();
    EXPECT_EQ(read.op->result(), "inside") << path;
  }
  // The short name of a file outside is outside, as text already.
  std::wstring outside_short(MAX_PATH, L'\0');
  const DWORD m = GetShortPathNameW((outside_ / "A Long Secret Name.txt").c_str(),
                                    outside_short.data(), static_cast<DWORD>(outside_short.size()));
  ASSERT_GT(m, 0u);
  outside_short.resize(m);
  const std::string escape = "..\\outside\\" + Utf8(fs::path(outside_short).filename());
  Status refused = Submit("file.read", {{"path", Str(escape)}});
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << escape;
  EXPECT_NE(refused.message().find("outside the root folders"), std::string::npos)
      << refused.message();
}

TEST_F(FileKinds, JunctionsOutOfTheRootsAreRefusedWhenRunning) {
  WriteFile(outside_ / "secret.txt", "secret");
  if (std::error_code e = MakeJunction(outside_, root_ / "junction"); e) {
    if (test::RunningOnWine()) {
      GTEST_SKIP() << "Wine: FSCTL_SET_REPARSE_POINT makes no junction: " << e.message();
    }
    FAIL() << "cannot make a junction: " << e.message();
  }
  ASSERT_TRUE(fs::exists(root_ / "junction" / "secret.txt"));
  ASSERT_TRUE(Submit("file.read", {{"path", Str("junction\\secret.txt")}}).ok());
  Ran run = Finish("file.read", {{"path", Str("junction\\secret.txt")}});
  EXPECT_EQ(run.recorder->status, E_ACCESSDENIED) << run.op->message();
  EXPECT_EQ(run.op->result(), "");
  Ran write =
      Finish("file.write", {{"path", Str("junction\\new.txt")}, {"data", Value(Bytes{"x"})}});
  EXPECT_EQ(write.recorder->status, E_ACCESSDENIED) << write.op->message();
  EXPECT_FALSE(fs::exists(outside_ / "new.txt"));
}

TEST_F(FileKinds, WindowsPathTricksAreRefusedAtSubmission) {
  WriteFile(root_ / "data.txt", "data");
  for (const std::string& path :
       {std::string("data.txt::$DATA"), std::string("data.txt:stream"), std::string("CON"),
        std::string("nul.txt"), std::string("data.txt."), std::string(".. \\outside"),
        std::string("C:data.txt"), std::string("\\data.txt"),
        "\\\\?\\" + Utf8(root_ / "data.txt"), std::string("..\\outside\\x"),
        std::string("\\\\server\\share\\x")}) {
    Status s = Submit("file.read", {{"path", Str(path)}});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(s.message().rfind("parameters.path: ", 0), 0u) << s.message();
  }
}
#endif  // _WIN32

TEST_F(FileKinds, CopyCopiesInChunksReportingProgress) {
  WriteFile(root_ / "source.bin", FortyBytes());
  Ran run = Finish("file.copy", {{"source", Str("source.bin")}, {"destination", Str("copy.bin")}});
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  EXPECT_EQ(run.recorder->bytes, 40u);
  EXPECT_EQ(ReadFile(root_ / "copy.bin"), FortyBytes());
  const std::vector<ProgressReport> reports = run.recorder->reports();
  ASSERT_EQ(reports.size(), 5u);
  for (std::size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].done, 8 * (i + 1));
    EXPECT_EQ(reports[i].total, 40u);
  }
  EXPECT_EQ(reports[0].message, "copied 8 of 40 bytes");
}

// However few bytes go by, a copy that runs reports at least every
// progress interval: here each chunk takes 300 ms on the injected clock,
// against 250, and the byte step is never reached.
TEST_F(FileKinds, ASlowCopyReportsProgressByTime) {
  WriteFile(root_ / "source.bin", FortyBytes());
  auto clock = std::make_shared<std::atomic<std::int64_t>>(0);
  FileKindsOptions options;
  options.roots = {Utf8(root_)};
  options.chunk_bytes = 4;
  options.progress_every_bytes = 1 << 20;
  options.now = [clock] {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(clock->fetch_add(300)));
  };
  KindRegistry slow;
  ASSERT_TRUE(RegisterFileKinds(slow, options).ok());
  Ran run = Finish("file.copy", {{"source", Str("source.bin")}, {"destination", Str("copy.bin")}},
                   &slow);
  EXPECT_EQ(run.recorder->status, S_OK) << run.op->message();
  const std::vector<ProgressReport> reports = run.recorder->reports();
  ASSERT_EQ(reports.size(), 10u);  // one per chunk of 4
  for (std::size_t i = 0; i < reports.size(); ++i) EXPECT_EQ(reports[i].done, 4 * (i + 1));
}

TEST_F(FileKinds, CopyReplacesAnExistingDestinationOnlyWithOverwrite) {
  WriteFile(root_ / "source.bin", FortyBytes());
  WriteFile(root_ / "copy.bin", "old");
  Ran refused =
      Finish("file.copy", {{"source", Str("source.bin")}, {"destination", Str("copy.bin")}});
  EXPECT_EQ(refused.recorder->status, kFileExists);
  EXPECT_EQ(refused.op->message(), "already exists: copy.bin");
  EXPECT_EQ(ReadFile(root_ / "copy.bin"), "old");
  Ran replaced = Finish("file.copy", {{"source", Str("source.bin")},
                                      {"destination", Str("copy.bin")},
                                      {"overwrite", Value(true)}});
  EXPECT_EQ(replaced.recorder->status, S_OK) << replaced.op->message();
  EXPECT_EQ(ReadFile(root_ / "copy.bin"), FortyBytes());
}

// Two names of one file (a hard link) pass submission; the copy notices
// before it truncates anything.
TEST_F(FileKinds, CopyOntoItsOwnSourceFails) {
  WriteFile(root_ / "source.bin", FortyBytes());
  std::error_code error;
  fs::create_hard_link(root_ / "source.bin", root_ / "link.bin", error);
  if (error) GTEST_SKIP() << "cannot make hard links here: " << error.message();
  Ran run = Finish("file.copy", {{"source", Str("source.bin")},
                                 {"destination", Str("link.bin")},
                                 {"overwrite", Value(true)}});
  EXPECT_EQ(run.recorder->status, E_INVALIDARG);
  EXPECT_EQ(run.op->message(), "source and destination are the same file: link.bin");
  EXPECT_EQ(ReadFile(root_ / "source.bin"), FortyBytes());
}

TEST_F(FileKinds, CancelledCopyStopsAndRemovesThePartialDestination) {
  WriteFile(root_ / "source.bin", FortyBytes());
  auto recorder = std::make_shared<Recorder>(HoldAtFirstProgress());
  Ran run = Start("file.copy", {{"source", Str("source.bin")}, {"destination", Str("copy.bin")}},
                  recorder);
  ASSERT_TRUE(recorder->held.Wait());  // 8 bytes copied, the copy waits in its progress report
  run.op->RequestCancel();
  recorder->resume.Open();
  ASSERT_TRUE(recorder->completed.Wait());
  EXPECT_EQ(recorder->status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(recorder->bytes, 8u);
  EXPECT_EQ(run.op->message(), "cancelled after copying 8 of 40 bytes; copy.bin removed");
  EXPECT_EQ(recorder->reports().size(), 1u);
  EXPECT_FALSE(fs::exists(root_ / "copy.bin"));
  EXPECT_EQ(ReadFile(root_ / "source.bin"), FortyBytes());
}

TEST_F(FileKinds, HashGivesTheSha256DigestReportingProgress) {
  WriteFile(root_ / "abc.txt", "abc");
  Ran abc = Finish("file.hash", {{"path", Str("abc.txt")}});
  EXPECT_EQ(abc.recorder->status, S_OK) << abc.op->message();
  EXPECT_EQ(abc.op->message(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(abc.op->result(), DigestBytes(Sha256::Of("abc")));
  EXPECT_EQ(abc.recorder->bytes, 3u);

  WriteFile(root_ / "forty.bin", FortyBytes());
  Ran forty = Finish("file.hash", {{"path", Str("forty.bin")}});
  EXPECT_EQ(forty.recorder->status, S_OK) << forty.op->message();
  EXPECT_EQ(forty.op->result(), DigestBytes(Sha256::Of(FortyBytes())));
  EXPECT_EQ(forty.recorder->bytes, 40u);
  const std::vector<ProgressReport> reports = forty.recorder->reports();
  ASSERT_EQ(reports.size(), 5u);
  EXPECT_EQ(reports.back().done, 40u);
  EXPECT_EQ(reports.back().message, "hashed 40 of 40 bytes");

  WriteFile(root_ / "empty.bin", "");
  Ran empty = Finish("file.hash", {{"path", Str("empty.bin")}});
  EXPECT_EQ(empty.op->message(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(empty.recorder->bytes, 0u);
}

TEST_F(FileKinds, CancelledHashStops) {
  WriteFile(root_ / "forty.bin", FortyBytes());
  auto recorder = std::make_shared<Recorder>(HoldAtFirstProgress());
  Ran run = Start("file.hash", {{"path", Str("forty.bin")}}, recorder);
  ASSERT_TRUE(recorder->held.Wait());
  run.op->RequestCancel();
  recorder->resume.Open();
  ASSERT_TRUE(recorder->completed.Wait());
  EXPECT_EQ(recorder->status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(recorder->bytes, 8u);
  EXPECT_EQ(run.op->message(), "cancelled after hashing 8 of 40 bytes");
  EXPECT_EQ(run.op->result(), "");
}

TEST_F(FileKinds, RelativePathsAreInTheFirstRootAbsoluteOnesInAny) {
  const fs::path second = base_ / "second";
  fs::create_directories(second);
  KindRegistry registry;
  ASSERT_TRUE(RegisterFileKinds(registry, {{Utf8(root_), Utf8(second)}}).ok());
  Ran relative =
      Finish("file.write", {{"path", Str("r.txt")}, {"data", Value(Bytes{"r"})}}, &registry);
  EXPECT_EQ(relative.recorder->status, S_OK) << relative.op->message();
  EXPECT_EQ(ReadFile(root_ / "r.txt"), "r");
  Ran absolute =
      Finish("file.write", {{"path", Str(Utf8(second / "a.txt"))}, {"data", Value(Bytes{"a"})}},
             &registry);
  EXPECT_EQ(absolute.recorder->status, S_OK) << absolute.op->message();
  EXPECT_EQ(ReadFile(second / "a.txt"), "a");
  // Relative to the first root, and leading into the second.
  EXPECT_TRUE(Submit("file.read", {{"path", Str("../second/a.txt")}}, &registry).ok());
  EXPECT_EQ(Submit("file.read", {{"path", Str("../outside/a.txt")}}, &registry).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(FileKinds, WithoutRootsEveryPathIsRefused) {
  KindRegistry registry;
  ASSERT_TRUE(RegisterFileKinds(registry, {}).ok());
  EXPECT_NE(registry.Find("file.read")->info().description.find("No root folders"),
            std::string::npos);
  for (const std::string& path : {std::string("a.txt"), Utf8(root_ / "a.txt")}) {
    Status s = Submit("file.read", {{"path", Str(path)}}, &registry);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message(), "parameters.path: this server has no root folders for file operations");
  }
}

}  // namespace
}  // namespace mfwq::server
