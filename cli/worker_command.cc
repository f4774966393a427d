// `ef21 worker`: hosts logical clients A..B of a federated run (client/worker_host.h).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/commands.h"
#include "cli/connection_flags.h"
#include "cli/flags.h"
#include "cli/round_memory.h"
#include "cli/signal_waiter.h"
#include "client/worker_host.h"
#include "common/base/status_macros.h"

namespace ef21 {
namespace {

// What the worker says on stderr: one line on attach (and on each re-attach), a progress line at
// most every 30 s, one line at the end; a line per new reason to reconnect. Returns only on
// failure: a worker whose run ended (complete, or stopped by the aggregator) exits with status 0.
absl::Status RunWorker(WorkerHost::Options options, double linger_seconds) {
  KeepRoundMemoryForReuse();
  std::unique_ptr<WorkerHost> host;
  SignalStop signals("worker");  // after `host`: destroyed first
  const std::string clients =
      options.first_client == options.last_client
          ? absl::StrCat("client ", options.first_client)
          : absl::StrCat("clients ", options.first_client, "-", options.last_client);
  // One line per new reason to reconnect, and a reminder at most every 10 s while it persists.
  std::string last_message;
  absl::Time last_print = absl::InfinitePast();
  options.on_retry = [&](const absl::Status& status) {
    const std::string message(status.message());
    const absl::Time now = absl::Now();
    if (message == last_message && now - last_print < absl::Seconds(10)) return;
    std::fprintf(stderr, "ef21 worker: %s; %s\n", message.c_str(),
                 status.code() == absl::StatusCode::kAborted ? "retrying" : "reconnecting");
    last_message = message;
    last_print = now;
  };
  std::string run_id;
  // --aggregator=-: the address comes on standard input once the data is loaded.
  std::string address = options.aggregator;
  if (options.await_aggregator) {
    options.await_aggregator = [read = options.await_aggregator, &address] {
      absl::StatusOr<std::string> got = read();
      if (got.ok()) address = *got;
      return got;
    };
  }
  options.on_attached = [&](const std::string& id, uint64_t round, bool reattach) {
    run_id = id;
    std::fprintf(stderr, "ef21 worker: %s %s to aggregator %s, run %s, at round %llu\n",
                 clients.c_str(), reattach ? "re-attached" : "attached", address.c_str(),
                 id.c_str(), static_cast<unsigned long long>(round));
    last_message.clear();
  };
  int64_t computed = 0;
  absl::Time last_progress = absl::Now();
  options.on_round_sent = [&](uint64_t round) {
    ++computed;
    const absl::Time now = absl::Now();
    if (now - last_progress < absl::Seconds(30)) return;
    std::fprintf(stderr, "ef21 worker: round %llu sent (%lld rounds computed so far)\n",
                 static_cast<unsigned long long>(round), static_cast<long long>(computed));
    last_progress = now;
  };
  EF21_ASSIGN_OR_RETURN(host, WorkerHost::Create(options));
  if (host->metrics_port() != 0) {
    std::fprintf(stderr, "ef21 worker: metrics on port %d\n", host->metrics_port());
  }
  signals.SetLive([live = host.get()](const std::string&) { live->Cancel(); });
  absl::StatusOr<WorkerHost::Result> result = host->Run();
  if (!result.ok()) {
    if (signals.signalled()) {
      return absl::CancelledError(absl::StrCat("interrupted (", signals.received(), ")"));
    }
    return result.status();
  }
  if (result->stopped) {
    std::fprintf(stderr,
                 "ef21 worker: the aggregator stopped the run %s after round %llu (%s); "
                 "exiting\n",
                 run_id.c_str(), static_cast<unsigned long long>(result->rounds),
                 result->reason.c_str());
  } else {
    std::fprintf(stderr,
                 "ef21 worker: run %s complete (rounds 0..%llu); %s computed %lld rounds, "
                 "%lld reconnects\n",
                 run_id.c_str(), static_cast<unsigned long long>(result->rounds), clients.c_str(),
                 static_cast<long long>(computed), static_cast<long long>(result->reconnects));
  }
  if (host->metrics_port() != 0) signals.LingerForMetrics(linger_seconds);
  // The run is over and this worker owes nothing more: its stream is finished and its state files
  // (--state-dir) are written as it goes, never at exit. Tearing down the channel, gRPC's threads
  // and the clients would cost ~10 ms that `ef21 run`, which waits for its workers, spends on every
  // run: the process ends here instead.
  std::fflush(nullptr);
  std::_Exit(0);
}

// --aggregator=-: one line "HOST:PORT" from standard input (`ef21 run` writes it into a pipe once
// its aggregator listens).
absl::StatusOr<std::string> ReadAggregatorAddress() {
  constexpr size_t kMaxLine = 1024;
  std::string line;
  for (int c; (c = std::getchar()) != EOF && c != '\n';) {
    if (line.size() == kMaxLine) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--aggregator=-: expected one line HOST:PORT on standard input; got more than ", kMaxLine,
          " characters"));
    }
    line.push_back(static_cast<char>(c));
  }
  if (line.empty()) {
    return absl::UnavailableError(
        "--aggregator=-: expected the aggregator's HOST:PORT on standard input; got end of input "
        "(the aggregator did not start)");
  }
  return line;
}

}  // namespace

