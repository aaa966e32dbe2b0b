// The file kinds, confined to root folders the server is configured with:
//   file.read   result = bytes of "path" (at most 1 MiB) from "offset",
//               "length" of them (-1: to the end)
//   file.write  writes "data" to "path", replacing its content or, with
//               "append", after it; "create_dirs" creates missing folders
//   file.copy   copies "source" to "destination" ("overwrite",
//               "create_dirs") in chunks; progress; cancellable while running
//   file.hash   result = the SHA-256 digest of "path" (32 raw bytes), its hex
//               in the message; progress; cancellable while running
// Bytes transferred is the number of bytes read, written, copied or hashed.
//
// Paths: a parameter naming a file is UTF-8, either absolute or relative to
// the first root folder. Confinement is checked twice:
//  - at submission (Check), as text: the path made absolute and lexically
//    normal ("." and ".." resolved) must be inside a root folder (as
//    configured, or as its links resolve), else INVALID_ARGUMENT naming the
//    parameter ("parameters.path: ... is outside the root folders");
//  - when the operation runs, on what the file really is: the links of the
//    existing part of the path are resolved (POSIX), and the file opened is
//    asked for its real path (/proc/self/fd on Linux, GetFinalPathNameByHandleW
//    on Windows); outside every root folder (a link leading out, perhaps made
//    after submission), the operation fails with E_ACCESSDENIED "outside the
//    root folders: <path>" and reads or changes nothing there. (A file.write
//    or file.copy racing with someone replacing a folder inside a root by a
//    link may still create an empty file where the link leads.)
// With no root folders configured the kinds are still registered (and
// listed), and refuse every path at submission.
//
// Failures when running complete the operation with an HRESULT and a message
// naming the path as given: a missing file (or folder on the way)
// HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) "no such file: <path>"; an
// existing destination without "overwrite" HRESULT_FROM_WIN32(ERROR_FILE_EXISTS)
// "already exists: <path>"; a folder or device instead of a regular file
// E_ACCESSDENIED; other failures of the system the HRESULT of its error
// (errno values mapped to the Win32 error Windows gives, else E_FAIL) with its
// text. Files are read and written with the system's own API: Win32 on
// Windows, POSIX elsewhere.
#ifndef MFWQ_SERVER_CORE_FILE_KINDS_H_
#define MFWQ_SERVER_CORE_FILE_KINDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include <chrono>
#include <functional>

#include "operation_kind.h"

namespace mfwq::server {

struct FileKindsOptions {
  // Absolute paths of existing folders (UTF-8). Empty: every path is refused.
  std::vector<std::string> roots;
  // How much file.copy and file.hash read at a time (and check for
  // cancellation in between): 1 byte to 64 MiB.
  std::uint64_t chunk_bytes = 1 << 20;
  // file.copy and file.hash report progress each time this many more bytes
  // are done (0: after every chunk), or this long after the last report
  // (or the start), whichever comes first.
  std::uint64_t progress_every_bytes = 16 << 20;
  std::chrono::milliseconds progress_every = std::chrono::milliseconds(250);
  // The clock the progress interval is measured on; none: steady_clock.
  std::function<std::chrono::steady_clock::time_point()> now = nullptr;
};

// Registers file.read, file.write, file.copy and file.hash. INVALID_ARGUMENT
// if an option is out of range or a root is not an absolute path to an
// existing folder; ALREADY_EXISTS if a kind of one of these names is there.
Status RegisterFileKinds(KindRegistry& registry, FileKindsOptions options);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_FILE_KINDS_H_
