// The ef21.v1.Aggregator gRPC service (callback API). Each Train stream gets one reactor that
// parses and validates what a worker sends — everything a message can get wrong on its own —
// and hands attaches and decoded update batches to the RoundCoordinator; it never blocks. A bad
// message ends its stream with a precise status (and ef21_rejected_messages_total{reason}); the
// coordinator's state is left unchanged and the other streams go on. Outgoing messages are queued
// with one write in flight per stream.
//
// A stream whose Attach was accepted, or refused for naming another run, carries the run id
// (kRunIdMetadataKey, proto/codec.h) in its trailing metadata so a worker refused after an
// aggregator restart can say which run replaced its own; no other refusal reveals it.
//
// Messages travel as raw bytes on the stream: the reactor parses each WorkerMessage itself, and
// each ServerMessage is serialized once however many streams send it (SerializedMessages), so
// that a dense RoundStart (8·d bytes of x) broadcast to w workers at attach costs one buffer,
// not w.
//
// Diagnostics are checked by recomputation: the loss f_i(x^r) every update reports (and the dense
// ∇f_i(x^r) of diagnostic rounds) is recomputed from the aggregator's own copy of the data and
// must agree to a relative 1e-9, so a worker cannot write made-up values into metrics.csv.
//
// Thread-safety: thread-safe (gRPC calls it from its own threads).
#ifndef EF21_SERVER_AGGREGATOR_SERVICE_H_
#define EF21_SERVER_AGGREGATOR_SERVICE_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/run/gradient_tree.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "proto/codec.h"
#include "server/aggregator_metrics.h"
#include "server/audit_log.h"
#include "server/round_coordinator.h"
#include "server/worker_auth.h"

namespace ef21 {

// What a Train stream does with a batch's gradient sums (WorkerMessage.gradient_sums), in order:
//  1. DecodeGradientSums: each on its own into (*out)[0..n) — a node of `tree` of level >= 1,
//     ascending and disjoint, exactly d finite values;
//  2. UnderGradientSum, per update in ascending client order (`at` starts at 0): whether the
//     update lies under one of the first `count` sums (DecodeUpdate's `summed`);
//  3. CheckGradientSumsCover, once the updates are decoded: each sum comes with the updates of
//     all of its clients, of one round that takes gradients from clients; sets the sums' round.
// Errors are INVALID_ARGUMENT with *reason set (bad_diagnostics, non_finite_value).
absl::Status DecodeGradientSums(absl::Span<const GradientSumView> in, const MethodContext& context,
                                const GradientTree& tree, std::vector<DecodedGradientSum>* out,
                                RejectionReason* reason);
absl::Status DecodeGradientSums(const v1::WorkerMessage& in, const MethodContext& context,
                                const GradientTree& tree, std::vector<DecodedGradientSum>* out,
                                RejectionReason* reason);
bool UnderGradientSum(const GradientTree& tree, const std::vector<DecodedGradientSum>& sums,
                      size_t count, int64_t client, size_t* at);
absl::Status CheckGradientSumsCover(absl::Span<const DecodedUpdate> updates,
                                    const MethodContext& context, const GradientTree& tree,
                                    absl::Span<DecodedGradientSum> sums, RejectionReason* reason);

// The wire bytes of the ServerMessages in flight, serialized once each: a message sent on many
// streams (a broadcast RoundStart) shares one buffer among them. A message's bytes live as long
// as some stream still holds them (queued or being written), and no longer. (RoundStarts do not
// come here: the coordinator writes their bytes itself, StreamSink::SendBytes.) Thread-safe.
class SerializedMessages {
 public:
  std::shared_ptr<const grpc::ByteBuffer> Get(
      const std::shared_ptr<const v1::ServerMessage>& message);

 private:
  struct Entry {
    std::weak_ptr<const v1::ServerMessage> message;
    std::weak_ptr<const grpc::ByteBuffer> bytes;
  };
  absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

class AggregatorService final
    : public v1::Aggregator::WithRawCallbackMethod_Train<v1::Aggregator::Service> {
 public:
  struct Options {
    // Not owned; they outlive the service's server. metrics and audit may be null.
    RoundCoordinator* coordinator = nullptr;
    AggregatorMetrics* metrics = nullptr;
    AuditLog* audit = nullptr;
    // Entries of c_i above this in absolute value are refused (value_too_large).
    double max_abs_value = 1e30;
    // Recompute each reported loss (and diagnostic gradient) and refuse disagreeing ones.
    bool verify_diagnostics = true;
    // Worker identities and the clients each may carry (server/worker_auth.h); null: any stream
    // may attach any client (plaintext, --insecure).
    const WorkerAuthorizer* authorizer = nullptr;
  };

  explicit AggregatorService(Options options) : options_(options) {}

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Train(
      grpc::CallbackServerContext* context) override;

 private:
  const Options options_;
  SerializedMessages serialized_;
};

}  // namespace ef21

#endif  // EF21_SERVER_AGGREGATOR_SERVICE_H_
