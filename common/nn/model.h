// The classifiers a network problem trains: ResNet-20 (He et al. 2016, the CIFAR variant with
// option-A shortcuts the paper's Section 6.2 uses), a small CNN, an MLP, or a TorchScript module
// saved from PyTorch. A Model is one replica: its trainable parameters, in a fixed order, are the
// flat vector x of the problem; its buffers (batch-norm running statistics) belong to the replica.
// Internal to ef21_nn (it includes torch): the rest of ef21 sees only NetworkProblem.
// Thread-compatible: one thread uses a replica at a time.
#ifndef EF21_COMMON_NN_MODEL_H_
#define EF21_COMMON_NN_MODEL_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/vector.h"

namespace ef21 {

struct ModelOptions {
  std::string model = "cnn";  // resnet20 | cnn | mlp | a path ending in .pt (TorchScript)
  // The data's image shape and class count.
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t classes = 10;
  int64_t mlp_hidden = 64;
  bool double_precision = false;  // parameters and activations in double (gradient tests)

  absl::Status Validate() const;
  bool IsTorchScript() const;
};

// A forward and backward pass allocates and frees its activations, tens of blocks of megabytes
// (ResNet-20, batch 128: 8 MB each, ~250 MB a pass), and glibc's defaults give such blocks back to
// the kernel when they are freed (mmap'd blocks above its threshold, trimmed arena tops, deleted
// thread heaps), so every pass faults its memory in again and the kernel zeroes it: a quarter of a
// pass's CPU time on the development machine, more with passes on several threads. This sets the
// process's malloc to serve blocks up to glibc's largest threshold (32 MB) from one arena shared by
// all threads (a pass allocates a few hundred blocks: no contention to speak of) and to keep freed
// memory for the next pass; the process keeps its peak memory until it exits. Idempotent;
// NetworkProblem::Create calls it.
void KeepFreedMemoryForTheNextPass();

class Model {
 public:
  virtual ~Model() = default;

  // Builds one replica. Built-in models get PyTorch's default layout with placeholder values (the
  // initial point is InitialParameters); a TorchScript module keeps the values it was saved with.
  static absl::StatusOr<std::unique_ptr<Model>> Create(const ModelOptions& options);

  // Logits [batch, classes] of an input [batch, C, H, W] shaped as input_shape().
  virtual torch::Tensor Forward(const torch::Tensor& input) = 0;
  // Training mode (batch statistics in batch norm, running statistics updated) or evaluation.
  virtual void SetTraining(bool training) = 0;

  const std::vector<torch::Tensor>& parameters() const { return parameters_; }
  const std::vector<torch::Tensor>& buffers() const { return buffers_; }
  int64_t dim() const { return dim_; }
  // The [C, H, W] the model takes; the data are fitted to it (see FitImages in network_problem.cc).
  const std::vector<int64_t>& input_shape() const { return input_shape_; }
  torch::ScalarType dtype() const { return dtype_; }

  // The initial point x^0: built-in models use Kaiming-normal weights (He et al. 2015, fan-in,
  // gain √2) for convolutions and linear layers, PyTorch's default U(−1/√fan_in, 1/√fan_in) for
  // their biases, 1 and 0 for batch-norm scales and shifts — drawn from CounterRng(seed, kX0, 0,
  // 0), never torch's generator. A TorchScript module starts from its saved values.
  Vector InitialParameters(uint64_t seed) const;

  // x → parameters (rounded to the model's precision) and parameter gradients → grad.
  void SetParameters(ConstVectorRef x);
  void GetGradient(Vector* grad) const;
  void ZeroGradient();

 protected:
  // Fills parameters_, buffers_ and dim_ from the module's parameters in registration order.
  void Collect(std::vector<torch::Tensor> parameters, std::vector<torch::Tensor> buffers);

  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> buffers_;
  // Per parameter, for the initialization rule: the constant of a batch-norm scale (1) or shift
  // (0), NaN for any other parameter.
  std::vector<double> batch_norm_value_;
  std::vector<int64_t> input_shape_;
  torch::ScalarType dtype_ = torch::kFloat;
  bool torchscript_ = false;
  int64_t dim_ = 0;
};

}  // namespace ef21

#endif  // EF21_COMMON_NN_MODEL_H_
