#include "client/worker_metrics.h"

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/base/status_macros.h"
#include "common/base/version.h"
#include "metrics/metrics_endpoint.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ef21 {
namespace {

class WorkerMetricsImpl final : public WorkerMetrics {
 public:
  WorkerMetricsImpl()
      : registry_(std::make_shared<prometheus::Registry>()),
        compute_seconds_(prometheus::BuildHistogram()
                             .Name("ef21_worker_compute_seconds")
                             .Help("Compute time of one round, all hosted clients together.")
                             .Register(*registry_)
                             .Add({}, DurationBuckets())),
        bytes_sent_(prometheus::BuildCounter()
                        .Name("ef21_worker_bytes_sent_total")
                        .Help("Serialized bytes of every message sent to the aggregator.")
                        .Register(*registry_)
                        .Add({})),
        bytes_received_(prometheus::BuildCounter()
                            .Name("ef21_worker_bytes_received_total")
                            .Help("Serialized bytes of every message received from the aggregator.")
                            .Register(*registry_)
                            .Add({})),
        reconnects_(prometheus::BuildCounter()
                        .Name("ef21_worker_reconnects_total")
                        .Help("Times the worker reconnected to the aggregator.")
                        .Register(*registry_)
                        .Add({})),
        rounds_(prometheus::BuildCounter()
                    .Name("ef21_worker_rounds_total")
                    .Help("Rounds computed by this worker.")
                    .Register(*registry_)
                    .Add({})),
        clients_(prometheus::BuildGauge()
                     .Name("ef21_worker_clients")
                     .Help("Logical clients hosted by this worker.")
                     .Register(*registry_)
                     .Add({})) {
    prometheus::BuildGauge()
        .Name("ef21_build_info")
        .Help("Build of the worker; the value is always 1.")
        .Register(*registry_)
        .Add({{"version", kVersion}})
        .Set(1);
  }

  void set_exposer(std::unique_ptr<prometheus::Exposer> exposer) {
    exposer_ = std::move(exposer);
    port_ = exposer_->GetListeningPorts().at(0);
  }

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  int port() const override { return port_; }

  void OnRoundComputed(double seconds) override {
    rounds_.Increment();
    compute_seconds_.Observe(seconds);
  }

  void OnBytesSent(int64_t bytes) override { bytes_sent_.Increment(static_cast<double>(bytes)); }

  void OnBytesReceived(int64_t bytes) override {
    bytes_received_.Increment(static_cast<double>(bytes));
  }

  void OnReconnect() override { reconnects_.Increment(); }

  void SetClients(int64_t clients) override { clients_.Set(static_cast<double>(clients)); }

  std::string Render() const override { return RenderMetrics(*registry_); }

 private:
  const std::shared_ptr<prometheus::Registry> registry_;
  // Handles into registry_; prometheus-cpp metrics are thread-safe.
  prometheus::Histogram& compute_seconds_;
  prometheus::Counter& bytes_sent_;
  prometheus::Counter& bytes_received_;
  prometheus::Counter& reconnects_;
  prometheus::Counter& rounds_;
  prometheus::Gauge& clients_;
  // Declared after the registry it serves, so it stops serving before the registry goes away.
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WorkerMetrics>> WorkerMetrics::Start(const Options& options) {
  auto metrics = std::make_unique<WorkerMetricsImpl>();
  if (!options.listen.empty()) {
    EF21_ASSIGN_OR_RETURN(std::unique_ptr<prometheus::Exposer> exposer,
                          ServeMetrics(options.listen, metrics->registry()));
    metrics->set_exposer(std::move(exposer));
  }
  return metrics;
}

}  // namespace ef21
