#include "cli/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/base/clock.h"

namespace ef21 {

ProgressLine::ProgressLine(std::string label, uint64_t rounds)
    : label_(std::move(label)), rounds_(rounds), enabled_(::isatty(STDERR_FILENO) == 1) {}

ProgressLine::~ProgressLine() {
  if (enabled_ && last_draw_ > 0.0) std::fprintf(stderr, "\n");
}

void ProgressLine::Update(const MetricsRow& row) {
  if (!enabled_) return;
  const double now = MonotonicSeconds();
  if (row.round != rounds_ && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  std::fprintf(stderr,
               "\r%s round %llu/%llu  |g|=%.4g  loss=%.6g  |grad f|^2=%.3g  bits/client=%.4g  ",
               label_.c_str(), static_cast<unsigned long long>(row.round),
               static_cast<unsigned long long>(rounds_), row.g_norm, row.loss, row.grad_norm_sq,
               row.paper_bits_per_client);
  std::fflush(stderr);
}

std::string FormatSummary(const std::string& label, const RunSummary& s) {
  std::string reached =
      s.first_round_below_eps >= 0
          ? absl::StrFormat("round %d (%.4g bits/client)", s.first_round_below_eps,
                            s.paper_bits_per_client_at_eps)
          : std::string("not reached");
  return absl::StrFormat(
      "%s: %d rounds in %.3f s; |grad f|^2 < %g: %s; min |grad f| = %.6g (round %d); final loss "
      "%.8g; %.6g paper bits/client, %.6g uplink bytes/client\n",
      label, s.rounds, s.wall_seconds, s.eps, reached, s.min_grad_norm, s.min_grad_norm_round,
      s.final_loss, s.paper_bits_per_client, s.uplink_bytes_per_client);
}

std::string DescribeClosedRounds(uint64_t closed_rounds) {
  if (closed_rounds == 0) return "before round 0 closed (metrics.csv has no rows)";
  return absl::StrFormat("after round %d (metrics.csv rows t = 0..%d)", closed_rounds - 1,
                         closed_rounds - 1);
}

}  // namespace ef21
