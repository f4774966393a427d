// client/client_state_log.h: g_i rebuilt from the snapshot and the message log equals, bit for
// bit, g_i with every message applied, at every round the log holds; a round costs O(k) bytes per
// client; a reopened store finds its run and cuts a torn last record; anchors compact the log into
// a snapshot; a rewind forgets only the rewound clients' later messages; another run's files are
// removed; a damaged snapshot is refused.
#include "client/client_state_log.h"

#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "common/run/problem_factory.h"
#include "common/run/run_config.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

constexpr int64_t kDim = 1000;
constexpr int64_t kK = 5;
constexpr int64_t kClients = 3;  // hosted clients 10..12

class ClientStateLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/client_state_log_test_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    RunConfig config;
    config.problem = ProblemKind::kPolynomial;
    config.dim = kDim;
    config.algorithm = Algorithm::kNormEf21;
    auto problem = CreateProblem(config);
    ASSERT_TRUE(problem.ok()) << problem.status();
    auto context = MethodContext::Create(config.ToMethodOptions(), *problem);
    ASSERT_TRUE(context.ok()) << context.status();
    method_ = ServerMethod::Create(*context, Vector::Zero(kDim));
    reference_.push_back({std::vector<Vector>(kClients, Vector::Zero(kDim)),
                          std::vector<uint64_t>(kClients, kFreshClientChain)});
  }

  ClientStateLog::Options Options() const {
    ClientStateLog::Options o;
    o.dir = dir_;
    o.first_client = 10;
    o.last_client = 12;
    o.dim = kDim;
    return o;
  }

  // A message as a client would send it: dense in round 0, else k random coordinates.
  SparseVector Message(int64_t round) {
    SparseVector c;
    c.Clear(kDim);
    std::normal_distribution<double> value;
    if (round == 0) {
      c.dense = true;
      for (int64_t i = 0; i < kDim; ++i) c.values.push_back(value(rng_));
      return c;
    }
    std::uniform_int_distribution<int32_t> index(0, kDim / kK - 1);
    for (int64_t e = 0; e < kK; ++e) {
      c.indices.push_back(static_cast<int32_t>(e * (kDim / kK)) + index(rng_));
      c.values.push_back(value(rng_));
    }
    return c;
  }

  // Logs round `round`'s messages of `hosted` and advances the reference (reference_[round + 1]
  // is the state as of `round`). Returns the bytes appended.
  int64_t Step(ClientStateLog* log, int64_t round, std::vector<size_t> hosted) {
    ClientStateLog::State next = reference_.back();
    std::vector<SparseVector> messages;
    for (size_t j : hosted) messages.push_back(Message(round));
    std::vector<const SparseVector*> pointers;
    for (size_t e = 0; e < hosted.size(); ++e) {
      pointers.push_back(&messages[e]);
      method_->ApplyToClientCopy(messages[e], &next.g[hosted[e]]);
      next.chains[hosted[e]] = ChainClientState(next.chains[hosted[e]], round, messages[e]);
    }
    while (static_cast<int64_t>(reference_.size()) < round + 1) {
      reference_.push_back(reference_.back());  // rounds nobody here took part in
    }
    reference_.push_back(std::move(next));
    absl::StatusOr<int64_t> bytes = log->Append(round, hosted, pointers);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : -1;
  }

  // The state as of round `round` (−1: before round 0).
  const ClientStateLog::State& At(int64_t round) const { return reference_[round + 1]; }

  void ExpectRebuilds(const ClientStateLog& log, int64_t round) const {
    SCOPED_TRACE(round);
    absl::StatusOr<ClientStateLog::State> state = log.Rebuild(round, *method_);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->chains, At(round).chains);
    for (int64_t j = 0; j < kClients; ++j) EXPECT_EQ(state->g[j], At(round).g[j]) << j;
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
  std::mt19937_64 rng_{7};
  std::unique_ptr<ServerMethod> method_;
  std::vector<ClientStateLog::State> reference_;  // [r + 1]: as of round r
};

