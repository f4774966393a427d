// The algorithms against their defining properties: g = mean g_i after every round, the
// reductions between methods, thread-count independence, and the paper's qualitative claims.
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/run/problem_factory.h"
#include "common/run/round_close.h"
#include "common/run/simulator.h"
#include "gtest/gtest.h"
#include "tests/testing/runs.h"
#include "tests/testing/trajectory.h"

namespace ef21 {
namespace {

const std::string kBreastCancer = std::string(EF21_SOURCE_DIR) + "/data/libsvm/breast-cancer_scale";

RunConfig BreastCancer(Algorithm algorithm, int64_t rounds) {
  RunConfig c;
  c.data = kBreastCancer;
  c.algorithm = algorithm;
  c.rounds = rounds;
  if (algorithm == Algorithm::kEf21Sgdm) {
    c.stepsize = StepsizeRule::kConstant;
    c.gamma = 0.05;
    c.eta = 0.5;
  }
  return c;
}

std::unique_ptr<Simulator> MakeSimulator(const RunConfig& config) {
  auto sim = Simulator::Create(config);
  EXPECT_TRUE(sim.ok()) << sim.status();
  return std::move(sim).value();
}

// A server of its own beside `sim`'s: the same configuration and stepsize plan, at sim's x^0 (null,
// with a test failure, if its context cannot be made).
std::unique_ptr<ServerMethod> ServerBeside(const Simulator& sim, const RunConfig& config) {
  auto context =
      MethodContext::Create(config.ToMethodOptions(), sim.context().problem, sim.context().plan);
  EXPECT_TRUE(context.ok()) << context.status();
  if (!context.ok()) return nullptr;
  return ServerMethod::Create(*context, sim.server().x());
}

std::vector<MetricsRow> RunRows(const RunConfig& config) {
  absl::StatusOr<std::vector<MetricsRow>> rows = test::SimulateRows(config);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *std::move(rows) : std::vector<MetricsRow>();
}

using test::kAllAlgorithms;

TEST(MethodTest, ServerAggregateIsTheMeanOfClientEstimatesAfterEveryRound) {
  for (Algorithm algorithm : kAllAlgorithms) {
    for (CompressorKind kind : {CompressorKind::kTopK, CompressorKind::kRandK}) {
      for (bool stochastic : {false, true}) {
        RunConfig config = BreastCancer(algorithm, 15);
        if (!TraitsOf(algorithm).identity_only) config.compressor = kind;
        config.k = 2;
        config.batch = stochastic ? 3 : 0;
        config.init = stochastic ? InitKind::kCompressed : InitKind::kFull;
        auto sim = MakeSimulator(config);
        const int64_t n = sim->context().num_clients();
        while (sim->RunRound(nullptr)) {
          Vector mean = Vector::Zero(sim->context().dim());
          for (int64_t i = 0; i < n; ++i) mean += sim->client(i).g();
          mean /= static_cast<double>(n);
          const double err = (mean - sim->server().g()).norm();
          ASSERT_LE(err, 1e-12 * std::max(1.0, mean.norm()))
              << AlgorithmName(algorithm) << " " << CompressorKindName(kind) << " round "
              << sim->server().round();
        }
      }
    }
  }
}

void ExpectSameTrajectory(const std::vector<MetricsRow>& a, const std::vector<MetricsRow>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t r = 0; r < a.size(); ++r) {
    // Bitwise: same loss, gradient norm, aggregate norm at every round.
    ASSERT_EQ(a[r].loss, b[r].loss) << what << " round " << r;
    ASSERT_EQ(a[r].grad_norm_sq, b[r].grad_norm_sq) << what << " round " << r;
    ASSERT_EQ(a[r].g_norm, b[r].g_norm) << what << " round " << r;
    ASSERT_EQ(a[r].stepsize, b[r].stepsize) << what << " round " << r;
  }
}

TEST(MethodTest, Reductions) {
  // ||EF21-SGDM|| with η = 1 and full gradients is ||EF21||.
  RunConfig sgdm = BreastCancer(Algorithm::kNormEf21Sgdm, 30);
  sgdm.stepsize = StepsizeRule::kConstant;
  sgdm.gamma = 0.05;
  sgdm.eta = 1.0;
  RunConfig norm = BreastCancer(Algorithm::kNormEf21, 30);
  norm.stepsize = StepsizeRule::kConstant;
  norm.gamma = 0.05;
  ExpectSameTrajectory(RunRows(sgdm), RunRows(norm), "norm-ef21-sgdm(eta=1) vs norm-ef21");

  // With the identity compressor EF21 is GD and ||EF21|| is normalized GD.
  for (auto [ef, gd] : {std::pair{Algorithm::kEf21, Algorithm::kGd},
                        std::pair{Algorithm::kNormEf21, Algorithm::kNormGd}}) {
    RunConfig a = BreastCancer(ef, 30);
    a.compressor = CompressorKind::kIdentity;
    a.value_type = ValueType::kF64;
    RunConfig b = BreastCancer(gd, 30);
    b.value_type = ValueType::kF64;
    ExpectSameTrajectory(RunRows(a), RunRows(b),
                         std::string(AlgorithmName(ef)) + " vs " + AlgorithmName(gd));
  }

  // And GD really is GD: x^{t+1} = x^t − γ∇f(x^t), checked against a direct loop.
  RunConfig gd = BreastCancer(Algorithm::kGd, 10);
  gd.value_type = ValueType::kF64;
  auto sim = MakeSimulator(gd);
  auto problem = CreateProblem(gd);
  ASSERT_TRUE(problem.ok());
  Vector x = *CreateStartingPoint(gd, (*problem)->dim());
  const double gamma = sim->context().plan.gamma;
  ASSERT_EQ(sim->server().x(), x);
  for (int t = 0; t < 10; ++t) {
    sim->RunRound(nullptr);
    EvalPoint p;
    (*problem)->Prepare(x, &p);
    Vector full = Vector::Zero(x.size()), gi;
    for (int64_t i = 0; i < (*problem)->num_clients(); ++i) {
      (*problem)->LossAndGradient(i, p, &gi);
      full += gi;
    }
    full /= static_cast<double>((*problem)->num_clients());
    x -= gamma * full;
    EXPECT_LE((sim->server().x() - x).norm(), 1e-12 * x.norm()) << "round " << t;
  }
}

TEST(MethodTest, ResultsDoNotDependOnThreadCount) {
  for (Algorithm algorithm : {Algorithm::kNormEf21, Algorithm::kNormEf21Sgdm, Algorithm::kEf14}) {
    RunConfig config = BreastCancer(algorithm, 25);
    config.compressor = CompressorKind::kRandK;
    config.k = 3;
    config.batch = 2;
    config.threads = 1;
    const std::vector<MetricsRow> one = RunRows(config);
    for (int64_t threads : {2, 5}) {
      config.threads = threads;
      EXPECT_TRUE(test::SameTrajectory(RunRows(config), one))
          << AlgorithmName(algorithm) << ", " << threads << " threads";
    }
  }
}

TEST(MethodTest, ClientRestoreFromAggregatorCopyContinuesExactly) {
  // What a reconnecting worker does: rebuild the client from g_i alone (deterministic EF21).
  RunConfig config = BreastCancer(Algorithm::kNormEf21, 12);
  auto a = MakeSimulator(config);
  for (int r = 0; r < 6; ++r) a->RunRound(nullptr);
  auto context = MethodContext::Create(config.ToMethodOptions(), a->context().problem);
  ASSERT_TRUE(context.ok());
  auto restored = ClientMethod::Create(*context, 7);
  restored->Restore(a->client(7).g());
  EvalPoint p;
  a->context().problem->Prepare(a->server().x(), &p);
  ClientMessage m;
  restored->Step({a->server().round(), &p, a->server().stepsize(), false}, &m);
  a->RunRound(nullptr);
  EXPECT_EQ(m.c.indices, a->messages()[7].c.indices);
  EXPECT_EQ(m.c.values, a->messages()[7].c.values);
  EXPECT_EQ(restored->g(), a->client(7).g());
}

// Bitwise equality of two vectors, signed zeros included.
bool SameBits(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<size_t>(a.size())) == 0;
}

