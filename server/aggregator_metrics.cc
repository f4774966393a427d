#include "server/aggregator_metrics.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status_macros.h"
#include "common/base/version.h"
#include "common/run/run_log.h"
#include "metrics/metrics_endpoint.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ef21 {
namespace {

class AggregatorMetricsImpl final : public AggregatorMetrics {
 public:
  explicit AggregatorMetricsImpl(const Options& options)
      : registry_(std::make_shared<prometheus::Registry>()),
        rounds_completed_(
            prometheus::BuildCounter()
                .Name("ef21_rounds_completed_total")
                .Help("Rounds t >= 1 closed by the aggregator. Round 0, the initialization "
                      "(metrics.csv row t = 0), is not counted: after --rounds=K it "
                      "reads K, as ef21_round does.")
                .Register(*registry_)
                .Add({})),
        round_(prometheus::BuildGauge()
                   .Name("ef21_round")
                   .Help("The round t open now; K once a run of --rounds=K is complete.")
                   .Register(*registry_)
                   .Add({})),
        clients_(prometheus::BuildGauge()
                     .Name("ef21_clients")
                     .Help("Number of clients n of the run.")
                     .Register(*registry_)
                     .Add({})),
        diagnostics_every_(
            prometheus::BuildGauge()
                .Name("ef21_diagnostics_every")
                .Help("Rounds between diagnostic rounds (dense gradient uploads for the gradient "
                      "norm), as "
                      "in effect: --diagnostics-every or its default for the model's size.")
                .Register(*registry_)
                .Add({})),
        connected_workers_(prometheus::BuildGauge()
                               .Name("ef21_connected_workers")
                               .Help("Workers with an open Train stream.")
                               .Register(*registry_)
                               .Add({})),
        uplink_bytes_(
            prometheus::BuildCounter()
                .Name("ef21_uplink_bytes_total")
                .Help("Wire bytes of the algorithm part of accepted updates, all clients.")
                .Register(*registry_)
                .Add({})),
        uplink_diagnostic_bytes_(
            prometheus::BuildCounter()
                .Name("ef21_uplink_diagnostic_bytes_total")
                .Help(
                    "Wire bytes of diagnostics (loss, gradients) in accepted updates, all clients.")
                .Register(*registry_)
                .Add({})),
        downlink_bytes_(prometheus::BuildCounter()
                            .Name("ef21_downlink_bytes_total")
                            .Help("Wire bytes of every message sent to workers.")
                            .Register(*registry_)
                            .Add({})),
        downlink_messages_family_(prometheus::BuildCounter()
                                      .Name("ef21_downlink_messages_total")
                                      .Help("RoundStart messages sent to worker hosts, by kind: "
                                            "dense x, resync (x and g), delta.")
                                      .Register(*registry_)),
        client_uplink_family_(
            prometheus::BuildCounter()
                .Name("ef21_client_uplink_bytes_total")
                .Help(
                    "Wire bytes of the algorithm part of accepted updates, per client; only while "
                    "the run has few clients.")
                .Register(*registry_)),
        paper_bytes_(prometheus::BuildCounter()
                         .Name("ef21_paper_bytes_total")
                         .Help("Communicated bits in the paper's convention / 8, all clients.")
                         .Register(*registry_)
                         .Add({})),
        paper_bytes_per_client_(
            prometheus::BuildGauge()
                .Name("ef21_paper_bytes_per_client")
                .Help("Cumulative communicated bits per client in the paper's convention / 8 "
                      "(metrics.csv paper_bits_per_client / 8).")
                .Register(*registry_)
                .Add({})),
        uplink_bytes_per_client_(prometheus::BuildGauge()
                                     .Name("ef21_uplink_bytes_per_client")
                                     .Help("Cumulative uplink wire bytes per client (metrics.csv "
                                           "uplink_bytes_per_client).")
                                     .Register(*registry_)
                                     .Add({})),
        downlink_bytes_per_client_(prometheus::BuildGauge()
                                       .Name("ef21_downlink_bytes_per_client")
                                       .Help("Cumulative downlink wire bytes per client "
                                             "(metrics.csv downlink_bytes_per_client).")
                                       .Register(*registry_)
                                       .Add({})),
        g_norm_(prometheus::BuildGauge()
                    .Name("ef21_g_norm")
                    .Help("Norm of the aggregated estimator g^t of the last closed round.")
                    .Register(*registry_)
                    .Add({})),
        grad_norm_(prometheus::BuildGauge()
                       .Name("ef21_grad_norm")
                       .Help("Norm of the full gradient at x^t of the last round with diagnostics.")
                       .Register(*registry_)
                       .Add({})),
        loss_(prometheus::BuildGauge()
                  .Name("ef21_loss")
                  .Help("Loss f(x^t) of the last closed round.")
                  .Register(*registry_)
                  .Add({})),
        train_accuracy_(prometheus::BuildGauge()
                            .Name("ef21_train_accuracy")
                            .Help("Classifiers: accuracy over the clients' diagnostic rows at x^t "
                                  "of the last round with diagnostics.")
                            .Register(*registry_)
                            .Add({})),
        test_loss_(prometheus::BuildGauge()
                       .Name("ef21_test_loss")
                       .Help("Classifiers: loss over the test rows at x^t of the last round with "
                             "diagnostics.")
                       .Register(*registry_)
                       .Add({})),
        test_accuracy_(
            prometheus::BuildGauge()
                .Name("ef21_test_accuracy")
                .Help("Classifiers: accuracy over the test rows at x^t of the last round "
                      "with diagnostics.")
                .Register(*registry_)
                .Add({})),
        stepsize_(prometheus::BuildGauge()
                      .Name("ef21_stepsize")
                      .Help("Stepsize used to leave x^t in the last closed round.")
                      .Register(*registry_)
                      .Add({})),
        round_duration_(prometheus::BuildHistogram()
                            .Name("ef21_round_duration_seconds")
                            .Help("Time from the start of a round (0..K) to its close, without the "
                                  "time spent waiting for a worker "
                                  "(ef21_waiting_for_workers_seconds_total).")
                            .Register(*registry_)
                            .Add({}, DurationBuckets())),
        waiting_(prometheus::BuildCounter()
                     .Name("ef21_waiting_for_workers_seconds_total")
                     .Help("Wall time the open round could not progress because a client had "
                           "neither sent its update nor a live worker stream (at the start: "
                           "until every worker attached).")
                     .Register(*registry_)
                     .Add({})),
        rejected_family_(prometheus::BuildCounter()
                             .Name("ef21_rejected_messages_total")
                             .Help("Messages refused by the aggregator, by reason.")
                             .Register(*registry_)),
        duplicates_(prometheus::BuildCounter()
                        .Name("ef21_duplicate_updates_total")
                        .Help("Updates ignored because the client already sent one this round.")
                        .Register(*registry_)
                        .Add({})),
        audit_family_(prometheus::BuildCounter()
                          .Name("ef21_audit_events_total")
                          .Help("Audit log events (attach, detach, refusal, ...), by event.")
                          .Register(*registry_)) {
    prometheus::BuildGauge()
        .Name("ef21_build_info")
        .Help("Build of the aggregator; the value is always 1.")
        .Register(*registry_)
        .Add({{"version", kVersion}})
        .Set(1);
    clients_.Set(static_cast<double>(options.clients));
    diagnostics_every_.Set(static_cast<double>(options.diagnostics_every));
    for (DownlinkKind kind : AllEnumValues<DownlinkKind>()) {
      downlink_messages_[static_cast<size_t>(kind)] =
          &downlink_messages_family_.Add({{"kind", EnumName(kind)}});
    }
    for (size_t i = 0; i < kRejectionReasonNames.size(); ++i) {
      rejected_[i] = &rejected_family_.Add({{"reason", kRejectionReasonNames.names()[i]}});
    }
    for (size_t i = 0; i < kAuditEventKindNames.size(); ++i) {
      audit_[i] = &audit_family_.Add({{"event", kAuditEventKindNames.names()[i]}});
    }
    if (options.clients <= options.per_client_bound) {
      client_uplink_.reserve(static_cast<size_t>(options.clients));
      for (int64_t i = 0; i < options.clients; ++i) {
        client_uplink_.push_back(&client_uplink_family_.Add({{"client", absl::StrCat(i)}}));
      }
    }
  }

