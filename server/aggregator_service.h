// The ef21.v1.Aggregator gRPC service (callback API). Each Train stream gets one reactor that
// parses and validates what a worker sends — everything a message can get wrong on its own —
// and hands attaches and decoded update batches to the RoundCoordinator; it never blocks. A bad
// message ends its stream with a precise status (and ef21_rejected_messages_total{reason}); the
// coordinator's state is left unchanged and the other streams go on. Outgoing messages are queued
// with one write in flight per stream.
//
// Every stream's trailing metadata carries the run id under kRunIdMetadataKey (proto/codec.h), so
// a worker refused after an aggregator restart can say which run replaced its own.
//
// Thread-safety: thread-safe (gRPC calls it from its own threads).
#ifndef EF21_SERVER_AGGREGATOR_SERVICE_H_
#define EF21_SERVER_AGGREGATOR_SERVICE_H_

#include "ef21/v1/ef21.grpc.pb.h"
#include "proto/codec.h"
#include "server/aggregator_metrics.h"
#include "server/round_coordinator.h"

namespace ef21 {

class AggregatorService final : public v1::Aggregator::CallbackService {
 public:
  // Neither is owned; both outlive the service's server.
  AggregatorService(RoundCoordinator* coordinator, AggregatorMetrics* metrics)
      : coordinator_(coordinator), metrics_(metrics) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::ServerMessage>* Train(
      grpc::CallbackServerContext* context) override;

 private:
  RoundCoordinator* coordinator_;
  AggregatorMetrics* metrics_;
};

}  // namespace ef21

#endif  // EF21_SERVER_AGGREGATOR_SERVICE_H_
