#include "server/round_coordinator.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/base/clock.h"
#include "proto/codec.h"
#include "server/data_free_problem.h"

namespace ef21 {
namespace {

// FNV-1a over raw bytes, for StateHash.
uint64_t Mix(uint64_t h, const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

// Audit events gathered under the coordinator's lock and written when the batch goes out of scope:
// declared before the lock, it is destroyed after the lock is released.
struct AuditBatch {
  AuditLog* log;
  std::vector<AuditEvent> events;
  ~AuditBatch() {
    if (log == nullptr) return;
    for (const AuditEvent& event : events) log->Record(event);
  }
};

// A client's applied message keeps its storage up to this size (see CloseNextRoundLocked).
constexpr size_t kKeptMessageBytes = 4096;

bool AllFiniteWithin(const Vector& v, double bound) {
  for (Eigen::Index j = 0; j < v.size(); ++j) {
    if (!(std::abs(v[j]) <= bound)) return false;  // NaN fails too
  }
  return true;
}

AuditEvent EventFor(AuditEventKind event, const StreamSink* sink) {
  AuditEvent e;
  e.event = event;
  if (sink != nullptr) {
    e.peer = sink->info().peer;
    e.identity = sink->info().identity;
    e.worker = sink->info().worker;
  }
  return e;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RoundCoordinator>> RoundCoordinator::Create(Options options) {
  if (options.context == nullptr) return absl::InvalidArgumentError("no method context");
  if (options.x0.size() != options.context->dim()) {
    return absl::InvalidArgumentError(absl::StrCat("x0 has dimension ", options.x0.size(),
                                                   "; the problem's is ", options.context->dim()));
  }
  if (options.log == nullptr) return absl::InvalidArgumentError("no run log");
  if (options.run_id.empty()) return absl::InvalidArgumentError("no run id");
  if (options.checkpoint_every_rounds < 0 || !(options.checkpoint_every_seconds >= 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint intervals must be >= 0; got ",
                                                   options.checkpoint_every_rounds, " rounds and ",
                                                   options.checkpoint_every_seconds, " seconds"));
  }
  if (options.resume) {
    const AggregatorCheckpoint& c = *options.resume;
    const int64_t d = options.context->dim();
    const uint64_t end = static_cast<uint64_t>(options.context->options.rounds) + 1;
    const bool worker = options.context->options.client_state == ClientStateMode::kWorker;
    bool fits = c.x.size() == d && c.g.size() == d &&
                static_cast<int64_t>(c.client_g.size()) == options.context->num_clients() &&
                c.client_chain.size() == (worker ? c.client_g.size() : 0) && c.round <= end &&
                c.complete == (c.round == end);
    for (const Vector& gi : c.client_g) fits = fits && (gi.size() == 0 || gi.size() == d);
    if (!fits) {
      return absl::FailedPreconditionError(
          absl::StrCat("the checkpoint does not fit the run: round ", c.round, ", dimension ",
                       c.x.size(), ", ", c.client_g.size(), " clients; the run has dimension ", d,
                       ", ", options.context->num_clients(), " clients, ",
                       options.context->options.rounds, " rounds"));
    }
  }
  std::unique_ptr<RoundCoordinator> coordinator(new RoundCoordinator(std::move(options)));
  if (!coordinator->first_checkpoint_.ok()) return coordinator->first_checkpoint_;
  return coordinator;
}

RoundCoordinator::RoundCoordinator(Options options)
    : context_(std::move(options.context)),
      run_id_(std::move(options.run_id)),
      log_(options.log),
      metrics_(options.metrics),
      observer_(std::move(options.observer)),
      config_json_(options.config.ToJson()),
      checkpoint_path_(std::move(options.checkpoint_path)),
      checkpoint_every_rounds_(options.checkpoint_every_rounds),
      checkpoint_every_seconds_(options.checkpoint_every_seconds),
      resumed_(options.resume.has_value()),
      audit_(options.audit),
      round_timeout_(options.round_timeout),
      coverage_report_after_(options.coverage_report_after),
      max_abs_value_(options.max_abs_value),
      worker_state_(context_->options.client_state == ClientStateMode::kWorker),
      has_data_(context_->problem->HasData()),
      round_closer_(context_, options.resume ? options.resume->totals : CommTotals{},
                    options.config.downlink),
      tree_(context_->num_clients()),
      downlink_mode_(options.config.downlink) {
  const int64_t n = context_->num_clients();
  std::vector<int64_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  if (has_data_) {
    probe_losses_.resize(n);
    ProbeLosses(*context_->problem, all, probe_losses_.data());
    fingerprint_ = SumAscending(probe_losses_);
    data_digests_.resize(n);
    ClientDataDigests(*context_->problem, all, data_digests_.data());
    data_digest_ = CombineDataDigests(all, data_digests_);
  } else {
    // Nothing to probe: the workers' reports (kept in the checkpoint) identify the data.
    fingerprint_ = std::nan("");
  }
  RunConfigToSpec(options.config, &spec_);

  absl::MutexLock lock(&mu_);
  server_ = ServerMethod::Create(context_, std::move(options.x0));
  // Kept low between and inside closes (the close scratch is released after each round below).
  round_closer_.set_release_tree_scratch(worker_state_);
  shard_reports_.resize(n);
  slots_.resize(n);
  reports_.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    // A client the checkpoint holds g_i of gets it moved in by RestoreLocked instead.
    const bool restored = options.resume && options.resume->client_g[i].size() != 0;
    if (!worker_state_ && !restored) slots_[i].g = Vector::Zero(context_->dim());
    reports_[i].gradient = &slots_[i].pending.gradient;
  }
  participants_.assign(n, 1);
  started_ = MonotonicSeconds();
  round_started_ = started_;
  waiting_since_ = started_;
  last_checkpoint_time_ = started_;
  bool checkpointed = false;
  if (options.resume) {
    RestoreLocked(&*options.resume);
    checkpointed = true;
  } else if (!checkpoint_path_.empty()) {
    first_checkpoint_ = CheckpointLocked();
    checkpointed = first_checkpoint_.ok();
    if (!first_checkpoint_.ok()) SetDoneLocked(first_checkpoint_);
  }
  DrawParticipantsLocked();
  open_round_checkpointed_ = checkpointed;
  OpenDownlinkLocked();
  if (metrics_ != nullptr) metrics_->SetRound(server_->round());
  round_opened_ = deadline_start_ = absl::Now();
  closer_ = std::thread([this] { CloserLoop(); });
}

nlohmann::ordered_json RoundCoordinator::DescribeRunForSummary() const {
  absl::MutexLock lock(&mu_);
  if (has_data_) return DescribeRun(*context_, round_closer_.totals());
  std::vector<ClientConstants> clients;
  int64_t rows = 0;
  for (const std::optional<ShardReport>& r : shard_reports_) {
    if (!r) break;
    clients.push_back(r->constants);
    rows += r->constants.rows;
  }
  const double unknown = std::nan("");
  SmoothnessConstants constants;
  constants.L = constants.L0 = constants.L1 = unknown;
  constants.L_i.assign(1, unknown);
  if (clients.size() == shard_reports_.size()) constants = CombineClientConstants(clients, unknown);
  const auto* shape = dynamic_cast<const DataFreeProblem*>(context_->problem.get());
  const std::string problem = shape != nullptr && clients.size() == shard_reports_.size()
                                  ? shape->Describe(rows)
                                  : context_->problem->Describe();
  return DescribeRun(*context_, round_closer_.totals(), problem, constants);
}

std::shared_ptr<const void> StreamSink::SendBytes(std::shared_ptr<const std::string> bytes) {
  auto message = std::make_shared<v1::ServerMessage>();
  // The coordinator's own bytes (WriteDenseRoundStart): they parse.
  (void)message->ParseFromString(*bytes);
  Send(std::move(message));
  return nullptr;
}

const SparseVector& RoundCoordinator::PendingMessageLocked(const ClientSlot& slot) const {
  if (!slot.pending.is_packed) return slot.pending.c;
  // Pack wrote the code; it unpacks.
  (void)Unpack(slot.pending.packed, &unpacked_);
  return unpacked_;
}

void RoundCoordinator::DrawParticipantsLocked() {
  const uint64_t round = server_->round();
  expected_ = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    participants_[i] = context_->Participates(static_cast<int64_t>(i), round);
    expected_ += participants_[i];
  }
}

void RoundCoordinator::RestoreLocked(AggregatorCheckpoint* checkpoint) {
  AggregatorCheckpoint& c = *checkpoint;
  // Create() checked every size.
  (void)server_->Restore(c.round, std::move(c.x), std::move(c.g));
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (worker_state_) {
      slots_[i].chain = c.client_chain[i];
      slots_[i].ever_received = c.client_chain[i] != kFreshClientChain;
      continue;
    }
    if (c.client_g[i].size() == 0) continue;
    slots_[i].g = std::move(c.client_g[i]);  // not copied: n·d values at most once in memory
    slots_[i].ever_received = true;
    slots_[i].g_within = false;
  }
  if (c.reports.size() == slots_.size()) shard_reports_ = c.reports;
  started_ -= c.elapsed_seconds;
  rounds_closed_ = c.round;
  round_closer_.ResumeOpenRoundStart({c.open_round_start_kind, c.open_round_start_bytes});
  last_checkpoint_round_ = c.round;
  if (c.complete) {
    complete_ = true;
    SetDoneLocked(absl::OkStatus());
  }
}

