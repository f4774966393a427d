// The weighted Gram product behind the logistic smoothness constants, new against old side by
// side in one run:
//   lanczos_old / lanczos_new: the whole λ_max (LargestEigenvalue) with the operator as it was
//     (Eigen vectors indexed with operator[], which checks every index: the Release build keeps
//     assertions) and as it is (WeightedGramProduct on raw arrays);
//   one_row / interleaved: the product alone, one row at a time on raw arrays against four rows'
//     dot products interleaved.
// Shapes: synthetic_client, 50 dense rows of d = 10^5 (a client of the synthetic d = 10^5 run);
// synthetic_whole, its 400 rows (the global L); a1a_whole, a1a's 1,605 sparse rows (d = 123: λ_max
// there is the dense solve, built from 123 products). All give the same bits
// (tests/common/dataset_test.cc, WeightedGramProductTest). Prints new/old time ratios (below 1:
// the new one is faster).
//
//   build/bin/gram_product_bench [--benchmark_filter=synthetic_client]
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/ratio_reporter.h"
#include "benchmark/benchmark.h"
#include "common/base/linalg.h"
#include "common/base/vector.h"
#include "common/problems/dataset.h"

namespace ef21 {
namespace {

// The loop that was there: z_j = a_jᵀx, then y += (z_j w_j) a_j, one row after the other. X and
// Y are raw arrays, or Eigen vectors as logistic.cc had it (their operator[] checks every index in
// our assertion-keeping Release build). y starts at zero.
template <typename X, typename Y>
void OneRowAtATime(const Dataset& a, int64_t begin, int64_t end, const double* w, const X& x,
                   Y& y) {
  for (int64_t row = begin; row < end; ++row) {
    double z = 0.0;
    for (int64_t e = a.row_offsets[row]; e < a.row_offsets[row + 1]; ++e)
      z += a.values[e] * x[a.col_indices[e]];
    z *= w[row - begin];
    for (int64_t e = a.row_offsets[row]; e < a.row_offsets[row + 1]; ++e)
      y[a.col_indices[e]] += z * a.values[e];
  }
}

const Dataset& Synthetic() {
  static const Dataset d = MakeSyntheticDataset(400, 100000, 1);
  return d;
}

const Dataset& A1a() {
  static const Dataset d = [] {
    auto read = ReadLibsvm(std::string(EF21_SOURCE_DIR) + "/data/libsvm/a1a", {.features = 123});
    if (!read.ok()) {
      std::fprintf(stderr, "gram_product_bench: %s\n",
                   std::string(read.status().message()).c_str());
      std::exit(1);
    }
    return *std::move(read);
  }();
  return d;
}

struct Shape {
  const char* name;
  const Dataset& (*data)();
  int64_t rows;
};
const Shape kShapes[] = {
    {"synthetic_client", Synthetic, 50},
    {"synthetic_whole", Synthetic, 400},
    {"a1a_whole", A1a, 1605},
};

// λ_max of the shape's rows with the operator as it was (`old`) or as it is.
void BM_Lanczos(benchmark::State& state, const Shape& shape, bool old) {
  const Dataset& a = shape.data();
  const int64_t rows = std::min(shape.rows, a.rows);
  const std::vector<double> w(rows, 1.0 / (4.0 * static_cast<double>(rows)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(LargestEigenvalue(
        [&](const Vector& x, Vector* y) {
          if (old) {
            y->setZero(x.size());
            OneRowAtATime(a, 0, rows, w.data(), x, *y);
          } else {
            y->resize(x.size());
            WeightedGramProduct(a, 0, rows, w.data(), x.data(), y->data());
          }
        },
        a.cols));
  }
}

void BM_Gram(benchmark::State& state, const Shape& shape, bool interleaved) {
  const Dataset& a = shape.data();
  const int64_t rows = std::min(shape.rows, a.rows);
  const std::vector<double> w(rows, 1.0 / (4.0 * static_cast<double>(rows)));
  std::vector<double> x(a.cols), y(a.cols);
  for (int64_t i = 0; i < a.cols; ++i) x[i] = 1.0 + 0.5 * std::sin(1.0 + static_cast<double>(i));
  for (auto _ : state) {
    if (interleaved) {
      WeightedGramProduct(a, 0, rows, w.data(), x.data(), y.data());
    } else {
      std::fill(y.begin(), y.end(), 0.0);
      double* out = y.data();
      OneRowAtATime(a, 0, rows, w.data(), x.data(), out);
    }
    benchmark::DoNotOptimize(y.data());
  }
}

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) {
  for (const ef21::Shape& shape : ef21::kShapes) {
    for (const bool old : {true, false}) {
      benchmark::RegisterBenchmark(
          (std::string(shape.name) + (old ? "/lanczos_old" : "/lanczos_new")).c_str(),
          ef21::BM_Lanczos, shape, old)
          ->Unit(benchmark::kMillisecond);
    }
    for (const bool interleaved : {false, true}) {
      benchmark::RegisterBenchmark(
          (std::string(shape.name) + (interleaved ? "/interleaved" : "/one_row")).c_str(),
          ef21::BM_Gram, shape, interleaved)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  benchmark::Initialize(&argc, argv);
  ef21::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf("\nnew / old, real time (below 1: the new one is faster)\n");
  for (const ef21::Shape& shape : ef21::kShapes) {
    const std::string name = shape.name;
    const auto ratio = [&](const char* now, const char* before) {
      const double old_time = reporter.Nanoseconds(name + before);
      return old_time > 0 ? reporter.Nanoseconds(name + now) / old_time : 0.0;
    };
    std::printf("%-18s lambda_max: %.2f   product: interleaved / one row %.2f\n", shape.name,
                ratio("/lanczos_new", "/lanczos_old"), ratio("/interleaved", "/one_row"));
  }
  return 0;
}
