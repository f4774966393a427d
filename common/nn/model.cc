#include "common/nn/model.h"

#include <malloc.h>
#include <torch/script.h>

#include <climits>
#include <cmath>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base/rng.h"

namespace ef21 {
namespace {

namespace nn = torch::nn;
using torch::indexing::None;
using torch::indexing::Slice;

nn::Conv2d Conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

// He et al.'s basic block with the option-A shortcut: identity, or — when the block halves the
// resolution and doubles the channels — every second pixel with zero channels padded on both sides
// (no parameters, so d = 269,722 for ResNet-20).
struct BasicBlockImpl : nn::Module {
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride)
      : conv1(register_module("conv1", Conv3x3(in, planes, stride))),
        bn1(register_module("bn1", nn::BatchNorm2d(planes))),
        conv2(register_module("conv2", Conv3x3(planes, planes, 1))),
        bn2(register_module("bn2", nn::BatchNorm2d(planes))),
        downsample(stride != 1 || in != planes),
        pad((planes - in) / 2) {}

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    torch::Tensor shortcut = x;
    if (downsample) {
      shortcut = torch::constant_pad_nd(
          x.index({Slice(), Slice(), Slice(None, None, 2), Slice(None, None, 2)}),
          {0, 0, 0, 0, pad, pad});
    }
    return torch::relu(out + shortcut);
  }

  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  nn::Conv2d conv2;
  nn::BatchNorm2d bn2;
  bool downsample;
  int64_t pad;
};
TORCH_MODULE(BasicBlock);

// ResNet-20 for 3 × 32 × 32 inputs: a 16-channel stem, three stages of three basic blocks (16, 32,
// 64 channels; stages 2 and 3 start with stride 2), global average pooling, one linear layer.
struct ResNet20Impl : nn::Module {
  explicit ResNet20Impl(int64_t channels, int64_t classes)
      : conv1(register_module("conv1", Conv3x3(channels, 16, 1))),
        bn1(register_module("bn1", nn::BatchNorm2d(16))),
        fc(nullptr) {
    int64_t in = 16;
    const int64_t widths[3] = {16, 32, 64};
    for (int stage = 0; stage < 3; ++stage) {
      for (int b = 0; b < 3; ++b) {
        const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
        blocks.push_back(register_module(absl::StrCat("layer", stage + 1, "_", b),
                                         BasicBlock(in, widths[stage], stride)));
        in = widths[stage];
      }
    }
    fc = register_module("fc", nn::Linear(64, classes));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = torch::relu(bn1(conv1(x)));
    for (BasicBlock& block : blocks) out = block->forward(out);
    return fc(out.mean({2, 3}));
  }

  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  std::vector<BasicBlock> blocks;
  nn::Linear fc;
};
TORCH_MODULE(ResNet20);

// A small CNN for quick runs: two 5 × 5 convolutions (16 and 32 channels, ReLU, 2 × 2 max pooling)
// and one linear layer.
struct SmallCnnImpl : nn::Module {
  SmallCnnImpl(int64_t channels, int64_t height, int64_t width, int64_t classes)
      : conv1(register_module("conv1", nn::Conv2d(nn::Conv2dOptions(channels, 16, 5).padding(2)))),
        conv2(register_module("conv2", nn::Conv2d(nn::Conv2dOptions(16, 32, 5).padding(2)))),
        fc(register_module("fc", nn::Linear(32 * (height / 4) * (width / 4), classes))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = torch::max_pool2d(torch::relu(conv1(x)), 2);
    out = torch::max_pool2d(torch::relu(conv2(out)), 2);
    return fc(out.flatten(1));
  }

  nn::Conv2d conv1;
  nn::Conv2d conv2;
  nn::Linear fc;
};
TORCH_MODULE(SmallCnn);

// A one-hidden-layer perceptron on the flattened image.
struct MlpImpl : nn::Module {
  MlpImpl(int64_t inputs, int64_t hidden, int64_t classes)
      : fc1(register_module("fc1", nn::Linear(inputs, hidden))),
        fc2(register_module("fc2", nn::Linear(hidden, classes))) {}

  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x.flatten(1)))); }

  nn::Linear fc1;
  nn::Linear fc2;
};
TORCH_MODULE(Mlp);

