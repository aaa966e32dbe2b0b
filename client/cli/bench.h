// `mfwq bench`: many `echo` operations through an mfwq-server, against the
// raw gRPC ceiling measured in the same run on the same machine.
#ifndef MFWQ_CLIENT_CLI_BENCH_H_
#define MFWQ_CLIENT_CLI_BENCH_H_

#include <cstddef>
#include <string>

#include "mfwq/client/client.h"

namespace mfwq::cli {

struct BenchOptions {
  std::size_t ops = 20000;             // operations (and echo messages) per throughput run
  std::size_t size = 64;               // bytes of each echo's data (and each message's payload)
  std::size_t batch = 500;             // the session's largest SubmitBatch
  std::size_t window = 5000;           // operations / messages in flight at once
  std::size_t unary_threads = 8;       // threads submitting with unary calls
  std::size_t latency_samples = 2000;  // one-at-a-time round trips per latency run
  std::size_t rounds = 3;              // each side runs this many times, alternating
  std::uint32_t queue_id = 5;          // the server queue the echoes run on
  std::string baseline;  // HOST:PORT of a running `mfwq bench-baseline`; empty: start one
};

// Runs every measurement and prints them (a table, or one JSON object).
// Returns 0, or 3 when the server cannot be used.
int RunBench(mfwq::client::Client& client, const std::string& server, const BenchOptions& options,
             bool json);

// `mfwq bench-baseline`: the bare echo server alone, on `listen` (port 0
// picks one). Prints the address it listens on as one line, and serves
// until its standard input ends. Returns 0, or 3 if it cannot listen.
int RunBenchBaseline(const std::string& listen);

}  // namespace mfwq::cli

#endif  // MFWQ_CLIENT_CLI_BENCH_H_
