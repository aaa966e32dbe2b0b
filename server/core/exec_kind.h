// The exec kind: runs a program the server allowlists, never a shell.
//
// Parameters:
//   program  the program, exactly as one of the allowlist's entries
//            (full paths, path_rules.h; on Windows not a .bat or .cmd file,
//            which CreateProcessW would run through cmd.exe, a shell);
//            anything else is refused at submission with INVALID_ARGUMENT
//            "parameters.program: ... is not allowlisted"
//   args     its arguments, one per line: split at each "\n" ("" is no
//            arguments, "a\n\nb" is "a", "" and "b"); an argument cannot hold
//            a newline or NUL. On Windows they are quoted into a command line
//            the way CommandLineToArgvW and the C runtime split it (cmd.exe
//            parses what follows /c its own way).
// The program gets an empty standard input, the server's environment and
// working folder, and one pipe as standard output and standard error.
//
// Completion: S_OK if the program exits with code 0; E_FAIL if it exits with
// another code or is killed by a signal. The message is always "exited with
// code N" (N in decimal; on Windows the exit code as unsigned) or "killed by
// signal N" (POSIX). The result is the last output_tail_bytes of the output
// (standard output and error as interleaved in the pipe), bytes transferred
// the number of bytes of output. The operation completes when the program
// exits; output that processes it started write after that is not captured.
// On POSIX such processes run on; on Windows they are in the program's job,
// which kills what is left in it when the run ends (and when the server
// ends, even killed), so a program leaves nothing behind there.
// A process the system cannot wait for (Wine's for a Linux program) ends
// the run with the system's error: "lost track of process N: cannot wait
// for it: ...".
// A program that cannot be started fails with the system's error as an
// HRESULT (HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND) when it is missing).
//
// Progress: "started, process id N" (0 of 0) once it runs, then the bytes of
// output so far (total 0: unknown) at the first output and after each 64 KiB
// more.
//
// Cancellable while running: the program (POSIX: its process group; Windows:
// its job object, when the system allows one) is killed and reaped, and the
// operation completes with MF_E_OPERATION_CANCELLED; cancellation is noticed
// within about 20 ms.
//
// With an empty allowlist the kind is still registered (and listed), and
// refuses every program at submission. Programs are started with the
// system's own API: posix_spawn on POSIX, CreateProcessW on Windows.
#ifndef MFWQ_SERVER_CORE_EXEC_KIND_H_
#define MFWQ_SERVER_CORE_EXEC_KIND_H_

#include <cstddef>
#include <string>
#include <vector>

#include "operation_kind.h"

namespace mfwq::server {

struct ExecOptions {
  // Absolute paths (UTF-8) of the programs clients may run.
  std::vector<std::string> allowlist;
  // How much of the end of the output the result keeps: at most 1 MiB.
  std::size_t output_tail_bytes = 64 * 1024;
};

// Registers exec. INVALID_ARGUMENT if an allowlist entry is not an absolute
// path or output_tail_bytes is over 1 MiB; ALREADY_EXISTS if a kind named
// exec is there.
Status RegisterExecKind(KindRegistry& registry, ExecOptions options);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_EXEC_KIND_H_
