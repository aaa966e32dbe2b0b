// AdaptiveMutex and CondVar for the engine's hot paths.
//
// Work-queue locks are held for a few instructions (push or pop an item) but
// taken by the producer and every worker of a queue on every item. A plain
// mutex puts a thread to sleep the moment it finds the lock held, which costs
// two context switches for a wait of nanoseconds. This one is glibc's
// adaptive mutex: it spins briefly first. Only off Windows (the engine
// itself is only built there).
#ifndef MFWQ_ENGINE_SRC_SYNC_H_
#define MFWQ_ENGINE_SRC_SYNC_H_

#include <pthread.h>

#include <chrono>
#include <ctime>
#include <mutex>

#include <mfwq/thread_annotations.h>

namespace mfwq::engine {

class MFWQ_CAPABILITY("mutex") AdaptiveMutex {
 public:
  AdaptiveMutex() {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
#if defined(PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP)
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(&mu_, &attr);
    pthread_mutexattr_destroy(&attr);
  }
  ~AdaptiveMutex() { pthread_mutex_destroy(&mu_); }
  AdaptiveMutex(const AdaptiveMutex&) = delete;
  AdaptiveMutex& operator=(const AdaptiveMutex&) = delete;

  void lock() MFWQ_ACQUIRE() { pthread_mutex_lock(&mu_); }
  void unlock() MFWQ_RELEASE() { pthread_mutex_unlock(&mu_); }
  bool try_lock() MFWQ_TRY_ACQUIRE(true) { return pthread_mutex_trylock(&mu_) == 0; }

 private:
  friend class CondVar;
  pthread_mutex_t mu_;
};

// Holds a AdaptiveMutex for its scope (or until Unlock), as std::unique_lock does.
class MFWQ_SCOPED_CAPABILITY AdaptiveMutexLock {
 public:
  explicit AdaptiveMutexLock(AdaptiveMutex& mu) MFWQ_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~AdaptiveMutexLock() MFWQ_RELEASE() {
    if (held_) mu_.unlock();
  }
  AdaptiveMutexLock(const AdaptiveMutexLock&) = delete;
  AdaptiveMutexLock& operator=(const AdaptiveMutexLock&) = delete;

  void Unlock() MFWQ_RELEASE() {
    held_ = false;
    mu_.unlock();
  }
  void Lock() MFWQ_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

 private:
  friend class CondVar;
  AdaptiveMutex& mu_;
  bool held_ = true;
};

class CondVar {
 public:
  CondVar() {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cv_, &attr);
    pthread_condattr_destroy(&attr);
  }
  ~CondVar() { pthread_cond_destroy(&cv_); }
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // REQUIRES: `lock` holds its mutex; holds it again on return.
  void Wait(AdaptiveMutexLock& lock) { pthread_cond_wait(&cv_, &lock.mu_.mu_); }
  void NotifyOne() { pthread_cond_signal(&cv_); }
  void NotifyAll() { pthread_cond_broadcast(&cv_); }

 private:
  pthread_cond_t cv_;
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_SYNC_H_
