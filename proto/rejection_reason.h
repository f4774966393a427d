// Why the aggregator refused a message of a Train stream: the vocabulary of the `reason` label of
// ef21_rejected_messages_total. The codec (proto/codec.h), the stream reactors and the round
// coordinator (server/) report a refusal as an absl::Status plus one of these; the metrics create
// one counter per value from the table at start, so dashboards see every reason at 0 before the
// first refusal. tests/server/aggregator_test.cc sends one hostile message per reason (and, for
// the transport and limit refusals, runs its row on an aggregator with TLS or that limit set).
#ifndef EF21_PROTO_REJECTION_REASON_H_
#define EF21_PROTO_REJECTION_REASON_H_

#include "common/base/enum_names.h"

namespace ef21 {

enum class RejectionReason {
  // Who is sending (before the first message is read or before Attach reaches the run).
  kUnauthenticated,  // no verified client certificate or listed bearer token
  kNotAuthorized,    // the identity may not carry some of the ids it attaches
  // The shape of a WorkerMessage.
  kMalformedMessage,        // attach and updates together, a batch out of order, a missing field
  kEmptyMessage,            // neither attach nor updates
  kUnreadableOrEarlyClose,  // bytes that are no WorkerMessage, or a half-close before the run ends
  // Attach.
  kAttachTwice,          // a second Attach on one stream
  kUpdateBeforeAttach,   // updates on a stream that has not attached
  kBadAttach,            // no client ids, an id out of range or repeated, claims past their
                         // bounds (proto/codec.h CheckClaimBounds)
  kWrongRun,             // a re-attach naming another run (the aggregator restarted)
  kWrongProblem,         // other problem flags, dimension, client count or data
  kBadConstants,         // Attach's per-client constants missing, misnamed, non-finite, negative,
                         // or their digests not combining to its data_digest
  kConstantsMismatch,    // constants other than the aggregator's data gives, or than the client
                         // reported earlier in the run
  kClientBusy,           // a client attached on another live stream
  kClientStateMismatch,  // --client-state=worker: the worker holds no g_i the run can resume from
  kRunOver,              // the run is complete or shutting down
  kRoundTimeout,         // the stream left the open round unanswered past --round-timeout
  // Which update.
  kClientNotAttached,  // an update for a client this stream does not carry
  kFutureRound,        // an update for a round not yet open
  kStaleRound,         // an update for a closed round
  kConflictingUpdate,  // a different update for an accepted (client, round)
  kNotParticipating,   // an update from a client not drawn for the open round (EF21-PP)
  // An update's content.
  kWrongDimension,   // c's dimension is not the run's
  kWrongValueType,   // float64 values in a float32 run or the reverse
  kUnexpectedDense,  // a dense c where only sparse ones are allowed, or of the wrong length
  kTooManyEntries,   // more entries than the compressor keeps
  kBadIndexCode,     // an index code that does not decode to indices < d
  kNonFiniteValue,   // NaN or ±inf in c, the loss or the gradient
  kValueTooLarge,    // an entry of c above --max-update-value in absolute value
  kStateOverflow,    // c would take the aggregator's g_i past --max-update-value
  kBadDiagnostics,   // a dense gradient missing on a diagnostic round or sent on another,
                     // or a loss / gradient that differs from the aggregator's own
  kMaxValue = kBadDiagnostics,
};

inline constexpr auto kRejectionReasonNames = MakeEnumNames<RejectionReason>(
    "rejection reason", {
                            {RejectionReason::kUnauthenticated, "unauthenticated"},
                            {RejectionReason::kNotAuthorized, "not_authorized"},
                            {RejectionReason::kMalformedMessage, "malformed_message"},
                            {RejectionReason::kEmptyMessage, "empty_message"},
                            {RejectionReason::kUnreadableOrEarlyClose, "unreadable_or_early_close"},
                            {RejectionReason::kAttachTwice, "attach_twice"},
                            {RejectionReason::kUpdateBeforeAttach, "update_before_attach"},
                            {RejectionReason::kBadAttach, "bad_attach"},
                            {RejectionReason::kWrongRun, "wrong_run"},
                            {RejectionReason::kWrongProblem, "wrong_problem"},
                            {RejectionReason::kBadConstants, "bad_constants"},
                            {RejectionReason::kConstantsMismatch, "constants_mismatch"},
                            {RejectionReason::kClientBusy, "client_busy"},
                            {RejectionReason::kClientStateMismatch, "client_state_mismatch"},
                            {RejectionReason::kRunOver, "run_over"},
                            {RejectionReason::kRoundTimeout, "round_timeout"},
                            {RejectionReason::kClientNotAttached, "client_not_attached"},
                            {RejectionReason::kFutureRound, "future_round"},
                            {RejectionReason::kStaleRound, "stale_round"},
                            {RejectionReason::kConflictingUpdate, "conflicting_update"},
                            {RejectionReason::kNotParticipating, "not_participating"},
                            {RejectionReason::kWrongDimension, "wrong_dimension"},
                            {RejectionReason::kWrongValueType, "wrong_value_type"},
                            {RejectionReason::kUnexpectedDense, "unexpected_dense"},
                            {RejectionReason::kTooManyEntries, "too_many_entries"},
                            {RejectionReason::kBadIndexCode, "bad_index_code"},
                            {RejectionReason::kNonFiniteValue, "non_finite_value"},
                            {RejectionReason::kValueTooLarge, "value_too_large"},
                            {RejectionReason::kStateOverflow, "state_overflow"},
                            {RejectionReason::kBadDiagnostics, "bad_diagnostics"},
                        });
constexpr const auto& NamesOf(RejectionReason) { return kRejectionReasonNames; }

}  // namespace ef21

#endif  // EF21_PROTO_REJECTION_REASON_H_
