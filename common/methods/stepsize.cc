#include "common/methods/stepsize.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace ef21 {

ContractionConstants ContractionConstantsFor(double alpha) {
  ContractionConstants k;
  k.r = std::sqrt(std::max(0.0, 1.0 - alpha));
  k.theta = 1.0 - k.r;
  k.beta = (1.0 - alpha) / (1.0 - k.r);
  k.c = 0.5 + 2.0 * k.r / (1.0 - k.r);
  return k;
}

bool PlanNeedsConstants(const StepsizeOptions& options, Algorithm algorithm) {
  const AlgorithmTraits traits = TraitsOf(algorithm);
  switch (options.rule) {
    case StepsizeRule::kConstant:
      return false;
    case StepsizeRule::kTheoryL1:
      return true;
    case StepsizeRule::kTheory:
      return traits.momentum || !traits.normalized;
  }
  return true;
}

absl::StatusOr<StepsizePlan> PlanStepsize(const StepsizeOptions& options, Algorithm algorithm,
                                          int64_t rounds, const SmoothnessConstants& constants,
                                          double alpha) {
  const AlgorithmTraits traits = TraitsOf(algorithm);
  const ContractionConstants cc = ContractionConstantsFor(alpha);
  const double K1 = static_cast<double>(rounds + 1);
  StepsizePlan plan;
  plan.eta = traits.momentum ? options.eta.value_or(1.0) : 1.0;

  switch (options.rule) {
    case StepsizeRule::kConstant:
      if (!options.gamma) return absl::InvalidArgumentError("--stepsize=constant needs --gamma");
      plan.gamma = *options.gamma;
      plan.rule = absl::StrFormat("constant gamma=%.6g", plan.gamma);
      break;
    case StepsizeRule::kTheoryL1:
      // Theorem 3 (single client): γ = 1/(2·c1), c1 = c·L1.
      plan.gamma = 1.0 / (2.0 * cc.c * constants.L1);
      plan.rule = absl::StrFormat("Theorem 3: 1/(2 c L1), c=%.6g L1=%.6g", cc.c, constants.L1);
      break;
    case StepsizeRule::kTheory:
      if (traits.momentum) {
        // Theorem 2: η = 1/√(K+1), γ = γ0/(K+1)^{3/4}, γ0 = min{√(K+1)(1−r), 1}/(16 L1).
        if (!options.eta && !traits.eta_is_one) plan.eta = 1.0 / std::sqrt(K1);
        const double gamma0 = std::min(std::sqrt(K1) * (1.0 - cc.r), 1.0) / (16.0 * constants.L1);
        plan.gamma = gamma0 / std::pow(K1, 0.75);
        plan.rule = absl::StrFormat("Theorem 2: gamma0/(K+1)^(3/4), gamma0=%.6g, eta=%.6g", gamma0,
                                    plan.eta);
      } else if (traits.normalized) {
        // Theorem 1 for ||EF21||: γ = γ0/√(K+1), no problem constant needed.
        plan.gamma = options.gamma0 / std::sqrt(K1);
        plan.rule = absl::StrFormat("Theorem 1: gamma0/sqrt(K+1), gamma0=%.6g", options.gamma0);
      } else {
        // EF21's Theorem 1 (also EF14's default): γ = 1/(L + L̃·√(β/θ)); 1/L when α = 1.
        const double L = constants.L, Lt = constants.LTilde();
        plan.gamma = alpha >= 1.0 ? 1.0 / L : 1.0 / (L + Lt * std::sqrt(cc.beta / cc.theta));
        plan.rule = absl::StrFormat(
            "EF21 Theorem 1: 1/(L + Ltilde sqrt(beta/theta)), L=%.6g Ltilde=%.6g", L, Lt);
      }
      break;
  }
  if (!(plan.gamma > 0.0) || !std::isfinite(plan.gamma)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "stepsize rule %s gave gamma=%g; expected a positive number", plan.rule, plan.gamma));
  }
  return plan;
}

}  // namespace ef21
