// Which paths the server accepts, by the rules of the system it runs on.
//
// The root folders and allowlisted programs the server is configured with
// (file_root, exec_allow) must be full paths, so that they mean the same
// whatever the current folder or drive of the process (a Windows service
// starts in System32). data_dir may be relative to the current folder (the
// default is ./var/mfwq), but on Windows not drive-relative nor rooted
// without a drive. A full path is:
//   POSIX    starting with "/";
//   Windows  a drive and a root ("C:\mfwq", "C:/mfwq"), or a UNC share
//            ("\\server\share\mfwq"). Refused: relative paths ("mfwq"),
//            drive-relative ones ("C:mfwq"), rooted ones without a drive
//            ("\mfwq", "/tmp/x"), and device or verbatim paths ("\\.\",
//            "\\?\"), whose text Windows does not normalise.
//
// On Windows every path the server is given (configured, or a file kind's
// parameter, which may also be relative to the first root folder) is refused
// when one of its components would make Windows open something other than
// the file its text names: an alternate data stream ("file::$DATA",
// "file:stream"); a reserved device name, with or without an extension and
// in any case ("CON", "nul.txt", "COM1", "CONOUT$"); a trailing dot or space
// ("x.", ".. "), which Windows drops, so that ".. " goes up a folder; the
// characters < > " | ? * or a control character. Case is compared
// insensitively, and both separators are accepted, where paths are compared
// (file_io.h's PathIsWithin). Links, junctions and 8.3 short names are not
// text problems: the file kinds check where an opened file really is.
//
// The Windows rules are plain text functions, available (and tested) on
// every system; the server applies them only on Windows.
#ifndef MFWQ_SERVER_CORE_PATH_RULES_H_
#define MFWQ_SERVER_CORE_PATH_RULES_H_

#include <string>
#include <string_view>

#include "status.h"

namespace mfwq::server {

// What Windows' rules find wrong with `path` (empty if nothing): the reason,
// in words, naming the part at fault. With `full`, the path must be a full
// path (drive and root, or UNC); without, a relative path is accepted too.
std::string WindowsPathProblem(std::string_view path, bool full);

// INVALID_ARGUMENT "<field>: ..." unless `path` is a full path (with
// `full`), or a full or relative one, by the rules of the system the server
// runs on (see the top of this file).
Status CheckPath(std::string_view field, const std::string& path, bool full);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_PATH_RULES_H_
