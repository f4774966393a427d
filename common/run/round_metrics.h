// Turns one closed round into a metrics.csv row. The simulator and the aggregator both call these
// functions, in ascending client id, so their rows agree bit for bit.
#ifndef EF21_COMMON_RUN_ROUND_METRICS_H_
#define EF21_COMMON_RUN_ROUND_METRICS_H_

#include <cstdint>

#include "absl/types/span.h"
#include "common/methods/method.h"
#include "common/run/run_log.h"

namespace ef21 {

// Adds round r's communication to `totals`: each client's update (paper bits when counted, wire
// bytes of the algorithm part, diagnostic bytes) — none for a null entry, a client that did not
// take part — and the RoundStart each of the n clients receives, `round_start_bytes`
// (SteadyDownlink's, common/run/downlink.h).
// `packed`: empty, or client i's message packed where by_client[i] is null
// (ServerMethod::CloseRound).
void CountRound(const MethodContext& context, uint64_t round,
                absl::Span<const SparseVector* const> by_client, int64_t round_start_bytes,
                CommTotals* totals, absl::Span<const PackedSparse* const> packed = {});

// f(x) = (1/n) Σ_i f_i(x) and, when `gradients` is not empty, ∇f(x) = (1/n) Σ_i ∇f_i(x), both
// summed in the order given (ascending client id).
struct RoundDiagnostics {
  double loss = 0.0;
  double grad_norm_sq = 0.0;  // nan without gradients
};
RoundDiagnostics ReduceDiagnostics(absl::Span<const double> losses,
                                   absl::Span<const Vector* const> gradients, Vector* scratch);

// ReduceDiagnostics' gradient one client at a time, for a caller that evaluates the ∇f_i itself
// and should not hold n of them: AddGradient(∇f_i, sum) for i ascending from a zero `sum` (sized
// d), then MeanGradientNormSq(n, sum) — the same sums, bit for bit.
void AddGradient(const Vector& gradient, Vector* sum);
double MeanGradientNormSq(int64_t clients, Vector* sum);

// `evaluation`: EvaluateRound's result (NaN fields: not evaluated).
MetricsRow MakeMetricsRow(uint64_t round, const CommTotals& totals, int64_t clients,
                          const RoundDiagnostics& diagnostics, double g_norm, double stepsize,
                          double wall_seconds, const Evaluation& evaluation = {});

// Accuracy and test metrics of a classifier at x^r (Problem::Evaluate) on diagnostic rounds; all
// NaN on other rounds and for problems without them. Called by whoever holds x^r — the simulator,
// the aggregator's round coordinator — with the point the clients evaluated at.
Evaluation EvaluateRound(const MethodContext& context, uint64_t round, const EvalPoint& point);

}  // namespace ef21

#endif  // EF21_COMMON_RUN_ROUND_METRICS_H_
