// Behaviour of the portable engine that has no Windows counterpart to check
// against: its own options, and bad handles that on Windows could name some
// other kernel object.
#include <atomic>
#include <chrono>
#include <thread>

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
  EngineOptions options = GetEngineOptions();
  options.shutdown_wait = std::chrono::milliseconds(200);
  SetEngineOptions(options);
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  const Clock::time_point start = Clock::now();
  ASSERT_EQ(MFShutdown(), S_OK);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(200));
  result.Reset();  // released after shutdown: harmless
}

TEST_F(PortableEngine, ShutdownReturnsAsSoonAsTheLastResultGoes) {
  EngineOptions options = GetEngineOptions();
  options.shutdown_wait = std::chrono::hours(1);
  SetEngineOptions(options);
  ASSERT_EQ(MFStartup(MF_VERSION, MFSTARTUP_FULL), S_OK);
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, nullptr, nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  std::atomic<bool> returned{false};
  std::thread shutdown([&] {
    EXPECT_EQ(MFShutdown(), S_OK);
    returned = true;
  });
  EXPECT_FALSE(returned.load());
  result.Reset();
  shutdown.join();  // would hang for an hour if the release were missed
  EXPECT_TRUE(returned.load());
}

// Scheduled and waiting items still pending at shutdown are released.
TEST_F(PortableEngine, ShutdownReleasesScheduledAndWaitingItems) {
  EngineOptions options = GetEngineOptions();
  options.shutdown_wait = std::chrono::milliseconds(0);
  SetEngineOptions(options);
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

TEST(HResult, NamesKnownCodes) {
  EXPECT_STREQ(HResultName(MF_E_SHUTDOWN), "MF_E_SHUTDOWN");
  EXPECT_STREQ(HResultName(MF_E_OPERATION_CANCELLED), "MF_E_OPERATION_CANCELLED");
  EXPECT_EQ(HResultName(static_cast<HRESULT>(0x80070002)), nullptr);
  EXPECT_EQ(FormatHResult(MF_E_NOT_FOUND), "MF_E_NOT_FOUND (0xC00D36D5)");
  EXPECT_EQ(FormatHResult(static_cast<HRESULT>(0x80070002)), "0x80070002");
}

}  // namespace
}  // namespace mfwq::test
