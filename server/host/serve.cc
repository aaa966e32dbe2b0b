#include "serve.h"

#include "log.h"
#include "server.h"

namespace mfwq::server {

Status Serve(const Config& config, const ServeHooks& hooks) {
  if (!config.log_file.empty()) {
    std::string error;
    if (!LogLine::SetFile(config.log_file, &error)) {
      return Status(StatusCode::kUnavailable, error);
    }
  }
  auto server = Server::Start(config);
  if (!server.ok()) {
    LogLine("error", "start_failed").Field("reason", server.status().message());
    return server.status();
  }
  if (hooks.listening) hooks.listening(server.value()->address());
  const std::string reason = hooks.wait_for_stop();
  LogLine("info", "signal").Field("signal", reason);
  if (hooks.stopping) hooks.stopping();
  server.value()->Shutdown(config.drain_timeout);
  server.value().reset();
  return OkStatus();
}

}  // namespace mfwq::server
