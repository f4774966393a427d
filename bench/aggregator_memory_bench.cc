// Hosts one aggregator for bench/aggregator_memory_bench.sh: the Aggregator of server/ that
// `ef21 aggregator` runs, instrumented — it prints where the memory goes over the run (the bench's
// peak itself is `ef21 aggregator`'s; this process links the shared libraries, so its RSS starts
// higher).
//
//   aggregator_memory_bench --listen=127.0.0.1:0 --out=DIR --problem=polynomial ... (run flags)
//
// Run flags are RunConfig's (--name=value, as on `ef21 aggregator`), plus --listen. Prints
// "listening on HOST:PORT" once bound, waits for the run, writes summary.json, then prints
// "baseline_rss_kb N" (VmRSS before Start), "started_peak_rss_kb N" (VmHWM once serving, before
// any worker attached), "round R rss_kb N peak_rss_kb N heap_in_use_kb N" after each closed round
// (VmRSS, VmHWM and malloc's bytes in use then: which phase of the run set the peak) and
// "peak_rss_kb N" (VmHWM at the end). A sampler thread reads VmRSS every 5 ms and prints
// "sample MS rss_kb N heap_in_use_kb N" whenever RSS moved by 1 MB or more since the last sample
// printed (MS: milliseconds since the aggregator started; the round lines carry them too), a
// timeline of what the run holds.
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "server/aggregator.h"

namespace {

// A "Name:   123 kB" line of /proc/self/status, in kB; -1 if absent.
int64_t StatusKb(const std::string& name) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (!absl::StartsWith(line, name + ":")) continue;
    std::string digits;
    for (char ch : line) {
      if (ch >= '0' && ch <= '9') digits += ch;
    }
    int64_t kb = -1;
    return absl::SimpleAtoi(digits, &kb) ? kb : -1;
  }
  return -1;
}

