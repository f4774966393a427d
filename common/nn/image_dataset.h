// Image classification data for the network problems (SPEC §5 "Neural network"): images as raw
// bytes (channels × height × width, scaled to [0, 1] only when a batch is built) with integer
// labels, read from the MNIST IDX format (Fashion-MNIST, MNIST; gzipped or not) or the CIFAR-10
// binary format. Every reader error names the file and the byte offset where the data went wrong; a
// directory that is not a data set says which files it expected. Plain value types; the readers
// are pure functions of the files.
//
//   EF21_ASSIGN_OR_RETURN(ImageData data, LoadImageData(DatasetFormat::kIdx,
//   "/usr/share/datasets/fashion-mnist"));
#ifndef EF21_COMMON_NN_IMAGE_DATASET_H_
#define EF21_COMMON_NN_IMAGE_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ef21 {

struct ImageDataset {
  int64_t count = 0;
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t num_classes = 0;      // 1 + the largest label the format allows (10 for both formats)
  std::vector<uint8_t> pixels;  // count images, each channels × height × width, row-major
  std::vector<int32_t> labels;  // count labels in [0, num_classes)

  int64_t image_size() const { return channels * height * width; }
  const uint8_t* image(int64_t i) const { return pixels.data() + i * image_size(); }
};

// A training set and its test set (same image shape and classes).
struct ImageData {
  ImageDataset train;
  ImageDataset test;
};

enum class DatasetFormat {
  kIdx,  // train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-*: MNIST, Fashion-MNIST
  kCifar10,  // data_batch_1.bin .. data_batch_5.bin, test_batch.bin (in DIR or
             // DIR/cifar-10-batches-bin)
};
absl::StatusOr<DatasetFormat> ParseDatasetFormat(const std::string& name);
const char* DatasetFormatName(DatasetFormat format);

// An IDX pair: unsigned-byte images with 3 dimensions (magic 0x00000803) and unsigned-byte labels
// with 1 dimension (magic 0x00000801), as many labels as images, every label < 10. Files may be
// gzipped (detected from their content).
absl::StatusOr<ImageDataset> ReadIdx(const std::string& images_path,
                                     const std::string& labels_path);

// CIFAR-10 binary batches: records of 1 label byte (< 10) and 3 × 32 × 32 pixel bytes, concatenated
// over `paths` in order.
absl::StatusOr<ImageDataset> ReadCifar10(const std::vector<std::string>& paths);

// The training and test set of a data-set directory in `format`.
absl::StatusOr<ImageData> LoadImageData(DatasetFormat format, const std::string& dir);

}  // namespace ef21

#endif  // EF21_COMMON_NN_IMAGE_DATASET_H_
