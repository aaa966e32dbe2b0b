#include "file_io.h"

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "os_error.h"

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#endif

namespace mfwq::server {
namespace {

// The failure to open `shown`, from the system's error.
IoStatus OpenFailure(const OsError& error, const std::string& shown) {
  if (error.hr == HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) ||
      error.hr == HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)) {
    return {HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND), std::string("no such file: ") + shown};
  }
  if (error.hr == HRESULT_FROM_WIN32(ERROR_FILE_EXISTS) ||
      error.hr == HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)) {
    return {HRESULT_FROM_WIN32(ERROR_FILE_EXISTS), std::string("already exists: ") + shown};
  }
  return {error.hr, std::string("cannot open ") + shown + ": " + error.text};
}

bool SameComponent(const std::filesystem::path& a, const std::filesystem::path& b) {
#if defined(_WIN32)
  return CompareStringOrdinal(a.c_str(), -1, b.c_str(), -1, TRUE) == CSTR_EQUAL;
#else
  return a == b;
#endif
}

}  // namespace

File::File(File&& other) noexcept { *this = std::move(other); }

bool PathIsWithin(const std::filesystem::path& path, const std::filesystem::path& folder) {
  auto p = path.begin();
  for (auto f = folder.begin(); f != folder.end(); ++f) {
    if (f->empty()) continue;  // a trailing separator
    while (p != path.end() && p->empty()) ++p;
    if (p == path.end() || !SameComponent(*p, *f)) return false;
    ++p;
  }
  return true;
}

void RemoveFileQuietly(const std::filesystem::path& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
}

#if defined(_WIN32)

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    Close();
    shown_ = std::move(other.shown_);
    handle_ = std::exchange(other.handle_, INVALID_HANDLE_VALUE);
  }
  return *this;
}

bool File::is_open() const { return handle_ != INVALID_HANDLE_VALUE; }

void File::Close() {
  if (handle_ != INVALID_HANDLE_VALUE) CloseHandle(std::exchange(handle_, INVALID_HANDLE_VALUE));
}

IoStatus File::Failure(const char* what) const {
  const OsError error = LastWin32Error();
  return {error.hr, std::string(what) + " " + shown_ + ": " + error.text};
}

