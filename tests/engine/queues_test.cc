// Platform queues and private queues: ids, locking, concurrency, freeing.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "test_support.h"

namespace mfwq::test {
namespace {

class Queues : public PlatformTest {};

constexpr DWORD kPlatformQueues[] = {
    MFASYNC_CALLBACK_QUEUE_STANDARD, MFASYNC_CALLBACK_QUEUE_RT,
    MFASYNC_CALLBACK_QUEUE_IO,       MFASYNC_CALLBACK_QUEUE_TIMER,
    MFASYNC_CALLBACK_QUEUE_MULTITHREADED, MFASYNC_CALLBACK_QUEUE_LONG_FUNCTION,
};

TEST_F(Queues, PlatformQueuesExistFromStartup) {
  Countdown all(static_cast<int>(std::size(kPlatformQueues)));
  auto cb = Callback::Make([&](IMFAsyncResult*) { all.Arrive(); });
  for (DWORD queue : kPlatformQueues) {
    EXPECT_EQ(MFPutWorkItem(queue, cb.get(), nullptr), S_OK) << "queue " << queue;
  }
  EXPECT_TRUE(all.Wait());
}

TEST_F(Queues, LockingPlatformQueuesSucceedsAndDoesNothing) {
  for (DWORD queue : kPlatformQueues) {
    EXPECT_EQ(MFLockWorkQueue(queue), S_OK);
    EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
    EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);  // not counted: still there
  }
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  EXPECT_EQ(MFPutWorkItem(MFASYNC_CALLBACK_QUEUE_STANDARD, cb.get(), nullptr), S_OK);
  EXPECT_TRUE(ran.Wait());
}

TEST_F(Queues, UnknownQueueGivesInvalidWorkqueue) {
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  EXPECT_EQ(MFPutWorkItem(0x00120000, cb.get(), nullptr), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(MFPutWorkItem(6, cb.get(), nullptr), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(MFLockWorkQueue(0x00120000), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(MFUnlockWorkQueue(0x00120000), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(cb->invocations(), 0);
}

TEST_F(Queues, PrivateQueueIdsCarryPrivateBits) {
  DWORD standard = 0, multithreaded = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&standard), S_OK);
  ASSERT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &multithreaded), S_OK);
  EXPECT_NE(standard & MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK, 0u);
  EXPECT_NE(multithreaded & MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK, 0u);
  EXPECT_NE(standard, multithreaded);
  EXPECT_EQ(MFUnlockWorkQueue(standard), S_OK);
  EXPECT_EQ(MFUnlockWorkQueue(multithreaded), S_OK);
}

TEST_F(Queues, StandardQueueRunsOneItemAtATimeInOrder) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  constexpr int kItems = 200;
  SequenceProbe probe;
  Countdown done(kItems);
  std::vector<ComPtr<Callback>> callbacks;
  for (int i = 0; i < kItems; ++i) {
    callbacks.push_back(Callback::Make([&, i](IMFAsyncResult*) {
      probe.Run(i);
      done.Arrive();
    }));
    ASSERT_EQ(MFPutWorkItem(queue, callbacks.back().get(), nullptr), S_OK);
  }
  ASSERT_TRUE(done.Wait());
  EXPECT_FALSE(probe.overlapped());
  EXPECT_EQ(probe.order(), Iota(kItems));
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

// Puts two items on `queue` that each wait for the other: both can only
// finish if the queue runs them at the same time.
::testing::AssertionResult PairMeets(DWORD queue) {
  Countdown both_inside(2), done(2);
  std::atomic<int> met{0};
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    both_inside.Arrive();
    if (both_inside.Wait()) ++met;
    done.Arrive();
  });
  for (int i = 0; i < 2; ++i) {
    if (FAILED(MFPutWorkItem(queue, cb.get(), nullptr))) {
      return ::testing::AssertionFailure() << "MFPutWorkItem failed";
    }
  }
  if (!done.Wait()) return ::testing::AssertionFailure() << "the pair never finished";
  if (met.load() != 2) return ::testing::AssertionFailure() << "the pair never met";
  return ::testing::AssertionSuccess();
}

TEST_F(Queues, MultithreadedQueueRunsItemsConcurrently) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs two hardware threads";
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &queue), S_OK);
  EXPECT_TRUE(PairMeets(queue));
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

