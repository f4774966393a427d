#include "common/nn/network_problem.h"

#include <sys/resource.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/nn/test_data.h"

namespace ef21 {
namespace {

using ::testing::HasSubstr;

// The options of every case: `model` on `data` split into `clients`.
NetworkOptions Options(const std::string& model, std::shared_ptr<const ImageData> data,
                       int64_t clients) {
  NetworkOptions o;
  o.model = model;
  o.data = std::move(data);
  o.clients = clients;
  return o;
}

std::unique_ptr<NetworkProblem> Make(NetworkOptions o) {
  absl::StatusOr<std::unique_ptr<NetworkProblem>> p = NetworkProblem::Create(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

TEST(NetworkProblemTest, ResNet20HasThePapersDimension) {
  NetworkOptions o = Options("resnet20", RandomData(10, 4, 3, 32), /*clients=*/2);
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->dim(), 269722);
  // A 1 × 28 × 28 set is fed as 3 × 32 × 32 (channel replication, 2-pixel padding): same d.
  o.data = RandomData(10, 4, 1, 28);
  auto fashion = Make(o);
  ASSERT_NE(fashion, nullptr);
  EXPECT_EQ(fashion->dim(), 269722);
  EXPECT_THAT(fashion->Describe(), HasSubstr("1x28x28 fed as 3x32x32"));
}

TEST(NetworkProblemTest, InitialPointIsSeededKaiming) {
  NetworkOptions o = Options("cnn", RandomData(10, 4, 1, 12), /*clients=*/2);
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  // conv1 16×1×5×5 + 16, conv2 32×16×5×5 + 32, fc (32·3·3)×10 + 10.
  EXPECT_EQ(p->dim(), 400 + 16 + 12800 + 32 + 2880 + 10);
  const Vector a = *p->InitialPoint(1), b = *p->InitialPoint(1), c = *p->InitialPoint(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // conv2's weights: N(0, 2/fan_in) with fan_in = 16·25 = 400.
  const Vector w = a.segment(416, 12800);
  const double variance = w.squaredNorm() / w.size();
  EXPECT_NEAR(variance, 2.0 / 400.0, 0.1 * 2.0 / 400.0);
  // conv2's bias: U(−1/20, 1/20).
  const Vector bias = a.segment(416 + 12800, 32);
  EXPECT_LE(bias.cwiseAbs().maxCoeff(), 1.0 / 20.0);
  EXPECT_GT(bias.cwiseAbs().maxCoeff(), 0.0);
  for (double v : a) EXPECT_EQ(v, static_cast<double>(static_cast<float>(v)));
}

TEST(NetworkProblemTest, ResNetBatchNormStartsAtOneAndZero) {
  NetworkOptions o = Options("resnet20", RandomData(4, 2, 3, 32), /*clients=*/1);
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  const Vector x = *p->InitialPoint(0);
  // conv1 (16·3·9 = 432 weights), then bn1: 16 scales of 1, 16 shifts of 0.
  EXPECT_EQ(x.segment(432, 16), Vector::Ones(16));
  EXPECT_EQ(x.segment(448, 16), Vector::Zero(16));
}

// f_i's flat gradient against central differences, in double precision, on the MLP.
TEST(NetworkProblemTest, MlpGradientMatchesFiniteDifferencesInDouble) {
  NetworkOptions o = Options("mlp", RandomData(24, 4, 1, 3, 4), /*clients=*/2);
  o.mlp_hidden = 6;
  o.double_precision = true;
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->dim(), 9 * 6 + 6 + 6 * 4 + 4);
  EvalPoint point;
  p->Prepare(*p->InitialPoint(3), &point);
  Vector grad;
  const double f = p->LossAndGradient(1, point, &grad);
  EXPECT_DOUBLE_EQ(f, p->Loss(1, point));
  ASSERT_EQ(grad.size(), p->dim());
  const double h = 1e-6;
  double worst = 0.0;
  for (int64_t j = 0; j < p->dim(); ++j) {
    EvalPoint plus, minus;
    Vector x = point.x();
    x[j] += h;
    p->Prepare(x, &plus);
    x[j] -= 2 * h;
    p->Prepare(x, &minus);
    const double fd = (p->Loss(1, plus) - p->Loss(1, minus)) / (2 * h);
    worst = std::max(worst, std::abs(fd - grad[j]));
  }
  EXPECT_LT(worst, 1e-8) << "max |finite difference − gradient|";
  EXPECT_GT(grad.norm(), 1e-3);
}

TEST(NetworkProblemTest, MinibatchesAreDrawnFromTheShardWithoutReplacement) {
  NetworkOptions o = Options("mlp", RandomData(500, 4, 1, 4), /*clients=*/3);
  o.seed = 11;
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  for (int64_t i = 0; i < 3; ++i) {
    const std::set<int64_t> shard(p->shard(i).begin(), p->shard(i).end());
    for (uint64_t r = 0; r < 5; ++r) {
      const std::vector<int64_t> rows = p->MinibatchRows(i, 64, r);
      EXPECT_EQ(std::set<int64_t>(rows.begin(), rows.end()).size(), 64u);
      for (int64_t row : rows) EXPECT_TRUE(shard.count(row)) << row;
      EXPECT_EQ(rows, p->MinibatchRows(i, 64, r));
      EXPECT_NE(rows, p->MinibatchRows(i, 64, r + 1));
    }
  }
}

// The minibatch gradient of every client, computed on one thread in order and on one thread per
// client at once, and by a second problem built from the same options (another process): bitwise
// the same.
TEST(NetworkProblemTest, GradientsAreBitwiseIndependentOfThreadsAndReplicas) {
  NetworkOptions o = Options("cnn", RandomData(300, 10, 1, 16), /*clients=*/4);
  o.seed = 5;
  auto p = Make(o);
  auto q = Make(o);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  EvalPoint point;
  p->Prepare(*p->InitialPoint(5), &point);
  NoiseOptions noise;
  noise.batch = 32;
  noise.seed = 5;
  std::vector<Vector> serial(4), parallel(4), other(4);
  std::vector<double> serial_loss(4), parallel_loss(4);
  for (int i = 0; i < 4; ++i) {
    serial_loss[i] = p->StochasticLossAndGradient(i, point, noise, 3, &serial[i]);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      parallel_loss[i] = p->StochasticLossAndGradient(i, point, noise, 3, &parallel[i]);
      q->StochasticGradient(i, point, noise, 3, &other[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(serial[i], parallel[i]) << "client " << i;
    EXPECT_EQ(serial[i], other[i]) << "client " << i;
    EXPECT_EQ(serial_loss[i], parallel_loss[i]);
  }
  EXPECT_NE(serial[0], serial[1]);
}

TEST(NetworkProblemTest, EvaluationIsAPureFunctionOfX) {
  NetworkOptions o = Options("cnn", RandomData(400, 300, 1, 12), /*clients=*/2);
  o.diagnostics_samples = 100;
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  EvalPoint point;
  p->Prepare(*p->InitialPoint(0), &point);
  const Evaluation a = p->Evaluate(point);
  // Training steps update the clients' batch-norm buffers and gradients; evaluation does not care.
  NoiseOptions noise;
  noise.batch = 16;
  Vector g;
  p->StochasticGradient(0, point, noise, 0, &g);
  const Evaluation b = p->Evaluate(point);
  EXPECT_EQ(a.train_accuracy, b.train_accuracy);
  EXPECT_EQ(a.test_loss, b.test_loss);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  EXPECT_GE(a.test_accuracy, 0.0);
  EXPECT_LE(a.test_accuracy, 1.0);
  EXPECT_TRUE(std::isfinite(a.test_loss));
  EXPECT_GT(a.test_loss, 0.0);
  // 100 test rows out of 300: accuracy is a multiple of 1/100.
  EXPECT_DOUBLE_EQ(a.test_accuracy * 100, std::round(a.test_accuracy * 100));
}

// x → the model's parameters → x: every coordinate back in its place (values rounded to float).
TEST(NetworkProblemTest, FlattenUnflattenRoundTrip) {
  for (const char* model : {"mlp", "cnn", "resnet20"}) {
    SCOPED_TRACE(model);
    NetworkOptions o = Options(model, RandomData(8, 2, 3, 32), /*clients=*/1);
    auto p = Make(o);
    ASSERT_NE(p, nullptr);
    Vector x(p->dim());
    for (int64_t j = 0; j < x.size(); ++j)
      x[j] = static_cast<float>(0.001 * static_cast<double>(j % 1009) - 0.5);
    EvalPoint point;
    p->Prepare(x, &point);
    NoiseOptions noise;
    noise.batch = 4;
    Vector g;
    p->StochasticGradient(0, point, noise, 0, &g);
    EXPECT_EQ(p->ReplicaParameters(0), x);
  }
}

// A pass frees its activations and the next allocates them again: with the malloc settings
// NetworkProblem::Create makes (KeepFreedMemoryForTheNextPass) they come from memory the process
// kept, not from fresh pages the kernel must fault in and zero. The CNN at batch 256 allocates
// ~40 MB a pass in blocks of up to 13 MB (~10,000 pages); glibc's defaults fault in thousands of
// pages a pass on a thread of its own.
TEST(NetworkProblemTest, RepeatedPassesReuseTheirMemory) {
  NetworkOptions o = Options("cnn", RandomData(600, 2, 1, 28), /*clients=*/2);
  auto p = Make(o);
  ASSERT_NE(p, nullptr);
  EvalPoint point;
  p->Prepare(*p->InitialPoint(1), &point);
  NoiseOptions noise;
  noise.batch = 256;
  long faults = -1;
  // On threads other than main (as the simulator's pool and the workers run clients).
  std::thread([&] {
    Vector g;
    // Warm-up: the heap reaches its high-water mark within the first few passes (where exactly
    // depends on the allocation order of everything before: one pass of ~3,100 faults at pass 3
    // since the replicas' locks became absl::Mutex); glibc's defaults fault ~3,100-6,300 pages in
    // every pass, warm or not.
    for (int r = 0; r < 6; ++r) p->StochasticGradient(r % 2, point, noise, r, &g);
    rusage before, after;
    getrusage(RUSAGE_THREAD, &before);
    for (int r = 6; r < 12; ++r) p->StochasticGradient(r % 2, point, noise, r, &g);
    getrusage(RUSAGE_THREAD, &after);
    faults = after.ru_minflt - before.ru_minflt;
  }).join();
  EXPECT_GE(faults, 0);
  EXPECT_LT(faults, 200) << "page faults in 6 passes";
}

TEST(NetworkProblemTest, RejectsBadOptions) {
  NetworkOptions o;
  o.data = RandomData(3, 2, 1, 8);
  o.clients = 4;
  absl::StatusOr<std::unique_ptr<NetworkProblem>> p = NetworkProblem::Create(o);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("fewer than the 4 clients"));
  o.clients = 1;
  o.model = "vgg";
  p = NetworkProblem::Create(o);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("unknown model \"vgg\""));
  o.model = "resnet20";
  o.data = RandomData(3, 2, 1, 40);
  p = NetworkProblem::Create(o);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("resnet20 takes 3x32x32 images"));
  o.model = "/nonexistent/model.pt";
  o.data = RandomData(3, 2, 1, 8);
  p = NetworkProblem::Create(o);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(),
              HasSubstr("cannot load TorchScript module \"/nonexistent/model.pt\""));
}

}  // namespace
}  // namespace ef21
