// The one seam between the wire contract (proto/ef21/v1/ef21.proto) and common/ types: sparse
// vectors, run specs, dense vectors mapped without copies, the data fingerprint both ends compute,
// and the one pair of functions converting absl::Status to and from grpc::Status.
//
// Decoding validates everything a message can get wrong on its own (dimension, entry count, index
// code, value type, finiteness) and reports it as INVALID_ARGUMENT naming the problem; checks that
// need the run's state (round, client identity) belong to the aggregator's RoundCoordinator.
// All functions are pure and thread-safe.
#ifndef EF21_PROTO_CODEC_H_
#define EF21_PROTO_CODEC_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/base/vector.h"
#include "common/methods/method.h"
#include "common/problems/problem.h"
#include "common/run/run_config.h"
#include "ef21/v1/ef21.pb.h"
#include "grpcpp/support/status.h"
#include "proto/rejection_reason.h"
#include "proto/update_wire.h"

namespace ef21 {

// The trailing metadata key of every Train stream carrying the aggregator's run id, so a worker
// refused after an aggregator restart can say which run replaced its own.
inline constexpr char kRunIdMetadataKey[] = "ef21-run-id";

// --- Status seam. ---
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// --- Dense vectors: protobuf repeated doubles seen as Eigen vectors, no copy. ---
inline Eigen::Map<const Vector> MapVector(const google::protobuf::RepeatedField<double>& field) {
  return Eigen::Map<const Vector>(field.data(), field.size());
}
// Replaces `field` with v (one resize and one copy; the field keeps its capacity across calls).
void AssignVector(ConstVectorRef v, google::protobuf::RepeatedField<double>* field);

// --- Sparse vectors. ---
void EncodeSparseVector(const SparseVector& c, ValueType type, v1::SparseVector* out);

// What a decoded message may contain.
struct SparseLimits {
  int64_t dim = 0;
  ValueType type = ValueType::kF32;
  int64_t max_entries = 0;          // entries of a sparse message (k, or d for the identity)
  bool dense_allowed = false;       // round 0 with --init=full, or the identity compressor
  double max_abs_value = HUGE_VAL;  // the largest |value| accepted (--max-update-value)
};
// Decodes and validates `in` into `out` (reusing its capacity). Errors are INVALID_ARGUMENT with
// a message naming what was expected and what came ("entry 3 has index 130 >= dimension 123");
// On an error *reason says which check refused the message (for ef21_rejected_messages_total).
absl::Status DecodeSparseVector(const SparseVectorView& in, const SparseLimits& limits,
                                SparseVector* out, RejectionReason* reason);
absl::Status DecodeSparseVector(const v1::SparseVector& in, const SparseLimits& limits,
                                SparseVector* out, RejectionReason* reason);

// --- Updates (worker → aggregator): the one encoder and the one decoder of v1::Update. ---
// Builds client `client`'s update for `round` from its message (the dense gradient only when
// `diagnostics`), reusing `out`'s capacity.
void EncodeUpdate(uint64_t round, int64_t client, const ClientMessage& message, bool diagnostics,
                  ValueType type, v1::Update* out);

// One client's update, decoded and validated on its own.
struct DecodedUpdate {
  uint64_t round = 0;
  int64_t client = 0;
  SparseVector c;
  // Instead of c (then empty), c packed: what an aggregator under --client-state=worker keeps of a
  // float32 run's sparse message until its round closes (4 bytes a value and the index code, not
  // 12 bytes an entry; common/compress/sparse_codec.h). DecodeUpdate writes c and clears this.
  bool is_packed = false;
  PackedSparse packed;
  double loss = 0.0;
  Vector gradient;  // ∇f_i(x^r) on diagnostic rounds, else empty
  uint64_t digest = 0;
  int64_t algorithm_bytes = 0;
  int64_t diagnostic_bytes = 0;

