// The aggregator: a gRPC server (ef21.v1.Aggregator and grpc.health.v1.Health) around one
// RoundCoordinator, with its run directory and Prometheus metrics. Born serving:
//
//   EF21_ASSIGN_OR_RETURN(auto aggregator, Aggregator::Start(options));   // bound, SERVING
//   aggregator->Wait(absl::InfiniteDuration());    // the run completes (or Stop() is called)
//   EF21_RETURN_IF_ERROR(aggregator->Shutdown());  // summary.json, NOT_SERVING, drain, stop
//
// Stop() (e.g. on SIGTERM) ends the run gracefully: no further round closes, every worker gets
// Finish{stopped}, and metrics.csv holds every closed round.
//
// The run directory (config.out) decides how a run starts:
//   - empty or absent, or --overwrite: a new run (new run id), checkpointed at once;
//   - holding a checkpoint of the same configuration and data: the run resumes from it with its run
//     id (metrics.csv cut back to the checkpoint's round); a finished one is served as finished;
//   - holding anything else (another configuration, another data set, a run without checkpoint
//     that has rows): refused with FAILED_PRECONDITION naming what differs.
//
// Thread-safety: thread-safe; Shutdown() is called once.
#ifndef EF21_SERVER_AGGREGATOR_H_
#define EF21_SERVER_AGGREGATOR_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/run/run_config.h"
#include "common/run/run_log.h"
#include "grpcpp/server.h"
#include "server/aggregator_metrics.h"
#include "server/audit_log.h"
#include "server/round_coordinator.h"
#include "server/worker_auth.h"

namespace ef21 {

class AggregatorService;

class Aggregator {
 public:
  struct Options {
    RunConfig config;  // the run; config.out is its directory ("" writes nothing)
    std::string listen = "127.0.0.1:0";
    std::string metrics_listen;  // "" serves no /metrics
    // Per-client metric series (ef21_client_uplink_bytes_total{client}) only while the run has at
    // most this many clients (--per-client-metrics-max).
    int64_t per_client_metric_bound = kDefaultPerClientMetricBound;
    // The number of clients the deployment expects (--clients of `ef21 aggregator` with
    // --split=row); 0 checks nothing.
    int64_t expected_clients = 0;
    // Called after each closed round (on the coordinator's closer thread).
    std::function<void(const MetricsRow&)> observer;
    // HTTP/2 keepalive pings on idle connections, and how long to wait for their answer.
    absl::Duration keepalive_time = absl::Seconds(10);
    absl::Duration keepalive_timeout = absl::Seconds(10);
    // Checkpoints of the run in config.out (server/checkpoint.h): every this many closed rounds
    // and/or seconds (0: not by that measure), at the start, after the last round and on Stop.
    int64_t checkpoint_every_rounds = 1000;
    double checkpoint_every_seconds = 30.0;
    // Hostile-input limits (server/round_coordinator.h, server/aggregator_service.h): a round
    // open this long detaches the clients that have not answered (zero: never); the bound on
    // |entries| of c_i and of the aggregator's g_i copies; recomputing reported diagnostics.
    absl::Duration round_timeout = absl::ZeroDuration();
    double max_update_value = 1e30;
    bool verify_diagnostics = true;
    // Clients no worker carries are reported this long into a round (RoundCoordinator).
    absl::Duration coverage_report_after = absl::Seconds(5);
    // Transport security (docs/DEPLOY.md "Certificates and tokens"). With tls_cert and tls_key
    // the port serves TLS; tls_ca makes it request client certificates verified against that CA
    // (mutual TLS); workers_file lists the worker identities and the clients each may carry
    // (server/worker_auth.h) and is required with TLS. insecure serves plaintext to anyone (tests,
    // `ef21 run` on loopback); the command line sets it only on an explicit --insecure.
    std::string tls_cert;
    std::string tls_key;
    std::string tls_ca;
    std::string workers_file;
    bool insecure = true;
    // Where the audit log's JSON lines go (server/audit_log.h); null: nowhere.
    std::FILE* audit_out = stderr;

    absl::Status Validate() const;
  };

  static absl::StatusOr<std::unique_ptr<Aggregator>> Start(Options options);
  ~Aggregator();

  // "host:port" actually bound (port 0 in Options picks a free one).
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  const std::string& run_id() const { return coordinator_->run_id(); }

  // Waits until the run completes or stops; false on timeout.
  bool Wait(absl::Duration timeout) { return coordinator_->WaitDone(timeout); }
  // Ends the run early (graceful); `reason` reaches the workers ("SIGTERM").
  void Stop(const std::string& reason) { coordinator_->Stop(reason); }
  // After Wait: writes summary.json, reports NOT_SERVING, lets the streams end (cancelling those
  // still open after `grace`) and stops the server. Returns the run's status: OK when complete or
  // stopped, the error that ended it otherwise.
  absl::Status Shutdown(absl::Duration grace = absl::Seconds(5));
  // After Wait, once the run is complete: writes summary.json now (Shutdown does not write it
  // again), for an aggregator that keeps serving the finished run. Call from one thread.
  absl::Status WriteSummary();

  RoundCoordinator& coordinator() { return *coordinator_; }
  AggregatorMetrics& metrics() { return *metrics_; }
  const RunLog& log() const { return *log_; }
  // Whether Start() continued a checkpointed run (including serving a finished one).
  bool resumed() const { return coordinator_->resumed(); }
  // Whether Start() found the run already finished (it is served, nothing is written).
  bool served_finished() const { return served_finished_; }

  // The largest message a worker may send for a run of dimension d and n clients: a batch of all
  // n clients' updates with dense float64 values and gradients, plus slack for the index code.
  static int MaxReceiveMessageBytes(int64_t dim, int64_t clients);
  // The memory gRPC's transports may hold at once: room for a few legitimate messages in flight
  // plus slack, so an oversized one is cut off instead of buffered whole.
  static int64_t ServerMemoryQuotaBytes(int max_message_bytes);

  // Sets this process's malloc (glibc) for an aggregator, before Start: buffers of 1 MB and more
  // (d-sized vectors and messages) come from mmap and go back to the system when freed (glibc's
  // adaptive threshold would keep freed 8·d-byte blocks in the heap); `arena_max` bounds the
  // arenas the gRPC threads spread small blocks over (0: glibc's default of 8 per core), whose
  // freed space no other arena reuses. `ef21 aggregator` and bench/aggregator_memory_bench call it.
  static void ConfigureProcessMemory(int arena_max = kMallocArenaMax);
  static constexpr int kMallocArenaMax = 2;

 private:
  Aggregator() = default;

  std::unique_ptr<RunLog> log_;
  std::unique_ptr<AggregatorMetrics> metrics_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<WorkerAuthorizer> authorizer_;
  std::unique_ptr<RoundCoordinator> coordinator_;
  std::unique_ptr<AggregatorService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int port_ = 0;
  bool shut_down_ = false;
  bool served_finished_ = false;  // started on a finished run: serves it, writes nothing
  bool summary_written_ = false;
};

}  // namespace ef21

#endif  // EF21_SERVER_AGGREGATOR_H_
