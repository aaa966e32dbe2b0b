// The server's named events: per-client names, set/reset, and real MF event
// handles that release waiting work items.
#include <string>

#include "event_table.h"
#include "test_support.h"

namespace mfwq::server {
namespace {

using test::Callback;
using test::Gate;

class EventTableTest : public test::PlatformTest {};

TEST_F(EventTableTest, CreateSetResetAndListAreThePerClientView) {
  EventTable events;
  auto created = events.Create("alice", "frame-ready", true, false);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_FALSE(created->signalled);
  EXPECT_TRUE(events.Set("alice", "frame-ready")->signalled);
  EXPECT_FALSE(events.Reset("alice", "frame-ready")->signalled);

  // Names are per client.
  EXPECT_EQ(events.Set("bob", "frame-ready").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(events.Create("bob", "frame-ready", false, false).ok());
  EXPECT_EQ(events.Create("alice", "frame-ready", false, false).status().code(),
            StatusCode::kAlreadyExists);

  ASSERT_TRUE(events.Create("alice", "a-first", false, true).ok());
  auto listed = events.List("alice");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "a-first");
  EXPECT_EQ(listed[1].name, "frame-ready");
  EXPECT_EQ(events.List("carol").size(), 0u);
}

TEST_F(EventTableTest, BadNamesAreRefusedNamingTheField) {
  EventTable events;
  EXPECT_EQ(events.Create("alice", "", true, false).status().message(), "name: empty");
  EXPECT_EQ(events.Create("alice", "has space", true, false).status().message(),
            "name: only letters, digits, '.', '-' and '_' allowed");
  EXPECT_EQ(events.Create("alice", std::string(129, 'e'), true, false).status().message(),
            "name: longer than 128 bytes");
  EXPECT_EQ(events.Delete("alice", "nope").message(), "name: no event \"nope\"");
}

// The handle is a real MF event: a waiting work item on it runs once the
// event is set through the table.
TEST_F(EventTableTest, SettingAnEventReleasesAWaitingWorkItem) {
  EventTable events;
  ASSERT_TRUE(events.Create("alice", "go", false, false).ok());
  auto handle = events.Handle("alice", "go");
  ASSERT_TRUE(handle.ok());
  Gate ran;
  auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
  ComPtr<IMFAsyncResult> result;
  ASSERT_EQ(MFCreateAsyncResult(nullptr, cb.get(), nullptr, result.ReleaseAndGetAddressOf()), S_OK);
  MFWORKITEM_KEY key = 0;
  ASSERT_EQ(MFPutWaitingWorkItem(handle.value()->get(), 0, result.get(), &key), S_OK);
  EXPECT_FALSE(ran.IsOpen());
  ASSERT_TRUE(events.Set("alice", "go").ok());
  EXPECT_TRUE(ran.Wait());
}

// Deleting an event, or its client going away, removes it from the table;
// a handle already taken (by a waiting operation) stays usable.
TEST_F(EventTableTest, DeletedEventsGoButTakenHandlesStayValid) {
  EventTable events;
  ASSERT_TRUE(events.Create("alice", "e1", true, false).ok());
  ASSERT_TRUE(events.Create("alice", "e2", true, false).ok());
  ASSERT_TRUE(events.Create("bob", "e1", true, false).ok());
  auto taken = events.Handle("alice", "e1");
  ASSERT_TRUE(taken.ok());

  ASSERT_TRUE(events.Delete("alice", "e1").ok());
  EXPECT_EQ(events.Handle("alice", "e1").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(SetEvent(taken.value()->get()));
  EXPECT_EQ(WaitForSingleObject(taken.value()->get(), 0), WAIT_OBJECT_0);

  events.ReleaseClient("alice");
  EXPECT_EQ(events.List("alice").size(), 0u);
  EXPECT_EQ(events.List("bob").size(), 1u);
}

}  // namespace
}  // namespace mfwq::server
