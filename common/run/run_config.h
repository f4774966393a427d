// The configuration of one training run: problem, algorithm, compressor, stepsize and output.
// The same struct drives `ef21 simulate`, `ef21 run` and the aggregator. Its vocabulary is one
// table: Set("k", "5") is what the flag --k=5, the key "k" of a --config file and the key "k" of
// config.json all do, so the three cannot disagree. Plain value type. Validate() checks every
// field and combination without touching files.
#ifndef EF21_COMMON_RUN_RUN_CONFIG_H_
#define EF21_COMMON_RUN_RUN_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/base/enum_names.h"
#include "common/base/vector.h"
#include "common/compress/compressor.h"
#include "common/methods/algorithm.h"
#include "common/methods/method.h"
#include "common/methods/stepsize.h"
#include "common/nn/shards.h"
#include "common/problems/logistic.h"
#include "common/run/downlink.h"
#include "nlohmann/json_fwd.hpp"

namespace ef21 {

enum class ProblemKind { kLogreg, kPolynomial, kNetwork, kMaxValue = kNetwork };
enum class X0Kind { kGaussian, kZeros, kMaxValue = kZeros };

// The --problem and --x0 names.
inline constexpr auto kProblemKindNames =
    MakeEnumNames<ProblemKind>("problem", {{ProblemKind::kLogreg, "logreg"},
                                           {ProblemKind::kPolynomial, "polynomial"},
                                           {ProblemKind::kNetwork, "network"}});
constexpr const auto& NamesOf(ProblemKind) { return kProblemKindNames; }
inline const char* ProblemKindName(ProblemKind kind) { return kProblemKindNames.Name(kind); }
inline constexpr auto kX0KindNames =
    MakeEnumNames<X0Kind>("x0", {{X0Kind::kGaussian, "gaussian"}, {X0Kind::kZeros, "zeros"}});
constexpr const auto& NamesOf(X0Kind) { return kX0KindNames; }
inline const char* X0KindName(X0Kind kind) { return kX0KindNames.Name(kind); }

struct RunConfig {
  // Problem.
  ProblemKind problem = ProblemKind::kLogreg;
  std::string data;            // LIBSVM file (logreg)
  int64_t features = 0;        // declared dimension of the LIBSVM file (0: largest index)
  int64_t synthetic_rows = 0;  // --synthetic=MxD (logreg without --data)
  int64_t synthetic_cols = 0;
  std::optional<double> lambda;  // logreg regularizer λ (default 0.1)
  Split split = Split::kRow;
  int64_t clients = 0;  // logreg --split=contiguous, or the polynomial's copies of f
  int64_t dim = 4;      // polynomial
  double L0 = 4.0;      // polynomial
  double L1 = 1.0;      // polynomial
  // Network (SPEC §5 "Neural network"); --clients (default 5) and --batch apply too.
  std::string model = "cnn";              // resnet20 | cnn | mlp | PATH.pt (TorchScript)
  std::string dataset = "fashion-mnist";  // fashion-mnist (Debian's files) | idx | cifar10
  ShardKind shards = ShardKind::kRandom;
  int64_t train_samples = 0;        // only the first N training images (0: all)
  int64_t diagnostics_samples = 0;  // diagnostics over a seeded subsample of N rows (0: all)

  // Algorithm.
  Algorithm algorithm = Algorithm::kNormEf21;
  std::optional<CompressorKind> compressor;  // default top-k (identity for gd, norm-gd, norm-sgdm)
  int64_t k = 1;
  int64_t rounds = 100;  // K
  StepsizeRule stepsize = StepsizeRule::kTheory;
  std::optional<double> gamma;
  double gamma0 = 1.0;
  std::optional<double> eta;
  int64_t batch = 0;   // minibatch rows per client per round (0: full gradient)
  double sigma = 0.0;  // Gaussian gradient noise (polynomial)
  InitKind init = InitKind::kFull;
  ValueType value_type = ValueType::kF32;
  X0Kind x0 = X0Kind::kGaussian;
  std::string x0_file;
  uint64_t seed = 0;
  // EF21-PP: each client takes part in a round with this probability, by a seeded draw (SPEC §3
  // "Partial participation"); 1 (the default) is full participation.
  double participation = 1.0;

