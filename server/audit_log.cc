#include "server/audit_log.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

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
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["time"] = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone());
  line["event"] = EnumName(e.event);
  auto field = [&](const char* key, const std::string& value) {
    if (!value.empty()) line[key] = value;
  };
  field("peer", e.peer);
  field("identity", e.identity);
  field("worker", e.worker);
  field("clients", e.clients);
  field("code", e.code);
  if (e.reason.has_value()) field("reason", EnumName(*e.reason));
  field("detail", e.detail);
  if (repeats > 0) line["repeats"] = repeats;
  // What a peer sent may be any bytes: invalid UTF-8 is replaced, never thrown on.
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void AuditLog::Record(const AuditEvent& event) {
  if (options_.metrics != nullptr) options_.metrics->OnAuditEvent(event.event);
  if (options_.out == nullptr) return;
  const absl::Time now = absl::Now();
  int64_t repeats = 0;
  {
    absl::MutexLock lock(&mu_);
    Seen& seen = seen_[absl::StrCat(EnumName(event.event), "\n", event.peer, "\n",
                                    event.reason.has_value() ? EnumName(*event.reason) : "", "\n",
                                    event.clients)];
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
