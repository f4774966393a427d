#include "common/method.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ef21 {

std::unique_ptr<ClientMethod> MakeEf21Client(std::shared_ptr<const MethodContext> context,
                                             int64_t client);
std::unique_ptr<ClientMethod> MakeEf14Client(std::shared_ptr<const MethodContext> context,
                                             int64_t client);
std::unique_ptr<ServerMethod> MakeEf21Server(std::shared_ptr<const MethodContext> context,
                                             Vector x0);
std::unique_ptr<ServerMethod> MakeEf14Server(std::shared_ptr<const MethodContext> context,
                                             Vector x0);

absl::StatusOr<std::shared_ptr<const MethodContext>> MethodContext::Create(
    const RunConfig& config, std::shared_ptr<const Problem> problem,
    std::optional<StepsizePlan> plan) {
  EF21_RETURN_IF_ERROR(config.Validate());
  if (problem == nullptr) return absl::InvalidArgumentError("no problem");
  auto context = std::make_shared<MethodContext>();
  context->config = config;
  context->problem = std::move(problem);
  CompressorOptions copts;
  copts.kind = config.EffectiveCompressor();
  copts.k = config.k;
  copts.dim = context->problem->dim();
  EF21_ASSIGN_OR_RETURN(context->compressor, CreateCompressor(copts));
  if (plan) {
    context->plan = *std::move(plan);
  } else {
    context->constants = context->problem->Constants();
    EF21_ASSIGN_OR_RETURN(context->plan,
                          PlanStepsize(config, context->constants, context->compressor->alpha()));
  }
  context->noise.batch = config.batch;
  context->noise.sigma = config.sigma;
  context->noise.seed = config.seed;
  return std::shared_ptr<const MethodContext>(std::move(context));
}

bool MethodContext::DiagnosticRound(uint64_t round) const {
  return round % static_cast<uint64_t>(config.diagnostics_every) == 0 ||
         round == static_cast<uint64_t>(config.rounds);
}

bool MethodContext::CountsPaperBits(uint64_t round) const {
  return !(round == 0 && config.init == InitKind::kFull && !config.traits().error_feedback_14);
}

std::unique_ptr<ClientMethod> ClientMethod::Create(std::shared_ptr<const MethodContext> context,
                                                   int64_t client) {
  if (context->config.traits().error_feedback_14) return MakeEf14Client(std::move(context), client);
  return MakeEf21Client(std::move(context), client);
}

std::unique_ptr<ServerMethod> ServerMethod::Create(std::shared_ptr<const MethodContext> context,
                                                   Vector x0) {
  if (context->config.traits().error_feedback_14) return MakeEf14Server(std::move(context), std::move(x0));
  return MakeEf21Server(std::move(context), std::move(x0));
}

ServerMethod::ServerMethod(std::shared_ptr<const MethodContext> context, Vector x0)
    : context_(std::move(context)), x_(std::move(x0)) {
  g_ = Vector::Zero(x_.size());
  sum_ = Vector::Zero(x_.size());
}

double ServerMethod::CloseRound(absl::Span<const SparseVector* const> by_client) {
  sum_.setZero();
  for (const SparseVector* c : by_client) c->AddTo(1.0, &sum_);
  Aggregate(sum_);
  const double g_norm = Norm(g_);
  Step(g_norm);
  ++round_;
  return g_norm;
}

}  // namespace ef21
