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
#include <vector>

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

// "norm-ef21" -> "norm_ef21_TopKFull" (a test name).
std::string ParamName(Algorithm algorithm, Variant variant) {
  std::string name = AlgorithmName(algorithm);
  for (char& ch : name) {
    if (ch == '-') ch = '_';
  }
  return name + "_" + VariantName(variant);
}

using AlgorithmVariantDownlink = std::tuple<Algorithm, Variant, DownlinkMode>;

std::string AlgorithmVariantDownlinkName(
    const ::testing::TestParamInfo<AlgorithmVariantDownlink>& info) {
  return ParamName(std::get<0>(info.param), std::get<1>(info.param)) + "_" +
         EnumName(std::get<2>(info.param));
}

// `config` (valid) simulated, then federated by a real aggregator and three worker hosts of
// uneven size, so a round's updates arrive in several batches in any order: the rows must be the
// same. `simulated_rows` receives the simulation's. Fatal failures: call in
// ASSERT_NO_FATAL_FAILURE.
void ExpectFederationEqualsSimulation(const RunConfig& config,
                                      std::vector<MetricsRow>* simulated_rows = nullptr) {
  ASSERT_TRUE(config.Validate().ok()) << config.Validate();
  const absl::StatusOr<std::vector<MetricsRow>> simulated = test::SimulateRows(config);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  ASSERT_EQ(simulated->size(), static_cast<size_t>(config.rounds + 1));
  const absl::StatusOr<std::vector<MetricsRow>> federated =
      test::FederateRows(config, {{0, 0}, {1, 3}, {4, 5}});
  ASSERT_TRUE(federated.ok()) << federated.status();
  EXPECT_TRUE(test::SameTrajectory(*federated, *simulated));
  if (simulated_rows != nullptr) *simulated_rows = *simulated;
}

class FederationEquivalenceTest : public ::testing::TestWithParam<AlgorithmVariantDownlink> {};

TEST_P(FederationEquivalenceTest, MetricsRowsEqualTheSimulation) {
  const auto [algorithm, variant, downlink] = GetParam();
  ExpectFederationEqualsSimulation(ConfigFor(algorithm, variant, downlink));
}

INSTANTIATE_TEST_SUITE_P(
    AllAlgorithms, FederationEquivalenceTest,
    ::testing::Combine(::testing::ValuesIn(test::kAllAlgorithms),
                       ::testing::Values(Variant::kTopKFull, Variant::kRandKStochastic),
                       ::testing::Values(DownlinkMode::kAuto, DownlinkMode::kDelta)),
    AlgorithmVariantDownlinkName);

// EF21-PP (--participation=0.5): each round only the drawn clients compute and send, the
// aggregator waits for those alone, and the rows still equal the simulation's — for every method
// of the EF21 family, with --downlink=auto and delta (the hosts' replicas replay every round's
// delta, a sum over the participants only). The one-client host {0, 0} has rounds in which it
// sends nothing at all.
class PartialParticipationEquivalenceTest
    : public ::testing::TestWithParam<AlgorithmVariantDownlink> {};

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
  std::vector<MetricsRow> simulated;
  ASSERT_NO_FATAL_FAILURE(ExpectFederationEqualsSimulation(config, &simulated));
  // Fewer messages than full participation: the run really was partial.
  config.participation = 1.0;
  const absl::StatusOr<std::vector<MetricsRow>> full = test::SimulateRows(config);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_LT(simulated.back().uplink_bytes_per_client, full->back().uplink_bytes_per_client);
}

INSTANTIATE_TEST_SUITE_P(
    Ef21Family, PartialParticipationEquivalenceTest,
    ::testing::Combine(::testing::Values(Algorithm::kEf21, Algorithm::kNormEf21,
                                         Algorithm::kEf21Sgdm, Algorithm::kNormEf21Sgdm,
                                         Algorithm::kNormEf21Sgd, Algorithm::kNormSgdm,
                                         Algorithm::kGd, Algorithm::kNormGd),
                       ::testing::Values(Variant::kTopKFull, Variant::kRandKStochastic),
                       ::testing::Values(DownlinkMode::kAuto, DownlinkMode::kDelta)),
    AlgorithmVariantDownlinkName);

// An aggregator without data (issue 11 item 5): the workers report their clients' constants and
// data digests at attach, and the rows still equal the simulation's bit for bit — for the rules
// that need no problem constant (||EF21|| family's gamma0/sqrt(K+1), a constant γ), with the row
// split (n from --clients) and the contiguous one, both downlinks.
struct WithoutDataCase {
  std::string name;
  RunConfig config;
};

class WithoutDataEquivalenceTest : public ::testing::TestWithParam<WithoutDataCase> {};

TEST_P(WithoutDataEquivalenceTest, MetricsRowsEqualTheSimulation) {
  const RunConfig& config = GetParam().config;
  ASSERT_TRUE(config.Validate().ok()) << config.Validate();
  const absl::StatusOr<std::vector<MetricsRow>> simulated = test::SimulateRows(config);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  const int64_t n = config.split == Split::kRow ? 683 : config.clients;
  const absl::StatusOr<std::vector<MetricsRow>> federated =
      test::FederateRowsWithoutData(config, {{0, 0}, {1, n / 2}, {n / 2 + 1, n - 1}});
  ASSERT_TRUE(federated.ok()) << federated.status();
  EXPECT_TRUE(test::SameTrajectory(*federated, *simulated));
}

