#include "server/aggregator_service.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status_macros.h"
#include "proto/codec.h"

namespace ef21 {
namespace {

class TrainReactor final : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::ServerMessage>,
                           public StreamSink {
 public:
  TrainReactor(grpc::CallbackServerContext* context, RoundCoordinator* coordinator,
               AggregatorMetrics* metrics)
      : coordinator_(coordinator),
        metrics_(metrics),
        context_(coordinator->context()),
        server_context_(context) {
    context->AddTrailingMetadata(kRunIdMetadataKey, coordinator->run_id());
    StartRead(&in_);
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
    const absl::Status status = Handle(&reason);
    if (!status.ok()) {
      if (metrics_ != nullptr) metrics_->OnRejected(reason);
      coordinator_->Detach(this);
      RequestFinish(ToGrpcStatus(status), /*drop_queue=*/true);
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
    }
    StartRead(&in_);
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
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
      queue_.push_back(std::move(message));
      action = NextActionLocked();
    }
    Perform(action);
  }

  void FinishAfterQueue() override { RequestFinish(grpc::Status::OK, /*drop_queue=*/false); }

 private:
  struct Action {
    const v1::ServerMessage* write = nullptr;
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

  absl::Status Handle(RejectionReason* reason) {
    if (in_.has_attach() && in_.updates_size() > 0) {
      *reason = RejectionReason::kMalformedMessage;
      return absl::InvalidArgumentError(
          "a WorkerMessage carries an Attach or updates, not both");
    }
    if (in_.has_attach()) {
      if (attached_) {
        *reason = RejectionReason::kAttachTwice;
        return absl::FailedPreconditionError("Attach sent twice on one stream");
      }
      EF21_RETURN_IF_ERROR(coordinator_->Attach(this, in_.attach(), reason));
      attached_ = true;
      return absl::OkStatus();
    }
    if (in_.updates_size() == 0) {
      *reason = RejectionReason::kEmptyMessage;
      return absl::InvalidArgumentError("empty WorkerMessage: expected an Attach or updates");
    }
    if (!attached_) {
      *reason = RejectionReason::kUpdateBeforeAttach;
      return absl::FailedPreconditionError("update before Attach: attach the stream's clients first");
    }
    const size_t count = static_cast<size_t>(in_.updates_size());
    if (decoded_.size() < count) decoded_.resize(count);
    int64_t previous = -1;
    for (size_t j = 0; j < count; ++j) {
      const v1::Update& u = in_.updates(static_cast<int>(j));
      const int64_t client = u.client_id();
      if (client <= previous && client < context_.num_clients()) {
        *reason = RejectionReason::kMalformedMessage;
        return absl::InvalidArgumentError(
            absl::StrCat("update for round ", u.round(), " from client ", client,
                         ": client ids of a batch must increase; ", client, " follows ", previous));
      }
      EF21_RETURN_IF_ERROR(DecodeUpdate(u, context_, &decoded_[j], reason));
      previous = client;
    }
    int duplicates = 0;
    return coordinator_->Submit(this, absl::MakeSpan(decoded_.data(), count), &duplicates, reason);
  }

  RoundCoordinator* const coordinator_;
  AggregatorMetrics* const metrics_;
  const MethodContext& context_;
  grpc::CallbackServerContext* const server_context_;

  // Read side: one read at a time, touched only by OnReadDone.
  v1::WorkerMessage in_;
  bool attached_ = false;
  std::vector<DecodedUpdate> decoded_;

  absl::Mutex mu_;
  // Front: the message being written.
  std::deque<std::shared_ptr<const v1::ServerMessage>> queue_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerBidiReactor<v1::WorkerMessage, v1::ServerMessage>* AggregatorService::Train(
    grpc::CallbackServerContext* context) {
  return new TrainReactor(context, coordinator_, metrics_);
}

}  // namespace ef21
