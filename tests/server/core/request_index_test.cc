// The request-id index: look-ups, inserts and removals checked against a
// std::map holding the same keys, through growth, long runs of slots and
// removals that move later keys back.
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "request_index.h"

namespace mfwq::server {
namespace {

// Keys whose strings stay put while the index views them.
struct Keys {
  explicit Keys(int n) {
    for (int i = 0; i < n; ++i) {
      clients.push_back("client-" + std::to_string(i % 7));
      requests.push_back("request-id-" + std::to_string(i));
    }
  }
  RequestIndex::Key operator[](int i) const { return {clients[i], requests[i]}; }
  std::vector<std::string> clients, requests;
};

TEST(RequestIndexTest, FindsWhatWasInsertedAndNotWhatWasNot) {
  RequestIndex index;
  EXPECT_EQ(index.Find({"alice", "r1"}), nullptr);
  EXPECT_FALSE(index.Erase({"alice", "r1"}));
  auto [number, added] = index.Insert({"alice", "r1"}, 7);
  ASSERT_TRUE(added);
  EXPECT_EQ(*number, 7u);
  // The same request id of another client is another key.
  EXPECT_EQ(index.Find({"bob", "r1"}), nullptr);
  ASSERT_NE(index.Find({"alice", "r1"}), nullptr);
  EXPECT_EQ(*index.Find({"alice", "r1"}), 7u);
  // A second insert finds the first, unchanged.
  auto [again, added_again] = index.Insert({"alice", "r1"}, 8);
  EXPECT_FALSE(added_again);
  EXPECT_EQ(*again, 7u);
  // Its number's place can be set.
  *again = 9;
  EXPECT_EQ(*index.Find({"alice", "r1"}), 9u);
  EXPECT_EQ(index.size(), 1u);
}

TEST(RequestIndexTest, EraseWithANumberTakesOnlyThatOne) {
  RequestIndex index;
  index.Insert({"alice", "r1"}, 3);
  EXPECT_FALSE(index.Erase({"alice", "r1"}, 4));
  EXPECT_NE(index.Find({"alice", "r1"}), nullptr);
  EXPECT_TRUE(index.Erase({"alice", "r1"}, 3));
  EXPECT_EQ(index.Find({"alice", "r1"}), nullptr);
  EXPECT_TRUE(index.empty());
}

TEST(RequestIndexTest, AgreesWithAMapThroughGrowthAndRemovals) {
  constexpr int kKeys = 20000;
  const Keys keys(kKeys);
  RequestIndex index;
  std::map<int, std::uint64_t> model;  // by key index
  std::mt19937 random(12345);
  for (int step = 0; step < 200000; ++step) {
    const int k = static_cast<int>(random() % kKeys);
    const std::uint64_t number = random();
    switch (random() % 3) {
      case 0:
      case 1: {  // inserts outnumber removals, so that the index grows
        auto [place, added] = index.Insert(keys[k], number);
        const bool expected = model.emplace(k, number).second;
        ASSERT_EQ(added, expected) << step;
        ASSERT_EQ(*place, model.at(k)) << step;
        break;
      }
      case 2: {
        const bool removed = index.Erase(keys[k]);
        ASSERT_EQ(removed, model.erase(k) == 1) << step;
        break;
      }
    }
    ASSERT_EQ(index.size(), model.size()) << step;
  }
  // Every key is where the model says, and no other is found.
  for (int k = 0; k < kKeys; ++k) {
    const std::uint64_t* found = index.Find(keys[k]);
    auto it = model.find(k);
    if (it == model.end()) {
      EXPECT_EQ(found, nullptr) << k;
    } else {
      ASSERT_NE(found, nullptr) << k;
      EXPECT_EQ(*found, it->second) << k;
    }
  }
  // Emptied one by one, each removal leaves the rest findable.
  for (auto it = model.begin(); it != model.end();) {
    ASSERT_TRUE(index.Erase(keys[it->first], it->second));
    it = model.erase(it);
    if (it != model.end()) {
      ASSERT_NE(index.Find(keys[it->first]), nullptr);
    }
  }
  EXPECT_TRUE(index.empty());
}

}  // namespace
}  // namespace mfwq::server