  // Run.
  std::string out;         // run directory ("" writes nothing)
  bool overwrite = false;  // replace a run already in `out` (otherwise refused); not in config.json
  int64_t threads = 0;     // 0: one per core, or one per client when client steps are long
  // Rounds between exact ‖∇f(x)‖ evaluations (unset: DefaultDiagnosticsEvery, resolved by
  // ResolveDiagnosticsEvery once the model's dimension is known).
  std::optional<int64_t> diagnostics_every;
  double eps = 1e-4;                            // target ‖∇f‖² of the summary
  DownlinkMode downlink = DownlinkMode::kAuto;  // what starts a round on a worker host
  // Where each client's g_i lives in a federation (common/methods/method.h); no effect on
  // `ef21 simulate`'s trajectory.
  ClientStateMode client_state = ClientStateMode::kAggregator;

  absl::Status Validate() const;
  // The same, except that --problem=logreg may come without --data and --synthetic: an aggregator
  // whose workers hold the data (server/data_free_problem.h).
  absl::Status ValidateWithoutData() const;

  // Effective values after the algorithm's own constraints.
  CompressorKind EffectiveCompressor() const;
  AlgorithmTraits traits() const { return TraitsOf(algorithm); }
  bool stochastic() const { return batch > 0 || sigma > 0.0; }
  double EffectiveLambda() const { return lambda.value_or(0.1); }
  // The diagnostics interval in effect: --diagnostics-every, or the default for a model of `dim`
  // parameters (0: not known yet, taken as small).
  int64_t DiagnosticsEvery(int64_t dim = 0) const {
    return diagnostics_every.value_or(DefaultDiagnosticsEvery(problem, dim));
  }
  // The interval when --diagnostics-every is not given: 50 for networks (a full pass over the
  // data costs hundreds of training rounds); for other models of d >= kSparseDiagnosticsDim
  // parameters ⌊d / 10^4⌋ rounds (10 at d = 10^5, 100 at d = 10^6: each client's dense ∇f_i
  // upload, 8·d bytes, then costs ~80 kB per round on average, whatever d); else 1 (every round).
  // Round 0 and the last round are diagnostic under every interval.
  static constexpr int64_t kSparseDiagnosticsDim = 100000;
  static int64_t DefaultDiagnosticsEvery(ProblemKind problem, int64_t dim);
  // Fixes an unset --diagnostics-every to the default for `dim`, so that config.json, the workers'
  // RunSpec and a resumed run all carry the value in effect. Called by whoever builds the problem
  // (the simulator, the aggregator) before anything is written or sent.
  void ResolveDiagnosticsEvery(int64_t dim) { diagnostics_every = DiagnosticsEvery(dim); }
  int64_t EffectiveClients() const {
    return clients != 0 ? clients : problem == ProblemKind::kNetwork ? 5 : 1;
  }
  // The data-set directory of a network run: --data, or Debian's Fashion-MNIST.
  std::string DatasetDir() const;

  // What the algorithm layer needs of this configuration.
  MethodOptions ToMethodOptions() const;
  StepsizeOptions ToStepsizeOptions() const;

  // Sets the field of the flag `name` (without "--") from its text, as on the command line.
  // Errors are INVALID_ARGUMENT, name the flag and say what was expected and what came; *this is
  // unchanged on error. An unknown name is an error.
  absl::Status Set(const std::string& name, const std::string& value);
  // The field's current value as flag text ("" for an unset optional field).
  std::string Get(const std::string& name) const;
  // For a vocabulary flag (an enum with a name table), its accepted names "a|b|c"; else "".
  static std::string ValueHint(const std::string& name);
  // Every name Set accepts, in the order of the table.
  static std::vector<std::string> FlagNames();

  // config.json: a JSON object whose keys are flag names, every run-relevant field with its
  // effective value (out and threads are not part of the run's identity and are left out), and
  // a "build" object saying which ef21 wrote it. Pretty-printed, two-space indent, newline-ended.
  std::string ToJson() const;
  // Reads config.json (or any JSON object of flag names) back: each key is applied with Set, in
  // file order, starting from the defaults; "build" is skipped. Errors name the key. Does not
  // Validate().
  static absl::StatusOr<RunConfig> FromJson(const std::string& json,
                                            const std::string& source = "config.json");

 private:
  absl::Status Validate(bool data_optional) const;
};

// A JSON value as the text that would follow --name= on the command line: strings as they are,
// numbers in the shortest text that reads back to the same double, true/false. Objects, arrays
// and null are INVALID_ARGUMENT.
absl::StatusOr<std::string> JsonFlagText(const nlohmann::ordered_json& value);

}  // namespace ef21

#endif  // EF21_COMMON_RUN_RUN_CONFIG_H_
