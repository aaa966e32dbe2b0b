// The request and response metadata of mfwq.v1.WorkQueues that the proto
// cannot describe: both the server and the SDK use these names.
#ifndef MFWQ_CLIENT_METADATA_H_
#define MFWQ_CLIENT_METADATA_H_

namespace mfwq::metadata {

// Request metadata: the caller's client name, 1 to 128 bytes of letters,
// digits, '.', '-', '_'. A client sees its own operations and events only.
inline constexpr char kClient[] = "mfwq-client";
// The client name of a call without kClient.
inline constexpr char kAnonymous[] = "anonymous";
// WatchCompletions' response headers, once the stream is subscribed: the
// last sequence it will not send (it sends every completion after it).
inline constexpr char kSubscribed[] = "mfwq-subscribed";

}  // namespace mfwq::metadata

#endif  // MFWQ_CLIENT_METADATA_H_
