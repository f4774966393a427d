// The index code of a sparse message and the exact accounting of what a message costs.
//
// Indices travel as gaps — idx_0, then idx_j − idx_{j−1} − 1 — Golomb–Rice coded with a parameter
// b chosen per message (quotient in unary, then b low bits, LSB first). For k of d indices spread
// like top-k's this costs about log2(d/k) + 1.5 bits an index, close to the k·(log2(d/k) + 1.44)
// bound; plain 32-bit indices would double a float32 message.
//
// Two measures of communication (SPEC §6), both exact:
//  - paper convention: k values × 32 (or 64) bits per message; indices, the dense initial g_i^0
//    and the downlink are not counted;
//  - wire bytes: the serialized size of the protobuf messages of proto/ef21/v1, computed here
//    arithmetically so the simulator (which has no protobuf) reports exactly what the federation
//    sends. tests/server checks these sizes against protobuf's own ByteSizeLong.
// All functions are pure and thread-safe.
#ifndef EF21_COMMON_COMPRESS_SPARSE_CODEC_H_
#define EF21_COMMON_COMPRESS_SPARSE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/base/vector.h"

namespace ef21 {

struct IndexCode {
  uint32_t rice_bits = 0;  // the Golomb–Rice parameter b
  std::string bytes;       // the bit stream, zero-padded to whole bytes
};

// The largest Rice parameter an encoder uses and a decoder accepts.
inline constexpr uint32_t kMaxRiceBits = 30;

// Encodes strictly increasing indices in [0, dim).
void EncodeIndices(absl::Span<const int32_t> indices, int64_t dim, IndexCode* code);
// The byte length EncodeIndices would produce, without producing it.
int64_t EncodedIndexBytes(absl::Span<const int32_t> indices, int64_t dim);

// Decodes exactly `count` indices. Every malformed stream is an INVALID_ARGUMENT naming the
// problem: an index reaching `dim`, a truncated stream, non-zero padding or trailing bytes, or a
// Rice parameter above kMaxRiceBits. Never reads out of bounds.
absl::Status DecodeIndices(uint32_t rice_bits, absl::string_view bytes, int64_t count, int64_t dim,
                           std::vector<int32_t>* indices);

// A sparse message of a float32 run held as it travels: its index code (EncodeIndices: the code
// and Rice parameter the accounting assumes) and its values as float32 — 4 bytes a value and about
// log2(d/k) + 1.5 bits an index, against a SparseVector's 12 bytes an entry. Unpack gives back the
// SparseVector bit for bit. What an aggregator under --client-state=worker keeps of a round's
// pending messages until the round closes.
struct PackedSparse {
  int64_t dim = 0;
  IndexCode code;
  std::vector<float> values;

  int64_t nnz() const { return static_cast<int64_t>(values.size()); }
  // The heap bytes it holds (capacities).
  size_t HeapBytes() const { return code.bytes.capacity() + sizeof(float) * values.capacity(); }
};
// Whether c can be packed: not dense, every value exactly a float32.
bool Packable(const SparseVector& c);
// Packs a Packable c into *out (reusing its capacity).
void Pack(const SparseVector& c, PackedSparse* out);
// The SparseVector that was packed, into *out (reusing its capacity). The code came from
// EncodeIndices, so it decodes; INTERNAL if it does not.
absl::Status Unpack(const PackedSparse& packed, SparseVector* out);

// Paper-convention bits of one compressed message: its values × 32 or 64.
int64_t PaperBits(const SparseVector& c, ValueType type);

// --- Serialized sizes of the proto/ef21/v1 messages (protobuf encoding rules). ---

// Bytes of a varint holding v.
int VarintBytes(uint64_t v);
// ef21.v1.SparseVector carrying c.
int64_t SparseVectorWireBytes(const SparseVector& c, ValueType type);
// The same of the message `packed` holds (a float32 run's): equal to SparseVectorWireBytes of the
// unpacked message, read off the code.
int64_t SparseVectorWireBytes(const PackedSparse& packed);
// The algorithm part of one client's update: one element of ef21.v1.WorkerMessage.updates,
// Update{round, client_id, c} — what the client must send, without the diagnostics (loss, gradient)
// that ride along and are counted apart.
int64_t UpdateWireBytes(uint64_t round, uint32_t client_id, const SparseVector& c, ValueType type);
int64_t UpdateWireBytes(uint64_t round, uint32_t client_id, const PackedSparse& packed);
// ef21.v1.ServerMessage{round_start: RoundStart{round, x, stepsize, diagnostics}}: what one
// client receives to start a round.
int64_t RoundStartWireBytes(uint64_t round, int64_t dim, double stepsize, bool diagnostics);
// --- The exact delta downlink (RoundStart.delta, issue 11). ---

// Splits a sparse sum into the entries whose value travels exactly as `type` (narrow: all of them
// for kF64, those equal to their float32 rounding for kF32) and the others (wide, sent as f64).
// `v` must not be dense. Both outputs keep v's dimension and ascending indices.
void SplitExactValues(const SparseVector& v, ValueType type, SparseVector* narrow,
                      SparseVector* wide);
// Whether a value of a sparse sum travels in the wide part (as f64): it is not exact as `type`.
inline bool InWidePart(double value, ValueType type) { return RoundToWire(value, type) != value; }
// The two parts of SplitExactValues(v, type) — [0] the narrow one, [1] the wide one — measured
// without writing them out (one pass to count, one for the codes' lengths): entries, the Rice
// parameter and the code length in bits EncodeIndices would choose for the part's indices. `v`
// must not be dense.
struct ExactParts {
  int64_t count[2] = {0, 0};
  uint32_t rice_bits[2] = {0, 0};
  uint64_t code_bits[2] = {0, 0};
};
ExactParts MeasureExactParts(const SparseVector& v, ValueType type);
// EncodeIndices of one part's indices (`wide`: the wide part), from `parts` = MeasureExactParts.
void EncodeExactPartIndices(const SparseVector& v, ValueType type, bool wide,
                            const ExactParts& parts, IndexCode* code);
// SparseVectorWireBytes of one part (the wide part's values as f64).
int64_t ExactPartWireBytes(const ExactParts& parts, int64_t dim, ValueType type, bool wide);
// The bytes of the RoundStart below carrying round delta `sum` (split as SplitExactValues would,
// without the copies; a dense sum as f64).
int64_t DeltaRoundStartWireBytes(uint64_t round, double stepsize, bool diagnostics,
                                 const SparseVector& sum, ValueType type, double scale);
// ef21.v1.ServerMessage{round_start: RoundStart{round, stepsize, diagnostics, delta}} carrying a
// round delta with the given parts (a dense sum is `narrow` with dense set, sent as f64; `wide`
// empty is omitted) and step scale.
int64_t DeltaRoundStartWireBytes(uint64_t round, double stepsize, bool diagnostics,
                                 const SparseVector& narrow, const SparseVector& wide,
                                 ValueType type, double scale);
// A resynchronizing RoundStart: dense x and g (g omitted at round 0, where it is zero).
int64_t ResyncRoundStartWireBytes(uint64_t round, int64_t dim, double stepsize, bool diagnostics);

// The diagnostic fields of an Update: f_i(x) always, the dense ∇f_i(x) when `with_gradient`.
int64_t DiagnosticWireBytes(int64_t dim, bool with_gradient);

}  // namespace ef21

#endif  // EF21_COMMON_COMPRESS_SPARSE_CODEC_H_
