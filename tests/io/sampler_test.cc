#include "io/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"

namespace millrace::io {
namespace {

TEST(SamplerTest, PermutationIsSeededAndComplete) {
  const auto a = Permutation(1000, 7, 0);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
  EXPECT_EQ(a, Permutation(1000, 7, 0));
  EXPECT_NE(a, Permutation(1000, 7, 1));  // another epoch
  EXPECT_NE(a, Permutation(1000, 8, 0));  // another seed
  // Not the identity (the chance of a fixed point everywhere is nil).
  int fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += a[static_cast<size_t>(i)] == i;
  EXPECT_LT(fixed, 20);
}

// The read stage's compact order (32-bit indices, no copy per rank) is Indices, index for index,
// and Permutation32 is Permutation.
TEST(SamplerTest, OrderIsTheIndicesInFourBytesARecord) {
  for (int64_t n : {0, 1, 7, 101, 1000}) {
    const std::vector<int64_t> wide = Permutation(n, 11, 2);
    const std::vector<uint32_t> narrow = Permutation32(n, 11, 2);
    ASSERT_EQ(narrow.size(), wide.size());
    for (size_t i = 0; i < wide.size(); ++i) ASSERT_EQ(int64_t{narrow[i]}, wide[i]) << n;
    for (int world : {1, 2, 3}) {
      for (int rank = 0; rank < world; ++rank) {
        for (bool shuffle : {true, false}) {
          for (bool drop_last : {true, false}) {
            const EpochSampler s(n, {.seed = 5, .shuffle = shuffle, .drop_last = drop_last,
                                     .rank = rank, .world = world, .batch_size = 8});
            for (int64_t epoch : {0, 3}) {
              const std::vector<int64_t> indices = s.Indices(epoch);
              const EpochOrder order = s.Order(epoch);
              ASSERT_EQ(order.size(), static_cast<int64_t>(indices.size()));
              EXPECT_EQ(order.empty(), indices.empty());
              for (int64_t k = 0; k < order.size(); ++k)
                ASSERT_EQ(order[k], indices[static_cast<size_t>(k)])
                    << n << " " << world << " " << rank << " " << shuffle << " " << drop_last;
              EXPECT_LE(order.bytes(), static_cast<size_t>(n) * sizeof(uint32_t));
            }
          }
        }
      }
    }
  }
}

TEST(SamplerTest, RanksCoverTheEpochExactlyOnceWithoutDropLast) {
  for (int world : {1, 2, 3}) {
    std::multiset<int64_t> seen;
    int64_t total = 0;
    for (int rank = 0; rank < world; ++rank) {
      EpochSampler s(101, {.seed = 3, .rank = rank, .world = world, .batch_size = 8});
      const auto idx = s.Indices(5);
      EXPECT_EQ(static_cast<int64_t>(idx.size()), s.num_samples());
      seen.insert(idx.begin(), idx.end());
      total += static_cast<int64_t>(idx.size());
      const auto batches = s.Batches(5);
      EXPECT_EQ(static_cast<int64_t>(batches.size()), s.num_batches());
      for (size_t b = 0; b + 1 < batches.size(); ++b) EXPECT_EQ(batches[b].size(), 8u);
    }
    EXPECT_EQ(total, 101);
    for (int64_t i = 0; i < 101; ++i) EXPECT_EQ(seen.count(i), 1u) << "index " << i;
  }
}

TEST(SamplerTest, DropLastGivesEveryRankTheSameFullBatches) {
  std::set<int64_t> seen;
  for (int rank = 0; rank < 2; ++rank) {
    EpochSampler s(105, {.seed = 1, .drop_last = true, .rank = rank, .world = 2, .batch_size = 10});
    // 105 / (2 * 10) = 5 full rounds: 100 records dealt, 50 per rank, 5 batches of 10.
    EXPECT_EQ(s.num_samples(), 50);
    const auto batches = s.Batches(0);
    ASSERT_EQ(batches.size(), 5u);
    for (const auto& b : batches) {
      EXPECT_EQ(b.size(), 10u);
      for (int64_t i : b) EXPECT_TRUE(seen.insert(i).second) << "index " << i << " seen twice";
    }
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(SamplerTest, NoShuffleDealsTheIdentityRoundRobin) {
  EpochSampler s(7, {.shuffle = false, .rank = 1, .world = 3});
  EXPECT_EQ(s.Indices(0), (std::vector<int64_t>{1, 4}));
}

TEST(SamplerTest, BadArgumentsThrow) {
  EXPECT_THROW(EpochSampler(10, {.rank = 2, .world = 2}), Error);
  EXPECT_THROW(EpochSampler(10, {.batch_size = 0}), Error);
  EXPECT_THROW(EpochSampler(-1, {}), Error);
}

}  // namespace
}  // namespace millrace::io
