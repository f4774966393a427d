#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Eigenvalues"
#include "absl/strings/str_cat.h"
#include "common/base/linalg.h"
#include "common/base/rng.h"
#include "common/compress/compressor.h"
#include "common/methods/stepsize.h"
#include "common/problems/dataset.h"
#include "common/problems/logistic.h"
#include "common/problems/polynomial.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

// Central differences with step h; error O(h²) for smooth f.
Vector FiniteDifferenceGradient(const Problem& p, int64_t client, const Vector& x, double h) {
  Vector g(x.size());
  EvalPoint point;
  for (Eigen::Index j = 0; j < x.size(); ++j) {
    Vector xp = x, xm = x;
    xp[j] += h;
    xm[j] -= h;
    p.Prepare(xp, &point);
    const double fp = p.Loss(client, point);
    p.Prepare(xm, &point);
    const double fm = p.Loss(client, point);
    g[j] = (fp - fm) / (2 * h);
  }
  return g;
}

Vector Gaussian(int64_t d, uint64_t seed, double mean = 0.0) {
  CounterRng rng(seed, Purpose::kX0, 5, 5);
  Vector x(d);
  for (int64_t j = 0; j < d; ++j) x[j] = mean + rng.NextGaussian();
  return x;
}

TEST(PolynomialTest, GradientMatchesFiniteDifferences) {
  auto p = Polynomial::Create({.dim = 4, .L0 = 4, .L1 = 1});
  ASSERT_TRUE(p.ok());
  for (uint64_t seed = 0; seed < 5; ++seed) {
    for (double mean : {0.0, 3.0, 20.0}) {
      const Vector x = Gaussian(4, seed, mean);
      EvalPoint point;
      (*p)->Prepare(x, &point);
      Vector g;
      (*p)->LossAndGradient(0, point, &g);
      const Vector fd = FiniteDifferenceGradient(**p, 0, x, 1e-5 * (1 + std::abs(mean)));
      EXPECT_LE((g - fd).norm(), 1e-6 * (1 + g.norm())) << "seed " << seed << " mean " << mean;
    }
  }
}

// LossAndAddGradient (the round closer's diagnostics) must give the bits of LossAndGradient and of
// adding its gradient to a sum: simulate ≡ run relies on it. With `loss_alone`, so must Loss (the
// polynomial's; the logistic's divides by m where LossAndGradient multiplies by 1/m).
void ExpectSameBitsAsLossAndGradient(const Problem& p, int64_t client, const Vector& x,
                                     const std::string& where, bool loss_alone) {
  EvalPoint point;
  p.Prepare(x, &point);
  Vector gradient;
  const double loss = p.LossAndGradient(client, point, &gradient);
  if (loss_alone) {
    const double alone = p.Loss(client, point);
    EXPECT_EQ(std::memcmp(&loss, &alone, sizeof(double)), 0)
        << where << ": " << loss << " vs " << alone;
  }
  // A sum that already holds another client's gradient, as in the round closer.
  const Vector before = Gaussian(x.size(), 99, 1e3);
  Vector expected = before;
  for (Eigen::Index j = 0; j < x.size(); ++j) expected[j] += gradient[j];
  Vector sum = before;
  Vector scratch;
  const double added = p.LossAndAddGradient(client, point, &sum, &scratch);
  EXPECT_EQ(std::memcmp(&loss, &added, sizeof(double)), 0) << where;
  ASSERT_EQ(sum.size(), expected.size());
  EXPECT_EQ(std::memcmp(sum.data(), expected.data(), sizeof(double) * sum.size()), 0) << where;
}

TEST(PolynomialTest, LossAndAddGradientGiveLossAndGradientsBitsWithoutABuffer) {
  auto p = Polynomial::Create({.dim = 1000, .L0 = 4, .L1 = 1, .clients = 2});
  ASSERT_TRUE(p.ok());
  for (uint64_t seed = 0; seed < 5; ++seed) {
    for (double mean : {0.0, 3.0, 20.0}) {
      ExpectSameBitsAsLossAndGradient(**p, 1, Gaussian(1000, seed, mean),
                                      absl::StrCat("seed ", seed, " mean ", mean),
                                      /*loss_alone=*/true);
    }
  }
  // The polynomial adds ∂_j f_i in place: the scratch buffer stays untouched.
  EvalPoint point;
  (*p)->Prepare(Gaussian(1000, 0, 1.0), &point);
  Vector sum = Vector::Zero(1000), scratch;
  (*p)->LossAndAddGradient(0, point, &sum, &scratch);
  EXPECT_EQ(scratch.size(), 0);
}

