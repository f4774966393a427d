#include "server/aggregator_metrics.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/base/version.h"
#include "common/run/run_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/exposition_test_util.h"
#include "tests/server/http_get.h"

namespace ef21 {
namespace {

using ::ef21::testing_exposition::CMakeProjectVersion;
using ::ef21::testing_exposition::PromtoolCheckMetrics;
using ::ef21::testing_exposition::PromtoolResult;
using ::ef21::testing_exposition::SampleValue;
using ::ef21::testing_exposition::WithoutFamilies;
using ::ef21::testing_http::HttpGet;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

AggregatorMetrics::Options Opts(std::string listen = "", int64_t clients = 0,
                                int64_t per_client_bound = 64) {
  AggregatorMetrics::Options options;
  options.listen = std::move(listen);
  options.clients = clients;
  options.per_client_bound = per_client_bound;
  return options;
}

std::unique_ptr<AggregatorMetrics> StartOrDie(const AggregatorMetrics::Options& options) {
  absl::StatusOr<std::unique_ptr<AggregatorMetrics>> metrics = AggregatorMetrics::Start(options);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *std::move(metrics) : nullptr;
}

MetricsRow Row(uint64_t round, double paper_bits_per_client, double grad_norm) {
  MetricsRow row;
  row.round = round;
  row.paper_bits_per_client = paper_bits_per_client;
  row.uplink_bytes_per_client = 40;
  row.downlink_bytes_per_client = 72;
  row.loss = 0.5;
  row.grad_norm = grad_norm;
  row.grad_norm_sq = grad_norm * grad_norm;
  row.g_norm = 0.125;
  row.stepsize = 0.25;
  return row;
}

// Drives every method once or more, so the exposition carries every family with samples.
void Exercise(AggregatorMetrics& metrics) {
  metrics.SetRound(7);
  metrics.SetConnectedWorkers(2);
  metrics.OnUpdateAccepted(0, 100, 10);
  metrics.OnUpdateAccepted(2, 50, 5);
  metrics.OnUpdateAccepted(2, 25, 0);
  metrics.OnDownlinkBytes(300);
  metrics.OnRejected(RejectionReason::kNonFiniteValue);
  metrics.OnRejected(RejectionReason::kStaleRound);
  metrics.OnRejected(RejectionReason::kNonFiniteValue);
  metrics.OnDuplicate();
  metrics.AddWaitingSeconds(1.5);
  metrics.AddWaitingSeconds(0.25);
  CommTotals totals;
  totals.paper_bits = 288;
  metrics.OnRoundClosed(Row(7, 96, 0.75), totals, 0.003);
}

TEST(AggregatorMetricsTest, RendersEveryMethodsEffect) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("", 3));
  ASSERT_NE(metrics, nullptr);
  EXPECT_EQ(metrics->port(), 0);
  Exercise(*metrics);
  const std::string text = metrics->Render();