template <typename Holder>
class BuiltinModel final : public Model {
 public:
  BuiltinModel(Holder module, std::vector<int64_t> input_shape, torch::ScalarType dtype)
      : module_(std::move(module)) {
    module_->to(dtype);
    input_shape_ = std::move(input_shape);
    dtype_ = dtype;
    // Batch-norm parameters are found by their module type, for the initialization rule.
    std::vector<std::pair<const void*, double>> batch_norm;
    for (const auto& item : module_->named_modules()) {
      if (item.value()->template as<nn::BatchNorm2dImpl>() == nullptr) continue;
      for (const auto& p : item.value()->named_parameters(/*recurse=*/false)) {
        batch_norm.emplace_back(p.value().unsafeGetTensorImpl(), p.key() == "weight" ? 1.0 : 0.0);
      }
    }
    Collect(module_->parameters(), module_->buffers());
    for (const torch::Tensor& p : parameters_) {
      double value = std::nan("");
      for (const auto& [impl, v] : batch_norm) {
        if (impl == p.unsafeGetTensorImpl()) value = v;
      }
      batch_norm_value_.push_back(value);
    }
  }

  torch::Tensor Forward(const torch::Tensor& input) override { return module_->forward(input); }
  void SetTraining(bool training) override { module_->train(training); }

 private:
  Holder module_;
};

class ScriptModel final : public Model {
 public:
  ScriptModel(torch::jit::Module module, std::vector<int64_t> input_shape, torch::ScalarType dtype)
      : module_(std::move(module)) {
    module_.to(dtype);
    input_shape_ = std::move(input_shape);
    dtype_ = dtype;
    torchscript_ = true;
    std::vector<torch::Tensor> parameters;
    for (const torch::Tensor& p : module_.parameters()) parameters.push_back(p);
    std::vector<torch::Tensor> buffers;
    for (const torch::Tensor& b : module_.buffers()) buffers.push_back(b);
    Collect(std::move(parameters), std::move(buffers));
    batch_norm_value_.assign(parameters_.size(), std::nan(""));
  }

  torch::Tensor Forward(const torch::Tensor& input) override {
    return module_.forward({input}).toTensor();
  }
  void SetTraining(bool training) override { module_.train(training); }

 private:
  torch::jit::Module module_;
};

std::string TorchMessage(const c10::Error& e) {
  std::string message = e.what_without_backtrace();
  // The first line says what went wrong; the rest is a TorchScript call stack.
  const size_t newline = message.find('\n');
  return newline == std::string::npos ? message : message.substr(0, newline);
}

}  // namespace

void KeepFreedMemoryForTheNextPass() {
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_TOP_PAD, 64 << 20);
#endif
  });
}

bool ModelOptions::IsTorchScript() const { return absl::EndsWith(model, ".pt"); }

absl::Status ModelOptions::Validate() const {
  if (model != "resnet20" && model != "cnn" && model != "mlp" && !IsTorchScript()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown model \"", model,
                     "\", expected resnet20, cnn, mlp or a TorchScript file PATH.pt"));
  }
  if (channels < 1 || height < 1 || width < 1 || classes < 2) {
    return absl::InvalidArgumentError(absl::StrCat("bad image shape ", channels, "x", height, "x",
                                                   width, " or class count ", classes));
  }
  if (model == "cnn" && (height < 4 || width < 4)) {
    return absl::InvalidArgumentError("the cnn model needs images of at least 4x4 pixels");
  }
  if (model == "resnet20" &&
      (height > 32 || width > 32 || channels > 3 || (channels != 1 && channels != 3))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resnet20 takes 3x32x32 images (1 channel is replicated, smaller images are zero-padded); "
        "got ",
        channels, "x", height, "x", width));
  }
  if (mlp_hidden < 1) return absl::InvalidArgumentError("mlp_hidden must be >= 1");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Model>> Model::Create(const ModelOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const torch::ScalarType dtype = options.double_precision ? torch::kDouble : torch::kFloat;
  const std::vector<int64_t> native = {options.channels, options.height, options.width};
  std::unique_ptr<Model> model;
  try {
    if (options.model == "resnet20") {
      model = std::make_unique<BuiltinModel<ResNet20>>(ResNet20(3, options.classes),
                                                       std::vector<int64_t>{3, 32, 32}, dtype);
    } else if (options.model == "cnn") {
      model = std::make_unique<BuiltinModel<SmallCnn>>(
          SmallCnn(options.channels, options.height, options.width, options.classes), native,
          dtype);
    } else if (options.model == "mlp") {
      model =
          std::make_unique<BuiltinModel<Mlp>>(Mlp(options.channels * options.height * options.width,
                                                  options.mlp_hidden, options.classes),
                                              native, dtype);
    } else {
      torch::jit::Module module;
      try {
        module = torch::jit::load(options.model);
      } catch (const c10::Error& e) {
        return absl::InvalidArgumentError(absl::StrCat("cannot load TorchScript module \"",
                                                       options.model, "\": ", TorchMessage(e)));
      }
      model = std::make_unique<ScriptModel>(std::move(module), native, dtype);
    }
    if (model->dim() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("model \"", options.model, "\" has no trainable parameters"));
    }
    // A two-image probe checks that the model takes the input shape and returns [batch, classes].
    torch::NoGradGuard no_grad;
    std::vector<int64_t> shape = {2};
    shape.insert(shape.end(), model->input_shape().begin(), model->input_shape().end());
    const std::vector<torch::Tensor> saved = [&] {
      std::vector<torch::Tensor> copies;
      for (const torch::Tensor& b : model->buffers()) copies.push_back(b.clone());
      return copies;
    }();
    model->SetTraining(true);
    torch::Tensor logits = model->Forward(torch::zeros(shape, torch::TensorOptions().dtype(dtype)));
    for (size_t j = 0; j < saved.size(); ++j) model->buffers()[j].copy_(saved[j]);
    if (logits.dim() != 2 || logits.size(0) != 2 || logits.size(1) != options.classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("model \"", options.model, "\" maps a batch [2, ", options.channels, ", ",
                       options.height, ", ", options.width, "] to logits of shape ",
                       c10::str(logits.sizes()), ", expected [2, ", options.classes, "]"));
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("model \"", options.model, "\" failed on a [2, ",
                                                   options.channels, ", ", options.height, ", ",
                                                   options.width, "] batch: ", TorchMessage(e)));
  }
  return model;
}

