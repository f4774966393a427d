// ThreadPool and AdaptiveGrain: every index is visited exactly once whatever the thread count and
// grain; a loop runs on one thread until its work per iteration is known, and iterations heavy
// enough to pay for a thread are split.
#include "common/base/thread_pool.h"

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ef21 {
namespace {

TEST(ThreadPoolTest, EveryIndexOnceForAnyThreadCountAndGrain) {
  for (int64_t threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 100}) {
      for (int64_t grain : {1, 3, 1000}) {
        std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
        pool.ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) seen[static_cast<size_t>(i)]++;
        });
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)].load(), 1);
      }
    }
  }
}

// The chunks one run of the loop used, identified by the threads that ran them.
int64_t ChunksOf(AdaptiveGrain* grain, ThreadPool* pool, int64_t n,
                 std::chrono::microseconds work) {
  std::atomic<int64_t> calls{0};
  grain->ParallelFor(pool, n, [&](int64_t begin, int64_t end) {
    ++calls;
    std::this_thread::sleep_for(work * (end - begin));
  });
  return calls.load();
}

TEST(AdaptiveGrainTest, OneThreadUntilMeasuredThenSplitsHeavyIterations) {
  ThreadPool pool(2);
  AdaptiveGrain grain;
  EXPECT_EQ(grain.grain(8), 9);
  // Unmeasured: one chunk on the caller's thread.
  EXPECT_EQ(ChunksOf(&grain, &pool, 8, std::chrono::microseconds(1500)), 1);
  // Measured at ≥ 1.5 ms an iteration, a chunk of ⌈2 ms / that⌉ ≤ 2 iterations pays: 2 chunks.
  EXPECT_GT(grain.seconds_per_iteration(), 1.4e-3);
  EXPECT_LE(grain.grain(8), 2);
  EXPECT_EQ(ChunksOf(&grain, &pool, 8, std::chrono::microseconds(1500)), 2);
}

// Loops known to be long (a network client's step) are spread from their first run: 5 clients on
// a pool of 5 threads run as 5 chunks at once, not serially on the caller's thread.
TEST(AdaptiveGrainTest, LongIterationsAreSpreadFromTheFirstRun) {
  ThreadPool pool(5);
  AdaptiveGrain grain;
  grain.AssumeLongIterations();
  EXPECT_EQ(grain.grain(5), 1);
  EXPECT_EQ(ChunksOf(&grain, &pool, 5, std::chrono::microseconds(3000)), 5);
}

}  // namespace
}  // namespace ef21
