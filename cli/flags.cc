#include "cli/flags.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ef21 {
namespace {

absl::Status Expected(const std::string& name, const std::string& what, const std::string& value) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, ": expected ", what, ", got \"", value, "\""));
}

// Edit distance, for "did you mean" suggestions.
size_t Distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

FlagSet::FlagSet(std::string command, std::string synopsis)
    : command_(std::move(command)), synopsis_(std::move(synopsis)) {}

void FlagSet::Add(const std::string& name, const std::string& value_hint, const std::string& help,
                  Setter setter) {
  flags_.push_back({name, value_hint, help, std::move(setter)});
}

void FlagSet::Section(const std::string& title) { sections_.emplace_back(flags_.size(), title); }

void FlagSet::String(const std::string& name, std::string* target, const std::string& help) {
  Add(name, "TEXT", help, [target](const std::string& v) {
    *target = v;
    return absl::OkStatus();
  });
}

void FlagSet::Int(const std::string& name, int64_t* target, const std::string& help) {
  Add(name, "N", help, [name, target](const std::string& v) {
    int64_t parsed;
    if (!absl::SimpleAtoi(v, &parsed)) return Expected(name, "an integer", v);
    *target = parsed;
    return absl::OkStatus();
  });
}

void FlagSet::Double(const std::string& name, double* target, const std::string& help) {
  Add(name, "X", help, [name, target](const std::string& v) {
    double parsed;
    if (!absl::SimpleAtod(v, &parsed) || !std::isfinite(parsed)) return Expected(name, "a finite number", v);
    *target = parsed;
    return absl::OkStatus();
  });
}

void FlagSet::OptionalDouble(const std::string& name, std::optional<double>* target,
                             const std::string& help) {
  Add(name, "X", help, [name, target](const std::string& v) {
    double parsed;
    if (!absl::SimpleAtod(v, &parsed) || !std::isfinite(parsed)) return Expected(name, "a finite number", v);
    *target = parsed;
    return absl::OkStatus();
  });
}

void FlagSet::Bool(const std::string& name, bool* target, const std::string& help) {
  Add(name, "", help, [name, target](const std::string& v) {
    if (v.empty() || v == "true" || v == "1") {
      *target = true;
    } else if (v == "false" || v == "0") {
      *target = false;
    } else {
      return Expected(name, "true or false", v);
    }
    return absl::OkStatus();
  });
  flags_.back().is_bool = true;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args, bool* help) {
  *help = false;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return absl::OkStatus();
    }
  }
  // Parse into a scratch list first so a bad flag changes nothing.
  std::vector<std::pair<const Flag*, std::string>> parsed;
  std::set<std::string> seen;
  for (const std::string& arg : args) {
    absl::string_view body = arg;
    if (!absl::ConsumePrefix(&body, "--")) {
      return absl::InvalidArgumentError(absl::StrCat(command_, ": expected --name=value, got \"", arg, "\""));
    }
    const size_t eq = body.find('=');
    const std::string name(body.substr(0, eq));
    const bool has_value = eq != absl::string_view::npos;
    const std::string value = has_value ? std::string(body.substr(eq + 1)) : "";
    const Flag* flag = nullptr;
    for (const Flag& f : flags_) {
      if (f.name == name) flag = &f;
    }
    if (flag == nullptr) {
      std::string suggestion;
      size_t best = 3;
      for (const Flag& f : flags_) {
        const size_t d = Distance(name, f.name);
        if (d < best) {
          best = d;
          suggestion = f.name;
        }
      }
      return absl::InvalidArgumentError(absl::StrCat(
          command_, ": unknown flag --", name,
          suggestion.empty() ? "" : absl::StrCat(" (did you mean --", suggestion, "?)"),
          "; see ef21 ", command_, " --help"));
    }
    if (!has_value && !flag->is_bool) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value: --", name, "=", flag->value_hint));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " is given twice"));
    }
    parsed.emplace_back(flag, value);
  }
  for (const auto& [flag, value] : parsed) {
    if (absl::Status s = flag->setter(value); !s.ok()) return s;
    set_.insert(flag->name);
  }
  return absl::OkStatus();
}

