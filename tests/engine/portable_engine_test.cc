// Behaviour of the portable engine that has no Windows counterpart to check
// against: its own options, and bad handles that on Windows could name some
// other kernel object.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <pthread.h>

#include <mfwq/engine.h>
#include <mfwq/hresult.h>

#include "test_support.h"

namespace mfwq::test {
namespace {

using Clock = std::chrono::steady_clock;

// Restores the engine's options after each test.
class PortableEngine : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = GetEngineOptions(); }
  void TearDown() override { SetEngineOptions(saved_); }
  static void SetShutdownWait(std::chrono::milliseconds wait) {
    EngineOptions options = GetEngineOptions();
    options.shutdown_wait = wait;
    SetEngineOptions(options);
  }
  EngineOptions saved_;
};

TEST_F(PortableEngine, BadHandlesAreErrorsNotCrashes) {
  HANDLE garbage[] = {nullptr, INVALID_HANDLE_VALUE, reinterpret_cast<HANDLE>(0x7),
                      reinterpret_cast<HANDLE>(0xdeadbeef0000ull)};
  for (HANDLE h : garbage) {
    EXPECT_FALSE(SetEvent(h));
    EXPECT_FALSE(ResetEvent(h));
    EXPECT_FALSE(CloseHandle(h));
    EXPECT_EQ(WaitForSingleObject(h, 0), WAIT_FAILED);
  }
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  MFWORKITEM_KEY key = 0;
  EXPECT_EQ(MFPutWaitingWorkItem(reinterpret_cast<HANDLE>(0x7), 0, result.get(), &key), E_HANDLE);
  EXPECT_EQ(cb->invocations(), 0);
  result.Reset();
  ASSERT_EQ(MFShutdown(), S_OK);
}

TEST_F(PortableEngine, PoolThreadsBoundTheConcurrencyOfMultithreadedQueues) {
  EngineOptions options = GetEngineOptions();
  options.pool_threads = 3;
  SetEngineOptions(options);
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &queue), S_OK);

  // Three items meet inside the queue at once (so there are three threads);
  // the three behind them find no fourth thread free.
  Countdown three_inside(3);
  Gate release;
  std::atomic<int> inside{0}, most{0};
  Countdown done(6);
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    int now = ++inside;
    for (int m = most.load(); now > m && !most.compare_exchange_weak(m, now);) {
    }
    three_inside.Arrive();
    release.Wait();
    --inside;
    done.Arrive();
  });
  for (int i = 0; i < 6; ++i) ASSERT_EQ(MFPutWorkItem(queue, cb.get(), nullptr), S_OK);
  ASSERT_TRUE(three_inside.Wait());
  release.Open();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(most.load(), 3);
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
  ASSERT_EQ(MFShutdown(), S_OK);
}

// Every MFCreateAsyncResult result holds a platform lock: MFShutdown waits
// for it, up to shutdown_wait.
TEST_F(PortableEngine, ShutdownWaitsForLiveResultsUpToItsLimit) {
  SetShutdownWait(std::chrono::milliseconds(200));
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(MFShutdown(), S_OK);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(200));
  result.Reset();  // released after shutdown: harmless
}

TEST_F(PortableEngine, ShutdownReturnsAsSoonAsTheLastResultGoes) {
  SetShutdownWait(std::chrono::hours(1));
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  Gate returned;
  std::thread shutdown([&] {
    EXPECT_EQ(MFShutdown(), S_OK);
    returned.Open();
  });
  EXPECT_FALSE(returned.WaitFor(std::chrono::milliseconds(200)));
  result.Reset();
  EXPECT_TRUE(returned.Wait());  // would take an hour if the release were missed
  shutdown.join();
}

// Scheduled and waiting items still pending at shutdown are released.
TEST_F(PortableEngine, ShutdownReleasesScheduledAndWaitingItems) {
  SetShutdownWait(std::chrono::milliseconds(0));
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  std::atomic<int> released{0};
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  EventHandle event(false, false);
  {
    auto state = Tracked::Make(&released);
    MFWORKITEM_KEY key = 0;
    ASSERT_EQ(MFScheduleWorkItem(cb.get(), state.get(), -3600 * 1000, &key), S_OK);
    ComPtr<IMFAsyncResult> waiting;
    ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), state.get(), waiting.ReleaseAndGetAddressOf()),
              S_OK);
    ASSERT_EQ(MFPutWaitingWorkItem(event.get(), 0, waiting.get(), &key), S_OK);
  }
  EXPECT_EQ(released.load(), 0);
  ASSERT_EQ(MFShutdown(), S_OK);
  EXPECT_EQ(released.load(), 1);
  EXPECT_TRUE(SetEvent(event.get()));  // nothing waits on it any more
  EXPECT_EQ(cb->invocations(), 0);
}

