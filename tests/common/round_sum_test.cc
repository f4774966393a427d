// The close's low-memory arithmetic against the plain one it replaces, bit for bit: the round's
// Σ_i c_i written over the union of indices without a d-sized buffer (SumOnUnion, and
// ServerMethod::CloseRound, which uses it above a small d) against a dense scatter, and a
// diagnostic round's Σ_i ∇f_i(x^r) summed block by block (RoundCloser with
// set_release_tree_scratch) against the whole-vector tree.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/problems/polynomial.h"
#include "common/run/round_close.h"
#include "common/run/round_metrics.h"
#include "common/run/simulator.h"
#include "gtest/gtest.h"
#include "tests/testing/runs.h"

namespace ef21 {
namespace {

bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

// The sum as the close computed it before (a dense scatter from +0 at a coordinate's first touch,
// then the union in ascending order): the reference.
SparseVector ScatterSum(int64_t d, const std::vector<const SparseVector*>& by_client) {
  SparseVector sum;
  sum.Clear(d);
  Vector s = Vector::Zero(d);
  bool dense = false;
  for (const SparseVector* c : by_client) dense = dense || (c != nullptr && c->dense);
  if (dense) {
    for (const SparseVector* c : by_client) {
      if (c != nullptr) c->AddTo(1.0, &s);
    }
    sum.dense = true;
    sum.values.assign(s.data(), s.data() + d);
    return sum;
  }
  std::vector<uint8_t> touched(d, 0);
  for (const SparseVector* c : by_client) {
    if (c == nullptr) continue;
    for (size_t e = 0; e < c->indices.size(); ++e) {
      const int32_t j = c->indices[e];
      if (!touched[j]) {
        touched[j] = 1;
        s[j] = 0.0;
      }
      s[j] += 1.0 * c->values[e];
    }
  }
  for (int64_t j = 0; j < d; ++j) {
    if (!touched[j]) continue;
    sum.indices.push_back(static_cast<int32_t>(j));
    sum.values.push_back(s[j]);
  }
  return sum;
}

// A value from a mix that exercises the rounding of sums: signed zeros, subnormals, huge and
// ordinary magnitudes.
double AwkwardValue(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 7);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  switch (kind(rng)) {
    case 0:
      return -0.0;
    case 1:
      return 0.0;
    case 2:
      return unit(rng) * std::numeric_limits<double>::denorm_min() * 1000;
    case 3:
      return unit(rng) * 1e300;
    case 4:
      return static_cast<double>(static_cast<float>(unit(rng)));
    default:
      return unit(rng) * std::pow(10.0, std::uniform_int_distribution<int>(-20, 20)(rng));
  }
}

// A random round's dimension d (up to 300, so that clients' indices collide often, and not always
// a multiple of 64; with `large`, above ServerMethod's small-d bound) and client count n, and the
// polynomial run of that shape (float32 messages).
struct RoundShape {
  int64_t d = 0;
  int64_t n = 0;
  RunConfig Config() const {
    RunConfig config;
    config.problem = ProblemKind::kPolynomial;
    config.dim = d;
    config.clients = n;
    config.rounds = 2;
    config.value_type = ValueType::kF32;  // (the default; the packed test needs it)
    return config;
  }
};
RoundShape RandomRoundShape(bool large, std::mt19937_64& rng) {
  RoundShape shape;
  shape.d = large ? std::uniform_int_distribution<int64_t>(70000, 140000)(rng)
                  : std::uniform_int_distribution<int64_t>(1, 300)(rng);
  shape.n = std::uniform_int_distribution<int64_t>(1, 40)(rng);
  return shape;
}

// Client i's message of a random round, or false for a client absent from it (EF21-PP, one in
// five): dense with values from `value` (sometimes, when `with_dense`), otherwise sparse at a
// random density (at most 2% when `large`), the indices ascending.
bool RandomMessage(int64_t d, bool with_dense, bool large, double (*value)(std::mt19937_64&),
                   std::mt19937_64& rng, SparseVector* c) {
  if (std::bernoulli_distribution(0.2)(rng)) return false;
  c->Clear(d);
  if (with_dense && std::bernoulli_distribution(0.3)(rng)) {
    c->dense = true;
    for (int64_t j = 0; j < d; ++j) c->values.push_back(value(rng));
    return true;
  }
  const double density = std::uniform_real_distribution<double>(0.0, large ? 0.02 : 1.0)(rng);
  for (int64_t j = 0; j < d; ++j) {
    if (!std::bernoulli_distribution(density)(rng)) continue;
    c->indices.push_back(static_cast<int32_t>(j));
    c->values.push_back(value(rng));
  }
  return true;
}

TEST(RoundSumTest, UnionSumMatchesTheDenseScatterBitForBit) {
  std::mt19937_64 rng(11);
  int sparse_trials = 0, dense_trials = 0, large_trials = 0;
  std::vector<uint64_t> marks;  // SumOnUnion's scratch, reused across trials as the server does
  std::vector<int32_t> ranks;
  for (int trial = 0; trial < 300; ++trial) {
    // Mostly small d, so that clients' indices collide often, and d not always a multiple of 64;
    // every 10th trial above ServerMethod's small-d bound, where CloseRound takes SumOnUnion.
    const bool large = trial % 10 == 7;  // never with a dense message (trial % 5 == 4)
    const RoundShape shape = RandomRoundShape(large, rng);
    const int64_t d = shape.d, n = shape.n;
    auto made = test::CreateProblemAndContext(shape.Config());
    ASSERT_TRUE(made.ok()) << made.status();
    auto server = ServerMethod::Create(made->context, Vector::Zero(d));
    std::vector<SparseVector> messages(n);
    std::vector<const SparseVector*> by_client(n, nullptr);
    const bool with_dense = trial % 5 == 4;
    for (int64_t i = 0; i < n; ++i) {
      if (!RandomMessage(d, with_dense, large, AwkwardValue, rng, &messages[i])) continue;
      by_client[i] = &messages[i];
    }
    const SparseVector expected = ScatterSum(d, by_client);
    server->CloseRound(by_client);
    const SparseVector& got = server->last_delta().sum;
    ASSERT_EQ(got.dim, d) << "trial " << trial;
    ASSERT_EQ(got.dense, expected.dense) << "trial " << trial;
    ASSERT_EQ(got.indices, expected.indices) << "trial " << trial;
    ASSERT_TRUE(SameBits(got.values, expected.values)) << "trial " << trial;
    ASSERT_TRUE(got.Validate().ok()) << "trial " << trial << ": " << got.Validate();
    (expected.dense ? dense_trials : sparse_trials) += 1;
    if (!expected.dense) {
      // SumOnUnion itself, whatever d (CloseRound uses it above the small-d bound only).
      SparseVector on_union;
      on_union.dim = d;
      on_union.values = {42.0};  // overwritten
      SumOnUnion(by_client, &marks, &ranks, &on_union);
      ASSERT_EQ(on_union.dim, d) << "trial " << trial;
      ASSERT_FALSE(on_union.dense);
      ASSERT_EQ(on_union.indices, expected.indices) << "trial " << trial;
      ASSERT_TRUE(SameBits(on_union.values, expected.values)) << "trial " << trial;
      large_trials += large;
    }
    if (trial % 3 == 0) server->ReleaseRoundScratch();  // the next close allocates again
  }
  // Both branches ran, many times.
  EXPECT_GT(dense_trials, 20);
  EXPECT_GT(sparse_trials, 150);
  EXPECT_GT(large_trials, 15);
}

// A float32 value from the same mix (what a float32 run's message carries): signed zeros,
// subnormals of float, large and ordinary magnitudes.
double AwkwardFloat(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 5);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  switch (kind(rng)) {
    case 0:
      return -0.0;
    case 1:
      return std::numeric_limits<float>::denorm_min() *
             std::uniform_int_distribution<int>(-9, 9)(rng);
    case 2:
      return unit(rng) * 3e38f;
    default:
      // (std::pow of a float and an int is a double: rounded to float first.)
      return static_cast<double>(
          unit(rng) *
          static_cast<float>(std::pow(10.0, std::uniform_int_distribution<int>(-20, 20)(rng))));
  }
}