RoundCoordinator::Snapshot RoundCoordinator::SnapshotLocked() const {
  static const Vector* const kNone = new Vector();
  Snapshot snapshot;
  AggregatorCheckpoint& c = snapshot.checkpoint;
  c.run_id = run_id_;
  c.config_json = config_json_;
  c.fingerprint = fingerprint_;
  if (has_data_) c.data_digest = data_digest_;
  c.round = server_->round();
  c.complete = complete_;
  c.gamma = context_->plan.gamma;
  c.eta = context_->plan.eta;
  c.stepsize_rule = context_->plan.rule;
  c.totals = round_closer_.totals();
  const RoundCloser::OpenRoundStart start = round_closer_.open_round_start();
  c.open_round_start_kind = start.kind;
  c.open_round_start_bytes = start.bytes;
  c.elapsed_seconds = MonotonicSeconds() - started_;
  snapshot.client_g.assign(slots_.size(), kNone);
  if (worker_state_) c.client_chain.resize(slots_.size());
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (worker_state_) {
      c.client_chain[i] = slots_[i].chain;
    } else if (slots_[i].ever_received) {
      snapshot.client_g[i] = &slots_[i].g;
    }
  }
  c.reports = shard_reports_;
  return snapshot;
}

absl::Status RoundCoordinator::WriteSnapshot(const Snapshot& snapshot, int64_t* bytes,
                                             double* seconds) const {
  const AggregatorCheckpoint& c = snapshot.checkpoint;
  const double begin = MonotonicSeconds();
  absl::StatusOr<int64_t> written =
      WriteCheckpoint(checkpoint_path_, c, server_->x(), server_->g(), snapshot.client_g);
  if (!written.ok()) {
    return absl::Status(
        written.status().code(),
        absl::StrCat("checkpoint of round ", c.round, " failed: ", written.status().message()));
  }
  *bytes = *written;
  *seconds = MonotonicSeconds() - begin;
  return absl::OkStatus();
}

void RoundCoordinator::RecordCheckpointLocked(uint64_t round, int64_t bytes, double seconds) {
  ++checkpoint_stats_.count;
  checkpoint_stats_.bytes = bytes;
  checkpoint_stats_.total_seconds += seconds;
  checkpoint_stats_.max_seconds = std::max(checkpoint_stats_.max_seconds, seconds);
  last_checkpoint_round_ = round;
  last_checkpoint_time_ = MonotonicSeconds();
}

absl::Status RoundCoordinator::CheckpointLocked() {
  if (checkpoint_path_.empty()) return absl::OkStatus();
  const double begin = MonotonicSeconds();
  const Snapshot snapshot = SnapshotLocked();
  int64_t bytes = 0;
  double seconds = 0.0;
  if (absl::Status s = WriteSnapshot(snapshot, &bytes, &seconds); !s.ok()) return s;
  RecordCheckpointLocked(snapshot.checkpoint.round, bytes, MonotonicSeconds() - begin);
  return absl::OkStatus();
}

bool RoundCoordinator::CheckpointDueLocked(uint64_t round, double now) const {
  if (checkpoint_path_.empty()) return false;
  if (checkpoint_every_rounds_ > 0 &&
      round - last_checkpoint_round_ >= static_cast<uint64_t>(checkpoint_every_rounds_)) {
    return true;
  }
  return checkpoint_every_seconds_ > 0.0 &&
         now - last_checkpoint_time_ >= checkpoint_every_seconds_;
}

RoundCoordinator::CheckpointStats RoundCoordinator::checkpoint_stats() const {
  absl::MutexLock lock(&mu_);
  return checkpoint_stats_;
}

RoundCoordinator::~RoundCoordinator() {
  Stop("aggregator destroyed");
  closer_.join();
}

void RoundCoordinator::OpenDownlinkLocked() {
  ForgetRoundStartsLocked();
  const uint64_t round = server_->round();
  // The open round's point, for checking what workers report about it: it borrows x^r, so that
  // the aggregator holds x once.
  {
    absl::WriterMutexLock point_lock(&point_mu_);
    open_point_.round = round;
    open_point_.diagnostics = context_->DiagnosticRound(round);
    context_->problem->PrepareBorrowed(server_->x(), &open_point_.point);
  }
  if (round == 0 || downlink_mode_ == DownlinkMode::kDense) {
    open_sizes_ = DownlinkSizes{};
    return;
  }
  open_sizes_ =
      MeasureDownlink(round, context_->dim(), server_->stepsize(), context_->DiagnosticRound(round),
                      server_->last_delta(), context_->options.value_type);
}

void RoundCoordinator::OpenNextRoundLocked(bool broadcast) {
  if (metrics_ != nullptr) metrics_->SetRound(server_->round());
  open_round_checkpointed_ = false;
  OpenDownlinkLocked();
  if (broadcast) BroadcastRoundStartLocked();
}

void RoundCoordinator::ForgetRoundStartsLocked() {
  delta_round_start_.reset();
  for (auto& bytes : dense_round_start_) bytes.reset();
  attach_round_start_.reset();
}

std::shared_ptr<const std::string> RoundCoordinator::DeltaRoundStartLocked() {
  if (delta_round_start_ != nullptr) return delta_round_start_;
  const uint64_t round = server_->round();
  auto bytes = std::make_shared<std::string>();
  WriteDeltaRoundStart(round, server_->stepsize(), context_->DiagnosticRound(round),
                       open_round_checkpointed_, server_->last_delta(),
                       context_->options.value_type, bytes.get());
  delta_round_start_ = std::move(bytes);
  return delta_round_start_;
}

