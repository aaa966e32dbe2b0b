#include "file_kinds.h"
#include "client_text.h"
#include "client_text.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "file_io.h"
#include "os_error.h"
#include "path_rules.h"
#include "sha256.h"

namespace mfwq::server {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxResultBytes = 1 << 20;  // the most a completion's result holds
constexpr std::uint64_t kMaxChunkBytes = 64 << 20;

// REQUIRES: IsUtf8(utf8) (std::filesystem throws on Windows otherwise).
fs::path PathFromUtf8(const std::string& utf8) {
  return fs::path(std::u8string(utf8.begin(), utf8.end()));
}

std::string Utf8(const fs::path& path) {
  const std::u8string u8 = path.u8string();
  return std::string(u8.begin(), u8.end());
}

const std::string& StringParameter(const Operation& op, const char* name) {
  return std::get<std::string>(op.spec().parameters.at(name));
}

bool BoolParameter(const Operation& op, const char* name) {
  return std::get<bool>(op.spec().parameters.at(name));
}

// Sets `op`'s outcome to the failure `status` (nothing if it succeeded).
void Complete(Operation& op, const IoStatus& status) {
  if (status.ok()) return;
  op.SetStatus(status.hr);
  op.SetMessage(status.message);
}

// The root folders, and the confinement policy described in file_kinds.h.
class Roots {
 public:
  static Status Create(const std::vector<std::string>& configured,
                       std::shared_ptr<const Roots>* roots) {
    auto created = std::make_shared<Roots>();
    for (const std::string& root : configured) {
      const std::string name = std::string("file kinds: root \"") + root + "\"";
      if (!IsUtf8(root)) return InvalidArgument(name + " is not UTF-8");
      const fs::path path = PathFromUtf8(root);
      if (Status s = CheckPath("file kinds: root", root, true); !s.ok()) return s;
      fs::path canonical;
      if (IoStatus s = CanonicalFolder(path, root, &canonical); !s.ok()) {
        return InvalidArgument(name + ": " + s.message);
      }
      created->configured_.push_back(path.lexically_normal());
      created->canonical_.push_back(canonical.lexically_normal());
    }
    *roots = std::move(created);
    return OkStatus();
  }

  // "Root folders: /srv/a, /srv/b." for the kinds' descriptions.
  std::string Describe() const {
    if (configured_.empty()) {
      return "No root folders are configured on this server: every path is refused.";
    }
    std::string text = "Root folders: ";
    for (std::size_t i = 0; i < configured_.size(); ++i) {
      if (i > 0) text += ", ";
      text += Utf8(configured_[i]);
    }
    return text + ".";
  }

  // At submission: INVALID_ARGUMENT naming `field` unless `path`, as text,
  // is inside a root folder.
  Status Check(const std::string& field, const std::string& path) const {
    const std::string name = std::string("parameters.") + field;
    if (path.empty()) return InvalidArgument(name + ": empty");
    if (path.find('\0') != std::string::npos) {
      return InvalidArgument(name + ": contains a NUL character");
    }
    if (!IsUtf8(path)) return InvalidArgument(name + ": not UTF-8");
#if defined(_WIN32)
    if (std::string problem = WindowsPathProblem(path, false); !problem.empty()) {
      return InvalidArgument(name + ": " + problem);
    }
#endif
    if (configured_.empty()) {
      return InvalidArgument(name + ": this server has no root folders for file operations");
    }
    const fs::path absolute = Absolute(path);
    if (!Inside(absolute, configured_) && !Inside(absolute, canonical_)) {
      return InvalidArgument(name + ": " + Quoted(path, kQuotedPathBytes) +
                             " is outside the root folders");
    }
    return OkStatus();
  }

  // Whether two paths that passed Check name the same file as text.
  bool SameText(const std::string& a, const std::string& b) const {
    return Absolute(a) == Absolute(b);
  }