// MF's documentation does not say what becomes of items queued on a queue
// whose last lock goes (Wine drops them). The engine keeps its promise that
// a successful put runs its callback: the queue finishes its backlog.
TEST_F(PortableEngine, FreedQueueStillRunsItemsAlreadyQueued) {
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  QueueBlocker blocker;
  constexpr int kItems = 10;
  Countdown done(kItems);
  auto item = Callback::Make([&](IMFAsyncResult*) { done.Arrive(); });
  ASSERT_TRUE(blocker.Block(queue));
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(MFPutWorkItem(queue, item.get(), nullptr), S_OK);
  ASSERT_EQ(MFUnlockWorkQueue(queue), S_OK);
  blocker.Release();
  EXPECT_TRUE(done.Wait());
  EXPECT_EQ(item->invocations(), kItems);
  ASSERT_EQ(MFShutdown(), S_OK);
}

// A chain of serial queues, each targeting the one before, is as deep as a
// caller makes it. Items pass down it, the queues retire one into the next,
// and the chain is released, all without a call per queue on the stack: a
// chain this deep overflowed the stack of the thread that put an item on it.
// (The portable engine's own guarantee: MF documents no depth.)
TEST_F(PortableEngine, SerialChainsOfAnyDepthNeitherRecurseNorOverflow) {
  constexpr int kDepth = 50000;
  constexpr int kItems = 3;
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  std::vector<DWORD> chain;
  chain.reserve(kDepth);
  DWORD target = MFASYNC_CALLBACK_QUEUE_MULTITHREADED;
  for (int i = 0; i < kDepth; ++i) {
    DWORD queue = 0;
    ASSERT_EQ(MFAllocateSerialWorkQueue(target, &queue), S_OK) << "queue " << i;
    chain.push_back(queue);
    target = queue;
  }
  Countdown done(2 * kItems);
  auto item = Callback::Make([&](IMFAsyncResult*) { done.Arrive(); });
  // Put from a thread with a small stack (256 KiB), on the deepest queue and
  // on one half-way down, so that items meet on their way.
  std::atomic<bool> put{true};
  {
    pthread_attr_t attr;
    ASSERT_EQ(pthread_attr_init(&attr), 0);
    ASSERT_EQ(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
    struct Args {
      std::vector<DWORD>* chain;
      IMFAsyncCallback* item;
      std::atomic<bool>* put;
    } args{&chain, item.get(), &put};
    pthread_t thread;
    ASSERT_EQ(pthread_create(
                  &thread, &attr,
                  [](void* p) -> void* {
                    auto* a = static_cast<Args*>(p);
                    for (int i = 0; i < kItems; ++i) {
                      for (DWORD queue : {a->chain->back(), (*a->chain)[kDepth / 2]}) {
                        if (FAILED(MFPutWorkItem(queue, a->item, nullptr))) *a->put = false;
                      }
                    }
                    return nullptr;
                  },
                  &args),
              0);
    pthread_attr_destroy(&attr);
    ASSERT_EQ(pthread_join(thread, nullptr), 0);
  }
  EXPECT_TRUE(put.load());
  EXPECT_TRUE(done.Wait());
  EXPECT_EQ(item->invocations(), 2 * kItems);
  // Freed from the top: each queue, once drained, unlocks the one below.
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    ASSERT_EQ(MFUnlockWorkQueue(*it), S_OK);
  }
  ASSERT_EQ(MFShutdown(), S_OK);
}

// Queue ids stay stale across a restart of the platform, too.
TEST_F(PortableEngine, QueueIdFromBeforeRestartIsStale) {
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  DWORD old_queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&old_queue), S_OK);
  ASSERT_EQ(MFShutdown(), S_OK);

  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  EXPECT_EQ(MFPutWorkItem(old_queue, cb.get(), nullptr), MF_E_INVALID_WORKQUEUE);
  DWORD new_queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&new_queue), S_OK);
  EXPECT_NE(new_queue, old_queue);
  EXPECT_EQ(MFUnlockWorkQueue(new_queue), S_OK);
  ASSERT_EQ(MFShutdown(), S_OK);
  EXPECT_EQ(cb->invocations(), 0);
}

TEST_F(PortableEngine, AllocateAfterShutdownGivesShutdown) {
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  ASSERT_EQ(MFShutdown(), S_OK);
  DWORD queue = 0;
  EXPECT_EQ(MFAllocateWorkQueue(&queue), MF_E_SHUTDOWN);
  EXPECT_EQ(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_STANDARD, &queue), MF_E_SHUTDOWN);
  EXPECT_EQ(MFLockWorkQueue(MFASYNC_CALLBACK_QUEUE_STANDARD), MF_E_SHUTDOWN);
}

