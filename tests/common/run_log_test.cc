// common/run/run_log.h: rows are streamed to metrics.csv and not kept (the summary is tracked row
// by row); Resume cuts metrics.csv back to the checkpoint's rows and rebuilds the summary from
// them one line at a time; ReadMetricsRows reads a metrics.csv back and names the line it refuses.
#include "common/run/run_log.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

MetricsRow Row(uint64_t round) {
  MetricsRow r;
  r.round = round;
  r.paper_bits_per_client = 64.0 * round;
  r.uplink_bytes_per_client = 12.0 * round;
  r.downlink_bytes_per_client = 80.0 * round;
  r.loss = 1.0 / (round + 1);
  const bool diagnostics = round % 3 == 0;
  r.grad_norm = diagnostics ? 2.0 / (round + 1) : std::nan("");
  r.grad_norm_sq = diagnostics ? r.grad_norm * r.grad_norm : std::nan("");
  r.g_norm = 0.5 + round;
  r.stepsize = 0.125;
  r.wall_seconds = 0.25 * round;
  return r;
}

std::string Dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + "/run_log_test_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(RunLogTest, StreamsRowsAndReadsThemBack) {
  const std::string dir = Dir("stream");
  auto log = RunLog::Create(dir, "{}", 1e-2);
  ASSERT_TRUE(log.ok()) << log.status();
  RunSummary expected;
  expected.eps = 1e-2;
  for (uint64_t r = 0; r < 50; ++r) {
    ASSERT_TRUE((*log)->Append(Row(r)).ok());
    expected.Observe(Row(r));
  }
  EXPECT_EQ((*log)->summary().rows, 50u);
  EXPECT_EQ((*log)->summary().min_grad_norm_round, expected.min_grad_norm_round);
  EXPECT_EQ((*log)->summary().first_round_below_eps, expected.first_round_below_eps);
  auto rows = ReadMetricsRows(dir + "/metrics.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 50u);
  for (uint64_t r = 0; r < 50; ++r) {
    EXPECT_EQ(RunLog::FormatRow((*rows)[r]), RunLog::FormatRow(Row(r))) << r;
  }
}

TEST(RunLogTest, ResumeCutsBackAndRebuildsTheSummary) {
  const std::string dir = Dir("resume");
  {
    auto log = RunLog::Create(dir, "{}", 1e-2);
    ASSERT_TRUE(log.ok()) << log.status();
    for (uint64_t r = 0; r < 40; ++r) ASSERT_TRUE((*log)->Append(Row(r)).ok());
  }
  auto resumed = RunLog::Resume(dir, 25, 1e-2);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  RunSummary expected;
  expected.eps = 1e-2;
  for (uint64_t r = 0; r < 25; ++r) expected.Observe(Row(r));
  EXPECT_EQ((*resumed)->summary().rows, 25u);
  EXPECT_EQ((*resumed)->summary().rounds, expected.rounds);
  EXPECT_EQ((*resumed)->summary().min_grad_norm, expected.min_grad_norm);
  EXPECT_EQ((*resumed)->summary().final_loss, expected.final_loss);
  ASSERT_TRUE((*resumed)->Append(Row(25)).ok());
  resumed->reset();
  auto rows = ReadMetricsRows(dir + "/metrics.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 26u);
  EXPECT_EQ(RunLog::FormatRow(rows->back()), RunLog::FormatRow(Row(25)));
}

TEST(RunLogTest, ResumeRefusesTooFewRowsAndChangesNothing) {
  const std::string dir = Dir("short");
  {
    auto log = RunLog::Create(dir, "{}", 1e-2);
    ASSERT_TRUE(log.ok()) << log.status();
    for (uint64_t r = 0; r < 5; ++r) ASSERT_TRUE((*log)->Append(Row(r)).ok());
  }
  // A torn last row (a crash mid-write) does not count as a row.
  { std::ofstream(dir + "/metrics.csv", std::ios::app) << "5,320,60"; }
  const std::string before = ReadFile(dir + "/metrics.csv");
  auto refused = RunLog::Resume(dir, 6, 1e-2);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(refused.status().message(), "has 5 whole rows; the checkpoint needs 6"))
      << refused.status();
  EXPECT_EQ(ReadFile(dir + "/metrics.csv"), before);
  // Resuming at 5 drops the torn tail.
  auto resumed = RunLog::Resume(dir, 5, 1e-2);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  resumed->reset();
  auto rows = ReadMetricsRows(dir + "/metrics.csv");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 5u);
}

