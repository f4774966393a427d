// Prometheus metrics of a worker host, served by prometheus-cpp's exposer. Thread-safe.
// /metrics serves Render() plus prometheus-cpp's exposer_* scrape statistics; destroying an
// instance that serves HTTP takes up to 2 s (civetweb's shutdown poll).
//   ef21_worker_compute_seconds        histogram: compute time of one round (all hosted clients)
//   ef21_worker_bytes_sent_total       counter: serialized bytes of every message sent
//   ef21_worker_bytes_received_total   counter
//   ef21_worker_reconnects_total       counter
//   ef21_worker_rounds_total           counter
//   ef21_worker_clients                gauge: logical clients hosted
//   ef21_build_info{version}           gauge, 1
#ifndef EF21_CLIENT_WORKER_METRICS_H_
#define EF21_CLIENT_WORKER_METRICS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ef21 {

class WorkerMetrics {
 public:
  struct Options {
    std::string listen;  // host:port, "" serves nothing; port 0 picks a free port
  };

  static absl::StatusOr<std::unique_ptr<WorkerMetrics>> Start(const Options& options);
  virtual ~WorkerMetrics() = default;

  virtual int port() const = 0;
  virtual void OnRoundComputed(double seconds) = 0;
  virtual void OnBytesSent(int64_t bytes) = 0;
  virtual void OnBytesReceived(int64_t bytes) = 0;
  virtual void OnReconnect() = 0;
  virtual void SetClients(int64_t clients) = 0;
  virtual std::string Render() const = 0;
};

}  // namespace ef21

#endif  // EF21_CLIENT_WORKER_METRICS_H_