  // When running: the path to open for `path` (which passed Check).
  IoStatus Resolve(const std::string& path, fs::path* resolved) const {
    const fs::path absolute = Absolute(path);
#if defined(_WIN32)
    // The folders on the way that exist, their links and junctions resolved
    // (as weakly_canonical does on POSIX), must be inside: folders made for
    // create_dirs are made there, not where a link leads. What does not
    // exist yet is added as written; a link as the last component Windows
    // follows itself when opening, and Verify checks where that led.
    fs::path existing = absolute.parent_path();
    fs::path rest;
    std::error_code error;
    while (!fs::is_directory(existing, error) && existing != existing.parent_path()) {
      rest = existing.filename() / rest;
      existing = existing.parent_path();
    }
    fs::path canonical;
    if (IoStatus s = CanonicalFolder(existing, path, &canonical); !s.ok()) return s;
    if (!Inside(canonical.lexically_normal(), canonical_)) return Outside(path);
    *resolved = (canonical / rest / absolute.filename()).lexically_normal();
#else
    std::error_code error;
    *resolved = fs::weakly_canonical(absolute, error);
    if (error) {
      const OsError os = ErrorCodeError(error);
      return {os.hr, std::string("cannot resolve ") + path + ": " + os.text};
    }
    if (!Inside(*resolved, canonical_)) return Outside(path);
#endif
    return {};
  }

  // When running, once `file` is open: E_ACCESSDENIED unless it really is
  // inside a root folder.
  IoStatus Verify(File& file, const std::string& path) const {
    fs::path final_path;
    if (IoStatus s = file.FinalPath(&final_path); !s.ok()) return s;
    if (final_path.empty()) return {};  // the system cannot tell; Resolve checked
    if (!Inside(final_path.lexically_normal(), canonical_)) return Outside(path);
    return {};
  }

 private:
  static IoStatus Outside(const std::string& path) {
    return {E_ACCESSDENIED, std::string("outside the root folders: ") + path};
  }
  static bool Inside(const fs::path& path, const std::vector<fs::path>& folders) {
    return std::any_of(folders.begin(), folders.end(),
                       [&](const fs::path& folder) { return PathIsWithin(path, folder); });
  }
  // REQUIRES: !configured_.empty().
  fs::path Absolute(const std::string& path) const {
    fs::path p = PathFromUtf8(path);
    if (!p.is_absolute()) p = configured_.front() / p;
    return p.lexically_normal();
  }

  std::vector<fs::path> configured_;  // absolute, lexically normal
  std::vector<fs::path> canonical_;   // as File::FinalPath reports files inside
};

// Opens the file `path` names (after Check), inside the root folders.
IoStatus OpenConfined(const Roots& roots, const std::string& path, File::Mode mode,
                      bool create_dirs, File* file, fs::path* resolved) {
  if (IoStatus s = roots.Resolve(path, resolved); !s.ok()) return s;
  if (create_dirs) {
    std::error_code error;
    fs::create_directories(resolved->parent_path(), error);
    if (error) {
      const OsError os = ErrorCodeError(error);
      return {os.hr, std::string("cannot create the folders of ") + path + ": " + os.text};
    }
  }
  // Whether there is a file there now (a link to none, not), to tell
  // whether the open made it (kCreateNew always does). OPEN_ALWAYS's
  // ERROR_ALREADY_EXISTS does not tell: Wine reports it for a link to a
  // file that does not exist.
  std::error_code ignored;
  const bool existed = mode != File::Mode::kCreateNew && fs::exists(*resolved, ignored);
  if (IoStatus s = File::Open(*resolved, path, mode, file); !s.ok()) return s;
  if (IoStatus s = roots.Verify(*file, path); !s.ok()) {
    // Made by this open, outside the roots (through a link as the last
    // component, or one swapped in meanwhile): removed again.
    fs::path made;
    if (!existed) {
      if (!file->FinalPath(&made).ok() || made.empty()) made = *resolved;
    }
    file->Close();
    if (!made.empty()) RemoveFileQuietly(made);
    return s;
  }
  return {};
}

// Reads `in` to its end in chunks, handing each to `sink`, reporting
// progress ("<verb> N of M bytes") and stopping early when `op` is
// cancelled.
struct PumpResult {
  IoStatus status;
  std::uint64_t done = 0;
  bool cancelled = false;
};
PumpResult Pump(Operation& op, File& in, std::uint64_t total, const FileKindsOptions& options,
                const char* verb, const std::function<IoStatus(const char*, std::size_t)>& sink) {
  PumpResult result;
  std::vector<char> buffer(options.chunk_bytes);
  using Steady = std::chrono::steady_clock;
  const auto now = [&options] { return options.now ? options.now() : Steady::now(); };
  std::uint64_t next_report = options.progress_every_bytes;
  Steady::time_point next_time = now() + options.progress_every;
  for (;;) {
    if (op.cancel_requested()) {
      result.cancelled = true;
      return result;
    }
    std::size_t got = 0;
    if (result.status = in.Read(buffer.data(), buffer.size(), &got); !result.status.ok()) {
      return result;
    }
    if (got == 0) return result;
    if (result.status = sink(buffer.data(), got); !result.status.ok()) return result;
    result.done += got;
    const Steady::time_point t = now();
    if (result.done >= next_report || t >= next_time) {
      const std::uint64_t shown_total = std::max(total, result.done);  // it may have grown
      op.ReportProgress(result.done, shown_total,
                        std::string(verb) + " " + std::to_string(result.done) + " of " +
                            std::to_string(shown_total) + " bytes");
      next_report = result.done + options.progress_every_bytes;
      next_time = t + options.progress_every;
    }
  }
}

const char kPathHelp[] =
    "a file inside one of the root folders: an absolute path, or a path relative to the first "
    "root folder (UTF-8)";

class FileKind : public OperationKind {
 public:
  FileKind(KindInfo info, std::shared_ptr<const Roots> roots, const FileKindsOptions& options)
      : info_(std::move(info)), roots_(std::move(roots)), options_(options) {
    info_.description += std::string(" ") + roots_->Describe();
  }
  const KindInfo& info() const override { return info_; }

