#include "cli/flags.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cli/network_binary.h"
#include "nlohmann/json.hpp"

namespace ef21 {
namespace {

// A bad value, thrown from an option's callback and caught in ParseFlags.
[[noreturn]] void ThrowInvalid(const absl::Status& status) {
  throw CLI::ValidationError(std::string(status.message()), CLI::ExitCodes::ValidationError);
}

void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) ThrowInvalid(status);
}

absl::Status Expected(const std::string& name, const std::string& what, const std::string& value) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, ": expected ", what, ", got \"", value, "\""));
}

bool IsSubcommandName(const std::string& name) {
  return std::any_of(std::begin(kSubcommandNames), std::end(kSubcommandNames),
                     [&name](const char* s) { return name == s; });
}

// --help in ef21's layout: "--name=HINT  what it is (default: X)", grouped by section.
class HelpFormatter : public CLI::Formatter {
 public:
  static constexpr size_t kDescriptionWidth = 68;  // 32 + 68 = 100 columns

  HelpFormatter() { column_width(32); }

  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    std::string help = absl::StrCat(make_usage(app, name), "\n", app->get_description(), "\n",
                                    make_groups(app, mode), "\n", make_footer(app));
    return absl::StrReplaceAll(help, {{"\n\n\n", "\n\n"}});
  }
  std::string make_usage(const CLI::App*, std::string name) const override {
    return absl::StrCat("usage: ", name, " [--flag=value | --flag value ...] [--config=FILE]\n");
  }
  std::string make_option_name(const CLI::Option* opt, bool) const override {
    std::string name;
    for (const std::string& s : opt->get_snames()) absl::StrAppend(&name, "-", s, ", ");
    for (const std::string& l : opt->get_lnames()) absl::StrAppend(&name, "--", l);
    return name;
  }
  std::string make_option_opts(const CLI::Option* opt) const override {
    return opt->get_type_name().empty() ? "" : absl::StrCat("=", opt->get_type_name());
  }
  std::string make_option_desc(const CLI::Option* opt) const override {
    const std::string& desc = opt->get_description();
    if (opt->get_default_str().empty()) return desc;
    const std::string shown = absl::StrCat("(default: ", opt->get_default_str(), ")");
    const size_t last_line =
        desc.size() - (desc.rfind('\n') == std::string::npos ? 0 : desc.rfind('\n') + 1);
    return absl::StrCat(desc, last_line + 1 + shown.size() > kDescriptionWidth ? "\n" : " ", shown);
  }
};

// --config=FILE: JSON when the file starts with '{', TOML otherwise (CLI11's reader). Keeps the
// top-level keys and those of this subcommand's section; drops other subcommands' sections and a
// config.json's "build" object. Unknown keys are left in, for CLI11 to reject.
class ConfigFile : public CLI::ConfigTOML {
 public:
  explicit ConfigFile(std::string command) : command_(std::move(command)) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string text((std::istreambuf_iterator<char>(input)),
                           std::istreambuf_iterator<char>());
    const size_t first = text.find_first_not_of(" \t\r\n");
    std::vector<CLI::ConfigItem> items;
    if (first != std::string::npos && text[first] == '{') {
      items = FromJson(text);
    } else {
      std::istringstream toml(text);
      items = CLI::ConfigTOML::from_config(toml);
    }
    std::vector<CLI::ConfigItem> kept;
    for (CLI::ConfigItem& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // section markers
      if (!item.parents.empty()) {
        if (item.parents.size() == 1 && item.parents[0] == command_) {
          item.parents.clear();
        } else if (item.parents.size() == 1 && IsSubcommandName(item.parents[0])) {
          continue;  // another subcommand's section
        }
      }
      kept.push_back(std::move(item));
    }
    return kept;
  }

 private:
  static std::vector<CLI::ConfigItem> FromJson(const std::string& text) {
    nlohmann::ordered_json o;
    try {
      o = nlohmann::ordered_json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw CLI::ConfigError(absl::StrCat("not valid JSON: ", e.what()));
    }
    if (!o.is_object())
      throw CLI::ConfigError(absl::StrCat("expected a JSON object, got ", o.type_name()));
    std::vector<CLI::ConfigItem> items;
    auto add = [&items](const std::vector<std::string>& parents, const std::string& key,
                        const nlohmann::ordered_json& value) {
      absl::StatusOr<std::string> text = JsonFlagText(value);
      if (!text.ok()) {
        throw CLI::ConfigError(absl::StrCat("key \"", absl::StrJoin(parents, "."),
                                            parents.empty() ? "" : ".", key,
                                            "\": ", text.status().message()));
      }
      items.push_back({parents, key, {*text}});
    };
    for (const auto& [key, value] : o.items()) {
      if (value.is_object()) {
        if (key == "build") continue;  // config.json: which ef21 wrote it
        for (const auto& [inner_key, inner] : value.items()) add({key}, inner_key, inner);
      } else {
        add({}, key, value);
      }
    }
    return items;
  }

  std::string command_;
};

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

