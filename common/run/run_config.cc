#include "common/run/run_config.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/base/status_macros.h"
#include "common/base/version.h"
#include "common/run/run_log.h"
#include "nlohmann/json.hpp"

namespace ef21 {

std::string RunConfig::DatasetDir() const {
  if (!data.empty()) return data;
  return dataset == "fashion-mnist" ? "/usr/share/datasets/fashion-mnist" : "";
}

CompressorKind RunConfig::EffectiveCompressor() const {
  if (traits().identity_only) return CompressorKind::kIdentity;
  return compressor.value_or(CompressorKind::kTopK);
}

StepsizeOptions RunConfig::ToStepsizeOptions() const {
  StepsizeOptions o;
  o.rule = stepsize;
  o.gamma = gamma;
  o.gamma0 = gamma0;
  o.eta = eta;
  return o;
}

MethodOptions RunConfig::ToMethodOptions() const {
  MethodOptions o;
  o.algorithm = algorithm;
  o.compressor = EffectiveCompressor();
  o.k = k;
  o.init = init;
  o.value_type = value_type;
  o.seed = seed;
  o.rounds = rounds;
  o.diagnostics_every = DiagnosticsEvery();
  o.noise.batch = batch;
  o.noise.sigma = sigma;
  o.noise.seed = seed;
  o.stepsize = ToStepsizeOptions();
  o.participation = participation;
  o.client_state = client_state;
  return o;
}

int64_t RunConfig::DefaultDiagnosticsEvery(ProblemKind problem, int64_t dim) {
  if (problem == ProblemKind::kNetwork) return 50;
  if (dim >= kSparseDiagnosticsDim) return dim / 10000;
  return 1;
}

absl::Status RunConfig::Validate() const { return Validate(/*data_optional=*/false); }

absl::Status RunConfig::ValidateWithoutData() const { return Validate(/*data_optional=*/true); }

absl::Status RunConfig::Validate(bool data_optional) const {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  const AlgorithmTraits t = traits();
  if (problem == ProblemKind::kLogreg) {
    const bool synthetic = synthetic_rows > 0 || synthetic_cols > 0;
    if (!data.empty() && synthetic) {
      return bad("--problem=logreg needs exactly one of --data=PATH or --synthetic=MxD");
    }
    if (data.empty() && !synthetic && !data_optional) {
      return bad("--problem=logreg needs exactly one of --data=PATH or --synthetic=MxD");
    }
    if (synthetic && (synthetic_rows < 1 || synthetic_cols < 1)) {
      return bad("--synthetic=MxD needs M >= 1 and D >= 1; got ", synthetic_rows, "x",
                 synthetic_cols);
    }
    if (features < 0) return bad("--features must be >= 0; got ", features);
    if (lambda && (!(*lambda >= 0.0) || !std::isfinite(*lambda))) {
      return bad("--lambda must be a finite number >= 0; got ", *lambda);
    }
    if (split == Split::kRow && clients != 0) {
      return bad(
          "--clients is set by --split=row (one client per row); use --split=contiguous "
          "to choose the number of clients");
    }
    if (split == Split::kContiguous && clients < 1) {
      return bad("--split=contiguous needs --clients=N with N >= 1");
    }
    if (sigma != 0.0) return bad("--sigma is the polynomial's gradient noise; logreg uses --batch");
  } else if (problem == ProblemKind::kNetwork) {
    if (dataset != "fashion-mnist" && dataset != "idx" && dataset != "cifar10") {
      return bad("--dataset must be fashion-mnist, idx or cifar10; got \"", dataset, "\"");
    }
    if (dataset != "fashion-mnist" && data.empty()) {
      return bad("--dataset=", dataset, " needs --data=DIR (the directory holding its files)");
    }
    if (model.empty()) return bad("--model must be resnet20, cnn, mlp or PATH.pt");
    if (synthetic_rows > 0 || lambda || sigma != 0.0) {
      return bad("--synthetic, --lambda and --sigma are not for --problem=network");
    }
    if (clients < 0) return bad("--clients must be >= 1; got ", clients);
    if (train_samples < 0) return bad("--train-samples must be >= 0; got ", train_samples);
    if (diagnostics_samples < 0) {
      return bad("--diagnostics-samples must be >= 0; got ", diagnostics_samples);
    }
    if (!x0_file.empty() || x0 != X0Kind::kGaussian) {
      return bad(
          "a network starts from its model's initialization; --x0 and --x0-file are not for "
          "--problem=network");
    }
    // No smoothness constant of a network is known: only γ0/√(K+1) needs none.
    if (stepsize != StepsizeRule::kConstant &&
        !(stepsize == StepsizeRule::kTheory &&
          (algorithm == Algorithm::kNormEf21 || algorithm == Algorithm::kNormGd))) {
      return bad("--stepsize=", StepsizeRuleName(stepsize), " of ", AlgorithmName(algorithm),
                 " needs smoothness constants, which a network does not have: pass "
                 "--stepsize=constant --gamma=G");
    }
  } else {
    if (!data.empty() || synthetic_rows > 0)
      return bad("--data and --synthetic are for --problem=logreg");
    if (lambda) return bad("--lambda is for logreg; the polynomial's λ follows from --L0 and --L1");
    if (dim < 1) return bad("--dim must be >= 1; got ", dim);
    if (!(L0 > 0.0) || !std::isfinite(L0)) return bad("--L0 must be positive; got ", L0);
    if (!(L1 > 0.0) || !std::isfinite(L1)) return bad("--L1 must be positive; got ", L1);
    if (clients < 0) return bad("--clients must be >= 1; got ", clients);
    if (batch != 0) return bad("--batch is for logreg; the polynomial's noise is --sigma");
    if (!(sigma >= 0.0) || !std::isfinite(sigma)) return bad("--sigma must be >= 0; got ", sigma);
  }
  if (compressor && t.identity_only && *compressor != CompressorKind::kIdentity) {
    return bad(AlgorithmName(algorithm),
               " is defined with the identity compressor; got --compressor=",
               CompressorKindName(*compressor));
  }
  if (EffectiveCompressor() != CompressorKind::kIdentity && k < 1) {
    return bad("--k must be >= 1; got ", k);
  }
  if (rounds < 1) return bad("--rounds must be >= 1; got ", rounds);
  if (rounds > 100000000) return bad("--rounds must be <= 1e8; got ", rounds);
  if (gamma && (!(*gamma > 0.0) || !std::isfinite(*gamma))) {
    return bad("--gamma must be positive; got ", *gamma);
  }
  if (!(gamma0 > 0.0) || !std::isfinite(gamma0))
    return bad("--gamma0 must be positive; got ", gamma0);
  if (stepsize == StepsizeRule::kConstant && !gamma)
    return bad("--stepsize=constant needs --gamma");
  if (stepsize != StepsizeRule::kConstant && gamma) {
    return bad("--gamma is only used with --stepsize=constant; got --stepsize=",
               StepsizeRuleName(stepsize));
  }
  if (stepsize == StepsizeRule::kTheoryL1 && algorithm != Algorithm::kNormEf21 &&
      algorithm != Algorithm::kNormGd) {
    return bad("--stepsize=theory-l1 (Theorem 3) is for norm-ef21 and norm-gd; got ",
               AlgorithmName(algorithm));
  }
  if (algorithm == Algorithm::kEf21Sgdm && stepsize == StepsizeRule::kTheory) {
    return bad("ef21-sgdm has no theory stepsize here; pass --stepsize=constant --gamma=G --eta=E");
  }
  if (eta) {
    if (!t.momentum)
      return bad("--eta is the momentum of the -sgdm methods; ", AlgorithmName(algorithm),
                 " has none");
    if (!(*eta > 0.0 && *eta <= 1.0)) return bad("--eta must be in (0, 1]; got ", *eta);
    if (t.eta_is_one && *eta != 1.0)
      return bad("norm-ef21-sgd is defined with --eta=1; got ", *eta);
  } else if (algorithm == Algorithm::kEf21Sgdm) {
    return bad("ef21-sgdm needs --eta");
  } else if (t.momentum && !t.eta_is_one && stepsize == StepsizeRule::kConstant) {
    return bad(AlgorithmName(algorithm), " with --stepsize=constant needs --eta");
  }
  if (batch < 0) return bad("--batch must be >= 0; got ", batch);
  if (!x0_file.empty() && x0 != X0Kind::kGaussian) return bad("--x0 and --x0-file are exclusive");
  if (threads < 0) return bad("--threads must be >= 0; got ", threads);
  if (diagnostics_every && *diagnostics_every < 1) {
    return bad("--diagnostics-every must be >= 1; got ", *diagnostics_every);
  }
  if (problem != ProblemKind::kNetwork &&
      (train_samples != 0 || diagnostics_samples != 0 || model != "cnn" ||
       dataset != "fashion-mnist" || shards != ShardKind::kRandom)) {
    return bad(
        "--model, --dataset, --shards, --train-samples and --diagnostics-samples are for "
        "--problem=network");
  }
  if (!(eps > 0.0)) return bad("--eps must be positive; got ", eps);
  if (!(participation > 0.0 && participation <= 1.0)) {
    return bad("--participation must be in (0, 1]; got ", participation);
  }
  if (participation < 1.0) {
    if (t.error_feedback_14) {
      return bad(
          "--participation < 1 (EF21-PP) is for the EF21 family; ef14 sets g to the round's "
          "mean message, so an absent client's share would be lost");
    }
    if (problem == ProblemKind::kNetwork) {
      return bad(
          "--participation < 1 is not available for --problem=network: the metrics of a "
          "round need f_i(x) of the absent clients, which the round's closer would have to "
          "compute over their whole shards");
    }
    // Only a rule without problem constants carries over unchanged: ||EF21||'s γ0/√(K+1).
    const bool constant_free = stepsize == StepsizeRule::kTheory && t.normalized && !t.momentum;
    if (stepsize != StepsizeRule::kConstant && !constant_free) {
      return bad("--stepsize=", StepsizeRuleName(stepsize), " of ", AlgorithmName(algorithm),
                 " is not defined with --participation < 1: the EF21-PP stepsize of Fatkhullin et "
                 "al. (EF21 with Bells & Whistles) is not implemented (SPEC §4); pass "
                 "--stepsize=constant --gamma=G, or use norm-ef21, whose gamma0/sqrt(K+1) needs no "
                 "constant");
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status Expected(const std::string& name, const std::string& what, const std::string& value) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, ": expected ", what, ", got \"", value, "\""));
}

absl::Status ParseInt(const std::string& name, const std::string& v, int64_t* out) {
  int64_t parsed;
  if (!absl::SimpleAtoi(v, &parsed)) return Expected(name, "an integer", v);
  *out = parsed;
  return absl::OkStatus();
}

absl::Status ParseDouble(const std::string& name, const std::string& v, double* out) {
  double parsed;
  if (!absl::SimpleAtod(v, &parsed) || !std::isfinite(parsed)) {
    return Expected(name, "a finite number", v);
  }
  *out = parsed;
  return absl::OkStatus();
}

absl::Status ParseOptionalDouble(const std::string& name, const std::string& v,
                                 std::optional<double>* out) {
  double parsed;
  if (absl::Status s = ParseDouble(name, v, &parsed); !s.ok()) return s;
  *out = parsed;
  return absl::OkStatus();
}

// A vocabulary flag (common/base/enum_names.h): parsed through the enum's one name table, so the
// error lists the accepted names ("--algorithm: unknown algorithm \"x\"; expected ef21, ...").
template <typename E>
absl::Status ParseEnumFlag(const std::string& name, const std::string& v, E* out) {
  absl::StatusOr<E> parsed = ParseEnum<E>(v);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", parsed.status().message()));
  }
  *out = *parsed;
  return absl::OkStatus();
}
template <typename E, E RunConfig::*kMember>
absl::Status SetEnum(const std::string& n, const std::string& v, RunConfig* c) {
  return ParseEnumFlag(n, v, &(c->*kMember));
}
template <typename E, E RunConfig::*kMember>
std::string GetEnum(const RunConfig& c) {
  return EnumName(c.*kMember);
}
template <typename E>
std::string EnumHint() {
  return NamesOf(E{}).Join("|");
}