std::shared_ptr<const std::string> RoundCoordinator::DenseRoundStartLocked(DownlinkKind kind) {
  std::weak_ptr<const std::string>& dense = dense_round_start_[static_cast<int>(kind)];
  if (std::shared_ptr<const std::string> held = dense.lock()) return held;
  const uint64_t round = server_->round();
  // Resync: g^{r−1} too; at round 0 it is zero and omitted.
  const Vector* g = kind == DownlinkKind::kResync && round != 0 ? &server_->g() : nullptr;
  auto bytes = std::make_shared<std::string>();
  WriteDenseRoundStart(round, server_->x(), server_->stepsize(), context_->DiagnosticRound(round),
                       open_round_checkpointed_, g, bytes.get());
  std::shared_ptr<const std::string> written = std::move(bytes);
  dense = written;
  return written;
}

std::shared_ptr<const void> RoundCoordinator::SendRoundStartLocked(size_t index,
                                                                   DownlinkKind kind) {
  sink_in_sync_[index] = InSyncAfter(kind);
  if (metrics_ != nullptr) metrics_->OnRoundStartSent(kind);
  std::shared_ptr<const std::string> bytes =
      kind == DownlinkKind::kDelta ? DeltaRoundStartLocked() : DenseRoundStartLocked(kind);
  if (metrics_ != nullptr) metrics_->OnDownlinkBytes(static_cast<int64_t>(bytes->size()));
  (void)sinks_[index]->SendBytes(bytes);
  return bytes;
}

void RoundCoordinator::BroadcastRoundStartLocked() {
  // One message of each kind for all the sinks (one serialization: the streams share its bytes),
  // held here until every sink has it queued.
  std::shared_ptr<const void> held[kDownlinkKinds];
  for (size_t i = 0; i < sinks_.size(); ++i) {
    const DownlinkKind kind =
        ChooseDownlink(downlink_mode_, sink_in_sync_[i] != 0, open_sizes_.delta, open_sizes_.dense);
    held[static_cast<int>(kind)] = SendRoundStartLocked(i, kind);
  }
}

bool RoundCoordinator::WithOpenPoint(uint64_t round,
                                     absl::FunctionRef<void(const OpenPoint&)> f) const {
  {
    absl::MutexLock lock(&mu_);
    if (done_) return false;
  }
  absl::ReaderMutexLock point_lock(&point_mu_);
  if (open_point_.round != round) return false;
  f(open_point_);
  return true;
}

std::shared_ptr<const v1::ServerMessage> RoundCoordinator::MakeFinishLocked(
    bool stopped, const std::string& reason) {
  auto message = std::make_shared<v1::ServerMessage>();
  v1::Finish* finish = message->mutable_finish();
  finish->set_rounds(rounds_closed_ == 0 ? 0 : rounds_closed_ - 1);
  finish->set_stopped(stopped);
  finish->set_reason(reason);
  return message;
}

void RoundCoordinator::BroadcastLocked(const std::shared_ptr<const v1::ServerMessage>& message,
                                       bool finish) {
  if (metrics_ != nullptr) {
    metrics_->OnDownlinkBytes(static_cast<int64_t>(message->ByteSizeLong()) *
                              static_cast<int64_t>(sinks_.size()));
  }
  for (StreamSink* sink : sinks_) {
    sink->Send(message);
    if (finish) sink->FinishAfterQueue();
  }
}

void RoundCoordinator::SetDoneLocked(absl::Status status) {
  done_ = true;
  status_ = std::move(status);
}

void RoundCoordinator::UpdateWaitingLocked(double now) {
  if (waiting_) {
    const double waited = now - waiting_since_;
    waited_in_round_ += waited;
    waited_total_ += waited;
    if (metrics_ != nullptr) metrics_->AddWaitingSeconds(waited);
  }
  waiting_ = false;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (participants_[i] && slots_[i].sink == nullptr && !slots_[i].received) {
      waiting_ = true;
      break;
    }
  }
  waiting_since_ = now;
}