// "unknown flag --algoritm (did you mean --algorithm?)".
std::string UnknownFlag(const CLI::App& app, const std::string& name) {
  std::string suggestion;
  size_t best = 3;
  for (const CLI::Option* opt : app.get_options()) {
    for (const std::string& l : opt->get_lnames()) {
      const size_t d = Distance(name, l);
      if (d < best) {
        best = d;
        suggestion = l;
      }
    }
  }
  return absl::StrCat(
      "unknown flag --", name,
      suggestion.empty() ? "" : absl::StrCat(" (did you mean --", suggestion, "?)"));
}

std::string CommandName(const CLI::App& app) {
  return std::string(absl::StripPrefix(app.get_name(), "ef21 "));
}

std::string ConfigPath(const CLI::App& app) {
  const CLI::Option* config = app.get_config_ptr();
  return config == nullptr || config->count() == 0 ? "" : config->as<std::string>();
}

// CLI11's errors in ef21's words: what was expected, what came, which flag or key.
absl::Status Translate(const CLI::App& app, const CLI::ParseError& e) {
  const std::string message = e.what();
  const std::string config = absl::StrCat("--config=", ConfigPath(app));
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    // "--rounds: ..." from CLI11: the flag came twice, or without its value.
    const std::string name = message.substr(0, message.find(':'));
    const CLI::Option* opt = app.get_option_no_throw(name);
    if (opt != nullptr && opt->count() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(name, " is given twice"));
    }
    if (opt != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(name, " needs a value: ", name, "=",
                                                     opt->get_type_name(), " or ", name, " ",
                                                     opt->get_type_name()));
    }
  }
  if (dynamic_cast<const CLI::ConfigError*>(&e) != nullptr) {
    constexpr absl::string_view kUnparsed = "INI was not able to parse ";
    if (absl::StartsWith(message, kUnparsed)) {
      const std::string key(message.substr(kUnparsed.size()));
      const bool sectioned = key.find('.') != std::string::npos;
      return absl::InvalidArgumentError(absl::StrCat(
          config, ": unknown key \"", key, "\": ",
          sectioned
              ? "sections are named after subcommands (simulate, run, aggregator, worker, health)"
              : absl::StrCat(app.get_name(), " has no flag --", key)));
    }
    return absl::InvalidArgumentError(absl::StrCat(config, ": ", message));
  }
  if (dynamic_cast<const CLI::FileError*>(&e) != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(config, ": cannot read the file (it does not exist or is not readable)"));
  }
  return absl::InvalidArgumentError(message);
}

