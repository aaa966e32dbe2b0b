// mfwq: the command-line tool for an mfwq-server.
//
//   mfwq [--server HOST:PORT] [--client NAME] [--json] COMMAND [ARGS]
//
// Tables for people by default, --json (one JSON object per line) for
// scripts. Exit status: 0 success; 1 an operation completed with a failure
// HRESULT (submit --wait, ops wait); 2 a usage error; 3 the call failed
// (server unreachable, bad request: the message says which).
#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>

#include <csignal>

#include <absl/debugging/failure_signal_handler.h>
#include <absl/debugging/symbolize.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "bench.h"
#include "mfwq/client/client.h"

namespace {

namespace v1 = ::mfwq::v1;
using google::protobuf::util::TimeUtil;
using mfwq::client::Client;

constexpr int kOk = 0, kOperationFailed = 1, kUsage = 2, kCallFailed = 3;

const char kUsageText[] = R"(Usage: mfwq [--server HOST:PORT] [--client NAME] [--json] COMMAND [ARGS]

Talks to an mfwq-server (default 127.0.0.1:50051, or $MFWQ_SERVER).

Commands:
  kinds (or catalog)                    the operation kinds and their parameters
  queues list [--label K=V]...          every queue, with live statistics
  queues create TYPE [--target ID] [--name N] [--label K=V]...
                                        TYPE: standard, multithreaded or serial
  queues get|lock|unlock ID
  queues delete ID [--cancel-pending]
  submit KIND [--queue ID] [--param NAME=VALUE]... [--priority N]
         [--delay D | --wait-event E] [--signal-event E] [--request-id R]
         [--state TEXT] [--deadline D] [--wait]
                                        values are typed from the catalog; durations
                                        are 500ms, 30s, 5m, 2h; --wait waits for the
                                        completion (exit 1 if it failed)
  ops get|cancel ID
  ops wait ID [--timeout D]             exit 1 if it completed with a failure
  ops list [--queue ID] [--state S]... [--kind K]
  watch [--after SEQ] [--queue ID]... [--op ID]... [--progress] [--count N]
                                        completions as they happen (Ctrl+C stops)
  events create NAME [--manual-reset] [--set]
  events set|reset|delete NAME
  events list
  bench [--ops N] [--size BYTES] [--batch N] [--window N] [--rounds R]
        [--baseline HOST:PORT]          echo operations through the session and unary
                                        submits, against bare gRPC in the same run
  bench-baseline [--listen HOST:PORT]   the bare gRPC echo server bench compares with

Queue ids are MF's: 1 standard, 2 RT, 3 IO, 4 timer, 5 multithreaded (the default
for submit), 7 long function; created queues have ids like 0x10000.
Exit status: 0 ok, 1 operation failed, 2 usage, 3 call failed.
)";

