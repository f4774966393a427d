// The flag layer in-process (cli/flags.h): both flag forms, defaults in --help, configuration
// files (JSON, TOML, sections, overrides, unknown keys), config.json round trips and the problem
// flags `ef21 run` forwards.
#include "cli/flags.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/base/enum_names.h"
#include "common/base/version.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ef21 {
namespace {

// Every field, so a field the round trip loses shows up.
auto Fields(const RunConfig& c) {
  return std::make_tuple(c.problem, c.data, c.features, c.synthetic_rows, c.synthetic_cols,
                         c.lambda, c.split, c.clients, c.dim, c.L0, c.L1, c.model, c.dataset,
                         c.shards, c.train_samples, c.diagnostics_samples, c.algorithm,
                         c.compressor, c.k, c.rounds, c.stepsize, c.gamma, c.gamma0, c.eta, c.batch,
                         c.sigma, c.init, c.value_type, c.x0, c.x0_file, c.participation, c.seed,
                         c.out, c.overwrite, c.threads, c.diagnostics_every, c.eps);
}
bool Same(const RunConfig& a, const RunConfig& b) { return Fields(a) == Fields(b); }

// A simulate-like flag set bound to *config.
std::unique_ptr<CLI::App> RunFlags(RunConfig* config, const std::string& command = "simulate") {
  auto app = NewCommandFlags(command, "test");
  AddProblemFlags(app.get(), config);
  AddAlgorithmFlags(app.get(), config);
  return app;
}

absl::StatusOr<RunConfig> ParseRun(const std::vector<std::string>& args,
                                   const std::string& command = "simulate") {
  RunConfig config;
  auto app = RunFlags(&config, command);
  bool help = false;
  absl::Status s = ParseFlags(*app, args, &help);
  if (!s.ok()) return s;
  return config;
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(FlagsTest, EqualsAndSpaceFormsAgree) {
  const auto a = ParseRun({"--data=x.svm", "--algorithm=ef21-sgdm", "--k=3", "--rounds=7",
                           "--stepsize=constant", "--gamma=0.25", "--eta=0.5", "--seed=9"});
  const auto b =
      ParseRun({"--data", "x.svm", "--algorithm", "ef21-sgdm", "--k", "3", "--rounds", "7",
                "--stepsize", "constant", "--gamma", "0.25", "--eta", "0.5", "--seed", "9"});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(Same(*a, *b));
  EXPECT_EQ(a->k, 3);
  EXPECT_EQ(a->gamma, 0.25);
  EXPECT_EQ(a->algorithm, Algorithm::kEf21Sgdm);
  const auto negative = ParseRun({"--data", "x", "--features", "-1"});
  ASSERT_TRUE(negative.ok()) << negative.status();  // a negative number is a value, not a flag
  EXPECT_EQ(negative->features, -1);
}

TEST(FlagsTest, ErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--algoritm=ef21"}, "unknown flag --algoritm (did you mean --algorithm?)"},
      {{"--algoritm", "ef21"}, "unknown flag --algoritm (did you mean --algorithm?)"},
      {{"--rounds"}, "--rounds needs a value: --rounds=K or --rounds K"},
      {{"--rounds=3", "--rounds", "4"}, "--rounds is given twice"},
      {{"--k", "two"}, "--k: expected an integer, got \"two\""},
      {{"--lambda=inf"}, "--lambda: expected a finite number, got \"inf\""},
      {{"--split=rows"}, "--split: unknown split \"rows\"; expected row or contiguous"},
      {{"--x0=ones"}, "--x0: unknown x0 \"ones\"; expected gaussian or zeros"},
      {{"--overwrite=maybe"}, "--overwrite: expected true or false, got \"maybe\""},
      {{"stray"}, "expected --name=value or --name value, got \"stray\""},
  };
  for (const Case& c : cases) {
    const auto r = ParseRun(c.args);
    ASSERT_FALSE(r.ok()) << c.args[0];
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string::npos) << r.status();
  }
}

