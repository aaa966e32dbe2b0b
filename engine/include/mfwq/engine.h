// Settings of mfwq's portable engine that have no Media Foundation
// equivalent. Not available on Windows, where the operating system's
// mfplat runs the queues.
#ifndef MFWQ_ENGINE_H_
#define MFWQ_ENGINE_H_

#include <chrono>

namespace mfwq {

struct EngineOptions {
  // Threads of the multithreaded queues (the platform's MULTITHREADED, IO and
  // LONG_FUNCTION queues and each MF_MULTITHREADED_WORKQUEUE). 0 means one
  // per hardware thread. Threads start on demand, up to this number.
  unsigned pool_threads = 0;
  // How long the last MFShutdown waits for platform locks (MFLockPlatform,
  // live async results) to be released before it stops the queues anyway.
  std::chrono::milliseconds shutdown_wait{3000};
};

// Options take effect at the MFStartup that starts the platform.
// Thread-safe.
void SetEngineOptions(const EngineOptions& options);
EngineOptions GetEngineOptions();

// Resolved thread count of multithreaded queues for `options`.
unsigned PoolThreads(const EngineOptions& options);

}  // namespace mfwq

#endif  // MFWQ_ENGINE_H_