// `mfwq COMMAND --help`.
const std::map<std::string, std::string> kCommandHelp = {
    {"bench", R"(Usage: mfwq bench [--ops N] [--size BYTES] [--batch N] [--window N]
                  [--unary-threads T] [--latency-samples S] [--rounds R] [--queue ID]
                  [--baseline HOST:PORT]
Measures the server with echo operations of --size bytes (default 64), and
in the same run a bare gRPC echo server with the same message sizes and no
work queue behind it (mfwq bench-baseline, started as a process of its own
on 127.0.0.1, or the one at --baseline):
  throughput  --ops operations (default 20000) through a Session (batches of
              at most --batch, default 500; --window in flight, default 5000)
              and through unary Submit calls from --unary-threads threads
              (default 8) with the completion stream, against a bare
              bidirectional echo stream carrying as many messages;
  latency     --latency-samples (default 2000) operations one at a time,
              submit to completion, against a bare unary ping-pong; the
              three take turns of 100 calls each (and one not counted, to
              warm up).
Each runs --rounds times (default 3), alternating; throughput is the median
round. Prints the figures and the ratios to the bare baseline (--json: one
object). Operations run on queue --queue (default 5, multithreaded).
)"},
    {"bench-baseline", R"(Usage: mfwq bench-baseline [--listen HOST:PORT]
The bare gRPC echo server that mfwq bench measures the server against: an
echo stream and a unary ping-pong, nothing behind them. Listens on --listen
(default 127.0.0.1:0, a free port), prints the address as one line, and serves
until its standard input ends (mfwq bench starts and stops it so).
)"},
    {"kinds", R"(Usage: mfwq kinds
The operation kinds the server offers, each with its parameters, their types
and whether they are required (what `submit --param` takes).
)"},
    {"queues", R"(Usage: mfwq queues list [--label K=V]...
       mfwq queues create standard|multithreaded|serial [--target ID] [--name N] [--label K=V]...
       mfwq queues get|lock|unlock ID
       mfwq queues delete ID [--cancel-pending]
The server's work queues with live statistics. create allocates a private
queue (serial ones run on --target); lock and unlock add and drop one of this
client's MF locks; delete releases this client's locks (--cancel-pending also
cancels the queue's operations that have not started).
)"},
    {"submit", R"(Usage: mfwq submit KIND [--queue ID] [--param NAME=VALUE]... [--priority N]
                   [--delay D | --wait-event E] [--signal-event E] [--request-id R]
                   [--state TEXT] [--deadline D] [--wait]
Submits an operation (default queue 5, MFASYNC_CALLBACK_QUEUE_MULTITHREADED).
Parameter values are typed from the catalog (mfwq kinds); durations are 500ms,
30s, 5m, 2h. --delay schedules it, --wait-event waits for an event, and
--signal-event sets one when it completes. --deadline cancels it if it has not
completed in time. --wait waits for the completion (with a progress bar on a
terminal); the exit status is then 1 if its HRESULT is a failure.
)"},
    {"ops", R"(Usage: mfwq ops get|cancel ID
       mfwq ops wait ID [--timeout D]
       mfwq ops list [--queue ID] [--state S]... [--kind K]
This client's operations. wait exits 1 if the operation completed with a
failure HRESULT; with --timeout it prints the operation as it is when the time
is up. States: pending, scheduled, waiting, running, completed.
)"},
    {"watch", R"(Usage: mfwq watch [--after SEQ] [--queue ID]... [--op ID]... [--progress] [--count N]
Completions (and, with --progress, progress reports) as they happen, each
with its sequence number: --after SEQ resumes after the last one seen. Stops
after --count completions, or on Ctrl+C.
)"},
    {"events", R"(Usage: mfwq events create NAME [--manual-reset] [--set]
       mfwq events set|reset|delete NAME
       mfwq events list
Named events for operations that wait for one (submit --wait-event) or set one
when they complete (submit --signal-event). Deleting an event cancels the
operations waiting for it.
)"},
};

struct Options {
  std::string server;
  std::string client;
  bool json = false;
  std::vector<std::string> args;  // the command and its arguments
};

// A usage error: printed with a hint, exit 2.
struct UsageError {
  std::string message;
};

// Flags of a command: --name VALUE / --name=VALUE / --switch, and the
// positional arguments.
class Args {
 public:
  Args(const std::vector<std::string>& args, std::size_t from,
       const std::vector<std::string>& switches) {
    for (std::size_t i = from; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a.rfind("--", 0) != 0) {
        positional_.push_back(a);
        continue;
      }
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.erase(eq);
      } else if (std::find(switches.begin(), switches.end(), name) != switches.end()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        throw UsageError{"--" + name + ": needs a value"};
      }
      flags_.emplace(name, value);
    }
  }
  std::optional<std::string> Get(const std::string& name) const {
    auto it = flags_.find(name);
    if (it == flags_.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> out;
    auto [first, last] = flags_.equal_range(name);
    for (auto it = first; it != last; ++it) out.push_back(it->second);
    return out;
  }
  bool Has(const std::string& name) const { return flags_.count(name) != 0; }
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Positional(std::size_t i, const char* what) const {
    if (i >= positional_.size()) throw UsageError{std::string("missing ") + what};
    return positional_[i];
  }
  // Every flag given must be one of `known`, and there must be at most
  // `positionals` arguments besides (one more is a mistake, such as a
  // parameter given without --param, never something to ignore).
  void Check(const std::vector<std::string>& known, std::size_t positionals = 0) const {
    for (const auto& [name, value] : flags_) {
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        throw UsageError{"--" + name + ": not an option of this command"};
      }
    }
    if (positional_.size() > positionals) {
      throw UsageError{"unexpected argument \"" + positional_[positionals] + "\""};
    }
  }

 private:
  std::multimap<std::string, std::string> flags_;
  std::vector<std::string> positional_;
};

