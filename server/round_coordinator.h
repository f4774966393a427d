// The round coordinator: the one owner of a federated run's state — x, g (through ServerMethod),
// the aggregator's copy of every g_i, the open round and its pending updates. Train streams hand
// it decoded updates; it enforces exactly-once per (client, round), and when all n updates of the
// open round are in, a closer thread applies them in ascending client id, appends the metrics.csv
// row (the same functions as the simulator, so the rows agree bit for bit) and broadcasts the next
// RoundStart, or Finish after round K.
//
// Thread-safety: thread-safe. Attach/Submit/Detach are called from gRPC reactors and only take a
// short mutex; no call waits for I/O or for another stream. Lock order: coordinator, then a
// stream's own lock (StreamSink::Send is called with the coordinator's lock held).
#ifndef EF21_SERVER_ROUND_COORDINATOR_H_
#define EF21_SERVER_ROUND_COORDINATOR_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/methods/method.h"
#include "common/run/run_config.h"
#include "common/run/run_log.h"
#include "ef21/v1/ef21.pb.h"
#include "server/aggregator_metrics.h"

namespace ef21 {

// The sending half of a Train stream, as the coordinator sees it.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues a message for the stream; never blocks. After Finish the stream ends with OK once the
  // queue is written.
  virtual void Send(std::shared_ptr<const v1::ServerMessage> message) = 0;
  virtual void FinishAfterQueue() = 0;
};

// One client's update, decoded and validated on its own by the stream that received it.
struct DecodedUpdate {
  uint64_t round = 0;
  int64_t client = 0;
  SparseVector c;
  double loss = 0.0;
  Vector gradient;  // ∇f_i(x^r) on diagnostic rounds, else empty
  uint64_t digest = 0;
  int64_t algorithm_bytes = 0;
  int64_t diagnostic_bytes = 0;
};

class RoundCoordinator {
 public:
  struct Options {
    std::shared_ptr<const MethodContext> context;
    RunConfig config;                       // the run as Welcome describes it to workers
    Vector x0;
    RunLog* log = nullptr;                  // not owned; rows are appended as rounds close
    AggregatorMetrics* metrics = nullptr;   // not owned, may be null
    std::string run_id;
    // Called on the closer thread after each round with its metrics row.
    std::function<void(const MetricsRow&)> observer;
  };

  static absl::StatusOr<std::unique_ptr<RoundCoordinator>> Create(Options options);
  ~RoundCoordinator();

  // Registers `sink` as carrying `attach`'s clients and queues Welcome and the open round's
  // RoundStart on it (in that order, before any later broadcast). Refuses, changing nothing:
  // INVALID_ARGUMENT (no ids, an id out of range or repeated), FAILED_PRECONDITION (another run,
  // another problem or data, the run is over), ABORTED (an id attached on another live stream),
  // UNAVAILABLE (shutting down). *reason gets a snake_case label of a refusal.
  absl::Status Attach(StreamSink* sink, const v1::Attach& attach, const char** reason);

  // Accepts a batch of updates from `sink`, all or nothing. Exact resends of accepted updates are
  // ignored and counted in *duplicates. Refuses, changing nothing: PERMISSION_DENIED (a client not
  // attached on this stream), FAILED_PRECONDITION (a stale or future round, a different update for
  // an accepted (client, round), the run is over). Swaps the accepted updates' storage with the
  // coordinator's, so `updates` come back holding reusable buffers.
  absl::Status Submit(StreamSink* sink, absl::Span<DecodedUpdate> updates, int* duplicates,
                      const char** reason);

  // The stream is gone: its clients may attach elsewhere. Idempotent.
  void Detach(StreamSink* sink);

  // Stops the run: no further round closes; every stream gets Finish{stopped, reason}.
  void Stop(const std::string& reason);

  // Waits until the run is complete or stopped; false on timeout.
  bool WaitDone(absl::Duration timeout);
  // OK when complete, CANCELLED when stopped, the error that ended it otherwise.
  absl::Status status() const;
  bool complete() const;

  // Waits until at least `count` updates of the open round are in, or the run is done; false on
  // timeout. For tests that must know the state is settled.
  bool WaitForReceived(int64_t count, absl::Duration timeout);

  // Rounds closed so far.
  uint64_t rounds_closed() const;
  int64_t connected_streams() const;
  // A hash of x, g, every g_i copy, the open round and the pending updates, for tests: a refused
  // message must leave it unchanged.
  uint64_t StateHash() const;

  const MethodContext& context() const { return *context_; }
  const std::string& run_id() const { return run_id_; }

 private:
  explicit RoundCoordinator(Options options);

  void CloserLoop();
  // Closes the open round (all n updates in). Returns the message to broadcast next.
  std::shared_ptr<const v1::ServerMessage> CloseRoundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const v1::ServerMessage> MakeRoundStartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const v1::ServerMessage> MakeFinishLocked(bool stopped, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BroadcastLocked(const std::shared_ptr<const v1::ServerMessage>& message, bool finish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetDoneLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct ClientSlot {
    Vector g;                        // the aggregator's copy of g_i (after the last closed round)
    bool ever_received = false;      // g is meaningful
    StreamSink* sink = nullptr;      // the live stream carrying the client
    bool received = false;           // its update for the open round is in
    int64_t last_round = -1;         // round of its last accepted update
    uint64_t last_digest = 0;
    DecodedUpdate pending;           // the open round's update
  };

  const std::shared_ptr<const MethodContext> context_;
  const std::string run_id_;
  RunLog* const log_;
  AggregatorMetrics* const metrics_;
  const std::function<void(const MetricsRow&)> observer_;
  std::vector<double> probe_losses_;  // f_i(p) of every client, the data fingerprint
  v1::RunSpec spec_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // round complete, stop, done
  std::unique_ptr<ServerMethod> server_ ABSL_GUARDED_BY(mu_);
  std::vector<ClientSlot> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<StreamSink*> sinks_ ABSL_GUARDED_BY(mu_);
  int64_t received_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rounds_closed_ ABSL_GUARDED_BY(mu_) = 0;
  CommTotals totals_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const v1::ServerMessage> open_round_start_ ABSL_GUARDED_BY(mu_);
  double started_ ABSL_GUARDED_BY(mu_) = 0.0;
  double round_started_ ABSL_GUARDED_BY(mu_) = 0.0;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::string stop_reason_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  // Scratch of the closer.
  std::vector<const SparseVector*> by_client_;
  std::vector<double> losses_;
  std::vector<const Vector*> gradients_;
  Vector scratch_;

  std::thread closer_;
};

}  // namespace ef21

#endif  // EF21_SERVER_ROUND_COORDINATOR_H_
