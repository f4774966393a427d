// The CIFAR-10 binary format (Krizhevsky 2009): each file a sequence of 3,073-byte records, one
// label byte then 1,024 red, 1,024 green and 1,024 blue pixel bytes of a 32 × 32 image.
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/nn/byte_reader.h"
#include "common/nn/image_dataset.h"

namespace ef21 {
namespace {

constexpr int64_t kSide = 32;
constexpr int64_t kChannels = 3;
constexpr int64_t kPixels = kChannels * kSide * kSide;
constexpr int64_t kClasses = 10;

}  // namespace

absl::StatusOr<ImageDataset> ReadCifar10(const std::vector<std::string>& paths) {
  ImageDataset out;
  out.channels = kChannels;
  out.height = kSide;
  out.width = kSide;
  out.num_classes = kClasses;
  for (const std::string& path : paths) {
    EF21_ASSIGN_OR_RETURN(auto reader, ByteReader::Open(path));
    int64_t records = 0;
    while (!reader->AtEnd()) {
      uint8_t label = 0;
      EF21_RETURN_IF_ERROR(reader->Read(&label, 1, "label"));
      if (label >= kClasses) {
        return absl::InvalidArgumentError(
            absl::StrCat(reader->Where(reader->offset() - 1), "label ", label, " of record ",
                         records, ", expected 0..", kClasses - 1, " (is this a CIFAR-10 batch?)"));
      }
      const size_t at = out.pixels.size();
      out.pixels.resize(at + kPixels);
      EF21_RETURN_IF_ERROR(reader->Read(out.pixels.data() + at, kPixels,
                                        absl::StrCat("pixels of record ", records)));
      out.labels.push_back(label);
      ++records;
    }
    if (records == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(reader->Where(0), "empty, expected records of ", 1 + kPixels, " bytes"));
    }
  }
  out.count = static_cast<int64_t>(out.labels.size());
  return out;
}

}  // namespace ef21