std::uint32_t ParseQueueId(const std::string& text) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 0);
  if (text.empty() || *end != '\0' || v == 0 || v > 0xFFFFFFFFul) {
    throw UsageError{"queue id: expected a number such as 5 or 0x10000, got \"" + text + "\""};
  }
  return static_cast<std::uint32_t>(v);
}

std::int64_t ParseInt(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 0);
  if (text.empty() || *end != '\0') throw UsageError{what + ": expected a number, got \"" + text + "\""};
  return v;
}

google::protobuf::Duration ParseDuration(const std::string& text, const std::string& what) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  const std::map<std::string, std::int64_t> ms = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  auto it = ms.find(unit);
  if (digits == 0 || it == ms.end()) {
    throw UsageError{what + ": expected a duration such as 500ms, 30s, 5m or 2h, got \"" + text + "\""};
  }
  return TimeUtil::MillisecondsToDuration(std::stoll(text.substr(0, digits)) * it->second);
}

std::string Hex(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%X", v);
  return text;
}

std::string QueueIdText(std::uint32_t id) { return id < 0x10000 ? std::to_string(id) : Hex(id); }

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;  // S_OK's code 0 too
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

// A table: columns sized to their widest cell.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    std::puts(line.c_str());
  };
  print(header);
  for (const auto& row : rows) print(row);
}

const char* StateName(v1::OperationState s) {
  switch (s) {
    case v1::OPERATION_STATE_PENDING: return "pending";
    case v1::OPERATION_STATE_SCHEDULED: return "scheduled";
    case v1::OPERATION_STATE_WAITING: return "waiting";
    case v1::OPERATION_STATE_RUNNING: return "running";
    case v1::OPERATION_STATE_COMPLETED: return "completed";
    default: return "unknown";
  }
}

std::string StatusText(const v1::HResult& h) {
  char code[16];
  std::snprintf(code, sizeof code, "0x%08X", h.code());
  return (h.name().empty() ? std::string(code) : h.name() + " (" + code + ")");
}

bool Failed(const v1::HResult& h) { return (h.code() & 0x80000000u) != 0; }

class Cli {
 public:
  explicit Cli(Options options) : options_(std::move(options)) {
    mfwq::client::ClientOptions c;
    c.client_name = options_.client;
    client_ = Client::Connect(options_.server, c);
  }

  int Run() {
    const auto& a = options_.args;
    if (a.empty()) throw UsageError{"no command"};
    const std::string& command = a[0];
    const std::string sub = a.size() > 1 ? a[1] : "";
    if (command == "kinds" || command == "catalog") return Kinds();
    if (command == "bench") return Bench();
    if (command == "bench-baseline") return BenchBaseline();
    if (command == "queues") return Queues(sub);
    if (command == "submit") return SubmitCommand();
    if (command == "ops") return Ops(sub);
    if (command == "watch") return Watch();
    if (command == "events") return Events(sub);
    throw UsageError{"unknown command \"" + command + "\""};
  }

 private:
  template <typename T>
  T Must(absl::StatusOr<T> result) {
    if (!result.ok()) throw result.status();
    return std::move(result.value());
  }

  int Kinds() {
    Args(options_.args, 1, {}).Check({});
    auto kinds = Must(client_->ListKinds());
    if (options_.json) {
      for (const auto& k : kinds.kinds()) std::puts(Json(k).c_str());
      return kOk;
    }
    for (const auto& k : kinds.kinds()) {
      std::printf("%s%s%s\n  %s\n", k.name().c_str(),
                  k.cancellable_while_running() ? "  [cancellable]" : "",
                  k.reports_progress() ? "  [progress]" : "", k.description().c_str());
      for (const auto& p : k.parameters()) {
        std::string type = v1::ValueType_Name(p.type()).substr(11);  // VALUE_TYPE_
        for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::printf("  --param %s=<%s>%s  %s\n", p.name().c_str(), type.c_str(),
                    p.required() ? " (required)" : "", p.description().c_str());
      }
    }
    return kOk;
  }

