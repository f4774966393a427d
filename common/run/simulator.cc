#include "common/run/simulator.h"

#include <chrono>

#include "common/run/problem_factory.h"
#include "common/run/round_metrics.h"
#include "common/base/status_macros.h"

namespace ef21 {

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(const RunConfig& config) {
  EF21_ASSIGN_OR_RETURN(std::shared_ptr<const Problem> problem, CreateProblem(config));
  EF21_ASSIGN_OR_RETURN(Vector x0, CreateStartingPoint(config, problem->dim()));
  return Create(config, std::move(problem), std::move(x0));
}

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(const RunConfig& config,
                                                             std::shared_ptr<const Problem> problem,
                                                             Vector x0) {
  EF21_ASSIGN_OR_RETURN(auto context, MethodContext::Create(config.ToMethodOptions(), std::move(problem)));
  if (x0.size() != context->dim()) {
    return absl::InvalidArgumentError("x0 has the wrong dimension");
  }
  return std::unique_ptr<Simulator>(
      new Simulator(std::move(context), std::move(x0), config.threads));
}

Simulator::Simulator(std::shared_ptr<const MethodContext> context, Vector x0, int64_t threads)
    : context_(std::move(context)), pool_(threads) {
  const int64_t n = context_->num_clients();
  server_ = ServerMethod::Create(context_, std::move(x0));
  clients_.reserve(n);
  for (int64_t i = 0; i < n; ++i) clients_.push_back(ClientMethod::Create(context_, i));
  messages_.resize(n);
  by_client_.resize(n);
  losses_.resize(n);
  for (int64_t i = 0; i < n; ++i) by_client_[i] = &messages_[i].c;
  started_ = MonotonicSeconds();
}

bool Simulator::RunRound(RunLog* log) {
  const uint64_t round = server_->round();
  if (round > static_cast<uint64_t>(context_->options.rounds)) return false;
  const int64_t n = context_->num_clients();
  const bool diagnostics = context_->DiagnosticRound(round);

  context_->problem->Prepare(server_->x(), &point_);
  ClientRound request;
  request.round = round;
  request.point = &point_;
  request.stepsize = server_->stepsize();
  request.want_gradient = diagnostics;
  grain_.ParallelFor(&pool_, n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) clients_[i]->Step(request, &messages_[i]);
  });

  CountRound(*context_, round, by_client_, &totals_);
  for (int64_t i = 0; i < n; ++i) losses_[i] = messages_[i].loss;
  gradients_.clear();
  if (diagnostics) {
    for (int64_t i = 0; i < n; ++i) gradients_.push_back(&messages_[i].gradient);
  }
  const RoundDiagnostics diag = ReduceDiagnostics(losses_, gradients_, &scratch_);
  const double stepsize = server_->stepsize();
  const double g_norm = server_->CloseRound(by_client_);
  const MetricsRow row = MakeMetricsRow(round, totals_, n, diag, g_norm, stepsize,
                                        MonotonicSeconds() - started_);
  if (log != nullptr) {
    if (absl::Status s = log->Append(row); !s.ok()) {
      last_error_ = s;
      return false;
    }
  }
  if (observer_) observer_(row);
  return true;
}

absl::Status Simulator::Run(RunLog* log, const Observer& observer) {
  observer_ = observer;
  started_ = MonotonicSeconds();
  while (RunRound(log)) {
  }
  observer_ = nullptr;
  return last_error_;
}

JsonObject Simulator::DescribeRun() const { return ef21::DescribeRun(*context_); }

JsonObject DescribeRun(const MethodContext& c) {
  JsonObject o;
  o.Add("problem", c.problem->Describe());
  o.Add("clients", c.num_clients());
  o.Add("dim", c.dim());
  o.Add("alpha", c.compressor->alpha());
  o.Add("gamma", c.plan.gamma);
  o.Add("eta", c.plan.eta);
  o.Add("stepsize_rule", c.plan.rule);
  o.Add("L", c.constants.L);
  o.Add("L_tilde", c.constants.LTilde());
  o.Add("L0", c.constants.L0);
  o.Add("L1", c.constants.L1);
  return o;
}

}  // namespace ef21
