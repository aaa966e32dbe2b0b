// Priorities (MFPutWorkItem2 / MFPutWorkItemEx2) and serial queues.
#include <atomic>
#include <limits>
#include <mutex>
#include <vector>

#include "test_support.h"

namespace mfwq::test {
namespace {

class Ordering : public PlatformTest {};

// Items wait behind a blocker on a one-thread queue, then run by priority,
// higher first, over the whole LONG range, and in put order among equals.
TEST_F(Ordering, HigherPriorityRunsFirstAndEqualsRunInFifoOrder) {
  MFWQ_SKIP_ON_WINE("priorities collapse into three classes (below, at and above 0)");
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  QueueBlocker blocker;
  ASSERT_TRUE(blocker.Block(queue));

  struct Put {
    LONG priority;
    int id;
  };
  const std::vector<Put> puts = {
      {0, 0}, {5, 1}, {-3, 2}, {5, 3}, {100, 4}, {-3, 5}, {0, 6}, {std::numeric_limits<LONG>::min(), 7}, {std::numeric_limits<LONG>::max(), 8}, {1, 9},
      {2, 10}, {-1, 11},
  };
  SequenceProbe probe;
  Countdown done(static_cast<int>(puts.size()));
  std::vector<ComPtr<Callback>> callbacks;
  for (const Put& p : puts) {
    callbacks.push_back(Callback::Make([&probe, &done, id = p.id](IMFAsyncResult*) {
      probe.Run(id);
      done.Arrive();
    }));
    ASSERT_EQ(MFPutWorkItem2(queue, p.priority, callbacks.back().get(), nullptr), S_OK);
  }
  blocker.Release();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(probe.order(), (std::vector<int>{8, 4, 1, 3, 10, 9, 0, 6, 11, 2, 5, 7}));
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

TEST_F(Ordering, PutWorkItemEx2HonoursPriority) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  QueueBlocker blocker;
  ASSERT_TRUE(blocker.Block(queue));
  SequenceProbe probe;
  Countdown done(2);
  auto low = Callback::Make([&](IMFAsyncResult*) { probe.Run(1); done.Arrive(); });
  auto high = Callback::Make([&](IMFAsyncResult*) { probe.Run(2); done.Arrive(); });
  auto low_result = CustomResult::Make(low.get());
  auto high_result = CustomResult::Make(high.get());
  ASSERT_EQ(MFPutWorkItemEx2(queue, -1, low_result.get()), S_OK);
  ASSERT_EQ(MFPutWorkItemEx2(queue, 1, high_result.get()), S_OK);
  blocker.Release();
  ASSERT_TRUE(done.Wait());
  EXPECT_EQ(probe.order(), (std::vector<int>{2, 1}));
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

// A serial queue over a multithreaded queue still runs one item at a time,
// in FIFO order.
TEST_F(Ordering, SerialQueueRunsOneAtATimeInFifoOrder) {
  DWORD serial = 0;
  ASSERT_EQ(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, &serial), S_OK);
  EXPECT_NE(serial & MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK, 0u);
  constexpr int kItems = 300;
  SequenceProbe probe;
  Countdown done(kItems);
  std::vector<ComPtr<Callback>> callbacks;
  for (int i = 0; i < kItems; ++i) {
    callbacks.push_back(Callback::Make([&, i](IMFAsyncResult*) {
      probe.Run(i);
      done.Arrive();
    }));
    ASSERT_EQ(MFPutWorkItem(serial, callbacks.back().get(), nullptr), S_OK);
  }
  ASSERT_TRUE(done.Wait());
  EXPECT_FALSE(probe.overlapped());
  EXPECT_EQ(probe.order(), Iota(kItems));
  EXPECT_EQ(MFUnlockWorkQueue(serial), S_OK);
}

TEST_F(Ordering, SerialQueueOverSerialQueueKeepsOrder) {
  DWORD inner = 0, outer = 0;
  ASSERT_EQ(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, &inner), S_OK);
  ASSERT_EQ(MFAllocateSerialWorkQueue(inner, &outer), S_OK);
  constexpr int kItems = 100;
  SequenceProbe probe;
  Countdown done(2 * kItems);
  std::vector<ComPtr<Callback>> callbacks;
  // Interleave puts on both: each keeps its own order, and since the outer
  // queue feeds the inner one, no two items ever run together.
  for (int i = 0; i < kItems; ++i) {
    for (DWORD queue : {outer, inner}) {
      const int id = queue == outer ? i : 1000 + i;
      callbacks.push_back(Callback::Make([&, id](IMFAsyncResult*) {
        probe.Run(id);
        done.Arrive();
      }));
      ASSERT_EQ(MFPutWorkItem(queue, callbacks.back().get(), nullptr), S_OK);
    }
  }
  ASSERT_TRUE(done.Wait());
  EXPECT_FALSE(probe.overlapped());
  std::vector<int> outer_order, inner_order;
  for (int id : probe.order()) (id < 1000 ? outer_order : inner_order).push_back(id);
  EXPECT_EQ(outer_order, Iota(kItems));
  EXPECT_EQ(inner_order, Iota(kItems, 1000));
  EXPECT_EQ(MFUnlockWorkQueue(outer), S_OK);
  EXPECT_EQ(MFUnlockWorkQueue(inner), S_OK);
}

TEST_F(Ordering, SerialQueueOnPrivateQueue) {
  DWORD target = 0, serial = 0;
  ASSERT_EQ(MFAllocateWorkQueueEx(MF_MULTITHREADED_WORKQUEUE, &target), S_OK);
  ASSERT_EQ(MFAllocateSerialWorkQueue(target, &serial), S_OK);
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  ASSERT_EQ(MFPutWorkItem(serial, cb.get(), nullptr), S_OK);
  EXPECT_TRUE(ran.Wait());
  EXPECT_EQ(MFUnlockWorkQueue(serial), S_OK);
  EXPECT_EQ(MFUnlockWorkQueue(target), S_OK);
}

TEST_F(Ordering, SerialQueueOnInvalidTargetGivesInvalidWorkqueue) {
  MFWQ_SKIP_ON_WINE("allocates a serial queue over a queue that does not exist");
  DWORD serial = 0;
  EXPECT_EQ(MFAllocateSerialWorkQueue(0x00770000, &serial), MF_E_INVALID_WORKQUEUE);
}

// With MFASYNC_REPLY_CALLBACK the next item waits until the callback calls
// MFInvokeCallback on the result it was handed, not just until it returns.
TEST_F(Ordering, SerialQueueWithReplyCallbackWaitsForTheReply) {
  MFWQ_SKIP_ON_WINE("the reply token names its serial queue by an id never set, so "
                    "MFInvokeCallback on it fails with MF_E_INVALID_WORKQUEUE");
  DWORD serial = 0;
  ASSERT_EQ(MFAllocateSerialWorkQueue(MFASYNC_CALLBACK_QUEUE_MULTITHREADED, &serial), S_OK);
  std::atomic<bool> replied{false};
  std::atomic<bool> ran_too_early{false};
  Gate first_invoked, second_invoked;
  ComPtr<IMFAsyncResult> handed;
  auto first = Callback::Make(
      [&](IMFAsyncResult* result) {
        handed = ComPtr<IMFAsyncResult>(result);
        first_invoked.Open();
      },
      serial, MFASYNC_REPLY_CALLBACK);
  auto second = Callback::Make(
      [&](IMFAsyncResult*) {
        if (!replied.load()) ran_too_early = true;
        second_invoked.Open();
      },
      serial, MFASYNC_REPLY_CALLBACK);
  ASSERT_EQ(MFPutWorkItem(serial, first.get(), nullptr), S_OK);
  ASSERT_EQ(MFPutWorkItem(serial, second.get(), nullptr), S_OK);
  ASSERT_TRUE(first_invoked.Wait());
  EXPECT_FALSE(second_invoked.IsOpen());

  replied = true;
  ASSERT_EQ(MFInvokeCallback(handed.get()), S_OK);  // the reply
  ASSERT_TRUE(second_invoked.Wait());
  EXPECT_FALSE(ran_too_early.load());
  EXPECT_EQ(first->invocations(), 1);  // the reply did not invoke it again
  handed.Reset();
  EXPECT_EQ(MFUnlockWorkQueue(serial), S_OK);
}

// The serial queue holds a lock on its target: the target outlives its own
// last unlock until the serial queue goes.
TEST_F(Ordering, SerialQueueKeepsItsTargetAlive) {
  DWORD target = 0, serial = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&target), S_OK);
  ASSERT_EQ(MFAllocateSerialWorkQueue(target, &serial), S_OK);
  ASSERT_EQ(MFUnlockWorkQueue(target), S_OK);
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  EXPECT_EQ(MFPutWorkItem(target, cb.get(), nullptr), S_OK);
  EXPECT_TRUE(ran.Wait());
  ASSERT_EQ(MFUnlockWorkQueue(serial), S_OK);  // idle: lets go of the target now
  EXPECT_EQ(MFPutWorkItem(target, cb.get(), nullptr), MF_E_INVALID_WORKQUEUE);
}

}  // namespace
}  // namespace mfwq::test