  void PrintQueues(const std::vector<v1::Queue>& queues) {
    if (options_.json) {
      for (const auto& q : queues) std::puts(Json(q).c_str());
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& q : queues) {
      std::string type = v1::QueueType_Name(q.type()).substr(11);  // QUEUE_TYPE_
      for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      rows.push_back({QueueIdText(q.id()), type, q.name(), std::to_string(q.stats().pending()),
                      std::to_string(q.stats().running()), std::to_string(q.stats().completed()),
                      std::to_string(q.stats().failed()), std::to_string(q.stats().cancelled()),
                      std::to_string(q.stats().locks())});
    }
    PrintTable({"ID", "TYPE", "NAME", "PENDING", "RUNNING", "DONE", "FAILED", "CANCELLED", "LOCKS"},
               rows);
  }

  static void Labels(const Args& args, google::protobuf::Map<std::string, std::string>* out) {
    for (const std::string& kv : args.All("label")) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) throw UsageError{"--label: expected KEY=VALUE, got \"" + kv + "\""};
      (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }

  int Queues(const std::string& sub) {
    if (sub == "list") {
      Args args(options_.args, 2, {});
      args.Check({"label"});
      v1::ListQueuesRequest r;
      Labels(args, r.mutable_label_selector());
      std::vector<v1::Queue> all;
      do {
        auto page = Must(client_->ListQueues(r));
        all.insert(all.end(), page.queues().begin(), page.queues().end());
        r.set_page_token(page.next_page_token());
      } while (!r.page_token().empty());
      PrintQueues(all);
      return kOk;
    }
    if (sub == "create") {
      Args args(options_.args, 2, {});
      args.Check({"target", "name", "label"}, 1);
      v1::CreateQueueRequest r;
      const std::string type = args.Positional(0, "queue type (standard, multithreaded, serial)");
      if (type == "standard") {
        r.set_type(v1::QUEUE_TYPE_STANDARD);
      } else if (type == "multithreaded") {
        r.set_type(v1::QUEUE_TYPE_MULTITHREADED);
      } else if (type == "serial") {
        r.set_type(v1::QUEUE_TYPE_SERIAL);
      } else {
        throw UsageError{"queue type: standard, multithreaded or serial, not \"" + type + "\""};
      }
      if (auto t = args.Get("target")) r.set_target_queue_id(ParseQueueId(*t));
      if (auto n = args.Get("name")) r.set_name(*n);
      Labels(args, r.mutable_labels());
      PrintQueues({Must(client_->CreateQueue(r))});
      return kOk;
    }
    if (sub == "get" || sub == "lock" || sub == "unlock") {
      Args args(options_.args, 2, {});
      args.Check({}, 1);
      const std::uint32_t id = ParseQueueId(args.Positional(0, "queue id"));
      v1::Queue q;
      if (sub == "get") {
        v1::GetQueueRequest r;
        r.set_queue_id(id);
        q = Must(client_->GetQueue(r));
      } else if (sub == "lock") {
        v1::LockQueueRequest r;
        r.set_queue_id(id);
        q = Must(client_->LockQueue(r));
      } else {
        v1::UnlockQueueRequest r;
        r.set_queue_id(id);
        q = Must(client_->UnlockQueue(r));
      }
      PrintQueues({q});
      return kOk;
    }
    if (sub == "delete") {
      Args args(options_.args, 2, {"cancel-pending"});
      args.Check({"cancel-pending"}, 1);
      v1::DeleteQueueRequest r;
      r.set_queue_id(ParseQueueId(args.Positional(0, "queue id")));
      r.set_cancel_pending(args.Has("cancel-pending"));
      auto d = Must(client_->DeleteQueue(r));
      if (options_.json) {
        std::puts(Json(d).c_str());
      } else {
        std::printf("deleted %s: %u lock(s) released, %llu operation(s) cancelled\n",
                    QueueIdText(r.queue_id()).c_str(), d.locks_released(),
                    static_cast<unsigned long long>(d.operations_cancelled()));
      }
      return kOk;
    }
    throw UsageError{"queues: list, create, get, lock, unlock or delete"};
  }

