// A labelled data set in compressed sparse row form: the input of logistic regression. Rows are
// samples a_j with labels b_j in {-1, +1}; columns are 0-based features. Plain value type.
#ifndef EF21_COMMON_PROBLEMS_DATASET_H_
#define EF21_COMMON_PROBLEMS_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ef21 {

struct Dataset {
  int64_t rows = 0;
  int64_t cols = 0;                  // the dimension d
  std::vector<int64_t> row_offsets;  // size rows + 1; row j is [row_offsets[j], row_offsets[j+1])
  std::vector<int32_t> col_indices;  // 0-based, strictly increasing inside a row
  std::vector<double> values;
  std::vector<double> labels;  // each -1.0 or +1.0

  // ‖a_j‖² of row j.
  double RowSquaredNorm(int64_t j) const;
};

// y = Σ_{rows j in [begin, end)} w[j − begin] · a_j a_jᵀ x: the weighted Gram operator behind the
// logistic smoothness constants (λ_max by Lanczos). Bitwise the plain loop over rows that forms
// z_j = a_jᵀx entry by entry in index order, scales it by w, and adds z_j a_j to y row after row;
// the dot products of four rows run interleaved (four independent add chains instead of one
// long one: the loop is bound by the adds' latency), which changes no rounding.
// y must not alias x.
void WeightedGramProduct(const Dataset& a, int64_t begin, int64_t end, const double* w,
                         const double* x, double* y);

struct LibsvmOptions {
  // Declared dimension d. 0: the largest index in the file. A declared d smaller than an index in
  // the file is an error; a larger one is accepted (a1a declares 123 but uses indices up to 119).
  int64_t features = 0;
  // Larger files (and anything that is not a regular file) are refused before they are read.
  int64_t max_bytes = int64_t{4} << 30;
};

// Reads a LIBSVM file: `label idx:value ...` with 1-based strictly increasing indices. Accepts CRLF
// line endings, blank lines, comments after '#', rows with no features, and labels written
// +1/1/-1/0/2/4 and the like. Label rule: if the file has exactly two distinct label values, the
// smaller becomes -1 and the larger +1; with one distinct value, positive becomes +1 and anything
// else -1; more than two distinct values is an error. Malformed input is an INVALID_ARGUMENT error
// naming the file and the 1-based line; a missing file is NOT_FOUND; a device, pipe or directory,
// or a file above options.max_bytes, is INVALID_ARGUMENT before anything is read.
absl::StatusOr<Dataset> ReadLibsvm(const std::string& path, const LibsvmOptions& options = {});

// The number of rows ParseLibsvm would find in `path` (lines with a label before any '#'),
// without parsing them: `ef21 run` starts its workers with it while the aggregator loads the data.
absl::StatusOr<int64_t> CountLibsvmRows(const std::string& path, const LibsvmOptions& options = {});

// Parses LIBSVM text already in memory; `name` is used in error messages in place of a path.
absl::StatusOr<Dataset> ParseLibsvm(absl::string_view text, absl::string_view name,
                                    const LibsvmOptions& options = {});

// The paper's synthetic set: A_ij ~ N(0, 1), b_j = ±1 with probability ½, all drawn from
// CounterRng(seed, Purpose::kSynthetic, row, 0) so the set is a pure function of (rows, cols,
// seed). With a row range [first_row, end_row), only those rows get their entries (the others
// keep their label and no entry): a worker host generates just the rows of its clients, each
// exactly as in the whole set.
Dataset MakeSyntheticDataset(int64_t rows, int64_t cols, uint64_t seed, int64_t first_row = 0,
                             int64_t end_row = INT64_MAX);

}  // namespace ef21

#endif  // EF21_COMMON_PROBLEMS_DATASET_H_
