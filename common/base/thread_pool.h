// A fixed pool of threads for data-parallel loops over clients. ParallelFor splits [0, n) into
// contiguous chunks; the caller's thread takes part and the call returns when all are done.
// Results never depend on the number of threads as long as iterations write disjoint outputs.
// Thread-safe: ParallelFor may be called from one thread at a time.
//
// AdaptiveGrain chooses the grain of a loop from the measured work per iteration, so that a loop
// whose whole work is too small to pay for waking threads runs on the caller's thread alone.
#ifndef EF21_COMMON_BASE_THREAD_POOL_H_
#define EF21_COMMON_BASE_THREAD_POOL_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ef21 {

class ThreadPool {
 public:
  // threads = 0: one per hardware thread. threads = 1: everything on the caller's thread.
  explicit ThreadPool(int64_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int64_t size() const { return static_cast<int64_t>(workers_.size()) + 1; }

  // Calls fn(begin, end) over chunks covering [0, n), each of at least `grain` iterations.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int64_t index);

  std::vector<std::thread> workers_;
  absl::Mutex mu_;
  const std::function<void(int64_t, int64_t)>* task_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t n_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t chunks_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // one per ParallelFor that wakes workers
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;      // worker chunks of this generation not done
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

// The grain of one recurring ParallelFor loop (the clients of a round), learned from the wall
// time of its previous runs: a chunk must carry at least kMinChunkSeconds of work. Work per
// client differs by orders of magnitude between problems (a one-row logistic client of a1a takes
// ~0.3 µs, a network client milliseconds), and on a machine shared with other processes a
// woken thread may wait a scheduler time slice before it runs, so small rounds are faster on one
// thread. The first run of the loop, with nothing measured yet, is on one thread.
// Thread-compatible.
class AdaptiveGrain {
 public:
  // Several scheduler wake-up latencies of a loaded Linux machine (time slices are ~1-4 ms).
  static constexpr double kMinChunkSeconds = 2e-3;

  // Runs fn over [0, n) on `pool` with the current grain and measures it.
  void ParallelFor(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  // For loops known to be long per iteration (a network client's step): the first run, too, is
  // spread over the pool, one iteration per chunk at least.
  void AssumeLongIterations() { seconds_per_iteration_ = kMinChunkSeconds; }

  // Iterations per chunk for the next run (n + 1 before any measurement: one chunk).
  int64_t grain(int64_t n) const;
  // Seconds of work per iteration as last estimated; 0 before any measurement.
  double seconds_per_iteration() const { return seconds_per_iteration_; }

 private:
  double seconds_per_iteration_ = 0.0;
};

}  // namespace ef21

#endif  // EF21_COMMON_BASE_THREAD_POOL_H_
