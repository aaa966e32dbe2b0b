#include "client_registry.h"

#include <vector>

#include "thread_name.h"

namespace mfwq::server::rpc {

ClientRegistry::ClientRegistry(std::chrono::milliseconds lease, Release release,
                               std::size_t max_streams)
    : lease_(lease),
      release_(std::move(release)),
      max_streams_(max_streams),
      thread_([this] { Run(); }) {}

ClientRegistry::~ClientRegistry() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ClientRegistry::Touch(const std::string& client) {
  MutexLock lock(mu_);
  Presence& p = clients_[client];
  const bool idle = p.streams == 0;
  p.last_seen = Clock::now();
  if (idle) cv_.notify_all();  // its lease now ends later; or it is new
}

Status ClientRegistry::OpenStream(const std::string& client) {
  MutexLock lock(mu_);
  Presence& p = clients_[client];
  p.last_seen = Clock::now();
  if (max_streams_ != 0 && static_cast<std::size_t>(p.streams) >= max_streams_) {
    return Status(StatusCode::kResourceExhausted,
                  "limit max_streams_per_client: this client has " + std::to_string(p.streams) +
                      " streams open (WatchCompletions and Session), the most it may");
  }
  ++p.streams;
  return OkStatus();
}

void ClientRegistry::CloseStream(const std::string& client) {
  MutexLock lock(mu_);
  Presence& p = clients_[client];
  if (p.streams > 0) --p.streams;
  p.last_seen = Clock::now();
  if (p.streams == 0) cv_.notify_all();
}

std::size_t ClientRegistry::present() const {
  MutexLock lock(mu_);
  return clients_.size();
}

void ClientRegistry::Run() {
  NameThisThread("mfwq-clients");
  MutexLock lock(mu_);
  while (!stop_) {
    const Clock::time_point now = Clock::now();
    std::vector<std::string> gone;
    Clock::time_point next = Clock::time_point::max();
    for (const auto& [client, p] : clients_) {
      if (p.streams > 0) continue;
      const Clock::time_point expiry = p.last_seen + lease_;
      if (expiry <= now) {
        gone.push_back(client);
      } else if (expiry < next) {
        next = expiry;
      }
    }
    for (const std::string& client : gone) clients_.erase(client);
    if (!gone.empty()) {
      // Not under the lock: releasing calls into the tables, and a call of
      // the client's meanwhile just makes it present again.
      lock.Unlock();
      for (const std::string& client : gone) release_(client);
      lock.Lock();
      continue;
    }
    if (next == Clock::time_point::max()) {
      cv_.wait(lock.native());
    } else {
      cv_.wait_until(lock.native(), next);
    }
  }
}

}  // namespace mfwq::server::rpc
