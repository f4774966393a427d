// Largest eigenvalue of a symmetric positive semidefinite operator, for smoothness constants.
// Small operators are formed densely and solved exactly; large ones are only ever applied
// (Lanczos), never formed as a dense d×d matrix.
//
// Own Lanczos rather than Spectra 1.0's SymEigsSolver (libspectra-dev), measured side by side in
// bench/linalg_bench (2026-12-02, 2 cores, load ~9): on AᵀA/m with A 200 × 20000 Gaussian both
// find λ_max (relative error 4e-13 here, 2e-14 Spectra, against the dense 200 × 200 solve) and
// Spectra takes 2.2x the time; on a rank-1 operator (one client of --split=row) Spectra returned
// 3.3e54 for an exact 20008.85 and took 240x the time, while this one stops exactly when the Krylov
// space is exhausted. Both are well below the tolerance the smoothness constants need.
#ifndef EF21_COMMON_BASE_LINALG_H_
#define EF21_COMMON_BASE_LINALG_H_

#include <cstdint>
#include <functional>

#include "common/base/vector.h"

namespace ef21 {

// y = M x for a symmetric PSD M of size `dim`.
using SymmetricOperator = std::function<void(const Vector& x, Vector* y)>;

struct EigenOptions {
  int64_t dense_max_dim = 512;  // at or below: form M by applying it to the unit vectors
  int max_iterations = 3000;    // Lanczos steps at most
  double relative_tolerance = 1e-10;
};

// λ_max(M). Above dense_max_dim: the Lanczos process (no reorthogonalization: its largest Ritz
// value still increases monotonically to λ_max) from a fixed start vector, stopped when the
// largest Ritz value changes by at most relative_tolerance over five steps, or when the Krylov
// space is exhausted (rank-deficient M, e.g. AᵀA with fewer rows than columns).
double LargestEigenvalue(const SymmetricOperator& op, int64_t dim,
                         const EigenOptions& options = {});

}  // namespace ef21

#endif  // EF21_COMMON_BASE_LINALG_H_
