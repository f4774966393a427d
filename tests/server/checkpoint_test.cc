// server/checkpoint.h: a checkpoint round-trips bit for bit; a torn, damaged or foreign file is
// refused with DATA_LOSS naming the file; writing is atomic (no temporary file left behind);
// checkpoints of the formats before the workers' reports (EF21CKP3), before the data digest
// (EF21CKP2) and before the delta downlink (EF21CKP1) still read.
#include "server/checkpoint.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/strings/match.h"
#include "common/methods/method.h"
#include "common/run/run_log.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

AggregatorCheckpoint Sample() {
  AggregatorCheckpoint c;
  c.run_id = "0123456789abcdef";
  c.config_json = "{\"problem\": \"polynomial\", \"rounds\": 10}";
  c.fingerprint = 1.0 / 3.0;
  c.data_digest = 0xfedcba9876543210ULL;
  c.round = 7;
  c.gamma = 0.125;
  c.eta = 0.5;
  c.stepsize_rule = "theory";
  c.totals = {123, 456, 789, 1011};
  c.open_round_start_kind = DownlinkKind::kDelta;
  c.open_round_start_bytes = 4321;
  c.elapsed_seconds = 2.5;
  c.x = Vector::LinSpaced(5, -1.0, 1.0);
  c.x[2] = std::numeric_limits<double>::denorm_min();
  c.g = Vector::Constant(5, -0.0);
  c.client_g = {Vector::Constant(5, 3.0), Vector(), Vector::LinSpaced(5, 0.1, 0.5)};
  ShardReport report;
  report.constants = {/*rows=*/3, /*L=*/1.0 / 3.0, /*L0=*/0.25, /*L1=*/-0.0};
  report.digest = 0x0123456789abcdefULL;
  c.reports = {report, std::nullopt, report};
  c.reports[2]->constants.rows = 1;
  return c;
}

// The bytes of Sample()'s reports section (count, then per client a flag and 5 × 8 bytes).
constexpr size_t kSampleReportBytes = 8 + 3 * 8 + 2 * 40;

// The payload of an EF21CKP4 file as EF21CKP3 wrote it: without the reports section.
std::string V3Payload(const std::string& v4) {
  std::string payload = v4.substr(16, v4.size() - 24);
  payload.erase(payload.size() - kSampleReportBytes);
  return payload;
}

bool SameBits(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
}

// The coordinator writes x, g and the g_i copies straight from its own vectors: the file is the
// one the copies would give, and reads back with them.
TEST(CheckpointTest, VectorsGivenApartWriteTheSameFile) {
  const AggregatorCheckpoint c = Sample();
  AggregatorCheckpoint without = c;
  without.x = Vector();
  without.g = Vector();
  without.client_g.clear();
  std::vector<const Vector*> client_g;
  for (const Vector& gi : c.client_g) client_g.push_back(&gi);
  ASSERT_EQ(client_g.size(), 3u);  // one of them empty: a client never heard from
  const std::string dir = ::testing::TempDir() + "/ckpt_apart";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  auto written = WriteCheckpoint(path, without, c.x, c.g, client_g);
  ASSERT_TRUE(written.ok()) << written.status();
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, EncodeCheckpoint(c));
  EXPECT_EQ(*written, static_cast<int64_t>(bytes.size()));
  auto d = ReadCheckpoint(path);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(SameBits(d->x, c.x));
  EXPECT_TRUE(SameBits(d->g, c.g));
  ASSERT_EQ(d->client_g.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(SameBits(d->client_g[i], c.client_g[i])) << i;
}

// EncodeCheckpoint's string is sized exactly up front (a string that outgrew its size would
// double).
TEST(CheckpointTest, OneBufferSizedUpFront) {
  AggregatorCheckpoint c = Sample();
  c.client_g.assign(1000, Vector());
  c.client_chain.assign(1000, 0x5555aaaa5555aaaaULL);
  c.reports.assign(1000, c.reports[0]);
  const std::string bytes = EncodeCheckpoint(c);
  EXPECT_LE(bytes.capacity(), bytes.size() + 256);
  auto d = DecodeCheckpoint(bytes, "memory");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->reports.size(), 1000u);
}