  EXPECT_THAT(SampleValue(text, "ef21_round"), Optional(7.0));
  EXPECT_THAT(SampleValue(text, "ef21_clients"), Optional(3.0));
  EXPECT_THAT(SampleValue(text, "ef21_diagnostics_every"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ef21_connected_workers"), Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ef21_rounds_completed_total"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ef21_uplink_bytes_total"), Optional(175.0));
  EXPECT_THAT(SampleValue(text, "ef21_uplink_diagnostic_bytes_total"), Optional(15.0));
  EXPECT_THAT(SampleValue(text, "ef21_downlink_bytes_total"), Optional(300.0));
  EXPECT_THAT(SampleValue(text, "ef21_client_uplink_bytes_total{client=\"0\"}"), Optional(100.0));
  EXPECT_THAT(SampleValue(text, "ef21_client_uplink_bytes_total{client=\"1\"}"), Optional(0.0));
  EXPECT_THAT(SampleValue(text, "ef21_client_uplink_bytes_total{client=\"2\"}"), Optional(75.0));
  // Paper-convention bits are exported in bytes (bits / 8): promtool rejects "bits" in names.
  EXPECT_THAT(SampleValue(text, "ef21_paper_bytes_total"), Optional(288.0 / 8));
  EXPECT_THAT(SampleValue(text, "ef21_paper_bytes_per_client"), Optional(96.0 / 8));
  EXPECT_THAT(text, HasSubstr("\nef21_paper_bytes_per_client 12\n"));
  EXPECT_THAT(SampleValue(text, "ef21_uplink_bytes_per_client"), Optional(40.0));
  EXPECT_THAT(SampleValue(text, "ef21_downlink_bytes_per_client"), Optional(72.0));
  EXPECT_THAT(SampleValue(text, "ef21_loss"), Optional(0.5));
  EXPECT_THAT(SampleValue(text, "ef21_grad_norm"), Optional(0.75));
  EXPECT_THAT(SampleValue(text, "ef21_g_norm"), Optional(0.125));
  EXPECT_THAT(SampleValue(text, "ef21_stepsize"), Optional(0.25));
  EXPECT_THAT(SampleValue(text, "ef21_round_duration_seconds_count"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ef21_round_duration_seconds_sum"), Optional(0.003));
  EXPECT_THAT(SampleValue(text, "ef21_round_duration_seconds_bucket{le=\"0.0001\"}"),
              Optional(0.0));
  EXPECT_THAT(SampleValue(text, "ef21_round_duration_seconds_bucket{le=\"+Inf\"}"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ef21_rejected_messages_total{reason=\"non_finite_value\"}"),
              Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ef21_rejected_messages_total{reason=\"stale_round\"}"),
              Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ef21_duplicate_updates_total"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, "ef21_waiting_for_workers_seconds_total"), Optional(1.75));
  EXPECT_THAT(SampleValue(text, absl::StrCat("ef21_build_info{version=\"", kVersion, "\"}")),
              Optional(1.0));
}

TEST(AggregatorMetricsTest, EveryFamilyHasHelp) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("", 3));
  ASSERT_NE(metrics, nullptr);
  Exercise(*metrics);
  const std::string text = metrics->Render();
  int families = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "# TYPE ")) continue;
    ++families;
    const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    ASSERT_GE(parts.size(), 3u) << line;
    EXPECT_THAT(text, HasSubstr(absl::StrCat("# HELP ", parts[2], " "))) << line;
    EXPECT_TRUE(absl::StartsWith(parts[2], "ef21_")) << line;
  }
  EXPECT_EQ(families, 27);  // 25 + ef21_audit_events_total + ef21_diagnostics_every
}

TEST(AggregatorMetricsTest, RoundDurationBucketsSpan100MicrosecondsTo100Seconds) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts());
  ASSERT_NE(metrics, nullptr);
  const std::string text = metrics->Render();
  std::vector<double> bounds;
  const absl::string_view prefix = "ef21_round_duration_seconds_bucket{le=\"";
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, prefix)) continue;
    const absl::string_view le = line.substr(0, line.find('"'));
    if (le == "+Inf") continue;
    double bound;
    ASSERT_TRUE(absl::SimpleAtod(le, &bound)) << le;
    bounds.push_back(bound);
  }
  ASSERT_GE(bounds.size(), 2u);
  EXPECT_DOUBLE_EQ(bounds.front(), 1e-4);
  EXPECT_GE(bounds.back(), 100.0);
  EXPECT_LE(bounds.back(), 200.0);
  for (size_t i = 1; i < bounds.size(); ++i) EXPECT_DOUBLE_EQ(bounds[i], 2 * bounds[i - 1]);
}

TEST(AggregatorMetricsTest, PaperBytesFollowTotalsAndGradNormSkipsNan) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("", 3));
  ASSERT_NE(metrics, nullptr);
  CommTotals totals;
  totals.paper_bits = 288;
  metrics->OnRoundClosed(Row(0, 96, 0.75), totals, 0.5);
  totals.paper_bits = 1001;
  metrics->OnRoundClosed(Row(1, 333, std::numeric_limits<double>::quiet_NaN()), totals, 2.0);
  // The same totals again (e.g. a round without uplink) leave the counter where it is.
  metrics->OnRoundClosed(Row(2, 333, 0.5), totals, 0.25);
  const std::string text = metrics->Render();
  EXPECT_THAT(SampleValue(text, "ef21_paper_bytes_total"), Optional(1001.0 / 8));
  // 333 / 8 = 41.625 exactly: bits = 8 × the exported value, bit for bit.
  EXPECT_THAT(SampleValue(text, "ef21_paper_bytes_per_client"), Optional(41.625));
  // Rounds 0, 1, 2 closed: round 0 is the initialization, so 2 completed rounds; its duration
  // is observed all the same.
  EXPECT_THAT(SampleValue(text, "ef21_rounds_completed_total"), Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ef21_round_duration_seconds_count"), Optional(3.0));
  EXPECT_THAT(SampleValue(text, "ef21_round_duration_seconds_sum"), Optional(2.75));
  EXPECT_THAT(SampleValue(text, "ef21_grad_norm"), Optional(0.5));

  std::unique_ptr<AggregatorMetrics> nan_last = StartOrDie(Opts("", 3));
  ASSERT_NE(nan_last, nullptr);
  nan_last->OnRoundClosed(Row(0, 96, 0.75), totals, 0.5);
  nan_last->OnRoundClosed(Row(1, 192, std::numeric_limits<double>::quiet_NaN()), totals, 0.5);
  EXPECT_THAT(SampleValue(nan_last->Render(), "ef21_grad_norm"), Optional(0.75));
}

