#include "common/run/round_metrics.h"

#include <cmath>
#include <limits>

#include "common/compress/sparse_codec.h"

namespace ef21 {

void CountRound(const MethodContext& context, uint64_t round,
                absl::Span<const SparseVector* const> by_client, int64_t round_start_bytes,
                CommTotals* totals, absl::Span<const PackedSparse* const> packed) {
  const ValueType type = context.options.value_type;
  const bool paper = context.CountsPaperBits(round);
  const bool diagnostics = context.UploadsGradient(round);
  for (size_t i = 0; i < by_client.size(); ++i) {
    if (by_client[i] != nullptr) {
      const SparseVector& c = *by_client[i];
      if (paper) totals->paper_bits += PaperBits(c, type);
      totals->uplink_bytes += UpdateWireBytes(round, static_cast<uint32_t>(i), c, type);
    } else if (!packed.empty() && packed[i] != nullptr) {
      // A float32 run's message, packed: the same counts (Pack wrote EncodeIndices' code).
      if (paper) totals->paper_bits += packed[i]->nnz() * ValueBits(type);
      totals->uplink_bytes += UpdateWireBytes(round, static_cast<uint32_t>(i), *packed[i]);
    } else {
      continue;  // did not take part (EF21-PP): sent nothing
    }
    totals->diagnostic_bytes += DiagnosticWireBytes(context.dim(), diagnostics);
  }
  totals->downlink_bytes += static_cast<int64_t>(by_client.size()) * round_start_bytes;
}

RoundDiagnostics ReduceDiagnostics(absl::Span<const double> losses,
                                   absl::Span<const Vector* const> gradients, Vector* scratch) {
  RoundDiagnostics out;
  const double n = static_cast<double>(losses.size());
  double loss = 0.0;
  for (double l : losses) loss += l;
  out.loss = loss / n;
  if (gradients.empty()) {
    out.grad_norm_sq = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  scratch->setZero(gradients[0]->size());
  for (const Vector* g : gradients) AddGradient(*g, scratch);
  out.grad_norm_sq = MeanGradientNormSq(static_cast<int64_t>(losses.size()), scratch);
  return out;
}

void AddGradient(const Vector& gradient, Vector* sum) {
  // Each coordinate is summed over clients in ascending id; vectorizing across coordinates keeps
  // that order.
  double* __restrict s = sum->data();
  const double* __restrict gi = gradient.data();
  const Eigen::Index d = sum->size();
  for (Eigen::Index j = 0; j < d; ++j) s[j] += gi[j];
}

double MeanGradientNormSq(int64_t clients, Vector* sum) {
  const double n = static_cast<double>(clients);
  double* s = sum->data();
  for (Eigen::Index j = 0; j < sum->size(); ++j) s[j] /= n;
  return SquaredNorm(*sum);
}

MetricsRow MakeMetricsRow(uint64_t round, const CommTotals& totals, int64_t clients,
                          const RoundDiagnostics& diagnostics, double g_norm, double stepsize,
                          double wall_seconds, const Evaluation& evaluation) {
  const double n = static_cast<double>(clients);
  MetricsRow row;
  row.round = round;
  row.paper_bits_per_client = static_cast<double>(totals.paper_bits) / n;
  row.uplink_bytes_per_client = static_cast<double>(totals.uplink_bytes) / n;
  row.downlink_bytes_per_client = static_cast<double>(totals.downlink_bytes) / n;
  row.loss = diagnostics.loss;
  row.grad_norm_sq = diagnostics.grad_norm_sq;
  row.grad_norm = std::sqrt(diagnostics.grad_norm_sq);
  row.g_norm = g_norm;
  row.stepsize = stepsize;
  row.wall_seconds = wall_seconds;
  row.train_accuracy = evaluation.train_accuracy;
  row.test_loss = evaluation.test_loss;
  row.test_accuracy = evaluation.test_accuracy;
  return row;
}

Evaluation EvaluateRound(const MethodContext& context, uint64_t round, const EvalPoint& point) {
  if (!context.problem->HasEvaluation() || !context.DiagnosticRound(round)) return {};
  return context.problem->Evaluate(point);
}

}  // namespace ef21
