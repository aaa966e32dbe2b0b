// Server: the whole of mfwq-server but its main(): the journal in the data
// directory, the core's tables, the gRPC service with health checking and
// reflection, client presence, and periodic maintenance; started, and shut
// down gracefully (stop accepting, drain, cancel the rest with journaled
// completions).
#ifndef MFWQ_SERVER_RPC_SERVER_H_
#define MFWQ_SERVER_RPC_SERVER_H_

#include <mfwq/thread_annotations.h>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "client_registry.h"
#include "completion_hub.h"
#include "config.h"
#include "event_table.h"
#include "operation_kind.h"
#include "operation_table.h"
#include "queue_table.h"
#include "reflection_v1.h"
#include "service.h"
#include "sqlite_journal.h"

namespace mfwq::server {

class Server {
 public:
  // Starts serving: MFStartup, the journal (restoring what it holds), the
  // gRPC server on config.listen. The error says what failed.
  static StatusOr<std::unique_ptr<Server>> Start(const Config& config);
  // Shuts down (with no drain time) if Shutdown was not called.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "HOST:PORT" as bound (the port chosen, for port 0).
  const std::string& address() const { return address_; }
  int port() const { return port_; }

  // Stops accepting submissions, lets accepted operations finish for up to
  // `drain`, cancels the rest (MF_E_SHUTDOWN, journaled), then stops the
  // gRPC server. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

 private:
  explicit Server(const Config& config);
  Status Init();
  void MaintenanceLoop();

  const Config config_;
  bool mf_started_ = false;
  std::unique_ptr<SqliteJournal> journal_;
  KindRegistry kinds_;
  std::unique_ptr<QueueTable> queues_;
  EventTable events_;
  rpc::CompletionHub hub_;
  std::unique_ptr<OperationTable> operations_;
  std::unique_ptr<rpc::ClientRegistry> clients_;
  std::unique_ptr<rpc::WorkQueuesService> service_;
  std::unique_ptr<rpc::ReflectionV1> reflection_v1_;
  std::unique_ptr<grpc::Server> grpc_;
  std::string address_;
  int port_ = 0;

  Mutex mu_;
  std::condition_variable cv_;
  bool stopping_ MFWQ_GUARDED_BY(mu_) = false;
  bool stopped_ MFWQ_GUARDED_BY(mu_) = false;
  std::thread maintenance_;
};

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_RPC_SERVER_H_