// A classifier's accuracy and test loss are measured on diagnostic rounds only: the gauges show
// the last measured values, and rounds without diagnostics (NaN) leave them where they are.
TEST(AggregatorMetricsTest, AccuracyGaugesFollowDiagnosticRoundsOnly) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("", 3));
  ASSERT_NE(metrics, nullptr);
  CommTotals totals;
  MetricsRow measured = Row(0, 0, 0.75);
  measured.train_accuracy = 0.625;
  measured.test_loss = 1.5;
  measured.test_accuracy = 0.5;
  metrics->OnRoundClosed(measured, totals, 0.5);
  metrics->OnRoundClosed(Row(1, 96, std::numeric_limits<double>::quiet_NaN()), totals, 0.5);
  const std::string text = metrics->Render();
  EXPECT_THAT(SampleValue(text, "ef21_train_accuracy"), Optional(0.625));
  EXPECT_THAT(SampleValue(text, "ef21_test_loss"), Optional(1.5));
  EXPECT_THAT(SampleValue(text, "ef21_test_accuracy"), Optional(0.5));
}

TEST(AggregatorMetricsTest, PerClientSeriesOnlyUpToTheBound) {
  std::unique_ptr<AggregatorMetrics> few = StartOrDie(Opts("", 3, 64));
  ASSERT_NE(few, nullptr);
  // Out of range clients count in the totals only.
  few->OnUpdateAccepted(5, 7, 0);
  few->OnUpdateAccepted(-1, 11, 0);
  const std::string few_text = few->Render();
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(
        SampleValue(few_text, absl::StrCat("ef21_client_uplink_bytes_total{client=\"", i, "\"}")),
        Optional(0.0));
  }
  EXPECT_THAT(few_text, Not(HasSubstr("client=\"5\"")));
  EXPECT_THAT(SampleValue(few_text, "ef21_uplink_bytes_total"), Optional(18.0));

  std::unique_ptr<AggregatorMetrics> at_bound = StartOrDie(Opts("", 64, 64));
  ASSERT_NE(at_bound, nullptr);
  EXPECT_THAT(SampleValue(at_bound->Render(), "ef21_client_uplink_bytes_total{client=\"63\"}"),
              Optional(0.0));

  std::unique_ptr<AggregatorMetrics> many = StartOrDie(Opts("", 100, 64));
  ASSERT_NE(many, nullptr);
  many->OnUpdateAccepted(3, 40, 4);
  const std::string many_text = many->Render();
  EXPECT_THAT(many_text, Not(HasSubstr("ef21_client_uplink_bytes_total{")));
  EXPECT_THAT(SampleValue(many_text, "ef21_uplink_bytes_total"), Optional(40.0));
  EXPECT_THAT(SampleValue(many_text, "ef21_clients"), Optional(100.0));
}

TEST(AggregatorMetricsTest, RejectedReasonsFromManyThreads) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("", 3));
  ASSERT_NE(metrics, nullptr);
  const std::vector<RejectionReason> reasons = {
      RejectionReason::kNonFiniteValue, RejectionReason::kStaleRound,
      RejectionReason::kBadIndexCode, RejectionReason::kClientNotAttached};
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        metrics->OnRejected(reasons[static_cast<size_t>(t + k) % reasons.size()]);
        metrics->OnUpdateAccepted(t % 3, 1, 0);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = metrics->Render();
  for (RejectionReason reason : reasons) {
    EXPECT_THAT(SampleValue(text, absl::StrCat("ef21_rejected_messages_total{reason=\"",
                                               EnumName(reason), "\"}")),
                Optional(static_cast<double>(kThreads * kPerThread / reasons.size())))
        << EnumName(reason);
  }
  EXPECT_THAT(SampleValue(text, "ef21_uplink_bytes_total"),
              Optional(static_cast<double>(kThreads * kPerThread)));
}

