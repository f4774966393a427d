// A fixed pool of threads for data-parallel loops over clients. ParallelFor splits [0, n) into
// contiguous chunks; the caller's thread takes part and the call returns when all are done.
// Results never depend on the number of threads as long as iterations write disjoint outputs.
// Thread-safe: ParallelFor may be called from one thread at a time.
#ifndef EF21_COMMON_BASE_THREAD_POOL_H_
#define EF21_COMMON_BASE_THREAD_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(int64_t, int64_t)>* task_ = nullptr;
  int64_t n_ = 0;
  int64_t chunks_ = 0;
  uint64_t generation_ = 0;
  int64_t pending_ = 0;
  bool stop_ = false;
};

}  // namespace ef21

#endif  // EF21_COMMON_BASE_THREAD_POOL_H_
