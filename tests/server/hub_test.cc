// The gRPC adapter's parts that do not need gRPC: the completion hub (fan
// out, filters, bounded buffers, waiters) and client presence. Also run
// under ThreadSanitizer.
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "client_registry.h"
#include "completion_hub.h"

namespace mfwq::server::rpc {
namespace {

CompletionRecord Completion(std::uint64_t sequence, const std::string& client, DWORD queue,
                            std::uint64_t session = 0) {
  CompletionRecord c;
  c.sequence = sequence;
  c.operation = OperationNumber(sequence);
  c.client = client;
  c.queue = queue;
  c.session = session;
  return c;
}

// As the operation table hands completions over: in a batch (of one here).
void Publish(CompletionHub& hub, CompletionRecord c) {
  const CompletionPtr shared = std::make_shared<const CompletionRecord>(std::move(c));
  hub.OnCompletions({&shared, 1});
}

// A latch that counts wakes.
struct Wakes {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
  void Wake() {
    std::lock_guard lock(mu);
    ++count;
    cv.notify_all();
  }
};

TEST(CompletionHub, SubscribersGetWhatTheirFiltersSelectInOrder) {
  CompletionHub hub;
  Wakes wakes;
  Subscriber::Filter mine;
  mine.client = "alice";
  mine.queues = {5};
  auto alice = std::make_shared<Subscriber>(mine, 100, [&] { wakes.Wake(); });
  Subscriber::Filter theirs;
  theirs.client = "bob";
  auto bob = std::make_shared<Subscriber>(theirs, 100, [] {});
  EXPECT_EQ(hub.Subscribe(alice), 0u);
  hub.Subscribe(bob);
  Publish(hub, Completion(1, "alice", 5));
  Publish(hub, Completion(2, "alice", 1));  // another queue
  Publish(hub, Completion(3, "bob", 5));
  Publish(hub, Completion(4, "alice", 5));
  bool overflowed = true;
  auto got = alice->Take(10, &overflowed);
  EXPECT_FALSE(overflowed);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].sequence, 1u);
  EXPECT_EQ(got[1].sequence, 4u);
  EXPECT_EQ(wakes.count, 1) << "woken when its empty buffer got something, not again";
  EXPECT_EQ(bob->Take(10, &overflowed).size(), 1u);
  // A new subscriber hears of what comes after the last one delivered.
  auto late = std::make_shared<Subscriber>(mine, 100, [] {});
  EXPECT_EQ(hub.Subscribe(late), 4u);
  hub.Unsubscribe(alice);
  Publish(hub, Completion(5, "alice", 5));
  EXPECT_TRUE(alice->Take(10, &overflowed).empty());
  EXPECT_EQ(late->Take(10, &overflowed).size(), 1u);
}

TEST(CompletionHub, ASubscriberTooFarBehindIsMarkedAndItsBufferFreed) {
  CompletionHub hub;
  Wakes wakes;
  Subscriber::Filter f;
  f.client = "alice";
  auto slow = std::make_shared<Subscriber>(f, 3, [&] { wakes.Wake(); });
  hub.Subscribe(slow);
  for (std::uint64_t s = 1; s <= 10; ++s) Publish(hub, Completion(s, "alice", 5));
  bool overflowed = false;
  EXPECT_TRUE(slow->Take(10, &overflowed).empty());
  EXPECT_TRUE(overflowed);
  EXPECT_EQ(wakes.count, 2) << "once for the first item, once for the overflow";
}

// A client's own watcher that leaves sessions to report their operations
// still hears of those a unary Submit asked for.
TEST(CompletionHub, AWatcherCanLeaveOutWhatOnlySessionsSubmitted) {
  CompletionHub hub;
  Subscriber::Filter f;
  f.client = "alice";
  f.exclude_session_operations = true;
  auto watcher = std::make_shared<Subscriber>(f, 100, [] {});
  Subscriber::Filter all;
  all.client = "alice";
  auto everything = std::make_shared<Subscriber>(all, 100, [] {});
  hub.Subscribe(watcher);
  hub.Subscribe(everything);
  CompletionRecord unary = Completion(1, "alice", 5);
  unary.unary = true;
  Publish(hub, unary);
  Publish(hub, Completion(2, "alice", 5, 7));  // session 7's alone
  CompletionRecord retried = Completion(3, "alice", 5, 7);
  retried.unary = true;  // session 7's, retried with a unary Submit
  Publish(hub, retried);
  ProgressRecord progress;
  progress.client = "alice";
  progress.operation = OperationNumber(4);
  progress.session = 7;
  Subscriber::Filter with_progress = f;
  with_progress.include_progress = true;
  auto progress_watcher = std::make_shared<Subscriber>(with_progress, 100, [] {});
  hub.Subscribe(progress_watcher);
  hub.OnProgress(progress, 3);  // session 7's alone: left out too
  bool overflowed;
  auto got = watcher->Take(10, &overflowed);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].sequence, 1u);
  EXPECT_EQ(got[1].sequence, 3u);
  EXPECT_TRUE(progress_watcher->Take(10, &overflowed).empty());
  EXPECT_EQ(everything->Take(10, &overflowed).size(), 3u);
}

