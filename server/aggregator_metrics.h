// Prometheus metrics of the aggregator (DESIGN.md "Metrics"), served over HTTP by prometheus-cpp's
// exposer. Families are built once in Start() and handles cached; every method is thread-safe and
// cheap enough for the round coordinator's hot path. Per-client series exist only while the run
// has at most `per_client_bound` clients, so a 1605-client run does not flood Prometheus; totals
// always exist. /metrics serves Render() plus prometheus-cpp's own exposer_* scrape statistics.
// Destroying an instance that serves HTTP takes up to 2 s (civetweb's shutdown poll).
//
// Names (all prefixed ef21_, counters end in _total, base units). The paper's communication
// convention counts bits, but promtool rejects "bits" in a name (base unit: bytes), so it is
// exported in bytes = bits / 8, exactly (a multiple of 1/8 is exact in a double).
//   ef21_build_info{version}                 gauge, 1
//   ef21_rounds_completed_total              counter: rounds t >= 1 closed (round 0, the
//                                            initialization, is not counted): K after --rounds=K
//   ef21_round                               gauge: the open round t; K once the run is complete
//   ef21_clients                             gauge: n
//   ef21_diagnostics_every                   gauge: rounds between diagnostic rounds, as in effect
//   ef21_connected_workers                   gauge: open Train streams
//   ef21_uplink_bytes_total                  counter: algorithm bytes of accepted updates
//   ef21_uplink_diagnostic_bytes_total       counter: diagnostic bytes (loss, gradients)
//   ef21_downlink_bytes_total                counter: bytes of every message sent to workers
//   ef21_downlink_messages_total{kind}       counter: RoundStarts sent, by kind (dense, resync,
//                                            delta: common/run/downlink.h)
//   ef21_client_uplink_bytes_total{client}   counter, per client (n ≤ bound)
//   ef21_paper_bytes_total                   counter: paper-convention bits / 8, all clients
//   ef21_paper_bytes_per_client              gauge: = metrics.csv paper_bits_per_client / 8
//   ef21_uplink_bytes_per_client             gauge: = metrics.csv uplink_bytes_per_client
//   ef21_downlink_bytes_per_client           gauge: = metrics.csv downlink_bytes_per_client
//   ef21_g_norm, ef21_grad_norm, ef21_loss, ef21_stepsize   gauges of the last closed round
//   ef21_round_duration_seconds              histogram: rounds 0..K, without waiting for workers
//   ef21_waiting_for_workers_seconds_total   counter: time the open round lacked a worker
//   ef21_rejected_messages_total{reason}     counter, one series per RejectionReason from the start
//   ef21_duplicate_updates_total             counter
//   ef21_audit_events_total{event}           counter: audit log lines (server/audit_log.h)
#ifndef EF21_SERVER_AGGREGATOR_METRICS_H_
#define EF21_SERVER_AGGREGATOR_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/run/downlink.h"
#include "common/run/run_log.h"
#include "proto/rejection_reason.h"
#include "server/audit_event_kind.h"

namespace ef21 {

// The default of AggregatorMetrics::Options::per_client_bound.
inline constexpr int64_t kDefaultPerClientMetricBound = 64;

class AggregatorMetrics {
 public:
  struct Options {
    // host:port for the HTTP /metrics endpoint; "" serves nothing (Render() still works).
    // Port 0 picks a free port (see port()).
    std::string listen;
    int64_t clients = 0;
    int64_t diagnostics_every = 1;  // the run's --diagnostics-every as in effect
    // Per-client series only while clients <= this (`ef21 aggregator --per-client-metrics-max`).
    int64_t per_client_bound = kDefaultPerClientMetricBound;
  };

  static absl::StatusOr<std::unique_ptr<AggregatorMetrics>> Start(const Options& options);
  virtual ~AggregatorMetrics() = default;

  // The bound HTTP port, 0 when not serving.
  virtual int port() const = 0;

  // A round closed: its metrics.csv row, the cumulative totals behind it, and how long it took
  // from RoundStart to close, without time spent waiting for workers. Round 0 (the
  // initialization) is observed in the duration histogram but not counted as a completed round.
  virtual void OnRoundClosed(const MetricsRow& row, const CommTotals& totals,
                             double duration_seconds) = 0;
  // Updates were accepted: their algorithm and diagnostic wire bytes, added to the totals and,
  // for client >= 0, to the client's series (client -1: bytes of several clients together, e.g.
  // a batch's, or a batch's gradient sums; the coordinator reports a batch in one call unless
  // per_client()).
  virtual void OnUpdateAccepted(int64_t client, int64_t algorithm_bytes,
                                int64_t diagnostic_bytes) = 0;
  // Whether per-client series are kept (clients <= Options::per_client_bound).
  virtual bool per_client() const = 0;
  virtual void OnDownlinkBytes(int64_t bytes) = 0;
  // A RoundStart of `kind` was queued for a worker host.
  virtual void OnRoundStartSent(DownlinkKind kind) = 0;
  // A message was refused for `reason`.
  virtual void OnRejected(RejectionReason reason) = 0;
  virtual void OnDuplicate() = 0;
  // Time the open round could not progress for lack of a worker.
  virtual void AddWaitingSeconds(double seconds) = 0;
  // An audit log line (server/audit_log.h) of kind `event`.
  virtual void OnAuditEvent(AuditEventKind event) = 0;
  virtual void SetConnectedWorkers(int64_t workers) = 0;
  virtual void SetRound(uint64_t round) = 0;

  // The text exposition format, as served on /metrics.
  virtual std::string Render() const = 0;
};

}  // namespace ef21

#endif  // EF21_SERVER_AGGREGATOR_METRICS_H_