// A RunConfig field as a flag: the value goes through RunConfig::Set.
CLI::Option* AddRunFlag(CLI::App* app, RunConfig* c, const std::string& group,
                        const std::string& name, const std::string& value_hint,
                        const std::string& help, const std::string& default_text = "") {
  CLI::Option* opt = app->add_option_function<std::string>(
      "--" + name, [c, name](const std::string& v) { ThrowIfError(c->Set(name, v)); }, help);
  const std::string vocabulary = RunConfig::ValueHint(name);
  opt->type_name(vocabulary.empty() ? value_hint : vocabulary)->group(group);
  const std::string shown = default_text.empty() ? c->Get(name) : default_text;
  if (!shown.empty()) opt->default_str(shown);
  return opt;
}

}  // namespace

std::unique_ptr<CLI::App> NewCommandFlags(const std::string& command, const std::string& synopsis) {
  auto app = std::make_unique<CLI::App>(synopsis, "ef21 " + command);
  app->formatter(std::make_shared<HelpFormatter>());
  app->get_help_ptr()->group("General");
  app->set_config("--config", "",
                  "run configuration file, JSON or TOML, whose keys are flag names;\n"
                  "flags given here override it (README: \"Configuration files\")")
      ->type_name("FILE")
      ->group("General");
  app->config_formatter(std::make_shared<ConfigFile>(command));
  app->allow_config_extras(CLI::config_extras_mode::error);
  // Unknown flags are reported by ParseFlags, with a suggestion.
  app->allow_extras(true);
  app->footer("Every flag takes --name=value or --name value.");
  return app;
}

CLI::Option* AddString(CLI::App* app, const std::string& name, std::string* target,
                       const std::string& value_hint, const std::string& help) {
  CLI::Option* opt = app->add_option_function<std::string>(
      "--" + name, [target](const std::string& v) { *target = v; }, help);
  opt->type_name(value_hint);
  if (!target->empty()) opt->default_str(*target);
  return opt;
}

CLI::Option* AddInt(CLI::App* app, const std::string& name, int64_t* target,
                    const std::string& help) {
  CLI::Option* opt = app->add_option_function<std::string>(
      "--" + name,
      [name, target](const std::string& v) {
        if (!absl::SimpleAtoi(v, target)) ThrowInvalid(Expected(name, "an integer", v));
      },
      help);
  opt->type_name("N")->default_str(absl::StrCat(*target));
  return opt;
}

CLI::Option* AddDouble(CLI::App* app, const std::string& name, double* target,
                       const std::string& help) {
  CLI::Option* opt = app->add_option_function<std::string>(
      "--" + name,
      [name, target](const std::string& v) {
        double parsed;
        if (!absl::SimpleAtod(v, &parsed) || !std::isfinite(parsed)) {
          ThrowInvalid(Expected(name, "a finite number", v));
        }
        *target = parsed;
      },
      help);
  opt->type_name("X")->default_str(absl::StrCat(*target));
  return opt;
}

CLI::Option* AddBool(CLI::App* app, const std::string& name, bool* target,
                     const std::string& help) {
  CLI::Option* opt = app->add_option_function<std::string>(
      "--" + name,
      [name, target](const std::string& v) {
        if (v.empty() || v == "true" || v == "1") {  // "": the flag alone
          *target = true;
        } else if (v == "false" || v == "0") {
          *target = false;
        } else {
          ThrowInvalid(Expected(name, "true or false", v));
        }
      },
      absl::StrCat(help, " (default: ", *target ? "true" : "false", ")"));
  // Given alone, the flag means true: CLI11 then passes the option's default string, left empty
  // for that reason (the default is in the description instead).
  opt->expected(0, 1)->type_name("");
  return opt;
}

