// λ_max of AᵀA/m without forming it (the logreg smoothness constant for large d): ef21's own
// Lanczos (common/base/linalg.h) side by side with Spectra 1.0's SymEigsSolver (implicitly
// restarted Lanczos) on the same operators, with the values they find.
//   wide:  A is 200 × 20000 Gaussian (rank 200, d = 20000)  — the synthetic large-d case
//   row:   A is one row of it (rank 1) — a client of --split=row
// The result decided to keep the own solver (common/base/linalg.h says why, with the numbers).
#include <cmath>
#include <cstdio>

#include "Eigen/Dense"
#include "Spectra/SymEigsSolver.h"
#include "bench/ratio_reporter.h"
#include "common/base/linalg.h"
#include "common/base/rng.h"

namespace ef21 {
namespace {

const Eigen::MatrixXd& Wide() {
  static const Eigen::MatrixXd a = [] {
    Eigen::MatrixXd a(200, 20000);
    CounterRng rng(7, Purpose::kNoise, 0, 0);
    for (Eigen::Index j = 0; j < a.cols(); ++j)
      for (Eigen::Index i = 0; i < a.rows(); ++i) a(i, j) = rng.NextGaussian();
    return a;
  }();
  return a;
}

SymmetricOperator Gram(const Eigen::MatrixXd& a) {
  return [&a](const Vector& x, Vector* y) { *y = a.transpose() * (a * x) / a.rows(); };
}

// Spectra's interface to the same operator.
class SpectraOp {
 public:
  using Scalar = double;
  SpectraOp(const SymmetricOperator& op, int64_t dim) : op_(op), dim_(dim), x_(dim), y_(dim) {}
  Eigen::Index rows() const { return dim_; }
  Eigen::Index cols() const { return dim_; }
  void perform_op(const double* in, double* out) const {
    x_ = Eigen::Map<const Vector>(in, dim_);
    op_(x_, &y_);
    Eigen::Map<Vector>(out, dim_) = y_;
  }

 private:
  const SymmetricOperator& op_;
  int64_t dim_;
  mutable Vector x_, y_;
};

double SpectraLargest(const SymmetricOperator& op, int64_t dim) {
  SpectraOp sop(op, dim);
  Spectra::SymEigsSolver<SpectraOp> eigs(sop, 1, std::min<int64_t>(dim, 20));
  eigs.init();
  eigs.compute(Spectra::SortRule::LargestAlge, 3000, 1e-10);
  return eigs.info() == Spectra::CompInfo::Successful ? eigs.eigenvalues()[0] : -1.0;
}

double ours_wide = 0, spectra_wide = 0, ours_row = 0, spectra_row = 0;

void BM_OursWide(benchmark::State& state) {
  const SymmetricOperator op = Gram(Wide());
  for (auto _ : state) ours_wide = LargestEigenvalue(op, Wide().cols());
}
BENCHMARK(BM_OursWide)->Unit(benchmark::kMillisecond)->MinTime(2);

void BM_SpectraWide(benchmark::State& state) {
  const SymmetricOperator op = Gram(Wide());
  for (auto _ : state) spectra_wide = SpectraLargest(op, Wide().cols());
}
BENCHMARK(BM_SpectraWide)->Unit(benchmark::kMillisecond)->MinTime(2);

const Eigen::MatrixXd& Row() {
  static const Eigen::MatrixXd r = Wide().topRows(1);
  return r;
}

void BM_OursRow(benchmark::State& state) {
  const SymmetricOperator op = Gram(Row());
  for (auto _ : state) ours_row = LargestEigenvalue(op, Row().cols());
}
BENCHMARK(BM_OursRow)->Unit(benchmark::kMicrosecond);

void BM_SpectraRow(benchmark::State& state) {
  const SymmetricOperator op = Gram(Row());
  for (auto _ : state) spectra_row = SpectraLargest(op, Row().cols());
}
BENCHMARK(BM_SpectraRow)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  ef21::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  using ef21::ours_row, ef21::ours_wide, ef21::spectra_row, ef21::spectra_wide;
  const double exact_row = ef21::Row().squaredNorm();
  // λ_max(AᵀA/m) = λ_max(AAᵀ/m): a dense 200 × 200 eigenproblem, solved exactly for reference.
  const Eigen::MatrixXd small = ef21::Wide() * ef21::Wide().transpose() / ef21::Wide().rows();
  const double exact_wide =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(small).eigenvalues().maxCoeff();
  std::printf(
      "\nwide (200 x 20000, exact %.15g): ours %.15g (rel. error %.2e), Spectra %.15g "
      "(rel. error %.2e); Spectra/ours time %.2fx\n",
      exact_wide, ours_wide, std::abs(ours_wide - exact_wide) / exact_wide, spectra_wide,
      std::abs(spectra_wide - exact_wide) / exact_wide,
      reporter.Nanoseconds("BM_SpectraWide/min_time:2.000") /
          reporter.Nanoseconds("BM_OursWide/min_time:2.000"));
  std::printf("row (rank 1, exact %.15g): ours %.15g, Spectra %.15g; Spectra/ours time %.2fx\n",
              exact_row, ours_row, spectra_row,
              reporter.Nanoseconds("BM_SpectraRow") / reporter.Nanoseconds("BM_OursRow"));
  return 0;
}
