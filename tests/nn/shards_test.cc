#include "common/nn/shards.h"

#include <algorithm>
#include <numeric>
#include <set>

#include "gtest/gtest.h"

namespace ef21 {
namespace {

TEST(ShardsTest, RandomShardsArePermutationBlocksFixedBySeed) {
  const auto a = MakeShards(1003, 5, ShardKind::kRandom, 7);
  const auto b = MakeShards(1003, 5, ShardKind::kRandom, 7);
  const auto c = MakeShards(1003, 5, ShardKind::kRandom, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_EQ(a.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a[i].size(), 200u);
  EXPECT_EQ(a[4].size(), 203u);  // the last block takes the remainder
  std::vector<int64_t> all;
  for (const auto& s : a) all.insert(all.end(), s.begin(), s.end());
  std::vector<int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> expected(1003);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);
  EXPECT_NE(all, expected);  // actually shuffled
}

TEST(ShardsTest, ContiguousShardsFollowFileOrder) {
  const auto s = MakeShards(10, 3, ShardKind::kContiguous, 1);
  EXPECT_EQ(s[0], (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(s[1], (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(s[2], (std::vector<int64_t>{6, 7, 8, 9}));
}

TEST(ShardsTest, SamplesAreDistinctAndAPureFunctionOfTheStream) {
  std::set<std::vector<int64_t>> seen;
  for (uint64_t round = 0; round < 50; ++round) {
    CounterRng rng(3, Purpose::kMinibatch, 2, round);
    const std::vector<int64_t> draw = SampleWithoutReplacement(300, 128, &rng);
    ASSERT_EQ(draw.size(), 128u);
    std::set<int64_t> distinct(draw.begin(), draw.end());
    EXPECT_EQ(distinct.size(), 128u) << "round " << round;
    for (int64_t r : draw) ASSERT_TRUE(r >= 0 && r < 300);
    CounterRng again(3, Purpose::kMinibatch, 2, round);
    EXPECT_EQ(SampleWithoutReplacement(300, 128, &again), draw);
    seen.insert(draw);
  }
  EXPECT_EQ(seen.size(), 50u);  // fresh every round
  CounterRng rng(0, Purpose::kMinibatch, 0, 0);
  std::vector<int64_t> all = SampleWithoutReplacement(5, 9, &rng);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(ShardsTest, ParsesNames) {
  EXPECT_EQ(*ParseShardKind("random"), ShardKind::kRandom);
  EXPECT_EQ(*ParseShardKind("contiguous"), ShardKind::kContiguous);
  EXPECT_FALSE(ParseShardKind("row").ok());
}

}  // namespace
}  // namespace ef21
