#include "metrics/metrics_endpoint.h"

#include <exception>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace ef21 {
namespace {

// Connections served at once, and how long one may take to send its request.
constexpr int kMetricsThreads = 4;
constexpr int kMetricsRequestTimeoutMs = 2000;

}  // namespace

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetrics(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry) {
  // civetweb reports every failure as the same exception, so the address is checked here first
  // to tell bad input from an unavailable port.
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics listen address \"", listen, "\" is not host:port with a port in [0, 65535]"));
  }
  const std::string bind = colon == 0 ? listen.substr(1) : listen;
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb gives each connection a thread until its request is read: without a timeout, a
    // few half-sent requests block every scrape for civetweb's default 30 s.
    exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", bind, "num_threads", std::to_string(kMetricsThreads),
        "request_timeout_ms", std::to_string(kMetricsRequestTimeoutMs)});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen,
                                               " (port in use or address not local): ", e.what()));
  }
  exposer->RegisterCollectable(registry);
  return exposer;
}

std::string RenderMetrics(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

prometheus::Histogram::BucketBoundaries DurationBuckets() {
  prometheus::Histogram::BucketBoundaries bounds;
  double bound = 1e-4;
  for (int i = 0; i <= 20; ++i, bound *= 2) bounds.push_back(bound);
  return bounds;
}

}  // namespace ef21
