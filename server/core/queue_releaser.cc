#include "queue_releaser.h"

#include "thread_name.h"

namespace mfwq::server {

QueueReleaser::QueueReleaser() : thread_([this] { Loop(); }) {}

QueueReleaser::~QueueReleaser() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void QueueReleaser::Release(DWORD id, std::uint32_t times) {
  if (times == 0) return;
  {
    MutexLock lock(mu_);
    pending_.emplace_back(id, times);
    ++asked_;
  }
  cv_.notify_all();
}

void QueueReleaser::WaitUntilIdle() {
  MutexLock lock(mu_);
  const std::uint64_t target = asked_;
  cv_.wait(lock.native(), [&]() MFWQ_REQUIRES(mu_) { return done_ >= target; });
}

void QueueReleaser::Loop() {
  NameThisThread("mfwq-releaser");
  MutexLock lock(mu_);
  for (;;) {
    cv_.wait(lock.native(), [this]() MFWQ_REQUIRES(mu_) { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // and stopping
    const auto [id, times] = pending_.front();
    pending_.pop_front();
    lock.Unlock();
    // The platform may already be shut down (MF_E_SHUTDOWN): nothing is held then.
    for (std::uint32_t i = 0; i < times; ++i) MFUnlockWorkQueue(id);
    lock.Lock();
    ++done_;
    cv_.notify_all();
  }
}

}  // namespace mfwq::server