// The close of messages held packed (an aggregator under --client-state=worker, float32) against
// the same messages as SparseVectors, bit for bit: the round's sum, g and x after the step, and
// the round's counts, on both sides of the small-d bound and with dense messages beside packed
// ones (a dense message is never packed).
TEST(RoundSumTest, PackedMessagesCloseAsTheirSparseVectors) {
  std::mt19937_64 rng(12);
  int packed_trials = 0;
  for (int trial = 0; trial < 120; ++trial) {
    const bool large = trial % 4 == 1;
    const RoundShape shape = RandomRoundShape(large, rng);
    const int64_t d = shape.d, n = shape.n;
    auto made = test::CreateProblemAndContext(shape.Config());
    ASSERT_TRUE(made.ok()) << made.status();
    const Vector x0 = Vector::LinSpaced(d, -1.0, 2.0);
    auto plain = ServerMethod::Create(made->context, x0);
    auto lean = ServerMethod::Create(made->context, x0);
    std::vector<SparseVector> messages(n);
    std::vector<PackedSparse> packs(n);
    std::vector<const SparseVector*> by_client(n, nullptr), unpacked_ones(n, nullptr);
    std::vector<const PackedSparse*> packed(n, nullptr);
    const bool with_dense = trial % 6 == 5 && !large;
    for (int64_t i = 0; i < n; ++i) {
      if (!RandomMessage(d, with_dense, large, AwkwardFloat, rng, &messages[i])) continue;
      SparseVector& c = messages[i];
      by_client[i] = &c;
      ASSERT_EQ(Packable(c), !c.dense) << "trial " << trial << " client " << i;
      if (Packable(c) && std::bernoulli_distribution(0.8)(rng)) {
        Pack(c, &packs[i]);
        packed[i] = &packs[i];
      } else {
        unpacked_ones[i] = &c;
      }
    }
    const double plain_norm = plain->CloseRound(by_client);
    const double lean_norm = lean->CloseRound(unpacked_ones, packed);
    const SparseVector& want = plain->last_delta().sum;
    const SparseVector& got = lean->last_delta().sum;
    ASSERT_EQ(got.dense, want.dense) << "trial " << trial;
    ASSERT_EQ(got.indices, want.indices) << "trial " << trial;
    ASSERT_TRUE(SameBits(got.values, want.values)) << "trial " << trial;
    ASSERT_EQ(std::memcmp(&plain_norm, &lean_norm, sizeof(double)), 0) << "trial " << trial;
    ASSERT_EQ(std::memcmp(plain->x().data(), lean->x().data(), sizeof(double) * d), 0);
    ASSERT_EQ(std::memcmp(plain->g().data(), lean->g().data(), sizeof(double) * d), 0);
    CommTotals plain_totals, lean_totals;
    CountRound(*made->context, 1, by_client, 100, &plain_totals);
    CountRound(*made->context, 1, unpacked_ones, 100, &lean_totals, packed);
    ASSERT_EQ(lean_totals.paper_bits, plain_totals.paper_bits) << "trial " << trial;
    ASSERT_EQ(lean_totals.uplink_bytes, plain_totals.uplink_bytes) << "trial " << trial;
    ASSERT_EQ(lean_totals.diagnostic_bytes, plain_totals.diagnostic_bytes) << "trial " << trial;
    for (const PackedSparse* p : packed) packed_trials += p != nullptr && p->nnz() > 0;
  }
  EXPECT_GT(packed_trials, 500);
}

