#include "config.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "path_rules.h"

namespace mfwq::server {
namespace {

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

Status Bad(const std::string& key, const std::string& why) {
  return InvalidArgument(key + ": " + why);
}

Status ParseUint(const std::string& key, const std::string& value, std::uint64_t* out) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos) {
    return Bad(key, "expected a whole number, got \"" + value + "\"");
  }
  errno = 0;
  const unsigned long long v = std::strtoull(value.c_str(), nullptr, 10);
  if (errno == ERANGE) return Bad(key, "\"" + value + "\" is too large");
  *out = v;
  return OkStatus();
}

Status ParseDuration(const std::string& key, const std::string& value,
                     std::chrono::milliseconds* out) {
  std::size_t digits = 0;
  while (digits < value.size() && value[digits] >= '0' && value[digits] <= '9') ++digits;
  const std::string unit = value.substr(digits);
  std::uint64_t n = 0;
  if (digits == 0 || !ParseUint(key, value.substr(0, digits), &n).ok()) {
    return Bad(key, "expected a duration such as 500ms, 30s, 5m, 2h or 7d, got \"" + value + "\"");
  }
  std::uint64_t scale;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  } else if (unit == "d") {
    scale = 24 * 3600 * 1000;
  } else {
    return Bad(key, "expected a duration such as 500ms, 30s, 5m, 2h or 7d, got \"" + value + "\"");
  }
  *out = std::chrono::milliseconds(static_cast<std::int64_t>(n * scale));
  return OkStatus();
}

}  // namespace

Status SetConfigValue(Config* c, const std::string& key, const std::string& value) {
  if (key == "listen") {
    if (value.empty() || value.rfind(':') == std::string::npos) {
      return Bad(key, "expected HOST:PORT, got \"" + value + "\"");
    }
    c->listen = value;
  } else if (key == "data_dir") {
    if (Status s = CheckPath(key, value, false); !s.ok()) return s;
    c->data_dir = value;
  } else if (key == "log_file") {
    if (!value.empty()) {
      if (Status s = CheckPath(key, value, false); !s.ok()) return s;
    }
    c->log_file = value;
  } else if (key == "log_level") {
    if (value != "debug" && value != "info" && value != "warn" && value != "error") {
      return Bad(key, "expected debug, info, warn or error, got \"" + value + "\"");
    }
    c->log_level = value;
  } else if (key == "journal_sync") {
    if (value != "normal" && value != "full") {
      return Bad(key, "expected normal or full, got \"" + value + "\"");
    }
    c->journal_sync = value;
  } else if (key == "drain_timeout") {
    return ParseDuration(key, value, &c->drain_timeout);
  } else if (key == "client_lease") {
    return ParseDuration(key, value, &c->client_lease);
  } else if (key == "maintenance_interval") {
    if (Status s = ParseDuration(key, value, &c->maintenance_interval); !s.ok()) return s;
    if (c->maintenance_interval.count() == 0) return Bad(key, "must be more than 0");
  } else if (key == "retain_count") {
    if (Status s = ParseUint(key, value, &c->retain_count); !s.ok()) return s;
    if (c->retain_count == 0) return Bad(key, "must be at least 1");
  } else if (key == "retain_age") {
    return ParseDuration(key, value, &c->retain_age);
  } else if (key == "max_inflight_per_client") {
    return ParseUint(key, value, &c->max_inflight_per_client);
  } else if (key == "max_queue_depth") {
    return ParseUint(key, value, &c->max_queue_depth);
  } else if (key == "max_queues") {
    return ParseUint(key, value, &c->max_queues);
  } else if (key == "max_queues_per_client") {
    return ParseUint(key, value, &c->max_queues_per_client);
  } else if (key == "max_serial_chain") {
    return ParseUint(key, value, &c->max_serial_chain);
  } else if (key == "max_streams_per_client") {
    return ParseUint(key, value, &c->max_streams_per_client);
  } else if (key == "max_message_bytes") {
    if (Status s = ParseUint(key, value, &c->max_message_bytes); !s.ok()) return s;
    if (c->max_message_bytes < 1024 || c->max_message_bytes > (1u << 30)) {
      return Bad(key, "must be 1024 to 1073741824");
    }
  } else if (key == "max_buffered_notifications") {
    if (Status s = ParseUint(key, value, &c->max_buffered_notifications); !s.ok()) return s;
    if (c->max_buffered_notifications == 0) return Bad(key, "must be at least 1");
  } else if (key == "file_root") {
    if (Status s = CheckPath(key, value, true); !s.ok()) return s;
    c->file_roots.push_back(value);
  } else if (key == "exec_allow") {
    if (Status s = CheckPath(key, value, true); !s.ok()) return s;
    c->exec_allow.push_back(value);
  } else {
    return InvalidArgument(key + ": no such setting");
  }
  return OkStatus();
}

