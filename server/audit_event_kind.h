// What an audit log line (server/audit_log.h) is about: the vocabulary of the `event` field and of
// the `event` label of ef21_audit_events_total. The metrics create one counter per value from the
// table at start, so every event's series exists at 0 before it first happens.
#ifndef EF21_SERVER_AUDIT_EVENT_KIND_H_
#define EF21_SERVER_AUDIT_EVENT_KIND_H_

#include "common/base/enum_names.h"

namespace ef21 {

enum class AuditEventKind {
  kAttach,             // a stream attached its clients
  kDetach,             // a stream that carried clients ended
  kRefusal,            // a message or stream was refused (the line names its RejectionReason)
  kRoundTimeout,       // a stream was detached by --round-timeout-seconds
  kUnassignedClients,  // the open round waits for clients no worker carries
  kClientOverlap,      // a worker asked for clients another live stream carries
  kMaxValue = kClientOverlap,
};

inline constexpr auto kAuditEventKindNames = MakeEnumNames<AuditEventKind>(
    "audit event", {
                       {AuditEventKind::kAttach, "attach"},
                       {AuditEventKind::kDetach, "detach"},
                       {AuditEventKind::kRefusal, "refusal"},
                       {AuditEventKind::kRoundTimeout, "round_timeout"},
                       {AuditEventKind::kUnassignedClients, "unassigned_clients"},
                       {AuditEventKind::kClientOverlap, "client_overlap"},
                   });
constexpr const auto& NamesOf(AuditEventKind) { return kAuditEventKindNames; }

}  // namespace ef21

#endif  // EF21_SERVER_AUDIT_EVENT_KIND_H_
