#include "queue_releaser.h"

namespace mfwq::server {

QueueReleaser::QueueReleaser() : thread_([this] { Loop(); }) {}

QueueReleaser::~QueueReleaser() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void QueueReleaser::Release(DWORD id, std::uint32_t times) {
  if (times == 0) return;
  {
    std::lock_guard lock(mu_);
    pending_.emplace_back(id, times);
    ++asked_;
  }
  cv_.notify_all();
}

void QueueReleaser::WaitUntilIdle() {
  std::unique_lock lock(mu_);
  const std::uint64_t target = asked_;
  cv_.wait(lock, [&] { return done_ >= target; });
}

void QueueReleaser::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // and stopping
    const auto [id, times] = pending_.front();
    pending_.pop_front();
    lock.unlock();
    // The platform may already be shut down (MF_E_SHUTDOWN): nothing is held then.
    for (std::uint32_t i = 0; i < times; ++i) MFUnlockWorkQueue(id);
    lock.lock();
    ++done_;
    cv_.notify_all();
  }
}

}  // namespace mfwq::server