// WriteCheckpoint streams the file through a buffer far smaller than it (x and g of d = 100,003:
// 1.6 MB; strings of odd sizes, so the checksum's 8-byte words straddle the pieces): the file is
// byte for byte what EncodeCheckpoint gives, and reads back.
TEST(CheckpointTest, StreamedFileIsTheEncodedBytes) {
  AggregatorCheckpoint c = Sample();
  const int64_t d = 100003;
  c.run_id = "odd-sized run id";
  c.config_json = std::string(12345, 'c');
  c.stepsize_rule = "theory!";
  c.x = Vector::LinSpaced(d, -3.0, 7.0);
  c.g = Vector::LinSpaced(d, 1.0 / 3.0, -2.0);
  c.client_g.assign(700, Vector());
  c.client_chain.resize(700);
  for (size_t i = 0; i < c.client_chain.size(); ++i) c.client_chain[i] = i * 0x9e3779b97f4a7c15ULL;
  c.reports.assign(700, std::nullopt);
  c.reports[3] = c.reports[0] = Sample().reports[0];
  const std::string dir = ::testing::TempDir() + "/ckpt_streamed";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/checkpoint.bin";
  auto written = WriteCheckpoint(path, c);
  ASSERT_TRUE(written.ok()) << written.status();
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string encoded = EncodeCheckpoint(c);
  EXPECT_GT(bytes.size(), size_t{1} << 20);
  EXPECT_EQ(bytes.size(), encoded.size());
  EXPECT_TRUE(bytes == encoded);
  EXPECT_EQ(*written, static_cast<int64_t>(bytes.size()));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto back = ReadCheckpoint(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(SameBits(back->x, c.x));
  EXPECT_TRUE(SameBits(back->g, c.g));
  EXPECT_EQ(back->client_chain, c.client_chain);
}

// A checkpoint that cannot be written (its directory is gone) is an error naming the file, and
// leaves no temporary file.
TEST(CheckpointTest, UnwritablePathIsAnErrorNamingIt) {
  const std::string path = ::testing::TempDir() + "/ckpt_no_such_dir/sub/checkpoint.bin";
  auto written = WriteCheckpoint(path, Sample());
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.status().message().find(path + ".tmp"), std::string::npos) << written.status();
}

TEST(CheckpointTest, RoundTripsBitForBit) {
  const AggregatorCheckpoint c = Sample();
  auto d = DecodeCheckpoint(EncodeCheckpoint(c), "memory");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->run_id, c.run_id);
  EXPECT_EQ(d->config_json, c.config_json);
  EXPECT_EQ(d->fingerprint, c.fingerprint);
  EXPECT_EQ(d->data_digest, c.data_digest);
  EXPECT_EQ(d->round, c.round);
  EXPECT_FALSE(d->complete);
  EXPECT_EQ(d->gamma, c.gamma);
  EXPECT_EQ(d->eta, c.eta);
  EXPECT_EQ(d->stepsize_rule, c.stepsize_rule);
  EXPECT_EQ(d->totals.paper_bits, 123);
  EXPECT_EQ(d->totals.diagnostic_bytes, 1011);
  EXPECT_EQ(d->elapsed_seconds, 2.5);
  EXPECT_EQ(d->open_round_start_kind, DownlinkKind::kDelta);
  EXPECT_EQ(d->open_round_start_bytes, 4321);
  EXPECT_TRUE(SameBits(d->x, c.x));
  EXPECT_TRUE(SameBits(d->g, c.g));
  EXPECT_TRUE(std::signbit(d->g[0]));
  ASSERT_EQ(d->client_g.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(SameBits(d->client_g[i], c.client_g[i])) << i;
  ASSERT_EQ(d->reports.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(d->reports[i].has_value(), c.reports[i].has_value()) << i;
    if (c.reports[i]) EXPECT_TRUE(SameReport(*d->reports[i], *c.reports[i])) << i;
  }
  EXPECT_TRUE(std::signbit(d->reports[0]->constants.L1));
}

// --client-state=worker: a state hash per client instead of g_i, so the file is O(d) + O(n).
TEST(CheckpointTest, RoundTripsStateHashesOfWorkerMode) {
  AggregatorCheckpoint c = Sample();
  c.client_g.assign(3, Vector());
  c.client_chain = {kFreshClientChain, 0x0123456789abcdefULL, ~0ULL};
  const std::string bytes = EncodeCheckpoint(c);
  auto d = DecodeCheckpoint(bytes, "memory");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->client_chain, c.client_chain);
  ASSERT_EQ(d->client_g.size(), 3u);
  for (const Vector& gi : d->client_g) EXPECT_EQ(gi.size(), 0);
  EXPECT_TRUE(SameBits(d->x, c.x));
  // Two vectors of d = 5, and 16 bytes per client.
  EXPECT_LT(bytes.size(), EncodeCheckpoint(Sample()).size());
  // A file that mixes g_i copies and state hashes is damaged.
  AggregatorCheckpoint mixed = c;
  mixed.client_chain.pop_back();
  mixed.client_g[2] = Vector::Constant(5, 1.0);
  auto refused = DecodeCheckpoint(EncodeCheckpoint(mixed), "mixed.bin");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "client 2's flag")) << refused.status();
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