TEST(MethodTest, ReplicaReplayingDeltasHoldsTheServersStateBitForBit) {
  // What a worker host does with the delta downlink: replay each closed round's (sum, scale) and,
  // after missing rounds, take the server's (x, g) and go on replaying.
  for (Algorithm algorithm : kAllAlgorithms) {
    for (CompressorKind kind : {CompressorKind::kTopK, CompressorKind::kRandK}) {
      for (InitKind init : {InitKind::kFull, InitKind::kCompressed}) {
        RunConfig config = BreastCancer(algorithm, 20);
        if (!TraitsOf(algorithm).identity_only) config.compressor = kind;
        config.k = 2;
        config.init = init;
        auto sim = MakeSimulator(config);
        auto replica = ServerBeside(*sim, config);
        ASSERT_NE(replica, nullptr);
        const std::string what = absl::StrCat(AlgorithmName(algorithm), " ",
                                              CompressorKindName(kind), " ", InitKindName(init));
        while (sim->RunRound(nullptr)) {
          const RoundDelta& delta = sim->server().last_delta();
          // The sum is Σ_i c_i on exactly the union of the messages' indices.
          Vector dense_sum = Vector::Zero(sim->context().dim());
          for (const ClientMessage& m : sim->messages()) m.c.AddTo(1.0, &dense_sum);
          Vector from_delta = Vector::Zero(sim->context().dim());
          delta.sum.AddTo(1.0, &from_delta);
          ASSERT_EQ(from_delta, dense_sum) << what;
          if (delta.round == 9) {
            // Missed rounds 7..9: resynchronized from the server's state instead.
            ASSERT_TRUE(
                replica->Reset(sim->server().round(), sim->server().x(), sim->server().g()).ok());
          } else if (delta.round < 7 || delta.round > 9) {
            ASSERT_TRUE(replica->Replay(delta).ok()) << what << " round " << delta.round;
          }
          if (delta.round < 7 || delta.round > 9) {
            ASSERT_TRUE(SameBits(replica->x(), sim->server().x()))
                << what << " round " << delta.round;
            ASSERT_TRUE(SameBits(replica->g(), sim->server().g()))
                << what << " round " << delta.round;
            ASSERT_EQ(replica->round(), sim->server().round());
          }
        }
        // A delta for another round or dimension is refused and changes nothing.
        RoundDelta stale = sim->server().last_delta();
        const Vector x = replica->x();
        EXPECT_EQ(replica->Replay(stale).code(), absl::StatusCode::kFailedPrecondition);
        stale.round = replica->round();
        stale.sum.dim += 1;
        EXPECT_EQ(replica->Replay(stale).code(), absl::StatusCode::kInvalidArgument);
        EXPECT_TRUE(SameBits(replica->x(), x));
      }
    }
  }
}