// The vocabulary flags parse and list their values through the enum's one name table
// (common/base/enum_names.h): a value added to a table is a flag value at once.
template <typename E>
void ExpectVocabularyFlag(const std::string& name, E RunConfig::*member) {
  SCOPED_TRACE(name);
  RunConfig config;
  auto app = RunFlags(&config);
  const CLI::Option* opt = app->get_option("--" + name);
  EXPECT_EQ(opt->get_type_name(), NamesOf(E{}).Join("|"));
  for (const E value : AllEnumValues<E>()) {
    const auto parsed = ParseRun({"--" + name + "=" + EnumName(value)});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ((*parsed).*member, value);
  }
  const auto bad = ParseRun({"--" + name, "no-such-value"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            absl::StrCat("--", name, ": unknown ", NamesOf(E{}).noun(),
                         " \"no-such-value\"; expected ", NamesOf(E{}).Expected()));
}

TEST(FlagsTest, VocabularyFlagsUseTheirNameTables) {
  ExpectVocabularyFlag("problem", &RunConfig::problem);
  ExpectVocabularyFlag("split", &RunConfig::split);
  ExpectVocabularyFlag("algorithm", &RunConfig::algorithm);
  ExpectVocabularyFlag("stepsize", &RunConfig::stepsize);
  ExpectVocabularyFlag("init", &RunConfig::init);
  ExpectVocabularyFlag("value-type", &RunConfig::value_type);
  ExpectVocabularyFlag("x0", &RunConfig::x0);
  // --compressor is optional (its default depends on the algorithm).
  RunConfig config;
  auto app = RunFlags(&config);
  EXPECT_EQ(app->get_option("--compressor")->get_type_name(), NamesOf(CompressorKind{}).Join("|"));
  for (const CompressorKind kind : AllEnumValues<CompressorKind>()) {
    const auto parsed = ParseRun({"--compressor", EnumName(kind)});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->compressor, kind);
  }
  EXPECT_EQ(ParseRun({"--compressor=top-j"}).status().message(),
            "--compressor: unknown compressor \"top-j\"; expected top-k, rand-k or identity");
}

TEST(FlagsTest, BooleanFlagAloneOrWithAValue) {
  struct Case {
    std::vector<std::string> args;
    bool overwrite;
  } cases[] = {
      {{}, false},
      {{"--overwrite"}, true},
      {{"--overwrite", "--rounds=3"}, true},  // the next flag is not its value
      {{"--overwrite=true"}, true},
      {{"--overwrite=false"}, false},
      {{"--overwrite", "false"}, false},
      {{"--overwrite=1"}, true},
  };
  for (const Case& c : cases) {
    const auto r = ParseRun(c.args);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->overwrite, c.overwrite) << (c.args.empty() ? "(none)" : c.args[0]);
  }
  const std::string toml = WriteFile("overwrite.toml", "overwrite = true\n");
  const auto from_file = ParseRun({"--config=" + toml});
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_TRUE(from_file->overwrite);
  RunConfig config;
  EXPECT_NE(RunFlags(&config)->help().find("--overwrite                   replace a run already in "
                                           "--out (refused otherwise) (default: false)"),
            std::string::npos);
}

TEST(FlagsTest, HelpShowsEveryDefault) {
  RunConfig config;
  auto app = RunFlags(&config);
  const std::string help = app->help();
  // Issue 12.5: these four had none.
  for (const char* line :
       {"--split=row|contiguous", "--x0=gaussian|zeros", "--batch=N", "--threads=N"}) {
    const size_t at = help.find(line);
    ASSERT_NE(at, std::string::npos) << line;
    const std::string rest = help.substr(at, help.find("\n  --", at + 1) - at);
    EXPECT_NE(rest.find("(default: "), std::string::npos) << rest;
  }
  EXPECT_NE(help.find("(default: row)"), std::string::npos);
  EXPECT_NE(help.find("(default: gaussian)"), std::string::npos);
  // Every flag with a value shows its default, except those that have none by nature.
  const std::vector<std::string> no_default = {"--config", "--data", "--synthetic", "--gamma",
                                               "--x0-file"};
  for (const CLI::Option* opt : app->get_options()) {
    if (opt->get_type_name().empty()) continue;  // --help
    const std::string name = opt->get_name();
    if (std::find(no_default.begin(), no_default.end(), name) != no_default.end()) continue;
    EXPECT_FALSE(opt->get_default_str().empty()) << name << " shows no default";
    // The default shown is the value the flag leaves in place when not given.
    const std::string key = name.substr(2);
    if (key != "clients" && key != "data" && !config.Get(key).empty())
      EXPECT_EQ(opt->get_default_str(), config.Get(key)) << name;
  }
}

