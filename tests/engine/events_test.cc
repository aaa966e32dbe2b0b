// The event-handle functions that hEvent and waiting items use.
#include <thread>

#include "test_support.h"

namespace mfwq::test {
namespace {

TEST(Events, ManualResetEventStaysSignalledUntilReset) {
  EventHandle event(true, false);
  ASSERT_NE(event.get(), nullptr);
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_TIMEOUT);
  EXPECT_TRUE(SetEvent(event.get()));
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_OBJECT_0);
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_OBJECT_0);
  EXPECT_TRUE(ResetEvent(event.get()));
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_TIMEOUT);
}

TEST(Events, AutoResetEventReleasesOneWait) {
  EventHandle event(false, true);
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_OBJECT_0);
  EXPECT_EQ(WaitForSingleObject(event.get(), 0), WAIT_TIMEOUT);
}

TEST(Events, WaitWakesWhenAnotherThreadSets) {
  EventHandle event(false, false);
  std::thread setter([&] { SetEvent(event.get()); });
  EXPECT_EQ(WaitForSingleObject(event.get(), INFINITE), WAIT_OBJECT_0);
  setter.join();
}

TEST(Events, WaitTimesOutWithWaitTimeout) {
  EventHandle event(true, false);
  EXPECT_EQ(WaitForSingleObject(event.get(), 20), WAIT_TIMEOUT);
}

TEST(Events, ClosedHandleIsRejected) {
  HANDLE h = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(CloseHandle(h));
  EXPECT_FALSE(CloseHandle(h));
  EXPECT_FALSE(SetEvent(h));
  EXPECT_FALSE(ResetEvent(h));
  EXPECT_EQ(WaitForSingleObject(h, 0), WAIT_FAILED);
}

TEST(Events, NamedEventsAreShared) {
  HANDLE a = CreateEventW(nullptr, TRUE, FALSE, L"mfwq-test-named-event");
  HANDLE b = CreateEventW(nullptr, TRUE, FALSE, L"mfwq-test-named-event");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(SetEvent(a));
  EXPECT_EQ(WaitForSingleObject(b, 0), WAIT_OBJECT_0);
  EXPECT_TRUE(CloseHandle(a));
  EXPECT_TRUE(CloseHandle(b));
}

}  // namespace
}  // namespace mfwq::test