 protected:
  Status CheckPath(const Parameters& parameters, const char* name) const {
    return roots_->Check(name, std::get<std::string>(parameters.at(name)));
  }
  const Roots& roots() const { return *roots_; }
  const FileKindsOptions& options() const { return options_; }

 private:
  KindInfo info_;
  const std::shared_ptr<const Roots> roots_;
  const FileKindsOptions options_;
};

class ReadKind final : public FileKind {
 public:
  ReadKind(std::shared_ptr<const Roots> roots, const FileKindsOptions& options)
      : FileKind({"file.read",
                  "Reads a file; the result is the bytes read (at most 1 MiB) and bytes "
                  "transferred their number. A missing file fails with "
                  "HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) (0x80070002); more than 1 MiB to the "
                  "end of the file with length -1, with HRESULT_FROM_WIN32(ERROR_FILE_TOO_LARGE) "
                  "(0x800700DF).",
                  {{"path", ValueType::kString, true, std::nullopt, kPathHelp},
                   {"offset", ValueType::kInt, false, Value(std::int64_t{0}),
                    "where to start, in bytes from the start of the file (past the end: nothing "
                    "is read)"},
                   {"length", ValueType::kInt, false, Value(std::int64_t{-1}),
                    "how many bytes to read, at most 1 MiB (fewer at the end of the file); -1: "
                    "to the end of the file, which must then be at most 1 MiB away"}},
                  false,
                  false},
                 std::move(roots), options) {}

  Status Check(const Parameters& parameters) const override {
    if (Status s = CheckPath(parameters, "path"); !s.ok()) return s;
    if (std::get<std::int64_t>(parameters.at("offset")) < 0) {
      return InvalidArgument("parameters.offset: negative");
    }
    const std::int64_t length = std::get<std::int64_t>(parameters.at("length"));
    if (length < -1) return InvalidArgument("parameters.length: negative (only -1 is allowed)");
    if (length > static_cast<std::int64_t>(kMaxResultBytes)) {
      return InvalidArgument("parameters.length: more than 1 MiB (1048576 bytes)");
    }
    return OkStatus();
  }

  void Run(Operation& op) const override {
    const std::string& path = StringParameter(op, "path");
    const auto offset =
        static_cast<std::uint64_t>(std::get<std::int64_t>(op.spec().parameters.at("offset")));
    const std::int64_t length = std::get<std::int64_t>(op.spec().parameters.at("length"));
    File file;
    fs::path resolved;
    std::uint64_t size = 0;
    if (IoStatus s = OpenConfined(roots(), path, File::Mode::kRead, false, &file, &resolved);
        !s.ok()) {
      return Complete(op, s);
    }
    if (IoStatus s = file.Size(&size); !s.ok()) return Complete(op, s);
    const std::uint64_t available = size > offset ? size - offset : 0;
    if (length < 0 && available > kMaxResultBytes) {
      return Complete(op, {HRESULT_FROM_WIN32(ERROR_FILE_TOO_LARGE),
                           path + ": " + std::to_string(available) + " bytes from offset " +
                               std::to_string(offset) +
                               ", more than a result holds (1 MiB); read it in parts with "
                               "offset and length"});
    }
    const std::uint64_t wanted =
        length < 0 ? available : std::min(static_cast<std::uint64_t>(length), available);
    std::string data(wanted, '\0');
    std::size_t done = 0;
    if (wanted > 0) {
      if (IoStatus s = file.Seek(offset); !s.ok()) return Complete(op, s);
    }
    while (done < wanted) {
      std::size_t got = 0;
      const std::size_t want = std::min<std::uint64_t>(wanted - done, options().chunk_bytes);
      if (IoStatus s = file.Read(data.data() + done, want, &got); !s.ok()) {
        op.SetBytesTransferred(done);
        return Complete(op, s);
      }
      if (got == 0) break;  // it shrank meanwhile
      done += got;
    }
    data.resize(done);
    op.SetBytesTransferred(done);
    op.SetResult(std::move(data));
  }
};

class WriteKind final : public FileKind {
 public:
  WriteKind(std::shared_ptr<const Roots> roots, const FileKindsOptions& options)
      : FileKind({"file.write",
                  "Writes \"data\" to a file, created if missing; bytes transferred is the "
                  "number of bytes written.",
                  {{"path", ValueType::kString, true, std::nullopt, kPathHelp},
                   {"data", ValueType::kBytes, false, Value(Bytes{}), "the bytes to write"},
                   {"append", ValueType::kBool, false, Value(false),
                    "add to the end of the file instead of replacing its content"},
                   {"create_dirs", ValueType::kBool, false, Value(false),
                    "create the missing folders on the way to the file"}},
                  false,
                  false},
                 std::move(roots), options) {}