std::string FlagSet::Help() const {
  std::string out = absl::StrCat("usage: ef21 ", command_, " [--flag=value ...]\n\n", synopsis_, "\n");
  size_t next_section = 0;
  for (size_t i = 0; i < flags_.size(); ++i) {
    while (next_section < sections_.size() && sections_[next_section].first == i) {
      absl::StrAppend(&out, "\n", sections_[next_section].second, ":\n");
      ++next_section;
    }
    const Flag& f = flags_[i];
    std::string left = absl::StrCat("  --", f.name, f.value_hint.empty() ? "" : "=", f.value_hint);
    if (left.size() < 30) left.resize(30, ' '); else left += "\n" + std::string(30, ' ');
    std::string help = f.help;
    absl::StrAppend(&out, left, absl::StrReplaceAll(help, {{"\n", "\n" + std::string(30, ' ')}}), "\n");
  }
  return out;
}

std::vector<std::string> FlagSet::Names() const {
  std::vector<std::string> names;
  for (const Flag& f : flags_) names.push_back(f.name);
  return names;
}

int RunSubcommand(FlagSet& flags, const std::vector<std::string>& args,
                  const std::function<absl::Status()>& body) {
  bool help = false;
  absl::Status status = flags.Parse(args, &help);
  if (help) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (status.ok()) status = body();
  if (status.ok()) return 0;
  std::fprintf(stderr, "ef21 %s: %s\n", flags.command().c_str(), std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::vector<std::string> ProblemFlagNames() {
  RunConfig unused;
  FlagSet flags("", "");
  AddProblemFlags(&flags, &unused);
  return flags.Names();
}

namespace {

absl::Status ParseDimensions(const std::string& v, int64_t* rows, int64_t* cols) {
  std::vector<std::string> parts = absl::StrSplit(v, 'x');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], rows) || !absl::SimpleAtoi(parts[1], cols) ||
      *rows < 1 || *cols < 1) {
    return Expected("synthetic", "MxD with positive integers (e.g. 20x10)", v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseIdRange(const std::string& text, int64_t* first, int64_t* last) {
  std::vector<std::string> parts = absl::StrSplit(text, '-');
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], first) && *first >= 0) {
    *last = *first;
    return absl::OkStatus();
  }
  if (parts.size() == 2 && absl::SimpleAtoi(parts[0], first) && absl::SimpleAtoi(parts[1], last) &&
      *first >= 0 && *first <= *last) {
    return absl::OkStatus();
  }
  return Expected("client-ids", "N or A-B with 0 <= A <= B", text);
}

void AddProblemFlags(FlagSet* flags, RunConfig* c) {
  flags->Section("Problem");
  flags->Enum("problem", &c->problem, "logistic regression with the nonconvex regularizer "
              "(paper Section 6.1),\nthe nonconvex polynomial (Appendix E.1), or a neural network "
              "(Section 6.2);\ndefault logreg");
  flags->String("data", &c->data, "LIBSVM file (logreg); data-set directory (network, default "
                "/usr/share/datasets/fashion-mnist)");
  flags->Int("features", &c->features, "declared dimension of the LIBSVM file (default: largest index)");
  flags->Add("synthetic", "MxD", "logreg on a synthetic set: M rows, D features, A_ij ~ N(0,1), b = ±1",
             [c](const std::string& v) { return ParseDimensions(v, &c->synthetic_rows, &c->synthetic_cols); });
  flags->OptionalDouble("lambda", &c->lambda, "logreg regularizer λ (default 0.1)");
  flags->Enum("split", &c->split, "row: one client per data row (the paper); contiguous: "
              "--clients blocks, the last taking the remainder");
  flags->Int("clients", &c->clients, "number of clients (--split=contiguous; polynomial copies of f, default 1)");
  flags->Int("dim", &c->dim, "polynomial dimension d (default 4)");
  flags->Double("L0", &c->L0, "polynomial L0 (default 4)");
  flags->Double("L1", &c->L1, "polynomial L1 (default 1); λ = L0/(9d²/(2L1²)+2)");
  flags->String("model", &c->model, "network: resnet20 | cnn | mlp | PATH.pt (a TorchScript module); "
                "default cnn");
  flags->String("dataset", &c->dataset, "network: fashion-mnist (Debian's dataset-fashion-mnist), idx "
                "(any MNIST-format\ndirectory, --data=DIR) or cifar10 (binary batches, --data=DIR); "
                "default fashion-mnist");
  flags->Add("shards", "random|contiguous", "network: split of the training set among clients "
             "(default random, the paper's)",
             [c](const std::string& v) -> absl::Status {
               absl::StatusOr<ShardKind> kind = ParseShardKind(v);
               if (!kind.ok()) return kind.status();
               c->shards = *kind;
               return absl::OkStatus();
             });
  flags->Int("train-samples", &c->train_samples, "network: train on the first N training images "
             "only (0: all)");
  flags->Int("diagnostics-samples", &c->diagnostics_samples, "network: evaluate diagnostics on a "
             "fixed seeded subsample of N training\nand N test images (0: all)");
  flags->Int("batch", &c->batch, "minibatch rows per client per round, with replacement; networks: "
             "without\nreplacement inside the batch (0: full gradient)");
  flags->Double("sigma", &c->sigma, "polynomial: std of Gaussian noise added to ∇f_i (0: exact)");
  flags->Add("seed", "N", "run seed: x^0, rand-k, minibatches, noise, synthetic data (default 0)",
             [c](const std::string& v) {
               uint64_t parsed;
               if (!absl::SimpleAtoi(v, &parsed)) return Expected("seed", "a non-negative integer", v);
               c->seed = parsed;
               return absl::OkStatus();
             });
}

