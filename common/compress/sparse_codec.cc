#include "common/compress/sparse_codec.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ef21 {
namespace {

// Gap j of the index list: idx_0, then idx_j − idx_{j−1} − 1.
inline uint64_t Gap(absl::Span<const int32_t> indices, size_t j) {
  return j == 0 ? static_cast<uint64_t>(indices[0])
                : static_cast<uint64_t>(indices[j] - indices[j - 1] - 1);
}

uint64_t CodeBits(absl::Span<const int32_t> indices, uint32_t b) {
  uint64_t bits = 0;
  for (size_t j = 0; j < indices.size(); ++j) bits += (Gap(indices, j) >> b) + 1 + b;
  return bits;
}

// The Rice parameters tried for `count` > 0 indices in [0, dim): the three [*lo, *hi] around
// floor(log2(mean gap)), with floor(log2(x)) = floor(log2(floor(x))) for x >= 1.
void RiceCandidates(int64_t count, int64_t dim, int* lo, int* hi) {
  // The same quotient without a 64-bit division where a cheaper one gives it (the aggregator
  // measures every update it receives: top-1's one entry, dimensions below 2^32).
  const uint64_t spread = static_cast<uint64_t>(dim - count);
  const uint64_t mean_gap = count == 1 ? spread
                            : spread <= UINT32_MAX && static_cast<uint64_t>(count) <= UINT32_MAX
                                ? static_cast<uint32_t>(spread) / static_cast<uint32_t>(count)
                                : spread / static_cast<uint64_t>(count);
  const int center = mean_gap >= 2 ? 63 - __builtin_clzll(mean_gap) : 0;
  *lo = std::max(0, center - 1);
  *hi = std::min<int>(kMaxRiceBits, center + 1);
}

// The candidate with the shortest code, the first of equals; *best_bits gets its length.
template <typename BitsOf>
uint32_t ShortestRiceCode(int lo, int hi, BitsOf&& bits_of, uint64_t* best_bits) {
  uint32_t best = 0;
  *best_bits = UINT64_MAX;
  for (int b = lo; b <= hi; ++b) {
    const uint64_t bits = bits_of(b);
    if (bits < *best_bits) {
      *best_bits = bits;
      best = static_cast<uint32_t>(b);
    }
  }
  return best;
}

// The parameter with the shortest code among the three around log2 of the mean gap; *code_bits
// gets that code's length.
uint32_t ChooseRiceBits(absl::Span<const int32_t> indices, int64_t dim, uint64_t* code_bits) {
  *code_bits = 0;
  if (indices.empty()) return 0;
  int lo, hi;
  RiceCandidates(static_cast<int64_t>(indices.size()), dim, &lo, &hi);
  return ShortestRiceCode(
      lo, hi, [&](int b) { return CodeBits(indices, static_cast<uint32_t>(b)); }, code_bits);
}

// The Rice code with parameter b (`code_bits` long) of the gaps of the ascending indices that
// `for_each_index(f)` passes to f, the first gap counted from -1.
template <typename ForEachIndex>
void WriteRiceCode(ForEachIndex&& for_each_index, uint32_t b, uint64_t code_bits, IndexCode* code) {
  code->rice_bits = b;
  code->bytes.assign((code_bits + 7) / 8, '\0');
  char* out = code->bytes.data();
  uint64_t pos = 0;
  auto put_bit = [&](uint64_t bit) {
    out[pos >> 3] = static_cast<char>(out[pos >> 3] | (bit << (pos & 7)));
    ++pos;
  };
  int64_t previous = -1;
  for_each_index([&](int32_t index) {
    const uint64_t gap = static_cast<uint64_t>(index - previous - 1);
    previous = index;
    for (uint64_t q = gap >> b; q > 0; --q) put_bit(1);
    put_bit(0);
    for (uint32_t i = 0; i < b; ++i) put_bit((gap >> i) & 1);
  });
}

// The indices of one part of a sparse sum (SplitExactValues's narrow or wide part), in order.
struct PartIndices {
  const SparseVector& v;
  ValueType type;
  bool wide;
  template <typename F>
  void operator()(F&& f) const {
    for (size_t e = 0; e < v.values.size(); ++e) {
      if (InWidePart(v.values[e], type) == wide) f(v.indices[e]);
    }
  }
};

inline int64_t LengthDelimited(int64_t payload) { return 1 + VarintBytes(payload) + payload; }

// RoundStart{round, stepsize, diagnostics, delta} in a ServerMessage, given the bytes of the
// delta's sum parts (each with its field key and length).
int64_t DeltaRoundStartWireBytesOf(uint64_t round, double stepsize, bool diagnostics, int64_t delta,
                                   double scale) {
  if (scale != 0.0) delta += 9;  // scale = 3, fixed64
  int64_t start = 0;
  if (round != 0) start += 1 + VarintBytes(round);  // round = 1
  if (stepsize != 0.0) start += 9;                  // stepsize = 3
  if (diagnostics) start += 2;                      // diagnostics = 4
  start += LengthDelimited(delta);                  // delta = 7
  return LengthDelimited(start);                    // ServerMessage.round_start = 2
}

}  // namespace

