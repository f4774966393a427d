// simulate ≡ federation, bit for bit, for all nine algorithms: `ef21 simulate`'s trajectory and
// that of a real aggregator (gRPC on 127.0.0.1:0) with worker hosts in this process agree in
// every metrics.csv column but wall_seconds. Each algorithm runs with top-k (the identity for the
// identity-only methods) and full gradients, and again with rand-k, minibatch gradients, a
// compressed start, float64 values and diagnostics every third round; each with the default
// --downlink=auto and with --downlink=delta (hosts advance x and g from every round's exact delta,
// common/run/downlink.h), whose downlink column differs from auto's. The e2e script
// tests/e2e/federation_equivalence_test.sh checks the same for real processes.
#include <string>
#include <tuple>

#include "gtest/gtest.h"
#include "tests/testing/runs.h"
#include "tests/testing/trajectory.h"

namespace ef21 {
namespace {

enum class Variant { kTopKFull, kRandKStochastic };

std::string VariantName(Variant v) {
  return v == Variant::kTopKFull ? "TopKFull" : "RandKStochastic";
}

RunConfig ConfigFor(Algorithm algorithm, Variant variant, DownlinkMode downlink) {
  RunConfig c = test::BreastCancer(algorithm, /*clients=*/6, /*rounds=*/12);
  c.downlink = downlink;
  if (variant == Variant::kRandKStochastic) {
    if (!TraitsOf(algorithm).identity_only) c.compressor = CompressorKind::kRandK;
    c.k = 3;
    c.batch = 4;
    c.init = InitKind::kCompressed;
    c.value_type = ValueType::kF64;
    c.diagnostics_every = 3;
  }
  return c;
}

class FederationEquivalenceTest
    : public ::testing::TestWithParam<std::tuple<Algorithm, Variant, DownlinkMode>> {};

TEST_P(FederationEquivalenceTest, MetricsRowsEqualTheSimulation) {
  const auto [algorithm, variant, downlink] = GetParam();
  const RunConfig config = ConfigFor(algorithm, variant, downlink);
  ASSERT_TRUE(config.Validate().ok()) << config.Validate();
  const absl::StatusOr<std::vector<MetricsRow>> simulated = test::SimulateRows(config);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  ASSERT_EQ(simulated->size(), 13u);
  // Three hosts of uneven size, so a round's updates arrive in several batches in any order.
  const absl::StatusOr<std::vector<MetricsRow>> federated =
      test::FederateRows(config, {{0, 0}, {1, 3}, {4, 5}});
  ASSERT_TRUE(federated.ok()) << federated.status();
  EXPECT_TRUE(test::SameTrajectory(*federated, *simulated));
}

INSTANTIATE_TEST_SUITE_P(
    AllAlgorithms, FederationEquivalenceTest,
    ::testing::Combine(::testing::ValuesIn(test::kAllAlgorithms),
                       ::testing::Values(Variant::kTopKFull, Variant::kRandKStochastic),
                       ::testing::Values(DownlinkMode::kAuto, DownlinkMode::kDelta)),
    [](const ::testing::TestParamInfo<FederationEquivalenceTest::ParamType>& info) {
      std::string name = AlgorithmName(std::get<0>(info.param));
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name + "_" + VariantName(std::get<1>(info.param)) + "_" +
             EnumName(std::get<2>(info.param));
    });

// EF21-PP (--participation=0.5): each round only the drawn clients compute and send, the
// aggregator waits for those alone, and the rows still equal the simulation's — for every method
// of the EF21 family, with --downlink=auto and delta (the hosts' replicas replay every round's
// delta, a sum over the participants only). The one-client host {0, 0} has rounds in which it
// sends nothing at all.
class PartialParticipationEquivalenceTest
    : public ::testing::TestWithParam<std::tuple<Algorithm, Variant, DownlinkMode>> {};

TEST_P(PartialParticipationEquivalenceTest, MetricsRowsEqualTheSimulation) {
  const auto [algorithm, variant, downlink] = GetParam();
  RunConfig config = ConfigFor(algorithm, variant, downlink);
  config.participation = 0.5;
  const AlgorithmTraits traits = TraitsOf(algorithm);
  // Only ||EF21||'s gamma0/sqrt(K+1) carries over to partial participation; the rest run with a
  // constant stepsize.
  if (!(traits.normalized && !traits.momentum)) {
    config.stepsize = StepsizeRule::kConstant;
    if (!config.gamma) config.gamma = traits.normalized ? 0.05 : 0.5;
    if (traits.momentum && !traits.eta_is_one && !config.eta) config.eta = 0.5;
  }
  ASSERT_TRUE(config.Validate().ok()) << config.Validate();
  const absl::StatusOr<std::vector<MetricsRow>> simulated = test::SimulateRows(config);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  ASSERT_EQ(simulated->size(), 13u);
  const absl::StatusOr<std::vector<MetricsRow>> federated =
      test::FederateRows(config, {{0, 0}, {1, 3}, {4, 5}});
  ASSERT_TRUE(federated.ok()) << federated.status();
  EXPECT_TRUE(test::SameTrajectory(*federated, *simulated));
  // Fewer messages than full participation: the run really was partial.
  config.participation = 1.0;
  const absl::StatusOr<std::vector<MetricsRow>> full = test::SimulateRows(config);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_LT(simulated->back().uplink_bytes_per_client, full->back().uplink_bytes_per_client);
}

INSTANTIATE_TEST_SUITE_P(
    Ef21Family, PartialParticipationEquivalenceTest,
    ::testing::Combine(::testing::Values(Algorithm::kEf21, Algorithm::kNormEf21,
                                         Algorithm::kEf21Sgdm, Algorithm::kNormEf21Sgdm,
                                         Algorithm::kNormEf21Sgd, Algorithm::kNormSgdm,
                                         Algorithm::kGd, Algorithm::kNormGd),
                       ::testing::Values(Variant::kTopKFull, Variant::kRandKStochastic),
                       ::testing::Values(DownlinkMode::kAuto, DownlinkMode::kDelta)),
    [](const ::testing::TestParamInfo<PartialParticipationEquivalenceTest::ParamType>& info) {
      std::string name = AlgorithmName(std::get<0>(info.param));
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name + "_" + VariantName(std::get<1>(info.param)) + "_" +
             EnumName(std::get<2>(info.param));
    });

}  // namespace
}  // namespace ef21
