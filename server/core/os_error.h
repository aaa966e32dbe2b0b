// Operating-system failures as operation outcomes: the one place an errno
// value or a Win32 error code becomes an HRESULT and a text, for the kinds
// that touch the system (file.*, exec).
//
// Also: the Win32 error codes and HRESULT macros those kinds use that the
// portable <mfwq/mfapi.h> does not declare (Windows' own headers do), and,
// on Windows, UTF-8 <-> UTF-16 for the W functions.
#ifndef MFWQ_SERVER_CORE_OS_ERROR_H_
#define MFWQ_SERVER_CORE_OS_ERROR_H_

#include <string>
#include <system_error>

#include <mfwq/mfapi.h>

#if !defined(_WIN32)
#ifndef FACILITY_WIN32
#define FACILITY_WIN32 7
#endif
#ifndef HRESULT_FROM_WIN32
#define HRESULT_FROM_WIN32(x)                                         \
  (static_cast<HRESULT>(x) <= 0                                       \
       ? static_cast<HRESULT>(x)                                      \
       : static_cast<HRESULT>((static_cast<DWORD>(x) & 0x0000FFFFu) | \
                              (static_cast<DWORD>(FACILITY_WIN32) << 16) | 0x80000000u))
#endif
#ifndef ERROR_FILE_NOT_FOUND
#define ERROR_FILE_NOT_FOUND 2L
#endif
#ifndef ERROR_PATH_NOT_FOUND
#define ERROR_PATH_NOT_FOUND 3L
#endif
#ifndef ERROR_TOO_MANY_OPEN_FILES
#define ERROR_TOO_MANY_OPEN_FILES 4L
#endif
#ifndef ERROR_ACCESS_DENIED
#define ERROR_ACCESS_DENIED 5L
#endif
#ifndef ERROR_OUTOFMEMORY
#define ERROR_OUTOFMEMORY 14L
#endif
#ifndef ERROR_NOT_SAME_DEVICE
#define ERROR_NOT_SAME_DEVICE 17L
#endif
#ifndef ERROR_WRITE_PROTECT
#define ERROR_WRITE_PROTECT 19L
#endif
#ifndef ERROR_SHARING_VIOLATION
#define ERROR_SHARING_VIOLATION 32L
#endif
#ifndef ERROR_FILE_EXISTS
#define ERROR_FILE_EXISTS 80L
#endif
#ifndef ERROR_INVALID_PARAMETER
#define ERROR_INVALID_PARAMETER 87L
#endif
#ifndef ERROR_DISK_FULL
#define ERROR_DISK_FULL 112L
#endif
#ifndef ERROR_DIR_NOT_EMPTY
#define ERROR_DIR_NOT_EMPTY 145L
#endif
#ifndef ERROR_BUSY
#define ERROR_BUSY 170L
#endif
#ifndef ERROR_ALREADY_EXISTS
#define ERROR_ALREADY_EXISTS 183L
#endif
#ifndef ERROR_BAD_EXE_FORMAT
#define ERROR_BAD_EXE_FORMAT 193L
#endif
#ifndef ERROR_FILENAME_EXCED_RANGE
#define ERROR_FILENAME_EXCED_RANGE 206L
#endif
#ifndef ERROR_FILE_TOO_LARGE
#define ERROR_FILE_TOO_LARGE 223L
#endif
#ifndef ERROR_DIRECTORY
#define ERROR_DIRECTORY 267L
#endif
#ifndef ERROR_IO_DEVICE
#define ERROR_IO_DEVICE 1117L
#endif
#ifndef ERROR_CANT_RESOLVE_FILENAME
#define ERROR_CANT_RESOLVE_FILENAME 1921L
#endif
#endif  // !_WIN32

namespace mfwq::server {

// A failure of the operating system: the HRESULT an operation completes
// with, and the system's text for it ("No such file or directory").
struct OsError {
  HRESULT hr;
  std::string text;
};

// errno values map to the Win32 error Windows gives for the same failure
// (ENOENT: HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND); EACCES, EPERM, EISDIR:
// E_ACCESSDENIED; EEXIST: ERROR_FILE_EXISTS; ENOSPC: ERROR_DISK_FULL; ...),
// the rest to E_FAIL. Available on Windows too (the C runtime's errno).
OsError ErrnoError(int error_number);
// A std::error_code from std::filesystem: errno values as above, Win32
// codes (Windows' system category) as Win32Error.
OsError ErrorCodeError(const std::error_code& error);

#if defined(_WIN32)
OsError Win32Error(DWORD error);
inline OsError LastWin32Error() { return Win32Error(GetLastError()); }

// UTF-8 <-> UTF-16; invalid sequences become U+FFFD.
std::wstring Widen(const std::string& utf8);
std::string Narrow(const std::wstring& utf16);
#endif

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_OS_ERROR_H_