void EncodeIndices(absl::Span<const int32_t> indices, int64_t dim, IndexCode* code) {
  uint64_t code_bits;
  const uint32_t b = ChooseRiceBits(indices, dim, &code_bits);
  WriteRiceCode(
      [&](auto&& f) {
        for (const int32_t index : indices) f(index);
      },
      b, code_bits, code);
}

int64_t EncodedIndexBytes(absl::Span<const int32_t> indices, int64_t dim) {
  uint64_t code_bits;
  ChooseRiceBits(indices, dim, &code_bits);
  return static_cast<int64_t>((code_bits + 7) / 8);
}

absl::Status DecodeIndices(uint32_t rice_bits, absl::string_view bytes, int64_t count, int64_t dim,
                           std::vector<int32_t>* indices) {
  indices->clear();
  if (rice_bits > kMaxRiceBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("Rice parameter ", rice_bits, " exceeds ", kMaxRiceBits));
  }
  const uint64_t total_bits = static_cast<uint64_t>(bytes.size()) * 8;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  uint64_t pos = 0;
  int64_t previous = -1;
  indices->reserve(count);
  for (int64_t j = 0; j < count; ++j) {
    uint64_t q = 0;
    for (;;) {
      if (pos >= total_bits) {
        return absl::InvalidArgumentError(
            absl::StrCat("index code ends inside entry ", j, " of ", count));
      }
      const uint64_t bit = (in[pos >> 3] >> (pos & 7)) & 1;
      ++pos;
      if (bit == 0) break;
      if (++q > static_cast<uint64_t>(dim)) {
        return absl::InvalidArgumentError(
            absl::StrCat("index code entry ", j, " has a gap beyond dimension ", dim));
      }
    }
    if (pos + rice_bits > total_bits) {
      return absl::InvalidArgumentError(
          absl::StrCat("index code ends inside entry ", j, " of ", count));
    }
    uint64_t low = 0;
    for (uint32_t i = 0; i < rice_bits; ++i, ++pos)
      low |= static_cast<uint64_t>((in[pos >> 3] >> (pos & 7)) & 1) << i;
    const uint64_t gap = (q << rice_bits) | low;
    const uint64_t index = static_cast<uint64_t>(previous + 1) + gap;
    if (index >= static_cast<uint64_t>(dim)) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", j, " has index ", index, " >= dimension ", dim));
    }
    indices->push_back(static_cast<int32_t>(index));
    previous = static_cast<int64_t>(index);
  }
  if ((pos + 7) / 8 != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("index code has ", bytes.size(), " bytes; ",
                                                   count, " entries use ", (pos + 7) / 8));
  }
  if ((pos & 7) != 0 && (in[pos >> 3] >> (pos & 7)) != 0) {
    return absl::InvalidArgumentError("index code has non-zero padding bits");
  }
  return absl::OkStatus();
}

int64_t PaperBits(const SparseVector& c, ValueType type) { return c.nnz() * ValueBits(type); }

