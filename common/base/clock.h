// Seconds on a monotonic clock, for wall-time columns and durations (never for results).
#ifndef EF21_COMMON_BASE_CLOCK_H_
#define EF21_COMMON_BASE_CLOCK_H_

#include <chrono>

namespace ef21 {

inline double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace ef21

#endif  // EF21_COMMON_BASE_CLOCK_H_