IoStatus File::Open(const std::filesystem::path& path, const std::string& shown, Mode mode,
                    File* file) {
  file->Close();
  file->shown_ = shown;
  const DWORD access = mode == Mode::kRead ? GENERIC_READ : GENERIC_READ | GENERIC_WRITE;
  const DWORD disposition = mode == Mode::kRead    ? OPEN_EXISTING
                            : mode == Mode::kWrite ? OPEN_ALWAYS
                                                   : CREATE_NEW;
  // Not inheritable (no SECURITY_ATTRIBUTES): programs the exec kind starts
  // meanwhile get no copy.
  HANDLE handle =
      CreateFileW(path.c_str(), access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                  nullptr, disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (handle == INVALID_HANDLE_VALUE) return OpenFailure(LastWin32Error(), shown);
  file->handle_ = handle;
  if (GetFileType(handle) != FILE_TYPE_DISK) {
    file->Close();
    return {E_ACCESSDENIED, std::string("cannot open ") + shown + ": not a regular file"};
  }
  return {};
}

IoStatus File::Size(std::uint64_t* size) {
  LARGE_INTEGER value;
  if (!GetFileSizeEx(handle_, &value)) return Failure("cannot get the size of");
  *size = static_cast<std::uint64_t>(value.QuadPart);
  return {};
}

IoStatus File::Seek(std::uint64_t offset) {
  LARGE_INTEGER to;
  to.QuadPart = static_cast<LONGLONG>(offset);
  if (!SetFilePointerEx(handle_, to, nullptr, FILE_BEGIN)) return Failure("cannot seek in");
  return {};
}

IoStatus File::SeekToEnd() {
  LARGE_INTEGER zero;
  zero.QuadPart = 0;
  if (!SetFilePointerEx(handle_, zero, nullptr, FILE_END)) return Failure("cannot seek in");
  return {};
}

IoStatus File::Truncate() {
  if (IoStatus s = Seek(0); !s.ok()) return s;
  if (!SetEndOfFile(handle_)) return Failure("cannot truncate");
  return {};
}

IoStatus File::Read(char* buffer, std::size_t size, std::size_t* got) {
  DWORD read = 0;
  if (!ReadFile(handle_, buffer, static_cast<DWORD>(size), &read, nullptr)) {
    return Failure("cannot read");
  }
  *got = read;
  return {};
}

IoStatus File::Write(const char* data, std::size_t size) {
  while (size > 0) {
    DWORD written = 0;
    if (!WriteFile(handle_, data, static_cast<DWORD>(size), &written, nullptr)) {
      return Failure("cannot write");
    }
    data += written;
    size -= written;
  }
  return {};
}

namespace {

// GetFinalPathNameByHandleW's path without its "\\?\" prefix.
bool FinalPathOfHandle(HANDLE handle, std::filesystem::path* path) {
  std::wstring buffer(MAX_PATH, L'\0');
  for (;;) {
    const DWORD length =
        GetFinalPathNameByHandleW(handle, buffer.data(), static_cast<DWORD>(buffer.size()),
                                  FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
    if (length == 0) return false;
    if (length < buffer.size()) {
      buffer.resize(length);
      break;
    }
    buffer.resize(length + 1);
  }
  if (buffer.rfind(L"\\\\?\\UNC\\", 0) == 0) {
    buffer = L"\\\\" + buffer.substr(8);
  } else if (buffer.rfind(L"\\\\?\\", 0) == 0) {
    buffer = buffer.substr(4);
  }
  *path = std::filesystem::path(buffer).lexically_normal();
  return true;
}

}  // namespace

IoStatus File::FinalPath(std::filesystem::path* path) {
  if (!FinalPathOfHandle(handle_, path)) return Failure("cannot resolve the path of");
  return {};
}

IoStatus File::Id(FileId* id) {
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(handle_, &info)) return Failure("cannot identify");
  id->device = info.dwVolumeSerialNumber;
  id->index = std::uint64_t{info.nFileIndexHigh} << 32 | info.nFileIndexLow;
  return {};
}

IoStatus CanonicalFolder(const std::filesystem::path& path, const std::string& shown,
                         std::filesystem::path* canonical) {
  // FILE_FLAG_BACKUP_SEMANTICS: the way to open a folder.
  HANDLE handle = CreateFileW(path.c_str(), FILE_READ_ATTRIBUTES,
                              FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                              OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (handle == INVALID_HANDLE_VALUE) return OpenFailure(LastWin32Error(), shown);
  IoStatus status;
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(handle, &info) || !FinalPathOfHandle(handle, canonical)) {
    const OsError error = LastWin32Error();
    status = {error.hr, std::string("cannot resolve ") + shown + ": " + error.text};
  } else if ((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) == 0) {
    status = {HRESULT_FROM_WIN32(ERROR_DIRECTORY), std::string("not a folder: ") + shown};
  }
  CloseHandle(handle);
  return status;
}

#else  // !_WIN32

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    Close();
    shown_ = std::move(other.shown_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

bool File::is_open() const { return fd_ >= 0; }

void File::Close() {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

IoStatus File::Failure(const char* what) const {
  const OsError error = ErrnoError(errno);
  return {error.hr, std::string(what) + " " + shown_ + ": " + error.text};
}

IoStatus File::Open(const std::filesystem::path& path, const std::string& shown, Mode mode,
                    File* file) {
  file->Close();
  file->shown_ = shown;
  // O_NONBLOCK until the file is known to be regular: opening a FIFO would
  // otherwise wait for its other end.
  int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  switch (mode) {
    case Mode::kRead:
      flags |= O_RDONLY;
      break;
    case Mode::kWrite:
      flags |= O_RDWR | O_CREAT;
      break;
    case Mode::kCreateNew:
      flags |= O_RDWR | O_CREAT | O_EXCL;
      break;
  }
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return OpenFailure(ErrnoError(errno), shown);
  file->fd_ = fd;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    IoStatus s = file->Failure("cannot open");
    file->Close();
    return s;
  }
  if (!S_ISREG(st.st_mode)) {
    file->Close();
    return {E_ACCESSDENIED, std::string("cannot open ") + shown + ": " +
                                (S_ISDIR(st.st_mode) ? ErrnoError(EISDIR).text
                                                     : std::string("not a regular file"))};
  }
  const int status_flags = ::fcntl(fd, F_GETFL);
  if (status_flags < 0 || ::fcntl(fd, F_SETFL, status_flags & ~O_NONBLOCK) != 0) {
    IoStatus s = file->Failure("cannot open");
    file->Close();
    return s;
  }
  return {};
}

IoStatus File::Size(std::uint64_t* size) {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Failure("cannot get the size of");
  *size = static_cast<std::uint64_t>(st.st_size);
  return {};
}

IoStatus File::Seek(std::uint64_t offset) {
  if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) return Failure("cannot seek in");
  return {};
}

IoStatus File::SeekToEnd() {
  if (::lseek(fd_, 0, SEEK_END) < 0) return Failure("cannot seek in");
  return {};
}

IoStatus File::Truncate() {
  if (::ftruncate(fd_, 0) != 0) return Failure("cannot truncate");
  return Seek(0);
}

IoStatus File::Read(char* buffer, std::size_t size, std::size_t* got) {
  ssize_t n;
  do {
    n = ::read(fd_, buffer, size);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Failure("cannot read");
  *got = static_cast<std::size_t>(n);
  return {};
}

IoStatus File::Write(const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Failure("cannot write");
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

IoStatus File::FinalPath(std::filesystem::path* path) {
#if defined(__linux__)
  std::error_code error;
  *path = std::filesystem::read_symlink(std::string("/proc/self/fd/") + std::to_string(fd_), error);
  if (error) {
    const OsError os = ErrorCodeError(error);
    return {os.hr, std::string("cannot resolve the path of ") + shown_ + ": " + os.text};
  }
#else
  path->clear();
#endif
  return {};
}

IoStatus File::Id(FileId* id) {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return Failure("cannot identify");
  id->device = static_cast<std::uint64_t>(st.st_dev);
  id->index = static_cast<std::uint64_t>(st.st_ino);
  return {};
}

IoStatus CanonicalFolder(const std::filesystem::path& path, const std::string& shown,
                         std::filesystem::path* canonical) {
  std::error_code error;
  *canonical = std::filesystem::canonical(path, error);
  if (error) return OpenFailure(ErrorCodeError(error), shown);
  if (!std::filesystem::is_directory(*canonical, error)) {
    return {HRESULT_FROM_WIN32(ERROR_DIRECTORY), std::string("not a folder: ") + shown};
  }
  return {};
}

#endif  // _WIN32

}  // namespace mfwq::server
