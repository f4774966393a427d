#include "server/aggregator_service.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <new>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status_macros.h"
#include "common/run/gradient_tree.h"
#include "common/run/round_metrics.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/coded_stream.h"
#include "proto/codec.h"
#include "proto/update_wire.h"

namespace ef21 {
namespace {

class TrainReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                           public StreamSink {
 public:
  TrainReactor(grpc::CallbackServerContext* context, const AggregatorService::Options& options,
               SerializedMessages* serialized)
      : options_(options),
        serialized_(serialized),
        coordinator_(options.coordinator),
        metrics_(options.metrics),
        context_(coordinator_->context()),
        server_context_(context),
        arena_block_(context_.options.client_state == ClientStateMode::kWorker
                         ? nullptr
                         : new char[kArenaBlockBytes]),
        arena_(ArenaOptionsFor(arena_block_.get())),
        in_(google::protobuf::Arena::CreateMessage<v1::WorkerMessage>(&arena_)) {
    info_.peer = context->peer();
    if (options.authorizer != nullptr) {
      absl::string_view authorization;
      const auto& metadata = context->client_metadata();
      if (auto it = metadata.find("authorization"); it != metadata.end()) {
        authorization = absl::string_view(it->second.data(), it->second.size());
      }
      std::optional<std::string> identity =
          options.authorizer->Authenticate(context->auth_context().get(), authorization);
      if (!identity) {
        // Nothing is read and nothing about the run is said.
        const absl::Status refusal = absl::UnauthenticatedError(
            "authentication required: a client certificate or a bearer token this aggregator "
            "lists");
        if (metrics_ != nullptr) metrics_->OnRejected(RejectionReason::kUnauthenticated);
        Audit(AuditEventKind::kRefusal, refusal, RejectionReason::kUnauthenticated);
        RequestFinish(ToGrpcStatus(refusal), /*drop_queue=*/true);
        return;
      }
      info_.identity = *identity;
    }
    StartRead(&in_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      coordinator_->Detach(this);
      bool finishing;
      {
        absl::MutexLock lock(&mu_);
        finishing = finish_requested_;
      }
      // An honest worker half-closes after Finish; a crashed one cancels.
      if (finishing || server_context_->IsCancelled()) {
        RequestFinish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), /*drop_queue=*/true);
        return;
      }
      // gRPC's callback API reports bytes that do not parse as a WorkerMessage (and a message
      // above the size cap, which gRPC itself answers with RESOURCE_EXHAUSTED) exactly like a
      // half-close: a failed read. None is legitimate before the run ends.
      if (metrics_ != nullptr) metrics_->OnRejected(RejectionReason::kUnreadableOrEarlyClose);
      RequestFinish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "the stream's messages ended before the run did: the worker "
                                 "half-closed early or sent bytes that are not a WorkerMessage"),
                    /*drop_queue=*/true);
      return;
    }
    RejectionReason reason = RejectionReason::kMalformedMessage;
    absl::Status status;
    const size_t bytes = in_bytes_.Length();
    NewMessage();
    // A batch of updates in its plain form is decoded from its bytes (proto/update_wire.h);
    // anything else — an Attach, a form the wire reader leaves to protobuf — is parsed by protobuf.
    // Both end in HandleBatch, with the same checks.
    if (attached_ && FlattenInput(bytes) && ParseUpdateBatch(flat_view_, &batch_)) {
      status = HandleBatch(bytes, &reason);
      in_bytes_.Clear();  // as Deserialize leaves it
    } else if (!grpc::SerializationTraits<v1::WorkerMessage>::Deserialize(&in_bytes_, in_).ok()) {
      // The Audit below names no clients: the message is cleared, not half-parsed.
      in_->Clear();
      reason = RejectionReason::kUnreadableOrEarlyClose;
      status = absl::InvalidArgumentError(
          "the worker sent bytes that are not a WorkerMessage (the stream's messages must parse "
          "as ef21.v1.WorkerMessage)");
    } else {
      status = Handle(bytes, &reason);
    }
    ReleaseInput();
    if (!status.ok()) {
      if (metrics_ != nullptr) metrics_->OnRejected(reason);
      Audit(AuditEventKind::kRefusal, status, reason);
      coordinator_->Detach(this);
      RequestFinish(ToGrpcStatus(status), /*drop_queue=*/true);
      return;
    }
    // The batch is in the coordinator (or was a resend): its parsed form, up to a worker's
    // clients' messages, is not kept until the next read — unless it fits the arena's own block
    // (kKeptBatchBytes): then it stays there until the next read resets it. (A larger one held
    // until the next read kept every stream's last batch — its arena blocks and index codes —
    // through the end of the round, when the pending messages peak.)
    if (in_->updates_size() > 0 && !KeepParsed(bytes)) NewMessage();
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
    }
    StartRead(&in_bytes_);
  }

  void OnWriteDone(bool ok) override {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!queue_.empty()) queue_.pop_front();
      if (!ok) {
        queue_.clear();
        if (!finish_requested_) {
          finish_requested_ = true;
          finish_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream broken");
        }
      }
      action = NextActionLocked();
    }
    Perform(action);
  }

  void OnCancel() override {
    coordinator_->Detach(this);
    RequestFinish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"), /*drop_queue=*/true);
  }

  void OnDone() override {
    coordinator_->Detach(this);
    delete this;
  }

  // StreamSink.
  void Send(std::shared_ptr<const v1::ServerMessage> message) override {
    Action action;
    std::shared_ptr<const grpc::ByteBuffer> bytes = serialized_->Get(message);
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
      queue_.push_back(std::move(bytes));
      action = NextActionLocked();
    }
    Perform(action);
  }

  std::shared_ptr<const void> SendBytes(std::shared_ptr<const std::string> bytes) override {
    // A byte buffer over the bytes themselves (no copy): the slice keeps them alive until gRPC
    // is done with it.
    auto* keep = new std::shared_ptr<const std::string>(bytes);
    grpc::Slice slice(
        const_cast<char*>(bytes->data()), bytes->size(),
        [](void* kept) { delete static_cast<std::shared_ptr<const std::string>*>(kept); }, keep);
    auto buffer = std::make_shared<const grpc::ByteBuffer>(&slice, 1);
    Action action;
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return bytes;
      queue_.push_back(std::move(buffer));
      action = NextActionLocked();
    }
    Perform(action);
    return bytes;
  }

  void FinishAfterQueue() override { RequestFinish(grpc::Status::OK, /*drop_queue=*/false); }

  void Abort(const absl::Status& status) override {
    RequestFinish(ToGrpcStatus(status), /*drop_queue=*/true);
  }

  const StreamInfo& info() const override { return info_; }

 private:
  struct Action {
    const grpc::ByteBuffer* write = nullptr;
    bool finish = false;
    grpc::Status status;
  };

  // At most one write in flight; Finish once the queue is drained (or dropped).
  Action NextActionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Action action;
    if (write_in_flight_ || finished_) return action;
    if (!queue_.empty()) {
      write_in_flight_ = true;
      action.write = queue_.front().get();
    } else if (finish_requested_) {
      finished_ = true;
      action.finish = true;
      action.status = finish_status_;
    }
    return action;
  }

  void Perform(const Action& action) {
    if (action.write != nullptr) StartWrite(action.write);
    if (action.finish) Finish(action.status);
  }

  void RequestFinish(grpc::Status status, bool drop_queue) {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
      finish_requested_ = true;
      finish_status_ = std::move(status);
      if (drop_queue) {
        // Keep the message being written (its buffer is in use); drop the rest.
        while (queue_.size() > (write_in_flight_ ? 1u : 0u)) queue_.pop_back();
      }
      action = NextActionLocked();
    }
    Perform(action);
  }

  void Audit(AuditEventKind event, const absl::Status& status,
             std::optional<RejectionReason> reason) {
    if (options_.audit == nullptr) return;
    AuditEvent e;
    e.event = event;
    e.peer = info_.peer;
    e.identity = info_.identity;
    e.worker = info_.worker;
    if (in_->has_attach()) {
      std::vector<int64_t> ids(in_->attach().client_ids().begin(),
                               in_->attach().client_ids().end());
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      e.clients = FormatIdRanges(ids);
    }
    if (!status.ok()) {
      e.code = absl::StatusCodeToString(status.code());
      e.reason = reason;
      e.detail = std::string(status.message().substr(0, 300));
    }
    options_.audit->Record(e);
  }

  // `bytes`: the message's size on the wire.
  absl::Status Handle(size_t bytes, RejectionReason* reason) {
    if (in_->has_attach() && (in_->updates_size() > 0 || in_->gradient_sums_size() > 0)) {
      *reason = RejectionReason::kMalformedMessage;
      return absl::InvalidArgumentError("a WorkerMessage carries an Attach or updates, not both");
    }
    if (in_->has_attach()) {
      if (attached_) {
        *reason = RejectionReason::kAttachTwice;
        return absl::FailedPreconditionError("Attach sent twice on one stream");
      }
      // The name is the worker's own claim: keep it printable and short for the logs.
      info_.worker = absl::CHexEscape(in_->attach().worker_name().substr(0, 128));
      if (options_.authorizer != nullptr) {
        std::vector<int64_t> ids(in_->attach().client_ids().begin(),
                                 in_->attach().client_ids().end());
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        const std::vector<int64_t> denied = options_.authorizer->Denied(info_.identity, ids);
        if (!denied.empty()) {
          *reason = RejectionReason::kNotAuthorized;
          return absl::PermissionDeniedError(absl::StrCat(
              "identity '", info_.identity, "' may not carry clients ", FormatIdRanges(denied)));
        }
      }
      const absl::Status status = coordinator_->Attach(this, in_->attach(), reason);
      // Only a worker admitted to the run, or one that was in it before a restart, learns its id.
      if (status.ok() || *reason == RejectionReason::kWrongRun) {
        server_context_->AddTrailingMetadata(kRunIdMetadataKey, coordinator_->run_id());
      }
      EF21_RETURN_IF_ERROR(status);
      attached_ = true;
      Audit(AuditEventKind::kAttach, absl::OkStatus(), std::nullopt);
      return absl::OkStatus();
    }
    if (in_->updates_size() == 0) {
      *reason = RejectionReason::kEmptyMessage;
      return absl::InvalidArgumentError("empty WorkerMessage: expected an Attach or updates");
    }
    if (!attached_) {
      *reason = RejectionReason::kUpdateBeforeAttach;
      return absl::FailedPreconditionError(
          "update before Attach: attach the stream's clients first");
    }
    ViewBatch(*in_, &batch_);
    return HandleBatch(bytes, reason);
  }

  // The updates and gradient sums of batch_ (viewed from the wire or from in_): decoded,
  // validated and submitted to the coordinator. `bytes`: the message's size on the wire.
  absl::Status HandleBatch(size_t bytes, RejectionReason* reason) {
    const size_t count = batch_.updates.size();
    if (decoded_.size() < count) decoded_.resize(count);
    const size_t sum_count = batch_.sums.size();
    EF21_RETURN_IF_ERROR(DecodeGradientSums(batch_.sums, context_, tree_, &decoded_sums_, reason));
    int64_t previous = -1;
    size_t sum = 0;  // the first sum that does not end at or before the update's client
    for (size_t j = 0; j < count; ++j) {
      const UpdateView& u = batch_.updates[j];
      const int64_t client = u.client_id;
      if (client <= previous && client < context_.num_clients()) {
        *reason = RejectionReason::kMalformedMessage;
        return absl::InvalidArgumentError(
            absl::StrCat("update for round ", u.round, " from client ", client,
                         ": client ids of a batch must increase; ", client, " follows ", previous));
      }
      const bool summed = UnderGradientSum(tree_, decoded_sums_, sum_count, client, &sum);
      // An aggregator keeping memory low (--client-state=worker) keeps a float32 run's messages
      // packed until their round closes: each is decoded (and validated) into one buffer.
      if (pack_) std::swap(decoded_[j].c, unpacked_);
      EF21_RETURN_IF_ERROR(
          DecodeUpdate(u, context_, &decoded_[j], reason, options_.max_abs_value, summed));
      if (pack_) PackDecodedUpdate(&decoded_[j], &unpacked_);
      previous = client;
    }
    const absl::Span<DecodedUpdate> batch = absl::MakeSpan(decoded_.data(), count);
    const absl::Span<DecodedGradientSum> sums = absl::MakeSpan(decoded_sums_.data(), sum_count);
    EF21_RETURN_IF_ERROR(CheckGradientSumsCover(batch, context_, tree_, sums, reason));
    // The updates are decoded: a large batch's bytes and parsed form go back now (unless gradient
    // sums, which view them, came with it), before the checks against the data below — the
    // longest part (a loss over d coordinates per update), which several streams may run at
    // once, each holding its batch meanwhile.
    if (sum_count == 0 && !KeepParsed(bytes)) ReleaseBatchInput();
    if (options_.verify_diagnostics && context_.problem->HasData()) {
      // After every other check, so a refusal names the first thing wrong with the batch.
      EF21_RETURN_IF_ERROR(coordinator_->Precheck(this, batch, reason));
      EF21_RETURN_IF_ERROR(VerifyDiagnostics(batch, reason));
      for (const DecodedGradientSum& s : sums) EF21_RETURN_IF_ERROR(VerifySum(s, reason));
    }
    int duplicates = 0;
    return coordinator_->Submit(this, batch, &duplicates, reason, sums);
  }

  // Recomputes a sum (as the tree sums it) from the aggregator's data and compares.
  absl::Status VerifySum(const DecodedGradientSum& sum, RejectionReason* reason) {
    absl::Status status;
    coordinator_->WithOpenPoint(sum.round, [&](const OpenPoint& open) {
      const Problem& problem = *context_.problem;
      thread_local Vector computed, gradient;
      thread_local std::vector<Vector> scratch;
      tree_.Sum(
          sum.node, context_.dim(), [](TreeNode) -> const Vector* { return nullptr; },
          [&](int64_t i, Vector* acc) {
            problem.LossAndGradient(i, open.point, &gradient);
            AddGradient(gradient, acc);
          },
          &scratch, &computed);
      for (Eigen::Index j = 0; j < computed.size(); ++j) {
        if (!(std::abs(sum.values[j] - computed[j]) <=
              kDiagnosticsTolerance * (1.0 + std::abs(computed[j])))) {
          *reason = RejectionReason::kBadDiagnostics;
          status = absl::InvalidArgumentError(
              absl::StrCat("gradient sum over clients ", tree_.Begin(sum.node), "-",
                           tree_.End(sum.node) - 1, " for round ", sum.round, " reports entry ", j,
                           " = ", absl::StrFormat("%.17g", sum.values[j]),
                           "; the aggregator computes ", absl::StrFormat("%.17g", computed[j])));
          return;
        }
      }
    });
    return status;
  }

  // Recomputes each update's f_i(x^r) (and ∇f_i(x^r) on diagnostic rounds) from the aggregator's
  // data and compares, in order; the first disagreement is the error. Updates for another round
  // than the open one are left to the coordinator (stale, future or a resend). Each run of
  // updates of one round is checked under one hold of the open point (one pair of locks a batch,
  // not a pair per update).
  absl::Status VerifyDiagnostics(absl::Span<const DecodedUpdate> updates, RejectionReason* reason) {
    absl::Status status;
    for (size_t j = 0; j < updates.size() && status.ok();) {
      const uint64_t round = updates[j].round;
      size_t end = j + 1;
      while (end < updates.size() && updates[end].round == round) ++end;
      coordinator_->WithOpenPoint(round, [&](const OpenPoint& open) {
        for (size_t k = j; k < end && status.ok(); ++k) status = VerifyAt(open, updates[k], reason);
      });
      j = end;
    }
    return status;
  }

  absl::Status VerifyAt(const OpenPoint& open, const DecodedUpdate& u, RejectionReason* reason) {
    const Problem& problem = *context_.problem;
    const int64_t client = u.client;
    const Vector& gradient = u.gradient;
    *reason = RejectionReason::kBadDiagnostics;
    auto differs = [](double reported, double computed) {
      return !(std::abs(reported - computed) <= kDiagnosticsTolerance * (1.0 + std::abs(computed)));
    };
    auto loss_error = [&](double computed) {
      return absl::InvalidArgumentError(
          absl::StrCat("update for round ", u.round, " from client ", client, " reports f_", client,
                       "(x) = ", absl::StrFormat("%.17g", u.loss), "; the aggregator computes ",
                       absl::StrFormat("%.17g", computed)));
    };
    thread_local Vector computed;
    if (!open.diagnostics) {
      // What the client reports off diagnostic rounds: with noise, the problem's own choice of
      // loss (a minibatch's), a pure function of (seed, client, round) like the rest.
      const double loss = problem.IsStochastic(context_.noise)
                              ? problem.StochasticLossAndGradient(
                                    client, open.point, context_.noise, u.round, &computed)
                              : problem.Loss(client, open.point);
      return differs(u.loss, loss) ? loss_error(loss) : absl::OkStatus();
    }
    if (gradient.size() == 0) {
      // --client-state=worker: no gradient came, the loss alone is checked (no d-sized buffer).
      const double loss = problem.Loss(client, open.point);
      return differs(u.loss, loss) ? loss_error(loss) : absl::OkStatus();
    }
    const double loss = problem.LossAndGradient(client, open.point, &computed);
    if (differs(u.loss, loss)) return loss_error(loss);
    for (Eigen::Index j = 0; j < computed.size(); ++j) {
      if (differs(gradient[j], computed[j])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "update for round ", u.round, " from client ", client, " reports gradient entry ", j,
            " = ", absl::StrFormat("%.17g", gradient[j]), "; the aggregator computes ",
            absl::StrFormat("%.17g", computed[j])));
      }
    }
    return absl::OkStatus();
  }

  // The arena's own block, reused by every batch: a host's batch of small updates (a1a: ~400
  // updates of ~150 parsed bytes each) parses without a single malloc, and a larger one takes
  // further blocks that the next Reset frees.
  static constexpr size_t kArenaBlockBytes = size_t{128} << 10;
  // A parsed batch up to this size (on the wire) stays on the arena until the next read
  // (OnReadDone); a larger one, which took blocks beyond the arena's own, is freed at once.
  static constexpr size_t kKeptBatchBytes = kArenaBlockBytes / 2;
  // A message in several slices up to this size is copied into one piece for the wire reader.
  static constexpr size_t kFlattenedBytes = size_t{1} << 20;

  // The parse arena: its own block first, then blocks growing from 256 KB to 4 MB, so that a large
  // batch (a host's many clients of a large model) takes a few large blocks. They are mapped from
  // the system and unmapped on Reset (ArenaBlockAlloc), not taken from malloc's heap: there a
  // block freed between the packed messages of the open round, which live on until it closes,
  // stayed resident as a hole until the close trims the heap.
  // Under --client-state=worker a stream has no block of its own (`block` null): its batches are
  // large (ef21 worker --message-bytes) and take the mapped blocks anyway, and the aggregator
  // keeps no memory per worker host between them.
  static google::protobuf::ArenaOptions ArenaOptionsFor(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = block != nullptr ? kArenaBlockBytes : 0;
    options.start_block_size = size_t{256} << 10;
    options.max_block_size = size_t{4} << 20;
    options.block_alloc = &ArenaBlockAlloc;
    options.block_dealloc = &ArenaBlockDealloc;
    return options;
  }
  static void* ArenaBlockAlloc(size_t size) {
    void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // As operator new would: the arena has no way to report a failed allocation.
    if (block == MAP_FAILED) throw std::bad_alloc();
    return block;
  }
  static void ArenaBlockDealloc(void* block, size_t size) { munmap(block, size); }

  // Points flat_view_ at the read message's `bytes` bytes in one piece: its one slice, or a copy
  // of its slices in flat_ when they are at most kFlattenedBytes (a larger message goes to
  // protobuf, which reads the slices where they are). False when it does neither.
  bool FlattenInput(size_t bytes) {
    if (!in_bytes_.Dump(&slices_).ok() || slices_.empty()) return false;
    if (slices_.size() == 1) {
      flat_view_ =
          absl::string_view(reinterpret_cast<const char*>(slices_[0].begin()), slices_[0].size());
      return true;
    }
    if (bytes > kFlattenedBytes) return false;
    flat_.clear();
    for (const grpc::Slice& slice : slices_) {
      flat_.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    flat_view_ = flat_;
    return true;
  }
  // Drops FlattenInput's references to the read message's slices (in_bytes_ keeps its own).
  void ReleaseInput() {
    slices_.clear();
    flat_view_ = absl::string_view();
  }

  // Whether a batch of `bytes` on the wire stays parsed until the next read: when it fits the
  // stream's own block.
  bool KeepParsed(size_t bytes) const {
    return arena_block_ != nullptr && bytes <= kKeptBatchBytes;
  }

  // Gives back everything the read message's batch holds besides its decoded updates: the views
  // (batch_), the message's bytes (its slices, and their flat copy when it was a large one) and
  // its parsed form.
  void ReleaseBatchInput() {
    batch_.Clear();
    ReleaseInput();
    in_bytes_.Clear();
    if (flat_.capacity() > kKeptBatchBytes) std::string().swap(flat_);
    NewMessage();
  }

  // Frees the last parsed message (and every block beyond arena_block_) and makes an empty one.
  void NewMessage() {
    arena_.Reset();
    in_ = google::protobuf::Arena::CreateMessage<v1::WorkerMessage>(&arena_);
  }

  // Reported and recomputed diagnostics agree this closely (relative), allowing for the two
  // evaluation orders of Loss and LossAndGradient.
  static constexpr double kDiagnosticsTolerance = 1e-9;

  const AggregatorService::Options& options_;
  SerializedMessages* const serialized_;

  RoundCoordinator* const coordinator_;
  AggregatorMetrics* const metrics_;
  const MethodContext& context_;
  grpc::CallbackServerContext* const server_context_;
  StreamInfo info_;  // written before Attach reaches the coordinator, read-only after

  // Read side: one read at a time, touched only by OnReadDone.
  grpc::ByteBuffer in_bytes_;
  // The parsed message lives on arena_ (a proto3 message Clear()ed for reuse deletes its
  // sub-messages: parsing a batch into a heap message allocated and freed every update's c).
  std::unique_ptr<char[]> arena_block_;
  google::protobuf::Arena arena_;
  v1::WorkerMessage* in_;
  bool attached_ = false;
  // The read message's bytes in one piece (FlattenInput) and its batch's views.
  std::vector<grpc::Slice> slices_;
  std::string flat_;
  absl::string_view flat_view_;
  BatchView batch_;
  std::vector<DecodedUpdate> decoded_;
  // Whether updates are kept packed (PackDecodedUpdate), and the buffer they are decoded into then.
  const bool pack_ = context_.options.client_state == ClientStateMode::kWorker &&
                     context_.options.value_type == ValueType::kF32;
  SparseVector unpacked_;
  std::vector<DecodedGradientSum> decoded_sums_;
  const GradientTree tree_{context_.num_clients()};

  absl::Mutex mu_;
  // Front: the message being written (its bytes shared with every stream sending it).
  std::deque<std::shared_ptr<const grpc::ByteBuffer>> queue_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status DecodeGradientSums(absl::Span<const GradientSumView> in, const MethodContext& context,
                                const GradientTree& tree, std::vector<DecodedGradientSum>* out,
                                RejectionReason* reason) {
  if (out->size() < static_cast<size_t>(in.size())) {
    out->resize(static_cast<size_t>(in.size()));
  }
  for (size_t k = 0; k < in.size(); ++k) {
    const GradientSumView& sum = in[k];
    DecodedGradientSum& decoded = (*out)[k];
    decoded.node = TreeNode{static_cast<int>(std::min<uint32_t>(sum.level, 1u << 30)),
                            static_cast<int64_t>(std::min<uint64_t>(sum.index, 1ull << 62))};
    *reason = RejectionReason::kBadDiagnostics;
    if (absl::Status s = tree.CheckSumNode(decoded.node); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("gradient sum ", k, ": ", s.message()));
    }
    const int64_t begin = tree.Begin(decoded.node), end = tree.End(decoded.node);
    if (k > 0 && begin < tree.End((*out)[k - 1].node)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient sum ", k, " over clients ", begin, "-", end - 1,
          " overlaps or precedes the sum before it (clients ", tree.Begin((*out)[k - 1].node), "-",
          tree.End((*out)[k - 1].node) - 1, "): a batch's sums must ascend and be disjoint"));
    }
    if (sum.count != context.dim()) {
      return absl::InvalidArgumentError(absl::StrCat("gradient sum ", k, " over clients ", begin,
                                                     "-", end - 1, " has ", sum.count,
                                                     " values; expected ", context.dim()));
    }
    decoded.values.resize(sum.count);
    if (sum.count > 0) {
      std::memcpy(decoded.values.data(), sum.values, sizeof(double) * sum.count);
    }
    const size_t size = static_cast<size_t>(sum.byte_size);
    decoded.wire_bytes = static_cast<int64_t>(
        1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size);
    for (Eigen::Index j = 0; j < decoded.values.size(); ++j) {
      if (!std::isfinite(decoded.values[j])) {
        *reason = RejectionReason::kNonFiniteValue;
        return absl::InvalidArgumentError(absl::StrCat("gradient sum ", k, " over clients ", begin,
                                                       "-", end - 1, ": value ", decoded.values[j],
                                                       " at coordinate ", j, " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status DecodeGradientSums(const v1::WorkerMessage& in, const MethodContext& context,
                                const GradientTree& tree, std::vector<DecodedGradientSum>* out,
                                RejectionReason* reason) {
  BatchView view;
  ViewBatch(in, &view);
  return DecodeGradientSums(view.sums, context, tree, out, reason);
}

bool UnderGradientSum(const GradientTree& tree, const std::vector<DecodedGradientSum>& sums,
                      size_t count, int64_t client, size_t* at) {
  while (*at < count && tree.End(sums[*at].node) <= client) ++*at;
  return *at < count && tree.Begin(sums[*at].node) <= client;
}

absl::Status CheckGradientSumsCover(absl::Span<const DecodedUpdate> updates,
                                    const MethodContext& context, const GradientTree& tree,
                                    absl::Span<DecodedGradientSum> sums, RejectionReason* reason) {
  size_t j = 0;
  for (size_t k = 0; k < sums.size(); ++k) {
    DecodedGradientSum& sum = sums[k];
    const int64_t begin = tree.Begin(sum.node), end = tree.End(sum.node);
    while (j < updates.size() && updates[j].client < begin) ++j;
    *reason = RejectionReason::kBadDiagnostics;
    int64_t covered = 0;
    for (size_t at = j; at < updates.size() && updates[at].client < end; ++at) {
      if (updates[at].round != updates[j].round) {
        return absl::InvalidArgumentError(absl::StrCat(
            "gradient sum ", k, " over clients ", begin, "-", end - 1, " covers updates of rounds ",
            updates[j].round, " and ", updates[at].round));
      }
      ++covered;
    }
    if (covered != end - begin) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient sum ", k, " over clients ", begin, "-", end - 1, " comes with updates of ",
          covered, " of its ", end - begin,
          " clients: a sum is sent in the batch that carries every one of its clients' updates"));
    }
    sum.round = updates[j].round;
    if (!context.UploadsGradient(sum.round)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "gradient sum ", k, " over clients ", begin, "-", end - 1, " for round ", sum.round,
          context.DiagnosticRound(sum.round)
              ? ", which takes no gradients from clients (--client-state=worker)"
              : ", which is not a diagnostic round"));
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<const grpc::ByteBuffer> SerializedMessages::Get(
    const std::shared_ptr<const v1::ServerMessage>& message) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<const grpc::ByteBuffer> found;
  // Forget what nobody holds any more (at most a few entries: the messages in flight). Not a loop
  // moving each kept entry onto its own slot: a weak_ptr moved onto itself comes out empty.
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const Entry& entry) { return entry.bytes.expired(); }),
                 entries_.end());
  for (const Entry& entry : entries_) {
    if (entry.message.lock() != message) continue;
    if (std::shared_ptr<const grpc::ByteBuffer> bytes = entry.bytes.lock()) return bytes;
  }
  auto bytes = std::make_shared<grpc::ByteBuffer>();
  bool own_buffer = false;
  // Serializing a ServerMessage the coordinator built cannot fail (no required fields, sizes far
  // below 2 GB: the largest, a resync RoundStart, is 16·d bytes).
  (void)grpc::SerializationTraits<v1::ServerMessage>::Serialize(*message, bytes.get(), &own_buffer);
  entries_.push_back(Entry{message, bytes});
  return bytes;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AggregatorService::Train(
    grpc::CallbackServerContext* context) {
  return new TrainReactor(context, options_, &serialized_);
}

}  // namespace ef21
