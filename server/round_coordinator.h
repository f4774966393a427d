// The round coordinator: the one owner of a federated run's state — x, g (through ServerMethod),
// the aggregator's copy of every g_i (or, with --client-state=worker, only each g_i's state hash:
// ChainClientState, O(n) instead of O(n·d)), the open round and its pending updates. Train streams
// hand it decoded updates; it enforces exactly-once per (client, round), and when the updates of
// all the open round's participants are in (all n clients; with --participation < 1 the clients
// drawn for the round, common/methods/participation.h, and an update from any other is refused), it
// is closed with the simulator's own RoundCloser (so the rows agree bit for bit) and the next
// RoundStart broadcast — by the Submit that completed it, on its stream's thread, or by the closer
// thread when the close must wait for I/O (a row still being written, a checkpoint due, the last
// round, a stop, --client-state=worker) — and only then, on the closer thread with the lock
// released, the metrics.csv row is appended and the observer called; Finish follows round K's row.
//
// Thread-safety: thread-safe. Attach/Submit/Detach are called from gRPC reactors and only take a
// short mutex (a Submit closing a round holds it for the close's computation, as the closer
// does); nothing holds it across I/O (the disk, the observer) or waits for another stream.
// Lock order: coordinator, then a stream's own lock (StreamSink::Send is called with the
// coordinator's lock held, and only queues).
#ifndef EF21_SERVER_ROUND_COORDINATOR_H_
#define EF21_SERVER_ROUND_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/methods/method.h"
#include "common/run/downlink.h"
#include "common/run/round_close.h"
#include "common/run/run_config.h"
#include "common/run/run_log.h"
#include "ef21/v1/ef21.pb.h"
#include "proto/codec.h"
#include "server/aggregator_metrics.h"
#include "server/audit_log.h"
#include "server/checkpoint.h"

namespace ef21 {

// Who is at the other end of a Train stream, for the audit log.
struct StreamInfo {
  std::string peer;      // gRPC peer address
  std::string identity;  // authenticated identity ("" without TLS)
  std::string worker;    // Attach.worker_name, cut to a sane length
};

// The sending half of a Train stream, as the coordinator sees it.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Queues a message for the stream; never blocks. After Finish the stream ends with OK once the
  // queue is written.
  virtual void Send(std::shared_ptr<const v1::ServerMessage> message) = 0;
  // Queues a message given as its serialized bytes (a RoundStart written straight from x or the
  // round's sum: WriteDenseRoundStart, WriteDeltaRoundStart), returning what keeps them alive for
  // the stream. The default parses them and Sends the message.
  virtual std::shared_ptr<const void> SendBytes(std::shared_ptr<const std::string> bytes);
  virtual void FinishAfterQueue() = 0;
  // Ends the stream now with `status`, dropping what is queued; never blocks.
  virtual void Abort(const absl::Status& status) = 0;
  virtual const StreamInfo& info() const = 0;
};

// The open round's point, prepared once, for checking what workers report about it. It borrows
// x^r from the coordinator's server (EvalPoint): no copy of x (RoundCoordinator::WithOpenPoint).
struct OpenPoint {
  uint64_t round = 0;
  bool diagnostics = false;
  EvalPoint point;
};

// A batch's partial sum of diagnostic gradients (WorkerMessage.gradient_sums), decoded and
// checked on its own: a node of the client tree (common/run/gradient_tree.h) of level >= 1, d
// finite values, the round of the updates it covers.
struct DecodedGradientSum {
  TreeNode node;
  uint64_t round = 0;
  Vector values;
  int64_t wire_bytes = 0;  // as an element of WorkerMessage.gradient_sums (diagnostic bytes)
};

