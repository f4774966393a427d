#include "client/worker_metrics.h"

#include <memory>
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
using ::testing::Optional;

WorkerMetrics::Options Opts(std::string listen) {
  WorkerMetrics::Options options;
  options.listen = std::move(listen);
  return options;
}

std::unique_ptr<WorkerMetrics> StartOrDie(const WorkerMetrics::Options& options) {
  absl::StatusOr<std::unique_ptr<WorkerMetrics>> metrics = WorkerMetrics::Start(options);
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  return metrics.ok() ? *std::move(metrics) : nullptr;
}

void Exercise(WorkerMetrics& metrics) {
  metrics.SetClients(5);
  metrics.OnRoundComputed(0.25);
  metrics.OnRoundComputed(0.5);
  metrics.OnBytesSent(1200);
  metrics.OnBytesSent(34);
  metrics.OnBytesReceived(640);
  metrics.OnReconnect();
}

TEST(WorkerMetricsTest, RendersEveryMethodsEffect) {
  std::unique_ptr<WorkerMetrics> metrics = StartOrDie(Opts(""));
  ASSERT_NE(metrics, nullptr);
  EXPECT_EQ(metrics->port(), 0);
  Exercise(*metrics);
  const std::string text = metrics->Render();
  EXPECT_THAT(SampleValue(text, "ef21_worker_clients"), Optional(5.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_rounds_total"), Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_compute_seconds_count"), Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_compute_seconds_sum"), Optional(0.75));
  EXPECT_THAT(SampleValue(text, "ef21_worker_compute_seconds_bucket{le=\"0.0001\"}"),
              Optional(0.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_compute_seconds_bucket{le=\"+Inf\"}"), Optional(2.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_bytes_sent_total"), Optional(1234.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_bytes_received_total"), Optional(640.0));
  EXPECT_THAT(SampleValue(text, "ef21_worker_reconnects_total"), Optional(1.0));
  EXPECT_THAT(SampleValue(text, absl::StrCat("ef21_build_info{version=\"", kVersion, "\"}")),
              Optional(1.0));
  EXPECT_EQ(CMakeProjectVersion(), kVersion) << "common/version.h disagrees with CMakeLists.txt";

  int families = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::StartsWith(line, "# TYPE ")) continue;
    ++families;
    const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    ASSERT_GE(parts.size(), 3u) << line;
    EXPECT_THAT(text, HasSubstr(absl::StrCat("# HELP ", parts[2], " "))) << line;
  }
  EXPECT_EQ(families, 7);
}

TEST(WorkerMetricsTest, CountsFromManyThreads) {
  std::unique_ptr<WorkerMetrics> metrics = StartOrDie(Opts(""));
  ASSERT_NE(metrics, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < kPerThread; ++k) {
        metrics->OnBytesSent(3);
        metrics->OnRoundComputed(0.001);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::string text = metrics->Render();
  EXPECT_THAT(SampleValue(text, "ef21_worker_bytes_sent_total"),
              Optional(3.0 * kThreads * kPerThread));
  EXPECT_THAT(SampleValue(text, "ef21_worker_rounds_total"),
              Optional(static_cast<double>(kThreads * kPerThread)));
  EXPECT_THAT(SampleValue(text, "ef21_worker_compute_seconds_count"),
              Optional(static_cast<double>(kThreads * kPerThread)));
}

TEST(WorkerMetricsTest, ServesRenderOnAFreeLoopbackPortAndPromtoolIsSilent) {
  std::unique_ptr<WorkerMetrics> metrics = StartOrDie(Opts("127.0.0.1:0"));
  ASSERT_NE(metrics, nullptr);
  ASSERT_GT(metrics->port(), 0);
  Exercise(*metrics);
  absl::StatusOr<std::string> body = HttpGet(metrics->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  // The exposer adds its own scrape statistics (exposer_*); everything else is Render().
  EXPECT_EQ(WithoutFamilies(*body, "exposer_"), metrics->Render());

  for (const std::string& exposition : {metrics->Render(), *body}) {
    absl::StatusOr<PromtoolResult> result = PromtoolCheckMetrics(exposition);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->output, "") << exposition;
    EXPECT_EQ(result->exit_code, 0) << exposition;
  }
}

TEST(WorkerMetricsTest, StartRejectsBadAddressesAndBusyPorts) {
  for (const char* listen : {"nonsense", "127.0.0.1:", "127.0.0.1:70000"}) {
    EXPECT_EQ(WorkerMetrics::Start(Opts(listen)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << listen;
  }
  std::unique_ptr<WorkerMetrics> first = StartOrDie(Opts("127.0.0.1:0"));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(WorkerMetrics::Start(Opts(absl::StrCat("127.0.0.1:", first->port()))).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ef21
