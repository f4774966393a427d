#include "common/compress/sparse_codec.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "common/base/rng.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

// k distinct indices of [0, d), uniformly, ascending (selection sampling, Knuth's Algorithm S).
std::vector<int32_t> RandomIndices(int64_t d, int64_t k, uint64_t seed) {
  CounterRng rng(seed, Purpose::kRandK, 0, 0);
  std::vector<int32_t> out;
  for (int64_t j = 0; j < d && static_cast<int64_t>(out.size()) < k; ++j) {
    if (rng.NextBelow(d - j) < static_cast<uint64_t>(k - static_cast<int64_t>(out.size()))) {
      out.push_back(static_cast<int32_t>(j));
    }
  }
  return out;
}

TEST(IndexCodeTest, RoundTripsExactly) {
  for (int64_t d : {1, 2, 10, 123, 100000, 2000000}) {
    for (int64_t k : {int64_t{0}, int64_t{1}, d / 100 + 1, d / 2 + 1, d}) {
      if (k > d) continue;
      for (uint64_t seed = 0; seed < 5; ++seed) {
        const auto indices = RandomIndices(d, k, seed + d);
        IndexCode code;
        EncodeIndices(indices, d, &code);
        EXPECT_EQ(static_cast<int64_t>(code.bytes.size()), EncodedIndexBytes(indices, d));
        std::vector<int32_t> decoded;
        ASSERT_TRUE(DecodeIndices(code.rice_bits, code.bytes, k, d, &decoded).ok());
        EXPECT_EQ(decoded, indices);
      }
    }
  }
}

TEST(IndexCodeTest, HandCountedCase) {
  // Indices {3, 4, 12} in d = 16: gaps 3, 0, 7. Mean gap (16−3)/3 = 4.33 → b ∈ {1, 2, 3};
  // b=1: (1+1+1)+(0+1+1)+(3+1+1) = 10 bits; b=2: (0+1+2)+(0+1+2)+(1+1+2) = 10; b=3: 4+4+4 = 12.
  // The first of the shortest is b = 1: bits 1,0,1 | 0,0 | 1,1,1,0,1 → bytes 0b11100101, 0b10.
  IndexCode code;
  EncodeIndices(std::vector<int32_t>{3, 4, 12}, 16, &code);
  EXPECT_EQ(code.rice_bits, 1u);
  ASSERT_EQ(code.bytes.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(code.bytes[0]), 0b11100101);
  EXPECT_EQ(static_cast<unsigned char>(code.bytes[1]), 0b10);
}

// The encoder's Rice parameter is the definition's: the shortest code (the first of equals) among
// the three around floor(log2((d − k) / k)), here computed by brute force with a 64-bit division,
// for one index (the aggregator's fast case) and more, up to the wire's largest dimension 2^32 − 1.
TEST(IndexCodeTest, RiceParameterIsTheShortestOfTheThreeCandidates) {
  auto expected = [](const std::vector<int32_t>& indices, int64_t d) {
    const uint64_t k = indices.size();
    const uint64_t mean_gap = (static_cast<uint64_t>(d) - k) / k;
    const int center = mean_gap >= 2 ? 63 - __builtin_clzll(mean_gap) : 0;
    uint64_t best_bits = UINT64_MAX;
    uint32_t best = 0;
    for (int b = std::max(0, center - 1); b <= std::min<int>(kMaxRiceBits, center + 1); ++b) {
      uint64_t bits = 0;
      int64_t previous = -1;
      for (int32_t index : indices) {
        bits += (static_cast<uint64_t>(index - previous - 1) >> b) + 1 + b;
        previous = index;
      }
      if (bits < best_bits) {
        best_bits = bits;
        best = static_cast<uint32_t>(b);
      }
    }
    return best;
  };
  int checked = 0;
  for (int64_t d : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{123}, int64_t{100000},
                    int64_t{2147483647}, int64_t{4294967295}}) {
    for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1000}}) {
      if (k > d) continue;
      for (uint64_t seed = 0; seed < 20; ++seed) {
        // k indices spread over [0, min(d, 2^31)) (indices are int32), the last one random.
        std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(d + k));
        const int64_t range = std::min<int64_t>(d, int64_t{1} << 31);
        std::vector<int32_t> indices;
        if (k <= range / 4) {
          while (static_cast<int64_t>(indices.size()) < k) {
            indices.push_back(static_cast<int32_t>(rng() % static_cast<uint64_t>(range)));
            std::sort(indices.begin(), indices.end());
            indices.erase(std::unique(indices.begin(), indices.end()), indices.end());
          }
        } else {
          indices = RandomIndices(range, std::min(k, range), seed);
        }
        IndexCode code;
        EncodeIndices(indices, d, &code);
        EXPECT_EQ(code.rice_bits, expected(indices, d)) << "d " << d << " k " << indices.size();
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 400);
}