// The same once the pool has run work and its threads are spinning or
// asleep: a pair put together must still find two threads, every time.
TEST_F(Queues, MultithreadedQueueRunsItemsConcurrentlyAfterRunningWork) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs two hardware threads";
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &queue), S_OK);
  auto warm = Callback::Make([](IMFAsyncResult*) {});
  for (int round = 0; round < 100; ++round) {
    // Wait until a warm-up item has run and its result is gone: its thread
    // is then back looking for work (spinning or asleep) as the pair comes.
    std::atomic<int> released{0};
    Gate gone;
    {
      auto state = Tracked::Make(&released, &gone);
      ASSERT_EQ(MFPutWorkItem(queue, warm.get(), state.get()), S_OK);
    }
    ASSERT_TRUE(gone.Wait());
    ASSERT_TRUE(PairMeets(queue)) << "round " << round;
  }
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

// Several threads put at once onto each kind of queue: every item runs,
// exactly once.
TEST_F(Queues, ConcurrentPutsRunEveryItemExactlyOnce) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 5000;
  DWORD standard = 0, multithreaded = 0, serial = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&standard), S_OK);
  ASSERT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &multithreaded), S_OK);
  ASSERT_EQ(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, &serial), S_OK);
  for (DWORD queue : {DWORD{MFASYNC_CALLBACK_QUEUE_MULTITHREADED}, standard, multithreaded, serial}) {
    std::vector<std::atomic<int>> runs(kProducers * kPerProducer);
    Countdown done(kProducers * kPerProducer);
    auto cb = Callback::Make([&](IMFAsyncResult* result) {
      ComPtr<IUnknown> state;
      ASSERT_EQ(result->GetState(state.ReleaseAndGetAddressOf()), S_OK);
      ++runs[static_cast<Tracked*>(state.get())->tag()];
      done.Arrive();
    });
    // Results (and their states) are released just after their callbacks
    // return, possibly after this loop's turn: count them somewhere lasting.
    static std::atomic<int> released{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < kPerProducer; ++i) {
          auto state = Tracked::Make(&released, nullptr, p * kPerProducer + i);
          EXPECT_EQ(MFPutWorkItem(queue, cb.get(), state.get()), S_OK);
        }
      });
    }
    for (std::thread& t : producers) t.join();
    ASSERT_TRUE(done.Wait()) << "queue " << queue;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      ASSERT_EQ(runs[i].load(), 1) << "item " << i << " on queue " << queue;
    }
  }
  EXPECT_EQ(MFUnlockWorkQueue(serial), S_OK);
  EXPECT_EQ(MFUnlockWorkQueue(multithreaded), S_OK);
  EXPECT_EQ(MFUnlockWorkQueue(standard), S_OK);
}

TEST_F(Queues, LastUnlockFreesQueueAndItsIdGoesStale) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  ASSERT_EQ(MFLockWorkQueue(queue), S_OK);  // two locks now
  ASSERT_EQ(MFUnlockWorkQueue(queue), S_OK);
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  Gate ran;
  auto marker = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  EXPECT_EQ(MFPutWorkItem(queue, marker.get(), nullptr), S_OK);  // still allocated
  EXPECT_TRUE(ran.Wait());
  ASSERT_EQ(MFUnlockWorkQueue(queue), S_OK);  // last lock: freed

  EXPECT_EQ(MFPutWorkItem(queue, cb.get(), nullptr), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(MFLockWorkQueue(queue), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(MFUnlockWorkQueue(queue), MF_E_INVALID_WORKQUEUE);

  DWORD next = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&next), S_OK);
  EXPECT_NE(next, queue);  // the stale id does not come back
  EXPECT_EQ(MFPutWorkItem(queue, cb.get(), nullptr), MF_E_INVALID_WORKQUEUE);
  EXPECT_EQ(MFUnlockWorkQueue(next), S_OK);
  EXPECT_EQ(cb->invocations(), 0);
}

// No fixed cap on the number of queues (Wine stops at 124).
TEST_F(Queues, ManyQueuesCanBeAllocatedAtOnce) {
  MFWQ_SKIP_ON_WINE("at most 124 private queues (E_OUTOFMEMORY after that)");
  constexpr int kQueues = 300;
  std::vector<DWORD> queues;
  std::set<DWORD> distinct;
  Countdown ran(kQueues);
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Arrive(); });
  for (int i = 0; i < kQueues; ++i) {
    DWORD queue = 0;
    ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK) << "queue #" << i;
    queues.push_back(queue);
    distinct.insert(queue);
  }
  EXPECT_EQ(distinct.size(), queues.size());
  for (DWORD queue : queues) ASSERT_EQ(MFPutWorkItem(queue, cb.get(), nullptr), S_OK);
  EXPECT_TRUE(ran.Wait());
  for (DWORD queue : queues) EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

}  // namespace
}  // namespace mfwq::test
