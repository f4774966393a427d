// `ef21 simulate`: the whole run in one process (common/simulator.h).
#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "common/run/simulator.h"
#include "common/base/status_macros.h"

namespace ef21 {
namespace {

absl::Status Simulate(const RunConfig& config) {
  EF21_RETURN_IF_ERROR(CheckFreshRunDirectory(config.out, config.overwrite));
  EF21_ASSIGN_OR_RETURN(auto simulator, Simulator::Create(config));
  EF21_ASSIGN_OR_RETURN(auto log, RunLog::Create(config.out, config.ToJson(), config.eps));
  {
    ProgressLine progress(AlgorithmName(config.algorithm), config.rounds);
    EF21_RETURN_IF_ERROR(simulator->Run(log.get(), [&](const MetricsRow& row) { progress.Update(row); }));
  }
  EF21_RETURN_IF_ERROR(log->Finish(DescribeRun(simulator->context())));
  std::fputs(FormatSummary(AlgorithmName(config.algorithm), log->summary()).c_str(), stdout);
  return absl::OkStatus();
}

}  // namespace

int SimulateCommand(const std::vector<std::string>& args) {
  RunConfig config;
  FlagSet flags("simulate",
                "Runs every client and the server in one process (no network) and writes the run\n"
                "directory: config.json, metrics.csv (one row per round), summary.json.");
  AddProblemFlags(&flags, &config);
  AddAlgorithmFlags(&flags, &config);
  return RunSubcommand(flags, args, [&] {
    EF21_RETURN_IF_ERROR(config.Validate());
    return Simulate(config);
  });
}

}  // namespace ef21