// The aggregator's bound check of g_i + c without a copy (ServerMethod::ClientCopyStaysWithin)
// answers as applying c to a copy of g_i and checking every entry does: every algorithm, sparse
// and dense c, entries inside, at and beyond the bound, non-finite values, and a g_i that is out
// of bounds off c's entries (checked in full: g_i_within = false, as after a resume).
TEST(MethodTest, ClientCopyBoundCheckAgreesWithApplyingACopy) {
  const double bound = 10.0;
  auto by_copy = [bound](const ServerMethod& server, const SparseVector& c, const Vector& g) {
    Vector copy = g;
    server.ApplyToClientCopy(c, &copy);
    for (Eigen::Index j = 0; j < copy.size(); ++j) {
      if (!(std::abs(copy[j]) <= bound)) return false;
    }
    return true;
  };
  const double values[] = {0.0,  1.0,   -4.0,  5.0,    9.5,       10.0,
                           -6.0, -10.0, 10.5,  -11.0,  1e300,     HUGE_VAL,
                           -0.5, 20.0,  -20.0, 1e-300, -HUGE_VAL, std::nan("")};
  const int count = static_cast<int>(sizeof(values) / sizeof(values[0]));
  int agreed = 0, refused = 0;
  for (Algorithm algorithm : kAllAlgorithms) {
    RunConfig config = BreastCancer(algorithm, 1);
    auto sim = MakeSimulator(config);
    auto server = ServerBeside(*sim, config);
    ASSERT_NE(server, nullptr);
    const int64_t d = sim->context().dim();
    ASSERT_GE(d, 6);
    for (int a = 0; a < count; ++a) {
      // g_i within the bound (a's value where finite and within, else 3), and the same with one
      // entry off c's indices beyond it.
      Vector inside = Vector::Constant(d, std::abs(values[a]) <= bound ? values[a] : 3.0);
      inside[0] = -7.0;
      Vector outside = inside;
      outside[d - 1] = 11.0;
      for (int b = 0; b < count; ++b) {
        SparseVector sparse;
        sparse.dim = d;
        sparse.indices = {0, 2, 5};
        sparse.values = {values[b], values[(b + 3) % count], values[(a + b) % count]};
        SparseVector dense;
        dense.dim = d;
        dense.dense = true;
        dense.values.assign(static_cast<size_t>(d), values[(a + 2 * b) % count]);
        dense.values[1] = values[b];
        for (const SparseVector* c : {&sparse, &dense}) {
          const std::string what = absl::StrCat(
              AlgorithmName(algorithm), c->dense ? " dense" : " sparse", " a=", a, " b=", b);
          const bool expected_inside = by_copy(*server, *c, inside);
          EXPECT_EQ(server->ClientCopyStaysWithin(*c, inside, true, bound), expected_inside)
              << what;
          EXPECT_EQ(server->ClientCopyStaysWithin(*c, inside, false, bound), expected_inside)
              << what;
          EXPECT_EQ(server->ClientCopyStaysWithin(*c, outside, false, bound),
                    by_copy(*server, *c, outside))
              << what << " (g_i out of bounds)";
          refused += !expected_inside;
          agreed += 3;
        }
      }
    }
  }
  // Both answers occurred: the cases cover the bound from both sides.
  EXPECT_GT(refused, 0);
  EXPECT_LT(refused, agreed / 3);
}

