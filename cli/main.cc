// The ef21 program: `ef21 <subcommand> [--flag=value | --flag value ...]`. Each subcommand parses
// its own flags (cli/flags.h); this file only picks the subcommand. Built twice: `ef21` and, with
// EF21_NETWORKS and LibTorch, `ef21-networks`, which `ef21` becomes for --problem=network
// (cli/network_binary.h).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cli/commands.h"
#include "cli/network_binary.h"
#include "common/base/version.h"
#ifdef EF21_NETWORKS
#include "common/run/networks/enable_networks.h"
#endif

namespace {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>&);
};

int VersionCommand(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "ef21 version: takes no flags; got \"%s\"\n", args[0].c_str());
    return 2;
  }
  std::printf("%s\n", ef21::VersionText().c_str());
  return 0;
}

constexpr Subcommand kSubcommands[] = {
    {"simulate", "run every client and the server in one process", ef21::SimulateCommand},
    {"run", "run the federation over gRPC on loopback (aggregator + worker processes)",
     ef21::RunCommand},
    {"aggregator", "serve a federated run (gRPC)", ef21::AggregatorCommand},
    {"worker", "host logical clients of a federated run", ef21::WorkerCommand},
    {"health", "ask a server's gRPC health service whether it is serving", ef21::HealthCommand},
    {"version", "print the version, git commit and build type (also --version)", VersionCommand},
};

void PrintUsage(std::FILE* out) {
  std::fprintf(
      out,
      "ef21: normalized error feedback (||EF21||, ||EF21-SGDM||) and baselines, simulated "
      "or as a gRPC federation.\n\nusage: ef21 <command> [--flag=value | --flag value ...] "
      "[--config=FILE]\n\ncommands:\n");
  for (const Subcommand& s : kSubcommands) std::fprintf(out, "  %-12s %s\n", s.name, s.summary);
  std::fprintf(out, "\n`ef21 <command> --help` lists a command's flags and their defaults.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // The distribution's Abseil is built with its debug default: every Mutex acquisition feeds a
  // lock-order graph for deadlock detection (~3% of the aggregator's stream threads in the a1a
  // federation). Builds other than Debug turn it off; Debug builds and the tests keep it.
  if (std::strcmp(ef21::BuildType(), "Debug") != 0) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
#ifdef EF21_NETWORKS
  ef21::EnableNetworkProblems();  // ef21-networks: LibTorch linked in
#else
  ef21::SetCommandLineForNetworkBinary(argc, argv);  // ef21: --problem=network re-executes
#endif
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (std::strcmp(argv[1], "--version") == 0) return VersionCommand(args);
  for (const Subcommand& s : kSubcommands) {
    if (std::strcmp(argv[1], s.name) == 0) return s.run(args);
  }
  std::fprintf(stderr, "ef21: unknown command \"%s\"\n\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
