// Client text in the server's messages: strings a client sent (names, ids,
// paths, parameter names) as errors and logs show them, and the bound on
// any one message.
//
// A client may send a name of megabytes, or bytes that are not UTF-8. An
// error that repeated it whole would make the answer's status larger than
// gRPC clients accept in metadata (8 KiB by default: the call, and others in
// flight on the channel, then fail), and bytes that are not UTF-8 break
// clients that decode the message. So a client's string is shown quoted,
// cut to a short prefix at a character boundary, with its length, and with
// what is not printable UTF-8 escaped: "aaaa…" (9000 bytes).
#ifndef MFWQ_SERVER_CORE_CLIENT_TEXT_H_
#define MFWQ_SERVER_CORE_CLIENT_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace mfwq::server {

// The longest prefix of a client's string an error shows, in bytes.
inline constexpr std::size_t kQuotedBytes = 64;
// ... of a path (the client's own, and only useful whole).
inline constexpr std::size_t kQuotedPathBytes = 256;
// The longest message a status carries, in bytes.
inline constexpr std::size_t kMaxMessageBytes = 1024;

// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates).
bool IsUtf8(std::string_view text);

// `text` in double quotes: whole if it is at most `keep` bytes, else its
// first `keep` (cut at a character), "…", and its length. Quotes,
// control characters and bytes that are not UTF-8 are escaped (\", \xHH);
// backslashes are not (Windows paths stay readable).
std::string Quoted(std::string_view text, std::size_t keep = kQuotedBytes);

// A map key a client chose (a parameter's or a label's name) as a field
// path shows it ("parameters.<key>"): as it is when it is at most
// kQuotedBytes of letters, digits, '_', '-' and '.', else Quoted.
std::string FieldKey(std::string_view key);

// `message` cut to kMaxMessageBytes at a character boundary, "…" marking the
// cut; what is not UTF-8 escaped. Every status message passes here on its
// way to a client.
std::string BoundedMessage(std::string_view message);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_CORE_CLIENT_TEXT_H_
