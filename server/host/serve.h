// How a process runs the server, the same whether it was started from a
// console or by the Windows service control manager: logs set up, the
// server started, told to whoever started it, run until asked to stop, then
// shut down gracefully (drain, cancel the rest with journaled completions).
#ifndef MFWQ_SERVER_HOST_SERVE_H_
#define MFWQ_SERVER_HOST_SERVE_H_

#include <functional>
#include <string>

#include "config.h"

namespace mfwq::server {

struct ServeHooks {
  // Called once the server listens, with the address it bound.
  std::function<void(const std::string& address)> listening;
  // Blocks until the server is asked to stop; returns why ("SIGTERM",
  // "CTRL_C", "SERVICE_STOP", ...), for the log.
  std::function<std::string()> wait_for_stop;
  // Called when the drain begins (a service reports STOP_PENDING then).
  std::function<void()> stopping;
};

// Runs the server with `config` until asked to stop. OK once it has shut
// down; the error (for the caller to print) if it could not start.
Status Serve(const Config& config, const ServeHooks& hooks);

}  // namespace mfwq::server

#endif  // MFWQ_SERVER_HOST_SERVE_H_