absl::Status RoundCoordinator::Attach(StreamSink* sink, const v1::Attach& attach,
                                      RejectionReason* reason) {
  *reason = RejectionReason::kBadAttach;
  const int64_t n = context_->num_clients();
  if (!attach.run_id().empty() && attach.run_id() != run_id_) {
    *reason = RejectionReason::kWrongRun;
    return absl::FailedPreconditionError(absl::StrCat("run ", attach.run_id(),
                                                      " is not this aggregator's run ", run_id_,
                                                      " (the aggregator restarted)"));
  }
  if (attach.client_ids().empty())
    return absl::InvalidArgumentError("Attach carries no client ids");
  std::vector<int64_t> ids(attach.client_ids().begin(), attach.client_ids().end());
  for (int64_t id : ids) {
    if (id >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("Attach names client ", id, ", outside [0, ", n, ")"));
    }
  }
  std::vector<int64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  for (size_t j = 1; j < sorted.size(); ++j) {
    if (sorted[j] == sorted[j - 1]) {
      return absl::InvalidArgumentError(absl::StrCat("Attach names client ", sorted[j], " twice"));
    }
  }
  if (absl::Status s = CheckClaimBounds(attach); !s.ok()) return s;
  *reason = RejectionReason::kWrongProblem;
  if (static_cast<int64_t>(attach.dim()) != context_->dim()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the worker's problem has dimension ", attach.dim(), "; the run's is ", context_->dim()));
  }
  if (static_cast<int64_t>(attach.clients()) != n) {
    return absl::FailedPreconditionError(
        absl::StrCat("the worker's problem has ", attach.clients(), " clients; the run has ", n));
  }
  if (absl::Status s = CompareProblemSpecs(attach.problem(), spec_); !s.ok()) return s;
  *reason = RejectionReason::kBadAttach;
  if (worker_state_) {
    if (attach.claims_size() != attach.client_ids_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the run keeps client state on the workers (--client-state=worker): Attach must claim "
          "a state for each of its ",
          attach.client_ids_size(), " clients; it carries ", attach.claims_size(), " claims"));
    }
    for (int j = 0; j < attach.claims_size(); ++j) {
      if (attach.claims(j).client_id() != attach.client_ids(j)) {
        return absl::InvalidArgumentError(absl::StrCat("Attach's claim ", j, " is for client ",
                                                       attach.claims(j).client_id(), ", expected ",
                                                       attach.client_ids(j)));
      }
    }
  }
  std::vector<ShardReport> reported;
  *reason = RejectionReason::kBadConstants;
  if (absl::Status s = DecodeShardReports(attach, &reported); !s.ok()) return s;
  if (reported.empty() && !has_data_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Attach reports no smoothness constants for clients ", FormatIdRanges(sorted),
        "; this aggregator holds no data and needs each client's report (the worker runs with "
        "--report-constants=false, which only an aggregator with --data or --synthetic accepts)"));
  }
  *reason = RejectionReason::kWrongProblem;
  if (has_data_) {
    std::vector<uint64_t> digests(sorted.size());
    for (size_t j = 0; j < sorted.size(); ++j) digests[j] = data_digests_[sorted[j]];
    if (attach.data_digest() != CombineDataDigests(sorted, digests)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the worker's data differs from the run's for clients ", FormatIdRanges(sorted),
          " (data fingerprint mismatch: some row, coordinate or label differs)"));
    }
    // The reported constants against the aggregator's own, where the problem has them (a worker
    // with --report-constants=false reports none: the aggregator's own are the run's anyway).
    const std::vector<ClientConstants>& own = context_->constants.clients;
    if (static_cast<int64_t>(own.size()) == n && !reported.empty()) {
      std::vector<int64_t> differ;
      for (size_t j = 0; j < ids.size(); ++j) {
        const ShardReport mine{own[ids[j]], data_digests_[ids[j]]};
        if (!SameReport(mine, reported[j])) differ.push_back(ids[j]);
      }
      if (!differ.empty()) {
        *reason = RejectionReason::kConstantsMismatch;
        std::sort(differ.begin(), differ.end());
        const int64_t first = differ[0];
        const size_t at = std::find(ids.begin(), ids.end(), first) - ids.begin();
        return absl::FailedPreconditionError(absl::StrCat(
            "the worker reports other smoothness constants than the aggregator's data gives for "
            "clients ",
            FormatIdRanges(differ), " (client ", first, ": reported ", FormatReport(reported[at]),
            "; the aggregator computes ",
            FormatReport(ShardReport{own[first], data_digests_[first]}), ")"));
      }
    }
  }

  AuditBatch audit{audit_, {}};  // declared before the lock: written after it is released
  absl::MutexLock lock(&mu_);
  *reason = RejectionReason::kRunOver;
  if (stop_requested_) return absl::UnavailableError("the aggregator is shutting down");
  if (complete_) {
    // A finished run (also one served again after a restart): the worker learns it is over and
    // exits normally.
    std::shared_ptr<const v1::ServerMessage> finish = MakeFinishLocked(false, "");
    if (metrics_ != nullptr)
      metrics_->OnDownlinkBytes(static_cast<int64_t>(finish->ByteSizeLong()));
    sink->Send(std::move(finish));
    sink->FinishAfterQueue();
    return absl::OkStatus();
  }
  if (done_) {
    return absl::FailedPreconditionError(complete_ ? absl::StrCat("run ", run_id_, " is complete")
                                                   : std::string(status_.message()));
  }
  std::vector<int64_t> busy;
  StreamSink* holder = nullptr;
  for (int64_t id : sorted) {
    if (slots_[id].sink != nullptr) {
      busy.push_back(id);
      if (holder == nullptr) holder = slots_[id].sink;
    }
  }
  if (!busy.empty()) {
    *reason = RejectionReason::kClientBusy;
    // Two workers asking for the same ids is an operator error (overlapping --client-ids) or a
    // squatter; either way the operator must see both parties.
    AuditEvent event = EventFor(AuditEventKind::kClientOverlap, sink);
    event.clients = FormatIdRanges(busy);
    event.detail = absl::StrCat(
        "asked for clients ", FormatIdRanges(sorted), "; ", FormatIdRanges(busy),
        " are carried by worker '", holder->info().worker, "' at ", holder->info().peer,
        holder->info().identity.empty() ? std::string()
                                        : absl::StrCat(" (", holder->info().identity, ")"));
    audit.events.push_back(std::move(event));
    return absl::AbortedError(absl::StrCat(
        "client ", busy[0], " is attached by another worker",
        busy.size() > 1 ? absl::StrCat(" (clients ", FormatIdRanges(busy), " are)") : "",
        "; retry later"));
  }
  if (worker_state_) {
    std::string error;
    for (int j = 0; j < attach.claims_size(); ++j) {
      if (!ClaimFitsLocked(ids[j], attach.claims(j), &error)) {
        *reason = RejectionReason::kClientStateMismatch;
        return absl::FailedPreconditionError(error);
      }
    }
  }
  if (!has_data_) {
    // Without data of its own the aggregator holds each client to its first report (from an
    // earlier attach, or the checkpoint of a resumed run): the data of a run never changes.
    std::vector<int64_t> other_data, other_constants;
    for (size_t j = 0; j < ids.size(); ++j) {
      const std::optional<ShardReport>& known = shard_reports_[ids[j]];
      if (!known) continue;
      if (known->digest != reported[j].digest) {
        other_data.push_back(ids[j]);
      } else if (!SameReport(*known, reported[j])) {
        other_constants.push_back(ids[j]);
      }
    }
    // The known reports come in as an argument: the lambda runs under mu_, which the
    // thread-safety analysis cannot see inside a lambda.
    auto describe = [&](std::vector<int64_t>& differ,
                        const std::vector<std::optional<ShardReport>>& known_reports) {
      std::sort(differ.begin(), differ.end());
      const int64_t first = differ[0];
      const size_t at = std::find(ids.begin(), ids.end(), first) - ids.begin();
      return absl::StrCat(FormatIdRanges(differ), " (client ", first, ": reported ",
                          FormatReport(reported[at]), "; earlier ",
                          FormatReport(*known_reports[first]), ")");
    };
    if (!other_data.empty()) {
      *reason = RejectionReason::kWrongProblem;
      return absl::FailedPreconditionError(
          absl::StrCat("the worker's data differs from what was reported earlier in this run for "
                       "clients ",
                       describe(other_data, shard_reports_)));
    }
    if (!other_constants.empty()) {
      *reason = RejectionReason::kConstantsMismatch;
      return absl::FailedPreconditionError(absl::StrCat(
          "the worker reports other smoothness constants than were reported earlier in this run "
          "for clients ",
          describe(other_constants, shard_reports_)));
    }
    for (size_t j = 0; j < ids.size(); ++j) shard_reports_[ids[j]] = reported[j];
  }
  for (int64_t id : ids) slots_[id].sink = sink;
  sinks_.push_back(sink);
  UpdateWaitingLocked(MonotonicSeconds());
  sink_in_sync_.push_back(0);

  auto welcome_message = std::make_shared<v1::ServerMessage>();
  v1::Welcome* welcome = welcome_message->mutable_welcome();
  welcome->set_run_id(run_id_);
  *welcome->mutable_spec() = spec_;
  welcome->set_dim(static_cast<uint32_t>(context_->dim()));
  welcome->set_clients(static_cast<uint32_t>(n));
  welcome->set_round(server_->round());
  welcome->set_gamma(context_->plan.gamma);
  welcome->set_eta(context_->plan.eta);
  welcome->set_stepsize_rule(context_->plan.rule);
  Vector g;
  for (int64_t id : ids) {
    const ClientSlot& slot = slots_[id];
    v1::ClientState* state = welcome->add_states();
    state->set_client_id(static_cast<uint32_t>(id));
    state->set_update_received(slot.received);
    if (worker_state_) {
      state->set_chain(slot.chain);
      if (slot.received) {
        state->set_chain_after_update(
            ChainClientState(slot.chain, server_->round(), PendingMessageLocked(slot)));
      }
    } else if (slot.received) {
      g = slot.g;
      server_->ApplyToClientCopy(slot.pending.c, &g);
      AssignVector(g, state->mutable_g());
    } else if (slot.ever_received) {
      AssignVector(slot.g, state->mutable_g());
    }
  }
  if (metrics_ != nullptr) {
    metrics_->SetConnectedWorkers(static_cast<int64_t>(sinks_.size()));
    metrics_->OnDownlinkBytes(static_cast<int64_t>(welcome_message->ByteSizeLong()));
  }
  sink->Send(std::move(welcome_message));
  std::shared_ptr<const void> start =
      SendRoundStartLocked(sinks_.size() - 1, AttachDownlink(downlink_mode_));
  // While a client of the open round still has no stream, more workers are expected to attach
  // (at the start: all of them within moments): keep the dense message's bytes, so that they get
  // these rather than a copy of x each while the last is still in flight.
  attach_round_start_ = waiting_ ? std::move(start) : nullptr;
  return absl::OkStatus();
}