TEST(PolynomialTest, ConstantsFollowSpec) {
  auto p = Polynomial::Create({.dim = 4, .L0 = 4, .L1 = 8});
  ASSERT_TRUE(p.ok());
  const double lambda = 4.0 / (9.0 * 16 / (2.0 * 64) + 2.0);
  EXPECT_DOUBLE_EQ((*p)->lambda(), lambda);
  const SmoothnessConstants c = (*p)->Constants();
  EXPECT_NEAR(c.L0, 4.0, 1e-12);
  EXPECT_EQ(c.L1, 8.0);
  EXPECT_DOUBLE_EQ(c.L, lambda * 2.0 * 400 / 2 + 2 * lambda);
  // (L0, L1)-smoothness holds where it matters: ‖∇²f(x)‖ ≤ L0 + L1‖∇f(x)‖ at random points.
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Vector x = Gaussian(4, seed, seed % 2 ? 0.0 : 5.0);
    EvalPoint point;
    (*p)->Prepare(x, &point);
    Vector g;
    (*p)->LossAndGradient(0, point, &g);
    double hess = 0;  // diagonal Hessian: max |f''(x_j)|
    for (int j = 0; j < 4; ++j) {
      const double xj = x[j], q = 1 + xj * xj;
      hess = std::max(
          hess, std::abs(lambda / 2 * xj * xj + 2 * lambda * (1 - 3 * xj * xj) / (q * q * q)));
    }
    EXPECT_LE(hess, c.L0 + c.L1 * g.norm());
  }
  EXPECT_FALSE(Polynomial::Create({.dim = 0}).ok());
  EXPECT_FALSE(Polynomial::Create({.dim = 4, .L0 = 4, .L1 = 0}).ok());
}

std::shared_ptr<Dataset> SmallDataset() {
  // 5 rows x 3 features, one row empty.
  auto d = std::make_shared<Dataset>();
  d->rows = 5;
  d->cols = 3;
  d->row_offsets = {0, 2, 3, 6, 6, 8};
  d->col_indices = {0, 2, 1, 0, 1, 2, 0, 1};
  d->values = {1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.25, 4.0};
  d->labels = {1, -1, 1, -1, 1};
  return d;
}

Eigen::MatrixXd DenseRows(const Dataset& d, int64_t begin, int64_t end) {
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(end - begin, d.cols);
  for (int64_t r = begin; r < end; ++r) {
    for (int64_t e = d.row_offsets[r]; e < d.row_offsets[r + 1]; ++e)
      a(r - begin, d.col_indices[e]) = d.values[e];
  }
  return a;
}

double MaxEig(const Eigen::MatrixXd& m) {
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(m).eigenvalues().maxCoeff();
}

TEST(LogisticTest, LossAndGradientMatchDefinitionAndFiniteDifferences) {
  for (Split split : {Split::kRow, Split::kContiguous}) {
    LogisticOptions options{.lambda = 0.1, .split = split, .clients = split == Split::kRow ? 0 : 2};
    auto p = Logistic::Create(SmallDataset(), options);
    ASSERT_TRUE(p.ok()) << p.status();
    for (int64_t i = 0; i < (*p)->num_clients(); ++i) {
      for (uint64_t seed = 0; seed < 4; ++seed) {
        const Vector x =
            Gaussian(3, seed) * (seed == 3 ? 30.0 : 1.0);  // large |z| exercises stability
        EvalPoint point;
        (*p)->Prepare(x, &point);
        Vector g;
        const double f = (*p)->LossAndGradient(i, point, &g);
        EXPECT_DOUBLE_EQ(f, (*p)->Loss(i, point));
        // Direct evaluation of the definition.
        const Eigen::MatrixXd a = DenseRows((*p)->data(), (*p)->RowBegin(i), (*p)->RowEnd(i));
        double expected = 0;
        for (int r = 0; r < a.rows(); ++r) {
          const double z = (*p)->data().labels[(*p)->RowBegin(i) + r] * a.row(r).dot(x);
          expected += z > 0 ? std::log1p(std::exp(-z)) : -z + std::log1p(std::exp(z));
        }
        expected /= a.rows();
        for (int l = 0; l < 3; ++l) expected += 0.1 * x[l] * x[l] / (1 + x[l] * x[l]);
        EXPECT_NEAR(f, expected, 1e-12 * (1 + std::abs(expected)));
        const Vector fd = FiniteDifferenceGradient(**p, i, x, 1e-6);
        EXPECT_LE((g - fd).norm(), 1e-7 * (1 + g.norm())) << "client " << i << " seed " << seed;
      }
    }
  }
}

