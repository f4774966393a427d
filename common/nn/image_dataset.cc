#include "common/nn/image_dataset.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base/status_macros.h"

namespace ef21 {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// DIR/name, or DIR/name.gz when only that exists; "" when neither.
std::string FindIdx(const std::string& dir, const std::string& name) {
  const std::string plain = absl::StrCat(dir, "/", name);
  if (IsFile(plain)) return plain;
  if (IsFile(plain + ".gz")) return plain + ".gz";
  return "";
}

absl::StatusOr<ImageData> LoadIdx(const std::string& dir) {
  const std::vector<std::string> names = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::vector<std::string> paths;
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    paths.push_back(FindIdx(dir, name));
    if (paths.back().empty()) missing.push_back(name + "[.gz]");
  }
  if (!missing.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "\"", dir, "\" is not an IDX data set (MNIST format): expected the files ",
        absl::StrJoin(names, "[.gz], "), "[.gz]; missing ", absl::StrJoin(missing, ", ")));
  }
  ImageData data;
  EF21_ASSIGN_OR_RETURN(data.train, ReadIdx(paths[0], paths[1]));
  EF21_ASSIGN_OR_RETURN(data.test, ReadIdx(paths[2], paths[3]));
  if (data.train.height != data.test.height || data.train.width != data.test.width) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", dir, "\": training images are ", data.train.height, "x", data.train.width,
        " but test images are ", data.test.height, "x", data.test.width));
  }
  return data;
}

absl::StatusOr<ImageData> LoadCifar10(const std::string& given) {
  std::string dir = given;
  if (!IsFile(dir + "/test_batch.bin") && IsDirectory(dir + "/cifar-10-batches-bin")) {
    dir += "/cifar-10-batches-bin";
  }
  std::vector<std::string> names;
  for (int b = 1; b <= 5; ++b) names.push_back(absl::StrCat("data_batch_", b, ".bin"));
  names.push_back("test_batch.bin");
  std::vector<std::string> missing;
  for (const std::string& name : names) {
    if (!IsFile(dir + "/" + name)) missing.push_back(name);
  }
  if (!missing.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "\"", given, "\" is not a CIFAR-10 binary data set: expected the files ",
        absl::StrJoin(names, ", "), " (in it or in its cifar-10-batches-bin/); missing ",
        absl::StrJoin(missing, ", ")));
  }
  std::vector<std::string> train;
  for (int b = 0; b < 5; ++b) train.push_back(dir + "/" + names[b]);
  ImageData data;
  EF21_ASSIGN_OR_RETURN(data.train, ReadCifar10(train));
  EF21_ASSIGN_OR_RETURN(data.test, ReadCifar10({dir + "/test_batch.bin"}));
  return data;
}

}  // namespace

absl::StatusOr<DatasetFormat> ParseDatasetFormat(const std::string& name) {
  if (name == "idx") return DatasetFormat::kIdx;
  if (name == "cifar10") return DatasetFormat::kCifar10;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown data set format \"", name, "\", expected idx or cifar10"));
}

const char* DatasetFormatName(DatasetFormat format) {
  return format == DatasetFormat::kIdx ? "idx" : "cifar10";
}

absl::StatusOr<ImageData> LoadImageData(DatasetFormat format, const std::string& dir) {
  if (!IsDirectory(dir)) {
    return absl::NotFoundError(absl::StrCat("data set directory \"", dir, "\" does not exist"));
  }
  return format == DatasetFormat::kIdx ? LoadIdx(dir) : LoadCifar10(dir);
}

}  // namespace ef21
