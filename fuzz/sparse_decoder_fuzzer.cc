// libFuzzer target: the sparse-vector decoder (proto/codec.h DecodeSparseVector, and through it
// the Golomb–Rice index code of common/compress/sparse_codec.h) on an arbitrary SparseVector.
// The first bytes choose the limits; the rest is the serialized message. A decoded vector must
// respect the limits, and re-encoding it must decode to the same vector.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "ef21/v1/ef21.pb.h"
#include "proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  ef21::SparseLimits limits;
  limits.dim = 1 + (data[0] | (data[1] << 8));  // 1..65536
  limits.type = (data[2] & 1) ? ef21::ValueType::kF64 : ef21::ValueType::kF32;
  limits.dense_allowed = (data[2] & 2) != 0;
  limits.max_entries = 1 + data[3] % limits.dim;
  limits.max_abs_value = (data[2] & 4) ? 1e30 : HUGE_VAL;
  ef21::v1::SparseVector in;
  if (!in.ParseFromArray(data + 4, static_cast<int>(size - 4))) return 0;
  ef21::SparseVector out;
  ef21::RejectionReason reason = ef21::RejectionReason::kMalformedMessage;
  if (!ef21::DecodeSparseVector(in, limits, &out, &reason).ok()) return 0;
  if (out.dim != limits.dim) std::abort();
  if (!out.dense) {
    if (static_cast<int64_t>(out.indices.size()) > limits.max_entries) std::abort();
    if (out.indices.size() != out.values.size()) std::abort();
    for (size_t j = 0; j < out.indices.size(); ++j) {
      if (out.indices[j] < 0 || out.indices[j] >= limits.dim) std::abort();
      if (j > 0 && out.indices[j] <= out.indices[j - 1]) std::abort();
    }
  } else if (static_cast<int64_t>(out.values.size()) != limits.dim) {
    std::abort();
  }
  for (double v : out.values) {
    if (!std::isfinite(v) || std::abs(v) > limits.max_abs_value) std::abort();
  }
  // Round trip.
  ef21::v1::SparseVector again;
  ef21::EncodeSparseVector(out, limits.type, &again);
  ef21::SparseVector back;
  if (!ef21::DecodeSparseVector(again, limits, &back, &reason).ok()) std::abort();
  if (back.indices != out.indices || back.values != out.values) std::abort();
  return 0;
}
