#include "common/run/simulator.h"

#include "common/base/status_macros.h"
#include "common/run/problem_factory.h"

namespace ef21 {

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(const RunConfig& config) {
  EF21_ASSIGN_OR_RETURN(std::shared_ptr<const Problem> problem, CreateProblem(config));
  EF21_ASSIGN_OR_RETURN(Vector x0, CreateStartingPoint(config, *problem));
  return Create(config, std::move(problem), std::move(x0));
}

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(const RunConfig& config,
                                                             std::shared_ptr<const Problem> problem,
                                                             Vector x0) {
  RunConfig resolved = config;
  resolved.ResolveDiagnosticsEvery(problem->dim());
  EF21_ASSIGN_OR_RETURN(auto context,
                        MethodContext::Create(resolved.ToMethodOptions(), std::move(problem)));
  if (x0.size() != context->dim()) {
    return absl::InvalidArgumentError("x0 has the wrong dimension");
  }
  return std::unique_ptr<Simulator>(
      new Simulator(std::move(resolved), std::move(context), std::move(x0)));
}

namespace {

// --threads=0: one thread per core, or one per client when a client's step is long
// (Problem::ClientStepsAreLong).
int64_t ClientThreads(int64_t requested, const MethodContext& context) {
  if (requested > 0 || !context.problem->ClientStepsAreLong()) return requested;
  return context.num_clients();
}

}  // namespace

Simulator::Simulator(RunConfig config, std::shared_ptr<const MethodContext> context, Vector x0)
    : config_(std::move(config)),
      context_(std::move(context)),
      closer_(context_, CommTotals{}, config_.downlink),
      pool_(ClientThreads(config_.threads, *context_)) {
  const int64_t n = context_->num_clients();
  if (context_->problem->ClientStepsAreLong()) grain_.AssumeLongIterations();
  server_ = ServerMethod::Create(context_, std::move(x0));
  clients_.reserve(n);
  for (int64_t i = 0; i < n; ++i) clients_.push_back(ClientMethod::Create(context_, i));
  messages_.resize(n);
  reports_.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    reports_[i].c = &messages_[i].c;
    reports_[i].gradient = &messages_[i].gradient;
  }
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
  // EF21-PP: the clients drawn for this round step; the others keep their state and send nothing.
  for (int64_t i = 0; i < n; ++i) {
    reports_[i].c = context_->Participates(i, round) ? &messages_[i].c : nullptr;
  }
  grain_.ParallelFor(&pool_, n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      if (reports_[i].c != nullptr) clients_[i]->Step(request, &messages_[i]);
    }
  });

  for (int64_t i = 0; i < n; ++i) reports_[i].loss = messages_[i].loss;
  const MetricsRow row = closer_.Close(reports_, MonotonicSeconds() - started_, server_.get());
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

}  // namespace ef21