TEST(IndexCodeTest, RejectsMalformedStreams) {
  IndexCode code;
  EncodeIndices(std::vector<int32_t>{3, 4, 12}, 16, &code);
  std::vector<int32_t> out;
  EXPECT_FALSE(DecodeIndices(code.rice_bits, code.bytes, 3, 12, &out).ok());  // index 12 >= 12
  // Padding bits may legitimately decode as one more small gap, but not as seven more entries.
  EXPECT_FALSE(DecodeIndices(code.rice_bits, code.bytes, 10, 16, &out).ok());       // truncated
  EXPECT_FALSE(DecodeIndices(code.rice_bits, code.bytes + "x", 3, 16, &out).ok());  // trailing
  std::string bad_padding = code.bytes;
  bad_padding[1] = static_cast<char>(bad_padding[1] | 0x80);
  EXPECT_FALSE(DecodeIndices(code.rice_bits, bad_padding, 3, 16, &out).ok());
  EXPECT_FALSE(DecodeIndices(31, code.bytes, 3, 16, &out).ok());
  // A long run of one-bits cannot make the decoder loop or overflow.
  EXPECT_FALSE(DecodeIndices(0, std::string(1000, '\xff'), 1, 100, &out).ok());
  EXPECT_EQ(DecodeIndices(code.rice_bits, code.bytes, 3, 12, &out).message(),
            "entry 2 has index 12 >= dimension 12");
}

TEST(AccountingTest, PaperBitsAndWireBytesHandCounted) {
  SparseVector c;
  c.dim = 123;
  c.indices = {5, 77};
  c.values = {1.5, -2.0};
  EXPECT_EQ(PaperBits(c, ValueType::kF32), 64);
  EXPECT_EQ(PaperBits(c, ValueType::kF64), 128);
  // SparseVector: dim (1+1) + rice_bits (1+1; gaps 5, 71 cost 14 bits with b = 4 or 5, 15 with
  // b = 6, and the first shortest wins → 2 bytes) + index_code (1+1+2) + values f32 (1+1+8) = 18.
  IndexCode code;
  EncodeIndices(c.indices, c.dim, &code);
  EXPECT_EQ(code.rice_bits, 4u);
  EXPECT_EQ(code.bytes.size(), 2u);
  EXPECT_EQ(SparseVectorWireBytes(c, ValueType::kF32), 18);
  EXPECT_EQ(SparseVectorWireBytes(c, ValueType::kF64), 26);
  // Update{round 300 (1+2), client 0 (omitted), c (1+1+18)} = 23, in WorkerMessage: 1+1+23 = 25.
  EXPECT_EQ(UpdateWireBytes(300, 0, c, ValueType::kF32), 25);
  // client id 200: +1+2.
  EXPECT_EQ(UpdateWireBytes(300, 200, c, ValueType::kF32), 28);
  // RoundStart{round 1 (2), x of 123 doubles (1+2+984), stepsize (9)} = 998 → 1+2+998.
  EXPECT_EQ(RoundStartWireBytes(1, 123, 0.1, false), 1001);
  EXPECT_EQ(RoundStartWireBytes(0, 123, 0.1, true), 1001);
  EXPECT_EQ(VarintBytes(127), 1);
  EXPECT_EQ(VarintBytes(128), 2);
  EXPECT_EQ(VarintBytes(UINT64_MAX), 10);
  SparseVector dense;
  dense.dim = 4;
  dense.dense = true;
  dense.values = {1, 2, 3, 4};
  EXPECT_EQ(SparseVectorWireBytes(dense, ValueType::kF32), 2 + 2 + 18);
}

