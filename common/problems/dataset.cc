#include "common/problems/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/base/bounded_file.h"
#include "common/base/rng.h"
#include "common/base/status_macros.h"

namespace ef21 {
namespace {

// The largest 1-based index whose 0-based column still fits Dataset::col_indices.
constexpr int64_t kMaxIndex = int64_t{std::numeric_limits<int32_t>::max()} + 1;

// A token as it appears in an error message: quoted, escaped, and cut short so that a binary file
// fed by mistake does not produce a megabyte-long status.
std::string Quote(absl::string_view token) {
  constexpr size_t kMaxShown = 40;
  if (token.size() > kMaxShown) {
    return absl::StrCat("\"", absl::CHexEscape(token.substr(0, kMaxShown)), "...\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(token), "\"");
}

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Splits `line` at blanks; returns the next token (empty at the end of the line).
absl::string_view NextToken(absl::string_view& line) {
  size_t begin = 0;
  while (begin < line.size() && IsBlank(line[begin])) ++begin;
  size_t end = begin;
  while (end < line.size() && !IsBlank(line[end])) ++end;
  absl::string_view token = line.substr(begin, end - begin);
  line.remove_prefix(end);
  return token;
}

bool ParseFinite(absl::string_view text, double* out) {
  return absl::SimpleAtod(text, out) && std::isfinite(*out);
}

// A distinct label value and the line it first appeared on, for the "too many labels" message.
struct SeenLabel {
  double value;
  absl::string_view text;  // as written, for the message
  int64_t line;
};

}  // namespace

double Dataset::RowSquaredNorm(int64_t j) const {
  double sum = 0.0;
  for (int64_t k = row_offsets[j]; k < row_offsets[j + 1]; ++k) sum += values[k] * values[k];
  return sum;
}

absl::StatusOr<Dataset> ParseLibsvm(absl::string_view text, absl::string_view name,
                                    const LibsvmOptions& options) {
  if (options.features < 0 || options.features > kMaxIndex) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected features in [0, ", kMaxIndex, "], got ", options.features));
  }
  Dataset data;
  data.row_offsets.push_back(0);
  std::vector<SeenLabel> seen;  // at most two entries
  int64_t max_index = 0;
  int64_t line_number = 0;

  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    absl::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == absl::string_view::npos ? text.size() : newline + 1);
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);

    const absl::string_view label_token = NextToken(line);
    if (label_token.empty()) continue;  // blank or comment-only line: not a row
    auto error = [&](absl::string_view expected, absl::string_view got) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_number, ": expected ", expected, ", got ", got));
    };

    double label;
    if (!ParseFinite(label_token, &label)) {
      return error("a numeric label", Quote(label_token));
    }
    bool known = false;
    for (const SeenLabel& s : seen) known = known || s.value == label;
    if (!known) {
      if (seen.size() == 2) {
        return error("at most two distinct labels",
                     absl::StrCat(Quote(label_token), " after ", Quote(seen[0].text), " (line ",
                                  seen[0].line, ") and ", Quote(seen[1].text), " (line ",
                                  seen[1].line, ")"));
      }
      seen.push_back({label, label_token, line_number});
    }
    data.labels.push_back(label);

    int64_t previous = 0;
    for (absl::string_view token = NextToken(line); !token.empty(); token = NextToken(line)) {
      const size_t colon = token.find(':');
      if (colon == absl::string_view::npos) return error("index:value", Quote(token));
      int64_t index;
      if (!absl::SimpleAtoi(token.substr(0, colon), &index)) {
        return error("an integer index in index:value", Quote(token));
      }
      if (index < 1) return error("index >= 1 (indices are 1-based)", Quote(token));
      if (index <= previous) {
        return error(absl::StrCat("index > ", previous, " (indices strictly increase in a row)"),
                     Quote(token));
      }
      if (options.features > 0 && index > options.features) {
        return error(absl::StrCat("index <= ", options.features, " (the declared features)"),
                     Quote(token));
      }
      if (index > kMaxIndex) return error(absl::StrCat("index <= ", kMaxIndex), Quote(token));
      double value;
      if (!ParseFinite(token.substr(colon + 1), &value)) {
        return error("a finite number in index:value", Quote(token));
      }
      previous = index;
      data.col_indices.push_back(static_cast<int32_t>(index - 1));
      data.values.push_back(value);
    }
    if (previous > max_index) max_index = previous;
    data.row_offsets.push_back(static_cast<int64_t>(data.col_indices.size()));
  }

  if (data.labels.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": no data rows (expected at least one `label index:value ...` line)"));
  }
  // The header's rule: two distinct labels map smaller -> -1, larger -> +1; a single label maps
  // positive -> +1, anything else -> -1.
  if (seen.size() == 2) {
    const double larger = std::max(seen[0].value, seen[1].value);
    for (double& label : data.labels) label = label == larger ? 1.0 : -1.0;
  } else {
    for (double& label : data.labels) label = label > 0 ? 1.0 : -1.0;
  }

  data.rows = static_cast<int64_t>(data.labels.size());
  data.cols = options.features > 0 ? options.features : max_index;
  return data;
}