int WorkerCommand(const std::vector<std::string>& args) {
  WorkerHost::Options options;
  std::string ids;
  double connect_timeout_seconds = 60;
  int64_t drop_at = -1;
  ConnectionFlags connection;
  auto flags = NewCommandFlags(
      "worker",
      "Hosts logical clients A..B of a federated run over one gRPC stream to the\n"
      "aggregator. Needs only the problem flags: the algorithm comes from the aggregator.\n"
      "Reconnects with backoff when the aggregator is unreachable or the stream breaks;\n"
      "exits 0 when the aggregator ends the run.");
  const std::string g = "Federation";
  AddString(flags.get(), "aggregator", &options.aggregator, "HOST:PORT",
            "HOST:PORT of the aggregator ('-': read it from the first line of\n"
            "standard input once the data is loaded, as `ef21 run` does)")
      ->group(g);
  CLI::Option* client_ids = AddString(flags.get(), "client-ids", &ids, "A-B",
                                      "the clients hosted: N or A-B (inclusive); required")
                                ->group(g);
  AddConnectionFlags(flags.get(), ConnectionSide::kWorker, &connection);
  AddInt(flags.get(), "threads", &options.threads, "threads stepping the hosted clients")->group(g);
  AddString(flags.get(), "state-dir", &options.state_dir, "DIR",
            "directory for the hosted clients' momentum / EF14 error (and,\n"
            "with --client-state=worker, g_i), saved every round so a\n"
            "restarted worker continues exactly")
      ->default_str("none: memory only")
      ->group(g);
  AddBool(flags.get(), "report-constants", &options.report_constants,
          "report the clients' smoothness constants at attach (an aggregator\nwithout data needs "
          "them; false saves their eigenvalue iterations)")
      ->group(g);
  AddInt(flags.get(), "message-bytes", &options.message_bytes,
         "a round's updates go to the aggregator in messages of about this\nmany bytes (at least "
         "one update each)")
      ->group(g);
  AddDouble(flags.get(), "connect-timeout-seconds", &connect_timeout_seconds,
            "how long the aggregator may stay unreachable, at start or after a\nbroken stream")
      ->group(g);
  AddInt(flags.get(), "test-drop-stream-at-round", &drop_at,
         "test hook: cut the stream once right after sending round R's updates\n(-1: never)")
      ->group(g);
  const std::string sec = "Security";
  AddString(flags.get(), "token-file", &options.token_file, "FILE",
            "file holding this worker's bearer token (instead of a client\ncertificate)")
      ->group(sec);
  AddString(flags.get(), "tls-server-name", &options.tls_server_name, "NAME",
            "name the aggregator's certificate carries, when it differs from\n--aggregator's host")
      ->group(sec);
  AddProblemFlags(flags.get(), &options.problem);
  return RunSubcommand(*flags, args, [&] {
    if (client_ids->count() == 0) return absl::InvalidArgumentError("--client-ids=A-B is required");
    EF21_RETURN_IF_ERROR(ParseIdRange(ids, &options.first_client, &options.last_client));
    if (!(connect_timeout_seconds > 0)) {
      return absl::InvalidArgumentError("--connect-timeout-seconds must be positive");
    }
    options.connect_timeout = absl::Seconds(connect_timeout_seconds);
    options.drop_stream_at_round = drop_at;
    EF21_RETURN_IF_ERROR(connection.ApplyTo(&options));
    if (options.aggregator == "-") options.await_aggregator = ReadAggregatorAddress;
    EF21_RETURN_IF_ERROR(options.Validate());
    return RunWorker(options, connection.linger_seconds);
  });
}

}  // namespace ef21