std::string Text(double v) { return absl::StrCat(v); }
std::string Text(int64_t v) { return absl::StrCat(v); }
std::string Text(const std::optional<double>& v) { return v ? absl::StrCat(*v) : ""; }

absl::Status SetString(std::string* out, const std::string& v) {
  *out = v;
  return absl::OkStatus();
}

// One flag of the run: its name, how to set and read its field as text, and for a vocabulary
// flag the names it accepts ("a|b|c"; null otherwise).
struct Field {
  const char* name;
  absl::Status (*set)(const std::string& name, const std::string& value, RunConfig* c);
  std::string (*get)(const RunConfig& c);
  std::string (*hint)() = nullptr;
};

#define EF21_ENUM_FIELD(flag, Type, member) \
  { flag, &SetEnum<Type, &RunConfig::member>, &GetEnum<Type, &RunConfig::member>, &EnumHint<Type> }

const Field kFields[] = {
    EF21_ENUM_FIELD("problem", ProblemKind, problem),
    {"data",
     [](const std::string&, const std::string& v, RunConfig* c) { return SetString(&c->data, v); },
     [](const RunConfig& c) { return c.data; }},
    {"features",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->features);
     },
     [](const RunConfig& c) { return Text(c.features); }},
    {"synthetic",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       std::vector<std::string> parts = absl::StrSplit(v, 'x');
       int64_t rows, cols;
       if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &rows) ||
           !absl::SimpleAtoi(parts[1], &cols) || rows < 1 || cols < 1) {
         return Expected(n, "MxD with positive integers (e.g. 20x10)", v);
       }
       c->synthetic_rows = rows;
       c->synthetic_cols = cols;
       return absl::OkStatus();
     },
     [](const RunConfig& c) -> std::string {
       if (c.synthetic_rows == 0 && c.synthetic_cols == 0) return "";
       return absl::StrCat(c.synthetic_rows, "x", c.synthetic_cols);
     }},
    {"lambda",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseOptionalDouble(n, v, &c->lambda);
     },
     [](const RunConfig& c) { return Text(c.lambda); }},
    EF21_ENUM_FIELD("split", Split, split),
    {"clients",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->clients);
     },
     [](const RunConfig& c) { return Text(c.clients); }},
    {"dim",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->dim);
     },
     [](const RunConfig& c) { return Text(c.dim); }},
    {"L0",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseDouble(n, v, &c->L0);
     },
     [](const RunConfig& c) { return Text(c.L0); }},
    {"L1",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseDouble(n, v, &c->L1);
     },
     [](const RunConfig& c) { return Text(c.L1); }},
    {"model",
     [](const std::string&, const std::string& v, RunConfig* c) { return SetString(&c->model, v); },
     [](const RunConfig& c) { return c.model; }},
    {"dataset",
     [](const std::string&, const std::string& v, RunConfig* c) {
       return SetString(&c->dataset, v);
     },
     [](const RunConfig& c) { return c.dataset; }},
    {"shards",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       absl::StatusOr<ShardKind> kind = ParseShardKind(v);
       if (!kind.ok())
         return absl::InvalidArgumentError(absl::StrCat("--", n, ": ", kind.status().message()));
       c->shards = *kind;
       return absl::OkStatus();
     },
     [](const RunConfig& c) -> std::string { return ShardKindName(c.shards); },
     []() -> std::string { return "random|contiguous"; }},
    {"train-samples",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->train_samples);
     },
     [](const RunConfig& c) { return Text(c.train_samples); }},
    {"diagnostics-samples",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->diagnostics_samples);
     },
     [](const RunConfig& c) { return Text(c.diagnostics_samples); }},
    {"batch",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->batch);
     },
     [](const RunConfig& c) { return Text(c.batch); }},
    {"sigma",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseDouble(n, v, &c->sigma);
     },
     [](const RunConfig& c) { return Text(c.sigma); }},
    {"seed",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       uint64_t parsed;
       if (!absl::SimpleAtoi(v, &parsed)) return Expected(n, "a non-negative integer", v);
       c->seed = parsed;
       return absl::OkStatus();
     },
     [](const RunConfig& c) { return absl::StrCat(c.seed); }},
    EF21_ENUM_FIELD("algorithm", Algorithm, algorithm),
    {"compressor",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       CompressorKind kind;
       if (absl::Status s = ParseEnumFlag(n, v, &kind); !s.ok()) return s;
       c->compressor = kind;
       return absl::OkStatus();
     },
     [](const RunConfig& c) -> std::string {
       return c.compressor ? CompressorKindName(*c.compressor) : "";
     },
     &EnumHint<CompressorKind>},
    {"k",
     [](const std::string& n, const std::string& v, RunConfig* c) { return ParseInt(n, v, &c->k); },
     [](const RunConfig& c) { return Text(c.k); }},
    {"rounds",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->rounds);
     },
     [](const RunConfig& c) { return Text(c.rounds); }},
    EF21_ENUM_FIELD("stepsize", StepsizeRule, stepsize),
    {"gamma",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseOptionalDouble(n, v, &c->gamma);
     },
     [](const RunConfig& c) { return Text(c.gamma); }},
    {"gamma0",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseDouble(n, v, &c->gamma0);
     },
     [](const RunConfig& c) { return Text(c.gamma0); }},
    {"eta",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseOptionalDouble(n, v, &c->eta);
     },
     [](const RunConfig& c) { return Text(c.eta); }},
    EF21_ENUM_FIELD("init", InitKind, init),
    EF21_ENUM_FIELD("value-type", ValueType, value_type),
    EF21_ENUM_FIELD("x0", X0Kind, x0),
    {"participation",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseDouble(n, v, &c->participation);
     },
     [](const RunConfig& c) { return Text(c.participation); }},
    {"x0-file",
     [](const std::string&, const std::string& v, RunConfig* c) {
       return SetString(&c->x0_file, v);
     },
     [](const RunConfig& c) { return c.x0_file; }},
    {"out",
     [](const std::string&, const std::string& v, RunConfig* c) { return SetString(&c->out, v); },
     [](const RunConfig& c) { return c.out; }},
    {"threads",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseInt(n, v, &c->threads);
     },
     [](const RunConfig& c) { return Text(c.threads); }},
    {"diagnostics-every",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       int64_t parsed;
       if (absl::Status s = ParseInt(n, v, &parsed); !s.ok()) return s;
       c->diagnostics_every = parsed;
       return absl::OkStatus();
     },
     [](const RunConfig& c) -> std::string {
       return c.diagnostics_every ? Text(*c.diagnostics_every) : "";
     }},
    {"eps",
     [](const std::string& n, const std::string& v, RunConfig* c) {
       return ParseDouble(n, v, &c->eps);
     },
     [](const RunConfig& c) { return Text(c.eps); }},
    EF21_ENUM_FIELD("downlink", DownlinkMode, downlink),
    EF21_ENUM_FIELD("client-state", ClientStateMode, client_state),
};

