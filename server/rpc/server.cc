#include "server.h"

#include <filesystem>
#include <system_error>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "builtin_kinds.h"
#include "exec_kind.h"
#include "file_kinds.h"
#include "library_log.h"
#include "log.h"
#include "thread_name.h"

namespace mfwq::server {

StatusOr<std::unique_ptr<Server>> Server::Start(const Config& config) {
  std::unique_ptr<Server> server(new Server(config));
  if (Status s = server->Init(); !s.ok()) return s;
  return server;
}

Server::Server(const Config& config) : config_(config) {}

Status Server::Init() {
  LogLine::SetLevel(config_.log_level);
  RouteProtobufLogs();
  if (HRESULT hr = MFStartup(MF_VERSION, MFSTARTUP_FULL); FAILED(hr)) {
    return StatusFromHResult(hr, "MFStartup");
  }
  mf_started_ = true;

  // Settings are UTF-8 (on Windows too, where a narrow path would be read
  // in the ANSI code page); SQLite takes UTF-8 file names.
  const std::filesystem::path data_dir(
      std::u8string(config_.data_dir.begin(), config_.data_dir.end()));
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return Status(StatusCode::kUnavailable,
                  "data_dir " + config_.data_dir + ": cannot create: " + ec.message());
  }
  const std::u8string journal_path = (data_dir / "journal.db").u8string();
  auto journal = SqliteJournal::Open(
      std::string(journal_path.begin(), journal_path.end()),
      config_.journal_sync == "full" ? SqliteJournal::Sync::kFull : SqliteJournal::Sync::kNormal);
  if (!journal.ok()) return journal.status();
  journal_ = std::move(journal.value());

  if (Status s = RegisterBuiltinKinds(kinds_); !s.ok()) return s;
  FileKindsOptions files;
  files.roots = config_.file_roots;
  if (Status s = RegisterFileKinds(kinds_, files); !s.ok()) {
    return Status(s.code(), "file_root: " + s.message());
  }
  ExecOptions exec;
  exec.allowlist = config_.exec_allow;
  if (Status s = RegisterExecKind(kinds_, exec); !s.ok()) {
    return Status(s.code(), "exec_allow: " + s.message());
  }

  QueueLimits queue_limits;
  queue_limits.max_queues = config_.max_queues;
  queue_limits.max_queues_per_client = config_.max_queues_per_client;
  queue_limits.max_serial_chain = config_.max_serial_chain;
  queues_ = std::make_unique<QueueTable>(queue_limits);
  OperationTableOptions options;
  options.journal = journal_.get();
  options.retain_count = config_.retain_count;
  options.retain_age = std::chrono::duration_cast<std::chrono::seconds>(config_.retain_age);
  options.max_inflight_per_client = config_.max_inflight_per_client;
  options.max_queue_depth = config_.max_queue_depth;
  operations_ = std::make_unique<OperationTable>(kinds_, *queues_, events_, &hub_, options);
  if (Status s = operations_->Restore(); !s.ok()) return s;
  // Streams resume from what the journal holds: the hub carries on from there.
  hub_.Seed(operations_->last_sequence());
  LogLine("info", "journal_restored")
      .Field("path", journal_->path())
      .Field("last_sequence", operations_->last_sequence());

  clients_ = std::make_unique<rpc::ClientRegistry>(
      config_.client_lease, [this](const std::string& client) {
        queues_->ReleaseClient(client);
        // Operations still waiting on its events would wait for ever.
        for (const std::string& name : events_.ReleaseClient(client)) {
          operations_->CancelWaitingOn(client, name);
        }
        LogLine("info", "client_released").Field("client", client);
      },
      config_.max_streams_per_client);
  service_ = std::make_unique<rpc::WorkQueuesService>(
      rpc::ServiceCore{kinds_, *queues_, events_, *operations_, hub_, *clients_},
      rpc::ServiceOptions{config_.max_buffered_notifications, 1000, config_.max_message_bytes});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  // Reflection v1 beside gRPC's v1alpha: current grpcurl and Postman ask for v1.
  reflection_v1_ = std::make_unique<rpc::ReflectionV1>(std::vector<std::string>{
      "mfwq.v1.WorkQueues", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection"});
  builder.RegisterService(reflection_v1_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_message_bytes));
  // Long idle streams survive proxies: clients may ping every 10 s.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A port another process listens on is refused, not shared: gRPC would
  // otherwise set SO_REUSEPORT, and the kernel would deal connections out
  // between two servers with different journals.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc_ = builder.BuildAndStart();
  if (!grpc_ || port_ == 0) {
    return Status(StatusCode::kUnavailable,
                  "listen " + config_.listen +
                      ": cannot listen there (the port is in use or privileged, or the address "
                      "is not one of this machine's)");
  }
  address_ = config_.listen.substr(0, config_.listen.rfind(':')) + ":" + std::to_string(port_);
  if (auto* health = grpc_->GetHealthCheckService()) {
    health->SetServingStatus(true);
    health->SetServingStatus("mfwq.v1.WorkQueues", true);
  }
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  LogLine("info", "listening").Field("address", address_).Field("data_dir", config_.data_dir);
  return OkStatus();
}

void Server::MaintenanceLoop() {
  NameThisThread("mfwq-maintain");
  MutexLock lock(mu_);
  while (!stopping_) {
    if (cv_.wait_for(lock.native(), config_.maintenance_interval, [this]() MFWQ_REQUIRES(mu_) { return stopping_; })) break;
    lock.Unlock();
    operations_->Maintain();
    lock.Lock();
  }
}

void Server::Shutdown(std::chrono::milliseconds drain) {
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (grpc_) {
    if (auto* health = grpc_->GetHealthCheckService()) health->SetServingStatus(false);
  }
  if (operations_) {
    operations_->StopAccepting();
    const std::size_t open = operations_->outstanding();
    LogLine("info", "shutting_down")
        .Field("operations_open", std::uint64_t{open})
        .Field("drain_ms", static_cast<std::int64_t>(drain.count()));
    if (!operations_->Drain(Clock::now() + drain)) {
      LogLine("warn", "drain_timed_out")
          .Field("operations_cancelled", std::uint64_t{operations_->outstanding()});
    }
    operations_->CancelAll("server shutting down");
  }
  if (grpc_) {
    // Streams get a moment to send what they hold, then are cancelled.
    grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc_->Wait();
  }
  if (grpc_) {
    LogLine("info", "stopped").Field("last_sequence", operations_->last_sequence());
  }
}

Server::~Server() {
  Shutdown(std::chrono::milliseconds(0));
  grpc_.reset();
  service_.reset();
  reflection_v1_.reset();
  clients_.reset();
  operations_.reset();
  queues_.reset();
  journal_.reset();
  if (mf_started_) MFShutdown();
}

}  // namespace mfwq::server
