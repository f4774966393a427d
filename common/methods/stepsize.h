// Stepsize rules of SPEC §4. Every rule gives one γ for all rounds (and η for momentum methods).
#ifndef EF21_COMMON_METHODS_STEPSIZE_H_
#define EF21_COMMON_METHODS_STEPSIZE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/enum_names.h"
#include "common/methods/algorithm.h"
#include "common/problems/problem.h"

namespace ef21 {

enum class StepsizeRule {
  kTheory,    // SPEC §4, per method
  kTheoryL1,  // ||EF21|| single client, Theorem 3: γ = 1/(2·c1)
  kConstant,  // --gamma
  kMaxValue = kConstant,
};

// The --stepsize names.
inline constexpr auto kStepsizeRuleNames =
    MakeEnumNames<StepsizeRule>("stepsize rule", {
                                                     {StepsizeRule::kTheory, "theory"},
                                                     {StepsizeRule::kTheoryL1, "theory-l1"},
                                                     {StepsizeRule::kConstant, "constant"},
                                                 });
constexpr const auto& NamesOf(StepsizeRule) { return kStepsizeRuleNames; }
inline const char* StepsizeRuleName(StepsizeRule rule) { return kStepsizeRuleNames.Name(rule); }

// How the stepsize of a run is chosen: the rule and the user's constants.
struct StepsizeOptions {
  StepsizeRule rule = StepsizeRule::kTheory;
  std::optional<double> gamma;  // kConstant
  double gamma0 = 1.0;          // the normalized methods' γ0 (Theorem 1)
  std::optional<double> eta;    // momentum weight; the theory rule chooses it when absent
};

struct StepsizePlan {
  double gamma = 0.0;
  double eta = 1.0;  // momentum weight; 1 for methods without momentum
  std::string rule;  // how γ was obtained, for config.json and logs
};

// The constants of SPEC §4 for a compressor with parameter α: r = √(1−α), θ = 1 − r,
// β = (1−α)/(1−r), c = 1/2 + 2r/(1−r).
struct ContractionConstants {
  double r, theta, beta, c;
};
ContractionConstants ContractionConstantsFor(double alpha);

// Whether the plan of `options` for `algorithm` reads a problem constant (L, L̃, L1): every rule
// but --stepsize=constant and ||EF21||'s γ0/√(K+1).
bool PlanNeedsConstants(const StepsizeOptions& options, Algorithm algorithm);

// The plan for `algorithm` run for `rounds` rounds (K) with a compressor of parameter α.
absl::StatusOr<StepsizePlan> PlanStepsize(const StepsizeOptions& options, Algorithm algorithm,
                                          int64_t rounds, const SmoothnessConstants& constants,
                                          double alpha);

}  // namespace ef21

#endif  // EF21_COMMON_METHODS_STEPSIZE_H_
