// EF21 and its variants (SPEC §3): ef21, norm-ef21, ef21-sgdm, norm-ef21-sgdm, norm-ef21-sgd,
// norm-sgdm, gd, norm-gd. They differ only in the traits: normalization of the server step, and
// momentum v_i^{t+1} = (1−η) v_i^t + η ∇f_i(x^{t+1}; ξ) on the client.
#include <cmath>

#include "common/methods/method.h"

namespace ef21 {
namespace {

class Ef21Client final : public ClientMethod {
 public:
  Ef21Client(std::shared_ptr<const MethodContext> context, int64_t client)
      : ClientMethod(std::move(context), client) {
    g_ = Vector::Zero(context_->dim());
  }

  void Step(const ClientRound& round, ClientMessage* out) override {
    const MethodContext& ctx = *context_;
    const Problem& problem = *ctx.problem;
    const bool stochastic = problem.IsStochastic(ctx.noise);
    // --init=shard: round 0's estimate is the exact gradient over the client's whole shard.
    const bool shard_init = round.round == 0 && ctx.options.init == InitKind::kShard;
    // The gradient estimate v this round tracks: ∇f_i(x^r), or its stochastic/momentum form.
    thread_local Vector scratch;
    // Without noise the estimate is the exact gradient, computed straight into the diagnostics.
    const bool exact = !stochastic || (shard_init && problem.DiagnosticsCoverShard());
    Vector& estimate = exact && round.want_gradient ? out->gradient : scratch;
    if (exact) {
      out->loss = problem.LossAndGradient(client_, *round.point, &estimate);
    } else if (shard_init) {
      // The diagnostics score a subsample of the shard; g_i^0 is over all of it.
      const double loss = problem.ShardLossAndGradient(client_, *round.point, &estimate);
      out->loss = round.want_gradient
                      ? problem.LossAndGradient(client_, *round.point, &out->gradient)
                      : loss;
    } else {
      // Without diagnostics the reported loss is the problem's choice (a network: the sample's).
      if (round.want_gradient) {
        out->loss = problem.LossAndGradient(client_, *round.point, &out->gradient);
        problem.StochasticGradient(client_, *round.point, ctx.noise, round.round, &estimate);
      } else {
        out->loss = problem.StochasticLossAndGradient(client_, *round.point, ctx.noise, round.round,
                                                      &estimate);
      }
    }
    const Vector* target = &estimate;
    if (ctx.options.traits().momentum) {
      // v^0 = ∇f_i(x^0; ξ^0); v^{r} = (1−η) v^{r−1} + η ∇f_i(x^r; ξ^r).
      const double eta = ctx.plan.eta;
      if (round.round == 0 || v_.size() == 0) {
        v_ = estimate;
      } else {
        for (Eigen::Index j = 0; j < v_.size(); ++j)
          v_[j] = (1.0 - eta) * v_[j] + eta * estimate[j];
      }
      target = &v_;
    }

    SparseVector& c = out->c;
    if (ctx.DenseRound(round.round)) {
      // g_i^0 = v_i^0, sent dense once (the authors' code; --init=full or shard).
      c.Clear(ctx.dim());
      c.dense = true;
      c.values.assign(target->data(), target->data() + target->size());
    } else {
      // c_i = C(v_i − g_i) (round 0 with --init=compressed: g_i^{−1} = 0).
      thread_local Vector diff;
      diff = *target - g_;
      ctx.compressor->Compress(diff,
                               {ctx.options.seed, static_cast<uint64_t>(client_), round.round}, &c);
    }
    c.RoundValues(ctx.options.value_type);
    c.AddTo(1.0, &g_);
  }

  const Vector& g() const override { return g_; }

  void Restore(const Vector& g) override {
    g_ = g;
    if (context_->options.traits().momentum) v_ = g;
  }

  const Vector* private_state() const override {
    return context_->options.traits().momentum ? &v_ : nullptr;
  }

  void Restore(const Vector& g, const Vector& private_state) override {
    g_ = g;
    if (context_->options.traits().momentum) v_ = private_state;
  }

 private:
  Vector g_;
  Vector v_;
};

class Ef21Server final : public ServerMethod {
 public:
  Ef21Server(std::shared_ptr<const MethodContext> context, Vector x0)
      : ServerMethod(std::move(context), std::move(x0)),
        inv_n_(1.0 / static_cast<double>(context_->num_clients())) {}

  void ApplyToClientCopy(const SparseVector& c, Vector* g_i) const override { c.AddTo(1.0, g_i); }
  // g_i + c changes only c's entries: those are computed as AddTo would, nothing is copied.
  bool ClientCopyStaysWithin(const SparseVector& c, const Vector& g_i, bool g_i_within,
                             double bound) const override {
    if (!g_i_within && !c.dense) return ServerMethod::ClientCopyStaysWithin(c, g_i, false, bound);
    const double* g = g_i.data();
    if (c.dense) {
      for (int64_t j = 0; j < c.dim; ++j) {
        if (!(std::abs(g[j] + 1.0 * c.values[j]) <= bound)) return false;  // NaN fails too
      }
      return true;
    }
    for (size_t e = 0; e < c.values.size(); ++e) {
      if (!(std::abs(g[c.indices[e]] + 1.0 * c.values[e]) <= bound)) return false;
    }
    return true;
  }

 private:
  void Aggregate(const SparseVector& sum) override {
    // g^r = g^{r−1} + (1/n) Σ_i c_i^r.
    double* g = g_.data();
    if (sum.dense) {
      for (int64_t j = 0; j < sum.dim; ++j) g[j] += sum.values[j] * inv_n_;
    } else {
      for (size_t e = 0; e < sum.indices.size(); ++e) g[sum.indices[e]] += sum.values[e] * inv_n_;
    }
  }

  double StepScale(double g_norm) const override {
    const double gamma = context_->plan.gamma;
    if (context_->options.traits().normalized) {
      // x^{r+1} = x^r − γ g^r/‖g^r‖ (the paper's Algorithms 1, 2); no move when g^r = 0.
      return g_norm == 0.0 ? 0.0 : gamma / g_norm;
    }
    // x^{r+1} = x^r − γ g^r.
    return gamma;
  }

  double inv_n_;
};

}  // namespace

std::unique_ptr<ClientMethod> MakeEf21Client(std::shared_ptr<const MethodContext> context,
                                             int64_t client) {
  return std::make_unique<Ef21Client>(std::move(context), client);
}

std::unique_ptr<ServerMethod> MakeEf21Server(std::shared_ptr<const MethodContext> context,
                                             Vector x0) {
  return std::make_unique<Ef21Server>(std::move(context), std::move(x0));
}

}  // namespace ef21
