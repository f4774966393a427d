// `ef21 aggregator`: a long-running federation server (server/aggregator.h). Prints
// "listening on HOST:PORT" once bound, runs until round K closes or SIGTERM/SIGINT, then writes
// summary.json and exits 0.
#include <atomic>
#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "cli/signal_waiter.h"
#include "common/base/status_macros.h"
#include "server/aggregator.h"

namespace ef21 {
namespace {

// Waiting for workers is part of the wall time but not of the round durations.
void PrintWaiting(const char* who, double seconds) {
  std::fprintf(stderr, "%s: waited %.3f s for workers (in the wall time, not in "
               "ef21_round_duration_seconds)\n", who, seconds);
}

absl::Status RunAggregator(Aggregator::Options options, double linger_seconds) {
  std::unique_ptr<Aggregator> aggregator;
  std::atomic<bool> signalled{false};
  SignalWaiter signals([&](const std::string& name) {
    signalled = true;
    if (aggregator != nullptr) aggregator->Stop(name);
  });
  EF21_ASSIGN_OR_RETURN(aggregator, Aggregator::Start(options));
  std::printf("listening on %s\n", aggregator->address().c_str());
  if (aggregator->metrics().port() != 0) {
    std::printf("metrics on port %d\n", aggregator->metrics().port());
  }
  std::printf("run %s: %lld clients, %lld rounds\n", aggregator->run_id().c_str(),
              static_cast<long long>(aggregator->coordinator().context().num_clients()),
              static_cast<long long>(options.config.rounds));
  std::fflush(stdout);
  // A signal that arrived before the aggregator existed.
  if (!signals.received().empty()) aggregator->Stop(signals.received());
  aggregator->Wait(absl::InfiniteDuration());
  const bool complete = aggregator->coordinator().complete();
  absl::Status status = aggregator->Shutdown();
  // The outcome first, so it is visible while /metrics lingers.
  if (status.ok() && complete) {
    std::fputs(FormatSummary(AlgorithmName(options.config.algorithm), aggregator->log().summary()).c_str(),
               stdout);
  } else if (status.ok()) {
    std::fprintf(stderr, "ef21 aggregator: stopped (%s) %s; %s/metrics.csv holds every closed "
                 "round\n",
                 signals.received().empty() ? "shutdown" : signals.received().c_str(),
                 DescribeClosedRounds(aggregator->coordinator().rounds_closed()).c_str(),
                 options.config.out.empty() ? "(no --out)" : options.config.out.c_str());
  }
  PrintWaiting("ef21 aggregator", aggregator->coordinator().waiting_seconds());
  std::fflush(stdout);
  if (linger_seconds > 0 && !signalled) {
    std::fprintf(stderr, "ef21 aggregator: keeping /metrics up for %g s (--linger-seconds; a "
                 "signal ends it)\n", linger_seconds);
    const absl::Time until = absl::Now() + absl::Seconds(linger_seconds);
    while (!signalled && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
  }
  EF21_RETURN_IF_ERROR(status);
  return absl::OkStatus();
}

}  // namespace

int AggregatorCommand(const std::vector<std::string>& args) {
  Aggregator::Options options;
  options.listen = "0.0.0.0:50051";
  RunConfig& config = options.config;
  double linger_seconds = 0;
  FlagSet flags("aggregator",
                "Serves a federated run over gRPC (ef21.v1.Aggregator and grpc.health.v1.Health):\n"
                "workers attach with `ef21 worker`; the run directory is the same as simulate's.\n"
                "Prints \"listening on HOST:PORT\" once bound. SIGTERM/SIGINT stop the run gracefully\n"
                "(exit 0, metrics.csv complete up to the last closed round).\n"
                "With --split=row, --clients=N states the expected number of clients (= data rows)\n"
                "and is checked.");
  flags.Section("Federation");
  flags.String("listen", &options.listen, "HOST:PORT to serve on (default 0.0.0.0:50051; port 0 picks one)");
  flags.String("metrics-listen", &options.metrics_listen, "HOST:PORT for Prometheus /metrics (default: none)");
  flags.Double("linger-seconds", &linger_seconds, "keep /metrics up this long after the run (default 0)");
  flags.Int("per-client-metrics-max", &options.per_client_metric_bound,
            "export per-client metric series only while the run has at most this many clients "
            "(default 64)");
  AddProblemFlags(&flags, &config);
  AddAlgorithmFlags(&flags, &config);
  return RunSubcommand(flags, args, [&] {
    if (config.problem == ProblemKind::kLogreg && config.split == Split::kRow && config.clients != 0) {
      options.expected_clients = config.clients;
      config.clients = 0;
    }
    EF21_RETURN_IF_ERROR(options.Validate());
    return RunAggregator(options, linger_seconds);
  });
}

}  // namespace ef21
