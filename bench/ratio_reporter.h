// A Google Benchmark reporter that also remembers each benchmark's real time, so a benchmark
// binary can print ratios of kernels measured side by side in the same run (shared, noisy
// machines make absolute times meaningless across runs).
#ifndef EF21_BENCH_RATIO_REPORTER_H_
#define EF21_BENCH_RATIO_REPORTER_H_

#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

namespace ef21 {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        const double to_ns = 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
        // With repetitions, the fastest one: interference from other processes only adds time.
        const std::string name = run.benchmark_name();
        const double real = run.GetAdjustedRealTime() * to_ns;
        auto it = nanoseconds_.find(name);
        if (it == nanoseconds_.end() || real < it->second) {
          nanoseconds_[name] = real;
          cpu_nanoseconds_[name] = run.GetAdjustedCPUTime() * to_ns;
        }
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Real time per iteration in nanoseconds (the fastest repetition), or 0 when the benchmark did
  // not run.
  double Nanoseconds(const std::string& name) const {
    auto it = nanoseconds_.find(name);
    return it == nanoseconds_.end() ? 0.0 : it->second;
  }
  // CPU time of the calling thread per iteration in nanoseconds.
  double CpuNanoseconds(const std::string& name) const {
    auto it = cpu_nanoseconds_.find(name);
    return it == cpu_nanoseconds_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> nanoseconds_;
  std::map<std::string, double> cpu_nanoseconds_;
};

}  // namespace ef21

#endif  // EF21_BENCH_RATIO_REPORTER_H_