TEST(RoundSumTest, SignedZerosSumAsTheScatterDoes) {
  // +0 + (−0) = +0 and a coordinate only −0 was sent to sums to +0 from the +0 start; a
  // coordinate nobody sent is not in the union.
  RunConfig config;
  config.problem = ProblemKind::kPolynomial;
  config.dim = 130;
  config.clients = 2;
  auto made = test::CreateProblemAndContext(config);
  ASSERT_TRUE(made.ok()) << made.status();
  auto server = ServerMethod::Create(made->context, Vector::Zero(130));
  SparseVector a, b;
  a.Clear(130);
  b.Clear(130);
  a.indices = {0, 64, 129};
  a.values = {-0.0, -0.0, 1.5};
  b.indices = {64, 127};
  b.values = {-0.0, -0.0};
  server->CloseRound({&a, &b});
  const SparseVector& sum = server->last_delta().sum;
  EXPECT_EQ(sum.indices, (std::vector<int32_t>{0, 64, 127, 129}));
  ASSERT_EQ(sum.values.size(), 4u);
  for (int e = 0; e < 3; ++e) EXPECT_FALSE(std::signbit(sum.values[e])) << e;
  EXPECT_EQ(sum.values[3], 1.5);
}

// Polynomial d spanning three blocks (the last one short), 40 clients (a tree level below the
// root), diagnostics every round, with and without EF21-PP's absent clients: the closer summing
// block by block gives the rows and the x of the closer summing whole vectors.
TEST(RoundSumTest, BlockedDiagnosticsGiveTheSameRows) {
  for (const double participation : {1.0, 0.6}) {
    RunConfig config;
    config.problem = ProblemKind::kPolynomial;
    config.dim = 2 * RoundCloser::kDiagnosticBlock + 1000;
    config.clients = 40;
    config.k = 500;
    config.rounds = 4;
    config.diagnostics_every = 1;
    config.participation = participation;
    config.algorithm = Algorithm::kNormEf21;
    auto sim = Simulator::Create(config);
    ASSERT_TRUE(sim.ok()) << sim.status();
    const MethodContext& base = (*sim)->context();
    ASSERT_TRUE(base.problem->AddsGradientBlocks());
    auto context = MethodContext::Create(config.ToMethodOptions(), base.problem, base.plan);
    ASSERT_TRUE(context.ok());
    auto whole_server = ServerMethod::Create(*context, (*sim)->server().x());
    auto blocked_server = ServerMethod::Create(*context, (*sim)->server().x());
    RoundCloser whole(*context);
    RoundCloser blocked(*context);
    blocked.set_release_tree_scratch(true);
    std::vector<ClientReport> reports;
    int absent = 0;
    while ((*sim)->RunRound(nullptr)) {
      const uint64_t round = whole_server->round();
      reports.clear();
      for (int64_t i = 0; i < config.clients; ++i) {
        const ClientMessage& m = (*sim)->messages()[i];
        const bool present = (*context)->Participates(i, round);
        absent += !present;
        reports.push_back({present ? &m.c : nullptr, m.loss, nullptr});
      }
      const MetricsRow a = whole.Close(reports, 0.0, whole_server.get());
      const MetricsRow b = blocked.Close(reports, 0.0, blocked_server.get());
      ASSERT_TRUE(std::isfinite(a.grad_norm_sq) && a.grad_norm_sq > 0) << a.round;
      EXPECT_EQ(std::memcmp(&a.grad_norm_sq, &b.grad_norm_sq, sizeof(double)), 0) << a.round;
      EXPECT_EQ(std::memcmp(&a.loss, &b.loss, sizeof(double)), 0) << a.round;
      EXPECT_EQ(std::memcmp(&a.g_norm, &b.g_norm, sizeof(double)), 0) << a.round;
      ASSERT_EQ(std::memcmp(whole_server->x().data(), blocked_server->x().data(),
                            sizeof(double) * config.dim),
                0)
          << a.round;
    }
    if (participation < 1.0) EXPECT_GT(absent, 0);
  }
}