  // --param NAME=VALUE, typed by the kind's catalog entry.
  void Parameters(const std::string& kind, const Args& args, v1::SubmitRequest* r) {
    const std::vector<std::string> params = args.All("param");
    if (params.empty()) return;
    auto kinds = Must(client_->ListKinds());
    const v1::KindDescriptor* descriptor = nullptr;
    for (const auto& k : kinds.kinds()) {
      if (k.name() == kind) descriptor = &k;
    }
    if (descriptor == nullptr) throw UsageError{"kind: the server has no kind \"" + kind + "\" (see mfwq kinds)"};
    for (const std::string& kv : params) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) throw UsageError{"--param: expected NAME=VALUE, got \"" + kv + "\""};
      const std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
      const v1::ParameterDescriptor* p = nullptr;
      for (const auto& d : descriptor->parameters()) {
        if (d.name() == name) p = &d;
      }
      if (p == nullptr) throw UsageError{"--param " + name + ": kind \"" + kind + "\" has no such parameter"};
      v1::Value& v = (*r->mutable_parameters())[name];
      const std::string what = "--param " + name;
      switch (p->type()) {
        case v1::VALUE_TYPE_BOOL:
          if (value != "true" && value != "false") throw UsageError{what + ": true or false"};
          v.set_bool_value(value == "true");
          break;
        case v1::VALUE_TYPE_INT:
          v.set_int_value(ParseInt(value, what));
          break;
        case v1::VALUE_TYPE_DOUBLE:
          v.set_double_value(std::strtod(value.c_str(), nullptr));
          break;
        case v1::VALUE_TYPE_BYTES:
          v.set_bytes_value(value);
          break;
        case v1::VALUE_TYPE_DURATION:
          *v.mutable_duration_value() = ParseDuration(value, what);
          break;
        default:
          v.set_string_value(value);
      }
    }
  }

  int PrintCompletion(const v1::Completion& c) {
    if (options_.json) {
      std::puts(Json(c).c_str());
    } else {
      std::printf("%s %s: %s, %llu bytes%s%s\n", c.operation_id().c_str(), c.kind().c_str(),
                  StatusText(c.status()).c_str(),
                  static_cast<unsigned long long>(c.bytes_transferred()),
                  c.message().empty() ? "" : ", ", c.message().c_str());
    }
    return Failed(c.status()) ? kOperationFailed : kOk;
  }

  void PrintOperation(const v1::Operation& op) {
    if (options_.json) {
      std::puts(Json(op).c_str());
      return;
    }
    if (op.has_completion()) {
      PrintCompletion(op.completion());
      return;
    }
    std::printf("%s %s: %s on queue %s", op.id().c_str(), op.kind().c_str(), StateName(op.state()),
                QueueIdText(op.queue_id()).c_str());
    if (op.has_progress()) {
      std::printf(", %llu/%llu bytes", static_cast<unsigned long long>(op.progress().bytes_done()),
                  static_cast<unsigned long long>(op.progress().bytes_total()));
    }
    std::puts("");
  }

  // Waits for `id`, showing progress on a terminal.
  int WaitFor(const std::string& id, std::optional<google::protobuf::Duration> timeout) {
#if defined(_WIN32)
    const bool bar = !options_.json && _isatty(_fileno(stderr));
#else
    const bool bar = !options_.json && isatty(2);
#endif
    if (bar) {
      // The stream brings progress, then the completion.
      v1::WatchCompletionsRequest w;
      w.add_operation_ids(id);
      w.set_include_progress(true);
      auto context = client_->NewContext();
      context->set_deadline(std::chrono::system_clock::time_point::max());
      auto reader = client_->stub().WatchCompletions(context.get(), w);
      v1::Notification n;
      while (reader->Read(&n)) {
        if (n.has_progress() && n.progress().bytes_total() > 0) {
          const int pct = static_cast<int>(100 * n.progress().bytes_done() / n.progress().bytes_total());
          std::fprintf(stderr, "\r[%-40s] %3d%%", std::string(static_cast<std::size_t>(pct * 40 / 100), '#').c_str(), pct);
        } else if (n.has_completion()) {
          std::fputs("\r\033[K", stderr);
          const v1::Completion completion = n.completion();
          context->TryCancel();
          while (reader->Read(&n)) {
          }
          (void)reader->Finish();
          return PrintCompletion(completion);
        }
      }
      grpc::Status s = reader->Finish();
      throw absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    v1::WaitOperationRequest r;
    r.set_operation_id(id);
    for (;;) {
      *r.mutable_timeout() = timeout ? *timeout : TimeUtil::SecondsToDuration(3600);
      auto op = Must(client_->WaitOperation(r));
      if (op.has_completion()) return PrintCompletion(op.completion());
      if (timeout) {
        PrintOperation(op);
        return kOk;
      }
    }
  }

  int SubmitCommand() {
    Args args(options_.args, 1, {"wait"});
    args.Check({"queue", "param", "priority", "delay", "wait-event", "signal-event", "request-id",
                "state", "deadline", "wait"}, 1);
    v1::SubmitRequest r;
    r.set_kind(args.Positional(0, "kind (see mfwq kinds)"));
    r.set_queue_id(args.Get("queue") ? ParseQueueId(*args.Get("queue")) : 5);
    Parameters(r.kind(), args, &r);
    if (auto p = args.Get("priority")) r.set_priority(static_cast<std::int32_t>(ParseInt(*p, "--priority")));
    if (auto d = args.Get("delay")) *r.mutable_delay() = ParseDuration(*d, "--delay");
    if (auto e = args.Get("wait-event")) r.set_wait_event(*e);
    if (auto e = args.Get("signal-event")) r.set_signal_event(*e);
    if (auto id = args.Get("request-id")) r.set_request_id(*id);
    if (auto s = args.Get("state")) r.set_state(*s);
    if (auto d = args.Get("deadline")) {
      *r.mutable_deadline() = TimeUtil::NanosecondsToTimestamp(
          std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count() +
          TimeUtil::DurationToNanoseconds(ParseDuration(*d, "--deadline")));
    }
    auto response = Must(client_->Submit(r));
    if (!args.Has("wait")) {
      PrintOperation(response.operation());
      return kOk;
    }
    if (response.operation().has_completion()) return PrintCompletion(response.operation().completion());
    return WaitFor(response.operation().id(), std::nullopt);
  }

  int Ops(const std::string& sub) {
    if (sub == "get" || sub == "cancel") {
      Args args(options_.args, 2, {});
      args.Check({}, 1);
      const std::string id = args.Positional(0, "operation id");
      if (sub == "get") {
        v1::GetOperationRequest r;
        r.set_operation_id(id);
        PrintOperation(Must(client_->GetOperation(r)));
      } else {
        v1::CancelOperationRequest r;
        r.set_operation_id(id);
        auto c = Must(client_->CancelOperation(r));
        if (options_.json) {
          std::puts(Json(c).c_str());
        } else {
          std::printf("%s: %s\n", id.c_str(), c.cancelled() ? "cancelled" : "had completed already");
        }
      }
      return kOk;
    }
    if (sub == "wait") {
      Args args(options_.args, 2, {});
      args.Check({"timeout"}, 1);
      std::optional<google::protobuf::Duration> timeout;
      if (auto t = args.Get("timeout")) timeout = ParseDuration(*t, "--timeout");
      return WaitFor(args.Positional(0, "operation id"), timeout);
    }
    if (sub == "list") {
      Args args(options_.args, 2, {});
      args.Check({"queue", "state", "kind"});
      v1::ListOperationsRequest r;
      if (auto q = args.Get("queue")) r.set_queue_id(ParseQueueId(*q));
      for (const std::string& s : args.All("state")) {
        v1::OperationState state;
        std::string upper = "OPERATION_STATE_" + s;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (!v1::OperationState_Parse(upper, &state)) throw UsageError{"--state: pending, scheduled, waiting, running or completed"};
        r.add_states(state);
      }
      if (auto k = args.Get("kind")) r.set_kind(*k);
      std::vector<std::vector<std::string>> rows;
      do {
        auto page = Must(client_->ListOperations(r));
        for (const auto& op : page.operations()) {
          if (options_.json) {
            std::puts(Json(op).c_str());
            continue;
          }
          rows.push_back({op.id(), op.kind(), QueueIdText(op.queue_id()), StateName(op.state()),
                          op.has_completion() ? StatusText(op.completion().status()) : ""});
        }
        r.set_page_token(page.next_page_token());
      } while (!r.page_token().empty());
      if (!options_.json) PrintTable({"ID", "KIND", "QUEUE", "STATE", "STATUS"}, rows);
      return kOk;
    }
    throw UsageError{"ops: get, wait, list or cancel"};
  }

  int Watch() {
    Args args(options_.args, 1, {"progress"});
    args.Check({"after", "queue", "op", "progress", "count"});
    v1::WatchCompletionsRequest w;
    if (auto a = args.Get("after")) w.set_after_sequence(static_cast<std::uint64_t>(ParseInt(*a, "--after")));
    for (const std::string& q : args.All("queue")) w.add_queue_ids(ParseQueueId(q));
    for (const std::string& op : args.All("op")) w.add_operation_ids(op);
    w.set_include_progress(args.Has("progress"));
    const std::int64_t count = args.Get("count") ? ParseInt(*args.Get("count"), "--count") : -1;
    auto context = client_->NewContext();
    context->set_deadline(std::chrono::system_clock::time_point::max());
    auto reader = client_->stub().WatchCompletions(context.get(), w);
    std::int64_t seen = 0;
    v1::Notification n;
    while (count != seen && reader->Read(&n)) {
      if (options_.json) {
        std::puts(Json(n).c_str());
      } else if (n.has_completion()) {
        std::printf("%llu ", static_cast<unsigned long long>(n.sequence()));
        PrintCompletion(n.completion());
      } else {
        std::printf("%llu %s progress: %llu/%llu bytes %s\n", static_cast<unsigned long long>(n.sequence()),
                    n.progress().operation_id().c_str(),
                    static_cast<unsigned long long>(n.progress().bytes_done()),
                    static_cast<unsigned long long>(n.progress().bytes_total()),
                    n.progress().message().c_str());
      }
      std::fflush(stdout);
      if (n.has_completion()) ++seen;
    }
    if (count == seen) {
      context->TryCancel();
      while (reader->Read(&n)) {
      }
      (void)reader->Finish();
      return kOk;
    }
    grpc::Status s = reader->Finish();
    throw absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  }

  void PrintEvents(const std::vector<v1::Event>& events) {
    if (options_.json) {
      for (const auto& e : events) std::puts(Json(e).c_str());
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : events) {
      rows.push_back({e.name(), e.manual_reset() ? "manual" : "auto",
                      e.signalled() ? "set" : "", std::to_string(e.waiting_operations())});
    }
    PrintTable({"NAME", "RESET", "STATE", "WAITING"}, rows);
  }

  int Events(const std::string& sub) {
    if (sub == "create") {
      Args args(options_.args, 2, {"manual-reset", "set"});
      args.Check({"manual-reset", "set"}, 1);
      v1::CreateEventRequest r;
      r.set_name(args.Positional(0, "event name"));
      r.set_manual_reset(args.Has("manual-reset"));
      r.set_initially_set(args.Has("set"));
      PrintEvents({Must(client_->CreateEvent(r))});
      return kOk;
    }
    if (sub == "set" || sub == "reset") {
      Args args(options_.args, 2, {});
      args.Check({}, 1);
      if (sub == "set") {
        v1::SetEventRequest r;
        r.set_name(args.Positional(0, "event name"));
        PrintEvents({Must(client_->SetEvent(r))});
      } else {
        v1::ResetEventRequest r;
        r.set_name(args.Positional(0, "event name"));
        PrintEvents({Must(client_->ResetEvent(r))});
      }
      return kOk;
    }
    if (sub == "delete") {
      Args args(options_.args, 2, {});
      args.Check({}, 1);
      v1::DeleteEventRequest r;
      r.set_name(args.Positional(0, "event name"));
      auto d = Must(client_->DeleteEvent(r));
      if (options_.json) {
        std::puts(Json(d).c_str());
      } else {
        std::printf("deleted %s: %u waiting operation(s) cancelled\n", r.name().c_str(),
                    d.operations_cancelled());
      }
      return kOk;
    }
    if (sub == "list") {
      Args(options_.args, 2, {}).Check({});
      v1::ListEventsRequest r;
      std::vector<v1::Event> all;
      do {
        auto page = Must(client_->ListEvents(r));
        all.insert(all.end(), page.events().begin(), page.events().end());
        r.set_page_token(page.next_page_token());
      } while (!r.page_token().empty());
      PrintEvents(all);
      return kOk;
    }
    throw UsageError{"events: create, set, reset, delete or list"};
  }

  int Bench() {
    Args args(options_.args, 1, {});
    args.Check({"ops", "size", "batch", "window", "unary-threads", "latency-samples", "rounds",
                "queue", "baseline"});
    mfwq::cli::BenchOptions o;
    auto count = [&](const char* name, std::size_t& into, std::int64_t max) {
      if (auto v = args.Get(name)) {
        const std::int64_t n = ParseInt(*v, std::string("--") + name);
        if (n < 1 || n > max) {
          throw UsageError{std::string("--") + name + ": expected 1 to " + std::to_string(max) +
                           ", got " + *v};
        }
        into = static_cast<std::size_t>(n);
      }
    };
    count("ops", o.ops, 100000000);
    count("size", o.size, 1 << 20);
    count("batch", o.batch, 1000);
    count("window", o.window, 1000000);
    count("unary-threads", o.unary_threads, 256);
    count("latency-samples", o.latency_samples, 10000000);
    count("rounds", o.rounds, 1000);
    if (auto q = args.Get("queue")) o.queue_id = ParseQueueId(*q);
    if (auto b = args.Get("baseline")) o.baseline = *b;
    return mfwq::cli::RunBench(*client_, options_.server, o, options_.json);
  }

  int BenchBaseline() {
    Args args(options_.args, 1, {});
    args.Check({"listen"});
    const std::string listen = args.Get("listen").value_or("127.0.0.1:0");
    const std::size_t colon = listen.rfind(':');
    const std::int64_t port =
        colon == std::string::npos ? -1 : ParseInt(listen.substr(colon + 1), "--listen port");
    if (colon == 0 || port < 0 || port > 65535) {
      throw UsageError{"--listen: expected HOST:PORT with a port from 0 to 65535, got " + listen};
    }
    return mfwq::cli::RunBenchBaseline(listen);
  }

  Options options_;
  std::unique_ptr<Client> client_;
};

}  // namespace