  Status Check(const Parameters& parameters) const override {
    return CheckPath(parameters, "path");
  }

  void Run(Operation& op) const override {
    const std::string& path = StringParameter(op, "path");
    const std::string& data = std::get<Bytes>(op.spec().parameters.at("data")).data;
    File file;
    fs::path resolved;
    if (IoStatus s = OpenConfined(roots(), path, File::Mode::kWrite,
                                  BoolParameter(op, "create_dirs"), &file, &resolved);
        !s.ok()) {
      return Complete(op, s);
    }
    if (IoStatus s = BoolParameter(op, "append") ? file.SeekToEnd() : file.Truncate(); !s.ok()) {
      return Complete(op, s);
    }
    std::size_t done = 0;
    while (done < data.size()) {
      const std::size_t n = std::min<std::uint64_t>(data.size() - done, options().chunk_bytes);
      if (IoStatus s = file.Write(data.data() + done, n); !s.ok()) {
        op.SetBytesTransferred(done);
        return Complete(op, s);
      }
      done += n;
    }
    op.SetBytesTransferred(done);
  }
};

class CopyKind final : public FileKind {
 public:
  CopyKind(std::shared_ptr<const Roots> roots, const FileKindsOptions& options)
      : FileKind({"file.copy",
                  "Copies a file, in chunks, reporting progress (bytes copied of the source's "
                  "size, at least every 250 ms while it runs and every 16 MiB); bytes "
                  "transferred is the number of bytes copied. Cancelled while "
                  "running, it stops with MF_E_OPERATION_CANCELLED; then, and on failure, the "
                  "partial destination is removed. An existing destination without "
                  "\"overwrite\" fails with HRESULT_FROM_WIN32(ERROR_FILE_EXISTS) (0x80070050).",
                  {{"source", ValueType::kString, true, std::nullopt,
                    std::string("the file to copy: ") + kPathHelp},
                   {"destination", ValueType::kString, true, std::nullopt,
                    std::string("the copy: ") + kPathHelp},
                   {"overwrite", ValueType::kBool, false, Value(false),
                    "replace the destination if it exists"},
                   {"create_dirs", ValueType::kBool, false, Value(false),
                    "create the missing folders on the way to the destination"}},
                  true,
                  true},
                 std::move(roots), options) {}

  Status Check(const Parameters& parameters) const override {
    if (Status s = CheckPath(parameters, "source"); !s.ok()) return s;
    if (Status s = CheckPath(parameters, "destination"); !s.ok()) return s;
    if (roots().SameText(std::get<std::string>(parameters.at("source")),
                         std::get<std::string>(parameters.at("destination")))) {
      return InvalidArgument("parameters.destination: the same file as parameters.source");
    }
    return OkStatus();
  }