// NULL pointers, bad enum values, and results that name neither a callback
// nor an event are refused with an error, never a crash (Wine crashes on
// several of these); nothing is queued.
TEST_F(PortableEngine, BadArgumentsGiveErrorsNotCrashes) {
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  EXPECT_EQ(MFAllocateWorkQueue(nullptr), E_POINTER);
  EXPECT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, nullptr), E_POINTER);
  EXPECT_EQ(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_STANDARD, nullptr), E_POINTER);
  EXPECT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, nullptr), E_POINTER);
  EXPECT_EQ(MFGetTimerPeriodicity(nullptr), E_POINTER);
  DWORD queue = 0;
  EXPECT_EQ(MFAllocateWorkQueueEx(static_cast<MFASYNC_WORKQUEUE_TYPE>(42), &queue), E_INVALIDARG);
  EXPECT_EQ(MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_STANDARD, nullptr, nullptr), E_POINTER);
  EXPECT_EQ(MFPutWorkItem2(MFASYNC_CALLBACK_QUEUE_STANDARD, 1, nullptr, nullptr), E_POINTER);
  EXPECT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_STANDARD, nullptr), E_POINTER);
  EXPECT_EQ(MFPutWorkItemEx2(MFASYNC_CALLBACK_QUEUE_STANDARD, 1, nullptr), E_POINTER);
  EXPECT_EQ(MFInvokeCallback(nullptr), E_POINTER);
  EXPECT_EQ(MFScheduleWorkItemEx(nullptr, -1, nullptr), E_POINTER);
  EXPECT_EQ(MFScheduleWorkItem(nullptr, nullptr, -1, nullptr), E_POINTER);
  EXPECT_EQ(MFAddPeriodicCallback(nullptr, nullptr, nullptr), E_POINTER);
  auto empty = CustomResult::Make(nullptr, nullptr);
  EXPECT_EQ(MFPutWorkItemEx(MFASYNC_CALLBACK_QUEUE_STANDARD, empty.get()), E_INVALIDARG);
  EXPECT_EQ(MFInvokeCallback(empty.get()), E_INVALIDARG);
  MFWORKITEM_KEY key = 0;
  EXPECT_EQ(MFScheduleWorkItemEx(empty.get(), -1, &key), E_INVALIDARG);
  ASSERT_EQ(MFShutdown(), S_OK);
}

// A callback may call MFStartup (and MFShutdown) while the last MFShutdown is
// stopping the queues and waiting for that very callback: it must neither
// block nor deadlock. Whichever MFShutdown turns out last stops the platform.
TEST_F(PortableEngine, StartupFromACallbackDuringShutdownDoesNotDeadlock) {
  SetShutdownWait(std::chrono::milliseconds(0));
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  Gate running, go, callback_done;
  HRESULT startup = E_FAIL, shutdown = E_FAIL;
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    running.Open();
    go.Wait();
    startup = MFStartup(MF_VERSION, MFSTARTUP_FULL);
    shutdown = MFShutdown();
    callback_done.Open();
  });
  ASSERT_EQ(MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, cb.get(), nullptr), S_OK);
  ASSERT_TRUE(running.Wait());
  Gate shut;
  std::thread stopper([&] {
    EXPECT_EQ(MFShutdown(), S_OK);
    shut.Open();
  });
  go.Open();
  EXPECT_TRUE(callback_done.Wait());
  EXPECT_TRUE(shut.Wait());
  stopper.join();
  EXPECT_EQ(startup, S_OK);
  EXPECT_EQ(shutdown, S_OK);
  // Balanced: the platform ends up stopped.
  Gate shut_down_for_good;
  std::thread prober([&] {
    auto probe = Callback::Make([](IMFAsyncResult*) {});
    while (MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_STANDARD, probe.get(), nullptr) != MF_E_SHUTDOWN) {
      std::this_thread::yield();  // the callback's own MFShutdown may still be finishing
    }
    shut_down_for_good.Open();
  });
  EXPECT_TRUE(shut_down_for_good.Wait());
  prober.join();
}

// MFRemovePeriodicCallback called while the callback runs returns only once
// it has returned, with its context released.
TEST_F(PortableEngine, RemovingARunningPeriodicCallbackWaitsForIt) {
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  static Gate* inside;
  static Gate* leave;
  Gate inside_gate, leave_gate, removed;
  inside = &inside_gate;
  leave = &leave_gate;
  std::atomic<int> released{0};
  DWORD key = 0;
  {
    auto context = Tracked::Make(&released);
    ASSERT_EQ(MFAddPeriodicCallback(
                  [](IUnknown*) {
                    inside->Open();
                    leave->Wait();
                  },
                  context.get(), &key),
              S_OK);
  }
  ASSERT_TRUE(inside_gate.Wait());
  std::thread remover([&] {
    EXPECT_EQ(MFRemovePeriodicCallback(key), S_OK);
    EXPECT_EQ(released.load(), 1);
    removed.Open();
  });
  EXPECT_FALSE(removed.WaitFor(std::chrono::milliseconds(100)));  // still inside
  leave_gate.Open();
  EXPECT_TRUE(removed.Wait());
  remover.join();
  ASSERT_EQ(MFShutdown(), S_OK);
}

TEST(HResult, NamesKnownCodes) {
  EXPECT_STREQ(HResultName(MF_E_SHUTDOWN), "MF_E_SHUTDOWN");
  EXPECT_STREQ(HResultName(MF_E_OPERATION_CANCELLED), "MF_E_OPERATION_CANCELLED");
  EXPECT_EQ(HResultName(static_cast<HRESULT>(0x80070002)), nullptr);
  EXPECT_EQ(FormatHResult(MF_E_NOT_FOUND), "MF_E_NOT_FOUND (0xC00D36D5)");
  EXPECT_EQ(FormatHResult(static_cast<HRESULT>(0x80070002)), "0x80070002");
}

}  // namespace
}  // namespace mfwq::test