  // Exchanges the contents of the two, member by member: the storage of c, packed and gradient
  // changes hands (pointer swaps), the scalars are exchanged. What std::swap does, without its
  // three moves of the whole struct (the aggregator swaps every update it accepts into its slot).
  void Swap(DecodedUpdate& other) noexcept;
};

// Packs u->c (when Packable) into u->packed, moves c's storage to *scratch and frees what
// *scratch held: a caller that swaps each update's c with the scratch before DecodeUpdate decodes
// every update of a batch into one buffer, and the batch holds the packed forms only. Returns
// whether it packed (else nothing changed).
bool PackDecodedUpdate(DecodedUpdate* u, SparseVector* scratch);
// Decodes `in` into `out` (reusing its capacity), validating everything an update can get wrong
// on its own against the run: the client id's range (PERMISSION_DENIED), then c (see
// DecodeSparseVector; dense only where MethodContext::DenseRound or the identity compressor allow
// it), the loss and the diagnostic gradient (INVALID_ARGUMENT). Checks that need the run's state
// (round, which stream carries the client) are the RoundCoordinator's. *reason as for
// DecodeSparseVector.
// Values of c above `max_abs_value` in absolute value are refused (value_too_large).
// `summed`: the update's gradient is in one of its batch's gradient sums (WorkerMessage.
// gradient_sums), so it must carry none.
// The view (proto/update_wire.h) is what the aggregator decodes, read from the wire or from a
// parsed message; the v1::Update form views it.
absl::Status DecodeUpdate(const UpdateView& in, const MethodContext& context, DecodedUpdate* out,
                          RejectionReason* reason, double max_abs_value = HUGE_VAL,
                          bool summed = false);
absl::Status DecodeUpdate(const v1::Update& in, const MethodContext& context, DecodedUpdate* out,
                          RejectionReason* reason, double max_abs_value = HUGE_VAL,
                          bool summed = false);
// --- Round deltas (RoundStart.delta, the exact delta downlink). ---
// Writes delta's sum (split by SplitExactValues; a dense sum as f64) and scale.
void EncodeRoundDelta(const RoundDelta& delta, ValueType type, v1::RoundDelta* out);
// The serialized ServerMessage{round_start: RoundStart{round, x, stepsize, diagnostics,
// checkpointed, g}} — a dense RoundStart (g null: none, as at round 0 or DownlinkKind::kDense) —
// written straight from x and g into *out: the bytes protobuf would serialize from a message
// holding copies of them (fields in number order, defaults omitted), without the copies.
void WriteDenseRoundStart(uint64_t round, ConstVectorRef x, double stepsize, bool diagnostics,
                          bool checkpointed, const Vector* g, std::string* out);
// The serialized ServerMessage{round_start: RoundStart{round, stepsize, diagnostics, checkpointed,
// delta}} whose delta is EncodeRoundDelta(delta, type), written from delta's sum straight into
// *out: the bytes protobuf would serialize from that message, without the message (an aggregator
// keeping memory low holds the sum and these bytes at the close, not a third copy).
void WriteDeltaRoundStart(uint64_t round, double stepsize, bool diagnostics, bool checkpointed,
                          const RoundDelta& delta, ValueType type, std::string* out);
// Decodes and validates `in` as the delta of round `closed_round` into `out` (reusing its
// capacity): dimensions, index codes, value types, disjoint parts, finite values and scale. The
// two parts are merged back into one ascending sum. Errors are INVALID_ARGUMENT naming the problem.
absl::Status DecodeRoundDelta(const v1::RoundDelta& in, uint64_t closed_round, int64_t dim,
                              ValueType type, RoundDelta* out);

// A digest of an update's content (round, client, c, loss), to tell an exact resend from a
// conflicting one. Equal messages give equal digests within a process.
uint64_t UpdateDigest(const UpdateView& update);
uint64_t UpdateDigest(const v1::Update& update);

// --- Run specs. ---
// The whole configuration (Welcome.spec).
void RunConfigToSpec(const RunConfig& config, v1::RunSpec* spec);
// Only the problem fields (Attach.problem).
void ProblemToSpec(const RunConfig& config, v1::RunSpec* spec);
// The configuration a spec describes; an unknown enum name is INVALID_ARGUMENT. `out` keeps its
// run-only fields (out, threads).
absl::Status SpecToRunConfig(const v1::RunSpec& spec, RunConfig* out);
// The problem fields of `worker` against those of `run` (the data path is not compared; the data
// fingerprint is). FAILED_PRECONDITION naming the first field that differs.
absl::Status CompareProblemSpecs(const v1::RunSpec& worker, const v1::RunSpec& run);

// --- Data fingerprint (Attach.data_digest). ---
// Problem::DataDigest of each client: every row and coordinate of its data.
void ClientDataDigests(const Problem& problem, absl::Span<const int64_t> clients, uint64_t* out);
// The fingerprint of a set of clients: the (id, digest) pairs in ascending id order, digested.
// Both ends of a stream compute it from their own data; `ids` must be ascending.
uint64_t CombineDataDigests(absl::Span<const int64_t> ids, absl::Span<const uint64_t> digests);
// f_i(p) at the fixed probe point p_j = ((j mod 7) − 3)/8 for each client, and their sum in order:
// the checkpoint's record of the data it was taken with.
void ProbeLosses(const Problem& problem, absl::Span<const int64_t> clients, double* out);
double SumAscending(absl::Span<const double> values);

// --- Client reports (Attach.constants; issue 11 item 5). ---
// What a worker tells the aggregator of one client: its constants and its data digest.
struct ShardReport {
  ClientConstants constants;
  uint64_t digest = 0;
};
// Bit for bit (a -0.0 differs from 0.0).
bool SameReport(const ShardReport& a, const ShardReport& b);
// "rows 1, L 0.35, L0 0.1, L1 1.2, digest 0x..." for refusals.
std::string FormatReport(const ShardReport& report);
// Problem::ClientSmoothness and Problem::DataDigest of client `client`.
ShardReport ComputeShardReport(const Problem& problem, int64_t client);
void EncodeShardReport(int64_t client, const ShardReport& report, v1::ClientConstants* out);
// Attach.constants in the order of Attach.client_ids: exactly one per id, naming it, each value
// finite and >= 0, rows >= 1, and the digests combining (CombineDataDigests, ascending id) to
// Attach.data_digest. INVALID_ARGUMENT naming the first client and field that is wrong. An attach
// with no constants at all (a worker with --report-constants=false) decodes to no reports; whether
// that is acceptable is the aggregator's call (it is when it holds the data).
absl::Status DecodeShardReports(const v1::Attach& attach, std::vector<ShardReport>* out);
// Fills Attach.constants and Attach.data_digest for the attach's client_ids from `problem`, as an
// honest worker does.
void SetShardReports(const Problem& problem, v1::Attach* attach);

// --- Client claims (Attach.claims; --client-state=worker). ---
// The most state hashes one ClientClaim may hold: what an honest worker can resume from — the one
// in memory and, from its --state-dir, the anchor and the last two rounds it logged
// (client/client_state_log.h).
inline constexpr int kMaxHeldPerClaim = 4;
// Attach.claims within bounds: at most one claim per client id (so at most
// kMaxHeldPerClaim × |client_ids| hashes in all) and at most kMaxHeldPerClaim held hashes in each.
// INVALID_ARGUMENT naming the limit and what came. Whether the claims match the ids and the run is
// the aggregator's check.
absl::Status CheckClaimBounds(const v1::Attach& attach);

}  // namespace ef21

#endif  // EF21_PROTO_CODEC_H_