// `payload` framed as a checkpoint file with `magic`.
std::string Frame(const std::string& magic, const std::string& payload) {
  std::string out = magic;
  const uint64_t size = payload.size(), checksum = Checksum64(payload.data(), payload.size());
  out.append(reinterpret_cast<const char*>(&size), 8);
  out += payload;
  out.append(reinterpret_cast<const char*>(&checksum), 8);
  return out;
}

// Where the data digest sits in an EF21CKP3 payload: after run_id, config_json (u64 size + bytes)
// and the probe fingerprint.
size_t DigestOffset(const AggregatorCheckpoint& c) {
  return 8 + c.run_id.size() + 8 + c.config_json.size() + 8;
}

// EF21CKP3, written before workers reported their constants: read, with no reports.
TEST(CheckpointTest, ReadsTheFormatBeforeTheReports) {
  const AggregatorCheckpoint c = Sample();
  const std::string v4 = EncodeCheckpoint(c);
  ASSERT_EQ(v4.substr(0, 8), "EF21CKP4");
  auto d = DecodeCheckpoint(Frame("EF21CKP3", V3Payload(v4)), "v3");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->data_digest, c.data_digest);
  EXPECT_EQ(d->open_round_start_bytes, 4321);
  ASSERT_EQ(d->client_g.size(), 3u);
  EXPECT_TRUE(SameBits(d->client_g[2], c.client_g[2]));
  EXPECT_TRUE(d->reports.empty());
}

// The EF21CKP2 layout: EF21CKP3's without the data digest. Such a checkpoint reads, without a
// digest (a resume then compares the probe fingerprint only).
TEST(CheckpointTest, ReadsTheFormatBeforeTheDataDigest) {
  const AggregatorCheckpoint c = Sample();
  std::string payload = V3Payload(EncodeCheckpoint(c));
  uint64_t digest;
  std::memcpy(&digest, payload.data() + DigestOffset(c), 8);
  ASSERT_EQ(digest, *c.data_digest);  // the layout assumed above
  payload.erase(DigestOffset(c), 8);
  auto d = DecodeCheckpoint(Frame("EF21CKP2", payload), "v2");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->data_digest.has_value());
  EXPECT_EQ(d->fingerprint, c.fingerprint);
  EXPECT_EQ(d->round, c.round);
  EXPECT_EQ(d->open_round_start_kind, DownlinkKind::kDelta);
  EXPECT_TRUE(SameBits(d->x, c.x));
  ASSERT_EQ(d->client_g.size(), 3u);
  EXPECT_TRUE(SameBits(d->client_g[2], c.client_g[2]));
  // The same bytes under the current magic are one field short: refused, not misread.
  auto refused = DecodeCheckpoint(Frame("EF21CKP3", payload), "short");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
}

// The EF21CKP1 layout: EF21CKP2's without the open RoundStart's two u64 after the client count.
TEST(CheckpointTest, ReadsTheFormatBeforeTheDeltaDownlink) {
  const AggregatorCheckpoint c = Sample();
  const std::string v3 = V3Payload(EncodeCheckpoint(c));
  std::string payload = v3;
  payload.erase(DigestOffset(c), 8);  // EF21CKP2
  // run_id, config_json (u64 size + bytes), 5 × 8 bytes, stepsize_rule, 7 × 8 bytes up to n.
  const size_t at =
      8 + c.run_id.size() + 8 + c.config_json.size() + 5 * 8 + 8 + c.stepsize_rule.size() + 7 * 8;
  uint64_t kind, bytes;
  std::memcpy(&kind, payload.data() + at, 8);
  std::memcpy(&bytes, payload.data() + at + 8, 8);
  ASSERT_EQ(kind, static_cast<uint64_t>(DownlinkKind::kDelta));  // the layout assumed above
  ASSERT_EQ(bytes, 4321u);
  payload.erase(at, 16);
  auto d = DecodeCheckpoint(Frame("EF21CKP1", payload), "v1");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->round, c.round);
  EXPECT_EQ(d->totals.downlink_bytes, 789);
  EXPECT_EQ(d->open_round_start_kind, DownlinkKind::kDense);  // what those runs sent
  EXPECT_EQ(d->open_round_start_bytes, -1);
  EXPECT_TRUE(SameBits(d->x, c.x));
  ASSERT_EQ(d->client_g.size(), 3u);
  EXPECT_TRUE(SameBits(d->client_g[2], c.client_g[2]));
  EXPECT_FALSE(d->data_digest.has_value());
  // An implausible kind in a current checkpoint is refused.
  std::string bad_payload = v3;
  const uint64_t bad_kind = 7;
  std::memcpy(&bad_payload[at + 8], &bad_kind, 8);
  auto refused = DecodeCheckpoint(Frame("EF21CKP3", bad_payload), "bad");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(refused.status().message().find("implausible open RoundStart (kind 7"),
            std::string::npos)
      << refused.status();
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