bool RoundCoordinator::ClaimFitsLocked(int64_t id, const v1::ClientClaim& claim,
                                       std::string* error) const {
  const ClientSlot& slot = slots_[id];
  const uint64_t open = server_->round();
  auto holds = [&claim](uint64_t chain) {
    return std::find(claim.held().begin(), claim.held().end(), chain) != claim.held().end();
  };
  // From the closed rounds' state the worker answers the open round (an update already received
  // comes again as an exact resend); from the state after the received update it skips it.
  if (holds(slot.chain)) return true;
  if (slot.received && holds(ChainClientState(slot.chain, open, PendingMessageLocked(slot)))) {
    return true;
  }
  // The update it computed for the open round was lost: it sends it again.
  if (!slot.received && claim.can_resend() && claim.resend_round() == open &&
      claim.resend_from() == slot.chain) {
    return true;
  }
  *error = absl::StrFormat(
      "client %d cannot resume round %d: the run keeps client state on the workers "
      "(--client-state=worker) and expects g_%d with state hash %016x (%s), but the worker "
      "holds %s. The worker lost or rolled back the client's state (a new process without its "
      "--state-dir, or another run's); the aggregator keeps no copy of g_i to hand back, so the "
      "client cannot continue from here",
      id, open, id, slot.chain,
      slot.ever_received ? absl::StrCat("after the rounds closed so far, 0..", open - 1)
                         : std::string("before its first update"),
      claim.held().empty()
          ? std::string("no state")
          : absl::StrCat("state hashes ",
                         absl::StrJoin(claim.held(), ", ", [](std::string* out, uint64_t h) {
                           absl::StrAppendFormat(out, "%016x", h);
                         })));
  return false;
}

absl::Status RoundCoordinator::ValidateBatchLocked(StreamSink* sink,
                                                   absl::Span<const DecodedUpdate> updates,
                                                   RejectionReason* reason) const {
  *reason = RejectionReason::kRunOver;
  if (done_) return absl::FailedPreconditionError(absl::StrCat("run ", run_id_, " is over"));
  const uint64_t open = server_->round();
  for (const DecodedUpdate& u : updates) {
    const ClientSlot& slot = slots_[u.client];
    if (slot.sink != sink) {
      *reason = RejectionReason::kClientNotAttached;
      return absl::PermissionDeniedError(absl::StrCat("update for round ", u.round,
                                                      " names client ", u.client,
                                                      ", which is not attached on this stream"));
    }
    if (u.round > open) {
      *reason = RejectionReason::kFutureRound;
      return absl::FailedPreconditionError(absl::StrCat("update for round ", u.round,
                                                        " from client ", u.client,
                                                        " is ahead: round ", open, " is open"));
    }
    if (static_cast<int64_t>(u.round) == slot.last_round) {
      if (u.digest != slot.last_digest) {
        *reason = RejectionReason::kConflictingUpdate;
        return absl::FailedPreconditionError(absl::StrCat(
            "client ", u.client, " already sent a different update for round ", u.round));
      }
      continue;  // an exact resend
    }
    if (u.round < open) {
      *reason = RejectionReason::kStaleRound;
      return absl::FailedPreconditionError(absl::StrCat("update for round ", u.round,
                                                        " from client ", u.client,
                                                        " is stale: round ", open, " is open"));
    }
    if (!participants_[u.client]) {
      *reason = RejectionReason::kNotParticipating;
      return absl::FailedPreconditionError(absl::StrCat(
          "client ", u.client, " was not drawn to take part in round ", u.round,
          " (--participation=", context_->options.participation, "): it sends nothing this round"));
    }
  }
  return absl::OkStatus();
}

absl::Status RoundCoordinator::Precheck(StreamSink* sink, absl::Span<const DecodedUpdate> updates,
                                        RejectionReason* reason) const {
  absl::MutexLock lock(&mu_);
  return ValidateBatchLocked(sink, updates, reason);
}

absl::Status RoundCoordinator::Submit(StreamSink* sink, absl::Span<DecodedUpdate> updates,
                                      int* duplicates, RejectionReason* reason,
                                      absl::Span<DecodedGradientSum> sums) {
  *duplicates = 0;
  absl::MutexLock lock(&mu_);
  // Validate the whole batch first: a refused batch changes nothing.
  if (absl::Status s = ValidateBatchLocked(sink, updates, reason); !s.ok()) return s;
  // A sum covers exact resends only (ignored with them) or new updates only (kept). The batch's
  // updates ascend by client, as the sums do.
  size_t at = 0;
  for (size_t k = 0; k < sums.size(); ++k) {
    const int64_t begin = tree_.Begin(sums[k].node), end = tree_.End(sums[k].node);
    int64_t resent = 0;
    for (; at < updates.size() && updates[at].client < end; ++at) {
      const DecodedUpdate& u = updates[at];
      if (u.client >= begin && static_cast<int64_t>(u.round) == slots_[u.client].last_round) {
        ++resent;
      }
    }
    if (resent != 0 && resent != end - begin) {
      *reason = RejectionReason::kBadDiagnostics;
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient sum over clients ", begin, "-", end - 1, " of round ", sums[k].round,
          " covers ", resent, " resent updates and ", end - begin - resent,
          " new ones: a sum is sent again with all of its clients' updates or not at all"));
    }
    if (resent != 0) sums[k].values.resize(0);  // marks it ignored below
  }
  // The batch's bytes go to the metrics in one call (their counters are shared by every stream's
  // thread), unless they keep a series per client.
  const bool per_client = metrics_ != nullptr && metrics_->per_client();
  int64_t algorithm_bytes = 0, diagnostic_bytes = 0;
  for (DecodedGradientSum& sum : sums) {
    if (sum.values.size() == 0) continue;
    diagnostic_bytes += sum.wire_bytes;
    if (open_sums_count_ == open_sums_.size()) open_sums_.emplace_back();
    std::swap(open_sums_[open_sums_count_++], sum);
  }
  for (DecodedUpdate& u : updates) {
    ClientSlot& slot = slots_[u.client];
    if (static_cast<int64_t>(u.round) == slot.last_round) {
      ++*duplicates;
      if (metrics_ != nullptr) metrics_->OnDuplicate();
      continue;
    }
    slot.pending.Swap(u);
    slot.received = true;
    slot.last_round = static_cast<int64_t>(slot.pending.round);
    slot.last_digest = slot.pending.digest;
    ++received_;
    if (per_client) {
      metrics_->OnUpdateAccepted(slot.pending.client, slot.pending.algorithm_bytes,
                                 slot.pending.diagnostic_bytes);
    } else {
      algorithm_bytes += slot.pending.algorithm_bytes;
      diagnostic_bytes += slot.pending.diagnostic_bytes;
    }
  }
  if (metrics_ != nullptr && (algorithm_bytes != 0 || diagnostic_bytes != 0)) {
    metrics_->OnUpdateAccepted(-1, algorithm_bytes, diagnostic_bytes);
  }
  // The batch completing the round closes it here and now: the next RoundStart leaves without
  // waking the closer thread first (it writes the row meanwhile).
  CloseInlineLocked();
  return absl::OkStatus();
}

