// A one-line progress display on stderr, redrawn at most ten times a second, only when stderr is
// a terminal. Thread-compatible.
#ifndef EF21_CLI_PROGRESS_H_
#define EF21_CLI_PROGRESS_H_

#include <cstdint>
#include <string>

#include "common/run/run_log.h"

namespace ef21 {

class ProgressLine {
 public:
  ProgressLine(std::string label, uint64_t rounds);
  ~ProgressLine();
  void Update(const MetricsRow& row);

 private:
  std::string label_;
  uint64_t rounds_;
  bool enabled_;
  double last_draw_ = 0.0;
};

// A human-readable summary of a finished run (stdout).
std::string FormatSummary(const std::string& label, const RunSummary& s);

// How far a stopped federated run got, from the number of closed rounds counting round 0 (= the
// rows of metrics.csv): "after round N (metrics.csv rows t = 0..N)", or "before round 0 closed
// (metrics.csv has no rows)". Round 0 is the initialization; rounds 1..K are the iterations.
std::string DescribeClosedRounds(uint64_t closed_rounds);

}  // namespace ef21

#endif  // EF21_CLI_PROGRESS_H_
