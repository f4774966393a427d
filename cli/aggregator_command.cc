// `ef21 aggregator`: a long-running federation server (server/aggregator.h). Prints
// "listening on HOST:PORT" once bound, runs until round K closes or SIGTERM/SIGINT, then writes
// summary.json and exits 0.

#include <cmath>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/connection_flags.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "cli/signal_waiter.h"
#include "common/base/status_macros.h"
#include "server/aggregator.h"

namespace ef21 {
namespace {

// Waiting for workers is part of the wall time but not of the round durations.
void PrintWaiting(const char* who, double seconds) {
  std::fprintf(stderr,
               "%s: waited %.3f s for workers (in the wall time, not in "
               "ef21_round_duration_seconds)\n",
               who, seconds);
}

absl::Status RunAggregator(Aggregator::Options options, double linger_seconds,
                           bool exit_when_complete) {
  // Large buffers from mmap, few malloc arenas (bench/aggregator_memory_bench.sh).
  Aggregator::ConfigureProcessMemory();
  std::unique_ptr<Aggregator> aggregator;
  SignalStop signals("aggregator");  // after `aggregator`: destroyed first
  EF21_ASSIGN_OR_RETURN(aggregator, Aggregator::Start(options));
  signals.SetLive([live = aggregator.get()](const std::string& name) { live->Stop(name); });
  std::printf("listening on %s\n", aggregator->address().c_str());
  if (aggregator->metrics().port() != 0) {
    std::printf("metrics on port %d\n", aggregator->metrics().port());
  }
  const RoundCoordinator& coordinator = aggregator->coordinator();
  const std::string resumed =
      !aggregator->resumed() ? ""
      : aggregator->served_finished()
          ? " (complete: serving the finished run)"
          : absl::StrCat(" (resumed at round ", coordinator.rounds_closed(), ")");
  std::printf("run %s: %lld clients, %lld rounds%s\n", aggregator->run_id().c_str(),
              static_cast<long long>(coordinator.context().num_clients()),
              static_cast<long long>(options.config.rounds), resumed.c_str());
  std::fflush(stdout);
  // A signal that arrived before the aggregator existed.
  if (!signals.received().empty()) aggregator->Stop(signals.received());
  aggregator->Wait(absl::InfiniteDuration());
  const bool complete = aggregator->coordinator().complete();
  if (complete && !exit_when_complete && !signals.signalled()) {
    // A finished run stays served (health, /metrics, Finish to late workers) until stopped: a
    // supervisor that restarts whatever the exit code would otherwise start it again.
    EF21_RETURN_IF_ERROR(aggregator->WriteSummary());
    if (!aggregator->served_finished()) {
      std::fputs(FormatSummary(AlgorithmName(options.config.algorithm), aggregator->log().summary())
                     .c_str(),
                 stdout);
    }
    std::printf("run %s complete; serving it until SIGTERM\n", aggregator->run_id().c_str());
    std::fflush(stdout);
    signals.WaitForSignal();
  }
  const RoundCoordinator::CheckpointStats stats = coordinator.checkpoint_stats();
  if (stats.count > 0) {
    std::fprintf(stderr,
                 "ef21 aggregator: %lld checkpoints of %lld bytes, %.3f s in all, %.3f s at most\n",
                 static_cast<long long>(stats.count), static_cast<long long>(stats.bytes),
                 stats.total_seconds, stats.max_seconds);
  }
  absl::Status status = aggregator->Shutdown();
  // The outcome first, so it is visible while /metrics lingers.
  if (status.ok() && complete && exit_when_complete && !aggregator->served_finished()) {
    std::fputs(
        FormatSummary(AlgorithmName(options.config.algorithm), aggregator->log().summary()).c_str(),
        stdout);
  } else if (status.ok() && !complete) {
    std::fprintf(stderr,
                 "ef21 aggregator: stopped (%s) %s; %s/metrics.csv holds every closed "
                 "round\n",
                 signals.received().empty() ? "shutdown" : signals.received().c_str(),
                 DescribeClosedRounds(aggregator->coordinator().rounds_closed()).c_str(),
                 options.config.out.empty() ? "(no --out)" : options.config.out.c_str());
  }
  PrintWaiting("ef21 aggregator", aggregator->coordinator().waiting_seconds());
  std::fflush(stdout);
  signals.LingerForMetrics(linger_seconds);
  EF21_RETURN_IF_ERROR(status);
  return absl::OkStatus();
}

}  // namespace

int AggregatorCommand(const std::vector<std::string>& args) {
  Aggregator::Options options;
  options.listen = "0.0.0.0:50051";
  RunConfig& config = options.config;
  ConnectionFlags connection;
  bool exit_when_complete = false;
  double round_timeout_seconds = 300;
  auto flags = NewCommandFlags(
      "aggregator",
      "Serves a federated run over gRPC (ef21.v1.Aggregator and grpc.health.v1.Health):\n"
      "workers attach with `ef21 worker`; the run directory is the same as simulate's.\n"
      "Prints \"listening on HOST:PORT\" once bound. SIGTERM/SIGINT stop the run gracefully\n"
      "(exit 0, metrics.csv complete up to the last closed round; summary.json says\n"
      "\"status\": \"stopped\"). With --split=row, --clients=N states the expected number of\n"
      "clients (= data rows) and is checked.\n"
      "Crash-safe: the run is checkpointed to --out/checkpoint.bin (at the start, every\n"
      "--checkpoint-every rounds / --checkpoint-seconds, after the last round and on\n"
      "SIGTERM). Started on an --out holding a checkpoint of the same configuration, it\n"
      "resumes the run (same run id; workers reattach by themselves); on a finished run it\n"
      "serves it as finished. Another configuration in --out is refused (--overwrite\n"
      "replaces it). A finished run stays served until SIGTERM unless --exit-when-complete.\n"
      "Data stays with the workers: --problem=logreg needs no --data here (give --features=D\n"
      "and --clients=N instead). Each worker reports its clients' smoothness constants\n"
      "(L_i, L0_i, L1_i) and data digests at attach, and the aggregator holds every client to\n"
      "its first report; summary.json's L0, L1 and L_tilde come from the reports and L, which\n"
      "needs all rows together, is null. Without --data the stepsize rule must need no\n"
      "constant (--stepsize=constant, or theory for norm-ef21/norm-gd: gamma0/sqrt(K+1)),\n"
      "--participation must be 1 and --verify-diagnostics is off. With --data the aggregator\n"
      "plans from its own copy and refuses a worker whose reports differ, naming the clients.");
  const std::string g = "Federation";
  AddString(flags.get(), "listen", &options.listen, "HOST:PORT",
            "HOST:PORT to serve on (port 0 picks one)")
      ->group(g);
  AddConnectionFlags(flags.get(), ConnectionSide::kAggregator, &connection);
  AddInt(flags.get(), "checkpoint-every", &options.checkpoint_every_rounds,
         "checkpoint every this many closed rounds (0: not by rounds)")
      ->group(g);
  AddDouble(flags.get(), "checkpoint-seconds", &options.checkpoint_every_seconds,
            "checkpoint once this many seconds passed since the last one\n(0: not by time)")
      ->group(g);
  AddBool(flags.get(), "exit-when-complete", &exit_when_complete,
          "exit 0 once the last round closed instead of serving the finished\nrun until SIGTERM")
      ->group(g);
  AddInt(flags.get(), "per-client-metrics-max", &options.per_client_metric_bound,
         "export per-client metric series only while the run has at most\nthis many clients")
      ->group(g);
  const std::string sec = "Security";
  AddString(flags.get(), "workers-file", &options.workers_file, "FILE",
            "worker identities (certificate CN/SAN or token-sha256=) and the\nclient ids each "
            "may carry, one per line: IDENTITY IDS\n[token-sha256=HEX] (docs/DEPLOY.md)")
      ->group(sec);
  const std::string lim = "Limits";
  AddDouble(flags.get(), "round-timeout-seconds", &round_timeout_seconds,
            "a round open this long detaches the workers whose clients have\nnot answered and "
            "frees their ids for their owners; the round\nstill waits for every id (0: never)")
      ->group(lim);
  AddDouble(flags.get(), "max-update-value", &options.max_update_value,
            "largest |entry| of an update c_i and of the aggregator's g_i\ncopies; a larger one "
            "is refused and its client named")
      ->group(lim);
  AddBool(flags.get(), "verify-diagnostics", &options.verify_diagnostics,
          "recompute each reported loss (and diagnostic gradient) from the\naggregator's data "
          "and refuse updates that disagree (only with --data)")
      ->group(lim);
  AddProblemFlags(flags.get(), &config);
  AddAlgorithmFlags(flags.get(), &config);
  return RunSubcommand(*flags, args, [&] {
    if (config.problem == ProblemKind::kLogreg && config.split == Split::kRow &&
        config.clients != 0) {
      options.expected_clients = config.clients;
      config.clients = 0;
    }
    if (!(round_timeout_seconds >= 0) || !std::isfinite(round_timeout_seconds)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--round-timeout-seconds must be a finite number >= 0; got ", round_timeout_seconds));
    }
    options.round_timeout = absl::Seconds(round_timeout_seconds);
    EF21_RETURN_IF_ERROR(connection.ApplyTo(&options));
    EF21_RETURN_IF_ERROR(options.Validate());
    return RunAggregator(options, connection.linger_seconds, exit_when_complete);
  });
}

}  // namespace ef21
