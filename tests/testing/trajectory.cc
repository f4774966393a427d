#include "tests/testing/trajectory.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"

namespace ef21::test {
namespace {

struct Column {
  const char* name;
  double (*get)(const MetricsRow&);
};

// metrics.csv's columns after `round`, up to stepsize.
constexpr Column kColumns[] = {
    {"paper_bits_per_client", [](const MetricsRow& r) { return r.paper_bits_per_client; }},
    {"uplink_bytes_per_client", [](const MetricsRow& r) { return r.uplink_bytes_per_client; }},
    {"downlink_bytes_per_client", [](const MetricsRow& r) { return r.downlink_bytes_per_client; }},
    {"loss", [](const MetricsRow& r) { return r.loss; }},
    {"grad_norm", [](const MetricsRow& r) { return r.grad_norm; }},
    {"grad_norm_sq", [](const MetricsRow& r) { return r.grad_norm_sq; }},
    {"g_norm", [](const MetricsRow& r) { return r.g_norm; }},
    {"stepsize", [](const MetricsRow& r) { return r.stepsize; }},
};

uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return bits;
}

::testing::AssertionResult CompareRows(const std::vector<MetricsRow>& got,
                                       const std::vector<MetricsRow>& expected, size_t count) {
  for (size_t r = 0; r < count; ++r) {
    const MetricsRow& a = got[r];
    const MetricsRow& b = expected[r];
    if (a.round != b.round) {
      return ::testing::AssertionFailure()
             << "row " << r << ": round " << a.round << ", expected " << b.round;
    }
    for (const Column& column : kColumns) {
      const double x = column.get(a);
      const double y = column.get(b);
      if (Bits(x) != Bits(y)) {
        return ::testing::AssertionFailure()
               << "round " << a.round << ", " << column.name << ": " << absl::StrFormat("%.17g", x)
               << ", expected " << absl::StrFormat("%.17g", y);
      }
    }
  }
  return ::testing::AssertionSuccess() << count << " rows equal";
}

}  // namespace

::testing::AssertionResult SameTrajectory(const std::vector<MetricsRow>& got,
                                          const std::vector<MetricsRow>& expected) {
  if (got.size() != expected.size()) {
    return ::testing::AssertionFailure() << got.size() << " rows, expected " << expected.size();
  }
  return CompareRows(got, expected, got.size());
}

::testing::AssertionResult SamePrefix(const std::vector<MetricsRow>& got,
                                      const std::vector<MetricsRow>& expected) {
  if (got.size() > expected.size()) {
    return ::testing::AssertionFailure()
           << got.size() << " rows, more than the " << expected.size() << " expected";
  }
  return CompareRows(got, expected, got.size());
}

}  // namespace ef21::test