TEST_F(ClientStateLogTest, RebuildsEveryRoundBitForBitAtKBytesPerClientPerRound) {
  auto log = ClientStateLog::Open(Options());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->run_id(), "");
  EXPECT_TRUE((*log)->held().empty());
  ASSERT_TRUE((*log)->Bind("aaaa").ok());
  const int64_t dense = Step(log->get(), 0, {0, 1, 2});
  EXPECT_GT(dense, kClients * kDim * 8);  // round 0 is g_i^0, dense
  for (int64_t r = 1; r < 20; ++r) {
    // Client 1 sits out the odd rounds (EF21-PP): its g_i and hash stay.
    const std::vector<size_t> hosted =
        r % 2 == 1 ? std::vector<size_t>{0, 2} : std::vector<size_t>{0, 1, 2};
    const int64_t bytes = Step(log->get(), r, hosted);
    // Per client: client, dense flag, count (3 words) + k indices and values; a record frame.
    EXPECT_EQ(bytes, 16 + 24 + static_cast<int64_t>(hosted.size()) * (24 + kK * 12)) << r;
    EXPECT_LT(bytes, static_cast<int64_t>(hosted.size()) * kDim * 8 / 10) << r;
  }
  for (int64_t r = -1; r < 20; ++r) ExpectRebuilds(**log, r);
  // The host may claim the last two rounds (the anchor, before round 0, holds nothing).
  const std::vector<ClientStateLog::Held> held = (*log)->held();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].round, 18);
  EXPECT_EQ(held[0].chains, At(18).chains);
  EXPECT_EQ(held[1].round, 19);
  EXPECT_EQ(held[1].chains, At(19).chains);
  EXPECT_NE(At(18).chains[0], At(19).chains[0]);
  EXPECT_EQ(At(18).chains[1], At(19).chains[1]);  // sat round 19 out
  // A round before the last one logged is refused: it would be applied out of order.
  SparseVector c = Message(5);
  const SparseVector* p = &c;
  const size_t j = 0;
  absl::StatusOr<int64_t> late = (*log)->Append(18, {&j, 1}, {&p, 1});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  ExpectRebuilds(**log, 19);
}

TEST_F(ClientStateLogTest, ReopenedFindsItsRunAndCutsATornRecord) {
  {
    auto log = ClientStateLog::Open(Options());
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Bind("aaaa").ok());
    for (int64_t r = 0; r < 10; ++r) Step(log->get(), r, {0, 1, 2});
  }
  const std::string path = dir_ + "/aaaa-10-12-0.glog";
  ASSERT_TRUE(std::filesystem::exists(path));
  const uintmax_t whole = std::filesystem::file_size(path);
  // A crash halfway through appending round 9.
  std::filesystem::resize_file(path, whole - 30);
  auto log = ClientStateLog::Open(Options());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->run_id(), "aaaa");
  EXPECT_EQ((*log)->last_round(), 8);
  EXPECT_LT(std::filesystem::file_size(path), whole - 30);  // the torn record is cut off
  const std::vector<ClientStateLog::Held> held = (*log)->held();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[1].round, 8);
  EXPECT_EQ(held[1].chains, At(8).chains);
  for (int64_t r = -1; r <= 8; ++r) ExpectRebuilds(**log, r);
  // Round 9 computed again continues the same log.
  ASSERT_TRUE((*log)->Bind("aaaa").ok());
  reference_.resize(10);  // as of rounds −1..8
  Step(log->get(), 9, {0, 1, 2});
  ExpectRebuilds(**log, 9);
  auto again = ClientStateLog::Open(Options());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->last_round(), 9);
  ExpectRebuilds(**again, 9);
}

TEST_F(ClientStateLogTest, AnchorsCompactTheLogIntoASnapshot) {
  auto log = ClientStateLog::Open(Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Bind("aaaa").ok());
  for (int64_t r = 0; r < 8; ++r) Step(log->get(), r, {0, 1, 2});
  // Round 0's dense messages made the log larger than a snapshot: the anchor compacts it.
  ASSERT_GT((*log)->log_bytes(), (*log)->snapshot_bytes());
  ASSERT_TRUE((*log)->Anchor(5, *method_).ok());
  EXPECT_EQ((*log)->base(), 6);
  EXPECT_EQ(Files(), (std::vector<std::string>{"aaaa-10-12-6.glog", "aaaa-10-12-6.gsnap"}));
  EXPECT_LT((*log)->log_bytes(), (*log)->snapshot_bytes());
  for (int64_t r = 5; r < 8; ++r) ExpectRebuilds(**log, r);
  absl::StatusOr<ClientStateLog::State> gone = (*log)->Rebuild(4, *method_);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(gone.status().message(), "round 4 is no longer kept"))
      << gone.status();
  // The anchor is among the claims; a small log is not compacted again.
  for (int64_t r = 8; r < 12; ++r) Step(log->get(), r, {0, 2});
  ASSERT_TRUE((*log)->Anchor(9, *method_).ok());
  EXPECT_EQ((*log)->base(), 6);
  std::vector<int64_t> rounds;
  for (const ClientStateLog::Held& h : (*log)->held()) {
    rounds.push_back(h.round);
    EXPECT_EQ(h.chains, At(h.round).chains) << h.round;
  }
  EXPECT_EQ(rounds, (std::vector<int64_t>{9, 10, 11}));
  // Reopened from the snapshot + log pair.
  auto again = ClientStateLog::Open(Options());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->base(), 6);
  EXPECT_EQ((*again)->held().front().round, 9);
  for (int64_t r = 5; r < 12; ++r) ExpectRebuilds(**again, r);
}