class RoundCoordinator {
 public:
  struct Options {
    std::shared_ptr<const MethodContext> context;
    RunConfig config;  // the run as Welcome describes it to workers
    Vector x0;
    RunLog* log = nullptr;                 // not owned; rows are appended as rounds close
    AggregatorMetrics* metrics = nullptr;  // not owned, may be null
    std::string run_id;
    // Called on the closer thread after each round with its metrics row (without the lock held,
    // after the row is appended to the log).
    std::function<void(const MetricsRow&)> observer;
    // Checkpoints (server/checkpoint.h) at this path: at the start, after every
    // `checkpoint_every_rounds` closed rounds and/or once `checkpoint_every_seconds` passed since
    // the last one (0: not by that measure), after the last round, and on Stop(). "" takes none.
    // A periodic checkpoint is written after its round's row, with the lock released; the next
    // RoundStart (marked `checkpointed`) is broadcast only once it is on disk.
    std::string checkpoint_path;
    int64_t checkpoint_every_rounds = 0;
    double checkpoint_every_seconds = 0.0;
    // Continue from this checkpoint (its configuration, data and plan checked by the caller):
    // same run id, its round open, every g_i as it was. A complete one is served as finished.
    std::optional<AggregatorCheckpoint> resume;
    AuditLog* audit = nullptr;  // not owned, may be null
    // A round open this long detaches the streams of clients that have not answered, freeing
    // their ids for their owners (the round still waits for every id). Zero: never.
    absl::Duration round_timeout = absl::ZeroDuration();
    // Clients no stream carries are reported (audit event unassigned_clients) once a round has
    // waited this long for them, and again every 30 s while it lasts.
    absl::Duration coverage_report_after = absl::Seconds(5);
    // The largest |entry| an aggregator copy of g_i may reach (and, checked by the service, an
    // entry of c_i): an update that would take a g_i past it, or out of the finite range, is
    // refused when its round would close, naming the client.
    double max_abs_value = 1e30;
  };

  // What checkpoints cost so far (for logs and benchmarks).
  struct CheckpointStats {
    int64_t count = 0;
    int64_t bytes = 0;           // size of the last one
    double total_seconds = 0.0;  // snapshot + encode + write + fsync + rename
    double max_seconds = 0.0;
  };

  // Writes the first checkpoint of a fresh run before it returns.
  static absl::StatusOr<std::unique_ptr<RoundCoordinator>> Create(Options options);
  ~RoundCoordinator();

  // Registers `sink` as carrying `attach`'s clients and queues Welcome and the open round's
  // RoundStart on it (in that order, before any later broadcast). Refuses, changing nothing:
  // INVALID_ARGUMENT (no ids, an id out of range or repeated), FAILED_PRECONDITION (another run,
  // another problem or data, the run is over), ABORTED (an id attached by another worker, on a live
  // stream), UNAVAILABLE (shutting down). On a refusal *reason says which check refused.
  absl::Status Attach(StreamSink* sink, const v1::Attach& attach, RejectionReason* reason);

  // Accepts a batch of updates from `sink`, all or nothing, and closes the round if the batch
  // completed it and nothing the closer thread does must come first. Exact resends of accepted
  // updates are ignored and counted in *duplicates. Refuses, changing nothing: PERMISSION_DENIED (a
  // client not attached on this stream), FAILED_PRECONDITION (a stale or future round, a different
  // update for an accepted (client, round), a client not drawn for the open round, the run is
  // over), with *reason set. Swaps the accepted updates' storage with the coordinator's, so
  // `updates` come back holding the slots' earlier buffers (empty once their round closed: an
  // applied message's storage is released at the close). `sums`: the batch's gradient sums (the
  // stream checked that each covers updates of the batch that carry no gradient): kept until the
  // round closes, unless the updates they cover are all exact resends (then ignored); a sum over
  // resends and new updates at once is refused.
  absl::Status Submit(StreamSink* sink, absl::Span<DecodedUpdate> updates, int* duplicates,
                      RejectionReason* reason, absl::Span<DecodedGradientSum> sums = {});

