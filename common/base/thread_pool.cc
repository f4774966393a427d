#include "common/base/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace ef21 {

ThreadPool::ThreadPool(int64_t threads) {
  if (threads <= 0) threads = std::max<int64_t>(1, std::thread::hardware_concurrency());
  for (int64_t i = 1; i < threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : workers_) t.join();
}

namespace {
inline void RunChunk(const std::function<void(int64_t, int64_t)>& fn, int64_t n, int64_t chunks,
                     int64_t c) {
  const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
  if (begin < end) fn(begin, end);
}
}  // namespace

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t chunks =
      std::min<int64_t>(size(), std::max<int64_t>(1, n / std::max<int64_t>(1, grain)));
  if (chunks <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    task_ = &fn;
    n_ = n;
    chunks_ = chunks;
    pending_ = chunks - 1;
    ++generation_;
  }
  RunChunk(fn, n, chunks, 0);
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return pending_ == 0; };
  mu_.Await(absl::Condition(&done));
  task_ = nullptr;
}

void ThreadPool::WorkerLoop(int64_t index) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t, int64_t)>* task;
    int64_t n, chunks;
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this, seen]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || generation_ != seen; };
      mu_.Await(absl::Condition(&woken));
      if (stop_) return;
      seen = generation_;
      task = task_;
      n = n_;
      chunks = chunks_;
    }
    if (index < chunks) {
      RunChunk(*task, n, chunks, index);
      absl::MutexLock lock(&mu_);
      --pending_;
    }
  }
}

int64_t AdaptiveGrain::grain(int64_t n) const {
  if (seconds_per_iteration_ <= 0.0) return std::max<int64_t>(1, n + 1);
  const double g = std::ceil(kMinChunkSeconds / seconds_per_iteration_);
  return g >= static_cast<double>(n + 1) ? std::max<int64_t>(1, n + 1)
                                         : std::max<int64_t>(1, static_cast<int64_t>(g));
}

void AdaptiveGrain::ParallelFor(ThreadPool* pool, int64_t n,
                                const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t g = grain(n);
  const int64_t chunks = std::min<int64_t>(pool->size(), std::max<int64_t>(1, n / g));
  const auto start = std::chrono::steady_clock::now();
  pool->ParallelFor(n, g, fn);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // With c chunks running side by side the wall time is about the work of n/c iterations.
  const double measured = seconds * static_cast<double>(chunks) / static_cast<double>(n);
  seconds_per_iteration_ =
      seconds_per_iteration_ <= 0.0 ? measured : 0.5 * seconds_per_iteration_ + 0.5 * measured;
}

}  // namespace ef21
