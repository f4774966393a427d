// The close of one round, written once for `ef21 simulate` and the aggregator's round coordinator,
// so that simulate ≡ federation (bit for bit) holds by construction rather than by discipline.
//
// Closing round r, given the messages of all n clients indexed by client id:
//   1. count the round's communication (paper bits, uplink and downlink wire bytes);
//   2. f(x^r) = (1/n) Σ_i f_i(x^r) summed in ascending id and, on diagnostic rounds, ‖∇f(x^r)‖²
//      with Σ_i ∇f_i(x^r) summed over the fixed client tree (common/run/gradient_tree.h);
//   3. aggregate the c_i^r in ascending id and step to x^{r+1} (ServerMethod::CloseRound);
//   4. the metrics.csv row of round r, with a classifier's accuracies and test loss at x^r on
//      diagnostic rounds (Problem::Evaluate: in the federation the aggregator scores x^r from its
//      own copy of the data set).
// What a caller does around it — running the clients, or collecting their updates over gRPC,
// writing the row, broadcasting the next round — stays with the caller.
//
// Partial participation (EF21-PP): a client that does not take part in round r has no report
// (c = nullptr) and sent nothing, so nothing of it is counted; the round's f(x^r) and ‖∇f(x^r)‖²
// are still those of all n clients — whoever closes the round holds x^r and the problem, and
// computes f_i(x^r) (and ∇f_i(x^r) on diagnostic rounds) of the absent clients itself.
//
//   RoundCloser closer(context);
//   for (int64_t i = 0; i < n; ++i) reports[i] = {&msg[i].c, msg[i].loss, &msg[i].gradient};
//   const MetricsRow row = closer.Close(reports, MonotonicSeconds() - started, server.get());
//
// Thread-compatible: one closer per run, used by one thread at a time.
#ifndef EF21_COMMON_RUN_ROUND_CLOSE_H_
#define EF21_COMMON_RUN_ROUND_CLOSE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "common/base/clock.h"
#include "common/methods/method.h"
#include "common/run/downlink.h"
#include "common/run/gradient_tree.h"
#include "common/run/run_log.h"

namespace ef21 {

// One client's part in closing a round. The pointers must stay valid during Close().
struct ClientReport {
  const SparseVector* c = nullptr;  // c_i^r exactly as sent; null: client i did not take part
  double loss = 0.0;                // f_i(x^r)
  // ∇f_i(x^r), read on diagnostic rounds only; null or empty: evaluated by the closer (the
  // client sent none, --client-state=worker).
  const Vector* gradient = nullptr;
  // Or, with c null, c_i^r packed (a float32 run's aggregator keeping memory low), unpacked where
  // it is read: the same bits.
  const PackedSparse* packed = nullptr;
};

class RoundCloser {
 public:
  // `totals` is the communication already counted (non-zero when a run resumes); `downlink` is the
  // run's --downlink, which decides the bytes of the downlink column (common/run/downlink.h).
  explicit RoundCloser(std::shared_ptr<const MethodContext> context, CommTotals totals = {},
                       DownlinkMode downlink = DownlinkMode::kAuto);

  // Closes `server`'s open round r with `reports[i]` from client i (all n of them, null c for the
  // clients that did not take part): steps 1–4 above. `wall_seconds` goes into the row as is.
  // `point`: x^r already prepared by the caller (Problem::Prepare), or null to prepare it here.
  // `sums`: partial sums of the diagnostic gradients over subtrees of the client tree
  // (common/run/gradient_tree.h) that worker hosts sent instead of their clients' gradients; the
  // clients under them carry none.
  MetricsRow Close(absl::Span<const ClientReport> reports, double wall_seconds,
                   ServerMethod* server, const EvalPoint* point = nullptr,
                   absl::Span<const NodeSum> sums = {});

  // Communication counted through the last closed round.
  const CommTotals& totals() const { return totals_; }

  // The open round's RoundStart as a host attached throughout receives it (its kind and bytes,
  // the next row's downlink count; bytes -1 before round 0 closed). A checkpoint keeps it, so
  // that a resumed run counts the downlink exactly as one never interrupted.
  struct OpenRoundStart {
    DownlinkKind kind = DownlinkKind::kDense;
    int64_t bytes = -1;
  };
  OpenRoundStart open_round_start() const { return {downlink_.last_kind(), round_start_bytes_}; }
  // Continues from a checkpoint's open_round_start() (totals were given to the constructor).
  void ResumeOpenRoundStart(const OpenRoundStart& start);

  // With `release`, the closer keeps memory low (an aggregator under --client-state=worker): the
  // diagnostic tree's per-level partial sums go back to the heap as soon as a round's diagnostics
  // are summed instead of being kept for the next diagnostic round, and where the problem can
  // (Problem::AddsGradientBlocks) and nobody sent a gradient, Σ_i ∇f_i(x^r) is summed over the
  // same tree kDiagnosticBlock coordinates at a time (the same bits: every coordinate takes the
  // same additions in the same order, and ‖·‖² adds the coordinates in ascending order), so that
  // the diagnostics hold O(block) memory, not d-sized vectors, next to the round's messages.
  void set_release_tree_scratch(bool release) { release_tree_scratch_ = release; }
  static constexpr int64_t kDiagnosticBlock = int64_t{1} << 15;

 private:
  // ‖(1/n) Σ_i ∇f_i(x^r)‖² summed block by block (set_release_tree_scratch), every client's
  // gradient evaluated here; frees its buffers before it returns.
  double BlockedGradientNormSq(const EvalPoint& at);

  std::shared_ptr<const MethodContext> context_;
  CommTotals totals_;
  // The downlink of a host attached throughout, and the bytes of the open round's RoundStart
  // (-1: not known yet: round 0, or a resumed run whose checkpoint did not say — counted as its
  // dense form).
  SteadyDownlink downlink_;
  int64_t round_start_bytes_ = -1;
  // Scratch, kept across rounds.
  std::vector<const SparseVector*> by_client_;
  std::vector<const PackedSparse*> packed_;  // empty unless a report is packed
  std::vector<double> losses_;
  GradientTree tree_;  // the diagnostic gradients' summation order
  std::vector<Vector> tree_scratch_;
  bool release_tree_scratch_ = false;
  Vector gradient_;   // ∇f_i(x^r) of a client evaluated here, unless added to the sum in place
  Vector block_sum_;  // one block of Σ_i ∇f_i(x^r) (BlockedGradientNormSq)
  EvalPoint point_;   // x^r for Problem::Evaluate and the absent clients' diagnostics
};

// The summary.json fields describing a run (problem, n, d, α, γ, η, constants, the diagnostics
// interval in effect and the diagnostic uplink bytes per client — the dense ∇f_i and f_i of
// diagnostic rounds, counted apart from uplink_bytes_per_client — from `totals`, the closer's);
// the simulator and the aggregator both write them.
nlohmann::ordered_json DescribeRun(const MethodContext& context, const CommTotals& totals);
// The same with the problem's description and constants given (an aggregator without data
// describes the run from its workers' reports).
nlohmann::ordered_json DescribeRun(const MethodContext& context, const CommTotals& totals,
                                   const std::string& problem,
                                   const SmoothnessConstants& constants);

}  // namespace ef21

#endif  // EF21_COMMON_RUN_ROUND_CLOSE_H_
