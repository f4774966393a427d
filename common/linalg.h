// Largest eigenvalue of a symmetric positive semidefinite operator, for smoothness constants.
// Small operators are formed densely and solved exactly; large ones are only ever applied
// (power iteration), never formed as a dense d×d matrix.
#ifndef EF21_COMMON_LINALG_H_
#define EF21_COMMON_LINALG_H_

#include <cstdint>
#include <functional>

#include "common/vector.h"

namespace ef21 {

// y = M x for a symmetric PSD M of size `dim`.
using SymmetricOperator = std::function<void(const Vector& x, Vector* y)>;

struct EigenOptions {
  int64_t dense_max_dim = 512;    // at or below: form M by applying it to the unit vectors
  int max_iterations = 100000;
  double relative_tolerance = 1e-13;
};

double LargestEigenvalue(const SymmetricOperator& op, int64_t dim, const EigenOptions& options = {});

}  // namespace ef21

#endif  // EF21_COMMON_LINALG_H_
