// Contractive compressors (SPEC §2): C with E‖C(v) − v‖² ≤ (1 − α)‖v‖². A compressor is
// stateless and const, hence thread-safe; randomness comes from the (client, round) it is given.
//
//   auto top_k = CreateCompressor({.kind = CompressorKind::kTopK, .k = 10, .dim = d});
//   SparseVector c;
//   (*top_k)->Compress(v, {.seed = 0, .client = i, .round = t}, &c);
#ifndef EF21_COMMON_COMPRESS_COMPRESSOR_H_
#define EF21_COMMON_COMPRESS_COMPRESSOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/enum_names.h"
#include "common/base/vector.h"

namespace ef21 {

enum class CompressorKind { kTopK, kRandK, kIdentity, kMaxValue = kIdentity };

// The --compressor names.
inline constexpr auto kCompressorKindNames =
    MakeEnumNames<CompressorKind>("compressor", {
                                                    {CompressorKind::kTopK, "top-k"},
                                                    {CompressorKind::kRandK, "rand-k"},
                                                    {CompressorKind::kIdentity, "identity"},
                                                });
constexpr const auto& NamesOf(CompressorKind) { return kCompressorKindNames; }
inline absl::StatusOr<CompressorKind> ParseCompressorKind(absl::string_view name) {
  return kCompressorKindNames.Parse(name);
}
inline const char* CompressorKindName(CompressorKind kind) {
  return kCompressorKindNames.Name(kind);
}

// Which random stream a compression draws from (rand-k); ignored by deterministic compressors.
struct DrawKey {
  uint64_t seed = 0;
  uint64_t client = 0;
  uint64_t round = 0;
};

class Compressor {
 public:
  virtual ~Compressor() = default;

  // Writes C(v) to `out` (indices strictly increasing, values exactly those of v). v.size() must
  // equal dim().
  virtual void Compress(ConstVectorRef v, const DrawKey& key, SparseVector* out) const = 0;

  // The contraction parameter α of SPEC §2.
  virtual double alpha() const = 0;
  // The most entries one message may carry (k, or d for the identity).
  virtual int64_t max_entries() const = 0;
  virtual CompressorKind kind() const = 0;
  int64_t dim() const { return dim_; }

 protected:
  explicit Compressor(int64_t dim) : dim_(dim) {}

 private:
  int64_t dim_;
};

struct CompressorOptions {
  CompressorKind kind = CompressorKind::kTopK;
  int64_t k = 1;    // entries kept by top-k and rand-k; 1 ≤ k ≤ dim
  int64_t dim = 0;  // the dimension d of the vectors compressed

  absl::Status Validate() const;
};

absl::StatusOr<std::unique_ptr<Compressor>> CreateCompressor(const CompressorOptions& options);

// Top-k selection on its own, for benchmarks and tests: writes to `indices` (ascending) the k
// coordinates of largest |v_j|, ties to the lower index, in expected O(d).
void SelectTopK(ConstVectorRef v, int64_t k, std::vector<int32_t>* indices);

}  // namespace ef21

#endif  // EF21_COMMON_COMPRESS_COMPRESSOR_H_
