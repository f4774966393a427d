// Networks inside the round loop: the simulator drives a NetworkProblem exactly as any problem.
#include <cmath>

#include "common/nn/network_problem.h"
#include "common/run/run_log.h"
#include "common/run/simulator.h"
#include "gtest/gtest.h"
#include "tests/nn/test_data.h"

namespace ef21 {
namespace {

NetworkOptions SmallCnn() {
  NetworkOptions o;
  o.model = "cnn";
  o.data = RandomData(240, 60, 1, 8);
  o.clients = 3;
  o.seed = 4;
  o.diagnostics_samples = 30;
  return o;
}

RunConfig NetworkConfig() {
  RunConfig c;
  c.problem = ProblemKind::kNetwork;
  c.clients = 3;
  c.seed = 4;
  c.batch = 16;
  c.rounds = 6;
  c.threads = 2;
  return c;
}

// EF21 with the identity compressor sends c_i = v_i − g_i, so g_i = v_i and g = mean v_i: the run
// is plain minibatch SGD on the flat parameters, x^{r+1} = x^r − γ (1/n) Σ_i ∇f_i(x^r; ξ_i^r).
TEST(NetworkTrainingTest, IdentityEf21IsPlainSgdOnTheFlatParameters) {
  RunConfig c = NetworkConfig();
  c.algorithm = Algorithm::kEf21;
  c.compressor = CompressorKind::kIdentity;
  c.stepsize = StepsizeRule::kConstant;
  c.gamma = 0.5;
  c.value_type = ValueType::kF64;
  // In double precision, so that the two sums' last-bit differences are not magnified by rounding
  // x to float for the model.
  NetworkOptions options = SmallCnn();
  options.double_precision = true;
  auto problem = NetworkProblem::Create(options);
  ASSERT_TRUE(problem.ok()) << problem.status();
  const Vector x0 = *(*problem)->InitialPoint(c.seed);
  auto sim = Simulator::Create(c, std::shared_ptr<const Problem>(*std::move(problem)), x0);
  ASSERT_TRUE(sim.ok()) << sim.status();
  ASSERT_TRUE((*sim)->Run(nullptr).ok());

  // The same SGD by hand, on a second problem built from the same options.
  auto reference = NetworkProblem::Create(options);
  ASSERT_TRUE(reference.ok());
  NoiseOptions noise;
  noise.batch = c.batch;
  noise.seed = c.seed;
  Vector x = x0, grad, mean;
  for (uint64_t r = 0; r <= static_cast<uint64_t>(c.rounds); ++r) {
    EvalPoint point;
    (*reference)->Prepare(x, &point);
    mean = Vector::Zero(x.size());
    for (int64_t i = 0; i < c.clients; ++i) {
      (*reference)->StochasticGradient(i, point, noise, r, &grad);
      mean += grad / static_cast<double>(c.clients);
    }
    x -= *c.gamma * mean;
  }
  const Vector& simulated = (*sim)->server().x();
  EXPECT_GT((simulated - x0).norm(), 1e-2);  // it moved
  EXPECT_LT((simulated - x).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(NetworkTrainingTest, DiagnosticRoundsCarryAccuracyAndTheThreadCountChangesNothing) {
  RunConfig c = NetworkConfig();
  c.algorithm = Algorithm::kNormEf21;
  c.k = 500;
  c.diagnostics_every = 3;
  std::vector<std::vector<MetricsRow>> runs;
  for (int64_t threads : {1, 3}) {
    c.threads = threads;
    auto problem = NetworkProblem::Create(SmallCnn());
    ASSERT_TRUE(problem.ok());
    const Vector x0 = *(*problem)->InitialPoint(c.seed);
    auto sim = Simulator::Create(c, std::shared_ptr<const Problem>(*std::move(problem)), x0);
    ASSERT_TRUE(sim.ok()) << sim.status();
    auto log = RunLog::Create("", c.ToJson(), c.eps);
    ASSERT_TRUE(log.ok());
    std::vector<MetricsRow>& rows = runs.emplace_back();
    ASSERT_TRUE(
        (*sim)->Run(log->get(), [&rows](const MetricsRow& row) { rows.push_back(row); }).ok());
  }
  ASSERT_EQ(runs[0].size(), 7u);
  for (size_t r = 0; r < runs[0].size(); ++r) {
    const MetricsRow& a = runs[0][r];
    const MetricsRow& b = runs[1][r];
    const bool diagnostic = r % 3 == 0 || r == 6;
    EXPECT_EQ(std::isnan(a.test_accuracy), !diagnostic) << "round " << r;
    EXPECT_EQ(std::isnan(a.grad_norm), !diagnostic) << "round " << r;
    EXPECT_EQ(a.loss, b.loss) << "round " << r;
    EXPECT_EQ(a.g_norm, b.g_norm) << "round " << r;
    if (diagnostic) {
      EXPECT_EQ(a.grad_norm_sq, b.grad_norm_sq);
      EXPECT_EQ(a.test_accuracy, b.test_accuracy);
      EXPECT_EQ(a.train_accuracy, b.train_accuracy);
      EXPECT_EQ(a.test_loss, b.test_loss);
      EXPECT_TRUE(a.train_accuracy >= 0.0 && a.train_accuracy <= 1.0);
    }
  }
}

// --init=shard: g_i^0 is the gradient over the client's whole shard (80 rows), not the round-0
// minibatch (16 rows) nor the diagnostics' subsample (10 rows), and the same for any thread count.
TEST(NetworkTrainingTest, ShardInitSendsTheWholeShardGradient) {
  RunConfig c = NetworkConfig();
  c.algorithm = Algorithm::kNormEf21;
  c.k = 500;
  c.stepsize = StepsizeRule::kConstant;
  c.gamma = 0.5;
  c.init = InitKind::kShard;
  auto reference = NetworkProblem::Create(SmallCnn());
  ASSERT_TRUE(reference.ok());
  const Vector x0 = *(*reference)->InitialPoint(c.seed);
  EvalPoint point;
  (*reference)->Prepare(x0, &point);
  NoiseOptions noise;
  noise.batch = c.batch;
  noise.seed = c.seed;
  std::vector<Vector> after_round_1;
  for (int64_t threads : {1, 3}) {
    c.threads = threads;
    auto problem = NetworkProblem::Create(SmallCnn());
    ASSERT_TRUE(problem.ok());
    auto sim = Simulator::Create(c, std::shared_ptr<const Problem>(*std::move(problem)), x0);
    ASSERT_TRUE(sim.ok()) << sim.status();
    ASSERT_TRUE((*sim)->RunRound(nullptr));
    for (int64_t i = 0; i < c.clients; ++i) {
      SCOPED_TRACE(i);
      EXPECT_TRUE((*sim)->messages()[i].c.dense);
      Vector shard, minibatch, diagnostic;
      (*reference)->ShardLossAndGradient(i, point, &shard);
      (*reference)->StochasticGradient(i, point, noise, 0, &minibatch);
      (*reference)->LossAndGradient(i, point, &diagnostic);
      // Sent as float32: g_i^0 is the shard gradient rounded to float.
      const Vector sent = shard.cast<float>().cast<double>();
      EXPECT_EQ((*sim)->client(i).g(), sent);
      EXPECT_NE(sent, minibatch.cast<float>().cast<double>());
      EXPECT_NE(sent, diagnostic.cast<float>().cast<double>());
    }
    ASSERT_TRUE((*sim)->RunRound(nullptr));
    after_round_1.push_back((*sim)->server().x());
  }
  EXPECT_EQ(after_round_1[0], after_round_1[1]);
}

TEST(NetworkTrainingTest, ConfigRejectsStepsizesThatNeedConstants) {
  RunConfig c = NetworkConfig();
  c.algorithm = Algorithm::kEf21;
  c.stepsize = StepsizeRule::kTheory;
  absl::Status s = c.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--stepsize=constant"), std::string::npos) << s;
  c.algorithm = Algorithm::kNormEf21;
  EXPECT_TRUE(c.Validate().ok());
  c.dataset = "cifar10";
  s = c.Validate();
  EXPECT_NE(s.message().find("--dataset=cifar10 needs --data=DIR"), std::string::npos) << s;
}

}  // namespace
}  // namespace ef21
