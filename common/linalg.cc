#include "common/linalg.h"

#include <cmath>

#include "Eigen/Eigenvalues"

namespace ef21 {

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
  // Power iteration from a fixed, generic start; the Rayleigh quotient converges to λ_max of a PSD
  // operator from below.
  Vector x(dim), y(dim);
  for (int64_t j = 0; j < dim; ++j) x[j] = 1.0 + 0.5 * std::sin(1.0 + static_cast<double>(j));
  x /= x.norm();
  double lambda = 0.0;
  for (int it = 0; it < options.max_iterations; ++it) {
    op(x, &y);
    const double next = x.dot(y);
    const double norm = y.norm();
    if (norm == 0.0) return 0.0;
    x = y / norm;
    if (it > 0 && std::abs(next - lambda) <= options.relative_tolerance * std::abs(next)) {
      return next;
    }
    lambda = next;
  }
  return lambda;
}

}  // namespace ef21