TEST_F(ClientStateLogTest, RewindForgetsOnlyTheRewoundClientsLaterMessages) {
  auto log = ClientStateLog::Open(Options());
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*log)->Bind("aaaa").ok());
  for (int64_t r = 0; r < 6; ++r) Step(log->get(), r, {0, 1, 2});
  // Client 1's round-5 update was lost: it goes back to round 4; the others keep round 5.
  const int64_t keep = std::numeric_limits<int64_t>::max();
  ASSERT_TRUE((*log)->Rewind({keep, 4, keep}).ok());
  absl::StatusOr<ClientStateLog::State> state = (*log)->Rebuild(5, *method_);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->g[0], At(5).g[0]);
  EXPECT_EQ(state->g[1], At(4).g[1]);
  EXPECT_EQ(state->chains[1], At(4).chains[1]);
  EXPECT_EQ((*log)->held().back().chains[1], At(4).chains[1]);
  // It computes round 5 again (another message): the log takes it.
  reference_.back().g[1] = At(4).g[1];
  reference_.back().chains[1] = At(4).chains[1];
  ClientStateLog::State expected = reference_.back();
  SparseVector c = Message(5);
  method_->ApplyToClientCopy(c, &expected.g[1]);
  expected.chains[1] = ChainClientState(expected.chains[1], 5, c);
  const SparseVector* p = &c;
  const size_t j = 1;
  ASSERT_TRUE((*log)->Append(5, {&j, 1}, {&p, 1}).ok());
  auto again = ClientStateLog::Open(Options());
  ASSERT_TRUE(again.ok());
  state = (*again)->Rebuild(5, *method_);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->chains, expected.chains);
  for (int64_t i = 0; i < kClients; ++i) EXPECT_EQ(state->g[i], expected.g[i]) << i;
  // An aggregator resumed from an older checkpoint: every client back to round 2.
  ASSERT_TRUE((*again)->Rewind({2, 2, 2}).ok());
  EXPECT_EQ((*again)->last_round(), 2);
  ExpectRebuilds(**again, 2);
}

TEST_F(ClientStateLogTest, AnotherRunRemovesTheFilesAndADamagedSnapshotIsRefused) {
  {
    auto log = ClientStateLog::Open(Options());
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Bind("aaaa").ok());
    for (int64_t r = 0; r < 4; ++r) Step(log->get(), r, {0, 1, 2});
    ASSERT_TRUE((*log)->Anchor(2, *method_).ok());
    EXPECT_EQ((*log)->base(), 3);
  }
  // Another range's files are not this host's.
  std::ofstream(dir_ + "/aaaa-13-20-0.glog") << "x";
  const std::string snapshot = dir_ + "/aaaa-10-12-3.gsnap";
  {
    std::fstream f(snapshot, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x55');
  }
  auto damaged = ClientStateLog::Open(Options());
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(damaged.status().message(), snapshot)) << damaged.status();

  std::filesystem::remove(snapshot);
  // Without its snapshot the pair of base 3 is incomplete: nothing of the run is found.
  auto log = ClientStateLog::Open(Options());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->run_id(), "");
  ASSERT_TRUE((*log)->Bind("bbbb").ok());
  EXPECT_EQ(Files(), (std::vector<std::string>{"aaaa-13-20-0.glog"}));
  EXPECT_FALSE((*log)->Bind("a-b").ok());
}

}  // namespace
}  // namespace ef21
