#include "common/compress/compressor.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "common/base/rng.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

Vector RandomVector(int64_t d, uint64_t seed, int distinct_levels = 0) {
  CounterRng rng(seed, Purpose::kNoise, 99, 0);
  Vector v(d);
  for (int64_t j = 0; j < d; ++j) {
    v[j] = distinct_levels > 0
               ? static_cast<double>(static_cast<int64_t>(rng.NextBelow(distinct_levels)) -
                                     distinct_levels / 2)
               : rng.NextGaussian();
  }
  return v;
}

// The specification by sorting: order by (|v_j| descending, j ascending), take k, sort by index.
std::vector<int32_t> ReferenceTopK(const Vector& v, int64_t k) {
  std::vector<int32_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return std::abs(v[a]) > std::abs(v[b]); });
  order.resize(k);
  std::sort(order.begin(), order.end());
  return order;
}

std::unique_ptr<Compressor> Make(CompressorKind kind, int64_t d, int64_t k) {
  auto c = CreateCompressor({kind, k, d});
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value();
}

Vector Densify(const SparseVector& s) {
  Vector out = Vector::Zero(s.dim);
  s.AddTo(1.0, &out);
  return out;
}

TEST(TopKTest, MatchesSortingReferenceIncludingTiesAndSampledPath) {
  // Sizes cover k = 1, the small path and the sampled path (d >= 4096); integer-valued vectors
  // with few levels force many ties at the threshold.
  for (int64_t d : {1, 2, 7, 123, 1000, 5000, 50000}) {
    for (int64_t k : {int64_t{1}, int64_t{2}, d / 10 + 1, d / 2 + 1, d}) {
      if (k > d) continue;
      for (uint64_t seed = 0; seed < 6; ++seed) {
        for (int levels : {0, 3, 11}) {
          const Vector v = RandomVector(d, seed * 31 + d, levels);
          SparseVector c;
          Make(CompressorKind::kTopK, d, k)->Compress(v, {}, &c);
          ASSERT_EQ(c.nnz(), k) << "d=" << d << " k=" << k;
          ASSERT_EQ(c.indices, ReferenceTopK(v, k))
              << "d=" << d << " k=" << k << " levels=" << levels;
          ASSERT_TRUE(c.Validate().ok());
          for (int64_t j = 0; j < k; ++j) ASSERT_EQ(c.values[j], v[c.indices[j]]);
        }
      }
    }
  }
}

TEST(TopKTest, TiesGoToTheLowerIndex) {
  Vector v(6);
  v << 1.0, -3.0, 3.0, 2.0, -3.0, 0.5;
  SparseVector c;
  Make(CompressorKind::kTopK, 6, 2)->Compress(v, {}, &c);
  EXPECT_EQ(c.indices, (std::vector<int32_t>{1, 2}));
  Make(CompressorKind::kTopK, 6, 1)->Compress(v, {}, &c);
  EXPECT_EQ(c.indices, (std::vector<int32_t>{1}));
  // All zero: exactly k entries still, the lowest indices, values 0.
  Make(CompressorKind::kTopK, 6, 3)->Compress(Vector::Zero(6), {}, &c);
  EXPECT_EQ(c.indices, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(c.values, (std::vector<double>{0.0, 0.0, 0.0}));
}

TEST(TopKTest, IsContractive) {
  for (int64_t d : {10, 123, 6000}) {
    for (int64_t k : {int64_t{1}, d / 7 + 1, d - 1}) {
      for (uint64_t seed = 0; seed < 20; ++seed) {
        const Vector v = RandomVector(d, seed);
        SparseVector c;
        Make(CompressorKind::kTopK, d, k)->Compress(v, {}, &c);
        const double err = (Densify(c) - v).squaredNorm();
        EXPECT_LE(err, (1.0 - static_cast<double>(k) / d) * v.squaredNorm() * (1 + 1e-12));
      }
    }
  }
}

TEST(RandKTest, ContractiveInExpectationDistinctAndDeterministic) {
  const int64_t d = 50, k = 5;
  auto randk = Make(CompressorKind::kRandK, d, k);
  const Vector v = RandomVector(d, 3);
  double mean_err = 0.0;
  const int trials = 20000;
  std::vector<int> hits(d, 0);
  for (int t = 0; t < trials; ++t) {
    SparseVector c;
    randk->Compress(v, {7, 2, static_cast<uint64_t>(t)}, &c);
    ASSERT_EQ(c.nnz(), k);
    ASSERT_TRUE(c.Validate().ok()) << c.Validate();  // distinct, increasing, in range
    for (int32_t i : c.indices) ++hits[i];
    mean_err += (Densify(c) - v).squaredNorm() / trials;
  }
  // E‖C(v) − v‖² = (1 − k/d)‖v‖² exactly for unscaled rand-k; the Monte Carlo error of the mean
  // is far below 2 % at 20000 trials.
  EXPECT_NEAR(mean_err, (1.0 - static_cast<double>(k) / d) * v.squaredNorm(),
              0.02 * v.squaredNorm());
  // Every coordinate is chosen with probability k/d = 0.1: 2000 expected hits, sd ~ 42.
  for (int h : hits) EXPECT_NEAR(h, trials * 0.1, 250);

  SparseVector a, b, other;
  randk->Compress(v, {7, 2, 11}, &a);
  randk->Compress(v, {7, 2, 11}, &b);
  randk->Compress(v, {7, 3, 11}, &other);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_NE(a.indices, other.indices);
}

TEST(IdentityTest, IsDense) {
  const Vector v = RandomVector(9, 1);
  SparseVector c;
  Make(CompressorKind::kIdentity, 9, 0)->Compress(v, {}, &c);
  EXPECT_TRUE(c.dense);
  EXPECT_EQ(Densify(c), v);
}

TEST(CompressorOptionsTest, RejectsBadK) {
  EXPECT_FALSE(CreateCompressor({CompressorKind::kTopK, 0, 10}).ok());
  EXPECT_FALSE(CreateCompressor({CompressorKind::kTopK, 11, 10}).ok());
  EXPECT_FALSE(CreateCompressor({CompressorKind::kRandK, 1, 0}).ok());
  EXPECT_EQ(CreateCompressor({CompressorKind::kTopK, 11, 10}).status().message(),
            "top-k needs 1 <= k <= d = 10; got k = 11");
  EXPECT_FALSE(ParseCompressorKind("topk").ok());
}

}  // namespace
}  // namespace ef21
