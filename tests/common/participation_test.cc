// Partial participation (EF21-PP, SPEC §3): the seeded draw of who takes part in a round, and the
// method with it — g = (1/n) Σ_i g_i after every round, absent clients' state untouched,
// communication counted only for what was sent, convergence, and the refusals.
#include "common/methods/participation.h"

#include <cmath>
#include <string>
#include <vector>

#include "common/run/simulator.h"
#include "gtest/gtest.h"
#include "tests/testing/runs.h"

namespace ef21 {
namespace {

// Five standard deviations of a fraction of `count` Bernoulli(p) draws.
double FiveSigma(double p, double count) { return 5.0 * std::sqrt(p * (1.0 - p) / count); }

TEST(ParticipationDrawTest, IsAPureFunctionOfSeedClientAndRound) {
  for (uint64_t seed : {0, 7}) {
    for (int64_t client = 0; client < 50; ++client) {
      for (uint64_t round = 0; round < 50; ++round) {
        ASSERT_EQ(Participates(seed, 0.3, client, round), Participates(seed, 0.3, client, round));
      }
    }
  }
  // Another seed gives another draw: the sets differ somewhere in 50 clients × 50 rounds.
  int differ = 0;
  for (int64_t client = 0; client < 50; ++client) {
    for (uint64_t round = 1; round < 50; ++round) {
      differ += Participates(0, 0.5, client, round) != Participates(1, 0.5, client, round);
    }
  }
  // Independent draws disagree with probability 1/2: about 1225 of 2450.
  EXPECT_NEAR(differ / 2450.0, 0.5, FiveSigma(0.5, 2450));
}

TEST(ParticipationDrawTest, RoundZeroAndFullParticipationHaveEveryClient) {
  for (int64_t client = 0; client < 1000; ++client) {
    ASSERT_TRUE(Participates(3, 0.01, client, 0)) << client;
    for (uint64_t round = 0; round < 20; ++round) ASSERT_TRUE(Participates(3, 1.0, client, round));
  }
}

TEST(ParticipationDrawTest, FractionIsPOverManyRoundsForEveryClientAndPair) {
  const int64_t clients = 100;
  const uint64_t rounds = 2000;
  for (double p : {0.1, 0.5, 0.9}) {
    int64_t total = 0;
    int64_t both01 = 0;  // rounds where clients 0 and 1 both take part: p² if independent
    for (int64_t i = 0; i < clients; ++i) {
      int64_t mine = 0;
      for (uint64_t r = 1; r <= rounds; ++r) mine += Participates(11, p, i, r);
      // Each client on its own: its fraction over the rounds.
      ASSERT_NEAR(mine / static_cast<double>(rounds), p, FiveSigma(p, rounds))
          << "p " << p << " client " << i;
      total += mine;
    }
    for (uint64_t r = 1; r <= rounds; ++r) {
      both01 += Participates(11, p, 0, r) && Participates(11, p, 1, r);
    }
    const double draws = static_cast<double>(clients * rounds);
    EXPECT_NEAR(total / draws, p, FiveSigma(p, draws)) << "p " << p;
    EXPECT_NEAR(both01 / static_cast<double>(rounds), p * p, FiveSigma(p * p, rounds)) << "p " << p;
  }
}

RunConfig PartialRun(Algorithm algorithm, double p, int64_t clients, int64_t rounds) {
  RunConfig c = test::BreastCancer(algorithm, clients, rounds);
  c.participation = p;
  if (algorithm == Algorithm::kEf21) {
    c.stepsize = StepsizeRule::kConstant;
    c.gamma = 0.5;
  }
  return c;
}

TEST(PartialParticipationTest, AggregateStaysTheMeanAndAbsentClientsKeepTheirState) {
  for (Algorithm algorithm : {Algorithm::kEf21, Algorithm::kNormEf21}) {
    const RunConfig config = PartialRun(algorithm, 0.5, 10, 40);
    ASSERT_TRUE(config.Validate().ok()) << config.Validate();
    absl::StatusOr<std::unique_ptr<Simulator>> created = Simulator::Create(config);
    ASSERT_TRUE(created.ok()) << created.status();
    Simulator& sim = **created;
    const int64_t n = sim.context().num_clients();
    int64_t absent = 0;
    int64_t present_moved = 0;
    for (;;) {
      const uint64_t round = sim.server().round();
      std::vector<Vector> before(n);
      for (int64_t i = 0; i < n; ++i) before[i] = sim.client(i).g();
      if (!sim.RunRound(nullptr)) break;
      Vector mean = Vector::Zero(sim.context().dim());
      for (int64_t i = 0; i < n; ++i) {
        mean += sim.client(i).g();
        if (!sim.context().Participates(i, round)) {
          ++absent;
          ASSERT_EQ(sim.client(i).g(), before[i]) << "client " << i << " round " << round;
        } else {
          present_moved += sim.client(i).g() != before[i];
        }
      }
      mean /= static_cast<double>(n);
      ASSERT_LE((mean - sim.server().g()).norm(), 1e-12 * std::max(1.0, mean.norm()))
          << AlgorithmName(algorithm) << " round " << round;
    }
    // About half of 10 clients × 40 rounds sat out; the participants' top-2 messages moved g_i.
    EXPECT_GT(absent, 120) << AlgorithmName(algorithm);
    EXPECT_LT(absent, 280) << AlgorithmName(algorithm);
    EXPECT_GT(present_moved, 120) << AlgorithmName(algorithm);
  }
}

TEST(PartialParticipationTest, CommunicationCountsOnlyTheParticipants) {
  RunConfig config = PartialRun(Algorithm::kNormEf21, 0.3, 12, 30);
  config.k = 3;
  const absl::StatusOr<std::vector<MetricsRow>> rows = test::SimulateRows(config);
  ASSERT_TRUE(rows.ok()) << rows.status();
  const absl::StatusOr<std::vector<MetricsRow>> full = [&] {
    RunConfig c = config;
    c.participation = 1.0;
    return test::SimulateRows(c);
  }();
  ASSERT_TRUE(full.ok()) << full.status();
  const double n = 12.0;
  // Round 0 is the initialization, with every client: the same bytes as full participation.
  EXPECT_EQ((*rows)[0].uplink_bytes_per_client, (*full)[0].uplink_bytes_per_client);
  int64_t sent = 0;
  for (uint64_t r = 1; r <= 30; ++r) {
    int64_t participants = 0;
    for (int64_t i = 0; i < 12; ++i) participants += Participates(0, 0.3, i, r);
    sent += participants;
    // Paper bits: k·32 per message actually sent, averaged over all n clients.
    ASSERT_EQ((*rows)[r].paper_bits_per_client * n, static_cast<double>(sent * 3 * 32)) << r;
    const double uplink =
        ((*rows)[r].uplink_bytes_per_client - (*rows)[r - 1].uplink_bytes_per_client) * n;
    if (participants == 0) {
      EXPECT_EQ(uplink, 0.0) << r;
    } else {
      EXPECT_GT(uplink, participants * 3 * 4) << r;  // k f32 values at least, plus framing
    }
    // Every client still receives each RoundStart.
    EXPECT_EQ((*rows)[r].downlink_bytes_per_client, (*full)[r].downlink_bytes_per_client) << r;
  }
  EXPECT_LT(sent, 30 * 12 / 2);  // p = 0.3: far fewer messages than full participation
  EXPECT_LT((*rows)[30].uplink_bytes_per_client, (*full)[30].uplink_bytes_per_client / 2);
}

TEST(PartialParticipationTest, MetricsAreThoseOfAllClientsAtX) {
  // The row's f(x^r) and ‖∇f(x^r)‖ are the full objective's, whoever took part: round 0 (every
  // client) of p = 0.5 and p = 1 is the same point, and so is the whole row.
  const RunConfig config = PartialRun(Algorithm::kNormEf21, 0.5, 8, 5);
  RunConfig full = config;
  full.participation = 1.0;
  const auto rows = test::SimulateRows(config);
  const auto full_rows = test::SimulateRows(full);
  ASSERT_TRUE(rows.ok() && full_rows.ok());
  EXPECT_EQ((*rows)[0].loss, (*full_rows)[0].loss);
  EXPECT_EQ((*rows)[0].grad_norm_sq, (*full_rows)[0].grad_norm_sq);
  // After round 0, x^1 is the same point too (same g^0): f(x^1) agrees though only some clients
  // of the partial run sent anything in round 1.
  EXPECT_EQ((*rows)[1].loss, (*full_rows)[1].loss);
  EXPECT_EQ((*rows)[1].grad_norm_sq, (*full_rows)[1].grad_norm_sq);
  EXPECT_NE((*rows)[2].loss, (*full_rows)[2].loss);  // and then the trajectories part
}

TEST(PartialParticipationTest, Ef21FamilyConvergesWithHalfTheClients) {
  // Breast cancer, 20 clients, top-2, 400 rounds, p = 0.5 and 0.2: the smallest ‖∇f(x)‖² of the run
  // falls by more than three orders of magnitude, as with full participation (measured: from 2.0
  // to 7e-6 / 2e-4 for EF21 with γ = 0.5, 6e-6 / 4e-5 for ||EF21||; 3e-6 with p = 1).
  for (Algorithm algorithm : {Algorithm::kEf21, Algorithm::kNormEf21}) {
    for (double p : {0.5, 0.2}) {
      const RunConfig config = PartialRun(algorithm, p, 20, 400);
      const auto rows = test::SimulateRows(config);
      ASSERT_TRUE(rows.ok()) << rows.status();
      double best = INFINITY;
      for (const MetricsRow& r : *rows) best = std::min(best, r.grad_norm_sq);
      EXPECT_LT(best, 1e-3 * rows->front().grad_norm_sq) << AlgorithmName(algorithm) << " p " << p;
      EXPECT_LT(rows->back().loss, 0.5 * rows->front().loss)
          << AlgorithmName(algorithm) << " p " << p;
    }
  }
}

TEST(PartialParticipationTest, RefusalsAreClear) {
  auto message = [](RunConfig c) { return std::string(c.Validate().message()); };
  RunConfig c = test::BreastCancer(Algorithm::kNormEf21, 4, 10);
  c.participation = 0.0;
  EXPECT_EQ(message(c), "--participation must be in (0, 1]; got 0");
  c.participation = 1.5;
  EXPECT_EQ(message(c), "--participation must be in (0, 1]; got 1.5");
  c.participation = 0.5;
  EXPECT_TRUE(c.Validate().ok()) << c.Validate();  // ||EF21||'s gamma0/sqrt(K+1) needs no constant
  RunConfig ef14 = test::BreastCancer(Algorithm::kEf14, 4, 10);
  ef14.participation = 0.5;
  EXPECT_NE(message(ef14).find("--participation < 1 (EF21-PP) is for the EF21 family"),
            std::string::npos)
      << message(ef14);
  RunConfig ef21 = test::BreastCancer(Algorithm::kEf21, 4, 10);
  ef21.participation = 0.5;
  EXPECT_NE(message(ef21).find("--stepsize=theory of ef21 is not defined with --participation < 1"),
            std::string::npos)
      << message(ef21);
  ef21.stepsize = StepsizeRule::kConstant;
  ef21.gamma = 0.5;
  EXPECT_TRUE(ef21.Validate().ok()) << ef21.Validate();
  RunConfig momentum = test::BreastCancer(Algorithm::kNormEf21Sgdm, 4, 10);
  momentum.participation = 0.5;
  EXPECT_NE(message(momentum).find("is not defined with --participation < 1"), std::string::npos);
  // The algorithm layer refuses what the flags would have.
  MethodOptions options = ef14.ToMethodOptions();
  EXPECT_FALSE(options.Validate().ok());
}

}  // namespace
}  // namespace ef21