// --client-state=worker's aggregator gives its close scratch back after each round
// (ServerMethod::ReleaseRoundScratch): the next close allocates it again and closes the same
// round, bit for bit, dense round 0 (--init=full) and the identity compressor's dense rounds too.
TEST(MethodTest, ServerReleasingItsScratchClosesTheSameRounds) {
  for (Algorithm algorithm : kAllAlgorithms) {
    for (InitKind init : {InitKind::kFull, InitKind::kCompressed}) {
      RunConfig config = BreastCancer(algorithm, 12);
      config.k = 3;
      config.init = init;
      auto sim = MakeSimulator(config);
      auto releasing = ServerBeside(*sim, config);
      ASSERT_NE(releasing, nullptr);
      const std::string what = absl::StrCat(AlgorithmName(algorithm), " ", InitKindName(init));
      std::vector<const SparseVector*> by_client;
      while (sim->RunRound(nullptr)) {
        by_client.clear();
        for (const ClientMessage& m : sim->messages()) by_client.push_back(&m.c);
        releasing->CloseRound(by_client);
        const RoundDelta& delta = sim->server().last_delta();
        const SparseVector& sum = releasing->last_delta().sum;
        ASSERT_EQ(sum.dense, delta.sum.dense) << what;
        ASSERT_EQ(sum.indices, delta.sum.indices) << what;
        ASSERT_EQ(sum.values.size(), delta.sum.values.size()) << what;
        ASSERT_EQ(std::memcmp(sum.values.data(), delta.sum.values.data(),
                              sizeof(double) * sum.values.size()),
                  0)
            << what << " round " << delta.round;
        releasing->ReleaseRoundScratch();
        EXPECT_EQ(releasing->scratch()->size(), 0) << what;
        EXPECT_EQ(releasing->last_delta().sum.nnz(), 0) << what;
        EXPECT_EQ(releasing->last_delta().sum.dim, sim->context().dim()) << what;
        ASSERT_TRUE(SameBits(releasing->x(), sim->server().x()))
            << what << " round " << delta.round;
        ASSERT_TRUE(SameBits(releasing->g(), sim->server().g()))
            << what << " round " << delta.round;
        ASSERT_EQ(releasing->round(), sim->server().round());
      }
    }
  }
}