TEST(FlagsTest, ConfigFileJsonAndTomlEqualTheFlags) {
  const std::vector<std::string> flags = {
      "--problem=logreg",    "--data=a.svm",  "--algorithm=ef21",
      "--compressor=rand-k", "--k=4",         "--rounds=12",
      "--value-type=f64",    "--lambda=0.05", "--seed=3"};
  const auto from_flags = ParseRun(flags);
  ASSERT_TRUE(from_flags.ok()) << from_flags.status();
  const std::string json = WriteFile("run.json", R"({"problem": "logreg", "data": "a.svm",
      "algorithm": "ef21", "compressor": "rand-k", "k": 4, "rounds": 12, "value-type": "f64",
      "lambda": 0.05, "seed": 3})");
  const std::string toml =
      WriteFile("run.toml",
                "# a run\nproblem = \"logreg\"\ndata = \"a.svm\"\n"
                "algorithm = \"ef21\"\ncompressor = \"rand-k\"\nk = 4\n"
                "rounds = 12\nvalue-type = \"f64\"\nlambda = 0.05\nseed = 3\n");
  for (const std::string& file : {json, toml}) {
    const auto from_file = ParseRun({"--config=" + file});
    ASSERT_TRUE(from_file.ok()) << file << ": " << from_file.status();
    EXPECT_TRUE(Same(*from_flags, *from_file)) << file;
    // Flags on the command line override the file, in either position.
    const auto overridden = ParseRun({"--k=9", "--config", file, "--rounds", "5"});
    ASSERT_TRUE(overridden.ok()) << overridden.status();
    EXPECT_EQ(overridden->k, 9);
    EXPECT_EQ(overridden->rounds, 5);
    EXPECT_EQ(overridden->seed, 3u);
  }
}

TEST(FlagsTest, ConfigFileSectionsAndUnknownKeys) {
  // Top-level keys for everyone; [simulate] for simulate only; other subcommands' sections skipped.
  const std::string toml = WriteFile("sections.toml",
                                     "data = \"a.svm\"\nk = 2\n[simulate]\nrounds = 30\n"
                                     "[aggregator]\nlisten = \"0.0.0.0:1\"\nrounds = 99\n");
  const auto sim = ParseRun({"--config=" + toml});
  ASSERT_TRUE(sim.ok()) << sim.status();
  EXPECT_EQ(sim->rounds, 30);
  EXPECT_EQ(sim->k, 2);
  const std::string json = WriteFile("sections.json",
                                     R"({"data": "a.svm", "worker": {"client-ids": "0-3"},
                                         "run": {"rounds": 40}})");
  const auto run = ParseRun({"--config=" + json}, "run");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->rounds, 40);

  struct Case {
    std::string name, text, message;
  } cases[] = {
      {"unknown.json", R"({"data": "a.svm", "rouns": 5})",
       "unknown key \"rouns\": ef21 simulate has no flag --rouns"},
      {"unknown.toml", "data = \"a.svm\"\nrouns = 5\n", "unknown key \"rouns\""},
      {"section.toml", "[simulat]\nrounds = 5\n", "unknown key \"simulat.rounds\""},
      {"badvalue.json", R"({"k": "two"})", "--k: expected an integer, got \"two\""},
      {"array.json", R"({"k": [1, 2]})",
       "key \"k\": expected a string, number or boolean, got array"},
      {"broken.json", R"({"k": 1,})", "not valid JSON"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteFile(c.name, c.text);
    const auto r = ParseRun({"--config=" + path});
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string::npos)
        << c.name << ": " << r.status();
    if (c.name != "badvalue.json") {
      EXPECT_NE(r.status().message().find(path), std::string::npos) << c.name << ": " << r.status();
    }
  }
  const auto missing = ParseRun({"--config=/nonexistent/run.json"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--config=/nonexistent/run.json: cannot read"),
            std::string::npos)
      << missing.status();
}

// Configurations that exercise every branch of ToJson.
std::vector<RunConfig> Configs() {
  std::vector<RunConfig> configs;
  RunConfig a;  // every optional set
  a.data = "data/x.svm";
  a.features = 130;
  a.lambda = 0.01;
  a.split = Split::kContiguous;
  a.clients = 7;
  a.algorithm = Algorithm::kEf21Sgdm;
  a.compressor = CompressorKind::kRandK;
  a.k = 5;
  a.rounds = 321;
  a.stepsize = StepsizeRule::kConstant;
  a.gamma = 0.1;  // not exactly representable: the text must read back to the same double
  a.gamma0 = 1.0 / 3.0;
  a.eta = 0.7;
  a.batch = 4;
  a.init = InitKind::kCompressed;
  a.value_type = ValueType::kF64;
  a.x0 = X0Kind::kZeros;
  a.participation = 0.25;
  a.seed = 18446744073709551615u;
  a.diagnostics_every = 10;
  a.eps = 1e-7;
  configs.push_back(a);
  RunConfig b;  // polynomial, x0 from a file
  b.problem = ProblemKind::kPolynomial;
  b.dim = 9;
  b.L0 = 2.5;
  b.L1 = 0.75;
  b.clients = 3;
  b.sigma = 0.125;
  b.x0_file = "x0.txt";
  b.compressor = CompressorKind::kTopK;  // config.json records the effective compressor
  b.diagnostics_every = 1;               // ... and the effective diagnostics interval
  configs.push_back(b);
  RunConfig c;  // synthetic, identity-only method
  c.synthetic_rows = 20;
  c.synthetic_cols = 10;
  c.lambda = 0.1;
  c.algorithm = Algorithm::kGd;
  c.compressor = CompressorKind::kIdentity;
  c.diagnostics_every = 1;
  configs.push_back(c);
  return configs;
}

