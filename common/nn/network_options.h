// What a network problem is made of: the model, the image data and how it is split among the
// clients. Plain data (no LibTorch): the run configuration and the problem factory build it, and
// NetworkProblem::Create (network_problem.h, the LibTorch side) consumes it.
#ifndef EF21_COMMON_NN_NETWORK_OPTIONS_H_
#define EF21_COMMON_NN_NETWORK_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/nn/image_dataset.h"
#include "common/nn/shards.h"

namespace ef21 {

struct NetworkOptions {
  std::string model = "cnn";  // resnet20 | cnn | mlp | PATH.pt
  std::shared_ptr<const ImageData> data;
  std::string data_name;  // for Describe()
  int64_t clients = 5;
  ShardKind shards = ShardKind::kRandom;
  int64_t train_samples = 0;  // use only the first N training images (0: all)
  // Diagnostics (full loss, ‖∇f‖², accuracies) over a fixed seeded subsample: N training rows in
  // all (⌊N/n⌋ per client, from its shard) and N test rows. 0: every row.
  int64_t diagnostics_samples = 0;
  int64_t mlp_hidden = 64;
  bool double_precision = false;  // parameters in double (gradient tests)
  uint64_t seed = 0;

  absl::Status Validate() const;
};

}  // namespace ef21

#endif  // EF21_COMMON_NN_NETWORK_OPTIONS_H_