absl::StatusOr<int64_t> CountLibsvmRows(const std::string& path, const LibsvmOptions& options) {
  EF21_ASSIGN_OR_RETURN(const std::string text,
                        ReadBoundedFile(path, options.max_bytes, "LIBSVM file"));
  absl::string_view rest = text;
  int64_t rows = 0;
  while (!rest.empty()) {
    // ParseLibsvm's rule: a line is a row when a label precedes any comment.
    const size_t newline = rest.find('\n');
    absl::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == absl::string_view::npos ? rest.size() : newline + 1);
    const size_t hash = line.find('#');
    if (hash != absl::string_view::npos) line = line.substr(0, hash);
    if (!NextToken(line).empty()) ++rows;
  }
  return rows;
}

absl::StatusOr<Dataset> ReadLibsvm(const std::string& path, const LibsvmOptions& options) {
  // The whole file at once: one allocation, then parsing works on views into it.
  EF21_ASSIGN_OR_RETURN(const std::string text,
                        ReadBoundedFile(path, options.max_bytes, "LIBSVM file"));
  return ParseLibsvm(text, path, options);
}

namespace {

// Asks Linux to back the untouched capacity of `v` with transparent huge pages where the system
// allows it on request (/sys/kernel/mm/transparent_hugepage/enabled = madvise or always): a
// generated set of hundreds of MB then takes one page fault per 2 MiB instead of per 4 KiB. Only
// advice; without THP nothing changes.
template <typename T>
void AdviseHugePages(const std::vector<T>& v) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t first = reinterpret_cast<uintptr_t>(v.data());
  const uintptr_t start = (first + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t stop = (first + v.capacity() * sizeof(T)) & ~(kHuge - 1);
  if (stop > start) madvise(reinterpret_cast<void*>(start), stop - start, MADV_HUGEPAGE);
#else
  (void)v;
#endif
}

}  // namespace

Dataset MakeSyntheticDataset(int64_t rows, int64_t cols, uint64_t seed, int64_t first_row,
                             int64_t end_row) {
  first_row = std::clamp<int64_t>(first_row, 0, rows);
  end_row = std::clamp<int64_t>(end_row, first_row, rows);
  Dataset data;
  data.rows = rows;
  data.cols = cols;
  data.row_offsets.reserve(rows + 1);
  data.col_indices.reserve((end_row - first_row) * cols);
  data.values.reserve((end_row - first_row) * cols);
  AdviseHugePages(data.col_indices);
  AdviseHugePages(data.values);
  data.labels.reserve(rows);
  data.row_offsets.push_back(0);
  for (int64_t j = 0; j < rows; ++j) {
    // One stream per row: the label is word 0, the entries follow, so row j never depends on how
    // many rows or which other rows are generated.
    CounterRng rng(seed, Purpose::kSynthetic, static_cast<uint64_t>(j), 0);
    data.labels.push_back((rng.NextU64() >> 63) != 0 ? 1.0 : -1.0);
    if (j < first_row || j >= end_row) {
      data.row_offsets.push_back(static_cast<int64_t>(data.values.size()));
      continue;
    }
    for (int64_t i = 0; i < cols; ++i) {
      data.col_indices.push_back(static_cast<int32_t>(i));
      data.values.push_back(rng.NextGaussian());
    }
    data.row_offsets.push_back(static_cast<int64_t>(data.values.size()));
  }
  return data;
}

void WeightedGramProduct(const Dataset& a, int64_t begin, int64_t end, const double* w,
                         const double* x, double* y) {
  std::fill(y, y + a.cols, 0.0);
  const int64_t* offsets = a.row_offsets.data();
  const int32_t* cols = a.col_indices.data();
  const double* values = a.values.data();
  // Adds z · a_row to y.
  const auto add_row = [&](int64_t row, double z) {
    for (int64_t e = offsets[row]; e < offsets[row + 1]; ++e) y[cols[e]] += z * values[e];
  };
  constexpr int64_t kLanes = 4;
  int64_t row = begin;
  for (; row + kLanes <= end; row += kLanes) {
    int64_t e[kLanes], stop[kLanes];
    double z[kLanes] = {0.0, 0.0, 0.0, 0.0};
    for (int64_t l = 0; l < kLanes; ++l) {
      e[l] = offsets[row + l];
      stop[l] = offsets[row + l + 1];
    }
    // All four rows together over their common length, then each row's rest: every z[l] still
    // adds its row's products in index order from +0.
    const int64_t common = std::min(std::min(stop[0] - e[0], stop[1] - e[1]),
                                    std::min(stop[2] - e[2], stop[3] - e[3]));
    for (int64_t t = 0; t < common; ++t) {
      z[0] += values[e[0] + t] * x[cols[e[0] + t]];
      z[1] += values[e[1] + t] * x[cols[e[1] + t]];
      z[2] += values[e[2] + t] * x[cols[e[2] + t]];
      z[3] += values[e[3] + t] * x[cols[e[3] + t]];
    }
    for (int64_t l = 0; l < kLanes; ++l) {
      for (int64_t f = e[l] + common; f < stop[l]; ++f) z[l] += values[f] * x[cols[f]];
    }
    for (int64_t l = 0; l < kLanes; ++l) add_row(row + l, z[l] * w[row + l - begin]);
  }
  for (; row < end; ++row) {
    double z = 0.0;
    for (int64_t e = offsets[row]; e < offsets[row + 1]; ++e) z += values[e] * x[cols[e]];
    add_row(row, z * w[row - begin]);
  }
}

}  // namespace ef21
