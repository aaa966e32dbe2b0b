// The server's queue table: creation, names and labels, per-client locks,
// listing, on real MF work queues.
#include <chrono>
#include <future>
#include <string>

#include "queue_table.h"
#include "test_support.h"

namespace mfwq::server {
namespace {

using test::Callback;
using test::Gate;

class QueueTableTest : public test::PlatformTest {
 protected:
  // Whether MF still knows `id` (a put on it succeeds and runs).
  static bool MfQueueAlive(DWORD id) {
    Gate ran;
    auto cb = Callback::Make([&](IMFAsyncResult*) { ran.Open(); });
    if (FAILED(MFPutWorkItem(id, cb.get(), nullptr))) return false;
    return ran.Wait();
  }
};

TEST_F(QueueTableTest, PlatformQueuesAreListedFromTheStart) {
  QueueTable table;
  auto page = table.List("alice", {}, 0, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->queues.size(), 6u);
  EXPECT_EQ(page->queues[0].id, DWORD{MFASYNC_CALLBACK_QUEUE_STANDARD});
  EXPECT_EQ(page->queues[0].name, "MFASYNC_CALLBACK_QUEUE_STANDARD");
  EXPECT_EQ(page->queues[0].type, QueueType::kPlatform);
  EXPECT_TRUE(page->next_page_token.empty());
  EXPECT_EQ(table.Create("alice", QueueType::kPlatform, 0, "", {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(QueueTableTest, CreatedQueuesAreRealMfQueuesWithTheirNamesAndLabels) {
  QueueTable table;
  auto standard = table.Create("alice", QueueType::kStandard, 0, "encode", {{"farm", "a"}});
  ASSERT_TRUE(standard.ok()) << standard.status().message();
  EXPECT_NE(standard->id & MFASYNC_CALLBACK_QUEUE_PRIVATE_MASK, 0u);
  EXPECT_EQ(standard->name, "encode");
  EXPECT_EQ(standard->labels.at("farm"), "a");
  EXPECT_EQ(standard->locks, 1u);
  EXPECT_EQ(standard->caller_locks, 1u);
  EXPECT_TRUE(MfQueueAlive(standard->id));

  auto serial = table.Create("alice", QueueType::kSerial, standard->id, "ordered", {});
  ASSERT_TRUE(serial.ok()) << serial.status().message();
  EXPECT_EQ(serial->target, standard->id);
  EXPECT_TRUE(MfQueueAlive(serial->id));

  auto pool = table.Create("bob", QueueType::kMultithreaded, 0, "", {});
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(table.Get("alice", pool->id)->caller_locks, 0u);
  EXPECT_EQ(table.Get("bob", pool->id)->caller_locks, 1u);
}

TEST_F(QueueTableTest, BadRequestsNameTheField) {
  QueueTable table;
  auto no_target = table.Create("alice", QueueType::kSerial, 0x00990000, "", {});
  EXPECT_EQ(no_target.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(no_target.status().message(), "target_queue_id: no queue 0x00990000");
  EXPECT_EQ(table.Create("alice", QueueType::kStandard, 0, std::string(129, 'n'), {})
                .status()
                .message(),
            "name: longer than 128 bytes");
  EXPECT_EQ(table.Create("alice", QueueType::kStandard, 0, "", {{"k", std::string(65, 'v')}})
                .status()
                .message(),
            "labels.k: value longer than 64 bytes");
  EXPECT_EQ(table.Get("alice", 0x00990000).status().message(), "queue_id: no queue 0x00990000");
  EXPECT_EQ(table.List("alice", {}, 1001, "").status().message(), "page_size: must be 0 to 1000");
  EXPECT_EQ(table.List("alice", {}, 0, "x1").status().message(),
            "page_token: not one this server gave");
}

// Locks belong to clients: one cannot unlock another's, and the queue goes
// with the last lock of all of them.
TEST_F(QueueTableTest, LocksArePerClientAndTheLastOneFreesTheQueue) {
  QueueTable table;
  auto q = table.Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(q.ok());
  const DWORD id = q->id;
  ASSERT_TRUE(table.Lock("bob", id).ok());
  EXPECT_EQ(table.Get("carol", id)->locks, 2u);
  EXPECT_EQ(table.Unlock("carol", id).status().code(), StatusCode::kFailedPrecondition);

  ASSERT_TRUE(table.Unlock("alice", id).ok());
  table.WaitForReleases();
  EXPECT_TRUE(MfQueueAlive(id));  // bob still holds it
  auto last = table.Unlock("bob", id);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->locks, 0u);
  EXPECT_EQ(table.Get("bob", id).status().code(), StatusCode::kNotFound);
  table.WaitForReleases();
  EXPECT_FALSE(MfQueueAlive(id));
}

// The last unlock of a queue shuts it down, and Wine's mfplat waits there
// for the items still running on it: the caller (a gRPC thread, in the
// server) must not wait with it.
TEST_F(QueueTableTest, DroppingTheLastLockDoesNotWaitForWhatRunsOnTheQueue) {
  QueueTable table;
  auto q = table.Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(q.ok());
  Gate running, release;
  auto cb = Callback::Make([&](IMFAsyncResult*) {
    running.Open();
    release.Wait();
  });
  ASSERT_EQ(MFPutWorkItem(q->id, cb.get(), nullptr), S_OK);
  ASSERT_TRUE(running.Wait());
  // Unlock returns while the item runs (on a thread of the test's, so that
  // an Unlock that waited would fail the test rather than hang it).
  auto unlocked = std::async(std::launch::async, [&] { return table.Unlock("alice", q->id); });
  const bool returned = unlocked.wait_for(std::chrono::milliseconds(test::kPatienceMs)) ==
                        std::future_status::ready;
  release.Open();
  ASSERT_TRUE(returned) << "Unlock waited for the item running on the queue";
  auto last = unlocked.get();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->locks, 0u);
  table.WaitForReleases();
  EXPECT_FALSE(MfQueueAlive(q->id));
}

TEST_F(QueueTableTest, AClientThatGoesAwayLeaksNoLock) {
  QueueTable table;
  auto mine = table.Create("crashed-rig", QueueType::kMultithreaded, 0, "", {});
  auto shared = table.Create("controller", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(mine.ok() && shared.ok());
  ASSERT_TRUE(table.Lock("crashed-rig", shared->id).ok());
  ASSERT_TRUE(table.Lock("crashed-rig", shared->id).ok());

  table.ReleaseClient("crashed-rig");
  table.WaitForReleases();
  EXPECT_EQ(table.Get("controller", mine->id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(MfQueueAlive(mine->id));
  auto still = table.Get("controller", shared->id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->locks, 1u);
  EXPECT_TRUE(MfQueueAlive(shared->id));
}

TEST_F(QueueTableTest, ReleaseAllDropsOnlyTheCallersLocks) {
  QueueTable table;
  auto q = table.Create("alice", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(table.Lock("alice", q->id).ok());
  ASSERT_TRUE(table.Lock("bob", q->id).ok());
  auto released = table.ReleaseAll("alice", q->id);
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released.value(), 2u);
  EXPECT_EQ(table.Get("bob", q->id)->locks, 1u);
  EXPECT_EQ(table.ReleaseAll("bob", MFASYNC_CALLBACK_QUEUE_STANDARD).status().code(),
            StatusCode::kFailedPrecondition);
}

// Queue counts are limited in all and per client (queues a client holds
// locks on, created or locked), each refusal naming its limit; a queue
// counts until its last lock goes.
TEST_F(QueueTableTest, QueueCountsAreLimitedInAllAndPerClient) {
  QueueLimits limits;
  limits.max_queues = 3;
  limits.max_queues_per_client = 2;
  QueueTable table(limits);
  auto a1 = table.Create("alice", QueueType::kSerial, MFASYNC_CALLBACK_QUEUE_STANDARD, "", {});
  auto a2 = table.Create("alice", QueueType::kSerial, MFASYNC_CALLBACK_QUEUE_STANDARD, "", {});
  ASSERT_TRUE(a1.ok() && a2.ok());
  auto refused = table.Create("alice", QueueType::kStandard, 0, "", {});
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("limit max_queues_per_client"), std::string::npos)
      << refused.status().message();
  auto b1 = table.Create("bob", QueueType::kStandard, 0, "", {});
  ASSERT_TRUE(b1.ok());
  refused = table.Create("bob", QueueType::kStandard, 0, "", {});
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("limit max_queues:"), std::string::npos)
      << refused.status().message();

  // A first lock on another's queue counts; more locks on one held do not.
  auto lock = table.Lock("alice", b1->id);
  EXPECT_EQ(lock.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(lock.status().message().find("max_queues_per_client"), std::string::npos);
  EXPECT_TRUE(table.Lock("alice", a1->id).ok());
  EXPECT_TRUE(table.Lock("carol", a1->id).ok());
  EXPECT_TRUE(table.Lock("alice", MFASYNC_CALLBACK_QUEUE_MULTITHREADED).ok());  // platform: free

  // Alice lets go of a1 (carol still holds it): room for her, not in all.
  ASSERT_EQ(table.ReleaseAll("alice", a1->id).value(), 2u);
  refused = table.Create("alice", QueueType::kStandard, 0, "", {});
  EXPECT_NE(refused.status().message().find("limit max_queues:"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(table.Lock("alice", b1->id).ok());
  // Bob goes away, alice drops b1: the queue is gone, and with it its count.
  table.ReleaseClient("bob");
  ASSERT_EQ(table.ReleaseAll("alice", b1->id).value(), 1u);
  EXPECT_TRUE(table.Create("alice", QueueType::kStandard, 0, "", {}).ok());
  // A refused creation counted nothing: dave may still create one when room comes.
  table.ReleaseClient("carol");
  EXPECT_TRUE(table.Create("dave", QueueType::kMultithreaded, 0, "", {}).ok());
}

// Serial queues on serial queues: a chain is at most max_serial_chain long,
// counted from the first serial queue above a non-serial one.
TEST_F(QueueTableTest, SerialChainsAreAsLongAsTheLimitAndNoLonger) {
  QueueLimits limits;
  limits.max_serial_chain = 3;
  QueueTable table(limits);
  auto pool = table.Create("alice", QueueType::kMultithreaded, 0, "", {});
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(pool->chain, 0u);
  DWORD target = pool->id;
  for (std::uint32_t length = 1; length <= 3; ++length) {
    auto serial = table.Create("alice", QueueType::kSerial, target, "", {});
    ASSERT_TRUE(serial.ok()) << serial.status().message();
    EXPECT_EQ(serial->chain, length);
    target = serial->id;
  }
  auto refused = table.Create("alice", QueueType::kSerial, target, "", {});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("limit max_serial_chain"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("chain of 3 serial queues"), std::string::npos)
      << refused.status().message();
  // The chain's end still runs what is put on it.
  EXPECT_TRUE(MfQueueAlive(target));
  // A branch lower down has room.
  auto branch =
      table.Create("alice", QueueType::kSerial, MFASYNC_CALLBACK_QUEUE_STANDARD, "", {});
  ASSERT_TRUE(branch.ok());
  EXPECT_EQ(branch->chain, 1u);
}

TEST_F(QueueTableTest, ListingFiltersByLabelsAndPages) {
  QueueTable table;
  for (int i = 0; i < 5; ++i) {
    std::string name = "q";
    name += std::to_string(i);  // (not "q" + ...: GCC 12 -O3 warns falsely, PR 105651)
    ASSERT_TRUE(
        table.Create("alice", QueueType::kStandard, 0, name, {{"farm", i % 2 == 0 ? "even" : "odd"}})
            .ok());
  }
  std::vector<std::string> names;
  std::string token;
  do {
    auto page = table.List("alice", {{"farm", "even"}}, 2, token);
    ASSERT_TRUE(page.ok()) << page.status().message();
    EXPECT_LE(page->queues.size(), 2u);
    for (const QueueInfo& q : page->queues) names.push_back(q.name);
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(names, (std::vector<std::string>{"q0", "q2", "q4"}));
}

}  // namespace
}  // namespace mfwq::server