  // Submit's checks alone, changing nothing: lets the stream run expensive checks (recomputing
  // diagnostics) only on a batch the coordinator would take.
  absl::Status Precheck(StreamSink* sink, absl::Span<const DecodedUpdate> updates,
                        RejectionReason* reason) const;

  // Calls `f` with the open round's prepared point if round `round` is open (and the run is not
  // over), x^r held unchanged meanwhile: the round closer steps x only once no `f` runs (it waits
  // for the one running, so keep `f` short: one client's check). Returns whether it called `f`.
  // Called without the coordinator's lock (it takes it briefly).
  bool WithOpenPoint(uint64_t round, absl::FunctionRef<void(const OpenPoint&)> f) const;

  // The stream is gone: its clients may attach elsewhere. Idempotent.
  void Detach(StreamSink* sink);

  // Stops the run: no further round closes; every stream gets Finish{stopped, reason}. With a
  // checkpoint path, the open round is checkpointed first (without its pending updates), so a
  // restarted aggregator continues from here. When a
  // closed round's row is being written, it is written first (and when that round was the last,
  // the run completes instead). Returns once the run is done, except on the closer thread (from
  // the observer), where it returns at once and the run ends after the observer.
  void Stop(const std::string& reason);

  // Waits until the run is complete or stopped; false on timeout.
  bool WaitDone(absl::Duration timeout);
  // OK when complete, CANCELLED when stopped, the error that ended it otherwise.
  absl::Status status() const;
  bool complete() const;

  // Waits until at least `count` updates of the open round are in, or the run is done; false on
  // timeout. For tests that must know the state is settled.
  bool WaitForReceived(int64_t count, absl::Duration timeout);

  // Waits until no live stream carries `client` (its stream was detached), or the run is done;
  // false on timeout. For tests that attach a client again after its stream ended.
  bool WaitForDetached(int64_t client, absl::Duration timeout);

  // Rounds closed so far, counting round 0: metrics.csv has this many rows (t = 0..count-1).
  uint64_t rounds_closed() const;
  // Seconds the open round could not progress because a client had neither sent its update nor
  // a live stream (at the start: until every worker attached), summed over the run so far.
  double waiting_seconds() const;
  CheckpointStats checkpoint_stats() const;
  // Whether this coordinator continued a checkpointed run.
  bool resumed() const { return resumed_; }
  // A hash of x, g, every g_i copy, the open round and the pending updates, for tests: a refused
  // message must leave it unchanged.
  uint64_t StateHash() const;

  const MethodContext& context() const { return *context_; }
  const std::string& run_id() const { return run_id_; }
  // Σ_i f_i(p) over all clients: the probe fingerprint a checkpoint records (NaN without data).
  double fingerprint() const { return fingerprint_; }
  // CombineDataDigests over every client: the data digest a checkpoint records (with data).
  uint64_t data_digest() const { return data_digest_; }
  // The summary.json fields describing the run (DescribeRun). Without data, the problem's row
  // count and L0, L1, L̃ come from the workers' reports (null until every client reported) and L,
  // the constant of f, which needs all rows together, is null.
  nlohmann::ordered_json DescribeRunForSummary() const;

 private:
  explicit RoundCoordinator(Options options);

