// simulate ≡ federation, bit for bit, for all nine algorithms: `ef21 simulate`'s trajectory and
// that of a real aggregator (gRPC on 127.0.0.1:0) with worker hosts in this process agree in
// every metrics.csv column but wall_seconds. Each algorithm runs with top-k (the identity for the
// identity-only methods) and full gradients, and again with rand-k, minibatch gradients, a
// compressed start, float64 values and diagnostics every third round. The e2e script
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

RunConfig ConfigFor(Algorithm algorithm, Variant variant) {
  RunConfig c = test::BreastCancer(algorithm, /*clients=*/6, /*rounds=*/12);
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
    : public ::testing::TestWithParam<std::tuple<Algorithm, Variant>> {};

TEST_P(FederationEquivalenceTest, MetricsRowsEqualTheSimulation) {
  const auto [algorithm, variant] = GetParam();
  const RunConfig config = ConfigFor(algorithm, variant);
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
                       ::testing::Values(Variant::kTopKFull, Variant::kRandKStochastic)),
    [](const ::testing::TestParamInfo<FederationEquivalenceTest::ParamType>& info) {
      std::string name = AlgorithmName(std::get<0>(info.param));
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name + "_" + VariantName(std::get<1>(info.param));
    });

}  // namespace
}  // namespace ef21