TEST(ConfigJsonTest, RoundTrip) {
  for (const RunConfig& config : Configs()) {
    const std::string json = config.ToJson();
    const auto back = RunConfig::FromJson(json);
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << json;
    // config.json leaves out what is not part of the run (out, threads) and unused fields.
    EXPECT_TRUE(Same(config, *back)) << json << "\n" << back->ToJson();
    EXPECT_EQ(back->ToJson(), json);
  }
  // Defaults come back as their effective values: the same run, the same file.
  const RunConfig defaults;
  const auto back = RunConfig::FromJson(defaults.ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->ToJson(), defaults.ToJson());
  EXPECT_EQ(back->EffectiveLambda(), defaults.EffectiveLambda());
  EXPECT_EQ(back->EffectiveCompressor(), defaults.EffectiveCompressor());
}

TEST(ConfigJsonTest, RecordsTheBuild) {
  const nlohmann::json j = nlohmann::json::parse(RunConfig().ToJson());
  EXPECT_EQ(j["build"]["version"], kVersion);
  EXPECT_EQ(j["build"]["commit"], GitCommit());
  EXPECT_EQ(j["build"]["build_type"], BuildType());
  EXPECT_FALSE(std::string(GitCommit()).empty());
  // Integral doubles are written as integers, as the %.17g writer before nlohmann-json did.
  EXPECT_NE(RunConfig().ToJson().find("\"gamma0\": 1,\n"), std::string::npos)
      << RunConfig().ToJson();
}

TEST(ConfigJsonTest, JsonEqualsTheFlagsItNames) {
  for (const RunConfig& config : Configs()) {
    const std::string json = config.ToJson();
    // Each key of config.json as --key=value on the command line ...
    std::vector<std::string> args;
    const nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(json);
    for (const auto& [key, value] : parsed.items()) {
      if (key == "build") continue;
      args.push_back("--" + key + "=" +
                     (value.is_string() ? value.get<std::string>() : value.dump()));
    }
    const auto from_flags = ParseRun(args);
    ASSERT_TRUE(from_flags.ok()) << from_flags.status();
    // ... and config.json itself as --config give the configuration it was written from.
    const auto from_file = ParseRun({"--config=" + WriteFile("config.json", json)});
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    const auto from_json = RunConfig::FromJson(json);
    ASSERT_TRUE(from_json.ok());
    EXPECT_TRUE(Same(*from_flags, *from_json)) << json;
    EXPECT_TRUE(Same(*from_file, *from_json)) << json;
  }
}

TEST(ConfigJsonTest, FromJsonErrorsNameTheKey) {
  EXPECT_EQ(RunConfig::FromJson(R"({"k": 1, "frobnicate": 2})").status().message(),
            "config.json: unknown key \"frobnicate\" (not a run flag)");
  EXPECT_EQ(RunConfig::FromJson(R"({"k": "x"})").status().message(),
            "config.json: --k: expected an integer, got \"x\"");
  EXPECT_EQ(RunConfig::FromJson(R"({"k": null})").status().message(),
            "config.json: key \"k\": expected a string, number or boolean, got null");
  EXPECT_EQ(RunConfig::FromJson("[1]").status().message(),
            "config.json: expected a JSON object of flag names, got array");
  EXPECT_FALSE(RunConfig::FromJson("{").ok());
}

TEST(FlagsTest, RunForwardsExactlyTheGivenProblemFlags) {
  RunConfig config;
  auto app = RunFlags(&config, "run");
  const std::string file =
      WriteFile("forward.toml", "split = \"contiguous\"\nclients = 3\nrounds = 8\n");
  bool help = false;
  ASSERT_TRUE(
      ParseFlags(*app, {"--data", "a.svm", "--k=3", "--config=" + file, "--seed=4"}, &help).ok());
  EXPECT_EQ(GivenProblemFlags(*app), (std::vector<std::string>{"--data=a.svm", "--split=contiguous",
                                                               "--clients=3", "--seed=4"}));
}

}  // namespace
}  // namespace ef21