bool RoundCoordinator::RemoveSinkLocked(StreamSink* sink) {
  auto it = std::find(sinks_.begin(), sinks_.end(), sink);
  if (it == sinks_.end()) return false;
  sink_in_sync_.erase(sink_in_sync_.begin() + (it - sinks_.begin()));
  sinks_.erase(it);
  for (ClientSlot& slot : slots_) {
    if (slot.sink == sink) slot.sink = nullptr;
  }
  if (!done_) UpdateWaitingLocked(MonotonicSeconds());
  if (metrics_ != nullptr) metrics_->SetConnectedWorkers(static_cast<int64_t>(sinks_.size()));
  return true;
}

void RoundCoordinator::Detach(StreamSink* sink) {
  AuditBatch audit{audit_, {}};  // declared before the lock: written after it is released
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < static_cast<int64_t>(slots_.size()); ++i) {
    if (slots_[i].sink == sink) ids.push_back(i);
  }
  if (!RemoveSinkLocked(sink)) return;
  AuditEvent event = EventFor(AuditEventKind::kDetach, sink);
  event.clients = FormatIdRanges(ids);
  audit.events.push_back(std::move(event));
}

void RoundCoordinator::FlushAuditLocked() {
  if (audit_queue_.empty()) return;
  std::vector<AuditEvent> events;
  events.swap(audit_queue_);
  mu_.Unlock();
  if (audit_ != nullptr) {
    for (const AuditEvent& event : events) audit_->Record(event);
  }
  mu_.Lock();
}

int RoundCoordinator::RefuseOverflowingLocked() {
  // Worker mode keeps no g_i to check: the bound applies to c_i's entries (the stream) and to x
  // and g (after the close).
  if (worker_state_) return 0;
  const uint64_t round = server_->round();
  int refused = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(slots_.size()); ++i) {
    ClientSlot& slot = slots_[i];
    if (!slot.received) continue;
    if (server_->ClientCopyStaysWithin(slot.pending.c, slot.g, slot.g_within, max_abs_value_)) {
      continue;
    }
    // Refuse the update as if it had never come: the client must send another for this round.
    ++refused;
    slot.received = false;
    slot.last_round = static_cast<int64_t>(round) - 1;
    slot.last_digest = 0;
    --received_;
    const std::string message =
        absl::StrCat("update for round ", round, " from client ", i, " would take g_", i,
                     " beyond the bound |entry| <= ", max_abs_value_,
                     " (--max-update-value) or out of the finite range; refused");
    if (metrics_ != nullptr) metrics_->OnRejected(RejectionReason::kStateOverflow);
    AuditEvent event = EventFor(AuditEventKind::kRefusal, slot.sink);
    event.clients = absl::StrCat(i);
    event.code = "INVALID_ARGUMENT";
    event.reason = RejectionReason::kStateOverflow;
    event.detail = message;
    audit_queue_.push_back(std::move(event));
    if (StreamSink* sink = slot.sink; sink != nullptr) {
      sink->Abort(absl::InvalidArgumentError(message));
      RemoveSinkLocked(sink);
    }
  }
  // A gradient sum over a refused update goes with it, and so do the other updates it covers
  // (they carry no gradient of their own): their hosts send them again, with their gradients.
  size_t kept = 0;
  for (size_t k = 0; k < open_sums_count_; ++k) {
    const int64_t begin = tree_.Begin(open_sums_[k].node), end = tree_.End(open_sums_[k].node);
    bool whole = true;
    for (int64_t i = begin; i < end && whole; ++i) whole = slots_[i].received;
    if (whole) {
      if (kept != k) std::swap(open_sums_[kept], open_sums_[k]);
      ++kept;
      continue;
    }
    for (int64_t i = begin; i < end; ++i) {
      ClientSlot& slot = slots_[i];
      if (!slot.received) continue;
      slot.received = false;
      slot.last_round = static_cast<int64_t>(round) - 1;
      slot.last_digest = 0;
      --received_;
      if (StreamSink* sink = slot.sink; sink != nullptr) {
        sink->Abort(absl::AbortedError(
            absl::StrCat("update for round ", round, " from client ", i,
                         " dropped with the gradient sum over clients ", begin, "-", end - 1,
                         ", which covers a refused update; send it again with its gradient")));
        RemoveSinkLocked(sink);
      }
    }
  }
  open_sums_count_ = kept;
  return refused;
}

absl::Time RoundCoordinator::WatchRoundLocked() {
  const absl::Time now = absl::Now();
  absl::Time next = now + absl::Seconds(1);
  const uint64_t round = server_->round();
  // The round deadline: streams carrying a client that has not answered are detached.
  if (round_timeout_ > absl::ZeroDuration()) {
    if (now >= deadline_start_ + round_timeout_) {
      // Only the round's participants (EF21-PP) owe it an update.
      std::vector<StreamSink*> late;
      for (size_t i = 0; i < slots_.size(); ++i) {
        const ClientSlot& slot = slots_[i];
        if (participants_[i] && !slot.received && slot.sink != nullptr &&
            std::find(late.begin(), late.end(), slot.sink) == late.end()) {
          late.push_back(slot.sink);
        }
      }
      for (StreamSink* sink : late) {
        std::vector<int64_t> silent;
        for (int64_t i = 0; i < static_cast<int64_t>(slots_.size()); ++i) {
          if (slots_[i].sink == sink && participants_[i] && !slots_[i].received) {
            silent.push_back(i);
          }
        }
        const std::string message = absl::StrCat(
            "round ", round, " has been open for ", absl::FormatDuration(round_timeout_),
            " (--round-timeout-seconds) without updates from clients ", FormatIdRanges(silent),
            "; the stream is detached and its clients freed");
        if (metrics_ != nullptr) metrics_->OnRejected(RejectionReason::kRoundTimeout);
        AuditEvent event = EventFor(AuditEventKind::kRoundTimeout, sink);
        event.clients = FormatIdRanges(silent);
        event.code = "DEADLINE_EXCEEDED";
        event.reason = RejectionReason::kRoundTimeout;
        event.detail = message;
        audit_queue_.push_back(std::move(event));
        sink->Abort(absl::DeadlineExceededError(message));
        RemoveSinkLocked(sink);
      }
      deadline_start_ = now;
    }
    next = std::min(next, deadline_start_ + round_timeout_);
  }
  // Clients nobody carries: the run cannot go on until a worker attaches them.
  if (now - round_opened_ >= coverage_report_after_) {
    std::vector<int64_t> unassigned;
    for (int64_t i = 0; i < static_cast<int64_t>(slots_.size()); ++i) {
      if (participants_[i] && slots_[i].sink == nullptr && !slots_[i].received) {
        unassigned.push_back(i);
      }
    }
    const std::string ranges = unassigned.empty() ? "" : FormatIdRanges(unassigned);
    if (!unassigned.empty() &&
        (ranges != last_unassigned_ || now - last_coverage_report_ >= absl::Seconds(30))) {
      AuditEvent event = EventFor(AuditEventKind::kUnassignedClients, nullptr);
      event.clients = ranges;
      event.detail =
          absl::StrCat("round ", round, " is waiting for clients ", ranges,
                       ", which have no worker (", unassigned.size(), " of ", slots_.size(),
                       " clients: check the workers' --client-ids for gaps or overlaps)");
      audit_queue_.push_back(std::move(event));
      last_coverage_report_ = now;
    }
    last_unassigned_ = ranges;
  } else {
    next = std::min(next, round_opened_ + coverage_report_after_);
  }
  return next;
}

