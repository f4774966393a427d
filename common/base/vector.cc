#include "common/base/vector.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ef21 {

absl::Status SparseVector::Validate() const {
  if (dim <= 0)
    return absl::InvalidArgumentError(absl::StrCat("dimension ", dim, " is not positive"));
  if (dense) {
    if (!indices.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("dense vector carries ", indices.size(), " indices; expected none"));
    }
    if (nnz() != dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("dense vector has ", nnz(), " values; expected dimension ", dim));
    }
  } else {
    if (indices.size() != values.size()) {
      return absl::InvalidArgumentError(absl::StrCat("sparse vector has ", indices.size(),
                                                     " indices but ", values.size(), " values"));
    }
    if (nnz() > dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("sparse vector has ", nnz(), " entries, more than dimension ", dim));
    }
    for (size_t j = 0; j < indices.size(); ++j) {
      const int64_t index = indices[j];
      if (index < 0 || index >= dim) {
        return absl::InvalidArgumentError(
            absl::StrCat("index ", index, " at entry ", j, " is outside [0, ", dim, ")"));
      }
      if (j > 0 && index <= indices[j - 1]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "index ", index, " at entry ", j, " does not increase after ", indices[j - 1]));
      }
    }
  }
  for (size_t j = 0; j < values.size(); ++j) {
    if (!std::isfinite(values[j])) {
      return absl::InvalidArgumentError(
          absl::StrCat("value ", values[j], " at entry ", j, " is not finite"));
    }
  }
  return absl::OkStatus();
}

void SparseVector::AddTo(double scale, Vector* y) const {
  double* out = y->data();
  if (dense) {
    for (int64_t j = 0; j < dim; ++j) out[j] += scale * values[j];
  } else {
    for (size_t j = 0; j < values.size(); ++j) out[indices[j]] += scale * values[j];
  }
}

void SparseVector::RoundValues(ValueType type) {
  if (type == ValueType::kF64) return;
  for (double& v : values) v = RoundToWire(v, type);
}

double SquaredNorm(ConstVectorRef v) {
  double sum = 0.0;
  const double* data = v.data();
  for (Eigen::Index j = 0; j < v.size(); ++j) sum += data[j] * data[j];
  return sum;
}

double Norm(ConstVectorRef v) { return std::sqrt(SquaredNorm(v)); }

}  // namespace ef21
