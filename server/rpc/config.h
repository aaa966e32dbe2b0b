// The server's configuration: embedded defaults, then a config file, then
// command-line flags, each overriding the one before.
//
// The file has one `key = value` per line; `#` starts a comment; keys that
// take a list (file_root, exec_allow) may be repeated. Durations are a
// number and a unit: 500ms, 30s, 5m, 2h, 7d. Every key is also a flag:
// `--data-dir DIR` or `--data-dir=DIR` sets data_dir. See
// deploy/mfwq-server.conf for every key, commented.
#ifndef MFWQ_SERVER_RPC_CONFIG_H_
#define MFWQ_SERVER_RPC_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "status.h"

namespace mfwq::server {

struct Config {
  std::string listen = "127.0.0.1:50051";
  std::string data_dir = "./var/mfwq";
  std::string log_level = "info";
  std::string log_file;  // empty: standard error
  std::string journal_sync = "normal";  // or "full"
  std::chrono::milliseconds drain_timeout{30000};
  std::chrono::milliseconds client_lease{60000};
  std::chrono::milliseconds maintenance_interval{10000};
  std::uint64_t retain_count = 100000;
  std::chrono::milliseconds retain_age{7LL * 24 * 3600 * 1000};
  std::uint64_t max_inflight_per_client = 10000;
  std::uint64_t max_queue_depth = 100000;
  std::uint64_t max_queues = 1024;
  std::uint64_t max_queues_per_client = 256;
  std::uint64_t max_serial_chain = 16;
  std::uint64_t max_streams_per_client = 100;
  std::uint64_t max_message_bytes = 4 << 20;
  std::uint64_t max_buffered_notifications = 10000;
  std::vector<std::string> file_roots;
  std::vector<std::string> exec_allow;
};

// Sets `key` (as in the file: data_dir) to `value`. The error names the key.
Status SetConfigValue(Config* config, const std::string& key, const std::string& value);
// Reads a config file over `config`. Errors name the file and line.
Status LoadConfigFile(Config* config, const std::string& path);
// The same, for the file's text; `name` begins each error ("name:3: ...").
Status LoadConfigText(Config* config, std::string_view text, const std::string& name);

struct CommandLine {
  Config config;
  bool help = false;
  bool version = false;
};

// `defaults`, then --config FILE (wherever it is given; else
// `default_config_file` if one is named and exists), then the other flags.
StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv,
                                       const Config& defaults = Config(),
                                       const std::string& default_config_file = "");
const char* UsageText();

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_RPC_CONFIG_H_