  void set_exposer(std::unique_ptr<prometheus::Exposer> exposer) {
    exposer_ = std::move(exposer);
    port_ = exposer_->GetListeningPorts().at(0);
  }

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  int port() const override { return port_; }

  void OnRoundClosed(const MetricsRow& row, const CommTotals& totals,
                     double duration_seconds) override {
    if (row.round > 0) rounds_completed_.Increment();
    round_duration_.Observe(duration_seconds);
    paper_bytes_per_client_.Set(row.paper_bits_per_client / 8);
    uplink_bytes_per_client_.Set(row.uplink_bytes_per_client);
    downlink_bytes_per_client_.Set(row.downlink_bytes_per_client);
    g_norm_.Set(row.g_norm);
    loss_.Set(row.loss);
    stepsize_.Set(row.stepsize);
    // nan: no diagnostics this round; the gauge keeps the last measured norm.
    if (std::isfinite(row.grad_norm)) grad_norm_.Set(row.grad_norm);
    // Classifiers only, on diagnostic rounds; the gauges stay absent (0) for other problems.
    if (std::isfinite(row.train_accuracy)) train_accuracy_.Set(row.train_accuracy);
    if (std::isfinite(row.test_loss)) test_loss_.Set(row.test_loss);
    if (std::isfinite(row.test_accuracy)) test_accuracy_.Set(row.test_accuracy);
    absl::MutexLock lock(&mu_);
    if (totals.paper_bits > last_paper_bits_) {
      paper_bytes_.Increment(static_cast<double>(totals.paper_bits - last_paper_bits_) / 8);
      last_paper_bits_ = totals.paper_bits;
    }
  }