TEST(CompletionHub, ASessionHearsItsOwnOperationsAndAddedOnesOnce) {
  CompletionHub hub;
  Subscriber::Filter f;
  f.client = "alice";
  f.session = 7;
  auto session = std::make_shared<Subscriber>(f, 100, [] {});
  hub.Subscribe(session);
  Publish(hub, Completion(1, "alice", 5, 7));
  Publish(hub, Completion(2, "alice", 5, 8));  // another session's
  EXPECT_TRUE(session->AddOperation(OperationNumber(3)));
  EXPECT_FALSE(session->AddOperation(OperationNumber(3)));  // added already
  // Caught up by hand ...
  session->Offer(std::make_shared<const CompletionRecord>(Completion(3, "alice", 5, 0)));
  Publish(hub, Completion(3, "alice", 5, 0));  // ... and not again
  bool overflowed;
  auto got = session->Take(10, &overflowed);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].sequence, 1u);
  EXPECT_EQ(got[1].sequence, 3u);
}

TEST(CompletionHub, WaitersRunOnceUnlessRemoved) {
  CompletionHub hub;
  int first = 0, second = 0;
  hub.AddWaiter(OperationNumber(1), [&] { ++first; });
  const std::uint64_t token = hub.AddWaiter(OperationNumber(1), [&] { ++second; });
  hub.RemoveWaiter(OperationNumber(1), token);
  Publish(hub, Completion(1, "alice", 5));
  Publish(hub, Completion(1, "alice", 5));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
}

TEST(CompletionHub, ConcurrentSubscribersEachGetEveryCompletionInOrder) {
  CompletionHub hub;
  constexpr int kSubscribers = 4;
  constexpr std::uint64_t kCompletions = 5000;
  struct Reader {
    std::shared_ptr<Subscriber> subscriber;
    std::vector<std::uint64_t> got;
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
  };
  std::vector<std::unique_ptr<Reader>> readers;
  for (int i = 0; i < kSubscribers; ++i) {
    auto r = std::make_unique<Reader>();
    Subscriber::Filter f;
    f.client = "alice";
    Reader* raw = r.get();
    r->subscriber = std::make_shared<Subscriber>(f, kCompletions, [raw] {
      std::lock_guard lock(raw->mu);
      raw->woken = true;
      raw->cv.notify_all();
    });
    hub.Subscribe(r->subscriber);
    readers.push_back(std::move(r));
  }
  std::vector<std::thread> threads;
  for (auto& r : readers) {
    threads.emplace_back([&r] {
      while (r->got.size() < kCompletions) {
        bool overflowed;
        auto items = r->subscriber->Take(64, &overflowed);
        ASSERT_FALSE(overflowed);
        for (const HubItem& item : items) r->got.push_back(item.sequence);
        if (items.empty()) {
          std::unique_lock lock(r->mu);
          r->cv.wait(lock, [&] { return r->woken; });
          r->woken = false;
        }
      }
    });
  }
  std::thread progress([&] {
    for (int i = 0; i < 1000; ++i) {
      ProgressRecord p;
      p.client = "alice";
      hub.OnProgress(p, 0);  // nobody asked for progress: dropped
    }
  });
  for (std::uint64_t s = 1; s <= kCompletions; ++s) Publish(hub, Completion(s, "alice", 5));
  progress.join();
  for (std::thread& t : threads) t.join();
  for (auto& r : readers) {
    ASSERT_EQ(r->got.size(), kCompletions);
    for (std::uint64_t i = 0; i < kCompletions; ++i) ASSERT_EQ(r->got[i], i + 1);
  }
}

TEST(ClientRegistry, AClientIsReleasedOnceWhenItsLastStreamEndsAndItsLeaseRunsOut) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> released;
  {
    ClientRegistry clients(std::chrono::milliseconds(0), [&](const std::string& client) {
      std::lock_guard lock(mu);
      released.push_back(client);
      cv.notify_all();
    });
    ASSERT_TRUE(clients.OpenStream("rig").ok());
    ASSERT_TRUE(clients.OpenStream("rig").ok());
    clients.Touch("rig");
    clients.CloseStream("rig");
    {
      std::lock_guard lock(mu);
      EXPECT_TRUE(released.empty()) << "a stream is still open";
    }
    clients.CloseStream("rig");
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !released.empty(); });
    EXPECT_EQ(released, std::vector<std::string>{"rig"});
  }
  EXPECT_EQ(released.size(), 1u);
}

TEST(ClientRegistry, AClientWithinItsLeaseIsKeptAndNobodyIsReleasedAtDestruction) {
  std::atomic<int> released{0};
  {
    ClientRegistry clients(std::chrono::hours(1), [&](const std::string&) { ++released; });
    clients.Touch("rig");
    ASSERT_TRUE(clients.OpenStream("other").ok());
    clients.CloseStream("other");
    EXPECT_EQ(clients.present(), 2u);
  }
  EXPECT_EQ(released.load(), 0);
}

TEST(ClientRegistry, AClientHasAtMostItsLimitOfStreamsOpen) {
  ClientRegistry clients(std::chrono::hours(1), [](const std::string&) {}, 2);
  ASSERT_TRUE(clients.OpenStream("rig").ok());
  ASSERT_TRUE(clients.OpenStream("rig").ok());
  Status refused = clients.OpenStream("rig");
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("limit max_streams_per_client: this client has 2 streams open"),
            std::string::npos)
      << refused.message();
  EXPECT_TRUE(clients.OpenStream("other").ok());
  // The refused one was not counted: one close makes room for one.
  clients.CloseStream("rig");
  EXPECT_TRUE(clients.OpenStream("rig").ok());
  EXPECT_FALSE(clients.OpenStream("rig").ok());
}

}  // namespace
}  // namespace mfwq::server::rpc