// Columns 3–6 have the same exact gradient at x = 0, 1/24, from rows summed in different orders
// (labels +1, +1, −1; slopes −½, −½, +½; dyadic values, so the row sums are exact). The true
// values tie, so top-k must keep the lowest index among them (SPEC §2), not whichever an ulp of
// rounding happened to favour.
TEST(LogisticTest, LossAndAddGradientGiveLossAndGradientsBits) {
  for (Split split : {Split::kRow, Split::kContiguous}) {
    LogisticOptions options{.lambda = 0.1, .split = split, .clients = split == Split::kRow ? 0 : 2};
    auto p = Logistic::Create(SmallDataset(), options);
    ASSERT_TRUE(p.ok()) << p.status();
    for (int64_t i = 0; i < (*p)->num_clients(); ++i) {
      for (uint64_t seed = 0; seed < 4; ++seed) {
        ExpectSameBitsAsLossAndGradient(**p, i, Gaussian(3, seed) * (seed == 3 ? 30.0 : 1.0),
                                        absl::StrCat("client ", i, " seed ", seed),
                                        /*loss_alone=*/false);
      }
    }
  }
}

TEST(LogisticTest, ExactTiesSurviveSummationOrder) {
  const char* text =
      "+1 5:0.25 6:0.25\n"
      "+1 4:0.5 5:0.25 6:0.5\n"
      "-1 1:2 2:1.5 3:0.25 4:0.75 5:0.75 6:1\n";
  auto data = ParseLibsvm(text, "ties");
  ASSERT_TRUE(data.ok()) << data.status();
  auto p = Logistic::Create(std::make_shared<const Dataset>(*std::move(data)),
                            {.lambda = 0.1, .split = Split::kContiguous, .clients = 1});
  ASSERT_TRUE(p.ok()) << p.status();
  EvalPoint point;
  (*p)->Prepare(Vector::Zero(6), &point);
  Vector g;
  (*p)->LossAndGradient(0, point, &g);
  EXPECT_DOUBLE_EQ(g[0], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(g[1], 0.25);
  for (int j = 2; j < 6; ++j) {
    EXPECT_EQ(g[j], g[2]) << "coordinate " << j << " differs from coordinate 2 by rounding";
    EXPECT_DOUBLE_EQ(g[j], 1.0 / 24.0);
  }
  for (int64_t k = 3; k <= 5; ++k) {
    auto top_k = CreateCompressor({.kind = CompressorKind::kTopK, .k = k, .dim = 6});
    ASSERT_TRUE(top_k.ok());
    SparseVector c;
    (*top_k)->Compress(g, {0, 0, 0}, &c);
    std::vector<int32_t> expected;
    for (int32_t j = 0; j < k; ++j) expected.push_back(j);
    EXPECT_EQ(c.indices, expected) << "k = " << k;
  }
}

TEST(LogisticTest, ContiguousSplitGivesLastBlockTheRemainder) {
  auto p =
      Logistic::Create(SmallDataset(), {.lambda = 0.1, .split = Split::kContiguous, .clients = 2});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->RowBegin(0), 0);
  EXPECT_EQ((*p)->RowEnd(0), 2);
  EXPECT_EQ((*p)->RowBegin(1), 2);
  EXPECT_EQ((*p)->RowEnd(1), 5);
  EXPECT_FALSE(Logistic::Create(SmallDataset(), {.split = Split::kContiguous, .clients = 6}).ok());
}

