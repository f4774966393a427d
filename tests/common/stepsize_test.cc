// The stepsize plans of SPEC §4 (common/methods/stepsize.h), each theorem's formula checked on a
// case computed by hand. With α = 3/4 the contraction constants are exact in binary:
// r = √(1−α) = 1/2, θ = 1 − r = 1/2, β = (1−α)/(1−r) = 1/2, c = 1/2 + 2r/(1−r) = 5/2.
#include "common/methods/stepsize.h"

#include <cmath>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

constexpr double kAlpha = 0.75;

// L = 2, L_i = {1, 7}: L̃ = √((1 + 49)/2) = 5. (L0, L1) = (4, 1/2).
SmoothnessConstants Constants() {
  SmoothnessConstants c;
  c.L = 2.0;
  c.L_i = {1.0, 7.0};
  c.L0 = 4.0;
  c.L1 = 0.5;
  return c;
}

StepsizeOptions Options(StepsizeRule rule) {
  StepsizeOptions o;
  o.rule = rule;
  return o;
}

StepsizePlan PlanOrDie(const StepsizeOptions& options, Algorithm algorithm, int64_t rounds,
                       double alpha, const SmoothnessConstants& constants = Constants()) {
  absl::StatusOr<StepsizePlan> plan = PlanStepsize(options, algorithm, rounds, constants, alpha);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : StepsizePlan{};
}

TEST(StepsizeTest, ContractionConstantsOfSpecSection4) {
  const ContractionConstants k = ContractionConstantsFor(kAlpha);
  EXPECT_EQ(k.r, 0.5);
  EXPECT_EQ(k.theta, 0.5);
  EXPECT_EQ(k.beta, 0.5);
  EXPECT_EQ(k.c, 2.5);
  // The identity compressor (α = 1): r = 0, θ = 1, β = 0, c = 1/2.
  const ContractionConstants one = ContractionConstantsFor(1.0);
  EXPECT_EQ(one.r, 0.0);
  EXPECT_EQ(one.theta, 1.0);
  EXPECT_EQ(one.beta, 0.0);
  EXPECT_EQ(one.c, 0.5);
}

// EF21's Theorem 1: γ = 1/(L + L̃·√(β/θ)) = 1/(2 + 5·1) = 1/7; EF14's default is the same rule.
TEST(StepsizeTest, Ef21Theorem1) {
  for (Algorithm algorithm : {Algorithm::kEf21, Algorithm::kEf14}) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    const StepsizePlan plan = PlanOrDie(Options(StepsizeRule::kTheory), algorithm, 100, kAlpha);
    EXPECT_DOUBLE_EQ(plan.gamma, 1.0 / 7.0);
    EXPECT_EQ(plan.eta, 1.0);
    EXPECT_TRUE(absl::StrContains(plan.rule, "EF21 Theorem 1")) << plan.rule;
  }
  // α = 1 (gd): γ = 1/L, whatever L̃.
  EXPECT_EQ(PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kGd, 100, 1.0).gamma, 0.5);
  // K does not enter EF21's rule.
  EXPECT_EQ(PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kEf21, 7, kAlpha).gamma,
            PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kEf21, 7000, kAlpha).gamma);
}

// ||EF21|| Theorem 1: γ = γ0/√(K+1); K = 99, γ0 = 3 gives 3/10, with no problem constant.
TEST(StepsizeTest, NormEf21Theorem1) {
  StepsizeOptions options = Options(StepsizeRule::kTheory);
  options.gamma0 = 3.0;
  for (Algorithm algorithm : {Algorithm::kNormEf21, Algorithm::kNormGd}) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    const StepsizePlan plan = PlanOrDie(options, algorithm, 99, kAlpha);
    EXPECT_DOUBLE_EQ(plan.gamma, 0.3);
    EXPECT_EQ(plan.eta, 1.0);
    EXPECT_TRUE(absl::StrContains(plan.rule, "Theorem 1: gamma0/sqrt(K+1)")) << plan.rule;
    SmoothnessConstants other = Constants();
    other.L = 1000.0;
    other.L1 = 1000.0;
    EXPECT_EQ(PlanOrDie(options, algorithm, 99, kAlpha, other).gamma, plan.gamma);
  }
}

