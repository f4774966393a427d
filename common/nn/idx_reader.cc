// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian magic 0x0000TTNN (TT =
// 0x08 for unsigned bytes, NN = number of dimensions), NN big-endian 32-bit sizes, then the data.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/base/status_macros.h"
#include "common/nn/byte_reader.h"
#include "common/nn/image_dataset.h"

namespace ef21 {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr int64_t kIdxClasses = 10;

absl::Status CheckMagic(const ByteReader& reader, uint32_t got, uint32_t expected,
                        const char* what) {
  if (got == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "%swrong magic 0x%08x, expected 0x%08x (IDX %s)", reader.Where(0), got, expected, what));
}

absl::Status CheckEnd(ByteReader& reader, const char* what) {
  if (reader.AtEnd()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(reader.Where(), "unexpected data after the last ", what));
}

}  // namespace

absl::StatusOr<ImageDataset> ReadIdx(const std::string& images_path,
                                     const std::string& labels_path) {
  ImageDataset out;
  out.channels = 1;
  out.num_classes = kIdxClasses;
  {
    EF21_ASSIGN_OR_RETURN(auto reader, ByteReader::Open(images_path));
    EF21_ASSIGN_OR_RETURN(uint32_t magic, reader->ReadBigEndian32("magic number"));
    EF21_RETURN_IF_ERROR(
        CheckMagic(*reader, magic, kImagesMagic, "unsigned-byte images with 3 dimensions"));
    EF21_ASSIGN_OR_RETURN(uint32_t count, reader->ReadBigEndian32("image count"));
    EF21_ASSIGN_OR_RETURN(uint32_t rows, reader->ReadBigEndian32("row count"));
    EF21_ASSIGN_OR_RETURN(uint32_t cols, reader->ReadBigEndian32("column count"));
    if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || count > (1u << 28)) {
      return absl::InvalidArgumentError(absl::StrCat(reader->Where(4), "implausible sizes ", count,
                                                     " images of ", rows, "x", cols));
    }
    out.count = count;
    out.height = rows;
    out.width = cols;
    out.pixels.resize(static_cast<size_t>(out.count * out.image_size()));
    EF21_RETURN_IF_ERROR(
        reader->Read(out.pixels.data(), static_cast<int64_t>(out.pixels.size()),
                     absl::StrCat("pixels (", count, " images of ", rows, "x", cols, ")")));
    EF21_RETURN_IF_ERROR(CheckEnd(*reader, "image"));
  }
  EF21_ASSIGN_OR_RETURN(auto reader, ByteReader::Open(labels_path));
  EF21_ASSIGN_OR_RETURN(uint32_t magic, reader->ReadBigEndian32("magic number"));
  EF21_RETURN_IF_ERROR(
      CheckMagic(*reader, magic, kLabelsMagic, "unsigned-byte labels with 1 dimension"));
  EF21_ASSIGN_OR_RETURN(uint32_t count, reader->ReadBigEndian32("label count"));
  if (count != out.count) {
    return absl::InvalidArgumentError(absl::StrCat(reader->Where(4), count, " labels, but \"",
                                                   images_path, "\" holds ", out.count, " images"));
  }
  std::vector<uint8_t> bytes(count);
  EF21_RETURN_IF_ERROR(reader->Read(bytes.data(), count, absl::StrCat(count, " labels")));
  out.labels.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (bytes[i] >= kIdxClasses) {
      return absl::InvalidArgumentError(absl::StrCat(reader->Where(8 + i), "label ", bytes[i],
                                                     ", expected 0..", kIdxClasses - 1));
    }
    out.labels[i] = bytes[i];
  }
  EF21_RETURN_IF_ERROR(CheckEnd(*reader, "label"));
  return out;
}

}  // namespace ef21
