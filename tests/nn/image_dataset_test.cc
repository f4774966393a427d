#include "common/nn/image_dataset.h"

#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/nn/test_data.h"

namespace ef21 {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Writes the four IDX files of a small set (gzipped when `gz`) and returns the directory.
std::string WriteIdxSet(const std::string& name, bool gz, const ImageDataset& train,
                        const ImageDataset& test) {
  const std::string dir = FreshDir(name);
  auto put = [&](const std::string& file, const std::string& bytes) {
    gz ? WriteGz(dir + "/" + file + ".gz", bytes) : WriteFile(dir + "/" + file, bytes);
  };
  put("train-images-idx3-ubyte", IdxImages(train));
  put("train-labels-idx1-ubyte", IdxLabels(train));
  put("t10k-images-idx3-ubyte", IdxImages(test));
  put("t10k-labels-idx1-ubyte", IdxLabels(test));
  return dir;
}

void ExpectSame(const ImageDataset& a, const ImageDataset& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.height, b.height);
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
}

TEST(IdxTest, ReadsPlainAndGzippedSets) {
  const ImageDataset train = RandomImages(37, 1, 5, 10, 3);
  const ImageDataset test = RandomImages(11, 1, 5, 10, 4);
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "plain");
    const std::string dir = WriteIdxSet(gz ? "idx_gz" : "idx_plain", gz, train, test);
    absl::StatusOr<ImageData> data = LoadImageData(DatasetFormat::kIdx, dir);
    ASSERT_TRUE(data.ok()) << data.status();
    ExpectSame(data->train, train);
    ExpectSame(data->test, test);
    EXPECT_EQ(data->train.num_classes, 10);
  }
}

TEST(IdxTest, ReadsDebianFashionMnist) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (::access((dir + "/t10k-images-idx3-ubyte.gz").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed (scripts/bootstrap.sh installs it)";
  }
  absl::StatusOr<ImageData> data = LoadImageData(DatasetFormat::kIdx, dir);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->train.count, 60000);
  EXPECT_EQ(data->test.count, 10000);
  EXPECT_EQ(data->train.height, 28);
  EXPECT_EQ(data->train.width, 28);
  // Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
  std::vector<int> per_class(10, 0);
  for (int32_t l : data->test.labels) ++per_class[l];
  EXPECT_EQ(per_class, std::vector<int>(10, 1000));
}

TEST(IdxTest, WrongMagicNamesFileOffsetAndExpectation) {
  const ImageDataset d = RandomImages(4, 1, 3, 10, 5);
  const std::string dir = FreshDir("idx_magic");
  // A label file where the images should be.
  WriteFile(dir + "/images", IdxLabels(d));
  WriteFile(dir + "/labels", IdxLabels(d));
  absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/images", dir + "/labels");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr(dir + "/images: byte 0"), HasSubstr("wrong magic 0x00000801"),
                    HasSubstr("expected 0x00000803")));
}

TEST(IdxTest, TruncatedImagesNameTheOffset) {
  const ImageDataset d = RandomImages(4, 1, 3, 10, 6);
  const std::string dir = FreshDir("idx_trunc");
  std::string images = IdxImages(d);
  images.resize(images.size() - 5);  // 16 header bytes + 36 pixels − 5
  WriteGz(dir + "/images.gz", images);
  WriteFile(dir + "/labels", IdxLabels(d));
  absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/images.gz", dir + "/labels");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr(dir + "/images.gz: byte 16 (of the decompressed stream)"),
                    HasSubstr("truncated: expected 36 bytes of pixels (4 images of 3x3)"),
                    HasSubstr("ends after 31")));
}

TEST(IdxTest, TruncatedHeaderLabelsAndBadLabels) {
  const ImageDataset d = RandomImages(4, 1, 3, 10, 7);
  const std::string dir = FreshDir("idx_labels");
  WriteFile(dir + "/images", IdxImages(d));
  {
    WriteFile(dir + "/short", IdxImages(d).substr(0, 6));
    absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/short", dir + "/labels");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(),
                AllOf(HasSubstr("short: byte 4"), HasSubstr("bytes of image count")));
  }
  {
    std::string labels = IdxLabels(d);
    labels.pop_back();
    WriteFile(dir + "/labels", labels);
    absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/images", dir + "/labels");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), AllOf(HasSubstr("labels: byte 8"), HasSubstr("truncated")));
  }
  {
    std::string labels = IdxLabels(d);
    labels[8 + 2] = 10;
    WriteFile(dir + "/labels", labels);
    absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/images", dir + "/labels");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), AllOf(HasSubstr("labels: byte 10"), HasSubstr("label 10")));
  }
  {
    ImageDataset fewer = d;
    fewer.count = 3;
    fewer.labels.pop_back();
    WriteFile(dir + "/labels", IdxLabels(fewer));
    absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/images", dir + "/labels");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(), HasSubstr("3 labels, but"));
  }
  {
    WriteFile(dir + "/labels", IdxLabels(d));
    WriteFile(dir + "/long", IdxImages(d) + "x");
    absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/long", dir + "/labels");
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.status().message(),
                AllOf(HasSubstr("long: byte 52"), HasSubstr("after the last image")));
  }
}