TEST(AccountingTest, RiceCodeIsNearTheEntropyBound) {
  // k = 1 % of d = 1e5: index information costs about k (log2(d/k) + 1.44) bits at best.
  const int64_t d = 100000, k = 1000;
  const auto indices = RandomIndices(d, k, 42);
  const double bound_bytes = k * (std::log2(static_cast<double>(d) / k) + 1.44) / 8;
  EXPECT_LT(EncodedIndexBytes(indices, d), 1.1 * bound_bytes);
}

TEST(SparseVectorTest, ValidateNamesTheProblem) {
  SparseVector c;
  c.dim = 10;
  c.indices = {3, 3};
  c.values = {1, 2};
  EXPECT_EQ(c.Validate().message(), "index 3 at entry 1 does not increase after 3");
  c.indices = {3, 10};
  EXPECT_EQ(c.Validate().message(), "index 10 at entry 1 is outside [0, 10)");
  c.indices = {3, 4};
  c.values = {1, std::nan("")};
  EXPECT_EQ(c.Validate().message(), "value nan at entry 1 is not finite");
  c.values = {1, 2};
  EXPECT_TRUE(c.Validate().ok());
  c.RoundValues(ValueType::kF32);
  c.values = {0.1};
  c.indices = {0};
  c.RoundValues(ValueType::kF32);
  EXPECT_EQ(c.values[0], static_cast<double>(0.1f));
}

// A float32 run's message packed (its index code and float values) unpacks to the same bits and
// costs, read off the code, what the SparseVector's accounting says; a dense message or one with
// a value float32 cannot hold is not packable.
TEST(PackedSparseTest, RoundTripsAndCountsAsTheSparseVector) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t d = std::uniform_int_distribution<int64_t>(1, 5000)(rng);
    const double density = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    SparseVector c;
    c.Clear(d);
    for (int64_t j = 0; j < d; ++j) {
      if (!std::bernoulli_distribution(density)(rng)) continue;
      c.indices.push_back(static_cast<int32_t>(j));
      const float v = std::uniform_real_distribution<float>(-1e3f, 1e3f)(rng);
      c.values.push_back(j % 7 == 3 ? -0.0 : static_cast<double>(v));
    }
    ASSERT_TRUE(Packable(c));
    PackedSparse packed;
    Pack(c, &packed);
    EXPECT_EQ(packed.nnz(), c.nnz());
    EXPECT_EQ(SparseVectorWireBytes(packed), SparseVectorWireBytes(c, ValueType::kF32))
        << "trial " << trial;
    EXPECT_EQ(UpdateWireBytes(7, 300, packed), UpdateWireBytes(7, 300, c, ValueType::kF32));
    EXPECT_EQ(UpdateWireBytes(0, 0, packed), UpdateWireBytes(0, 0, c, ValueType::kF32));
    SparseVector back;
    back.values = {1.0, 2.0};  // overwritten
    ASSERT_TRUE(Unpack(packed, &back).ok());
    EXPECT_EQ(back.dim, d);
    EXPECT_FALSE(back.dense);
    EXPECT_EQ(back.indices, c.indices);
    ASSERT_EQ(back.values.size(), c.values.size());
    EXPECT_EQ(std::memcmp(back.values.data(), c.values.data(), sizeof(double) * c.values.size()), 0)
        << "trial " << trial;
  }
  SparseVector wide;
  wide.Clear(10);
  wide.indices = {3};
  wide.values = {0.1};  // not a float32
  EXPECT_FALSE(Packable(wide));
  SparseVector dense;
  dense.Clear(2);
  dense.dense = true;
  dense.values = {1.0, 2.0};
  EXPECT_FALSE(Packable(dense));
  // A code that does not decode (a packed message Pack did not write) is an error, not a read
  // out of bounds.
  PackedSparse broken;
  broken.dim = 10;
  broken.code.rice_bits = 2;
  broken.code.bytes = std::string(1, '\xff');
  broken.values = {1.0f, 2.0f};
  SparseVector out;
  EXPECT_EQ(Unpack(broken, &out).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace ef21
