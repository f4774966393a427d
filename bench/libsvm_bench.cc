// LIBSVM loading speed on the shipped a1a: ReadLibsvm (open, read, parse) side by side with
// ParseLibsvm on the same bytes already in memory, so the printed ratio is the cost of file I/O
// relative to parsing. Run: build/bin/libsvm_bench
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/problems/dataset.h"

namespace ef21 {
namespace {

constexpr char kA1a[] = EF21_SOURCE_DIR "/data/libsvm/a1a";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

LibsvmOptions A1aOptions() {
  LibsvmOptions options;
  options.features = 123;
  return options;
}

void BM_ReadLibsvmA1a(benchmark::State& state) {
  const int64_t bytes = static_cast<int64_t>(Slurp(kA1a).size());
  for (auto _ : state) {
    absl::StatusOr<Dataset> d = ReadLibsvm(kA1a, A1aOptions());
    if (!d.ok()) {
      state.SkipWithError(std::string(d.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(d->values.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_ReadLibsvmA1a);

void BM_ParseLibsvmA1aInMemory(benchmark::State& state) {
  const std::string text = Slurp(kA1a);
  for (auto _ : state) {
    absl::StatusOr<Dataset> d = ParseLibsvm(text, "a1a", A1aOptions());
    if (!d.ok()) {
      state.SkipWithError(std::string(d.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(d->values.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_ParseLibsvmA1aInMemory);

// Prints the usual table and remembers each benchmark's real time per iteration for the ratio.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        seconds_[run.benchmark_name()] = run.GetAdjustedRealTime();
      }
    }
  }
  const std::map<std::string, double>& seconds() const { return seconds_; }

 private:
  std::map<std::string, double> seconds_;
};

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ef21::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const auto& t = reporter.seconds();
  const auto read = t.find("BM_ReadLibsvmA1a");
  const auto parse = t.find("BM_ParseLibsvmA1aInMemory");
  if (read != t.end() && parse != t.end() && parse->second > 0) {
    std::printf("ReadLibsvm / ParseLibsvm (in memory) on a1a: %.2fx\n",
                read->second / parse->second);
  }
  return 0;
}
