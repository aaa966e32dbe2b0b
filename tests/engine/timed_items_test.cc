// Scheduled items (MFScheduleWorkItem), waiting items (MFPutWaitingWorkItem)
// and periodic callbacks, with their cancel results.
#include <atomic>
#include <chrono>
#include <vector>

#include "test_support.h"

namespace mfwq::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr INT64 kHourMs = 3600 * 1000;

class TimedItems : public PlatformTest {};

TEST_F(TimedItems, ScheduledItemRunsNoSoonerThanItsTimeout) {
  Gate ran;
  Clock::time_point invoked;
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    invoked = Clock::now();
    ran.Open();
  });
  const Clock::time_point put = Clock::now();
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFScheduleWorkItem(cb.get(), nullptr, -50, &key), S_OK);
  EXPECT_NE(key, 0u);
  ASSERT_TRUE(ran.Wait());
  EXPECT_GE(invoked - put, std::chrono::milliseconds(50));
}

TEST_F(TimedItems, ScheduledItemExRunsTheResultItWasGiven) {
  Gate ran;
  IMFAsyncResult* seen = nullptr;
  auto cb = Callback::Make([&](IMFAsyncResult* result) {
    seen = result;
    ran.Open();
  });
  auto custom = CustomResult::Make(cb.get());
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFScheduleWorkItemEx(custom.get(), -1, &key), S_OK);
  ASSERT_TRUE(ran.Wait());
  EXPECT_EQ(seen, static_cast<IMFAsyncResult*>(custom.get()));
}

// Cancelling a pending scheduled item succeeds and it does not run.
TEST_F(TimedItems, CancelPendingScheduledItemSucceedsAndItDoesNotRun) {
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFScheduleWorkItem(cb.get(), nullptr, -1000, &key), S_OK);
  EXPECT_EQ(MFCancelWorkItem(key), S_OK);
  // Past its due time, it has still not run. (A correct engine never runs
  // it; the wait only decides how surely a wrong one is caught.)
  Gate ran;
  auto later = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  MFWORKITEM_KEY later_key = 0;
  ASSERT_EQ(MFScheduleWorkItem(later.get(), nullptr, -1100, &later_key), S_OK);
  ASSERT_TRUE(ran.Wait());
  EXPECT_EQ(cb->invocations(), 0);
}

// Cancelling releases the item's result at once: the callback can never run.
TEST_F(TimedItems, CancelledScheduledItemReleasesItsResult) {
  MFWQ_SKIP_ON_WINE("a cancelled scheduled item's result is never released");
  std::atomic<int> released{0};
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  MFWORKITEM_KEY key = 0;
  {
    auto state = Tracked::Make(&released);
    ASSERT_EQ(MFScheduleWorkItem(cb.get(), state.get(), -kHourMs, &key), S_OK);
  }
  EXPECT_EQ(released.load(), 0);
  EXPECT_EQ(MFCancelWorkItem(key), S_OK);
  EXPECT_EQ(released.load(), 1);
  EXPECT_EQ(cb->invocations(), 0);
}

TEST_F(TimedItems, CancelTwiceGivesNotFound) {
  auto cb = Callback::Make([](IMFAsyncResult*) {});
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFScheduleWorkItem(cb.get(), nullptr, -kHourMs, &key), S_OK);
  EXPECT_EQ(MFCancelWorkItem(key), S_OK);
  EXPECT_EQ(MFCancelWorkItem(key), MF_E_NOT_FOUND);
}

TEST_F(TimedItems, CancelFiredScheduledItemGivesNotFound) {
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFScheduleWorkItem(cb.get(), nullptr, -1, &key), S_OK);
  ASSERT_TRUE(ran.Wait());
  EXPECT_EQ(MFCancelWorkItem(key), MF_E_NOT_FOUND);
}

TEST_F(TimedItems, CancelUnknownKeyGivesNotFound) {
  EXPECT_EQ(MFCancelWorkItem(0x1234), MF_E_NOT_FOUND);
}

TEST_F(TimedItems, ScheduledItemsFireInDeadlineOrder) {
  std::mutex mu;
  std::vector<int> order;
  Countdown done(3);
  std::vector<ComPtr<Callback>> callbacks;
  // Far enough apart that the three puts cannot straddle a gap.
  const INT64 timeouts[] = {-900, -300, -600};
  for (int i = 0; i < 3; ++i) {
    callbacks.push_back(Callback::Make(
        [&, i](IMFAsyncResult*) {
          {
            std::lock_guard lock(mu);
            order.push_back(i);
          }
          done.Arrive();
        },
        MFASYNC_CALLBACK_QUEUE_STANDARD));
    MFWORKITEM_KEY key = 0;
    ASSERT_EQ(MFScheduleWorkItem(callbacks.back().get(), nullptr, timeouts[i], &key), S_OK);
  }
  ASSERT_TRUE(done.Wait());
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 0}));
}

TEST_F(TimedItems, WaitingItemRunsOnceItsEventIsSignalled) {
  EventHandle event(false, false);
  std::atomic<bool> signalled{false};
  std::atomic<bool> ran_early{false};
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult* result) {
    if (!signalled.load()) ran_early = true;
    EXPECT_EQ(result->GetStatus(), S_OK);
    ran.Open();
  });
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFPutWaitingWorkItem(event.get(), 0, result.get(), &key), S_OK);
  EXPECT_FALSE(ran.IsOpen());
  signalled = true;
  ASSERT_TRUE(SetEvent(event.get()));
  ASSERT_TRUE(ran.Wait());
  EXPECT_FALSE(ran_early.load());
  EXPECT_EQ(MFCancelWorkItem(key), MF_E_NOT_FOUND);  // already ran
}

