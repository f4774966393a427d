// The audit log (server/audit_log.h): one JSON line per event with its typed event and reason
// names, id ranges, repeats of a line folded into the next one written for it, and every event
// counted in ef21_audit_events_total even when its line is folded.
#include "server/audit_log.h"

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/aggregator_metrics.h"

namespace ef21 {
namespace {

using ::testing::HasSubstr;

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string text;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) text.append(buffer, n);
  return text;
}

TEST(AuditLogTest, IdRangesAreCompact) {
  EXPECT_EQ(FormatIdRanges({}), "none");
  EXPECT_EQ(FormatIdRanges({4}), "4");
  EXPECT_EQ(FormatIdRanges({0, 1, 2, 3, 7, 9, 10}), "0-3,7,9-10");
}

TEST(AuditLogTest, ALineNamesItsEventAndReasonAndQuotesWhatThePeerSaid) {
  AuditEvent e;
  e.event = AuditEventKind::kRefusal;
  e.peer = "ipv4:127.0.0.1:4242";
  e.identity = "worker-1";
  e.worker = "evil\"name";
  e.clients = "0-10";
  e.code = "PERMISSION_DENIED";
  e.reason = RejectionReason::kNotAuthorized;
  e.detail = "identity 'worker-1' may not carry clients 0-10";
  const std::string line =
      AuditLog::Format(e, absl::FromUnixSeconds(1800000000) + absl::Milliseconds(5), 3);
  EXPECT_EQ(line,
            "{\"time\":\"2027-01-15T08:00:00.005Z\",\"event\":\"refusal\","
            "\"peer\":\"ipv4:127.0.0.1:4242\",\"identity\":\"worker-1\","
            "\"worker\":\"evil\\\"name\",\"clients\":\"0-10\",\"code\":\"PERMISSION_DENIED\","
            "\"reason\":\"not_authorized\",\"detail\":\"identity 'worker-1' may not carry clients "
            "0-10\",\"repeats\":3}");
  AuditEvent attach;
  attach.event = AuditEventKind::kAttach;
  EXPECT_EQ(AuditLog::Format(attach, absl::FromUnixSeconds(0), 0),
            "{\"time\":\"1970-01-01T00:00:00.000Z\",\"event\":\"attach\"}");
}

TEST(AuditLogTest, RepeatsAreFoldedButEveryEventCounts) {
  auto metrics = AggregatorMetrics::Start({.listen = "", .clients = 4});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  AuditLog log({.out = out, .metrics = metrics->get(), .repeat_interval = absl::Hours(1)});
  AuditEvent e;
  e.event = AuditEventKind::kRefusal;
  e.peer = "ipv4:127.0.0.1:1";
  e.reason = RejectionReason::kUnauthenticated;
  for (int i = 0; i < 5; ++i) log.Record(e);
  e.peer = "ipv4:127.0.0.1:2";  // another peer: its own line
  log.Record(e);
  const std::string text = ReadAll(out);
  std::fclose(out);
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << text;
  EXPECT_THAT(lines[0], HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(lines[1], HasSubstr("127.0.0.1:2"));
  EXPECT_THAT((*metrics)->Render(), HasSubstr("ef21_audit_events_total{event=\"refusal\"} 6"));
}

}  // namespace
}  // namespace ef21