// A round closer that gives its diagnostic tree's partial sums back after each diagnostic round
// (--client-state=worker's aggregator) closes the same rounds as one that keeps them: 100 clients
// (a tree with a level below the root), diagnostics every round, the gradients evaluated by the
// closers themselves as under --client-state=worker.
TEST(MethodTest, RoundCloserReleasingItsTreeScratchGivesTheSameRows) {
  RunConfig config = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/100, /*rounds=*/6);
  config.diagnostics_every = 1;
  auto sim = MakeSimulator(config);
  auto context =
      MethodContext::Create(config.ToMethodOptions(), sim->context().problem, sim->context().plan);
  ASSERT_TRUE(context.ok());
  auto keeping_server = ServerMethod::Create(*context, sim->server().x());
  auto releasing_server = ServerMethod::Create(*context, sim->server().x());
  RoundCloser keeping(*context);
  RoundCloser releasing(*context);
  releasing.set_release_tree_scratch(true);
  std::vector<ClientReport> reports;
  while (sim->RunRound(nullptr)) {
    reports.clear();
    for (const ClientMessage& m : sim->messages()) reports.push_back({&m.c, m.loss, nullptr});
    const MetricsRow a = keeping.Close(reports, 0.0, keeping_server.get());
    const MetricsRow b = releasing.Close(reports, 0.0, releasing_server.get());
    ASSERT_TRUE(std::isfinite(a.grad_norm)) << "round " << a.round;
    EXPECT_EQ(std::memcmp(&a.grad_norm_sq, &b.grad_norm_sq, sizeof(double)), 0) << a.round;
    EXPECT_EQ(std::memcmp(&a.g_norm, &b.g_norm, sizeof(double)), 0) << a.round;
    EXPECT_EQ(std::memcmp(&a.loss, &b.loss, sizeof(double)), 0) << a.round;
    ASSERT_TRUE(SameBits(keeping_server->x(), releasing_server->x())) << a.round;
  }
}

TEST(MethodTest, CommunicationAccounting) {
  RunConfig config = BreastCancer(Algorithm::kNormEf21, 20);
  config.k = 3;
  const auto rows = RunRows(config);
  EXPECT_EQ(rows[0].paper_bits_per_client, 0);  // the dense g_i^0 is not counted (SPEC §6)
  EXPECT_EQ(rows[20].paper_bits_per_client, 20 * 3 * 32);
  config.value_type = ValueType::kF64;
  config.init = InitKind::kCompressed;
  const auto rows64 = RunRows(config);
  // Round 0's compressed message is the initialization too: t·k·b after t iterations, as EF21.
  EXPECT_EQ(rows64[0].paper_bits_per_client, 0);
  EXPECT_EQ(rows64[20].paper_bits_per_client, 20 * 3 * 64);
  EXPECT_GT(rows64[0].uplink_bytes_per_client, 0);  // the wire counts it
  RunConfig ef14 = BreastCancer(Algorithm::kEf14, 20);
  ef14.k = 3;
  const auto rows14 = RunRows(ef14);
  EXPECT_EQ(rows14[0].paper_bits_per_client, 0);
  EXPECT_EQ(rows14[20].paper_bits_per_client, 20 * 3 * 32);
  for (size_t r = 1; r < rows.size(); ++r) {
    EXPECT_GT(rows[r].uplink_bytes_per_client, rows[r - 1].uplink_bytes_per_client);
    EXPECT_GT(rows[r].downlink_bytes_per_client, rows[r - 1].downlink_bytes_per_client);
    // The wire costs more than the paper convention (indices, framing), but not wildly more.
    const double wire_bits =
        8 * (rows[r].uplink_bytes_per_client - rows[0].uplink_bytes_per_client);
    EXPECT_GT(wire_bits, rows[r].paper_bits_per_client);
    EXPECT_LT(wire_bits, 3 * rows[r].paper_bits_per_client);
  }
}

// SPEC §7, Figure 1: polynomial d = 4, top-1, L0 = 4, L1 = 1.
TEST(PaperBehaviourTest, PolynomialNormalizedEf21BeatsEf21) {
  const int64_t K = 2000;
  RunConfig base;
  base.problem = ProblemKind::kPolynomial;
  base.dim = 4;
  base.L0 = 4;
  base.L1 = 1;
  base.rounds = K;
  base.k = 1;
  // EF21's theory stepsize does not depend on K; it needs ~11,700 rounds here, so it runs long
  // enough to reach the target and the comparison is decided, not skipped.
  RunConfig ef21 = base;
  ef21.algorithm = Algorithm::kEf21;
  ef21.rounds = 30000;
  RunConfig l1 = base;
  l1.algorithm = Algorithm::kNormEf21;
  l1.stepsize = StepsizeRule::kTheoryL1;
  RunConfig sqrtk = base;
  sqrtk.algorithm = Algorithm::kNormEf21;
  auto first_below = [](const std::vector<MetricsRow>& rows) -> int64_t {
    for (const MetricsRow& r : rows)
      if (r.grad_norm_sq < 1e-4) return static_cast<int64_t>(r.round);
    return -1;
  };
  for (uint64_t seed : {0, 1, 2}) {
    ef21.seed = l1.seed = sqrtk.seed = seed;
    const int64_t t_ef21 = first_below(RunRows(ef21));
    const int64_t t_l1 = first_below(RunRows(l1));
    const int64_t t_sqrt = first_below(RunRows(sqrtk));
    ASSERT_GE(t_l1, 0) << "norm-ef21 with 1/(2 c1) did not reach 1e-4 within K, seed " << seed;
    ASSERT_GE(t_sqrt, 0) << "norm-ef21 with gamma0/sqrt(K+1) did not reach 1e-4 within K, seed "
                         << seed;
    ASSERT_GE(t_ef21, 0) << "ef21 did not reach 1e-4 within 30000 rounds, seed " << seed;
    EXPECT_LT(t_l1, t_ef21) << "seed " << seed;
    EXPECT_LT(t_sqrt, t_ef21) << "seed " << seed;
  }
}

