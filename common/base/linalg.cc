#include "common/base/linalg.h"

#include <cmath>
#include <vector>

#include "Eigen/Eigenvalues"

namespace ef21 {
namespace {

// Largest eigenvalue of the symmetric tridiagonal matrix with diagonal a and off-diagonal b.
double TridiagonalMax(const std::vector<double>& a, const std::vector<double>& b) {
  const Eigen::Index k = static_cast<Eigen::Index>(a.size());
  if (k == 1) return a[0];
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
  solver.computeFromTridiagonal(Eigen::Map<const Vector>(a.data(), k),
                                Eigen::Map<const Vector>(b.data(), k - 1), Eigen::EigenvaluesOnly);
  return solver.eigenvalues().maxCoeff();
}

}  // namespace

double LargestEigenvalue(const SymmetricOperator& op, int64_t dim, const EigenOptions& options) {
  if (dim <= 0) return 0.0;
  if (dim <= options.dense_max_dim) {
    Eigen::MatrixXd m(dim, dim);
    Vector e = Vector::Zero(dim), column(dim);
    for (int64_t j = 0; j < dim; ++j) {
      e[j] = 1.0;
      op(e, &column);
      m.col(j) = column;
      e[j] = 0.0;
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(0.5 * (m + m.transpose()),
                                                          Eigen::EigenvaluesOnly);
    return solver.eigenvalues().maxCoeff();
  }
  // Lanczos: q_{j+1} β_j = M q_j − α_j q_j − β_{j−1} q_{j−1}, α_j = q_jᵀ M q_j; the largest
  // eigenvalue of the tridiagonal T_j = tridiag(β, α, β) approaches λ_max(M) from below.
  Vector q(dim), q_prev = Vector::Zero(dim), w(dim);
  for (int64_t j = 0; j < dim; ++j) q[j] = 1.0 + 0.5 * std::sin(1.0 + static_cast<double>(j));
  q /= q.norm();
  std::vector<double> alpha, beta;
  double theta = 0.0, theta_before = -1.0;
  int stable = 0;
  double beta_prev = 0.0;
  for (int it = 0; it < options.max_iterations && it < dim; ++it) {
    op(q, &w);
    const double a = q.dot(w);
    w -= a * q + beta_prev * q_prev;
    const double b = w.norm();
    alpha.push_back(a);
    theta = TridiagonalMax(alpha, beta);
    stable = std::abs(theta - theta_before) <= options.relative_tolerance * std::abs(theta)
                 ? stable + 1
                 : 0;
    theta_before = theta;
    if (stable >= 5 || b <= 1e-14 * std::abs(theta)) break;
    beta.push_back(b);
    q_prev = q;
    q = w / b;
    beta_prev = b;
  }
  return theta;
}

}  // namespace ef21
