// A worker host: logical clients A..B of a federated run over one Train stream to the aggregator.
// It builds the problem from its own problem flags, attaches, takes the algorithm configuration
// from Welcome (so it builds the same MethodContext as the aggregator), and on every RoundStart
// learns x^r (dense, or by replaying the last round's exact delta on its own copy of x and g:
// --downlink, common/run/downlink.h), prepares it once, steps every hosted client with the same
// ClientMethod as `ef21 simulate` and sends their updates in one batch.
//
// Failures: when the aggregator is unreachable or the stream breaks, the host reconnects with
// capped exponential backoff with jitter, re-attaches with the run id and resumes from the
// aggregator's state (Welcome): clients whose update for the open round was received skip it, a
// client whose update was lost resends exactly the message it computed, and a process that
// restarted takes back every g_i from the aggregator — or, under --client-state=worker, rebuilds
// it from its --state-dir (client/client_state_log.h) to the state hash Welcome names. An outage
// longer than connect_timeout, a refusal (bad configuration, another problem) or an aggregator that
// restarted with another run end Run() with an error naming the cause.
//
//   EF21_ASSIGN_OR_RETURN(auto host, WorkerHost::Create(options));
//   EF21_ASSIGN_OR_RETURN(WorkerHost::Result result, host->Run());
//
// Thread-safety: Run() is called once, from one thread; Cancel() may be called from any thread.
#ifndef EF21_CLIENT_WORKER_HOST_H_
#define EF21_CLIENT_WORKER_HOST_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client_state_log.h"
#include "client/worker_metrics.h"
#include "client/worker_state.h"
#include "common/base/thread_pool.h"
#include "common/methods/method.h"
#include "common/run/gradient_tree.h"
#include "common/run/run_config.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "proto/codec.h"

namespace ef21 {

class WorkerHost {
 public:
  struct Options {
    // The problem flags (problem .. seed); algorithm fields are ignored and come from Welcome.
    RunConfig problem;
    std::string aggregator;  // host:port
    // When set, called once the problem is built and the clients' reports computed, before the
    // channel exists: it returns the aggregator's host:port, which `aggregator` then need not
    // hold (`ef21 run` starts its workers while its aggregator still loads the data, and hands
    // them the address through a pipe: `ef21 worker --aggregator=-`).
    std::function<absl::StatusOr<std::string>()> await_aggregator;
    int64_t first_client = 0;
    int64_t last_client = 0;  // inclusive
    std::string metrics_listen;
    int64_t threads = 1;  // for stepping the hosted clients (results do not depend on it)
    // Report each hosted client's smoothness constants in Attach (needed by an aggregator without
    // data). false: only the data digests are computed and sent, which saves the constants'
    // eigenvalue iterations (~0.2 s of CPU a client at d = 10^5 with 50 rows); an aggregator with
    // the data computes the constants itself, one without refuses the attach.
    bool report_constants = true;
    // A round's updates go to the aggregator in messages of about this many bytes: a message ends
    // once it holds this many or more (at least one update; a gradient sum travels with its
    // clients' updates). The aggregator then holds one such message per stream while it decodes,
    // not a host's whole round, and decodes one while the next arrives.
    int64_t message_bytes = int64_t{256} << 10;
    // How long the aggregator may stay unreachable (at start, or after a broken stream).
    absl::Duration connect_timeout = absl::Seconds(60);
    absl::Duration backoff_initial = absl::Milliseconds(50);
    absl::Duration backoff_max = absl::Seconds(2);
    // How long to wait for Welcome after sending Attach.
    absl::Duration welcome_timeout = absl::Seconds(30);
    absl::Duration keepalive_time = absl::Seconds(10);
    absl::Duration keepalive_timeout = absl::Seconds(10);
    std::string name;  // for the aggregator's logs; default host:pid
    // Where the hosted clients' private state (momentum, EF14 error) is saved after every round
    // (client/worker_state.h), so a restarted worker continues exactly; "" keeps it in memory only
    // (after a restart: v_i := g_i, e_i := 0). Under --client-state=worker it also keeps every
    // client's g_i (a snapshot and a log of the messages sent since: client/client_state_log.h),
    // without which a restarted worker is refused.
    std::string state_dir;
    // Transport security (docs/DEPLOY.md): tls_ca verifies the aggregator's certificate;
    // tls_cert + tls_key present this worker's client certificate (mutual TLS); token_file holds
    // a bearer token sent as "authorization" metadata (over TLS only). insecure connects in
    // plaintext; the command line sets it only on an explicit --insecure.
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
    std::string token_file;
    // The name the aggregator's certificate must carry when it differs from the host dialled.
    std::string tls_server_name;
    bool insecure = true;
    // Test hook: cut the stream once, right after sending the updates of this round (-1: never).
    int64_t drop_stream_at_round = -1;
    // Called after the updates of a round were written (progress output, tests).
    std::function<void(uint64_t round)> on_round_sent;
    // Called before each backoff wait with the error that ended the last attempt.
    std::function<void(const absl::Status&)> on_retry;
    // Called when Welcome arrived: the run id, the open round, whether it is a re-attach.
    std::function<void(const std::string& run_id, uint64_t round, bool reattach)> on_attached;

