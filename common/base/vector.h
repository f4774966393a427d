// Vector types shared by every layer: dense Eigen vectors for models and gradients, and the
// SparseVector that carries one compressed message. Plain value types, thread-compatible.
#ifndef EF21_COMMON_BASE_VECTOR_H_
#define EF21_COMMON_BASE_VECTOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "absl/status/status.h"
#include "common/base/enum_names.h"

namespace ef21 {

using Vector = Eigen::VectorXd;
using ConstVectorRef = Eigen::Ref<const Eigen::VectorXd>;

// The type values travel in on the wire (SPEC §2). State is always kept in double, but holds
// exactly the values that went on the wire: with kF32 every sent value is rounded to float first.
enum class ValueType { kF32, kF64, kMaxValue = kF64 };

// The --value-type names.
inline constexpr auto kValueTypeNames =
    MakeEnumNames<ValueType>("value type", {{ValueType::kF32, "f32"}, {ValueType::kF64, "f64"}});
constexpr const auto& NamesOf(ValueType) { return kValueTypeNames; }
inline const char* ValueTypeName(ValueType type) { return kValueTypeNames.Name(type); }

inline int ValueBits(ValueType type) { return type == ValueType::kF32 ? 32 : 64; }
inline double RoundToWire(double v, ValueType type) {
  return type == ValueType::kF32 ? static_cast<double>(static_cast<float>(v)) : v;
}

// A compressed message: `values[j]` is coordinate `indices[j]` of a vector of dimension `dim`.
// Indices are strictly increasing. A dense message (the initial g_i^0 with --init=full, the
// identity compressor) has `dense == true`, no indices, and `dim` values.
struct SparseVector {
  int64_t dim = 0;
  bool dense = false;
  std::vector<int32_t> indices;
  std::vector<double> values;

  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
  void Clear(int64_t dimension) {
    dim = dimension;
    dense = false;
    indices.clear();
    values.clear();
  }
  // Checks the invariants above and that every value is finite; the message names what is wrong.
  absl::Status Validate() const;
  // y += scale * this, coordinate by coordinate in index order.
  void AddTo(double scale, Vector* y) const;
  // Rounds every value to the wire type in place.
  void RoundValues(ValueType type);
};

// Σ_j v_j² summed in index order: the one function every process uses for norms that must agree
// bit for bit (Eigen's vectorized reductions may reorder the sum).
double SquaredNorm(ConstVectorRef v);
double Norm(ConstVectorRef v);

}  // namespace ef21

#endif  // EF21_COMMON_BASE_VECTOR_H_
