// What the aggregator's and the workers' Prometheus metrics share: the HTTP /metrics endpoint and
// the histogram buckets for durations. Library ef21_metrics (prometheus-cpp); server/ and client/
// build their metric families on top of it. Functions are thread-safe.
#ifndef EF21_METRICS_METRICS_ENDPOINT_H_
#define EF21_METRICS_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "prometheus/exposer.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ef21 {

// Serves `registry` on "host:port" (port 0: a free one; empty host: every interface).
// INVALID_ARGUMENT for an address that is not host:port, UNAVAILABLE when it cannot be bound.
// Destroying the exposer takes up to ~2 s (civetweb's shutdown poll). A client gets 2 s to send
// its request, so half-sent requests cannot hold the serving threads.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetrics(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry);

// The text exposition of `registry`, as served on /metrics.
std::string RenderMetrics(prometheus::Registry& registry);

// Buckets from 100 µs to 2^20 · 100 µs ≈ 105 s, doubling, so every quantile of a duration is
// resolved to within a factor of 2.
prometheus::Histogram::BucketBoundaries DurationBuckets();

}  // namespace ef21

#endif  // EF21_METRICS_METRICS_ENDPOINT_H_
