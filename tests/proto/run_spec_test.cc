// The run spec of the wire (Welcome.spec, Attach.problem): RunConfig -> v1::RunSpec -> RunConfig
// gives the configuration back field for field, for every value of every vocabulary, and a spec
// naming a value no table knows is refused without touching the output.
#include <string>

#include "absl/strings/match.h"
#include "common/run/run_config.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "proto/codec.h"

namespace ef21 {
namespace {

// Every field away from its default, so a field the codec drops cannot go unnoticed.
RunConfig NonDefaultConfig() {
  RunConfig c;
  c.problem = ProblemKind::kPolynomial;
  c.data = "data/libsvm/a9a";
  c.features = 123;
  c.synthetic_rows = 20;
  c.synthetic_cols = 10;
  c.lambda = 0.25;
  c.split = Split::kContiguous;
  c.clients = 7;
  c.dim = 11;
  c.L0 = 3.5;
  c.L1 = 0.75;
  c.algorithm = Algorithm::kEf21Sgdm;
  c.compressor = CompressorKind::kRandK;
  c.k = 3;
  c.rounds = 250;
  c.stepsize = StepsizeRule::kConstant;
  c.gamma = 0.0625;
  c.gamma0 = 2.5;
  c.eta = 0.125;
  c.batch = 4;
  c.sigma = 0.5;
  c.init = InitKind::kCompressed;
  c.value_type = ValueType::kF64;
  c.x0 = X0Kind::kZeros;
  c.x0_file = "x0.txt";
  c.seed = 0xfeedbeefcafeULL;
  c.diagnostics_every = 5;
  c.eps = 1e-6;
  c.participation = 0.375;
  return c;
}

// RunConfig has no operator== (it is a plain option struct); compare every field by name.
void ExpectSameConfig(const RunConfig& got, const RunConfig& want) {
  EXPECT_EQ(got.problem, want.problem);
  EXPECT_EQ(got.data, want.data);
  EXPECT_EQ(got.features, want.features);
  EXPECT_EQ(got.synthetic_rows, want.synthetic_rows);
  EXPECT_EQ(got.synthetic_cols, want.synthetic_cols);
  EXPECT_EQ(got.lambda, want.lambda);
  EXPECT_EQ(got.split, want.split);
  EXPECT_EQ(got.clients, want.clients);
  EXPECT_EQ(got.dim, want.dim);
  EXPECT_EQ(got.L0, want.L0);
  EXPECT_EQ(got.L1, want.L1);
  EXPECT_EQ(got.algorithm, want.algorithm);
  EXPECT_EQ(got.compressor, want.compressor);
  EXPECT_EQ(got.k, want.k);
  EXPECT_EQ(got.rounds, want.rounds);
  EXPECT_EQ(got.stepsize, want.stepsize);
  EXPECT_EQ(got.gamma, want.gamma);
  EXPECT_EQ(got.gamma0, want.gamma0);
  EXPECT_EQ(got.eta, want.eta);
  EXPECT_EQ(got.batch, want.batch);
  EXPECT_EQ(got.sigma, want.sigma);
  EXPECT_EQ(got.init, want.init);
  EXPECT_EQ(got.value_type, want.value_type);
  EXPECT_EQ(got.x0, want.x0);
  EXPECT_EQ(got.x0_file, want.x0_file);
  EXPECT_EQ(got.seed, want.seed);
  EXPECT_EQ(got.out, want.out);
  EXPECT_EQ(got.threads, want.threads);
  EXPECT_EQ(got.diagnostics_every, want.diagnostics_every);
  EXPECT_EQ(got.eps, want.eps);
  EXPECT_EQ(got.participation, want.participation);
}

// config -> spec -> config, the receiver keeping its own run-only fields (out, threads).
void ExpectRoundTrip(const RunConfig& config) {
  v1::RunSpec spec;
  RunConfigToSpec(config, &spec);
  RunConfig back;
  back.out = config.out;
  back.threads = config.threads;
  const absl::Status status = SpecToRunConfig(spec, &back);
  ASSERT_TRUE(status.ok()) << status << "\n" << spec.DebugString();
  ExpectSameConfig(back, config);
  v1::RunSpec again;
  RunConfigToSpec(back, &again);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(again, spec))
      << again.DebugString() << "\nvs\n"
      << spec.DebugString();
}

TEST(RunSpecTest, DefaultAndNonDefaultConfigsRoundTrip) {
  {
    SCOPED_TRACE("defaults");
    ExpectRoundTrip(RunConfig());
  }
  {
    SCOPED_TRACE("every field set");
    RunConfig c = NonDefaultConfig();
    c.out = "/tmp/run";
    c.threads = 3;
    ExpectRoundTrip(c);
  }
}

TEST(RunSpecTest, SpecCarriesEnumsByTheirTableNames) {
  v1::RunSpec spec;
  RunConfigToSpec(NonDefaultConfig(), &spec);
  EXPECT_EQ(spec.problem(), "polynomial");
  EXPECT_EQ(spec.split(), "contiguous");
  EXPECT_EQ(spec.algorithm(), "ef21-sgdm");
  EXPECT_EQ(spec.compressor(), "rand-k");
  EXPECT_EQ(spec.stepsize(), "constant");
  EXPECT_EQ(spec.init(), "compressed");
  EXPECT_EQ(spec.value_type(), "f64");
  EXPECT_EQ(spec.x0(), "zeros");
  // Unset optionals stay unset on the wire.
  RunConfigToSpec(RunConfig(), &spec);
  EXPECT_FALSE(spec.has_compressor());
  EXPECT_FALSE(spec.has_gamma());
  EXPECT_FALSE(spec.has_eta());
  EXPECT_FALSE(spec.has_participation());  // full participation: the spec of before EF21-PP
  EXPECT_FALSE(spec.has_lambda());
}

// One round trip per value of every vocabulary the spec carries: a value added to an enum and
// its table travels the wire without touching the codec.
template <typename E>
void ExpectEveryValueRoundTrips(E RunConfig::*field) {
  for (E value : AllEnumValues<E>()) {
    SCOPED_TRACE(EnumName(value));
    RunConfig c = NonDefaultConfig();
    c.*field = value;
    ExpectRoundTrip(c);
  }
}

TEST(RunSpecTest, EveryEnumValueRoundTrips) {
  ExpectEveryValueRoundTrips(&RunConfig::problem);
  ExpectEveryValueRoundTrips(&RunConfig::split);
  ExpectEveryValueRoundTrips(&RunConfig::algorithm);
  ExpectEveryValueRoundTrips(&RunConfig::stepsize);
  ExpectEveryValueRoundTrips(&RunConfig::init);
  ExpectEveryValueRoundTrips(&RunConfig::value_type);
  ExpectEveryValueRoundTrips(&RunConfig::x0);
  for (CompressorKind kind : AllEnumValues<CompressorKind>()) {
    SCOPED_TRACE(EnumName(kind));
    RunConfig c = NonDefaultConfig();
    c.compressor = kind;
    ExpectRoundTrip(c);
  }
}

TEST(RunSpecTest, UnknownNameIsRefusedAndLeavesTheConfigUntouched) {
  struct Case {
    const char* field;
    void (*edit)(v1::RunSpec*);
    const char* message;
  };
  const Case cases[] = {
      {"problem", [](v1::RunSpec* s) { s->set_problem("lasso"); },
       "run spec field problem: unknown problem \"lasso\"; expected logreg, polynomial or network"},
      {"split", [](v1::RunSpec* s) { s->set_split("random"); }, "unknown split \"random\""},
      {"algorithm", [](v1::RunSpec* s) { s->set_algorithm("ef22"); },
       "run spec field algorithm: unknown algorithm \"ef22\""},
      {"compressor", [](v1::RunSpec* s) { s->set_compressor("top_k"); },
       "unknown compressor \"top_k\"; expected top-k, rand-k or identity"},
      {"stepsize", [](v1::RunSpec* s) { s->set_stepsize("theory-l2"); },
       "unknown stepsize rule \"theory-l2\""},
      {"init", [](v1::RunSpec* s) { s->set_init(""); }, "unknown init \"\""},
      {"value_type", [](v1::RunSpec* s) { s->set_value_type("bf16"); },
       "unknown value type \"bf16\"; expected f32 or f64"},
      {"x0", [](v1::RunSpec* s) { s->set_x0("ones"); }, "unknown x0 \"ones\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    v1::RunSpec spec;
    RunConfigToSpec(NonDefaultConfig(), &spec);
    c.edit(&spec);
    RunConfig out;
    const absl::Status status = SpecToRunConfig(spec, &out);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), c.message)) << status;
    ExpectSameConfig(out, RunConfig());
  }
}

}  // namespace
}  // namespace ef21