  void Run(Operation& op) const override {
    const std::string& source = StringParameter(op, "source");
    const std::string& destination = StringParameter(op, "destination");
    File in, out;
    fs::path source_path, destination_path;
    std::uint64_t total = 0;
    if (IoStatus s = OpenConfined(roots(), source, File::Mode::kRead, false, &in, &source_path);
        !s.ok()) {
      return Complete(op, s);
    }
    if (IoStatus s = in.Size(&total); !s.ok()) return Complete(op, s);
    const File::Mode mode =
        BoolParameter(op, "overwrite") ? File::Mode::kWrite : File::Mode::kCreateNew;
    if (IoStatus s = OpenConfined(roots(), destination, mode, BoolParameter(op, "create_dirs"),
                                  &out, &destination_path);
        !s.ok()) {
      return Complete(op, s);
    }
    // Before truncating: the destination may be the source by another name.
    FileId source_id, destination_id;
    IoStatus s = in.Id(&source_id);
    if (s.ok()) s = out.Id(&destination_id);
    if (s.ok() && source_id == destination_id) {
      return Complete(op,
                      {HRESULT_FROM_WIN32(ERROR_INVALID_PARAMETER),
                       std::string("source and destination are the same file: ") + destination});
    }
    if (s.ok()) s = out.Truncate();
    PumpResult pumped;
    if (s.ok()) {
      pumped = Pump(op, in, total, options(), "copied",
                    [&out](const char* data, std::size_t size) { return out.Write(data, size); });
      s = pumped.status;
    }
    op.SetBytesTransferred(pumped.done);
    if (s.ok() && !pumped.cancelled) return;
    out.Close();
    RemoveFileQuietly(destination_path);
    if (pumped.cancelled) {
      op.SetStatus(MF_E_OPERATION_CANCELLED);
      op.SetMessage(std::string("cancelled after copying ") + std::to_string(pumped.done) + " of " +
                    std::to_string(total) + " bytes; " + destination + " removed");
      return;
    }
    Complete(op, s);
  }
};

class HashKind final : public FileKind {
 public:
  HashKind(std::shared_ptr<const Roots> roots, const FileKindsOptions& options)
      : FileKind({"file.hash",
                  "Computes the SHA-256 digest of a file, in chunks, reporting progress (bytes "
                  "hashed of the file's size, at least every 250 ms while it runs and every 16 "
                  "MiB). The result is the digest's 32 raw bytes, the "
                  "message its 64 lowercase hex digits, bytes transferred the number of bytes "
                  "hashed. Cancelled while running, it stops with MF_E_OPERATION_CANCELLED.",
                  {{"path", ValueType::kString, true, std::nullopt, kPathHelp}},
                  true,
                  true},
                 std::move(roots), options) {}

  Status Check(const Parameters& parameters) const override {
    return CheckPath(parameters, "path");
  }

  void Run(Operation& op) const override {
    const std::string& path = StringParameter(op, "path");
    File file;
    fs::path resolved;
    std::uint64_t total = 0;
    if (IoStatus s = OpenConfined(roots(), path, File::Mode::kRead, false, &file, &resolved);
        !s.ok()) {
      return Complete(op, s);
    }
    if (IoStatus s = file.Size(&total); !s.ok()) return Complete(op, s);
    Sha256 sha;
    const PumpResult pumped =
        Pump(op, file, total, options(), "hashed", [&sha](const char* data, std::size_t size) {
          sha.Update(data, size);
          return IoStatus{};
        });
    op.SetBytesTransferred(pumped.done);
    if (pumped.cancelled) {
      op.SetStatus(MF_E_OPERATION_CANCELLED);
      op.SetMessage(std::string("cancelled after hashing ") + std::to_string(pumped.done) + " of " +
                    std::to_string(total) + " bytes");
      return;
    }
    if (!pumped.status.ok()) return Complete(op, pumped.status);
    const Sha256::Digest digest = sha.Finish();
    op.SetResult(DigestBytes(digest));
    op.SetMessage(DigestHex(digest));
  }
};

}  // namespace

Status RegisterFileKinds(KindRegistry& registry, FileKindsOptions options) {
  if (options.chunk_bytes < 1 || options.chunk_bytes > kMaxChunkBytes) {
    return InvalidArgument("file kinds: chunk_bytes must be from 1 byte to 64 MiB");
  }
  std::shared_ptr<const Roots> roots;
  if (Status s = Roots::Create(options.roots, &roots); !s.ok()) return s;
  for (std::shared_ptr<const OperationKind> kind :
       {std::shared_ptr<const OperationKind>(std::make_shared<ReadKind>(roots, options)),
        std::shared_ptr<const OperationKind>(std::make_shared<WriteKind>(roots, options)),
        std::shared_ptr<const OperationKind>(std::make_shared<CopyKind>(roots, options)),
        std::shared_ptr<const OperationKind>(std::make_shared<HashKind>(roots, options))}) {
    if (Status s = registry.Register(std::move(kind)); !s.ok()) return s;
  }
  return OkStatus();
}

}  // namespace mfwq::server