void RoundCoordinator::Stop(const std::string& reason) {
  absl::MutexLock lock(&mu_);
  if (done_) return;
  if (stop_requested_) {
    // Already stopping: wait for the closer as the first Stop does.
  } else {
    stop_requested_ = true;
    stop_reason_ = reason;
    if (!writing_) {
      // The open round without its pending updates: the workers resend them to the next
      // aggregator.
      absl::Status checkpoint = CheckpointLocked();
      BroadcastLocked(MakeFinishLocked(true, reason), true);
      SetDoneLocked(checkpoint.ok() ? absl::CancelledError(absl::StrCat("stopped (", reason, ")"))
                                    : checkpoint);
      return;
    }
  }
  // The closer is writing a row; it ends the run when the row is out. The observer runs on the
  // closer thread and may call Stop: it must not wait for itself.
  if (std::this_thread::get_id() == closer_.get_id()) return;
  mu_.Await(absl::Condition(&done_));
}

bool RoundCoordinator::WaitDone(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
}

bool RoundCoordinator::WaitForReceived(int64_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto settled = [this, count]()
                     ABSL_SHARED_LOCKS_REQUIRED(mu_) { return done_ || received_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&settled), timeout);
}

bool RoundCoordinator::WaitForDetached(int64_t client, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (client < 0 || client >= context_->num_clients()) return true;
  auto detached = [this, client]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return done_ || slots_[client].sink == nullptr;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&detached), timeout);
}

absl::Status RoundCoordinator::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool RoundCoordinator::complete() const {
  absl::MutexLock lock(&mu_);
  return complete_;
}

uint64_t RoundCoordinator::rounds_closed() const {
  absl::MutexLock lock(&mu_);
  return rounds_closed_;
}

double RoundCoordinator::waiting_seconds() const {
  absl::MutexLock lock(&mu_);
  return waited_total_;
}

uint64_t RoundCoordinator::StateHash() const {
  absl::MutexLock lock(&mu_);
  uint64_t h = 0xcbf29ce484222325ULL;
  const uint64_t round = server_->round();
  h = Mix(h, &round, sizeof(round));
  h = Mix(h, server_->x().data(), sizeof(double) * server_->x().size());
  h = Mix(h, server_->g().data(), sizeof(double) * server_->g().size());
  for (const std::optional<ShardReport>& r : shard_reports_) {
    const uint64_t present = r.has_value();
    h = Mix(h, &present, sizeof(present));
    if (r) {
      const double values[3] = {r->constants.L, r->constants.L0, r->constants.L1};
      const uint64_t words[2] = {static_cast<uint64_t>(r->constants.rows), r->digest};
      h = Mix(h, values, sizeof(values));
      h = Mix(h, words, sizeof(words));
    }
  }
  for (size_t k = 0; k < open_sums_count_; ++k) {
    const DecodedGradientSum& sum = open_sums_[k];
    const int64_t node[2] = {sum.node.level, sum.node.index};
    h = Mix(h, node, sizeof(node));
    h = Mix(h, sum.values.data(), sizeof(double) * sum.values.size());
  }
  for (const ClientSlot& slot : slots_) {
    h = Mix(h, slot.g.data(), sizeof(double) * slot.g.size());
    h = Mix(h, &slot.chain, sizeof(slot.chain));
    const uint64_t flags[3] = {slot.received, static_cast<uint64_t>(slot.last_round),
                               slot.received ? slot.pending.digest : 0};
    h = Mix(h, flags, sizeof(flags));
  }
  return h;
}

bool RoundCoordinator::CloserHasWorkLocked() const {
  return done_ || stop_requested_ || received_ == expected_ || inline_row_.has_value() ||
         !audit_queue_.empty();
}

bool RoundCoordinator::CloseNextRoundLocked() {
  for (;;) {
    const absl::Time wake = WatchRoundLocked();
    FlushAuditLocked();
    mu_.AwaitWithDeadline(absl::Condition(this, &RoundCoordinator::CloserHasWorkLocked), wake);
    // A round the stream completing it closed (CloseInlineLocked): its row is this thread's.
    if (inline_row_.has_value()) {
      MetricsRow row = *std::move(inline_row_);
      inline_row_.reset();
      std::optional<Snapshot> snapshot = std::move(inline_snapshot_);
      inline_snapshot_.reset();
      return FinishCloseLocked(row, std::move(snapshot), std::exchange(inline_last_, false));
    }
    if (done_ || stop_requested_) return false;
    if (received_ != expected_) continue;
    // Before anything is committed: an update that would overflow its g_i copy is refused.
    if (RefuseOverflowingLocked() == 0) break;
    FlushAuditLocked();
  }
  if (done_ || stop_requested_) return false;
  MetricsRow row;
  std::optional<Snapshot> snapshot;
  bool last = false;
  if (!CloseRoundLocked(&row, &snapshot, &last)) return false;
  return FinishCloseLocked(row, std::move(snapshot), last);
}

bool RoundCoordinator::InlineCloseAllowedLocked() const {
  const uint64_t round = server_->round();
  // The last round completes the run after its row, and a due checkpoint is written between the
  // row and the next RoundStart: both stay with the closer, as does a close while a row is out
  // (rows in order), and --client-state=worker's release of the round's memory after the I/O.
  return !done_ && !stop_requested_ && !writing_ && !worker_state_ &&
         round != static_cast<uint64_t>(context_->options.rounds) &&
         !CheckpointDueLocked(round + 1, MonotonicSeconds());
}

void RoundCoordinator::CloseInlineLocked() {
  if (received_ != expected_ || !InlineCloseAllowedLocked()) return;
  // As the closer does: an update that would overflow its g_i copy is refused first (the closer
  // then writes the audit events: CloserHasWorkLocked), and the round waits for another.
  if (RefuseOverflowingLocked() != 0) return;
  MetricsRow row;
  std::optional<Snapshot> snapshot;
  bool last = false;
  if (!CloseRoundLocked(&row, &snapshot, &last)) return;
  // The row (and a checkpoint that fell due meanwhile by the clock: then the RoundStart waits for
  // it, as with the closer) is the closer thread's; Stop waits for it as for any row being written.
  inline_row_ = std::move(row);
  inline_snapshot_ = std::move(snapshot);
  inline_last_ = last;
  writing_ = true;
}

