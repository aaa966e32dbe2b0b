// A regular file opened for the file kinds, on the system's own API: Win32
// (CreateFileW, ReadFile, WriteFile) on Windows, POSIX file descriptors
// elsewhere. Failures come back as an IoStatus: the HRESULT the operation
// completes with and a message naming the file as the client gave it.
//
// Thread-safety: a File is used by one thread at a time.
#ifndef MFWQ_SERVER_CORE_FILE_IO_H_
#define MFWQ_SERVER_CORE_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include <mfwq/mfapi.h>

namespace mfwq::server {

struct IoStatus {
  HRESULT hr = S_OK;
  std::string message;
  bool ok() const { return SUCCEEDED(hr); }
};

// Which file a handle is open on (not which path): equal for two handles
// on the same file.
struct FileId {
  std::uint64_t device = 0;
  std::uint64_t index = 0;
  bool operator==(const FileId&) const = default;
};

class File {
 public:
  enum class Mode {
    kRead,       // an existing regular file
    kWrite,      // a regular file, created if missing; its content is kept (see Truncate)
    kCreateNew,  // a regular file that must not exist yet: ERROR_FILE_EXISTS if it does
  };

  File() = default;
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { Close(); }

  // Opens `path`; `shown` names it in messages. A missing file (or folder on
  // the way) gives HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) "no such file:
  // <shown>"; anything but a regular file (a folder, a device, a pipe) gives
  // E_ACCESSDENIED. On POSIX a symbolic link as the last component is not
  // followed (ERROR_CANT_RESOLVE_FILENAME): callers open resolved paths.
  static IoStatus Open(const std::filesystem::path& path, const std::string& shown, Mode mode,
                       File* file);

  bool is_open() const;
  void Close();

  IoStatus Size(std::uint64_t* size);
  // Moves the position to `offset` from the start.
  IoStatus Seek(std::uint64_t offset);
  IoStatus SeekToEnd();
  // Sets the size (and the position) to zero.
  IoStatus Truncate();
  // Reads up to `size` bytes at the position; *got is 0 at the end.
  IoStatus Read(char* buffer, std::size_t size, std::size_t* got);
  // Writes all `size` bytes at the position.
  IoStatus Write(const char* data, std::size_t size);

  // The path the system reports for the open file: symbolic links and
  // junctions resolved, in the form CanonicalFolder gives. On POSIX systems
  // other than Linux, which offer no such query, it is left empty (and S_OK).
  IoStatus FinalPath(std::filesystem::path* path);
  IoStatus Id(FileId* id);

 private:
  IoStatus Failure(const char* what) const;

  std::string shown_;
#if defined(_WIN32)
  HANDLE handle_ = INVALID_HANDLE_VALUE;
#else
  int fd_ = -1;
#endif
};

// Removes the file at `path`, if there is one.
void RemoveFileQuietly(const std::filesystem::path& path);

// The canonical form of the existing folder `path`, as File::FinalPath
// reports files inside it.
IoStatus CanonicalFolder(const std::filesystem::path& path, const std::string& shown,
                         std::filesystem::path* canonical);

// Whether `path` is `folder` or inside it, comparing whole components
// (case-insensitively on Windows). Both absolute and lexically normal.
bool PathIsWithin(const std::filesystem::path& path, const std::filesystem::path& folder);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_FILE_IO_H_