TEST(IdxTest, CorruptGzipIsAnError) {
  const ImageDataset d = RandomImages(50, 1, 8, 10, 8);
  const std::string dir = FreshDir("idx_corrupt");
  WriteGz(dir + "/images.gz", IdxImages(d));
  WriteFile(dir + "/labels", IdxLabels(d));
  std::string bytes;
  {
    std::ifstream in(dir + "/images.gz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (size_t j = 20; j < bytes.size() - 8; j += 7) bytes[j] = static_cast<char>(bytes[j] ^ 0x5a);
  WriteFile(dir + "/images.gz", bytes);
  absl::StatusOr<ImageDataset> r = ReadIdx(dir + "/images.gz", dir + "/labels");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(dir + "/images.gz: byte "));
}

TEST(IdxTest, DirectoryThatIsNotADataSetListsExpectedFiles) {
  const std::string dir = FreshDir("idx_empty");
  WriteFile(dir + "/train-images-idx3-ubyte.gz", "");
  absl::StatusOr<ImageData> r = LoadImageData(DatasetFormat::kIdx, dir);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr("is not an IDX data set"), HasSubstr("train-images-idx3-ubyte[.gz]"),
                    HasSubstr("missing train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], "
                              "t10k-labels-idx1-ubyte[.gz]")));
  absl::StatusOr<ImageData> none = LoadImageData(DatasetFormat::kIdx, dir + "/nope");
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("does not exist"));
}

std::string CifarBytes(const ImageDataset& d) {
  std::string out;
  for (int64_t i = 0; i < d.count; ++i) {
    out.push_back(static_cast<char>(d.labels[i]));
    out.append(reinterpret_cast<const char*>(d.image(i)), d.image_size());
  }
  return out;
}

TEST(Cifar10Test, ReadsBatchesInOrder) {
  const std::string dir = FreshDir("cifar");
  std::vector<ImageDataset> batches;
  ImageDataset all = RandomImages(0, 3, 32, 10, 0);
  for (int b = 1; b <= 5; ++b) {
    batches.push_back(RandomImages(3 + b, 3, 32, 10, 10 + b));
    WriteFile(dir + "/data_batch_" + std::to_string(b) + ".bin", CifarBytes(batches.back()));
    all.pixels.insert(all.pixels.end(), batches.back().pixels.begin(), batches.back().pixels.end());
    all.labels.insert(all.labels.end(), batches.back().labels.begin(), batches.back().labels.end());
    all.count += batches.back().count;
  }
  const ImageDataset test = RandomImages(4, 3, 32, 10, 20);
  WriteFile(dir + "/test_batch.bin", CifarBytes(test));
  absl::StatusOr<ImageData> data = LoadImageData(DatasetFormat::kCifar10, dir);
  ASSERT_TRUE(data.ok()) << data.status();
  ExpectSame(data->train, all);
  ExpectSame(data->test, test);
}

TEST(Cifar10Test, TruncatedRecordBadLabelAndMissingFiles) {
  const std::string dir = FreshDir("cifar_bad");
  const ImageDataset d = RandomImages(3, 3, 32, 10, 30);
  std::string bytes = CifarBytes(d);
  WriteFile(dir + "/short.bin", bytes.substr(0, 3073 + 100));
  absl::StatusOr<ImageDataset> r = ReadCifar10({dir + "/short.bin"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr("short.bin: byte 3074"), HasSubstr("pixels of record 1"),
                    HasSubstr("ends after 99")));
  bytes[3073] = 17;
  WriteFile(dir + "/label.bin", bytes);
  r = ReadCifar10({dir + "/label.bin"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr("label.bin: byte 3073"), HasSubstr("label 17 of record 1")));

  WriteFile(dir + "/data_batch_1.bin", CifarBytes(d));
  absl::StatusOr<ImageData> set = LoadImageData(DatasetFormat::kCifar10, dir);
  ASSERT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(),
              AllOf(HasSubstr("is not a CIFAR-10 binary data set"),
                    HasSubstr("missing data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, "
                              "data_batch_5.bin, test_batch.bin")));
}

}  // namespace
}  // namespace ef21
