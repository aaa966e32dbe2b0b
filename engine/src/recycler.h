// Recycler<kSize>: recycles fixed-size blocks for objects that one thread
// allocates and another frees (an async result made by the putting thread,
// released by the worker that ran it), where malloc's per-thread caches do
// not help and every block would otherwise go back through a locked arena.
//
// Freed blocks go onto one lock-free stack; an allocating thread takes the
// whole stack at once into a cache of its own and allocates from that. Taking
// all at once (exchange) and pushing one at a time never meet the ABA
// problem. Blocks are kept for reuse, never returned to the system, and a
// thread keeps the blocks it took until it allocates them or exits: memory
// is bounded by the peak number of live objects times the number of threads
// that allocate (in the engine: the threads that put work). Sanitizer builds
// use plain new/delete so that use-after-free stays detectable.
// REQUIRES: not used from static or thread-local destructors.
#ifndef MFWQ_ENGINE_SRC_RECYCLER_H_
#define MFWQ_ENGINE_SRC_RECYCLER_H_

#include <atomic>
#include <cstddef>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MFWQ_RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MFWQ_RECYCLE 0
#endif
#endif
#ifndef MFWQ_RECYCLE
#define MFWQ_RECYCLE 1
#endif

namespace mfwq::engine {

template <std::size_t kSize>
class Recycler {
 public:
  static void* Allocate() {
#if MFWQ_RECYCLE
    Cache& cache = MyCache();
    if (cache.head == nullptr) cache.head = returned_.exchange(nullptr, std::memory_order_acquire);
    if (Block* b = cache.head) {
      cache.head = b->next;
      return b;
    }
#endif
    return ::operator new(kBlock);
  }

  static void Free(void* p) {
#if MFWQ_RECYCLE
    Push(static_cast<Block*>(p));
#else
    ::operator delete(p);
#endif
  }

 private:
  struct Block {
    Block* next;
  };
  static constexpr std::size_t kBlock = kSize < sizeof(Block) ? sizeof(Block) : kSize;

  // A thread's private blocks; handed back to the shared stack at thread exit.
  struct Cache {
    Block* head = nullptr;
    ~Cache() {
      while (Block* b = head) {
        head = b->next;
        Push(b);
      }
    }
  };
  static Cache& MyCache() {
    thread_local Cache cache;
    return cache;
  }
  static void Push(Block* b) {
    b->next = returned_.load(std::memory_order_relaxed);
    while (!returned_.compare_exchange_weak(b->next, b, std::memory_order_release,
                                            std::memory_order_relaxed)) {
    }
  }

  alignas(64) static inline std::atomic<Block*> returned_{nullptr};  // hot: a line of its own
};

}  // namespace mfwq::engine

#endif  // MFWQ_ENGINE_SRC_RECYCLER_H_