int VarintBytes(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Field numbers and layout: proto/ef21/v1/ef21.proto. Proto3 omits fields holding their default.
int64_t SparseVectorWireBytes(const SparseVector& c, ValueType type) {
  int64_t bytes = 1 + VarintBytes(static_cast<uint64_t>(c.dim));  // dim = 1
  if (c.dense) bytes += 2;                                        // dense = 2
  if (!c.dense && !c.indices.empty()) {
    // rice_bits = 3 (omitted when 0), index_code = 4
    uint64_t code_bits;
    const uint32_t b = ChooseRiceBits(c.indices, c.dim, &code_bits);
    if (b != 0) bytes += 1 + VarintBytes(b);
    bytes += LengthDelimited(static_cast<int64_t>((code_bits + 7) / 8));
  }
  if (c.nnz() > 0) bytes += LengthDelimited(c.nnz() * (ValueBits(type) / 8));  // values = 5 or 6
  return bytes;
}

int64_t SparseVectorWireBytes(const PackedSparse& packed) {
  int64_t bytes = 1 + VarintBytes(static_cast<uint64_t>(packed.dim));  // dim = 1
  if (packed.nnz() > 0) {
    if (packed.code.rice_bits != 0) bytes += 1 + VarintBytes(packed.code.rice_bits);
    bytes += LengthDelimited(static_cast<int64_t>(packed.code.bytes.size()));
    bytes += LengthDelimited(packed.nnz() * 4);  // values_f32 = 5
  }
  return bytes;
}

namespace {

int64_t UpdateWireBytesOf(uint64_t round, uint32_t client_id, int64_t c_bytes) {
  int64_t update = 0;
  if (round != 0) update += 1 + VarintBytes(round);          // round = 1
  if (client_id != 0) update += 1 + VarintBytes(client_id);  // client_id = 2
  update += LengthDelimited(c_bytes);                        // c = 3
  return LengthDelimited(update);  // one element of WorkerMessage.updates = 2
}

}  // namespace

int64_t UpdateWireBytes(uint64_t round, uint32_t client_id, const SparseVector& c, ValueType type) {
  return UpdateWireBytesOf(round, client_id, SparseVectorWireBytes(c, type));
}

int64_t UpdateWireBytes(uint64_t round, uint32_t client_id, const PackedSparse& packed) {
  return UpdateWireBytesOf(round, client_id, SparseVectorWireBytes(packed));
}

bool Packable(const SparseVector& c) {
  if (c.dense) return false;
  for (const double v : c.values) {
    if (static_cast<double>(static_cast<float>(v)) != v) return false;
  }
  return true;
}

void Pack(const SparseVector& c, PackedSparse* out) {
  out->dim = c.dim;
  if (c.indices.empty()) {
    out->code.rice_bits = 0;
    out->code.bytes.clear();
  } else {
    EncodeIndices(c.indices, c.dim, &out->code);
  }
  out->values.resize(c.values.size());
  for (size_t j = 0; j < c.values.size(); ++j) out->values[j] = static_cast<float>(c.values[j]);
}

absl::Status Unpack(const PackedSparse& packed, SparseVector* out) {
  out->Clear(packed.dim);
  if (absl::Status s = DecodeIndices(packed.code.rice_bits, packed.code.bytes, packed.nnz(),
                                     packed.dim, &out->indices);
      !s.ok()) {
    return absl::InternalError(absl::StrCat("a packed message does not unpack: ", s.message()));
  }
  out->values.resize(packed.values.size());
  for (size_t j = 0; j < packed.values.size(); ++j) {
    out->values[j] = static_cast<double>(packed.values[j]);
  }
  return absl::OkStatus();
}

int64_t RoundStartWireBytes(uint64_t round, int64_t dim, double stepsize, bool diagnostics) {
  int64_t start = 0;
  if (round != 0) start += 1 + VarintBytes(round);  // round = 1
  if (dim > 0) start += LengthDelimited(dim * 8);   // x = 2, packed double
  if (stepsize != 0.0) start += 9;                  // stepsize = 3, fixed64
  if (diagnostics) start += 2;                      // diagnostics = 4
  return LengthDelimited(start);                    // ServerMessage.round_start = 2
}

void SplitExactValues(const SparseVector& v, ValueType type, SparseVector* narrow,
                      SparseVector* wide) {
  narrow->Clear(v.dim);
  wide->Clear(v.dim);
  for (size_t e = 0; e < v.values.size(); ++e) {
    const double value = v.values[e];
    SparseVector* part = InWidePart(value, type) ? wide : narrow;
    part->indices.push_back(v.indices[e]);
    part->values.push_back(value);
  }
}

ExactParts MeasureExactParts(const SparseVector& v, ValueType type) {
  ExactParts parts;
  for (const double value : v.values) ++parts.count[InWidePart(value, type)];
  // ChooseRiceBits's candidates for each part, their codes' lengths summed in one pass.
  int lo[2] = {0, 0}, hi[2] = {0, 0};
  uint64_t shifted[2][3] = {};
  for (int w = 0; w < 2; ++w) {
    if (parts.count[w] > 0) RiceCandidates(parts.count[w], v.dim, &lo[w], &hi[w]);
  }
  int64_t previous[2] = {-1, -1};
  for (size_t e = 0; e < v.values.size(); ++e) {
    const int w = InWidePart(v.values[e], type);
    const int32_t index = v.indices[e];
    const uint64_t gap = static_cast<uint64_t>(index - previous[w] - 1);
    previous[w] = index;
    for (int b = lo[w]; b <= hi[w]; ++b) shifted[w][b - lo[w]] += gap >> b;
  }
  for (int w = 0; w < 2; ++w) {
    if (parts.count[w] == 0) continue;
    const uint64_t count = static_cast<uint64_t>(parts.count[w]);
    parts.rice_bits[w] = ShortestRiceCode(
        lo[w], hi[w],
        [&](int b) { return shifted[w][b - lo[w]] + count * (1 + static_cast<uint64_t>(b)); },
        &parts.code_bits[w]);
  }
  return parts;
}

void EncodeExactPartIndices(const SparseVector& v, ValueType type, bool wide,
                            const ExactParts& parts, IndexCode* code) {
  WriteRiceCode(PartIndices{v, type, wide}, parts.rice_bits[wide], parts.code_bits[wide], code);
}

int64_t ExactPartWireBytes(const ExactParts& parts, int64_t dim, ValueType type, bool wide) {
  const int64_t count = parts.count[wide];
  int64_t bytes = 1 + VarintBytes(static_cast<uint64_t>(dim));  // dim = 1
  if (count > 0) {
    // rice_bits = 3 (omitted when 0), index_code = 4
    const uint32_t b = parts.rice_bits[wide];
    if (b != 0) bytes += 1 + VarintBytes(b);
    bytes += LengthDelimited(static_cast<int64_t>((parts.code_bits[wide] + 7) / 8));
    // values = 5 or 6
    bytes += LengthDelimited(count * (ValueBits(wide ? ValueType::kF64 : type) / 8));
  }
  return bytes;
}

int64_t DeltaRoundStartWireBytes(uint64_t round, double stepsize, bool diagnostics,
                                 const SparseVector& sum, ValueType type, double scale) {
  if (sum.dense) {
    static const SparseVector kNone;
    return DeltaRoundStartWireBytes(round, stepsize, diagnostics, sum, kNone, type, scale);
  }
  const ExactParts parts = MeasureExactParts(sum, type);
  int64_t delta = LengthDelimited(ExactPartWireBytes(parts, sum.dim, type, false));  // sum = 1
  if (parts.count[1] > 0) {
    delta += LengthDelimited(ExactPartWireBytes(parts, sum.dim, type, true));  // sum_wide = 2
  }
  return DeltaRoundStartWireBytesOf(round, stepsize, diagnostics, delta, scale);
}

int64_t DeltaRoundStartWireBytes(uint64_t round, double stepsize, bool diagnostics,
                                 const SparseVector& narrow, const SparseVector& wide,
                                 ValueType type, double scale) {
  int64_t delta = LengthDelimited(
      SparseVectorWireBytes(narrow, narrow.dense ? ValueType::kF64 : type));  // sum = 1
  if (wide.nnz() > 0)
    delta += LengthDelimited(SparseVectorWireBytes(wide, ValueType::kF64));  // sum_wide = 2
  return DeltaRoundStartWireBytesOf(round, stepsize, diagnostics, delta, scale);
}

int64_t ResyncRoundStartWireBytes(uint64_t round, int64_t dim, double stepsize, bool diagnostics) {
  int64_t start = 0;
  if (round != 0) start += 1 + VarintBytes(round);               // round = 1
  if (dim > 0) start += LengthDelimited(dim * 8);                // x = 2
  if (stepsize != 0.0) start += 9;                               // stepsize = 3
  if (diagnostics) start += 2;                                   // diagnostics = 4
  if (round != 0 && dim > 0) start += LengthDelimited(dim * 8);  // g = 6
  return LengthDelimited(start);
}

int64_t DiagnosticWireBytes(int64_t dim, bool with_gradient) {
  int64_t bytes = 9;  // loss = 4, fixed64 (always present: f_i(x) is needed for the loss column)
  if (with_gradient && dim > 0) bytes += LengthDelimited(dim * 8);  // gradient = 5
  return bytes;
}

}  // namespace ef21
