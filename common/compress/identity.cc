// The identity compressor C(v) = v, α = 1: its messages are dense.
#include "common/compress/compressor.h"

namespace ef21 {
namespace {

class Identity final : public Compressor {
 public:
  explicit Identity(int64_t dim) : Compressor(dim) {}

  void Compress(ConstVectorRef v, const DrawKey&, SparseVector* out) const override {
    out->Clear(dim());
    out->dense = true;
    out->values.assign(v.data(), v.data() + v.size());
  }
  double alpha() const override { return 1.0; }
  int64_t max_entries() const override { return dim(); }
  CompressorKind kind() const override { return CompressorKind::kIdentity; }
};

}  // namespace

std::unique_ptr<Compressor> MakeIdentity(int64_t dim) { return std::make_unique<Identity>(dim); }

}  // namespace ef21