  void CloserLoop();
  // Waits for the open round's n updates and closes it: state under the lock, the row's I/O
  // without it. False once the run is done.
  bool CloseNextRoundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a complete round may close on the stream thread whose Submit completed it: not the
  // last round, no checkpoint due, no row being written, not stopping, not --client-state=worker.
  bool InlineCloseAllowedLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Submit's end: closes the open round if it is complete and InlineCloseAllowedLocked, leaving
  // its row (inline_row_) to the closer thread.
  void CloseInlineLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool CloserHasWorkLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Opens the downlink of server_'s open round: forgets the last round's messages and, after
  // round 0, measures the candidates (common/run/downlink.h).
  void OpenDownlinkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a close: server_'s open round is the next one — sets its gauge, opens its downlink and,
  // with `broadcast`, sends its RoundStart (not while a checkpoint must come first).
  void OpenNextRoundLocked(bool broadcast) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The open round's delta RoundStart as its wire bytes, written from the round's sum on first
  // use (WriteDeltaRoundStart: no message holding a copy of the coded sum).
  std::shared_ptr<const std::string> DeltaRoundStartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The open round's dense RoundStart of `kind` (kDense or kResync) as its wire bytes, written
  // from x (and g) unless a stream still holds the last one written.
  std::shared_ptr<const std::string> DenseRoundStartLocked(DownlinkKind kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the open round's RoundStarts (the round changed, or its `checkpointed` mark did).
  void ForgetRoundStartsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the open round's RoundStart of `kind` on sinks_[index], records what it now holds and
  // returns its wire bytes (kept alive by whoever holds them).
  std::shared_ptr<const void> SendRoundStartLocked(size_t index, DownlinkKind kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the open round's RoundStart on every sink, each of the kind --downlink chooses for it.
  void BroadcastRoundStartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const v1::ServerMessage> MakeFinishLocked(bool stopped, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BroadcastLocked(const std::shared_ptr<const v1::ServerMessage>& message, bool finish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetDoneLocked(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Accounts the waiting since the last call and re-evaluates whether the open round waits for a
  // worker. Called whenever a client's stream or the open round changes.
  void UpdateWaitingLocked(double now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The checkpoint of the open round as it stands (no pending updates), without x, g and the g_i
  // copies, which WriteSnapshot encodes from the server and the slots where they are: no d-sized
  // copy (n of them in the aggregator mode).
  struct Snapshot {
    AggregatorCheckpoint checkpoint;      // its x, g and client_g are empty
    std::vector<const Vector*> client_g;  // by client id: slots_[i].g, or an empty vector
  };
  Snapshot SnapshotLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The close of a complete round, state only (under the lock, no I/O): checks, steps x and g,
  // applies the updates, opens the next round and broadcasts its RoundStart unless a checkpoint
  // is due first (*snapshot). False when the run ended (x or g left the finite range).
  bool CloseRoundLocked(MetricsRow* row, std::optional<Snapshot>* snapshot, bool* last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The closed round's I/O, on the closer thread: the row and the observer (lock released), the
  // due checkpoint and then the RoundStart, the run's end after the last round or a Stop. False
  // once the run is done.
  bool FinishCloseLocked(const MetricsRow& row, std::optional<Snapshot> snapshot, bool last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes a snapshot with the server's x and g and the slots' g_i, needing no lock (one writer
  // at a time: the closer, or Stop while the closer is idle; only the closer changes x, g and the
  // g_i copies, so they are as the snapshot found them); *bytes and *seconds tell what it cost.
  absl::Status WriteSnapshot(const Snapshot& snapshot, int64_t* bytes,
                             double* seconds) const ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void RecordCheckpointLocked(uint64_t round, int64_t bytes, double seconds)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a periodic checkpoint is due now that round `round` is open.
  bool CheckpointDueLocked(uint64_t round, double now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Takes the checkpoint's g_i copies (moved out of it).
  void RestoreLocked(AggregatorCheckpoint* checkpoint) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Draws the open round's participants (EF21-PP; everyone with --participation=1) and points the
  // round closer's reports at their pending updates.
  void DrawParticipantsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ValidateBatchLocked(StreamSink* sink, absl::Span<const DecodedUpdate> updates,
                                   RejectionReason* reason) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // --client-state=worker: whether the worker's claim for client `id` lets it resume the open
  // round exactly; if not, *error says why. Changes nothing.
  bool ClaimFitsLocked(int64_t id, const v1::ClientClaim& claim, std::string* error) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `sink` and frees its clients; false if it was not attached.
  bool RemoveSinkLocked(StreamSink* sink) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Refuses the pending updates that would take a g_i copy out of bounds: their streams are
  // aborted and the clients named. Returns how many were refused.
  int RefuseOverflowingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Round deadline and unassigned-client report; returns when to look again.
  absl::Time WatchRoundLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the queued audit events with mu_ released.
  void FlushAuditLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct ClientSlot {
    Vector g;  // the aggregator's copy of g_i (after the last closed round); empty in worker mode
    uint64_t chain = kFreshClientChain;  // worker mode: g_i's state hash after the closed rounds
    bool ever_received = false;          // g is meaningful
    // Every entry of g is known finite and within max_abs_value_ (zero, or an update checked
    // against the bound was applied): the bound check of the next update looks only at the
    // entries it changes. A g restored from a checkpoint is checked in full once.
    bool g_within = true;
    StreamSink* sink = nullptr;  // the live stream carrying the client
    bool received = false;       // its update for the open round is in
    int64_t last_round = -1;     // round of its last accepted update
    uint64_t last_digest = 0;
    DecodedUpdate pending;  // the open round's update
  };

  // The open round's message of `slot` (received), unpacked into unpacked_ if it is packed: valid
  // until the next call. Exclusive: it writes unpacked_.
  const SparseVector& PendingMessageLocked(const ClientSlot& slot) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<const MethodContext> context_;
  const std::string run_id_;
  RunLog* const log_;
  AggregatorMetrics* const metrics_;
  const std::function<void(const MetricsRow&)> observer_;
  const std::string config_json_;
  const std::string checkpoint_path_;
  const int64_t checkpoint_every_rounds_;
  const double checkpoint_every_seconds_;
  const bool resumed_;
  double fingerprint_ = 0.0;
  absl::Status first_checkpoint_;
  std::vector<double> probe_losses_;  // f_i(p) of every client, the data fingerprint
  AuditLog* const audit_;
  const absl::Duration round_timeout_;
  const absl::Duration coverage_report_after_;
  const double max_abs_value_;
  const bool worker_state_;  // --client-state=worker: no g_i copies, state hashes instead
  std::vector<uint64_t> data_digests_;  // Problem::DataDigest of every client (with data)
  uint64_t data_digest_ = 0;            // CombineDataDigests of all of them
  // Whether the aggregator holds the clients' data; without, it relies on the workers' reports.
  const bool has_data_;
  v1::RunSpec spec_;

  mutable absl::Mutex mu_;
  std::unique_ptr<ServerMethod> server_ ABSL_GUARDED_BY(mu_);
  RoundCloser round_closer_ ABSL_GUARDED_BY(mu_);
  std::vector<ClientReport> reports_ ABSL_GUARDED_BY(mu_);  // the slots' pending updates
  // The open round's gradient sums: the first open_sums_count_ entries (the rest keep their
  // storage for the next rounds), and their view for the round closer.
  std::vector<DecodedGradientSum> open_sums_ ABSL_GUARDED_BY(mu_);
  size_t open_sums_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<NodeSum> node_sums_ ABSL_GUARDED_BY(mu_);
  const GradientTree tree_;
  std::vector<ClientSlot> slots_ ABSL_GUARDED_BY(mu_);
  mutable SparseVector unpacked_ ABSL_GUARDED_BY(mu_);  // PendingMessageLocked's
  // What each client's worker reported at attach (kept by an aggregator without data; empty
  // entries: not reported yet).
  std::vector<std::optional<ShardReport>> shard_reports_ ABSL_GUARDED_BY(mu_);
  std::vector<StreamSink*> sinks_ ABSL_GUARDED_BY(mu_);
  // Whether sinks_[i] holds x and g of the last closed round (it may take the next delta).
  std::vector<char> sink_in_sync_ ABSL_GUARDED_BY(mu_);
  int64_t received_ ABSL_GUARDED_BY(mu_) = 0;
  // The open round's participants (1: drawn) and their count, which received_ must reach.
  std::vector<char> participants_ ABSL_GUARDED_BY(mu_);
  int64_t expected_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rounds_closed_ ABSL_GUARDED_BY(mu_) = 0;
  const DownlinkMode downlink_mode_;
  // The open round's RoundStarts as wire bytes, no message holding a copy of x or of the coded
  // sum. The delta (null until first needed) is kept for the round (an aggregator keeping memory
  // low forgets it once every stream has it queued); the dense kinds (8·d bytes of x, 16·d with g)
  // only while some stream still holds them (dense_round_start_): a later attach writes its own
  // instead of the whole round keeping one.
  std::shared_ptr<const std::string> delta_round_start_ ABSL_GUARDED_BY(mu_);
  std::weak_ptr<const std::string> dense_round_start_[kDownlinkKinds] ABSL_GUARDED_BY(mu_);
  // The dense RoundStart the last attach got, held while more attaches are expected (a client of
  // the open round has no stream yet), so that they share it.
  std::shared_ptr<const void> attach_round_start_ ABSL_GUARDED_BY(mu_);
  DownlinkSizes open_sizes_ ABSL_GUARDED_BY(mu_);
  // A checkpoint with the open round open is on disk (RoundStart.checkpointed).
  bool open_round_checkpointed_ ABSL_GUARDED_BY(mu_) = false;
  // Borrows server_'s x: changed (the round, the point, the step of x) only with point_mu_ held
  // exclusively, read by WithOpenPoint with it held shared. Lock order: mu_, then point_mu_.
  // kNoOpenRound: between a close and the next round's opening (or after the last round).
  static constexpr uint64_t kNoOpenRound = ~uint64_t{0};
  mutable absl::Mutex point_mu_ ABSL_ACQUIRED_AFTER(mu_);
  OpenPoint open_point_ ABSL_GUARDED_BY(point_mu_);
  // Round watch: when the round opened, when the deadline's clock (re)started, the last
  // unassigned-clients report.
  absl::Time round_opened_ ABSL_GUARDED_BY(mu_);
  absl::Time deadline_start_ ABSL_GUARDED_BY(mu_);
  absl::Time last_coverage_report_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_unassigned_ ABSL_GUARDED_BY(mu_);
  std::vector<AuditEvent> audit_queue_ ABSL_GUARDED_BY(mu_);
  double started_ ABSL_GUARDED_BY(mu_) = 0.0;
  double round_started_ ABSL_GUARDED_BY(mu_) = 0.0;
  // The closer is writing a closed round's row (lock released), or has one to write; Stop leaves
  // the end to it.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // A round closed on a stream thread (CloseInlineLocked), whose row, due checkpoint and end of
  // run the closer thread takes.
  std::optional<MetricsRow> inline_row_ ABSL_GUARDED_BY(mu_);
  std::optional<Snapshot> inline_snapshot_ ABSL_GUARDED_BY(mu_);
  bool inline_last_ ABSL_GUARDED_BY(mu_) = false;
  bool waiting_ ABSL_GUARDED_BY(mu_) = true;  // the open round lacks a worker
  double waiting_since_ ABSL_GUARDED_BY(mu_) = 0.0;
  double waited_in_round_ ABSL_GUARDED_BY(mu_) = 0.0;
  double waited_total_ ABSL_GUARDED_BY(mu_) = 0.0;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::string stop_reason_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_checkpoint_round_ ABSL_GUARDED_BY(mu_) = 0;
  double last_checkpoint_time_ ABSL_GUARDED_BY(mu_) = 0.0;
  CheckpointStats checkpoint_stats_ ABSL_GUARDED_BY(mu_);
  absl::Status status_ ABSL_GUARDED_BY(mu_);

  std::thread closer_;
};

}  // namespace ef21

#endif  // EF21_SERVER_ROUND_COORDINATOR_H_
