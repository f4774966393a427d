#include "common/nn/network_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ef21 {

absl::Status NetworkOptions::Validate() const {
  if (data == nullptr) return absl::InvalidArgumentError("network problem: no data set");
  if (clients < 1)
    return absl::InvalidArgumentError(absl::StrCat("clients must be >= 1, got ", clients));
  if (train_samples < 0 || diagnostics_samples < 0) {
    return absl::InvalidArgumentError("train_samples and diagnostics_samples must be >= 0");
  }
  const int64_t train =
      train_samples > 0 ? std::min(train_samples, data->train.count) : data->train.count;
  if (train < clients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the training set has ", train, " images, fewer than the ", clients, " clients"));
  }
  if (data->test.count < 1) return absl::InvalidArgumentError("the test set is empty");
  if (data->train.image_size() != data->test.image_size() ||
      data->train.num_classes != data->test.num_classes) {
    return absl::InvalidArgumentError("training and test images differ in shape or classes");
  }
  return absl::OkStatus();
}

}  // namespace ef21