// Milliseconds since the first call.
int64_t Millis() {
  static const auto start = std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

std::mutex print_mu;  // the sampler's lines and the round lines do not interleave

// What the process holds at one moment: VmRSS split into anonymous and file-backed pages, its
// threads, and malloc's view (bytes taken from the system for its arenas, of them in use and free,
// and the blocks it mapped on their own).
struct Breakdown {
  int64_t ms = 0, rss_kb = -1, anon_kb = -1, file_kb = -1, threads = -1;
  int64_t arenas_kb = 0, arenas_in_use_kb = 0, arenas_free_kb = 0, mapped_kb = 0;
};

Breakdown TakeBreakdown() {
  Breakdown b;
  b.ms = Millis();
  b.rss_kb = StatusKb("VmRSS");
  b.anon_kb = StatusKb("RssAnon");
  b.file_kb = StatusKb("RssFile");
  b.threads = StatusKb("Threads");
  const struct mallinfo2 heap = mallinfo2();
  b.arenas_kb = static_cast<int64_t>(heap.arena / 1024);
  b.arenas_in_use_kb = static_cast<int64_t>(heap.uordblks / 1024);
  b.arenas_free_kb = static_cast<int64_t>(heap.fordblks / 1024);
  b.mapped_kb = static_cast<int64_t>(heap.hblkhd / 1024);
  return b;
}

int64_t HeapInUseKb() {
  // What malloc hands out right now (small blocks in its arenas plus large mmap'ed ones): the
  // rest of VmRSS is the binary, libraries, stacks and freed memory malloc has not returned.
  const struct mallinfo2 heap = mallinfo2();
  return static_cast<int64_t>((heap.uordblks + heap.hblkhd) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  // As `ef21 aggregator` does; EF21_BENCH_MALLOC_ARENA_MAX=N (0: glibc's default) compares
  // another arena bound.
  int arena_max = ef21::Aggregator::kMallocArenaMax;
  if (const char* value = std::getenv("EF21_BENCH_MALLOC_ARENA_MAX"); value != nullptr) {
    if (!absl::SimpleAtoi(value, &arena_max) || arena_max < 0) {
      std::fprintf(stderr, "EF21_BENCH_MALLOC_ARENA_MAX: expected a count >= 0; got \"%s\"\n",
                   value);
      return 2;
    }
  }
  ef21::Aggregator::ConfigureProcessMemory(arena_max);
  std::printf("malloc_arena_max %d\n", arena_max);
  ef21::Aggregator::Options options;
  options.audit_out = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (!absl::StartsWith(arg, "--") || eq == std::string::npos) {
      std::fprintf(stderr, "expected --name=value; got %s\n", arg.c_str());
      return 2;
    }
    const std::string name = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    if (name == "listen") {
      options.listen = value;
      continue;
    }
    if (absl::Status s = options.config.Set(name, value); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  // Written on the closer thread, one round after the other.
  options.observer = [](const ef21::MetricsRow& row) {
    const int64_t heap = HeapInUseKb();
    std::lock_guard<std::mutex> lock(print_mu);
    std::printf("round %llu rss_kb %lld peak_rss_kb %lld heap_in_use_kb %lld ms %lld\n",
                static_cast<unsigned long long>(row.round),
                static_cast<long long>(StatusKb("VmRSS")),
                static_cast<long long>(StatusKb("VmHWM")), static_cast<long long>(heap),
                static_cast<long long>(Millis()));
    std::fflush(stdout);
  };
  const int64_t baseline = StatusKb("VmRSS");
  Millis();
  std::atomic<bool> sampling{true};
  Breakdown at_peak;  // the sampler's, read after it is joined
  std::thread sampler([&sampling, &at_peak] {
    int64_t printed = 0;
    while (sampling.load()) {
      const int64_t rss = StatusKb("VmRSS");
      if (rss > at_peak.rss_kb) at_peak = TakeBreakdown();
      if (std::abs(rss - printed) >= 1024) {
        printed = rss;
        const int64_t heap = HeapInUseKb();
        std::lock_guard<std::mutex> lock(print_mu);
        std::printf("sample %lld rss_kb %lld heap_in_use_kb %lld\n",
                    static_cast<long long>(Millis()), static_cast<long long>(rss),
                    static_cast<long long>(heap));
        std::fflush(stdout);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  absl::StatusOr<std::unique_ptr<ef21::Aggregator>> aggregator =
      ef21::Aggregator::Start(std::move(options));
  if (!aggregator.ok()) {
    std::fprintf(stderr, "%s\n", std::string(aggregator.status().message()).c_str());
    sampling = false;
    sampler.join();
    return 1;
  }
  std::printf("listening on %s\n", (*aggregator)->address().c_str());
  std::fflush(stdout);
  const int64_t started = StatusKb("VmHWM");
  (*aggregator)->Wait(absl::InfiniteDuration());
  const absl::Status status = (*aggregator)->Shutdown();
  sampling = false;
  sampler.join();
  std::printf("baseline_rss_kb %lld\nstarted_peak_rss_kb %lld\npeak_rss_kb %lld\n",
              static_cast<long long>(baseline), static_cast<long long>(started),
              static_cast<long long>(StatusKb("VmHWM")));
  std::printf(
      "at_peak ms %lld rss_kb %lld anon_kb %lld file_kb %lld threads %lld arenas_kb %lld "
      "arenas_in_use_kb %lld arenas_free_kb %lld mapped_kb %lld\n",
      static_cast<long long>(at_peak.ms), static_cast<long long>(at_peak.rss_kb),
      static_cast<long long>(at_peak.anon_kb), static_cast<long long>(at_peak.file_kb),
      static_cast<long long>(at_peak.threads), static_cast<long long>(at_peak.arenas_kb),
      static_cast<long long>(at_peak.arenas_in_use_kb),
      static_cast<long long>(at_peak.arenas_free_kb), static_cast<long long>(at_peak.mapped_kb));
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