    absl::Status Validate() const;
  };

  struct Result {
    uint64_t rounds = 0;   // last round closed by the aggregator
    bool stopped = false;  // the aggregator was shut down before the run completed
    std::string reason;
    int64_t reconnects = 0;
    int64_t update_messages = 0;  // messages carrying updates written (Options::message_bytes)
  };

  static absl::StatusOr<std::unique_ptr<WorkerHost>> Create(Options options);
  ~WorkerHost();

  // Runs until the aggregator sends Finish (OK) or a permanent error.
  absl::StatusOr<Result> Run();
  // Makes Run() return CANCELLED soon.
  void Cancel();

  int metrics_port() const { return metrics_->port(); }

 private:
  explicit WorkerHost(Options options);

  // One Train stream, from Attach to its end: OK when Finish arrived; *welcomed when Welcome did.
  absl::Status RunSession(bool* welcomed, Result* result);
  // Fills Attach.claims: what this host holds of each client (common/methods/method.h).
  void ClaimStates(v1::Attach* attach) const;
  // The states of the --state-dir's g_i log (ClientStateLog::held) that this host can resume
  // exactly: for a method with private state, only rounds whose private-state file is whole too
  // (the others are named on stderr).
  std::vector<ClientStateLog::Held> ClaimableFromStateDir() const;
  // Welcome under --client-state=worker: puts every client where the aggregator's state hashes
  // say, from the state this host holds in memory or in its --state-dir (the aggregator checked
  // that it holds one).
  absl::Status ResumeWorkerStates(const v1::Welcome& welcome, v1::WorkerMessage* resend);
  // Client j from the --state-dir: g_i (and its private state) as of round `round` if its state
  // hash is `chain`; false when the directory cannot give both (*lacks_private_state := round
  // when only the private state is missing). `rebuilt` caches the states rebuilt during one
  // Welcome.
  absl::StatusOr<bool> RestoreFromLog(size_t j, int64_t round, uint64_t chain,
                                      std::map<int64_t, ClientStateLog::State>* rebuilt,
                                      int64_t* lacks_private_state);
  absl::Status OnWelcome(const v1::Welcome& welcome,
                         grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>* stream);
  absl::Status OnRoundStart(const v1::RoundStart& start,
                            grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>* stream,
                            grpc::ClientContext* context);
  // Puts hosted client j back to its state after round `round` with the aggregator's g_i: exactly
  // from the state store when it holds that round, else by the documented policy.
  absl::Status RestoreClient(size_t j, const Vector& g, int64_t round);
  // Whether the state store can give client j's private state as of round `round` (always, for a
  // method without one); reads the round's file once per Welcome (loaded_).
  bool PrivateStateKept(size_t j, int64_t round);
  // Saves the private states when every hosted client is at the same round.
  absl::Status SaveStates();
  // Brings model_ to the RoundStart's round: takes its dense x (and g), or replays its delta.
  absl::Status AdvanceModel(const v1::RoundStart& start);
  bool Write(grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>* stream,
             const v1::WorkerMessage& message);
  // Writes a batch of updates (and its gradient sums) in messages of about
  // Options::message_bytes; *batch is whole again afterwards (its updates are dealt out to the
  // messages and taken back, not copied). false when the stream broke.
  bool WriteUpdates(grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>* stream,
                    v1::WorkerMessage* batch);
  // Diagnostic rounds: which of the batch's clients (hosted indices, ascending) lie under a
  // gradient sum (common/run/gradient_tree.h) — into sum_nodes_ and summed_ (by position).
  void PlanGradientSums(absl::Span<const size_t> batch);
  // The batch's gradient sums from messages_' gradients (as planned), into batch->gradient_sums.
  void FillGradientSums(v1::WorkerMessage* batch);
  // Sleeps up to `d` unless cancelled; false when cancelled.
  bool SleepUnlessCancelled(absl::Duration d);