TEST(AggregatorMetricsTest, BuildInfoCarriesTheProjectVersion) {
  EXPECT_EQ(CMakeProjectVersion(), kVersion) << "common/version.h disagrees with CMakeLists.txt";
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts());
  ASSERT_NE(metrics, nullptr);
  EXPECT_THAT(SampleValue(metrics->Render(),
                          absl::StrCat("ef21_build_info{version=\"", CMakeProjectVersion(), "\"}")),
              Optional(1.0));
}

TEST(AggregatorMetricsTest, ServesRenderOnAFreeLoopbackPort) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("127.0.0.1:0", 3));
  ASSERT_NE(metrics, nullptr);
  ASSERT_GT(metrics->port(), 0);
  Exercise(*metrics);
  absl::StatusOr<std::string> body = HttpGet(metrics->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  // The exposer adds its own scrape statistics (exposer_*); everything else is Render().
  EXPECT_EQ(WithoutFamilies(*body, "exposer_"), metrics->Render());
  EXPECT_THAT(*body, HasSubstr("\nef21_paper_bytes_per_client 12\n"));
}

TEST(AggregatorMetricsTest, StartRejectsBadOptionsAndBusyPorts) {
  for (const char* listen : {"nonsense", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:-1"}) {
    absl::StatusOr<std::unique_ptr<AggregatorMetrics>> metrics =
        AggregatorMetrics::Start(Opts(listen));
    EXPECT_EQ(metrics.status().code(), absl::StatusCode::kInvalidArgument) << listen;
  }
  EXPECT_EQ(AggregatorMetrics::Start(Opts("", -1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AggregatorMetrics::Start(Opts("", 0, -1)).status().code(),
            absl::StatusCode::kInvalidArgument);

  std::unique_ptr<AggregatorMetrics> first = StartOrDie(Opts("127.0.0.1:0"));
  ASSERT_NE(first, nullptr);
  absl::StatusOr<std::unique_ptr<AggregatorMetrics>> second =
      AggregatorMetrics::Start(Opts(absl::StrCat("127.0.0.1:", first->port())));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
}

void ExpectPromtoolSilent(absl::string_view exposition) {
  absl::StatusOr<PromtoolResult> result = PromtoolCheckMetrics(exposition);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->output, "") << exposition;
  EXPECT_EQ(result->exit_code, 0) << exposition;
}

TEST(AggregatorMetricsTest, PromtoolIsSilentOnRenderAndOnTheServedExposition) {
  std::unique_ptr<AggregatorMetrics> metrics = StartOrDie(Opts("127.0.0.1:0", 3));
  ASSERT_NE(metrics, nullptr);
  {
    SCOPED_TRACE("fresh");
    ExpectPromtoolSilent(metrics->Render());
  }
  Exercise(*metrics);
  {
    SCOPED_TRACE("Render()");
    ExpectPromtoolSilent(metrics->Render());
  }
  absl::StatusOr<std::string> body = HttpGet(metrics->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  SCOPED_TRACE("/metrics");
  ExpectPromtoolSilent(*body);
}

}  // namespace
}  // namespace ef21

namespace ef21 {
namespace {

TEST(AggregatorMetricsReasonsTest, EveryKnownReasonExistsAtZeroFromTheStart) {
  auto metrics = AggregatorMetrics::Start({.listen = "", .clients = 3});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string text = (*metrics)->Render();
  for (const char* reason : kRejectionReasonNames.names()) {
    EXPECT_NE(text.find(absl::StrCat("ef21_rejected_messages_total{reason=\"", reason, "\"} 0")),
              std::string::npos)
        << reason;
  }
}

TEST(AggregatorMetricsReasonsTest, EveryAuditEventExistsAtZeroAndCountsByItsLabel) {
  auto metrics = AggregatorMetrics::Start({.listen = "", .clients = 3});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const std::string before = (*metrics)->Render();
  for (const char* event : kAuditEventKindNames.names()) {
    EXPECT_THAT(before, HasSubstr(absl::StrCat("ef21_audit_events_total{event=\"", event, "\"} 0")))
        << event;
  }
  (*metrics)->OnAuditEvent(AuditEventKind::kRoundTimeout);
  (*metrics)->OnAuditEvent(AuditEventKind::kRoundTimeout);
  const std::string after = (*metrics)->Render();
  EXPECT_THAT(after, HasSubstr("ef21_audit_events_total{event=\"round_timeout\"} 2"));
  EXPECT_THAT(after, HasSubstr("ef21_audit_events_total{event=\"attach\"} 0"));
}

}  // namespace
}  // namespace ef21
