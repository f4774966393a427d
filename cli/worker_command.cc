// `ef21 worker`: hosts logical clients A..B of a federated run (client/worker_host.h).
#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/signal_waiter.h"
#include "client/worker_host.h"
#include "common/base/status_macros.h"

namespace ef21 {
namespace {

absl::Status RunWorker(WorkerHost::Options options) {
  std::unique_ptr<WorkerHost> host;
  std::atomic<bool> signalled{false};
  SignalWaiter signals([&](const std::string&) {
    signalled = true;
    if (host != nullptr) host->Cancel();
  });
  // One line per new reason to reconnect, and a reminder at most every 10 s while it persists.
  std::string last_message;
  absl::Time last_print = absl::InfinitePast();
  options.on_retry = [&](const absl::Status& status) {
    const std::string message(status.message());
    const absl::Time now = absl::Now();
    if (message == last_message && now - last_print < absl::Seconds(10)) return;
    std::fprintf(stderr, "ef21 worker: %s; reconnecting\n", message.c_str());
    last_message = message;
    last_print = now;
  };
  EF21_ASSIGN_OR_RETURN(host, WorkerHost::Create(options));
  if (signalled) host->Cancel();
  absl::StatusOr<WorkerHost::Result> result = host->Run();
  if (!result.ok()) {
    if (signalled) {
      return absl::CancelledError(absl::StrCat("interrupted (", signals.received(), ")"));
    }
    return result.status();
  }
  if (result->stopped) {
    std::fprintf(stderr, "ef21 worker: the aggregator stopped the run after round %llu (%s); "
                 "exiting\n", static_cast<unsigned long long>(result->rounds), result->reason.c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int WorkerCommand(const std::vector<std::string>& args) {
  WorkerHost::Options options;
  std::string ids;
  double connect_timeout_seconds = 60;
  int64_t drop_at = -1;
  FlagSet flags("worker",
                "Hosts logical clients A..B of a federated run over one gRPC stream to the\n"
                "aggregator. Needs only the problem flags: the algorithm comes from the aggregator.\n"
                "Reconnects with backoff when the aggregator is unreachable or the stream breaks;\n"
                "exits 0 when the aggregator ends the run.");
  flags.Section("Federation");
  flags.String("aggregator", &options.aggregator, "HOST:PORT of the aggregator");
  flags.String("client-ids", &ids, "the clients hosted: N or A-B (inclusive)");
  flags.String("metrics-listen", &options.metrics_listen, "HOST:PORT for Prometheus /metrics (default: none)");
  flags.Int("threads", &options.threads, "threads stepping the hosted clients (default 1)");
  flags.Double("connect-timeout-seconds", &connect_timeout_seconds,
               "how long the aggregator may stay unreachable, at start or after a broken stream "
               "(default 60)");
  flags.Int("test-drop-stream-at-round", &drop_at,
            "test hook: cut the stream once right after sending round R's updates (default -1: never)");
  AddProblemFlags(&flags, &options.problem);
  return RunSubcommand(flags, args, [&] {
    if (!flags.IsSet("client-ids")) return absl::InvalidArgumentError("--client-ids=A-B is required");
    EF21_RETURN_IF_ERROR(ParseIdRange(ids, &options.first_client, &options.last_client));
    if (!(connect_timeout_seconds > 0)) {
      return absl::InvalidArgumentError("--connect-timeout-seconds must be positive");
    }
    options.connect_timeout = absl::Seconds(connect_timeout_seconds);
    options.drop_stream_at_round = drop_at;
    EF21_RETURN_IF_ERROR(options.Validate());
    return RunWorker(options);
  });
}

}  // namespace ef21