void AddProblemFlags(CLI::App* app, RunConfig* c) {
  const std::string g = "Problem";
  AddRunFlag(app, c, g, "problem", "logreg|polynomial|network",
             "logistic regression with the nonconvex regularizer (paper\n"
             "Section 6.1), the nonconvex polynomial (Appendix E.1), or a neural\n"
             "network (Section 6.2)");
  AddRunFlag(app, c, g, "data", "PATH",
             "LIBSVM file (logreg); data-set directory (network, default\n"
             "/usr/share/datasets/fashion-mnist)");
  AddRunFlag(app, c, g, "features", "D",
             "declared dimension of the LIBSVM file (0: its largest index)");
  AddRunFlag(app, c, g, "synthetic", "MxD",
             "logreg on a synthetic set: M rows, D features, A_ij ~ N(0,1),\nb = ±1");
  AddRunFlag(app, c, g, "lambda", "X", "logreg regularizer λ", "0.1");
  AddRunFlag(app, c, g, "split", "row|contiguous",
             "row: one client per data row (the paper); contiguous: --clients\n"
             "blocks, the last taking the remainder");
  AddRunFlag(app, c, g, "clients", "N",
             "number of clients (--split=contiguous; the polynomial's copies\nof f)",
             "one per row with --split=row; 1 for the polynomial");
  AddRunFlag(app, c, g, "dim", "N", "polynomial dimension d");
  AddRunFlag(app, c, g, "L0", "X", "polynomial L0");
  AddRunFlag(app, c, g, "L1", "X", "polynomial L1; λ = L0/(9d²/(2L1²)+2)");
  AddRunFlag(app, c, g, "model", "NAME|PATH.pt",
             "network: resnet20 | cnn | mlp | PATH.pt (a TorchScript module)");
  AddRunFlag(app, c, g, "dataset", "NAME",
             "network: fashion-mnist (Debian's dataset-fashion-mnist), idx\n"
             "(any MNIST-format directory, --data=DIR) or cifar10 (binary\n"
             "batches, --data=DIR)");
  AddRunFlag(app, c, g, "shards", "random|contiguous",
             "network: split of the training set among clients (random: the\npaper's)");
  AddRunFlag(app, c, g, "train-samples", "N",
             "network: train on the first N training images only (0: all)");
  AddRunFlag(app, c, g, "diagnostics-samples", "N",
             "network: evaluate diagnostics on a fixed seeded subsample of N\n"
             "training and N test images (0: all)");
  AddRunFlag(app, c, g, "batch", "N",
             "minibatch rows per client per round, with replacement; networks:\n"
             "without replacement inside the batch (0: full gradient)");
  AddRunFlag(app, c, g, "sigma", "X",
             "polynomial: std of Gaussian noise added to ∇f_i\n(0: exact)");
  AddRunFlag(app, c, g, "seed", "N", "run seed: x^0, rand-k, minibatches, noise, synthetic data");
}

