// Why the aggregator refused a message of a Train stream: the vocabulary of the `reason` label of
// ef21_rejected_messages_total. The codec (proto/codec.h), the stream reactors and the round
// coordinator (server/) report a refusal as an absl::Status plus one of these; the metrics create
// one counter per value from the table at start, so dashboards see every reason at 0 before the
// first refusal. tests/server/aggregator_test.cc sends one hostile message per reason.
#ifndef EF21_PROTO_REJECTION_REASON_H_
#define EF21_PROTO_REJECTION_REASON_H_

#include "common/base/enum_names.h"

namespace ef21 {

enum class RejectionReason {
  // The shape of a WorkerMessage.
  kMalformedMessage,        // attach and updates together, a batch out of order, a missing field
  kEmptyMessage,            // neither attach nor updates
  kUnreadableOrEarlyClose,  // bytes that are no WorkerMessage, or a half-close before the run ends
  // Attach.
  kAttachTwice,             // a second Attach on one stream
  kUpdateBeforeAttach,      // updates on a stream that has not attached
  kBadAttach,               // no client ids, an id out of range or repeated
  kWrongRun,                // a re-attach naming another run (the aggregator restarted)
  kWrongProblem,            // other problem flags, dimension, client count or data
  kClientBusy,              // a client attached on another live stream
  kRunOver,                 // the run is complete or shutting down
  // Which update.
  kClientNotAttached,       // an update for a client this stream does not carry
  kFutureRound,             // an update for a round not yet open
  kStaleRound,              // an update for a closed round
  kConflictingUpdate,       // a different update for an accepted (client, round)
  kNotParticipating,        // an update from a client not drawn for the open round (EF21-PP)
  // An update's content.
  kWrongDimension,          // c's dimension is not the run's
  kWrongValueType,          // float64 values in a float32 run or the reverse
  kUnexpectedDense,         // a dense c where only sparse ones are allowed, or of the wrong length
  kTooManyEntries,          // more entries than the compressor keeps
  kBadIndexCode,            // an index code that does not decode to indices < d
  kNonFiniteValue,          // NaN or ±inf in c, the loss or the gradient
  kBadDiagnostics,          // a dense gradient missing on a diagnostic round or sent on another
  kMaxValue = kBadDiagnostics,
};

inline constexpr auto kRejectionReasonNames = MakeEnumNames<RejectionReason>("rejection reason", {
    {RejectionReason::kMalformedMessage, "malformed_message"},
    {RejectionReason::kEmptyMessage, "empty_message"},
    {RejectionReason::kUnreadableOrEarlyClose, "unreadable_or_early_close"},
    {RejectionReason::kAttachTwice, "attach_twice"},
    {RejectionReason::kUpdateBeforeAttach, "update_before_attach"},
    {RejectionReason::kBadAttach, "bad_attach"},
    {RejectionReason::kWrongRun, "wrong_run"},
    {RejectionReason::kWrongProblem, "wrong_problem"},
    {RejectionReason::kClientBusy, "client_busy"},
    {RejectionReason::kRunOver, "run_over"},
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
    {RejectionReason::kBadDiagnostics, "bad_diagnostics"},
});
constexpr const auto& NamesOf(RejectionReason) { return kRejectionReasonNames; }

}  // namespace ef21

#endif  // EF21_PROTO_REJECTION_REASON_H_