TEST_F(TimedItems, WaitingItemOnSignalledEventRunsAtOnce) {
  EventHandle event(true, true);
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFPutWaitingWorkItem(event.get(), 0, result.get(), &key), S_OK);
  EXPECT_TRUE(ran.Wait());
}

// Waiting items hold no thread: many of them waiting for callbacks on a
// one-thread queue leave that queue free for other work.
TEST_F(TimedItems, WaitingItemsHoldNoThreadWhileWaiting) {
  DWORD queue = 0;
  ASSERT_EQ(MFAllocateWorkQueue(&queue), S_OK);
  constexpr int kWaiting = 64;
  std::vector<std::unique_ptr<EventHandle>> events;
  Countdown all_ran(kWaiting);
  auto waiter = Callback::Make([&](IMFAsyncResult*) { all_ran.Arrive(); }, queue);
  for (int i = 0; i < kWaiting; ++i) {
    events.push_back(std::make_unique<EventHandle>(false, false));
    ComPtr<IMFAsyncResult> result;
    ASSERT_EQ(MFCreateAsyncResult(nullptr, waiter.get(), nullptr, result.ReleaseAndGetAddressOf()),
              S_OK);
    MFWORKITEM_KEY key = 0;
    ASSERT_EQ(MFPutWaitingWorkItem(events.back()->get(), 0, result.get(), &key), S_OK);
  }
  Gate other_ran;
  auto other = Callback::Make([&](IMFAsyncResult*) { other_ran.Open(); }, queue);
  ASSERT_EQ(MFPutWorkItem(queue, other.get(), nullptr), S_OK);
  EXPECT_TRUE(other_ran.Wait());
  for (auto& e : events) ASSERT_TRUE(SetEvent(e->get()));
  EXPECT_TRUE(all_ran.Wait());
  EXPECT_EQ(MFUnlockWorkQueue(queue), S_OK);
}

TEST_F(TimedItems, CancelWaitingItemInvokesItWithOperationCancelled) {
  EventHandle event(false, false);
  Gate ran;
  HRESULT status = S_OK;
  auto cb = Callback::Make([&](IMFAsyncResult* result) {
    status = result->GetStatus();
    ran.Open();
  });
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFPutWaitingWorkItem(event.get(), 0, result.get(), &key), S_OK);
  ASSERT_EQ(MFCancelWorkItem(key), S_OK);
  ASSERT_TRUE(ran.Wait());
  EXPECT_EQ(status, MF_E_OPERATION_CANCELLED);
  EXPECT_EQ(MFCancelWorkItem(key), MF_E_NOT_FOUND);
  EXPECT_EQ(cb->invocations(), 1);
}

// An auto-reset event releases one waiting item per signal.
TEST_F(TimedItems, AutoResetEventReleasesOneWaitingItemPerSignal) {
  EventHandle event(false, false);
  std::atomic<int> ran{0};
  Gate first, second;
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    (++ran == 1 ? first : second).Open();
  });
  for (int i = 0; i < 2; ++i) {
    ComPtr<IMFAsyncResult> result;
    ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()),
              S_OK);
    MFWORKITEM_KEY key = 0;
    ASSERT_EQ(MFPutWaitingWorkItem(event.get(), 0, result.get(), &key), S_OK);
  }
  ASSERT_TRUE(SetEvent(event.get()));
  ASSERT_TRUE(first.Wait());
  EXPECT_FALSE(second.IsOpen());
  ASSERT_TRUE(SetEvent(event.get()));
  ASSERT_TRUE(second.Wait());
  EXPECT_EQ(ran.load(), 2);
}

TEST_F(TimedItems, TimerPeriodicityIsTenMilliseconds) {
  DWORD period = 0;
  ASSERT_EQ(MFGetTimerPeriodicity(&period), S_OK);
  EXPECT_EQ(period, 10u);
}

struct PeriodicProbe {
  std::atomic<int> calls{0};
  Countdown three{3};
};
PeriodicProbe* g_probe = nullptr;

void CALLBACK OnPeriod(IUnknown*) {
  ++g_probe->calls;
  g_probe->three.Arrive();
}

// A periodic callback runs again and again until removed.
TEST_F(TimedItems, PeriodicCallbackRepeatsUntilRemoved) {
  PeriodicProbe probe;
  g_probe = &probe;
  DWORD key = 0;
  ASSERT_EQ(MFAddPeriodicCallback(OnPeriod, nullptr, &key), S_OK);
  ASSERT_TRUE(probe.three.Wait());
  EXPECT_GE(probe.calls.load(), 3);
  EXPECT_EQ(MFRemovePeriodicCallback(key), S_OK);
  EXPECT_EQ(MFRemovePeriodicCallback(key), MF_E_NOT_FOUND);
  g_probe = nullptr;
}

// Removing a periodic callback releases its context, so it cannot run again.
TEST_F(TimedItems, RemovedPeriodicCallbackReleasesItsContext) {
  MFWQ_SKIP_ON_WINE("a removed periodic callback's context is never released (its timer item "
                    "leaks like a cancelled scheduled item)");
  PeriodicProbe probe;
  g_probe = &probe;
  std::atomic<int> released{0};
  DWORD key = 0;
  {
    auto context = Tracked::Make(&released);
    ASSERT_EQ(MFAddPeriodicCallback(OnPeriod, context.get(), &key), S_OK);
  }
  ASSERT_TRUE(probe.three.Wait());
  EXPECT_EQ(released.load(), 0);
  EXPECT_EQ(MFRemovePeriodicCallback(key), S_OK);
  EXPECT_EQ(released.load(), 1);
  g_probe = nullptr;
}

}  // namespace
}  // namespace mfwq::test
