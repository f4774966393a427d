// `ef21 simulate` on a1a, one row per client (1605 clients), norm-ef21, top-1, 400 rounds
// (issue #2 target: under 0.5 s of compute). Reports rounds/s, ns per client-round for 1 and 2
// threads and the default thread count (--threads=0: one per hardware thread; issue #11: never
// slower than one thread), and the simulator's memory: bytes per client per coordinate and the
// measured growth of the resident set.
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "bench/ratio_reporter.h"
#include "common/run/simulator.h"

namespace ef21 {
namespace {

RunConfig A1a(int64_t threads) {
  RunConfig c;
  c.data = std::string(EF21_SOURCE_DIR) + "/data/libsvm/a1a";
  c.features = 123;
  c.algorithm = Algorithm::kNormEf21;
  c.k = 1;
  c.rounds = 400;
  c.threads = threads;
  return c;
}

void BM_SimulateA1a(benchmark::State& state) {
  const RunConfig config = A1a(state.range(0));
  for (auto _ : state) {
    auto sim = std::move(Simulator::Create(config)).value();
    auto log = std::move(RunLog::Create("", config.ToJson(), config.eps)).value();
    if (!sim->Run(log.get()).ok()) state.SkipWithError("run failed");
    benchmark::DoNotOptimize(log->summary().final_loss);
  }
  state.counters["rounds/s"] =
      benchmark::Counter(401.0 * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["ns/client-round"] = benchmark::Counter(
      401.0 * 1605 * state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_SimulateA1a)
    ->Arg(1)
    ->Arg(2)
    ->Arg(0)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(1.0)
    ->Repetitions(5)
    ->ReportAggregatesOnly(false);

// Resident set size in bytes (Linux /proc/self/statm).
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * 4096.0;
}

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // Memory first, in a fresh process: what one simulator of the a1a run holds.
  const ef21::RunConfig config = ef21::A1a(1);
  const double before = ef21::ResidentBytes();
  auto sim = std::move(ef21::Simulator::Create(config)).value();
  auto log = std::move(ef21::RunLog::Create("", config.ToJson(), config.eps)).value();
  if (!sim->Run(log.get()).ok()) return 1;
  const double after = ef21::ResidentBytes();
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  const double n = 1605, d = 123;
  ef21::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double t1 = reporter.Nanoseconds("BM_SimulateA1a/1/min_time:1.000/repeats:5/real_time");
  const double t2 = reporter.Nanoseconds("BM_SimulateA1a/2/min_time:1.000/repeats:5/real_time");
  std::printf(
      "\nsimulate a1a, 1605 clients, norm-ef21 top-1, 400 rounds (same run, fastest of 5 "
      "repetitions):\n");
  const double c1 = reporter.CpuNanoseconds("BM_SimulateA1a/1/min_time:1.000/repeats:5/real_time");
  if (t1 > 0) {
    // With one thread, compute is the process's CPU time; wall time also counts other tenants.
    std::printf(
        "  1 thread : %.3f s compute (%.3f s wall), %.0f rounds/s, %.0f ns per client-round   "
        "(target < 0.5 s)\n",
        c1 * 1e-9, t1 * 1e-9, 401 / (c1 * 1e-9), c1 / (401 * n));
  }
  if (t2 > 0) {
    std::printf("  2 threads: %.3f s, %.0f rounds/s, %.0f ns per client-round   (speed-up %.2fx)\n",
                t2 * 1e-9, 401 / (t2 * 1e-9), t2 / (401 * n), t1 / t2);
  }
  const double t0 = reporter.Nanoseconds("BM_SimulateA1a/0/min_time:1.000/repeats:5/real_time");
  if (t0 > 0) {
    std::printf(
        "  default (%u hardware threads): %.3f s, %.0f rounds/s   (speed-up %.2fx over 1 thread, "
        "wall)\n",
        std::thread::hardware_concurrency(), t0 * 1e-9, 401 / (t0 * 1e-9), t1 / t0);
  }
  std::printf(
      "  memory: resident growth %.2f MB for n*d = %.0f coordinates = %.1f bytes per client per "
      "coordinate (peak RSS %.1f MB)\n",
      (after - before) / 1e6, n * d, (after - before) / (n * d), usage.ru_maxrss / 1024.0);
  return 0;
}