int main(int argc, char** argv) {
#if !defined(_WIN32)
  // A crash writes the signal and the stack to standard error, then ends
  // the process as the signal would have; SIGTERM stays a plain end.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  std::signal(SIGTERM, SIG_DFL);
#endif
  Options options;
  const char* env = std::getenv("MFWQ_SERVER");
  options.server = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    std::size_t i = 0;
    for (; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--help" || a == "-h" || a == "help") {
        std::fputs(kUsageText, stdout);
        return kOk;
      }
      if (a == "--json") {
        options.json = true;
      } else if (a == "--server" || a == "--client") {
        if (i + 1 == args.size()) throw UsageError{a + ": needs a value"};
        (a == "--server" ? options.server : options.client) = args[++i];
      } else if (a.rfind("--server=", 0) == 0) {
        options.server = a.substr(9);
      } else if (a.rfind("--client=", 0) == 0) {
        options.client = a.substr(9);
      } else if (a.rfind("--", 0) == 0) {
        throw UsageError{a + ": not an option (options of a command come after it)"};
      } else {
        break;
      }
    }
    options.args.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    for (const std::string& a : options.args) {
      if (a == "--help" || a == "-h") {
        auto help = kCommandHelp.find(options.args[0]);
        std::fputs(help != kCommandHelp.end() ? help->second.c_str() : kUsageText, stdout);
        return kOk;
      }
    }
    return Cli(options).Run();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mfwq: %s\n(mfwq --help lists the commands)\n", e.message.c_str());
    return kUsage;
  } catch (const absl::Status& s) {
    if (s.code() == absl::StatusCode::kUnavailable) {
      std::fprintf(stderr, "mfwq: cannot reach the server at %s: %s\n", options.server.c_str(),
                   std::string(s.message()).c_str());
    } else {
      std::fprintf(stderr, "mfwq: %s: %s\n", absl::StatusCodeToString(s.code()).c_str(),
                   std::string(s.message()).c_str());
    }
    return kCallFailed;
  }
}
