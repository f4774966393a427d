#include "common/run/round_close.h"

#include <algorithm>

#include "common/compress/sparse_codec.h"
#include "common/run/round_metrics.h"

namespace ef21 {

RoundCloser::RoundCloser(std::shared_ptr<const MethodContext> context, CommTotals totals,
                         DownlinkMode downlink)
    : context_(std::move(context)),
      totals_(totals),
      downlink_(downlink, context_->dim(), context_->options.value_type),
      tree_(context_->num_clients()) {
  const int64_t n = context_->num_clients();
  by_client_.resize(n);
  losses_.resize(n);
}

void RoundCloser::ResumeOpenRoundStart(const OpenRoundStart& start) {
  downlink_.Resume(start.kind);
  round_start_bytes_ = start.bytes;
}

MetricsRow RoundCloser::Close(absl::Span<const ClientReport> reports, double wall_seconds,
                              ServerMethod* server, const EvalPoint* point,
                              absl::Span<const NodeSum> sums) {
  const MethodContext& context = *context_;
  const int64_t n = context.num_clients();
  const uint64_t round = server->round();
  const bool diagnostics = context.DiagnosticRound(round);
  const EvalPoint* at = point;  // x^r prepared, once needed
  auto prepare = [&] {
    if (at != nullptr) return;
    // Borrowed: x^r stays as it is until server->CloseRound below.
    context.problem->PrepareBorrowed(server->x(), &point_);
    at = &point_;
  };
  // Diagnostics block by block (a closer keeping memory low, a problem that can, nothing sent by
  // clients or hosts): Σ_i ∇f_i(x^r) over the same tree, one block of coordinates at a time, so
  // that no d-sized buffer is held while the round's messages are (see BlockedGradientNormSq).
  bool blocked =
      diagnostics && release_tree_scratch_ && sums.empty() && context.problem->AddsGradientBlocks();
  for (int64_t i = 0; i < n && blocked; ++i) {
    blocked = (reports[i].c == nullptr && reports[i].packed == nullptr) ||
              reports[i].gradient == nullptr || reports[i].gradient->size() == 0;
  }
  bool any_packed = false;
  for (int64_t i = 0; i < n; ++i) any_packed = any_packed || reports[i].packed != nullptr;
  packed_.assign(any_packed ? static_cast<size_t>(n) : 0, nullptr);
  for (int64_t i = 0; i < n; ++i) {
    by_client_[i] = reports[i].c;
    if (any_packed) packed_[i] = reports[i].c == nullptr ? reports[i].packed : nullptr;
    const bool present = reports[i].c != nullptr || (any_packed && packed_[i] != nullptr);
    if (present) {
      losses_[i] = reports[i].loss;
    } else if (!diagnostics || blocked) {
      // Client i sat this round out (EF21-PP): its f_i(x^r), evaluated here with the function the
      // client itself calls (on a diagnostic round the bits of LossAndAddGradient's loss).
      prepare();
      losses_[i] = context.problem->Loss(i, *at);
    }
  }
  double grad_norm_sq = 0.0;
  if (blocked) {
    prepare();
    grad_norm_sq = BlockedGradientNormSq(*at);
  } else if (diagnostics) {
    // Σ_i ∇f_i(x^r) goes into the server's scratch, which its CloseRound does not use, summed
    // over the fixed client tree (common/run/gradient_tree.h): the hosts' partial sums where they
    // sent them, the clients' gradients, and what nobody sent — a client that sat the round out
    // (EF21-PP) or sent no gradient (--client-state=worker) — evaluated here one at a time, added
    // to its parent's sum without a buffer of its own where the problem can
    // (Problem::LossAndAddGradient).
    Vector& sum = *server->scratch();
    auto supplied = [&](TreeNode node) -> const Vector* {
      if (node.level == 0) {
        const ClientReport& r = reports[node.index];
        const bool present = r.c != nullptr || r.packed != nullptr;
        if (present && r.gradient != nullptr && r.gradient->size() != 0) return r.gradient;
        return nullptr;
      }
      for (const NodeSum& s : sums) {
        if (s.node == node) return s.value;
      }
      return nullptr;
    };
    auto add_leaf = [&](int64_t i, Vector* acc) {
      prepare();
      const double loss = context.problem->LossAndAddGradient(i, *at, acc, &gradient_);
      if (reports[i].c == nullptr && reports[i].packed == nullptr) losses_[i] = loss;
    };
    tree_.Sum(tree_.root(), context.dim(), supplied, add_leaf, &tree_scratch_, &sum);
    if (release_tree_scratch_) tree_scratch_ = std::vector<Vector>();
    grad_norm_sq = MeanGradientNormSq(n, &sum);
  }
  // γ_r is the stepsize that leaves x^r: read it before the step opens round r + 1.
  const double stepsize = server->stepsize();
  if (round == 0) {
    round_start_bytes_ = downlink_.Start(stepsize, diagnostics);
  } else if (round_start_bytes_ < 0) {
    round_start_bytes_ = RoundStartWireBytes(round, context.dim(), stepsize, diagnostics);
  }
  CountRound(context, round, by_client_, round_start_bytes_, &totals_, packed_);
  RoundDiagnostics reduced = ReduceDiagnostics(losses_, {}, nullptr);
  if (diagnostics) reduced.grad_norm_sq = grad_norm_sq;
  // Classifiers (network problems): whoever closes the round holds x^r and scores it itself.
  Evaluation evaluation;
  if (diagnostics && context.problem->HasEvaluation()) {
    prepare();
    evaluation = EvaluateRound(context, round, *at);
  }
  const double g_norm = server->CloseRound(by_client_, packed_);
  if (round < static_cast<uint64_t>(context.options.rounds)) {
    round_start_bytes_ = downlink_.Next(round + 1, server->stepsize(),
                                        context.DiagnosticRound(round + 1), server->last_delta());
  }
  return MakeMetricsRow(round, totals_, n, reduced, g_norm, stepsize, wall_seconds, evaluation);
}

double RoundCloser::BlockedGradientNormSq(const EvalPoint& at) {
  const MethodContext& context = *context_;
  const int64_t d = context.dim();
  const double n = static_cast<double>(context.num_clients());
  auto nothing_supplied = [](TreeNode) -> const Vector* { return nullptr; };
  double norm_sq = 0.0;
  for (int64_t begin = 0; begin < d; begin += kDiagnosticBlock) {
    const int64_t end = std::min(d, begin + kDiagnosticBlock);
    auto add_leaf = [&](int64_t i, Vector* acc) {
      context.problem->AddGradientBlock(i, at, begin, end, acc->data(), &gradient_);
    };
    tree_.Sum(tree_.root(), end - begin, nothing_supplied, add_leaf, &tree_scratch_, &block_sum_);
    // MeanGradientNormSq's arithmetic, carried from block to block in ascending coordinate.
    double* s = block_sum_.data();
    for (int64_t j = 0; j < end - begin; ++j) {
      s[j] /= n;
      norm_sq += s[j] * s[j];
    }
  }
  tree_scratch_ = std::vector<Vector>();
  block_sum_ = Vector();
  gradient_ = Vector();
  return norm_sq;
}

nlohmann::ordered_json DescribeRun(const MethodContext& c, const CommTotals& totals) {
  return DescribeRun(c, totals, c.problem->Describe(), c.constants);
}

nlohmann::ordered_json DescribeRun(const MethodContext& c, const CommTotals& totals,
                                   const std::string& problem,
                                   const SmoothnessConstants& constants) {
  // Non-finite constants (e.g. an unbounded L, or one not known) are written as null.
  nlohmann::ordered_json o;
  o["problem"] = problem;
  o["clients"] = c.num_clients();
  o["dim"] = c.dim();
  o["alpha"] = JsonNumber(c.compressor->alpha());
  o["gamma"] = JsonNumber(c.plan.gamma);
  o["eta"] = JsonNumber(c.plan.eta);
  o["stepsize_rule"] = c.plan.rule;
  o["L"] = JsonNumber(constants.L);
  o["L_tilde"] = JsonNumber(constants.LTilde());
  o["L0"] = JsonNumber(constants.L0);
  o["L1"] = JsonNumber(constants.L1);
  o["diagnostics_every"] = c.options.diagnostics_every;
  o["diagnostic_bytes_per_client"] = JsonNumber(static_cast<double>(totals.diagnostic_bytes) /
                                                static_cast<double>(c.num_clients()));
  return o;
}

}  // namespace ef21
