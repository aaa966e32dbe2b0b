// Clang's thread-safety analysis (-Wthread-safety), for code that cannot
// use Abseil's (the engine and the server core build for Windows, with
// mingw-w64's GCC, too): attributes that name which mutex guards a member
// and which a function needs, and a mutex and lock the analysis
// understands. Under other compilers the attributes are nothing, and
// Mutex and MutexLock are std::mutex and std::unique_lock.
//
//   mfwq::Mutex mu_;
//   int count_ MFWQ_GUARDED_BY(mu_);
//   void BumpLocked() MFWQ_REQUIRES(mu_);
//   ...
//   mfwq::MutexLock lock(mu_);
//   cv_.wait(lock.native(), [this]() MFWQ_REQUIRES(mu_) { return count_ > 0; });
#ifndef MFWQ_THREAD_ANNOTATIONS_H_
#define MFWQ_THREAD_ANNOTATIONS_H_

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define MFWQ_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MFWQ_THREAD_ANNOTATION(x)
#endif

#define MFWQ_CAPABILITY(x) MFWQ_THREAD_ANNOTATION(capability(x))
#define MFWQ_SCOPED_CAPABILITY MFWQ_THREAD_ANNOTATION(scoped_lockable)
#define MFWQ_GUARDED_BY(x) MFWQ_THREAD_ANNOTATION(guarded_by(x))
#define MFWQ_PT_GUARDED_BY(x) MFWQ_THREAD_ANNOTATION(pt_guarded_by(x))
#define MFWQ_ACQUIRED_BEFORE(...) MFWQ_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define MFWQ_ACQUIRED_AFTER(...) MFWQ_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define MFWQ_REQUIRES(...) MFWQ_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define MFWQ_REQUIRES_SHARED(...) MFWQ_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define MFWQ_ACQUIRE(...) MFWQ_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define MFWQ_ACQUIRE_SHARED(...) MFWQ_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define MFWQ_RELEASE(...) MFWQ_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define MFWQ_RELEASE_SHARED(...) MFWQ_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define MFWQ_TRY_ACQUIRE(...) MFWQ_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define MFWQ_EXCLUDES(...) MFWQ_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define MFWQ_ASSERT_CAPABILITY(x) MFWQ_THREAD_ANNOTATION(assert_capability(x))
#define MFWQ_RETURN_CAPABILITY(x) MFWQ_THREAD_ANNOTATION(lock_returned(x))
#define MFWQ_NO_THREAD_SAFETY_ANALYSIS MFWQ_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace mfwq {

// A std::mutex the analysis knows.
class MFWQ_CAPABILITY("mutex") Mutex {
 public:
  void lock() MFWQ_ACQUIRE() { mu_.lock(); }
  void unlock() MFWQ_RELEASE() { mu_.unlock(); }
  bool try_lock() MFWQ_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // The mutex itself, for std::condition_variable through MutexLock::native.
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope (or until Unlock), as std::unique_lock does.
class MFWQ_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) MFWQ_ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() MFWQ_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() MFWQ_RELEASE() { lock_.unlock(); }
  void Lock() MFWQ_ACQUIRE() { lock_.lock(); }
  // For std::condition_variable's waits (whose predicates are lambdas
  // marked MFWQ_REQUIRES with the mutex).
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// A std::shared_mutex the analysis knows: held by one writer (WriterLock)
// or many readers (ReaderLock).
class MFWQ_CAPABILITY("mutex") SharedMutex {
 public:
  void lock() MFWQ_ACQUIRE() { mu_.lock(); }
  void unlock() MFWQ_RELEASE() { mu_.unlock(); }
  void lock_shared() MFWQ_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() MFWQ_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class MFWQ_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) MFWQ_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~WriterLock() MFWQ_RELEASE() { mu_.unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class MFWQ_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) MFWQ_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.lock_shared(); }
  ~ReaderLock() MFWQ_RELEASE() { mu_.unlock_shared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace mfwq

#endif  // MFWQ_THREAD_ANNOTATIONS_H_
