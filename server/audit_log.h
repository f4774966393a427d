// The aggregator's audit log: one JSON line per security- or operations-relevant event — a worker
// attached, detached, was refused or timed out; clients that no worker carries; a worker asking
// for clients another one holds — with the peer address, the authenticated identity and the
// client ids, so an operator can tell who did what. Each event also counts in
// ef21_audit_events_total{event} (AggregatorMetrics::OnAuditEvent).
//
//   {"time":"2026-12-02T13:40:01.123Z","event":"refusal","peer":"ipv4:10.0.0.7:51234",
//    "identity":"worker-1","worker":"host:42","clients":"341-682","code":"PERMISSION_DENIED",
//    "reason":"not_authorized","detail":"..."}
//
// A line that repeats (same event, peer and reason) within `repeat_interval` is written once and
// the repeats are counted into the next line written for it ("repeats":N), so a worker retrying
// every second does not flood the log; the counter counts every event.
//
// Thread-safety: thread-safe; Record() takes a short lock and writes one line.
#ifndef EF21_SERVER_AUDIT_LOG_H_
#define EF21_SERVER_AUDIT_LOG_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/rejection_reason.h"
#include "server/aggregator_metrics.h"
#include "server/audit_event_kind.h"

namespace ef21 {

struct AuditEvent {
  AuditEventKind event = AuditEventKind::kRefusal;
  std::string peer;      // gRPC peer ("ipv4:127.0.0.1:4242"), "" when not about one stream
  std::string identity;  // authenticated identity, "" when unauthenticated (--insecure)
  std::string worker;    // the name the worker gave (Attach.worker_name)
  std::string clients;   // client ids, as ranges ("0-340,400")
  std::string code;      // status code of a refusal
  std::optional<RejectionReason> reason;  // why, for a refusal or a round timeout
  std::string detail;                     // free text
};

// "0-3,7,9-10" for ascending ids; "none" for no ids.
std::string FormatIdRanges(const std::vector<int64_t>& ascending_ids);

class AuditLog {
 public:
  struct Options {
    std::FILE* out = stderr;               // not owned; null writes nothing (counters still count)
    AggregatorMetrics* metrics = nullptr;  // not owned, may be null
    absl::Duration repeat_interval = absl::Seconds(10);
  };
  explicit AuditLog(Options options) : options_(options) {}

  void Record(const AuditEvent& event);

  // The line Record() writes for `event` (without the newline), for tests.
  static std::string Format(const AuditEvent& event, absl::Time time, int64_t repeats);

 private:
  struct Seen {
    absl::Time last_written;
    int64_t suppressed = 0;
  };

  const Options options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Seen> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ef21

#endif  // EF21_SERVER_AUDIT_LOG_H_
