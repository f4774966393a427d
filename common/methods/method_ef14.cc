// EF14 (Seide et al. 2014; Stich et al. 2018), SPEC §3: e_i^0 = 0; p_i = e_i + γ∇f_i(x^r);
// c_i = C(p_i); e_i ← p_i − c_i; x^{r+1} = x^r − (1/n) Σ_i c_i.
#include <cmath>

#include "common/methods/method.h"

namespace ef21 {
namespace {

class Ef14Client final : public ClientMethod {
 public:
  Ef14Client(std::shared_ptr<const MethodContext> context, int64_t client)
      : ClientMethod(std::move(context), client) {
    e_ = Vector::Zero(context_->dim());
    g_ = Vector::Zero(context_->dim());
  }

  void Step(const ClientRound& round, ClientMessage* out) override {
    const MethodContext& ctx = *context_;
    const Problem& problem = *ctx.problem;
    thread_local Vector grad;
    if (!problem.IsStochastic(ctx.noise)) {
      out->loss = problem.LossAndGradient(client_, *round.point, &grad);
      if (round.want_gradient) out->gradient = grad;
    } else {
      if (round.want_gradient) {
        out->loss = problem.LossAndGradient(client_, *round.point, &out->gradient);
        problem.StochasticGradient(client_, *round.point, ctx.noise, round.round, &grad);
      } else {
        out->loss =
            problem.StochasticLossAndGradient(client_, *round.point, ctx.noise, round.round, &grad);
      }
    }
    thread_local Vector p;
    p = e_ + round.stepsize * grad;
    SparseVector& c = out->c;
    ctx.compressor->Compress(p, {ctx.options.seed, static_cast<uint64_t>(client_), round.round},
                             &c);
    c.RoundValues(ctx.options.value_type);
    // e_i ← p_i − c_i with c_i exactly as sent; g_i is the last message, dense.
    e_ = p;
    c.AddTo(-1.0, &e_);
    g_.setZero();
    c.AddTo(1.0, &g_);
  }

  const Vector& g() const override { return g_; }

  void Restore(const Vector& g) override {
    g_ = g;
    e_.setZero();
  }

  const Vector* private_state() const override { return &e_; }

  void Restore(const Vector& g, const Vector& private_state) override {
    g_ = g;
    if (private_state.size() == 0) {
      e_ = Vector::Zero(context_->dim());  // before round 0: e_i^0 = 0
    } else {
      e_ = private_state;
    }
  }

 private:
  Vector e_;
  Vector g_;
};

class Ef14Server final : public ServerMethod {
 public:
  Ef14Server(std::shared_ptr<const MethodContext> context, Vector x0)
      : ServerMethod(std::move(context), std::move(x0)),
        inv_n_(1.0 / static_cast<double>(context_->num_clients())) {}

  void ApplyToClientCopy(const SparseVector& c, Vector* g_i) const override {
    g_i->setZero();
    c.AddTo(1.0, g_i);
  }
  // The copy becomes c (0 + v = v off and on its entries): g_i does not matter.
  bool ClientCopyStaysWithin(const SparseVector& c, const Vector&, bool,
                             double bound) const override {
    for (double v : c.values) {
      if (!(std::abs(v) <= bound)) return false;  // NaN fails too
    }
    return true;
  }

 private:
  void Aggregate(const SparseVector& sum) override {
    // g^r = (1/n) Σ_i c_i^r: +0 off the messages' indices.
    double* g = g_.data();
    if (sum.dense) {
      for (int64_t j = 0; j < sum.dim; ++j) g[j] = sum.values[j] * inv_n_;
    } else {
      g_.setZero();
      for (size_t e = 0; e < sum.indices.size(); ++e) g[sum.indices[e]] = sum.values[e] * inv_n_;
    }
  }
  // x^{r+1} = x^r − g^r (γ is inside the messages).
  double StepScale(double) const override { return 1.0; }

  double inv_n_;
};

}  // namespace

std::unique_ptr<ClientMethod> MakeEf14Client(std::shared_ptr<const MethodContext> context,
                                             int64_t client) {
  return std::make_unique<Ef14Client>(std::move(context), client);
}

std::unique_ptr<ServerMethod> MakeEf14Server(std::shared_ptr<const MethodContext> context,
                                             Vector x0) {
  return std::make_unique<Ef14Server>(std::move(context), std::move(x0));
}

}  // namespace ef21
