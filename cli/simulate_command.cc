// `ef21 simulate`: the whole run in one process (common/simulator.h).
#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "common/base/status_macros.h"
#include "common/run/simulator.h"

namespace ef21 {
namespace {

absl::Status Simulate(const RunConfig& config) {
  EF21_RETURN_IF_ERROR(CheckFreshRunDirectory(config.out, config.overwrite));
  EF21_ASSIGN_OR_RETURN(auto simulator, Simulator::Create(config));
  EF21_ASSIGN_OR_RETURN(auto log,
                        RunLog::Create(config.out, simulator->config().ToJson(), config.eps));
  {
    ProgressLine progress(AlgorithmName(config.algorithm), config.rounds);
    EF21_RETURN_IF_ERROR(
        simulator->Run(log.get(), [&](const MetricsRow& row) { progress.Update(row); }));
  }
  EF21_RETURN_IF_ERROR(
      log->Finish(DescribeRun(simulator->context(), simulator->totals()), absl::OkStatus()));
  std::fputs(FormatSummary(AlgorithmName(config.algorithm), log->summary()).c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace

int SimulateCommand(const std::vector<std::string>& args) {
  RunConfig config;
  auto flags = NewCommandFlags(
      "simulate",
      "Runs every client and the server in one process (no network) and writes the run\n"
      "directory: config.json, metrics.csv (one row per round), summary.json. Without --out\n"
      "nothing is written; the summary is printed all the same.");
  AddProblemFlags(flags.get(), &config);
  AddAlgorithmFlags(flags.get(), &config);
  return RunSubcommand(*flags, args, [&] {
    EF21_RETURN_IF_ERROR(config.Validate());
    if (config.out.empty()) {
      std::fputs(
          "ef21 simulate: no --out: nothing is written (no config.json, metrics.csv or "
          "summary.json); only the summary below\n",
          stderr);
    }
    return Simulate(config);
  });
}

}  // namespace ef21