// ||EF21-SGDM|| Theorem 2 with K = 15: √(K+1) = 4, (K+1)^{3/4} = 8, η = 1/√(K+1) = 1/4,
// γ0 = min{√(K+1)(1−r), 1}/(16 L1), γ = γ0/(K+1)^{3/4}.
TEST(StepsizeTest, NormEf21SgdmTheorem2) {
  // α = 3/4: √(K+1)(1−r) = 2, so the min is 1: γ0 = 1/(16·1/2) = 1/8, γ = 1/64.
  const StepsizePlan plan =
      PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kNormEf21Sgdm, 15, kAlpha);
  EXPECT_DOUBLE_EQ(plan.gamma, 1.0 / 64.0);
  EXPECT_DOUBLE_EQ(plan.eta, 0.25);
  EXPECT_TRUE(absl::StrContains(plan.rule, "Theorem 2")) << plan.rule;
  // α = 0.19: r = 0.9, √(K+1)(1−r) = 0.4 < 1: γ0 = 0.4/8 = 0.05, γ = 0.05/8 = 0.00625.
  const StepsizePlan tight =
      PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kNormEf21Sgdm, 15, 0.19);
  EXPECT_NEAR(tight.gamma, 0.00625, 1e-15);
  EXPECT_DOUBLE_EQ(tight.eta, 0.25);
  // A given η is kept; γ does not depend on it.
  StepsizeOptions with_eta = Options(StepsizeRule::kTheory);
  with_eta.eta = 0.3;
  const StepsizePlan given = PlanOrDie(with_eta, Algorithm::kNormEf21Sgdm, 15, kAlpha);
  EXPECT_EQ(given.eta, 0.3);
  EXPECT_EQ(given.gamma, plan.gamma);
}

TEST(StepsizeTest, Theorem2ForTheMethodsDefinedFromIt) {
  // ||EF21-SGD|| is ||EF21-SGDM|| with η = 1: the same γ, η stays 1.
  const StepsizePlan sgd =
      PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kNormEf21Sgd, 15, kAlpha);
  EXPECT_DOUBLE_EQ(sgd.gamma, 1.0 / 64.0);
  EXPECT_EQ(sgd.eta, 1.0);
  // ||SGDM|| runs the identity (α = 1, r = 0): γ0 = min{4, 1}/8 = 1/8, γ = 1/64, η = 1/4.
  const StepsizePlan sgdm =
      PlanOrDie(Options(StepsizeRule::kTheory), Algorithm::kNormSgdm, 15, 1.0);
  EXPECT_DOUBLE_EQ(sgdm.gamma, 1.0 / 64.0);
  EXPECT_DOUBLE_EQ(sgdm.eta, 0.25);
}

// Theorem 3 (single client): γ = 1/(2·c·L1) = 1/(2·(5/2)·(1/2)) = 2/5; with α = 1, c = 1/2: 1/L1.
TEST(StepsizeTest, Theorem3TheoryL1) {
  const StepsizePlan plan =
      PlanOrDie(Options(StepsizeRule::kTheoryL1), Algorithm::kNormEf21, 100, kAlpha);
  EXPECT_DOUBLE_EQ(plan.gamma, 0.4);
  EXPECT_EQ(plan.eta, 1.0);
  EXPECT_TRUE(absl::StrContains(plan.rule, "Theorem 3")) << plan.rule;
  EXPECT_DOUBLE_EQ(PlanOrDie(Options(StepsizeRule::kTheoryL1), Algorithm::kNormGd, 100, 1.0).gamma,
                   2.0);
}

TEST(StepsizeTest, ConstantTakesGammaAndEtaAsGiven) {
  StepsizeOptions options = Options(StepsizeRule::kConstant);
  options.gamma = 0.0125;
  options.eta = 0.2;
  const StepsizePlan momentum = PlanOrDie(options, Algorithm::kEf21Sgdm, 100, kAlpha);
  EXPECT_EQ(momentum.gamma, 0.0125);
  EXPECT_EQ(momentum.eta, 0.2);
  EXPECT_TRUE(absl::StrContains(momentum.rule, "constant")) << momentum.rule;
  // Methods without momentum have η = 1 whatever is passed.
  const StepsizePlan plain = PlanOrDie(options, Algorithm::kEf21, 100, kAlpha);
  EXPECT_EQ(plain.gamma, 0.0125);
  EXPECT_EQ(plain.eta, 1.0);
}

TEST(StepsizeTest, RefusesWhatGivesNoPositiveStepsize) {
  // --stepsize=constant without --gamma.
  absl::StatusOr<StepsizePlan> plan =
      PlanStepsize(Options(StepsizeRule::kConstant), Algorithm::kEf21, 10, Constants(), kAlpha);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "needs --gamma")) << plan.status();
  // A non-positive constant.
  StepsizeOptions negative = Options(StepsizeRule::kConstant);
  negative.gamma = -1.0;
  plan = PlanStepsize(negative, Algorithm::kEf21, 10, Constants(), kAlpha);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::StrContains(plan.status().message(), "expected a positive number"))
      << plan.status();
  // Constants that make a theory rule infinite (L1 = 0 for Theorem 3, L = L̃ = 0 for EF21).
  SmoothnessConstants zero;
  zero.L_i = {0.0};
  for (StepsizeRule rule : {StepsizeRule::kTheoryL1, StepsizeRule::kTheory}) {
    plan = PlanStepsize(Options(rule), Algorithm::kEf21, 10, zero, kAlpha);
    ASSERT_FALSE(plan.ok()) << StepsizeRuleName(rule);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(plan.status().message(), "gamma=inf")) << plan.status();
  }
}

}  // namespace
}  // namespace ef21