void AddAlgorithmFlags(CLI::App* app, RunConfig* c) {
  std::string g = "Algorithm";
  AddRunFlag(app, c, g, "algorithm", "NAME",
             "the method: the paper's Algorithms 1-2 or a baseline");
  AddRunFlag(app, c, g, "compressor", "top-k|rand-k|identity", "compressor C",
             "top-k; identity for gd, norm-gd, norm-sgdm");
  AddRunFlag(app, c, g, "k", "N", "entries kept by top-k / rand-k");
  AddRunFlag(app, c, g, "rounds", "K", "number of rounds K");
  AddRunFlag(app, c, g, "stepsize", "theory|theory-l1|constant",
             "theory: the paper's rule per method (norm-ef21: gamma0/sqrt(K+1);\n"
             "ef21: Theorem 1); theory-l1: 1/(2 c L1) (Theorem 3, single client);\n"
             "constant: --gamma");
  AddRunFlag(app, c, g, "gamma", "X", "constant stepsize γ (with --stepsize=constant)");
  AddRunFlag(app, c, g, "gamma0", "X", "γ0 of norm-ef21's gamma0/sqrt(K+1)");
  AddRunFlag(app, c, g, "eta", "X", "momentum η in (0, 1]",
             "1/sqrt(K+1) for the normalized momentum methods");
  AddRunFlag(app, c, g, "init", "full|compressed|shard",
             "g_i^0 = v_i^0 sent dense (full: with --batch, the round-0\n"
             "minibatch gradient), C(v_i^0) (compressed), or ∇f_i(x^0) over\n"
             "the client's whole shard, sent dense (shard: the paper's networks)");
  AddRunFlag(app, c, g, "value-type", "f32|f64",
             "type of values on the wire; state uses exactly the sent values");
  AddRunFlag(app, c, g, "x0", "gaussian|zeros",
             "starting point: N(0,1) (logreg) / N(20,1) (polynomial), or zeros");
  AddRunFlag(app, c, g, "x0-file", "PATH", "starting point from a file, one number per line");
  AddRunFlag(app, c, g, "participation", "P",
             "EF21-PP: each round each client takes part with probability p in\n"
             "(0, 1] by a seeded draw; the others keep g_i and send nothing;\n"
             "round 0 has every client");
  g = "Run";
  AddRunFlag(app, c, g, "out", "DIR", "run directory for config.json, metrics.csv, summary.json",
             "none: nothing is written");
  AddBool(app, "overwrite", &c->overwrite, "replace a run already in --out (refused otherwise)")
      ->group(g);
  AddRunFlag(app, c, g, "threads", "N",
             "threads for client computation (0: one per core; one per client\n"
             "for networks, whose client steps are long)");
  AddRunFlag(app, c, g, "diagnostics-every", "N",
             "rounds between exact ‖∇f(x)‖ evaluations (the last round always;\n"
             "metrics.csv leaves grad_norm and grad_norm_sq empty in between)",
             "1; d/10^4 for models of d >= 10^5 parameters; 50 for networks");
  AddRunFlag(app, c, g, "eps", "X", "target ‖∇f‖² reported in summary.json");
  AddRunFlag(app, c, g, "downlink", "auto|dense|delta",
             "what starts a round on a worker host: dense x, or the last round's\n"
             "exact sparse delta from which hosts advance x and g themselves;\n"
             "auto takes the delta when it is smaller than dense x");
  AddRunFlag(app, c, g, "client-state", "aggregator|worker",
             "where each client's g_i lives in a federation: the aggregator keeps a\n"
             "copy of every g_i (n·d values), or only the workers do and the\n"
             "aggregator keeps x, g and a state hash per client (O(d) memory;\n"
             "docs/DEPLOY.md says what a reattach then needs)");
}

absl::Status ParseFlags(CLI::App& app, const std::vector<std::string>& args, bool* help) {
  *help = false;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      *help = true;
      return absl::OkStatus();
    }
  }
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return Translate(app, e);
  }
  const std::vector<std::string> extras = app.remaining();
  if (!extras.empty()) {
    absl::string_view first = extras.front();
    if (absl::ConsumePrefix(&first, "--") || absl::ConsumePrefix(&first, "-")) {
      return absl::InvalidArgumentError(
          absl::StrCat(UnknownFlag(app, std::string(first.substr(0, first.find('=')))), "; see ",
                       app.get_name(), " --help"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("expected --name=value or --name value, got \"", extras.front(), "\""));
  }
  return absl::OkStatus();
}

int RunSubcommand(CLI::App& app, const std::vector<std::string>& args,
                  const std::function<absl::Status()>& body) {
  bool help = false;
  absl::Status status = ParseFlags(app, args, &help);
  if (help) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  }
  if (status.ok()) {
    const CLI::Option* problem = app.get_option_no_throw("--problem");
    if (problem != nullptr && problem->count() > 0 &&
        NeedsNetworkBinary(problem->as<std::string>())) {
      status = ExecNetworkBinary();  // returns only on failure
    }
  }
  if (status.ok()) status = body();
  if (status.ok()) return 0;
  std::fprintf(stderr, "%s: %s\n", app.get_name().c_str(), std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

std::vector<std::string> GivenProblemFlags(const CLI::App& app) {
  std::vector<std::string> given;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group() != "Problem" || opt->count() == 0) continue;
    for (const std::string& value : opt->results()) {
      given.push_back(absl::StrCat(opt->get_name(), "=", value));
    }
  }
  return given;
}

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

}  // namespace ef21