// A problem's AddGradientBlock gives the bits of the same coordinates of its whole gradient: the
// polynomial natively, logistic regression through the default.
TEST(RoundSumTest, GradientBlocksAreSlicesOfTheGradient) {
  std::vector<RunConfig> configs(2);
  configs[0].problem = ProblemKind::kPolynomial;
  configs[0].dim = 1000;
  configs[0].clients = 3;
  configs[1] = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/3, /*rounds=*/2);
  for (const RunConfig& config : configs) {
    auto made = test::CreateProblemAndContext(config);
    ASSERT_TRUE(made.ok()) << made.status();
    const Problem& problem = *made->problem;
    const int64_t d = problem.dim();
    Vector x(d);
    for (int64_t j = 0; j < d; ++j) x[j] = std::sin(0.37 * static_cast<double>(j + 1));
    EvalPoint point;
    problem.Prepare(x, &point);
    for (int64_t i = 0; i < problem.num_clients(); ++i) {
      Vector whole, scratch;
      const double loss = problem.LossAndGradient(i, point, &whole);
      Vector sum = Vector::Zero(d);
      EXPECT_EQ(problem.LossAndAddGradient(i, point, &sum, &scratch), loss);
      const int64_t step = std::max<int64_t>(1, d / 7);
      for (int64_t begin = 0; begin < d; begin += step) {
        const int64_t end = std::min(d, begin + step);
        std::vector<double> block(end - begin, 0.0);
        problem.AddGradientBlock(i, point, begin, end, block.data(), &scratch);
        ASSERT_EQ(std::memcmp(block.data(), whole.data() + begin, sizeof(double) * block.size()), 0)
            << problem.Describe() << " client " << i << " block " << begin;
      }
      if (problem.AddsGradientBlocks()) {
        const double alone = problem.Loss(i, point);
        EXPECT_EQ(std::memcmp(&alone, &loss, sizeof(double)), 0) << problem.Describe();
      }
    }
  }
}

}  // namespace
}  // namespace ef21