void Model::Collect(std::vector<torch::Tensor> parameters, std::vector<torch::Tensor> buffers) {
  parameters_.clear();
  for (torch::Tensor& p : parameters) {
    if (p.requires_grad()) parameters_.push_back(std::move(p));
  }
  buffers_ = std::move(buffers);
  dim_ = 0;
  for (const torch::Tensor& p : parameters_) dim_ += p.numel();
}

Vector Model::InitialParameters(uint64_t seed) const {
  Vector x(dim_);
  int64_t offset = 0;
  if (torchscript_) {
    for (const torch::Tensor& p : parameters_) {
      torch::Tensor flat = p.detach().to(torch::kDouble).contiguous().flatten();
      std::copy(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel(), x.data() + offset);
      offset += flat.numel();
    }
    return x;
  }
  CounterRng rng(seed, Purpose::kX0, 0, 0);
  const bool single = dtype_ == torch::kFloat;
  auto round = [single](double v) {
    return single ? static_cast<double>(static_cast<float>(v)) : v;
  };
  int64_t fan_in = 1;  // of the last weight, for the bias that follows it
  for (size_t j = 0; j < parameters_.size(); ++j) {
    const torch::Tensor& p = parameters_[j];
    const int64_t n = p.numel();
    if (!std::isnan(batch_norm_value_[j])) {
      for (int64_t e = 0; e < n; ++e) x[offset + e] = batch_norm_value_[j];
    } else if (p.dim() >= 2) {
      // Kaiming normal: N(0, 2 / fan_in), fan_in = inputs × kernel area.
      fan_in = n / p.size(0);
      const double std = std::sqrt(2.0 / static_cast<double>(fan_in));
      for (int64_t e = 0; e < n; ++e) x[offset + e] = round(std * rng.NextGaussian());
    } else {
      // Bias: U(−1/√fan_in, 1/√fan_in).
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      for (int64_t e = 0; e < n; ++e)
        x[offset + e] = round(bound * (2.0 * rng.NextUniform() - 1.0));
    }
    offset += n;
  }
  return x;
}

void Model::SetParameters(ConstVectorRef x) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (torch::Tensor& p : parameters_) {
    const int64_t n = p.numel();
    // const_cast: from_blob wants a mutable pointer; copy_ only reads it.
    torch::Tensor source =
        torch::from_blob(const_cast<double*>(x.data() + offset), p.sizes(), torch::kDouble);
    p.copy_(source);
    offset += n;
  }
}

void Model::GetGradient(Vector* grad) const {
  grad->resize(dim_);
  int64_t offset = 0;
  for (const torch::Tensor& p : parameters_) {
    const int64_t n = p.numel();
    torch::Tensor target = torch::from_blob(grad->data() + offset, p.sizes(), torch::kDouble);
    if (p.grad().defined()) {
      target.copy_(p.grad());
    } else {
      target.zero_();
    }
    offset += n;
  }
}

void Model::ZeroGradient() {
  for (torch::Tensor& p : parameters_) p.mutable_grad() = torch::Tensor();
}

}  // namespace ef21