TEST(LogisticTest, ConstantsMatchClosedForms) {
  const double lambda = 0.1;
  for (Split split : {Split::kRow, Split::kContiguous}) {
    auto p = Logistic::Create(
        SmallDataset(),
        {.lambda = lambda, .split = split, .clients = split == Split::kRow ? 0 : 2});
    ASSERT_TRUE(p.ok());
    const Dataset& d = (*p)->data();
    const SmoothnessConstants c = (*p)->Constants();
    const int64_t n = (*p)->num_clients();
    Eigen::MatrixXd mean = Eigen::MatrixXd::Zero(3, 3);
    double max_row = 0;
    for (int64_t r = 0; r < d.rows; ++r)
      max_row = std::max(max_row, std::sqrt(d.RowSquaredNorm(r)));
    for (int64_t i = 0; i < n; ++i) {
      const Eigen::MatrixXd a = DenseRows(d, (*p)->RowBegin(i), (*p)->RowEnd(i));
      const Eigen::MatrixXd ata = a.transpose() * a / (4.0 * a.rows());
      EXPECT_NEAR(c.L_i[i], MaxEig(ata) + 2 * lambda, 1e-12) << "client " << i;
      mean += ata / n;
    }
    EXPECT_NEAR(c.L, MaxEig(mean) + 2 * lambda, 1e-12);
    EXPECT_DOUBLE_EQ(c.L1, max_row);
    EXPECT_DOUBLE_EQ(c.L0, 2 * lambda + lambda * std::sqrt(3.0) * max_row);
  }
}

// The data fingerprint covers every coordinate of every row: issue 10 found a worker whose data
// differed from the aggregator's only in feature 4, where the old probe point was zero.
TEST(LogisticTest, DataDigestChangesWithAnyCoordinateOrLabel) {
  const std::string base = "1 1:0.5 4:0.25 5:2\n-1 2:1 4:-1\n1 3:3\n-1 1:1\n";
  LogisticOptions options;
  options.split = Split::kContiguous;
  options.clients = 2;
  auto digests = [&](const std::string& text) {
    auto data = ParseLibsvm(text, "digest.svm");
    EXPECT_TRUE(data.ok()) << data.status();
    auto problem = Logistic::Create(std::make_shared<Dataset>(*data), options);
    EXPECT_TRUE(problem.ok()) << problem.status();
    return std::vector<uint64_t>{(*problem)->DataDigest(0), (*problem)->DataDigest(1)};
  };
  const std::vector<uint64_t> reference = digests(base);
  EXPECT_EQ(digests(base), reference);
  EXPECT_NE(reference[0], reference[1]);
  for (const std::string& changed : {
           std::string("1 1:0.5 4:0.26 5:2\n-1 2:1 4:-1\n1 3:3\n-1 1:1\n"),    // feature 4, row 0
           std::string("1 1:0.5 4:0.25 5:2\n-1 2:1 4:-1.5\n1 3:3\n-1 1:1\n"),  // feature 4, row 1
           std::string("1 1:0.5 4:0.25 5:2\n1 2:1 4:-1\n1 3:3\n-1 1:1\n"),     // a label
           std::string("1 2:0.5 4:0.25 5:2\n-1 2:1 4:-1\n1 3:3\n-1 1:1\n"),    // an index
       }) {
    SCOPED_TRACE(changed);
    EXPECT_NE(digests(changed)[0], reference[0]);
    EXPECT_EQ(digests(changed)[1], reference[1]);
  }
  // Rows 2 and 3 belong to client 1.
  EXPECT_NE(digests("1 1:0.5 4:0.25 5:2\n-1 2:1 4:-1\n1 3:3.5\n-1 1:1\n")[1], reference[1]);
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(double)) == 0; }