Status LoadConfigText(Config* config, std::string_view text, const std::string& name) {
  int number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string line(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = Trim(line);
    if (line.empty()) continue;
    const std::string where = name + ":" + std::to_string(number) + ": ";
    const auto eq = line.find('=');
    if (eq == std::string::npos) return InvalidArgument(where + "expected key = value");
    if (Status s = SetConfigValue(config, Trim(line.substr(0, eq)), Trim(line.substr(eq + 1)));
        !s.ok()) {
      return InvalidArgument(where + s.message());
    }
  }
  return OkStatus();
}

Status LoadConfigFile(Config* config, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("--config: cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return LoadConfigText(config, text.str(), path);
}

StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv, const Config& defaults,
                                       const std::string& default_config_file) {
  CommandLine cl;
  cl.config = defaults;
  // (flag key, value) in order; --config is applied first.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
      continue;
    }
    if (arg == "--version") {
      cl.version = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return InvalidArgument(arg + ": not a flag (see --help)");
    }
    std::string key = arg.substr(2);
    std::string value;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key.erase(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return InvalidArgument("--" + key + ": needs a value");
    }
    for (char& ch : key) {
      if (ch == '-') ch = '_';
    }
    if (key == "config") {
      config_file = value;
    } else {
      flags.emplace_back(key, value);
    }
  }
  if (config_file.empty() && !default_config_file.empty()) {
    std::error_code ignored;
    if (std::filesystem::exists(default_config_file, ignored)) config_file = default_config_file;
  }
  if (!config_file.empty()) {
    if (Status s = LoadConfigFile(&cl.config, config_file); !s.ok()) return s;
  }
  for (const auto& [key, value] : flags) {
    std::string flag = "--" + key;
    for (char& ch : flag) {
      if (ch == '_') ch = '-';
    }
    if (Status s = SetConfigValue(&cl.config, key, value); !s.ok()) {
      return InvalidArgument(flag + ": " + s.message().substr(key.size() + 2));
    }
  }
  return cl;
}

const char* UsageText() {
  return R"(Usage: mfwq-server [--config FILE] [--KEY VALUE]...

Serves Media Foundation work queues over gRPC (mfwq.v1.WorkQueues).

  --config FILE        read settings from FILE (key = value lines; see
                       deploy/mfwq-server.conf); flags override it
  --listen HOST:PORT   where to listen (default 127.0.0.1:50051; port 0 picks one)
  --data-dir DIR       where the journal lives (default ./var/mfwq)
  --log-level LEVEL    debug, info (default), warn or error
  --log-file FILE      append the log's JSON lines to FILE (default: standard error)
  --drain-timeout D    on SIGTERM/SIGINT (Windows: Ctrl+C, Ctrl+Break, closing
                       the console, the service's stop), how long running
                       operations may finish before they are cancelled (default 30s)
  --client-lease D     how long a client without open streams keeps its queue
                       locks and events after its last call (default 60s)
  --retain-count N     completed operations retained (default 100000)
  --retain-age D       ... for at most this long (default 7d)
  --max-inflight-per-client N   (default 10000)
  --max-queue-depth N           (default 100000)
  --max-queues N                private queues in all (default 1024)
  --max-queues-per-client N     private queues one client holds locks on (default 256)
  --max-serial-chain N          serial queues in a chain (default 16)
  --max-streams-per-client N    WatchCompletions and Session streams one client has open (default 100)
  --max-message-bytes N         (default 4194304)
  --max-buffered-notifications N  per stream (default 10000)
  --journal-sync normal|full    full also survives power loss (default normal)
  --file-root DIR      a folder the file.* kinds may use (repeatable)
  --exec-allow PATH    a program the exec kind may run (repeatable)
  --help, --version

Durations: 500ms, 30s, 5m, 2h, 7d. Paths: full paths for --file-root and
--exec-allow (on Windows with a drive, C:\..., or a share, \\server\share\...).
)"
#if defined(_WIN32)
         R"(
As a Windows service (docs/windows.md):
  mfwq-server service install [--name NAME] [--start auto|demand] [--config FILE] [--KEY VALUE]...
  mfwq-server service uninstall [--name NAME]
  mfwq-server service run [--name NAME] [...]    what the service control manager starts
)"
#endif
      ;
}

}  // namespace mfwq::server
