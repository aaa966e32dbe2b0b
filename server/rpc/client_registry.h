// ClientRegistry: which clients are present, so that what a client holds
// (queue locks, events) is released when it goes away.
//
// A client is present while it has a stream open (WatchCompletions,
// Session) and for `lease` after its last call or stream. When neither
// holds any longer, `release` runs for it once, on the registry's thread.
// A crashed test rig therefore leaks nothing: its streams break, its lease
// runs out, its locks and events go. A client has at most
// `max_streams` open at once (0: no limit). Thread-safe.
#ifndef MFWQ_SERVER_RPC_CLIENT_REGISTRY_H_
#define MFWQ_SERVER_RPC_CLIENT_REGISTRY_H_

#include <mfwq/thread_annotations.h>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "status.h"

namespace mfwq::server::rpc {

class ClientRegistry {
 public:
  using Release = std::function<void(const std::string& client)>;

  ClientRegistry(std::chrono::milliseconds lease, Release release, std::size_t max_streams = 0);
  // Stops the registry's thread; releases nobody.
  ~ClientRegistry();

  ClientRegistry(const ClientRegistry&) = delete;
  ClientRegistry& operator=(const ClientRegistry&) = delete;

  // The client made a call.
  void Touch(const std::string& client);
  // A stream of the client's opens / closes. Opening one more than
  // max_streams is RESOURCE_EXHAUSTED naming the limit (and not counted:
  // no CloseStream for it).
  Status OpenStream(const std::string& client);
  void CloseStream(const std::string& client);

  // How many clients are present.
  std::size_t present() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Presence {
    int streams = 0;
    Clock::time_point last_seen;
  };
  void Run();

  const std::chrono::milliseconds lease_;
  const Release release_;
  const std::size_t max_streams_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Presence> clients_ MFWQ_GUARDED_BY(mu_);
  bool stop_ MFWQ_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace mfwq::server::rpc

#endif  // MFWQ_SERVER_RPC_CLIENT_REGISTRY_H_
