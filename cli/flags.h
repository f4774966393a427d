// The flags of the ef21 subcommands, on CLI11: `--name=value` and `--name value`, `--help` listing
// every flag with its default, and `--config=FILE`, a JSON or TOML file whose keys are flag names
// (flags on the command line override it). Flags live only in cli/; everything below takes the
// option structs they fill.
//
// Values are converted here, not by CLI11, so that every bad value reads the same way:
// "--k: expected an integer, got \"two\"". The run's own flags (problem, algorithm, run) go
// through RunConfig::Set, the vocabulary config.json is read back with.
//
// A configuration file holds top-level keys, which every subcommand reading it must know, and
// optionally one section per subcommand (TOML `[worker]`, JSON `"worker": {...}`) that only that
// subcommand reads, so one file can serve an aggregator and its workers. The "build" object of a
// config.json is skipped, so a run's config.json can be given as --config to repeat it.
#ifndef EF21_CLI_FLAGS_H_
#define EF21_CLI_FLAGS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "common/run/run_config.h"

namespace ef21 {

// The subcommands whose names may head a section of a configuration file.
inline constexpr const char* kSubcommandNames[] = {"simulate", "run", "aggregator", "worker",
                                                   "health"};

// A subcommand's flag set: `command` is "simulate", "run", ...; `synopsis` opens its --help. Has
// --help and --config=FILE.
std::unique_ptr<CLI::App> NewCommandFlags(const std::string& command, const std::string& synopsis);

// Typed flags with ef21's value messages. The value's text at the time of the call is shown as
// the default in --help unless it is empty (or `default_text` is given).
CLI::Option* AddString(CLI::App* app, const std::string& name, std::string* target,
                       const std::string& value_hint, const std::string& help);
CLI::Option* AddInt(CLI::App* app, const std::string& name, int64_t* target,
                    const std::string& help);
CLI::Option* AddDouble(CLI::App* app, const std::string& name, double* target,
                       const std::string& help);
// A boolean flag: --name (true), --name=true or --name=false; `name = true` in a file.
CLI::Option* AddBool(CLI::App* app, const std::string& name, bool* target, const std::string& help);

// Problem flags (--problem, --data, --features, --synthetic, --lambda, --split, --clients, --dim,
// --L0, --L1, --batch, --sigma, --seed): what a worker needs to build its f_i. Group "Problem".
void AddProblemFlags(CLI::App* app, RunConfig* config);
// Algorithm and run flags (--algorithm, --compressor, --k, --rounds, --stepsize, --gamma,
// --gamma0, --eta, --init, --value-type, --x0, --x0-file; --out, --overwrite, --threads,
// --diagnostics-every, --eps). A vocabulary flag (--algorithm, --compressor, --split, ...) lists
// and parses the names of its enum's one table (common/base/enum_names.h).
void AddAlgorithmFlags(CLI::App* app, RunConfig* config);

// Parses `args` (the subcommand's arguments, without "ef21 <command>") into the bound targets.
// Sets *help and returns OK on --help/-h anywhere. Errors are INVALID_ARGUMENT and name the flag
// (or the configuration file and key).
absl::Status ParseFlags(CLI::App& app, const std::vector<std::string>& args, bool* help);

// The body of every subcommand: ParseFlags (printing the help and returning 0 on --help), then
// `body`. An error from either is printed as "ef21 <command>: <message>" on stderr; the exit code
// is 2 for INVALID_ARGUMENT (bad flags or input), 1 for any other error.
int RunSubcommand(CLI::App& app, const std::vector<std::string>& args,
                  const std::function<absl::Status()>& body);

// After parsing: the problem flags that were given, on the command line or in the configuration
// file, as "--name=value" (what `ef21 run` passes to its workers).
std::vector<std::string> GivenProblemFlags(const CLI::App& app);

// Parses "N" or "A-B" (inclusive) into client ids.
absl::Status ParseIdRange(const std::string& text, int64_t* first, int64_t* last);

}  // namespace ef21

#endif  // EF21_CLI_FLAGS_H_