void AddAlgorithmFlags(FlagSet* flags, RunConfig* c) {
  flags->Section("Algorithm");
  flags->Enum("algorithm", &c->algorithm,
              "the method: the paper's Algorithms 1-2 or a baseline (default norm-ef21)");
  flags->Enum("compressor", &c->compressor, "compressor C (default top-k; identity for gd, "
              "norm-gd, norm-sgdm)");
  flags->Int("k", &c->k, "entries kept by top-k / rand-k (default 1)");
  flags->Int("rounds", &c->rounds, "number of rounds K (default 100)");
  flags->Enum("stepsize", &c->stepsize,
              "theory: the paper's rule per method (norm-ef21: gamma0/sqrt(K+1); ef21: Theorem 1);\n"
              "theory-l1: 1/(2 c L1) (Theorem 3, single client); constant: --gamma");
  flags->OptionalDouble("gamma", &c->gamma, "constant stepsize γ (with --stepsize=constant)");
  flags->Double("gamma0", &c->gamma0, "γ0 of norm-ef21's gamma0/sqrt(K+1) (default 1)");
  flags->OptionalDouble("eta", &c->eta, "momentum η in (0, 1] (default 1/sqrt(K+1) for the normalized "
                        "momentum methods)");
  flags->Enum("init", &c->init, "g_i^0 = ∇f_i(x^0) sent dense (full, default) or C(∇f_i(x^0))");
  flags->Enum("value-type", &c->value_type, "type of values on the wire (default f32); state uses "
              "exactly the sent values");
  flags->Enum("x0", &c->x0, "starting point: N(0,1) (logreg) / N(20,1) (polynomial), or zeros");
  flags->String("x0-file", &c->x0_file, "starting point from a file, one number per line");
  flags->Double("participation", &c->participation,
                "EF21-PP: each round each client takes part with probability p in (0, 1] by a "
                "seeded draw;\nthe others keep g_i and send nothing; round 0 has every client "
                "(default 1)");
  flags->Section("Run");
  flags->String("out", &c->out, "run directory for config.json, metrics.csv, summary.json");
  flags->Bool("overwrite", &c->overwrite, "replace a run already in --out (refused otherwise)");
  flags->Int("threads", &c->threads, "threads for client computation (0: one per core)");
  flags->Add("diagnostics-every", "N",
             "rounds between exact ‖∇f(x)‖ evaluations (default 1, networks 50; the last round "
             "always)",
             [c](const std::string& v) {
               int64_t parsed;
               if (!absl::SimpleAtoi(v, &parsed)) return Expected("diagnostics-every", "an integer", v);
               c->diagnostics_every = parsed;
               return absl::OkStatus();
             });
  flags->Double("eps", &c->eps, "target ‖∇f‖² reported in summary.json (default 1e-4)");
}

}  // namespace ef21
