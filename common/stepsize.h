// Stepsize rules of SPEC §4. Every rule gives one γ for all rounds (and η for momentum methods).
#ifndef EF21_COMMON_STEPSIZE_H_
#define EF21_COMMON_STEPSIZE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/problem.h"
#include "common/run_config.h"

namespace ef21 {

struct StepsizePlan {
  double gamma = 0.0;
  double eta = 1.0;     // momentum weight; 1 for methods without momentum
  std::string rule;     // how γ was obtained, for config.json and logs
};

// The constants of SPEC §4 for a compressor with parameter α: r = √(1−α), θ = 1 − r,
// β = (1−α)/(1−r), c = 1/2 + 2r/(1−r).
struct ContractionConstants {
  double r, theta, beta, c;
};
ContractionConstants ContractionConstantsFor(double alpha);

absl::StatusOr<StepsizePlan> PlanStepsize(const RunConfig& config,
                                          const SmoothnessConstants& constants, double alpha);

}  // namespace ef21

#endif  // EF21_COMMON_STEPSIZE_H_