  Options options_;
  std::vector<int64_t> ids_;
  std::shared_ptr<const Problem> problem_;
  uint64_t data_digest_ = 0;
  std::vector<ShardReport> reports_;  // per hosted client, in ids_ order (Attach.constants)
  std::string
      authorization_;  // "Bearer <token>", or empty  // Attach.data_digest of the hosted clients
  std::unique_ptr<WorkerMetrics> metrics_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
  std::unique_ptr<ThreadPool> pool_;
  AdaptiveGrain grain_;

  // Run state, known after the first Welcome.
  std::string run_id_;
  std::shared_ptr<const MethodContext> context_;
  std::vector<std::unique_ptr<ClientMethod>> clients_;  // by hosted index
  std::vector<int64_t> computed_round_;                 // last round stepped, -1: none
  // --client-state=worker: the state hash (ChainClientState) of each client's g_i, and before
  // its last update (from which the cached update can be resent).
  bool worker_state_ = false;
  std::vector<uint64_t> chain_;
  std::vector<uint64_t> chain_before_;
  std::vector<ClientMessage> messages_;  // the last round's messages
  std::vector<v1::Update> sent_;         // the last round's encoded updates
  std::vector<size_t> todo_;             // hosted indices stepped in the last batch (out_'s order)
  std::vector<size_t> next_todo_;
  EvalPoint point_;
  std::unique_ptr<WorkerStateStore> store_;  // with --state-dir and a method with private state
  // With --state-dir: g_i on disk under --client-state=worker (opened at Create, so that a
  // restarted host can claim what it holds before the first Welcome names the run).
  std::unique_ptr<ClientStateLog> g_log_;
  absl::Status g_log_error_;                 // why g_log_ could not be opened (a damaged file)
  std::vector<const SparseVector*> logged_;  // scratch: the messages of a batch, for g_log_
  std::map<int64_t, std::vector<Vector>> loaded_;  // state files read during one Welcome, by round
  // The model (x^r, g^{r−1}) replayed from the aggregator's deltas, the same ServerMethod
  // arithmetic (common/methods/method.h), and whether it holds the last RoundStart's round.
  std::unique_ptr<ServerMethod> model_;
  bool model_in_sync_ = false;
  RoundDelta delta_;  // scratch of AdvanceModel
  v1::WorkerMessage out_;
  // WriteUpdates' pieces: the message it sends, and the batch's updates and sums it deals out.
  v1::WorkerMessage piece_;
  std::vector<v1::Update*> update_ptrs_;
  std::vector<v1::GradientSum*> sum_ptrs_;
  int64_t update_messages_ = 0;
  bool dropped_ = false;
  // The client tree of the diagnostic gradients' sums, and a batch's plan (scratch).
  std::unique_ptr<GradientTree> tree_;
  std::vector<int64_t> batch_ids_;
  std::vector<TreeNode> sum_nodes_;
  std::vector<int64_t> leaf_ids_;
  std::vector<char> summed_;
  std::vector<Vector> tree_scratch_;
  Vector sum_value_;

  std::atomic<bool> cancelled_{false};
  absl::Mutex mu_;  // also wakes waits on cancelled_ and on a session's Welcome
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace ef21

#endif  // EF21_CLIENT_WORKER_HOST_H_
