// libFuzzer target: the LIBSVM reader (common/problems/dataset.h) on arbitrary bytes. A parse that
// succeeds must produce a well-formed CSR matrix; nothing may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/problems/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ef21::Dataset> parsed = ef21::ParseLibsvm(text, "fuzz.svm");
  if (!parsed.ok()) return 0;
  const ef21::Dataset& d = *parsed;
  if (d.rows != static_cast<int64_t>(d.labels.size()) ||
      d.row_offsets.size() != static_cast<size_t>(d.rows + 1) ||
      d.row_offsets.back() != static_cast<int64_t>(d.values.size()) ||
      d.col_indices.size() != d.values.size()) {
    std::abort();
  }
  for (int64_t j = 0; j < d.rows; ++j) {
    if (d.labels[j] != 1.0 && d.labels[j] != -1.0) std::abort();
    for (int64_t e = d.row_offsets[j]; e < d.row_offsets[j + 1]; ++e) {
      if (d.col_indices[e] < 0 || d.col_indices[e] >= d.cols) std::abort();
      if (e > d.row_offsets[j] && d.col_indices[e] <= d.col_indices[e - 1]) std::abort();
    }
  }
  return 0;
}
