// Comparing runs: two metrics.csv trajectories are the same when every row agrees bit for bit in
// the columns round..stepsize (wall_seconds is the only column allowed to differ). Used wherever a
// test claims simulate ≡ federation or an interrupted run ≡ the uninterrupted one.
//
//   EXPECT_TRUE(SameTrajectory(recorder.rows(), *SimulateRows(config)));
#ifndef EF21_TESTS_TESTING_TRAJECTORY_H_
#define EF21_TESTS_TESTING_TRAJECTORY_H_

#include <vector>

#include "common/run/run_log.h"
#include "gtest/gtest.h"

namespace ef21::test {

// Success when `got` and `expected` have the same rows; otherwise names the first row and column
// that differ, with both values to 17 digits.
::testing::AssertionResult SameTrajectory(const std::vector<MetricsRow>& got,
                                          const std::vector<MetricsRow>& expected);

// The same for a prefix: `got` must equal the first got.size() rows of `expected`.
::testing::AssertionResult SamePrefix(const std::vector<MetricsRow>& got,
                                      const std::vector<MetricsRow>& expected);

}  // namespace ef21::test

#endif  // EF21_TESTS_TESTING_TRAJECTORY_H_