#undef EF21_ENUM_FIELD

const Field* FindField(const std::string& name) {
  for (const Field& f : kFields) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

}  // namespace

absl::Status RunConfig::Set(const std::string& name, const std::string& value) {
  const Field* field = FindField(name);
  if (field == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
  RunConfig scratch = *this;
  if (absl::Status s = field->set(name, value, &scratch); !s.ok()) return s;
  *this = std::move(scratch);
  return absl::OkStatus();
}

std::string RunConfig::Get(const std::string& name) const {
  const Field* field = FindField(name);
  return field == nullptr ? "" : field->get(*this);
}

std::string RunConfig::ValueHint(const std::string& name) {
  const Field* field = FindField(name);
  return field == nullptr || field->hint == nullptr ? "" : field->hint();
}

std::vector<std::string> RunConfig::FlagNames() {
  std::vector<std::string> names;
  for (const Field& f : kFields) names.push_back(f.name);
  return names;
}

std::string RunConfig::ToJson() const {
  nlohmann::ordered_json o;
  o["problem"] = ProblemKindName(problem);
  if (problem == ProblemKind::kLogreg) {
    if (!data.empty()) o["data"] = data;
    if (features > 0) o["features"] = features;
    if (synthetic_rows > 0) o["synthetic"] = absl::StrCat(synthetic_rows, "x", synthetic_cols);
    o["lambda"] = JsonNumber(EffectiveLambda());
    o["split"] = SplitName(split);
    if (split == Split::kContiguous) o["clients"] = clients;
  } else if (problem == ProblemKind::kNetwork) {
    o["model"] = model;
    o["dataset"] = dataset;
    o["data"] = DatasetDir();
    o["clients"] = EffectiveClients();
    o["shards"] = ShardKindName(shards);
    if (train_samples > 0) o["train-samples"] = train_samples;
    if (diagnostics_samples > 0) o["diagnostics-samples"] = diagnostics_samples;
  } else {
    o["dim"] = dim;
    o["L0"] = JsonNumber(L0);
    o["L1"] = JsonNumber(L1);
    o["clients"] = clients == 0 ? int64_t{1} : clients;
    o["sigma"] = JsonNumber(sigma);
  }
  o["algorithm"] = AlgorithmName(algorithm);
  o["compressor"] = CompressorKindName(EffectiveCompressor());
  if (EffectiveCompressor() != CompressorKind::kIdentity) o["k"] = k;
  o["rounds"] = rounds;
  o["stepsize"] = StepsizeRuleName(stepsize);
  if (gamma) o["gamma"] = JsonNumber(*gamma);
  o["gamma0"] = JsonNumber(gamma0);
  if (eta) o["eta"] = JsonNumber(*eta);
  o["batch"] = batch;
  o["init"] = InitKindName(init);
  o["value-type"] = ValueTypeName(value_type);
  if (x0_file.empty()) {
    o["x0"] = X0KindName(x0);
  } else {
    o["x0-file"] = x0_file;
  }
  o["seed"] = seed;
  // Only when partial: full-participation runs keep their config.json (and checkpoints) as before.
  if (participation < 1.0) o["participation"] = JsonNumber(participation);
  o["diagnostics-every"] = DiagnosticsEvery();
  o["downlink"] = EnumName(downlink);
  // Only when moved to the workers: other runs keep their config.json (and checkpoints) as before.
  if (client_state != ClientStateMode::kAggregator) o["client-state"] = EnumName(client_state);
  o["eps"] = JsonNumber(eps);
  o["build"] = BuildJson();
  return o.dump(2) + "\n";
}

absl::StatusOr<std::string> JsonFlagText(const nlohmann::ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number() || value.is_boolean()) return value.dump();
  return absl::InvalidArgumentError(
      absl::StrCat("expected a string, number or boolean, got ", value.type_name()));
}

absl::StatusOr<RunConfig> RunConfig::FromJson(const std::string& json, const std::string& source) {
  nlohmann::ordered_json o;
  try {
    o = nlohmann::ordered_json::parse(json);
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  if (!o.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected a JSON object of flag names, got ", o.type_name()));
  }
  RunConfig config;
  for (const auto& [key, value] : o.items()) {
    if (key == "build") continue;
    if (FindField(key) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": unknown key \"", key, "\" (not a run flag)"));
    }
    absl::StatusOr<std::string> text = JsonFlagText(value);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": key \"", key, "\": ", text.status().message()));
    }
    if (absl::Status s = config.Set(key, *text); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": ", s.message()));
    }
  }
  return config;
}

}  // namespace ef21
