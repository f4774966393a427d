// The aggregator's checkpoint: everything a RoundCoordinator needs to continue a run exactly where
// it was — the run id and configuration, the open round r, x^r and g^{r−1}, every client's g_i as
// the aggregator holds it, the stepsize plan, the communication counters (with the open round's
// RoundStart as metrics.csv's downlink column counts it) and the elapsed time. It
// is taken between rounds (no update of the open round is in it: workers resend theirs), so
// resuming it and running to the end gives the same rows as a run never interrupted.
//
// On disk (<out>/checkpoint.bin), little-endian:
//   "EF21CKP4"  u64 payload size  payload  u64 checksum of the payload
// The older formats are read too: "EF21CKP3" lacks the workers' reports (Attach.constants);
// "EF21CKP2" also lacks the data digest (a resume then compares only
// the probe fingerprint, which misses a change in a coordinate where the probe point is zero);
// "EF21CKP1", written before the delta downlink, also lacks the open round's RoundStart, which
// then counts as dense x, as those runs sent it.
// Per client the payload holds a flag and then g_i (flag 1), nothing (0: no update received yet),
// or — under --client-state=worker, where the aggregator keeps no g_i — the u64 state hash of g_i
// (flag 2): such a checkpoint is O(d) + O(n), not O(n·d).
// Streamed (through a 256 KB buffer, the checksum computed on the way: no buffer of the whole
// file) to checkpoint.bin.tmp, fsync'ed, renamed over checkpoint.bin and the directory fsync'ed:
// a crash at any moment leaves the previous checkpoint or the new one, whole. A file whose
// magic, size or checksum is wrong is refused with DATA_LOSS.
//
// Thread-compatible (plain functions on values).
#ifndef EF21_SERVER_CHECKPOINT_H_
#define EF21_SERVER_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/base/vector.h"
#include "common/run/downlink.h"
#include "common/run/run_log.h"
#include "proto/codec.h"

namespace ef21 {

inline constexpr char kCheckpointFileName[] = "checkpoint.bin";

struct AggregatorCheckpoint {
  std::string run_id;
  std::string config_json;   // RunConfig::ToJson() of the run: the identity of its configuration
  double fingerprint = 0.0;  // Σ_i f_i(p) over all clients at the probe point p (ProbeLosses)
  // The data the run was started on: CombineDataDigests over every client's Problem::DataDigest
  // (every row, coordinate and label). Absent in checkpoints older than EF21CKP3.
  std::optional<uint64_t> data_digest;
  uint64_t round = 0;     // the open round (K + 1 once complete)
  bool complete = false;  // every round 0..K closed
  double gamma = 0.0;     // the stepsize plan (SPEC §4)
  double eta = 0.0;
  std::string stepsize_rule;
  CommTotals totals;
  // The open round's RoundStart for a host attached throughout (RoundCloser::OpenRoundStart):
  // its kind decides the next one under --downlink=auto|delta, its bytes the next row.
  DownlinkKind open_round_start_kind = DownlinkKind::kDense;
  int64_t open_round_start_bytes = -1;  // -1: not counted yet (round 0)
  double elapsed_seconds = 0.0;         // wall time of the run so far (metrics.csv's wall_seconds)
  Vector x;                             // x^r
  Vector g;                             // g^{r−1} (zero before round 0 closed)
  std::vector<Vector> client_g;         // g_i by client id; empty: no update of i ever received
  // What each client's worker reported at attach (its constants and data digest), by client id;
  // empty: not reported yet. An aggregator without data holds re-attaching workers to them.
  // Absent (no entries) in checkpoints older than EF21CKP4.
  std::vector<std::optional<ShardReport>> reports;
  // --client-state=worker: instead of g_i, its state hash (ChainClientState) by client id;
  // empty in the aggregator mode.
  std::vector<uint64_t> client_chain;
};

std::string EncodeCheckpoint(const AggregatorCheckpoint& checkpoint);
// `where` names the source in errors.
absl::StatusOr<AggregatorCheckpoint> DecodeCheckpoint(absl::string_view bytes,
                                                      const std::string& where);

// Writes `checkpoint` to `path` atomically and durably (see above).
//
// Test hook: with the environment variable EF21_TEST_CHECKPOINT_KILL=N, the N-th checkpoint this
// process writes stops halfway through the temporary file and the process kills itself with
// SIGKILL — a kill -9 during the write, on purpose.
// Returns the bytes written.
absl::StatusOr<int64_t> WriteCheckpoint(const std::string& path,
                                        const AggregatorCheckpoint& checkpoint);
// The same with x^r, g^{r−1} and the g_i copies given apart (checkpoint.x, .g and .client_g are
// not read; client_g[i] as checkpoint.client_g[i] would be: empty for a client never heard from,
// and in the worker mode one entry per client, not read): encoded straight from the vectors that
// hold them into the file, so that a checkpoint copies no d-sized vector — for an aggregator with
// n g_i copies, not n·d values more — and holds no buffer of the file's bytes. They must not
// change until it returns.
absl::StatusOr<int64_t> WriteCheckpoint(const std::string& path,
                                        const AggregatorCheckpoint& checkpoint, ConstVectorRef x,
                                        ConstVectorRef g, absl::Span<const Vector* const> client_g);
// NOT_FOUND when there is no file at `path`.
absl::StatusOr<AggregatorCheckpoint> ReadCheckpoint(const std::string& path);

}  // namespace ef21

#endif  // EF21_SERVER_CHECKPOINT_H_
