// top-k (SPEC §2): keep the k entries of largest |v_j|, ties to the lower index, α = k/d.
//
// Selection is expected O(d) and never sorts the vector. For large d a strided sample estimates a
// threshold τ below the k-th largest magnitude; one branch-free pass gathers the candidates
// |v_j| ≥ τ in index order, and the exact k-th magnitude is found among them with nth_element. If
// the sample was unlucky (fewer than k candidates) the pass is repeated with τ = 0, so the result
// is always exact.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/compress/compressor.h"

namespace ef21 {
namespace {

constexpr int64_t kSampledSelectionMinDim = 4096;
constexpr int64_t kSampleSize = 2048;
constexpr int64_t kInsertionSelectionMaxK = 16;

// Appends to `indices`, in increasing order, the entries of `candidates` (increasing indices into
// v) with |v_j| > kth, then the first ones with |v_j| == kth until k are taken. `kth` is the k-th
// largest magnitude among the candidates.
void TakeAboveAndTies(const double* v, const int32_t* candidates, int64_t count, double kth,
                      int64_t k, std::vector<int32_t>* indices) {
  int64_t above = 0;
  for (int64_t c = 0; c < count; ++c) above += std::abs(v[candidates[c]]) > kth;
  int64_t ties = k - above;
  indices->reserve(k);
  for (int64_t c = 0; c < count; ++c) {
    const double a = std::abs(v[candidates[c]]);
    if (a > kth || (a == kth && ties-- > 0)) indices->push_back(candidates[c]);
  }
}

// The k-th largest of `magnitudes` (which it reorders).
double KthLargest(std::vector<double>* magnitudes, int64_t k) {
  auto nth = magnitudes->begin() + (k - 1);
  std::nth_element(magnitudes->begin(), nth, magnitudes->end(), std::greater<double>());
  return *nth;
}

class TopK final : public Compressor {
 public:
  TopK(int64_t dim, int64_t k) : Compressor(dim), k_(k) {}

  void Compress(ConstVectorRef v, const DrawKey&, SparseVector* out) const override {
    out->Clear(dim());
    SelectTopK(v, k_, &out->indices);
    out->values.resize(out->indices.size());
    for (size_t j = 0; j < out->indices.size(); ++j) out->values[j] = v[out->indices[j]];
  }
  double alpha() const override { return static_cast<double>(k_) / static_cast<double>(dim()); }
  int64_t max_entries() const override { return k_; }
  CompressorKind kind() const override { return CompressorKind::kTopK; }

 private:
  int64_t k_;
};

}  // namespace

void SelectTopK(ConstVectorRef vec, int64_t k, std::vector<int32_t>* indices) {
  const int64_t d = vec.size();
  const double* v = vec.data();
  indices->clear();
  if (k >= d) {
    for (int64_t j = 0; j < d; ++j) indices->push_back(static_cast<int32_t>(j));
    return;
  }
  if (k <= 0) return;
  if (k == 1) {
    int64_t best = 0;
    double best_abs = std::abs(v[0]);
    for (int64_t j = 1; j < d; ++j) {
      const double a = std::abs(v[j]);
      const bool larger = a > best_abs;  // strict: ties keep the lower index
      best = larger ? j : best;
      best_abs = larger ? a : best_abs;
    }
    indices->push_back(static_cast<int32_t>(best));
    return;
  }

  if (k <= kInsertionSelectionMaxK) {
    // Few entries: keep the best k seen so far ordered by (|v| descending, index ascending); a
    // later index enters only if strictly larger, so ties stay with the lower index. O(d) for a
    // fixed small k, with no pass over scratch memory.
    double best_abs[kInsertionSelectionMaxK];
    int32_t best_index[kInsertionSelectionMaxK];
    int64_t filled = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double a = std::abs(v[j]);
      if (filled == k && !(a > best_abs[k - 1])) continue;
      int64_t pos = filled < k ? filled++ : k - 1;
      while (pos > 0 && a > best_abs[pos - 1]) {
        best_abs[pos] = best_abs[pos - 1];
        best_index[pos] = best_index[pos - 1];
        --pos;
      }
      best_abs[pos] = a;
      best_index[pos] = static_cast<int32_t>(j);
    }
    indices->assign(best_index, best_index + k);
    std::sort(indices->begin(), indices->end());
    return;
  }

  thread_local std::vector<int32_t> candidates;
  thread_local std::vector<double> magnitudes;
  candidates.resize(d + 1);

  double tau = 0.0;
  if (d >= kSampledSelectionMinDim) {
    // Threshold: the magnitude the sample ranks at 1.5·k/d·s + 16 from the top, so the expected
    // number of candidates is a little above k.
    const int64_t stride = d / kSampleSize;
    magnitudes.clear();
    for (int64_t j = 0; j < d; j += stride) magnitudes.push_back(std::abs(v[j]));
    const int64_t s = static_cast<int64_t>(magnitudes.size());
    const int64_t rank = std::min<int64_t>(s, static_cast<int64_t>(1.5 * k * s / d) + 16);
    tau = KthLargest(&magnitudes, rank);
  }
  for (;;) {
    int32_t* out = candidates.data();
    int64_t count = 0;
    for (int64_t j = 0; j < d; ++j) {
      out[count] = static_cast<int32_t>(j);
      count += std::abs(v[j]) >= tau;
    }
    if (count >= k) {
      magnitudes.resize(count);
      for (int64_t c = 0; c < count; ++c) magnitudes[c] = std::abs(v[out[c]]);
      const double kth = KthLargest(&magnitudes, k);
      TakeAboveAndTies(v, out, count, kth, k, indices);
      return;
    }
    tau = 0.0;  // the sample overestimated the threshold: take every coordinate
  }
}

std::unique_ptr<Compressor> MakeTopK(int64_t dim, int64_t k) {
  return std::make_unique<TopK>(dim, k);
}

}  // namespace ef21