  void OnUpdateAccepted(int64_t client, int64_t algorithm_bytes,
                        int64_t diagnostic_bytes) override {
    uplink_bytes_.Increment(static_cast<double>(algorithm_bytes));
    uplink_diagnostic_bytes_.Increment(static_cast<double>(diagnostic_bytes));
    if (client >= 0 && client < static_cast<int64_t>(client_uplink_.size())) {
      client_uplink_[static_cast<size_t>(client)]->Increment(static_cast<double>(algorithm_bytes));
    }
  }

  bool per_client() const override { return !client_uplink_.empty(); }

  void OnDownlinkBytes(int64_t bytes) override {
    downlink_bytes_.Increment(static_cast<double>(bytes));
  }

  void OnRoundStartSent(DownlinkKind kind) override {
    downlink_messages_[static_cast<size_t>(kind)]->Increment();
  }

  void OnRejected(RejectionReason reason) override {
    rejected_[static_cast<size_t>(reason)]->Increment();
  }

  void OnDuplicate() override { duplicates_.Increment(); }

  void AddWaitingSeconds(double seconds) override {
    if (seconds > 0) waiting_.Increment(seconds);
  }

  void OnAuditEvent(AuditEventKind event) override {
    audit_[static_cast<size_t>(event)]->Increment();
  }

  void SetConnectedWorkers(int64_t workers) override {
    connected_workers_.Set(static_cast<double>(workers));
  }

  void SetRound(uint64_t round) override { round_.Set(static_cast<double>(round)); }

  std::string Render() const override { return RenderMetrics(*registry_); }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  // Handles into registry_; prometheus-cpp metrics are thread-safe.
  prometheus::Counter& rounds_completed_;
  prometheus::Gauge& round_;
  prometheus::Gauge& clients_;
  prometheus::Gauge& diagnostics_every_;
  prometheus::Gauge& connected_workers_;
  prometheus::Counter& uplink_bytes_;
  prometheus::Counter& uplink_diagnostic_bytes_;
  prometheus::Counter& downlink_bytes_;
  prometheus::Family<prometheus::Counter>& downlink_messages_family_;
  prometheus::Counter* downlink_messages_[kDownlinkKinds] = {};
  prometheus::Family<prometheus::Counter>& client_uplink_family_;
  prometheus::Counter& paper_bytes_;
  prometheus::Gauge& paper_bytes_per_client_;
  prometheus::Gauge& uplink_bytes_per_client_;
  prometheus::Gauge& downlink_bytes_per_client_;
  prometheus::Gauge& g_norm_;
  prometheus::Gauge& grad_norm_;
  prometheus::Gauge& loss_;
  prometheus::Gauge& train_accuracy_;
  prometheus::Gauge& test_loss_;
  prometheus::Gauge& test_accuracy_;
  prometheus::Gauge& stepsize_;
  prometheus::Histogram& round_duration_;
  prometheus::Counter& waiting_;
  prometheus::Family<prometheus::Counter>& rejected_family_;
  prometheus::Counter& duplicates_;
  prometheus::Family<prometheus::Counter>& audit_family_;
  // Indexed by client; empty when the run has more clients than the per-client bound.
  std::vector<prometheus::Counter*> client_uplink_;
  // Indexed by RejectionReason: every reason's series exists from the start.
  std::array<prometheus::Counter*, kRejectionReasonNames.size()> rejected_{};
  // Indexed by AuditEventKind.
  std::array<prometheus::Counter*, kAuditEventKindNames.size()> audit_{};

  absl::Mutex mu_;
  int64_t last_paper_bits_ ABSL_GUARDED_BY(mu_) = 0;

  // Declared after the registry it serves, so it stops serving before the registry goes away.
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AggregatorMetrics>> AggregatorMetrics::Start(
    const Options& options) {
  if (options.clients < 0 || options.per_client_bound < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics need clients >= 0 and per_client_bound >= 0, got clients = ", options.clients,
        " and per_client_bound = ", options.per_client_bound));
  }
  auto metrics = std::make_unique<AggregatorMetricsImpl>(options);
  if (!options.listen.empty()) {
    EF21_ASSIGN_OR_RETURN(std::unique_ptr<prometheus::Exposer> exposer,
                          ServeMetrics(options.listen, metrics->registry()));
    metrics->set_exposer(std::move(exposer));
  }
  return metrics;
}

}  // namespace ef21