std::vector<WithoutDataCase> WithoutDataCases() {
  std::vector<WithoutDataCase> cases;
  RunConfig norm = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/6, /*rounds=*/12);
  cases.push_back({"NormEf21Theory", norm});
  RunConfig row = norm;
  row.split = Split::kRow;
  row.clients = 0;
  row.rounds = 5;
  row.downlink = DownlinkMode::kDelta;
  cases.push_back({"NormEf21RowSplitDelta", row});
  RunConfig ef21 = test::BreastCancer(Algorithm::kEf21, /*clients=*/6, /*rounds=*/12);
  ef21.stepsize = StepsizeRule::kConstant;
  ef21.gamma = 0.5;
  ef21.downlink = DownlinkMode::kDelta;
  cases.push_back({"Ef21ConstantDelta", ef21});
  RunConfig sgdm =
      ConfigFor(Algorithm::kNormEf21Sgdm, Variant::kRandKStochastic, DownlinkMode::kAuto);
  sgdm.stepsize = StepsizeRule::kConstant;
  sgdm.gamma = 0.05;
  sgdm.eta = 0.5;
  cases.push_back({"NormEf21SgdmConstantRandK", sgdm});
  RunConfig ef14 = test::BreastCancer(Algorithm::kEf14, /*clients=*/6, /*rounds=*/12);
  ef14.stepsize = StepsizeRule::kConstant;
  ef14.gamma = 0.5;
  cases.push_back({"Ef14Constant", ef14});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AggregatorWithoutData, WithoutDataEquivalenceTest,
                         ::testing::ValuesIn(WithoutDataCases()),
                         [](const ::testing::TestParamInfo<WithoutDataCase>& info) {
                           return info.param.name;
                         });

// What an aggregator without data cannot do is refused before it serves, naming the way out.
TEST(AggregatorWithoutDataTest, RefusesWhatNeedsTheData) {
  struct Refusal {
    RunConfig config;
    std::string expected;
  };
  RunConfig ef21 = test::BreastCancer(Algorithm::kEf21, /*clients=*/6, /*rounds=*/3);
  RunConfig sgdm = test::BreastCancer(Algorithm::kNormEf21Sgdm, /*clients=*/6, /*rounds=*/3);
  RunConfig theory_l1 = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/6, /*rounds=*/3);
  theory_l1.stepsize = StepsizeRule::kTheoryL1;
  RunConfig pp = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/6, /*rounds=*/3);
  pp.participation = 0.5;
  const std::vector<Refusal> refusals = {
      {ef21, "--stepsize=theory for --algorithm=ef21 needs them"},
      {sgdm, "--stepsize=theory for --algorithm=norm-ef21-sgdm needs them"},
      {theory_l1, "--stepsize=theory-l1 for --algorithm=norm-ef21 needs them"},
      {pp, "with --participation < 1; give it --data"},
  };
  for (const Refusal& r : refusals) {
    absl::StatusOr<Aggregator::Options> options = test::OptionsWithoutData(r.config);
    ASSERT_TRUE(options.ok()) << options.status();
    options->listen = "127.0.0.1:0";
    const auto aggregator = Aggregator::Start(*options);
    ASSERT_FALSE(aggregator.ok()) << r.expected;
    EXPECT_EQ(aggregator.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(aggregator.status().message().find(r.expected), std::string::npos)
        << aggregator.status();
  }
  // The shape must be given: without --features there is no dimension.
  absl::StatusOr<Aggregator::Options> options =
      test::OptionsWithoutData(test::BreastCancer(Algorithm::kNormEf21, 6, 3));
  ASSERT_TRUE(options.ok());
  options->config.features = 0;
  const auto aggregator = Aggregator::Start(*options);
  ASSERT_FALSE(aggregator.ok());
  EXPECT_NE(aggregator.status().message().find("needs --features=D"), std::string::npos)
      << aggregator.status();
}

// --client-state=worker: the aggregator keeps no g_i (only a state hash per client) and takes no
// gradient from the clients on diagnostic rounds (it evaluates ∇f(x^r) itself, one client at a
// time); the rows still equal the simulation's, for all nine algorithms, and with EF21-PP for
// two of the family.
class WorkerStateEquivalenceTest
    : public ::testing::TestWithParam<std::tuple<Algorithm, Variant, double>> {};

TEST_P(WorkerStateEquivalenceTest, MetricsRowsEqualTheSimulation) {
  const auto [algorithm, variant, participation] = GetParam();
  RunConfig config = ConfigFor(algorithm, variant, DownlinkMode::kDelta);
  config.client_state = ClientStateMode::kWorker;
  config.participation = participation;
  ExpectFederationEqualsSimulation(config);
}

std::string WorkerStateName(
    const ::testing::TestParamInfo<WorkerStateEquivalenceTest::ParamType>& info) {
  return ParamName(std::get<0>(info.param), std::get<1>(info.param)) +
         (std::get<2>(info.param) < 1.0 ? "_pp" : "");
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, WorkerStateEquivalenceTest,
                         ::testing::Combine(::testing::ValuesIn(test::kAllAlgorithms),
                                            ::testing::Values(Variant::kTopKFull,
                                                              Variant::kRandKStochastic),
                                            ::testing::Values(1.0)),
                         WorkerStateName);
INSTANTIATE_TEST_SUITE_P(PartialParticipation, WorkerStateEquivalenceTest,
                         ::testing::Combine(::testing::Values(Algorithm::kNormEf21),
                                            ::testing::Values(Variant::kTopKFull,
                                                              Variant::kRandKStochastic),
                                            ::testing::Values(0.5)),
                         WorkerStateName);

}  // namespace
}  // namespace ef21
