// Command-line flags in --name=value form, bound to option structs. Flags live only in cli/;
// everything below takes the option structs they fill.
#ifndef EF21_CLI_FLAGS_H_
#define EF21_CLI_FLAGS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/base/enum_names.h"
#include "common/run/run_config.h"

namespace ef21 {

class FlagSet {
 public:
  FlagSet(std::string command, std::string synopsis);

  using Setter = std::function<absl::Status(const std::string& value)>;
  // A flag with a custom parser. `value_hint` shows in --help ("PATH", "N", "top-k|rand-k|...").
  void Add(const std::string& name, const std::string& value_hint, const std::string& help,
           Setter setter);
  void String(const std::string& name, std::string* target, const std::string& help);
  void Int(const std::string& name, int64_t* target, const std::string& help);
  void Double(const std::string& name, double* target, const std::string& help);
  void OptionalDouble(const std::string& name, std::optional<double>* target, const std::string& help);
  // A flag naming a value of a vocabulary (common/base/enum_names.h): --name=VALUE, where the
  // valid names and the parse error come from the vocabulary's one table.
  template <typename E>
  void Enum(const std::string& name, E* target, const std::string& help) {
    Add(name, NamesOf(E{}).Join("|"), help, [name, target](const std::string& v) {
      return ParseEnumFlag(name, v, target);
    });
  }
  template <typename E>
  void Enum(const std::string& name, std::optional<E>* target, const std::string& help) {
    Add(name, NamesOf(E{}).Join("|"), help, [name, target](const std::string& v) {
      E value{};
      if (absl::Status s = ParseEnumFlag(name, v, &value); !s.ok()) return s;
      *target = value;
      return absl::OkStatus();
    });
  }
  // A boolean flag: --name, --name=true or --name=false.
  void Bool(const std::string& name, bool* target, const std::string& help);
  // A section heading in --help.
  void Section(const std::string& title);

  // Parses args (the subcommand's arguments). On --help sets *help and returns OK without
  // touching anything else. Errors name the flag and what was expected. A flag given twice is an
  // error.
  absl::Status Parse(const std::vector<std::string>& args, bool* help);
  bool IsSet(const std::string& name) const { return set_.count(name) > 0; }
  std::string Help() const;
  const std::string& command() const { return command_; }
  // The names of the flags added so far.
  std::vector<std::string> Names() const;

 private:
  template <typename E>
  static absl::Status ParseEnumFlag(const std::string& name, const std::string& value, E* target) {
    absl::StatusOr<E> parsed = ParseEnum<E>(value);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", parsed.status().message()));
    }
    *target = *parsed;
    return absl::OkStatus();
  }

  struct Flag {
    std::string name, value_hint, help;
    Setter setter;
    bool is_bool = false;
  };
  std::string command_, synopsis_;
  std::vector<Flag> flags_;
  std::vector<std::pair<size_t, std::string>> sections_;  // heading before flags_[index]
  std::set<std::string> set_;
};

// Problem flags (--problem, --data, --features, --synthetic, --lambda, --split, --clients, --dim,
// --L0, --L1, --sigma, --batch, --seed): what a worker needs to build its f_i.
void AddProblemFlags(FlagSet* flags, RunConfig* config);
// Algorithm and run flags (--algorithm, --compressor, --k, --rounds, --stepsize, --gamma,
// --gamma0, --eta, --init, --value-type, --x0, --x0-file, --out, --threads, --diagnostics-every,
// --eps).
void AddAlgorithmFlags(FlagSet* flags, RunConfig* config);

// The body of every subcommand: parses `args` into `flags` (printing the help and returning 0 on
// --help), then calls `body`. An error from either is printed as "ef21 <command>: <message>" on
// stderr; the exit code is 2 for INVALID_ARGUMENT (bad flags or input), 1 for any other error.
int RunSubcommand(FlagSet& flags, const std::vector<std::string>& args,
                  const std::function<absl::Status()>& body);

// The names AddProblemFlags adds ("problem", "data", ...): what a worker must be given.
std::vector<std::string> ProblemFlagNames();

// Parses "N" or "A-B" (inclusive) into client ids.
absl::Status ParseIdRange(const std::string& text, int64_t* first, int64_t* last);

}  // namespace ef21

#endif  // EF21_CLI_FLAGS_H_
