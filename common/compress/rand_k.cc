// rand-k (SPEC §2): keep k coordinates drawn uniformly without replacement, unscaled — the
// contractive form, E‖C(v) − v‖² = (1 − k/d)‖v‖². The draw is a pure function of
// (seed, client, round) through CounterRng, so every process picks the same coordinates.
#include <algorithm>
#include <vector>

#include "common/base/rng.h"
#include "common/compress/compressor.h"

namespace ef21 {
namespace {

class RandK final : public Compressor {
 public:
  RandK(int64_t dim, int64_t k) : Compressor(dim), k_(k) {}

  void Compress(ConstVectorRef v, const DrawKey& key, SparseVector* out) const override {
    out->Clear(dim());
    CounterRng rng(key.seed, Purpose::kRandK, key.client, key.round);
    // Floyd's algorithm: k distinct values from {0..d-1}, each k-subset equally likely.
    thread_local std::vector<uint8_t> chosen;
    chosen.assign(dim(), 0);
    auto& indices = out->indices;
    for (int64_t j = dim() - k_; j < dim(); ++j) {
      const int64_t t = static_cast<int64_t>(rng.NextBelow(static_cast<uint64_t>(j + 1)));
      const int64_t pick = chosen[t] ? j : t;
      chosen[pick] = 1;
      indices.push_back(static_cast<int32_t>(pick));
    }
    std::sort(indices.begin(), indices.end());
    out->values.resize(indices.size());
    for (size_t j = 0; j < indices.size(); ++j) out->values[j] = v[indices[j]];
  }
  double alpha() const override { return static_cast<double>(k_) / static_cast<double>(dim()); }
  int64_t max_entries() const override { return k_; }
  CompressorKind kind() const override { return CompressorKind::kRandK; }

 private:
  int64_t k_;
};

}  // namespace

std::unique_ptr<Compressor> MakeRandK(int64_t dim, int64_t k) {
  return std::make_unique<RandK>(dim, k);
}

}  // namespace ef21
