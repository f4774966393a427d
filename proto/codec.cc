#include "proto/codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/digest.h"
#include "common/base/enum_names.h"
#include "common/base/status_macros.h"
#include "common/compress/sparse_codec.h"

namespace ef21 {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

void AssignVector(ConstVectorRef v, google::protobuf::RepeatedField<double>* field) {
  field->Resize(static_cast<int>(v.size()), 0.0);
  if (v.size() > 0) std::memcpy(field->mutable_data(), v.data(), sizeof(double) * v.size());
}

void EncodeSparseVector(const SparseVector& c, ValueType type, v1::SparseVector* out) {
  out->set_dim(static_cast<uint32_t>(c.dim));
  out->set_dense(c.dense);
  thread_local IndexCode code;
  if (!c.dense && !c.indices.empty()) {
    EncodeIndices(c.indices, c.dim, &code);
    out->set_rice_bits(code.rice_bits);
    out->set_index_code(code.bytes);
  } else {
    out->set_rice_bits(0);
    out->clear_index_code();
  }
  const int n = static_cast<int>(c.values.size());
  if (type == ValueType::kF32) {
    out->clear_values_f64();
    auto* values = out->mutable_values_f32();
    values->Resize(n, 0.0f);
    float* data = values->mutable_data();
    for (int j = 0; j < n; ++j) data[j] = static_cast<float>(c.values[j]);
  } else {
    out->clear_values_f32();
    auto* values = out->mutable_values_f64();
    values->Resize(n, 0.0);
    if (n > 0) std::memcpy(values->mutable_data(), c.values.data(), sizeof(double) * n);
  }
}

absl::Status DecodeSparseVector(const SparseVectorView& in, const SparseLimits& limits,
                                SparseVector* out, RejectionReason* reason) {
  *reason = RejectionReason::kWrongDimension;
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (static_cast<int64_t>(in.dim) != limits.dim) {
    return bad("c has dimension ", in.dim, "; the run's dimension is ", limits.dim);
  }
  const bool f32 = limits.type == ValueType::kF32;
  *reason = RejectionReason::kWrongValueType;
  if (f32 && in.values_f64_count > 0) {
    return bad("c carries ", in.values_f64_count, " float64 values; the run sends float32 values");
  }
  if (!f32 && in.values_f32_count > 0) {
    return bad("c carries ", in.values_f32_count, " float32 values; the run sends float64 values");
  }
  const int64_t count = f32 ? in.values_f32_count : in.values_f64_count;
  out->dim = limits.dim;
  out->dense = in.dense;
  out->indices.clear();
  if (in.dense) {
    *reason = RejectionReason::kUnexpectedDense;
    if (!limits.dense_allowed) {
      return bad(
          "c is dense; dense messages are only the initial g_i^0 (round 0 with "
          "--init=full or shard) or the identity compressor's");
    }
    if (count != limits.dim) return bad("dense c has ", count, " values; expected ", limits.dim);
    if (in.rice_bits != 0 || !in.index_code.empty()) {
      return bad("dense c carries an index code");
    }
  } else {
    *reason = RejectionReason::kTooManyEntries;
    if (count > limits.max_entries) {
      return bad("c has ", count, " entries; at most ", limits.max_entries, " are allowed");
    }
    *reason = RejectionReason::kBadIndexCode;
    if (absl::Status s =
            DecodeIndices(in.rice_bits, in.index_code, count, limits.dim, &out->indices);
        !s.ok()) {
      return s;
    }
  }
  out->values.resize(static_cast<size_t>(count));
  if (f32) {
    for (int64_t j = 0; j < count; ++j) {
      out->values[j] = static_cast<double>(FloatAt(in.values_f32, j));
    }
  } else if (count > 0) {
    std::memcpy(out->values.data(), in.values_f64, sizeof(double) * count);
  }
  *reason = RejectionReason::kNonFiniteValue;
  for (int64_t j = 0; j < count; ++j) {
    if (!std::isfinite(out->values[j])) {
      return bad("c has value ", out->values[j], " at entry ", j,
                 out->dense ? "" : absl::StrCat(" (index ", out->indices[j], ")"),
                 "; values must be finite");
    }
  }
  *reason = RejectionReason::kValueTooLarge;
  for (int64_t j = 0; j < count; ++j) {
    if (std::abs(out->values[j]) > limits.max_abs_value) {
      return bad("c has value ", out->values[j], " at entry ", j,
                 out->dense ? "" : absl::StrCat(" (index ", out->indices[j], ")"),
                 "; |values| must be at most ", limits.max_abs_value, " (--max-update-value)");
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeSparseVector(const v1::SparseVector& in, const SparseLimits& limits,
                                SparseVector* out, RejectionReason* reason) {
  return DecodeSparseVector(ViewOf(in), limits, out, reason);
}

void EncodeUpdate(uint64_t round, int64_t client, const ClientMessage& message, bool diagnostics,
                  ValueType type, v1::Update* out) {
  out->set_round(round);
  out->set_client_id(static_cast<uint32_t>(client));
  EncodeSparseVector(message.c, type, out->mutable_c());
  out->set_loss(message.loss);
  if (diagnostics) {
    AssignVector(message.gradient, out->mutable_gradient());
  } else {
    out->clear_gradient();
  }
}

void DecodedUpdate::Swap(DecodedUpdate& other) noexcept {
  using std::swap;
  swap(round, other.round);
  swap(client, other.client);
  swap(c.dim, other.c.dim);
  swap(c.dense, other.c.dense);
  c.indices.swap(other.c.indices);
  c.values.swap(other.c.values);
  swap(is_packed, other.is_packed);
  swap(packed.dim, other.packed.dim);
  swap(packed.code.rice_bits, other.packed.code.rice_bits);
  packed.code.bytes.swap(other.packed.code.bytes);
  packed.values.swap(other.packed.values);
  swap(loss, other.loss);
  gradient.swap(other.gradient);
  swap(digest, other.digest);
  swap(algorithm_bytes, other.algorithm_bytes);
  swap(diagnostic_bytes, other.diagnostic_bytes);
}

absl::Status DecodeUpdate(const UpdateView& u, const MethodContext& ctx, DecodedUpdate* out,
                          RejectionReason* reason, double max_abs_value, bool summed) {
  auto bad = [&](auto&&... parts) {
    return absl::InvalidArgumentError(
        absl::StrCat("update for round ", u.round, " from client ", u.client_id, ": ", parts...));
  };
  const int64_t client = u.client_id;
  if (client >= ctx.num_clients()) {
    *reason = RejectionReason::kClientNotAttached;
    return absl::PermissionDeniedError(absl::StrCat("update for round ", u.round, " names client ",
                                                    client,
                                                    ", which is not attached on "
                                                    "this stream (the run has ",
                                                    ctx.num_clients(), " clients)"));
  }
  if (!u.has_c) {
    *reason = RejectionReason::kMalformedMessage;
    return bad("no compressed message c");
  }
  SparseLimits limits;
  limits.dim = ctx.dim();
  limits.type = ctx.options.value_type;
  limits.max_entries = ctx.compressor->max_entries();
  limits.dense_allowed =
      ctx.compressor->kind() == CompressorKind::kIdentity || ctx.DenseRound(u.round);
  limits.max_abs_value = max_abs_value;
  if (absl::Status s = DecodeSparseVector(u.c, limits, &out->c, reason); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("update for round ", u.round, " from client ",
                                               client, ": ", s.message()));
  }
  if (!u.has_loss) {
    *reason = RejectionReason::kMalformedMessage;
    return bad("no loss f_i(x)");
  }
  if (!std::isfinite(u.loss)) {
    *reason = RejectionReason::kNonFiniteValue;
    return bad("loss ", u.loss, " is not finite");
  }
  // --client-state=worker: the aggregator evaluates ∇f(x^r) itself and clients send none.
  const bool diagnostics = ctx.UploadsGradient(u.round);
  if (summed) {
    // Its gradient is inside one of the batch's gradient sums (the caller checked the round).
    if (u.gradient_count != 0) {
      *reason = RejectionReason::kBadDiagnostics;
      return bad("the client's gradient is in one of the batch's gradient sums; got ",
                 u.gradient_count, " gradient values of its own as well");
    }
    out->gradient.resize(0);
  } else if (diagnostics && u.gradient_count != ctx.dim()) {
    *reason = RejectionReason::kBadDiagnostics;
    return bad("round ", u.round, " asks for the dense gradient (", ctx.dim(), " values); got ",
               u.gradient_count);
  }
  if (!diagnostics && u.gradient_count != 0) {
    *reason = RejectionReason::kBadDiagnostics;
    return bad("round ", u.round,
               ctx.DiagnosticRound(u.round)
                   ? " takes no gradient from clients (--client-state=worker); got "
                   : " is not a diagnostic round; got ",
               u.gradient_count, " gradient values");
  }
  if (diagnostics && !summed) {
    out->gradient.resize(u.gradient_count);
    if (u.gradient_count > 0) {
      std::memcpy(out->gradient.data(), u.gradient, sizeof(double) * u.gradient_count);
    }
    for (Eigen::Index j = 0; j < out->gradient.size(); ++j) {
      if (!std::isfinite(out->gradient[j])) {
        *reason = RejectionReason::kNonFiniteValue;
        return bad("gradient value ", out->gradient[j], " at coordinate ", j, " is not finite");
      }
    }
  } else {
    out->gradient.resize(0);
  }
  out->is_packed = false;
  out->round = u.round;
  out->client = client;
  out->loss = u.loss;
  out->digest = UpdateDigest(u);
  out->algorithm_bytes =
      UpdateWireBytes(u.round, static_cast<uint32_t>(client), out->c, ctx.options.value_type);
  out->diagnostic_bytes = DiagnosticWireBytes(ctx.dim(), diagnostics && !summed);
  return absl::OkStatus();
}

absl::Status DecodeUpdate(const v1::Update& u, const MethodContext& ctx, DecodedUpdate* out,
                          RejectionReason* reason, double max_abs_value, bool summed) {
  return DecodeUpdate(ViewOf(u), ctx, out, reason, max_abs_value, summed);
}

namespace {

// Appends a varint at *at.
char* PutVarint(uint64_t v, char* at) {
  while (v >= 0x80) {
    *at++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *at++ = static_cast<char>(v);
  return at;
}

}  // namespace

void WriteDenseRoundStart(uint64_t round, ConstVectorRef x, double stepsize, bool diagnostics,
                          bool checkpointed, const Vector* g, std::string* out) {
  // Wire types: 0 varint, 1 fixed64, 2 length-delimited. Proto3 omits a scalar holding its
  // default (a double whose bits are all zero: -0.0 is written) and an empty repeated field.
  uint64_t stepsize_bits = 0;
  std::memcpy(&stepsize_bits, &stepsize, sizeof(stepsize_bits));
  const uint64_t x_bytes = sizeof(double) * static_cast<uint64_t>(x.size());
  const uint64_t g_bytes = g == nullptr ? 0 : sizeof(double) * static_cast<uint64_t>(g->size());
  uint64_t start = 0;
  if (round != 0) start += 1 + VarintBytes(round);
  if (x_bytes != 0) start += 1 + VarintBytes(x_bytes) + x_bytes;
  if (stepsize_bits != 0) start += 9;
  if (diagnostics) start += 2;
  if (checkpointed) start += 2;
  if (g_bytes != 0) start += 1 + VarintBytes(g_bytes) + g_bytes;
  out->resize(1 + VarintBytes(start) + start);
  char* at = out->data();
  *at++ = (2 << 3) | 2;  // ServerMessage.round_start = 2
  at = PutVarint(start, at);
  if (round != 0) {
    *at++ = (1 << 3) | 0;  // round = 1
    at = PutVarint(round, at);
  }
  // Packed doubles are little-endian IEEE 754, as this machine holds them.
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian doubles expected");
  if (x_bytes != 0) {
    *at++ = (2 << 3) | 2;  // x = 2
    at = PutVarint(x_bytes, at);
    std::memcpy(at, x.data(), x_bytes);
    at += x_bytes;
  }
  if (stepsize_bits != 0) {
    *at++ = (3 << 3) | 1;  // stepsize = 3
    std::memcpy(at, &stepsize_bits, sizeof(stepsize_bits));
    at += sizeof(stepsize_bits);
  }
  if (diagnostics) {
    *at++ = (4 << 3) | 0;  // diagnostics = 4
    *at++ = 1;
  }
  if (checkpointed) {
    *at++ = (5 << 3) | 0;  // checkpointed = 5
    *at++ = 1;
  }
  if (g_bytes != 0) {
    *at++ = (6 << 3) | 2;  // g = 6
    at = PutVarint(g_bytes, at);
    std::memcpy(at, g->data(), g_bytes);
    at += g_bytes;
  }
}

namespace {

// One ef21.v1.SparseVector of a delta RoundStart: a dense sum (f64, no index code), or one part of
// the exact split with its index code. Sized, then written.
struct DeltaPart {
  const SparseVector* sum = nullptr;
  bool dense = false;
  bool wide = false;     // the split's wide part (f64 values)
  ValueType type{};      // of the values written: the run's, or f64 (dense, wide)
  int64_t count = 0;     // values
  IndexCode code;        // of a sparse part's indices
  ValueType sum_type{};  // the run's value type, which splits the parts

  uint64_t ValueBytes() const {
    return static_cast<uint64_t>(count) * (type == ValueType::kF32 ? 4 : 8);
  }
  uint64_t Bytes() const {
    uint64_t bytes = 0;
    if (sum->dim != 0) bytes += 1 + VarintBytes(static_cast<uint64_t>(sum->dim));  // dim = 1
    if (dense) bytes += 2;                                                         // dense = 2
    if (code.rice_bits != 0) bytes += 1 + VarintBytes(code.rice_bits);             // rice_bits = 3
    if (!code.bytes.empty()) {                                                     // index_code = 4
      bytes += 1 + VarintBytes(code.bytes.size()) + code.bytes.size();
    }
    if (count > 0) bytes += 1 + VarintBytes(ValueBytes()) + ValueBytes();  // values = 5 or 6
    return bytes;
  }
  char* Write(char* at) const {
    if (sum->dim != 0) {
      *at++ = (1 << 3) | 0;
      at = PutVarint(static_cast<uint64_t>(sum->dim), at);
    }
    if (dense) {
      *at++ = (2 << 3) | 0;
      *at++ = 1;
    }
    if (code.rice_bits != 0) {
      *at++ = (3 << 3) | 0;
      at = PutVarint(code.rice_bits, at);
    }
    if (!code.bytes.empty()) {
      *at++ = (4 << 3) | 2;
      at = PutVarint(code.bytes.size(), at);
      std::memcpy(at, code.bytes.data(), code.bytes.size());
      at += code.bytes.size();
    }
    if (count == 0) return at;
    const bool f32 = type == ValueType::kF32;
    *at++ = static_cast<char>(((f32 ? 5 : 6) << 3) | 2);
    at = PutVarint(ValueBytes(), at);
    for (size_t e = 0; e < sum->values.size(); ++e) {
      const double v = sum->values[e];
      if (!dense && InWidePart(v, sum_type) != wide) continue;
      if (f32) {
        const float f = static_cast<float>(v);
        std::memcpy(at, &f, sizeof(f));
        at += sizeof(f);
      } else {
        std::memcpy(at, &v, sizeof(v));
        at += sizeof(v);
      }
    }
    return at;
  }
};

}  // namespace

void WriteDeltaRoundStart(uint64_t round, double stepsize, bool diagnostics, bool checkpointed,
                          const RoundDelta& delta, ValueType type, std::string* out) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian values expected");
  DeltaPart parts[2];
  int n_parts = 1;
  for (DeltaPart& part : parts) {
    part.sum = &delta.sum;
    part.sum_type = type;
  }
  if (delta.sum.dense) {
    parts[0].dense = true;
    parts[0].type = ValueType::kF64;
    parts[0].count = delta.sum.nnz();
  } else {
    const ExactParts exact = MeasureExactParts(delta.sum, type);
    n_parts = exact.count[1] > 0 ? 2 : 1;
    for (int w = 0; w < n_parts; ++w) {
      DeltaPart& part = parts[w];
      part.wide = w == 1;
      part.type = part.wide ? ValueType::kF64 : type;
      part.count = exact.count[w];
      if (part.count > 0) EncodeExactPartIndices(delta.sum, type, part.wide, exact, &part.code);
    }
  }
  uint64_t scale_bits = 0, stepsize_bits = 0;
  std::memcpy(&scale_bits, &delta.scale, sizeof(scale_bits));
  std::memcpy(&stepsize_bits, &stepsize, sizeof(stepsize_bits));
  uint64_t delta_bytes = 0;
  for (int w = 0; w < n_parts; ++w) {
    const uint64_t part = parts[w].Bytes();
    delta_bytes += 1 + VarintBytes(part) + part;  // sum = 1, sum_wide = 2
  }
  if (scale_bits != 0) delta_bytes += 9;  // scale = 3
  uint64_t start = 0;
  if (round != 0) start += 1 + VarintBytes(round);
  if (stepsize_bits != 0) start += 9;
  if (diagnostics) start += 2;
  if (checkpointed) start += 2;
  start += 1 + VarintBytes(delta_bytes) + delta_bytes;  // delta = 7
  out->resize(1 + VarintBytes(start) + start);
  char* at = out->data();
  *at++ = (2 << 3) | 2;  // ServerMessage.round_start = 2
  at = PutVarint(start, at);
  if (round != 0) {
    *at++ = (1 << 3) | 0;  // round = 1
    at = PutVarint(round, at);
  }
  if (stepsize_bits != 0) {
    *at++ = (3 << 3) | 1;  // stepsize = 3
    std::memcpy(at, &stepsize_bits, sizeof(stepsize_bits));
    at += sizeof(stepsize_bits);
  }
  if (diagnostics) {
    *at++ = (4 << 3) | 0;  // diagnostics = 4
    *at++ = 1;
  }
  if (checkpointed) {
    *at++ = (5 << 3) | 0;  // checkpointed = 5
    *at++ = 1;
  }
  *at++ = (7 << 3) | 2;  // delta = 7
  at = PutVarint(delta_bytes, at);
  for (int w = 0; w < n_parts; ++w) {
    *at++ = static_cast<char>(((w + 1) << 3) | 2);  // RoundDelta.sum = 1, sum_wide = 2
    at = PutVarint(parts[w].Bytes(), at);
    at = parts[w].Write(at);
  }
  if (scale_bits != 0) {
    *at++ = (3 << 3) | 1;  // RoundDelta.scale = 3
    std::memcpy(at, &scale_bits, sizeof(scale_bits));
    at += sizeof(scale_bits);
  }
}

bool PackDecodedUpdate(DecodedUpdate* u, SparseVector* scratch) {
  if (u->is_packed || !Packable(u->c)) return false;
  Pack(u->c, &u->packed);
  u->is_packed = true;
  const int64_t dim = u->c.dim;
  std::swap(u->c, *scratch);
  u->c = SparseVector{};  // what it held before (the caller's swap) goes back to the heap
  u->c.dim = dim;
  return true;
}

namespace {

// EncodeSparseVector of one part of SplitExactValues(v, type): the narrow part's values as
// `type`, the wide part's as f64.
void EncodeExactPart(const SparseVector& v, ValueType type, bool wide, const ExactParts& parts,
                     v1::SparseVector* out) {
  out->set_dim(static_cast<uint32_t>(v.dim));
  out->set_dense(false);
  const int64_t count = parts.count[wide];
  if (count > 0) {
    IndexCode code;
    EncodeExactPartIndices(v, type, wide, parts, &code);
    out->set_rice_bits(code.rice_bits);
    out->set_index_code(std::move(code.bytes));
  } else {
    out->set_rice_bits(0);
    out->clear_index_code();
  }
  const int n = static_cast<int>(count);
  if (!wide && type == ValueType::kF32) {
    out->clear_values_f64();
    auto* values = out->mutable_values_f32();
    values->Resize(n, 0.0f);
    float* data = values->mutable_data();
    for (size_t e = 0, p = 0; e < v.values.size(); ++e) {
      if (!InWidePart(v.values[e], type)) data[p++] = static_cast<float>(v.values[e]);
    }
  } else {
    out->clear_values_f32();
    auto* values = out->mutable_values_f64();
    values->Resize(n, 0.0);
    double* data = values->mutable_data();
    for (size_t e = 0, p = 0; e < v.values.size(); ++e) {
      if (InWidePart(v.values[e], type) == wide) data[p++] = v.values[e];
    }
  }
}

}  // namespace

void EncodeRoundDelta(const RoundDelta& delta, ValueType type, v1::RoundDelta* out) {
  if (delta.sum.dense) {
    EncodeSparseVector(delta.sum, ValueType::kF64, out->mutable_sum());
    out->clear_sum_wide();
  } else {
    // The parts SplitExactValues would write, encoded from the sum in place (no copy of it).
    const ExactParts parts = MeasureExactParts(delta.sum, type);
    EncodeExactPart(delta.sum, type, /*wide=*/false, parts, out->mutable_sum());
    if (parts.count[1] > 0) {
      EncodeExactPart(delta.sum, type, /*wide=*/true, parts, out->mutable_sum_wide());
    } else {
      out->clear_sum_wide();
    }
  }
  out->set_scale(delta.scale);
}

absl::Status DecodeRoundDelta(const v1::RoundDelta& in, uint64_t closed_round, int64_t dim,
                              ValueType type, RoundDelta* out) {
  RejectionReason reason;  // unused: a bad delta fails the worker's stream, not a counter
  SparseLimits limits;
  limits.dim = dim;
  limits.max_entries = dim;
  limits.dense_allowed = true;
  limits.type = in.sum().dense() ? ValueType::kF64 : type;
  auto in_part = [](const char* part, const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat("round delta's ", part, ": ", s.message()));
  };
  thread_local SparseVector narrow, wide;
  if (!in.has_sum()) return absl::InvalidArgumentError("round delta has no sum");
  if (absl::Status s = DecodeSparseVector(in.sum(), limits, &narrow, &reason); !s.ok()) {
    return in_part("sum", s);
  }
  wide.Clear(dim);
  if (in.has_sum_wide()) {
    if (narrow.dense || type == ValueType::kF64) {
      return absl::InvalidArgumentError(
          "round delta has a sum_wide part; only a sparse sum of an f32 run has one");
    }
    limits.type = ValueType::kF64;
    limits.dense_allowed = false;
    if (absl::Status s = DecodeSparseVector(in.sum_wide(), limits, &wide, &reason); !s.ok()) {
      return in_part("sum_wide", s);
    }
  }
  if (!std::isfinite(in.scale())) {
    return absl::InvalidArgumentError(
        absl::StrCat("round delta has scale ", in.scale(), "; it must be finite"));
  }
  out->round = closed_round;
  out->scale = in.scale();
  if (wide.nnz() == 0) {
    std::swap(out->sum, narrow);
    return absl::OkStatus();
  }
  // Merge the two ascending parts; an index in both is an error.
  SparseVector& sum = out->sum;
  sum.Clear(dim);
  sum.indices.reserve(narrow.indices.size() + wide.indices.size());
  sum.values.reserve(narrow.indices.size() + wide.indices.size());
  size_t a = 0, b = 0;
  while (a < narrow.indices.size() || b < wide.indices.size()) {
    const bool take_narrow = b == wide.indices.size() ||
                             (a < narrow.indices.size() && narrow.indices[a] < wide.indices[b]);
    if (a < narrow.indices.size() && b < wide.indices.size() &&
        narrow.indices[a] == wide.indices[b]) {
      return absl::InvalidArgumentError(
          absl::StrCat("round delta has index ", narrow.indices[a], " in both sum and sum_wide"));
    }
    if (take_narrow) {
      sum.indices.push_back(narrow.indices[a]);
      sum.values.push_back(narrow.values[a++]);
    } else {
      sum.indices.push_back(wide.indices[b]);
      sum.values.push_back(wide.values[b++]);
    }
  }
  return absl::OkStatus();
}

uint64_t UpdateDigest(const UpdateView& update) {
  // Word by word (Digest64), not byte by byte: the aggregator digests every update it receives.
  const SparseVectorView& c = update.c;
  const double loss = update.has_loss ? update.loss : 0.0;
  uint64_t head[4] = {update.round, uint64_t{update.client_id} | (uint64_t{c.dim} << 32),
                      (c.dense ? 1u : 0u) | (uint64_t{c.rice_bits} << 32), 0};
  std::memcpy(&head[3], &loss, sizeof(loss));
  Digest64 digest;
  digest.Add(head, sizeof(head));
  digest.Add(c.index_code.data(), c.index_code.size());
  digest.Add(c.values_f32, sizeof(float) * c.values_f32_count);
  digest.Add(c.values_f64, sizeof(double) * c.values_f64_count);
  return digest.value();
}

uint64_t UpdateDigest(const v1::Update& update) { return UpdateDigest(ViewOf(update)); }

void ProblemToSpec(const RunConfig& c, v1::RunSpec* s) {
  s->Clear();
  s->set_problem(EnumName(c.problem));
  s->set_data(c.data);
  s->set_features(c.features);
  s->set_synthetic_rows(c.synthetic_rows);
  s->set_synthetic_cols(c.synthetic_cols);
  if (c.lambda) s->set_lambda(*c.lambda);
  s->set_split(EnumName(c.split));
  s->set_clients(c.clients);
  s->set_dim(c.dim);
  s->set_l0(c.L0);
  s->set_l1(c.L1);
  s->set_batch(c.batch);
  s->set_sigma(c.sigma);
  s->set_seed(c.seed);
  if (c.problem == ProblemKind::kNetwork) {
    s->set_model(c.model);
    s->set_dataset(c.dataset);
    s->set_shards(ShardKindName(c.shards));
    s->set_train_samples(c.train_samples);
    s->set_diagnostics_samples(c.diagnostics_samples);
  }
}

void RunConfigToSpec(const RunConfig& c, v1::RunSpec* s) {
  ProblemToSpec(c, s);
  s->set_algorithm(EnumName(c.algorithm));
  if (c.compressor) s->set_compressor(EnumName(*c.compressor));
  s->set_k(c.k);
  s->set_rounds(c.rounds);
  s->set_stepsize(EnumName(c.stepsize));
  if (c.gamma) s->set_gamma(*c.gamma);
  s->set_gamma0(c.gamma0);
  if (c.eta) s->set_eta(*c.eta);
  s->set_init(EnumName(c.init));
  s->set_value_type(EnumName(c.value_type));
  s->set_x0(EnumName(c.x0));
  s->set_x0_file(c.x0_file);
  if (c.diagnostics_every) s->set_diagnostics_every(*c.diagnostics_every);
  s->set_eps(c.eps);
  if (c.participation < 1.0) s->set_participation(c.participation);
  if (c.client_state != ClientStateMode::kAggregator) s->set_client_state(EnumName(c.client_state));
}

namespace {

// The value a spec field names, by the vocabulary's one name table.
template <typename E>
absl::Status ParseSpecEnum(const char* field, const std::string& name, E* out) {
  absl::StatusOr<E> value = ParseEnum<E>(name);
  if (!value.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run spec field ", field, ": ", value.status().message()));
  }
  *out = *value;
  return absl::OkStatus();
}

}  // namespace

absl::Status SpecToRunConfig(const v1::RunSpec& s, RunConfig* c) {
  RunConfig r;
  r.out = c->out;
  r.threads = c->threads;
  EF21_RETURN_IF_ERROR(ParseSpecEnum("problem", s.problem(), &r.problem));
  r.data = s.data();
  r.features = s.features();
  r.synthetic_rows = s.synthetic_rows();
  r.synthetic_cols = s.synthetic_cols();
  if (s.has_lambda()) r.lambda = s.lambda();
  EF21_RETURN_IF_ERROR(ParseSpecEnum("split", s.split(), &r.split));
  r.clients = s.clients();
  r.dim = s.dim();
  r.L0 = s.l0();
  r.L1 = s.l1();
  r.batch = s.batch();
  r.sigma = s.sigma();
  r.seed = s.seed();
  if (r.problem == ProblemKind::kNetwork) {
    r.model = s.model();
    r.dataset = s.dataset();
    absl::StatusOr<ShardKind> shards = ParseShardKind(s.shards());
    if (!shards.ok()) return shards.status();
    r.shards = *shards;
    r.train_samples = s.train_samples();
    r.diagnostics_samples = s.diagnostics_samples();
  }
  EF21_RETURN_IF_ERROR(ParseSpecEnum("algorithm", s.algorithm(), &r.algorithm));
  if (s.has_compressor()) {
    CompressorKind kind = CompressorKind::kTopK;
    EF21_RETURN_IF_ERROR(ParseSpecEnum("compressor", s.compressor(), &kind));
    r.compressor = kind;
  }
  r.k = s.k();
  r.rounds = s.rounds();
  EF21_RETURN_IF_ERROR(ParseSpecEnum("stepsize", s.stepsize(), &r.stepsize));
  if (s.has_gamma()) r.gamma = s.gamma();
  r.gamma0 = s.gamma0();
  if (s.has_eta()) r.eta = s.eta();
  EF21_RETURN_IF_ERROR(ParseSpecEnum("init", s.init(), &r.init));
  EF21_RETURN_IF_ERROR(ParseSpecEnum("value_type", s.value_type(), &r.value_type));
  EF21_RETURN_IF_ERROR(ParseSpecEnum("x0", s.x0(), &r.x0));
  r.x0_file = s.x0_file();
  if (s.diagnostics_every() != 0) r.diagnostics_every = s.diagnostics_every();
  r.eps = s.eps();
  if (s.has_participation()) r.participation = s.participation();
  if (!s.client_state().empty()) {
    EF21_RETURN_IF_ERROR(ParseSpecEnum("client_state", s.client_state(), &r.client_state));
  }
  *c = std::move(r);
  return absl::OkStatus();
}

absl::Status CompareProblemSpecs(const v1::RunSpec& w, const v1::RunSpec& r) {
  auto differ = [](const char* flag, const auto& worker, const auto& run) {
    return absl::FailedPreconditionError(
        absl::StrCat("the worker's problem differs from the run's: --", flag, " is ", worker,
                     " on the worker, ", run, " in the run"));
  };
  if (w.problem() != r.problem()) return differ("problem", w.problem(), r.problem());
  if (w.features() != r.features()) return differ("features", w.features(), r.features());
  if (w.synthetic_rows() != r.synthetic_rows() || w.synthetic_cols() != r.synthetic_cols()) {
    return differ("synthetic", absl::StrCat(w.synthetic_rows(), "x", w.synthetic_cols()),
                  absl::StrCat(r.synthetic_rows(), "x", r.synthetic_cols()));
  }
  if (w.has_lambda() != r.has_lambda() || w.lambda() != r.lambda()) {
    return differ("lambda", w.has_lambda() ? absl::StrCat(w.lambda()) : "unset",
                  r.has_lambda() ? absl::StrCat(r.lambda()) : "unset");
  }
  if (w.split() != r.split()) return differ("split", w.split(), r.split());
  if (w.clients() != r.clients()) return differ("clients", w.clients(), r.clients());
  if (w.dim() != r.dim()) return differ("dim", w.dim(), r.dim());
  if (w.l0() != r.l0()) return differ("L0", w.l0(), r.l0());
  if (w.l1() != r.l1()) return differ("L1", w.l1(), r.l1());
  if (w.batch() != r.batch()) return differ("batch", w.batch(), r.batch());
  if (w.sigma() != r.sigma()) return differ("sigma", w.sigma(), r.sigma());
  if (w.seed() != r.seed()) return differ("seed", w.seed(), r.seed());
  if (w.model() != r.model()) return differ("model", w.model(), r.model());
  if (w.dataset() != r.dataset()) return differ("dataset", w.dataset(), r.dataset());
  if (w.shards() != r.shards()) return differ("shards", w.shards(), r.shards());
  if (w.train_samples() != r.train_samples()) {
    return differ("train_samples", w.train_samples(), r.train_samples());
  }
  if (w.diagnostics_samples() != r.diagnostics_samples()) {
    return differ("diagnostics_samples", w.diagnostics_samples(), r.diagnostics_samples());
  }
  return absl::OkStatus();
}

void ProbeLosses(const Problem& problem, absl::Span<const int64_t> clients, double* out) {
  Vector probe(problem.dim());
  for (int64_t j = 0; j < problem.dim(); ++j) probe[j] = static_cast<double>((j % 7) - 3) / 8.0;
  EvalPoint point;
  problem.PrepareBorrowed(probe, &point);
  for (size_t i = 0; i < clients.size(); ++i) out[i] = problem.ProbeLoss(clients[i], point);
}

double SumAscending(absl::Span<const double> values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum;
}

void ClientDataDigests(const Problem& problem, absl::Span<const int64_t> clients, uint64_t* out) {
  for (size_t i = 0; i < clients.size(); ++i) out[i] = problem.DataDigest(clients[i]);
}

uint64_t CombineDataDigests(absl::Span<const int64_t> ids, absl::Span<const uint64_t> digests) {
  Digest64 digest;
  for (size_t i = 0; i < ids.size(); ++i) {
    digest.AddValue(ids[i]);
    digest.AddValue(digests[i]);
  }
  return digest.value();
}

bool SameReport(const ShardReport& a, const ShardReport& b) {
  auto same = [](double x, double y) { return std::memcmp(&x, &y, sizeof(double)) == 0; };
  return a.constants.rows == b.constants.rows && same(a.constants.L, b.constants.L) &&
         same(a.constants.L0, b.constants.L0) && same(a.constants.L1, b.constants.L1) &&
         a.digest == b.digest;
}

std::string FormatReport(const ShardReport& r) {
  return absl::StrFormat("rows %d, L %.17g, L0 %.17g, L1 %.17g, digest %016x", r.constants.rows,
                         r.constants.L, r.constants.L0, r.constants.L1, r.digest);
}

ShardReport ComputeShardReport(const Problem& problem, int64_t client) {
  ShardReport report;
  report.constants = problem.ClientSmoothness(client);
  report.digest = problem.DataDigest(client);
  return report;
}

void EncodeShardReport(int64_t client, const ShardReport& report, v1::ClientConstants* out) {
  out->set_client_id(static_cast<uint32_t>(client));
  out->set_rows(static_cast<uint64_t>(report.constants.rows));
  out->set_l(report.constants.L);
  out->set_l0(report.constants.L0);
  out->set_l1(report.constants.L1);
  out->set_data_digest(report.digest);
}

absl::Status DecodeShardReports(const v1::Attach& attach, std::vector<ShardReport>* out) {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (attach.constants_size() == 0) {
    out->clear();
    return absl::OkStatus();
  }
  if (attach.constants_size() != attach.client_ids_size()) {
    return bad("Attach reports constants of ", attach.constants_size(), " clients for ",
               attach.client_ids_size(), " client ids; expected one per id, in the same order");
  }
  std::vector<ShardReport> reports(static_cast<size_t>(attach.constants_size()));
  for (int j = 0; j < attach.constants_size(); ++j) {
    const v1::ClientConstants& c = attach.constants(j);
    const uint32_t id = attach.client_ids(j);
    if (c.client_id() != id) {
      return bad("Attach's constants entry ", j, " names client ", c.client_id(), "; client_ids[",
                 j, "] is ", id);
    }
    const std::pair<const char*, double> values[] = {{"L", c.l()}, {"L0", c.l0()}, {"L1", c.l1()}};
    for (const auto& [name, value] : values) {
      if (!std::isfinite(value) || !(value >= 0.0)) {
        return bad("client ", id, " reports ", name, " = ", absl::StrFormat("%.17g", value),
                   "; smoothness constants must be finite and >= 0");
      }
    }
    if (c.rows() < 1 || c.rows() > (uint64_t{1} << 40)) {
      return bad("client ", id, " reports ", c.rows(), " data rows; expected 1 to 2^40");
    }
    ShardReport& r = reports[static_cast<size_t>(j)];
    r.constants.rows = static_cast<int64_t>(c.rows());
    r.constants.L = c.l();
    r.constants.L0 = c.l0();
    r.constants.L1 = c.l1();
    r.digest = c.data_digest();
  }
  // The digests in ascending id order must give the attach's data fingerprint.
  std::vector<size_t> order(reports.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return attach.client_ids(a) < attach.client_ids(b); });
  std::vector<int64_t> ids(order.size());
  std::vector<uint64_t> digests(order.size());
  for (size_t j = 0; j < order.size(); ++j) {
    ids[j] = attach.client_ids(static_cast<int>(order[j]));
    digests[j] = reports[order[j]].digest;
  }
  if (CombineDataDigests(ids, digests) != attach.data_digest()) {
    return bad("Attach's per-client data digests do not combine to its data_digest ",
               absl::StrFormat("%016x", attach.data_digest()));
  }
  *out = std::move(reports);
  return absl::OkStatus();
}

void SetShardReports(const Problem& problem, v1::Attach* attach) {
  attach->clear_constants();
  std::vector<int64_t> ids(attach->client_ids().begin(), attach->client_ids().end());
  for (int64_t id : ids) {
    EncodeShardReport(id, ComputeShardReport(problem, id), attach->add_constants());
  }
  std::sort(ids.begin(), ids.end());
  std::vector<uint64_t> digests(ids.size());
  ClientDataDigests(problem, ids, digests.data());
  attach->set_data_digest(CombineDataDigests(ids, digests));
}

absl::Status CheckClaimBounds(const v1::Attach& attach) {
  if (attach.claims_size() > attach.client_ids_size()) {
    return absl::InvalidArgumentError(absl::StrCat("Attach carries ", attach.claims_size(),
                                                   " client claims for ", attach.client_ids_size(),
                                                   " client ids; at most one claim per client id"));
  }
  for (int j = 0; j < attach.claims_size(); ++j) {
    const v1::ClientClaim& claim = attach.claims(j);
    if (claim.held_size() > kMaxHeldPerClaim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Attach's claim ", j, " (client ", claim.client_id(), ") holds ", claim.held_size(),
          " state hashes; at most ", kMaxHeldPerClaim,
          " per client (the one in memory, the anchor and the last two logged rounds)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ef21