// SPEC §7, Figure 2: breast cancer, one row per client, top-1, K = 100.
TEST(PaperBehaviourTest, BreastCancerNormalizedEf21ReachesSmallerGradient) {
  auto min_grad = [](const std::vector<MetricsRow>& rows) {
    double m = INFINITY;
    for (const MetricsRow& r : rows) m = std::min(m, r.grad_norm);
    return m;
  };
  for (uint64_t seed : {0, 1, 2}) {
    RunConfig norm = BreastCancer(Algorithm::kNormEf21, 100);
    RunConfig ef21 = BreastCancer(Algorithm::kEf21, 100);
    norm.seed = ef21.seed = seed;
    EXPECT_LT(min_grad(RunRows(norm)), min_grad(RunRows(ef21))) << "seed " << seed;
  }
}

TEST(RunConfigTest, BadCombinationsAreClearErrors) {
  auto message = [](RunConfig c) { return std::string(c.Validate().message()); };
  RunConfig c;
  EXPECT_EQ(message(c), "--problem=logreg needs exactly one of --data=PATH or --synthetic=MxD");
  c.data = "x";
  EXPECT_TRUE(c.Validate().ok());
  RunConfig gd = c;
  gd.algorithm = Algorithm::kGd;
  gd.compressor = CompressorKind::kTopK;
  EXPECT_EQ(message(gd), "gd is defined with the identity compressor; got --compressor=top-k");
  RunConfig constant = c;
  constant.stepsize = StepsizeRule::kConstant;
  EXPECT_EQ(message(constant), "--stepsize=constant needs --gamma");
  RunConfig eta = c;
  eta.eta = 0.5;
  EXPECT_EQ(message(eta), "--eta is the momentum of the -sgdm methods; norm-ef21 has none");
  RunConfig sgdm = c;
  sgdm.algorithm = Algorithm::kEf21Sgdm;
  EXPECT_EQ(message(sgdm),
            "ef21-sgdm has no theory stepsize here; pass --stepsize=constant --gamma=G --eta=E");
  RunConfig rounds = c;
  rounds.rounds = 0;
  EXPECT_EQ(message(rounds), "--rounds must be >= 1; got 0");
  RunConfig poly;
  poly.problem = ProblemKind::kPolynomial;
  poly.batch = 3;
  EXPECT_EQ(message(poly), "--batch is for logreg; the polynomial's noise is --sigma");
}

TEST(ProblemFactoryTest, X0FileIsReadAndCheckedAndMissingDataIsAnError) {
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream f(dir + "/x0.txt");
    f << "1.5\n# comment\n\n-2\n3e-1\n4\n";
  }
  auto x = ReadVectorFile(dir + "/x0.txt", 4);
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(*x, (Vector(4) << 1.5, -2, 0.3, 4).finished());
  EXPECT_EQ(ReadVectorFile(dir + "/x0.txt", 5).status().message(),
            dir + "/x0.txt: expected 5 numbers (the dimension), got 4");
  {
    std::ofstream f(dir + "/bad.txt");
    f << "1\nabc\n";
  }
  EXPECT_EQ(ReadVectorFile(dir + "/bad.txt", 2).status().message(),
            dir + "/bad.txt:2: expected one finite number, got \"abc\"");
  RunConfig c;
  c.data = dir + "/does-not-exist";
  EXPECT_EQ(CreateProblem(c).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ef21