bool RoundCoordinator::CloseRoundLocked(MetricsRow* row_out, std::optional<Snapshot>* snapshot_out,
                                        bool* last_out) {
  const uint64_t round = server_->round();
  const bool last = round == static_cast<uint64_t>(context_->options.rounds);
  for (int64_t i = 0; i < context_->num_clients(); ++i) {
    const DecodedUpdate& pending = slots_[i].pending;
    reports_[i].loss = pending.loss;
    // A participant's message, packed or not (PackDecodedUpdate).
    reports_[i].c = participants_[i] && !pending.is_packed ? &pending.c : nullptr;
    reports_[i].packed = participants_[i] && pending.is_packed ? &pending.packed : nullptr;
  }
  const double now = MonotonicSeconds();
  MetricsRow row;
  {
    // The close steps x, which the open point borrows: no stream may be reading it meanwhile.
    absl::WriterMutexLock point_lock(&point_mu_);
    node_sums_.clear();
    for (size_t k = 0; k < open_sums_count_; ++k) {
      node_sums_.push_back(NodeSum{open_sums_[k].node, &open_sums_[k].values});
    }
    row = round_closer_.Close(reports_, now - started_, server_.get(), &open_point_.point,
                              node_sums_);
    // x is x^{r+1} now: no round's point until OpenDownlinkLocked prepares the next one.
    open_point_.round = kNoOpenRound;
  }
  // Every g_i copy was checked before the close, so x and g stay finite unless
  // --max-update-value is set beyond what the stepsize can absorb: stop rather than serve a model
  // of infinities.
  if (!AllFiniteWithin(server_->x(), HUGE_VAL) || !AllFiniteWithin(server_->g(), HUGE_VAL)) {
    absl::Status overflow = absl::InternalError(
        absl::StrCat("x or g left the finite range when round ", round,
                     " closed; lower --max-update-value (now ", max_abs_value_, ")"));
    BroadcastLocked(MakeFinishLocked(true, std::string(overflow.message())), true);
    SetDoneLocked(std::move(overflow));
    return false;
  }
  // The next RoundStart needs only x, g and the round's delta: when no checkpoint must come
  // first, it leaves now, and the bookkeeping below (applying the updates to the g_i copies,
  // drawing the next participants, counters) runs while the workers compute. Everything here
  // holds the lock, so no other thread sees the difference. (--client-state=worker keeps the
  // order its memory was measured with.)
  // A periodic checkpoint of round r + 1 is written after round r's row (a resumed run needs the
  // rows before its open round), and round r + 1 starts only once it is on disk: a RoundStart
  // marked `checkpointed` must never name a checkpoint a crash can still lose.
  const bool checkpoint_due = !last && CheckpointDueLocked(round + 1, now);
  const bool start_first = !worker_state_ && !last && !checkpoint_due;
  if (start_first) OpenNextRoundLocked(/*broadcast=*/true);
  for (size_t i = 0; i < slots_.size(); ++i) {
    ClientSlot& slot = slots_[i];
    if (!participants_[i]) continue;  // sat the round out (EF21-PP): g_i unchanged
    if (worker_state_) {
      slot.chain = ChainClientState(slot.chain, round, PendingMessageLocked(slot));
    } else {
      server_->ApplyToClientCopy(slot.pending.c, &slot.g);
      slot.g_within = true;  // RefuseOverflowingLocked checked the update against the bound
    }
    slot.ever_received = true;
    slot.received = false;
    // Applied: a large message's storage goes back to the heap now, where the next round's
    // decodes find it, instead of staying with the slot (and then with the stream Submit swaps it
    // to) while the next round's n messages are decoded: one round's messages in memory, not
    // two. A small one (kKeptMessageBytes) keeps its storage for the next decode into it, so
    // that many clients with small messages (a1a: 1,605 of 12 bytes) cost no allocations a round.
    const size_t bytes = sizeof(int32_t) * slot.pending.c.indices.capacity() +
                         sizeof(double) * slot.pending.c.values.capacity() +
                         sizeof(double) * static_cast<size_t>(slot.pending.gradient.size()) +
                         slot.pending.packed.HeapBytes();
    if (bytes > kKeptMessageBytes) {
      slot.pending.c = SparseVector{};
      // Swapped out, not assigned from an empty one: a std::string move-assigned from a short
      // (in-place) one keeps its own heap buffer, and every slot kept its index code's (~1.4 KB
      // a client at k = 1,000, d = 10^6) through the rounds.
      PackedSparse released;
      std::swap(slot.pending.packed, released);
      slot.pending.gradient = Vector();
    }
  }
  received_ = 0;
  open_sums_count_ = 0;
  rounds_closed_ = round + 1;
  if (!last) DrawParticipantsLocked();
  // Counters only (no I/O): kept under the lock so they move together with the round gauge.
  // The round's duration without waiting for workers; the next round's waiting starts now.
  UpdateWaitingLocked(now);
  const double duration = now - round_started_ - waited_in_round_;
  waited_in_round_ = 0.0;
  if (metrics_ != nullptr) metrics_->OnRoundClosed(row, round_closer_.totals(), duration);
  round_started_ = now;
  std::optional<Snapshot> snapshot;
  if (checkpoint_due) snapshot = SnapshotLocked();
  round_opened_ = deadline_start_ = absl::Now();
  last_unassigned_.clear();
  if (!last && !start_first) OpenNextRoundLocked(/*broadcast=*/!snapshot);
  *row_out = std::move(row);
  *snapshot_out = std::move(snapshot);
  *last_out = last;
  return true;
}

bool RoundCoordinator::FinishCloseLocked(const MetricsRow& row, std::optional<Snapshot> snapshot,
                                         bool last) {
  // The row's I/O and the observer without the lock, so reactors never wait on them. Only this
  // thread writes rows, one at a time, so they stay in round order.
  writing_ = true;
  mu_.Unlock();
  absl::Status written = log_->Append(row);
  if (written.ok() && observer_) observer_(row);
  int64_t checkpoint_bytes = 0;
  double checkpoint_seconds = 0.0;
  if (written.ok() && snapshot) {
    written = WriteSnapshot(*snapshot, &checkpoint_bytes, &checkpoint_seconds);
  }
  mu_.Lock();
  writing_ = false;

  if (!written.ok()) {
    BroadcastLocked(MakeFinishLocked(true, std::string(written.message())), true);
    SetDoneLocked(std::move(written));
    return false;
  }
  // An aggregator keeping no g_i copies gives the close's scratch back until the next close
  // (d + 1.5·|union| words) once the round's delta is sent, or after the last round.
  if (last) {
    if (worker_state_) server_->ReleaseRoundScratch();
    complete_ = true;
    // The finished run, so that a restarted aggregator serves it instead of starting over.
    if (absl::Status s = CheckpointLocked(); !s.ok()) {
      complete_ = false;
      BroadcastLocked(MakeFinishLocked(true, std::string(s.message())), true);
      SetDoneLocked(std::move(s));
      return false;
    }
    BroadcastLocked(MakeFinishLocked(false, ""), true);
    SetDoneLocked(absl::OkStatus());
    return false;
  }
  if (snapshot) {
    RecordCheckpointLocked(snapshot->checkpoint.round, checkpoint_bytes, checkpoint_seconds);
    open_round_checkpointed_ = true;
    ForgetRoundStartsLocked();
    BroadcastRoundStartLocked();
  }
  if (worker_state_) {
    // Every stream has the round's RoundStart queued (a later attach gets a dense one): the
    // messages live on only while a stream still writes them.
    ForgetRoundStartsLocked();
    server_->ReleaseRoundScratch();
    // The round's messages, freed at the close, were small blocks spread over malloc's arenas:
    // give their whole free pages back to the system until the next round's arrive.
    malloc_trim(0);
  }
  if (stop_requested_) {
    absl::Status checkpoint = CheckpointLocked();
    BroadcastLocked(MakeFinishLocked(true, stop_reason_), true);
    SetDoneLocked(checkpoint.ok()
                      ? absl::CancelledError(absl::StrCat("stopped (", stop_reason_, ")"))
                      : checkpoint);
    return false;
  }
  return true;
}

void RoundCoordinator::CloserLoop() {
  absl::MutexLock lock(&mu_);
  while (CloseNextRoundLocked()) {
  }
}

}  // namespace ef21
