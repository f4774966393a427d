// The compressor factory: one explicit switch, no self-registration.
#include "common/compress/compressor.h"

#include "absl/strings/str_cat.h"

namespace ef21 {

std::unique_ptr<Compressor> MakeTopK(int64_t dim, int64_t k);
std::unique_ptr<Compressor> MakeRandK(int64_t dim, int64_t k);
std::unique_ptr<Compressor> MakeIdentity(int64_t dim);

absl::Status CompressorOptions::Validate() const {
  if (dim <= 0)
    return absl::InvalidArgumentError(absl::StrCat("dimension ", dim, " is not positive"));
  if (dim > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError(absl::StrCat("dimension ", dim, " exceeds 2^31 - 1"));
  }
  if (kind != CompressorKind::kIdentity && (k < 1 || k > dim)) {
    return absl::InvalidArgumentError(
        absl::StrCat(CompressorKindName(kind), " needs 1 <= k <= d = ", dim, "; got k = ", k));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Compressor>> CreateCompressor(const CompressorOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  switch (options.kind) {
    case CompressorKind::kTopK:
      return MakeTopK(options.dim, options.k);
    case CompressorKind::kRandK:
      return MakeRandK(options.dim, options.k);
    case CompressorKind::kIdentity:
      return MakeIdentity(options.dim);
  }
  return absl::InternalError("unhandled compressor kind");
}

}  // namespace ef21