// Issue 11 item 5: what each client reports from its own rows (a worker holding only its shard
// computes it) combines to the constants of the whole problem bit for bit — L_i, L0 and L1 equal
// the closed forms over all rows exactly — so a stepsize planned from the reports is the one
// planned from the data, for every rule that reads them. Workers build their own problem: each
// client's report comes from a separate instance here.
TEST(ClientConstantsTest, ReportsCombineToTheProblemsConstantsBitForBit) {
  std::vector<std::pair<std::string, std::function<std::unique_ptr<Problem>()>>> problems;
  for (const auto& [split, clients] : std::vector<std::pair<Split, int64_t>>{
           {Split::kRow, 0}, {Split::kContiguous, 2}, {Split::kContiguous, 3}}) {
    problems.push_back({absl::StrCat("small ", SplitName(split), " ", clients), [=] {
                          return *Logistic::Create(
                              SmallDataset(), {.lambda = 0.1, .split = split, .clients = clients});
                        }});
  }
  problems.push_back({"synthetic 40x600 (Lanczos) in 7 blocks", [] {
                        return *Logistic::Create(
                            std::make_shared<Dataset>(MakeSyntheticDataset(40, 600, 3)),
                            {.lambda = 0.05, .split = Split::kContiguous, .clients = 7});
                      }});
  problems.push_back(
      {"polynomial, 3 clients",
       [] { return *Polynomial::Create({.dim = 4, .L0 = 4, .L1 = 8, .clients = 3, .box = 20}); }});
  for (const auto& [name, make] : problems) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Problem> whole = make();
    const SmoothnessConstants from_data = whole->Constants();
    std::vector<ClientConstants> reports(whole->num_clients());
    int64_t rows = 0;
    for (int64_t i = 0; i < whole->num_clients(); ++i) {
      reports[i] = make()->ClientSmoothness(i);
      rows += reports[i].rows;
      EXPECT_GE(reports[i].rows, 1);
    }
    const SmoothnessConstants combined =
        CombineClientConstants(reports, std::numeric_limits<double>::quiet_NaN());
    ASSERT_EQ(combined.L_i.size(), from_data.L_i.size());
    for (size_t i = 0; i < combined.L_i.size(); ++i) {
      EXPECT_TRUE(SameBits(combined.L_i[i], from_data.L_i[i])) << "L_" << i;
    }
    EXPECT_TRUE(SameBits(combined.L0, from_data.L0));
    EXPECT_TRUE(SameBits(combined.L1, from_data.L1));
    EXPECT_TRUE(SameBits(combined.LTilde(), from_data.LTilde()));
    if (const auto* logistic = dynamic_cast<const Logistic*>(whole.get())) {
      EXPECT_EQ(rows, logistic->data().rows);
      // The closed forms over all rows at once, as the problem computed them before reports.
      double max_row = 0.0;
      for (int64_t r = 0; r < logistic->data().rows; ++r)
        max_row = std::max(max_row, std::sqrt(logistic->data().RowSquaredNorm(r)));
      const double lambda = name.rfind("synthetic", 0) == 0 ? 0.05 : 0.1;
      EXPECT_TRUE(SameBits(combined.L1, max_row));
      EXPECT_TRUE(
          SameBits(combined.L0,
                   2.0 * lambda + lambda * std::sqrt(static_cast<double>(whole->dim())) * max_row));
    }
    // Every rule that reads the reported constants plans the same γ and η, bit for bit (L, which
    // no report gives, is the data's in both for EF21's Theorem 1).
    SmoothnessConstants with_l = combined;
    with_l.L = from_data.L;
    struct Rule {
      StepsizeRule rule;
      Algorithm algorithm;
    };
    for (const Rule& r : {Rule{StepsizeRule::kTheoryL1, Algorithm::kNormEf21},
                          Rule{StepsizeRule::kTheory, Algorithm::kNormEf21Sgdm},
                          Rule{StepsizeRule::kTheory, Algorithm::kNormSgdm},
                          Rule{StepsizeRule::kTheory, Algorithm::kEf21},
                          Rule{StepsizeRule::kTheory, Algorithm::kEf14}}) {
      StepsizeOptions options;
      options.rule = r.rule;
      const double alpha = 1.0 / static_cast<double>(whole->dim());
      auto a = PlanStepsize(options, r.algorithm, 100, from_data, alpha);
      auto b = PlanStepsize(options, r.algorithm, 100, with_l, alpha);
      ASSERT_TRUE(a.ok() && b.ok()) << AlgorithmName(r.algorithm);
      EXPECT_TRUE(SameBits(a->gamma, b->gamma)) << AlgorithmName(r.algorithm);
      EXPECT_TRUE(SameBits(a->eta, b->eta)) << AlgorithmName(r.algorithm);
      EXPECT_EQ(a->rule, b->rule);
    }
  }
}

TEST(LinalgTest, PowerIterationMatchesDenseSolverWithoutFormingTheMatrix) {
  // A 600x600 PSD operator applied as B Bᵀ x, never formed, against the dense eigen solver.
  const int d = 600;
  Eigen::MatrixXd b(d, 40);
  CounterRng rng(1, Purpose::kNoise, 0, 0);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < 40; ++j) b(i, j) = rng.NextGaussian();
  int applications = 0;
  auto op = [&](const Vector& x, Vector* y) {
    ++applications;
    *y = b * (b.transpose() * x);
  };
  const double power = LargestEigenvalue(op, d, {.dense_max_dim = 0});
  const double exact = MaxEig(b * b.transpose());
  EXPECT_NEAR(power, exact, 1e-9 * exact);
  EXPECT_LT(applications, 100000);
}

}  // namespace
}  // namespace ef21
