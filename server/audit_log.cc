#include "server/audit_log.h"

#include "absl/strings/str_cat.h"
#include "common/base/json.h"

namespace ef21 {

std::string FormatIdRanges(const std::vector<int64_t>& ids) {
  if (ids.empty()) return "none";
  std::string out;
  size_t i = 0;
  while (i < ids.size()) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ",";
    absl::StrAppend(&out, ids[i]);
    if (j > i) absl::StrAppend(&out, "-", ids[j]);
    i = j + 1;
  }
  return out;
}

std::string AuditLog::Format(const AuditEvent& e, absl::Time time, int64_t repeats) {
  std::string line = absl::StrCat(
      "{\"time\":", JsonQuote(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone())),
      ",\"event\":", JsonQuote(EnumName(e.event)));
  auto field = [&](const char* key, const std::string& value) {
    if (!value.empty()) absl::StrAppend(&line, ",\"", key, "\":", JsonQuote(value));
  };
  field("peer", e.peer);
  field("identity", e.identity);
  field("worker", e.worker);
  field("clients", e.clients);
  field("code", e.code);
  if (e.reason.has_value()) field("reason", EnumName(*e.reason));
  field("detail", e.detail);
  if (repeats > 0) absl::StrAppend(&line, ",\"repeats\":", repeats);
  line += "}";
  return line;
}

void AuditLog::Record(const AuditEvent& event) {
  if (options_.metrics != nullptr) options_.metrics->OnAuditEvent(event.event);
  if (options_.out == nullptr) return;
  const absl::Time now = absl::Now();
  int64_t repeats = 0;
  {
    absl::MutexLock lock(&mu_);
    Seen& seen = seen_[absl::StrCat(EnumName(event.event), "\n", event.peer, "\n",
                                    event.reason.has_value() ? EnumName(*event.reason) : "",
                                    "\n", event.clients)];
    if (now - seen.last_written < options_.repeat_interval) {
      ++seen.suppressed;
      return;
    }
    repeats = seen.suppressed;
    seen.suppressed = 0;
    seen.last_written = now;
  }
  const std::string line = Format(event, now, repeats) + "\n";
  std::fwrite(line.data(), 1, line.size(), options_.out);
  std::fflush(options_.out);
}

}  // namespace ef21