TEST(RunLogTest, ReadMetricsRowsNamesTheLineItRefuses) {
  const std::string dir = Dir("bad");
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/metrics.csv";
  std::ofstream(path) << kMetricsHeader << "\n" << RunLog::FormatRow(Row(0)) << "\nnot,a,row\n";
  auto bad = ReadMetricsRows(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(bad.status().message(), "metrics.csv\" line 3 is not a metrics row"))
      << bad.status();
  std::ofstream(path, std::ios::trunc) << "round,loss\n0,1\n";
  auto header = ReadMetricsRows(path);
  ASSERT_FALSE(header.ok());
  EXPECT_TRUE(absl::StrContains(header.status().message(), "does not start with the metrics.csv"))
      << header.status();
  // A line far longer than any row is refused, not read whole.
  std::ofstream(path, std::ios::trunc) << kMetricsHeader << "\n"
                                       << std::string(1 << 20, '1') << "\n";
  auto long_line = ReadMetricsRows(path);
  ASSERT_FALSE(long_line.ok());
  EXPECT_TRUE(absl::StrContains(long_line.status().message(), "line 2 is not a metrics row"))
      << long_line.status();
}

// Checksum64's values are part of the checkpoint and worker-state file formats: pinned here for
// the bytes the next test uses (its first 0, 7, 8 and 203), as the format's first implementation
// computed them.
TEST(RunLogTest, ChecksumValuesAreTheFilesFormat) {
  std::string bytes;
  for (int i = 0; i < 203; ++i) bytes.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  EXPECT_EQ(Checksum64(bytes.data(), 0), 0x9e3779bd8ef1b1deULL);
  EXPECT_EQ(Checksum64(bytes.data(), 7), 0xa575dc482b70ab98ULL);
  EXPECT_EQ(Checksum64(bytes.data(), 8), 0x816ddf899321e634ULL);
  EXPECT_EQ(Checksum64(bytes.data(), 203), 0x212d4369b76b484eULL);
}

// Checksum64Stream gives Checksum64 of the whole, however the bytes are split into pieces (the
// checkpoint writer streams fields of every size, so words straddle pieces).
TEST(RunLogTest, ChecksumOfPiecesIsTheChecksumOfTheWhole) {
  std::string bytes;
  for (int i = 0; i < 203; ++i) bytes.push_back(static_cast<char>((i * 37 + 11) & 0xff));
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{64}, size_t{203}}) {
    const std::string whole = bytes.substr(0, size);
    const uint64_t expected = Checksum64(whole.data(), whole.size());
    for (size_t piece = 1; piece <= 11; ++piece) {
      Checksum64Stream stream(whole.size());
      for (size_t at = 0; at < whole.size(); at += piece) {
        stream.Update(whole.data() + at, std::min(piece, whole.size() - at));
      }
      EXPECT_EQ(stream.seen(), whole.size());
      EXPECT_EQ(stream.Finish(), expected) << size << " bytes in pieces of " << piece;
    }
    // Uneven pieces, empty ones included.
    Checksum64Stream stream(whole.size());
    size_t at = 0;
    for (size_t piece = 0; at < whole.size(); piece = (piece + 3) % 13) {
      const size_t take = std::min(piece, whole.size() - at);
      stream.Update(whole.data() + at, take);
      at += take;
    }
    EXPECT_EQ(stream.Finish(), expected) << size << " bytes in uneven pieces";
  }
  // A different byte, or the same bytes declared as another size, changes it.
  Checksum64Stream changed(bytes.size());
  std::string other = bytes;
  other[100] ^= 1;
  changed.Update(other.data(), other.size());
  EXPECT_NE(changed.Finish(), Checksum64(bytes.data(), bytes.size()));
}

}  // namespace
}  // namespace ef21
