// server/checkpoint.h: a checkpoint round-trips bit for bit; a torn, damaged or foreign file is
// refused with DATA_LOSS naming the file; writing is atomic (no temporary file left behind).
#include "server/checkpoint.h"

#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "gtest/gtest.h"

namespace ef21 {
namespace {

AggregatorCheckpoint Sample() {
  AggregatorCheckpoint c;
  c.run_id = "0123456789abcdef";
  c.config_json = "{\"problem\": \"polynomial\", \"rounds\": 10}";
  c.fingerprint = 1.0 / 3.0;
  c.round = 7;
  c.gamma = 0.125;
  c.eta = 0.5;
  c.stepsize_rule = "theory";
  c.totals = {123, 456, 789, 1011};
  c.elapsed_seconds = 2.5;
  c.x = Vector::LinSpaced(5, -1.0, 1.0);
  c.x[2] = std::numeric_limits<double>::denorm_min();
  c.g = Vector::Constant(5, -0.0);
  c.client_g = {Vector::Constant(5, 3.0), Vector(), Vector::LinSpaced(5, 0.1, 0.5)};
  return c;
}

bool SameBits(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
}

TEST(CheckpointTest, RoundTripsBitForBit) {
  const AggregatorCheckpoint c = Sample();
  auto d = DecodeCheckpoint(EncodeCheckpoint(c), "memory");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->run_id, c.run_id);
  EXPECT_EQ(d->config_json, c.config_json);
  EXPECT_EQ(d->fingerprint, c.fingerprint);
  EXPECT_EQ(d->round, c.round);
  EXPECT_FALSE(d->complete);
  EXPECT_EQ(d->gamma, c.gamma);
  EXPECT_EQ(d->eta, c.eta);
  EXPECT_EQ(d->stepsize_rule, c.stepsize_rule);
  EXPECT_EQ(d->totals.paper_bits, 123);
  EXPECT_EQ(d->totals.diagnostic_bytes, 1011);
  EXPECT_EQ(d->elapsed_seconds, 2.5);
  EXPECT_TRUE(SameBits(d->x, c.x));
  EXPECT_TRUE(SameBits(d->g, c.g));
  EXPECT_TRUE(std::signbit(d->g[0]));
  ASSERT_EQ(d->client_g.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(SameBits(d->client_g[i], c.client_g[i])) << i;
}

TEST(CheckpointTest, RefusesTornDamagedAndForeignBytes) {
  const std::string bytes = EncodeCheckpoint(Sample());
  // Every truncation (a write cut anywhere) is refused.
  for (size_t size = 0; size < bytes.size(); size += 7) {
    auto d = DecodeCheckpoint(bytes.substr(0, size), "torn");
    ASSERT_FALSE(d.ok()) << size;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << size;
    EXPECT_NE(d.status().message().find("torn"), std::string::npos);
  }
  // Every flipped bit in the payload or the checksum.
  for (size_t i = 16; i < bytes.size(); i += 5) {
    std::string damaged = bytes;
    damaged[i] ^= 0x10;
    auto d = DecodeCheckpoint(damaged, "damaged");
    ASSERT_FALSE(d.ok()) << i;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  }
  auto foreign = DecodeCheckpoint("{\"not\": \"a checkpoint\"} padding padding", "config.json");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("not an ef21 checkpoint"), std::string::npos)
      << foreign.status();
}

TEST(CheckpointTest, WritesAtomicallyAndReadsBack) {
  const std::string dir = ::testing::TempDir() + "/checkpoint_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  EXPECT_EQ(ReadCheckpoint(path).status().code(), absl::StatusCode::kNotFound);
  AggregatorCheckpoint c = Sample();
  auto written = WriteCheckpoint(path, c);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(*written, static_cast<int64_t>(std::filesystem::file_size(path)));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  c.round = 8;
  c.complete = true;
  ASSERT_TRUE(WriteCheckpoint(path, c).ok());
  auto back = ReadCheckpoint(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->round, 8u);
  EXPECT_TRUE(back->complete);
  // A damaged file on disk is refused, naming it.
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << "EF21CKP1 and then garbage......"; }
  auto bad = ReadCheckpoint(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find(path), std::string::npos);
}

}  // namespace
}  // namespace ef21
