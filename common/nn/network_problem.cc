#include "common/nn/network_problem.h"

#include <ATen/Parallel.h>
#include <time.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/base/status_macros.h"
#include "common/nn/model.h"

namespace ef21 {
namespace {

// Every torch computation of ef21 runs with one intra-op thread on the thread that asks for it:
// OpenMP's thread count is a per-thread setting, so each calling thread sets it once.
void UseOneIntraOpThread() {
  thread_local bool done = false;
  if (!done) {
    at::set_num_threads(1);
    done = true;
  }
}

// CPU time of the calling thread in nanoseconds.
int64_t ThreadCpuNanos() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// A model replica and the lock that gives it to one thread at a time (the pointer is set once,
// at creation; the model it points to is what mu guards).
struct Replica {
  absl::Mutex mu;
  std::unique_ptr<Model> model ABSL_PT_GUARDED_BY(mu);
};

// Restores a replica's buffers on scope exit: evaluation passes leave running statistics as the
// training batches made them.
class BufferGuard {
 public:
  explicit BufferGuard(Model* model) : model_(model) {
    for (const torch::Tensor& b : model->buffers()) saved_.push_back(b.clone());
  }
  ~BufferGuard() {
    torch::NoGradGuard no_grad;
    for (size_t j = 0; j < saved_.size(); ++j) model_->buffers()[j].copy_(saved_[j]);
  }

 private:
  Model* model_;
  std::vector<torch::Tensor> saved_;
};

}  // namespace

struct NetworkProblem::Impl {
  NetworkOptions options;
  ModelOptions model_options;
  int64_t train_count = 0;
  std::vector<std::vector<int64_t>> shards;      // training rows per client
  std::vector<std::vector<int64_t>> diagnostic;  // the rows of each client's f_i diagnostics
  std::vector<int64_t> test_rows;
  std::vector<std::unique_ptr<Replica>> replicas;  // one per client
  std::unique_ptr<Replica> evaluator;
  int64_t dim = 0;
  std::vector<int64_t> input_shape;   // the model's, C x H x W
  std::optional<Vector> saved_start;  // a TorchScript module's own parameters
  // PassPhases in nanoseconds: passes, assemble, load_x, forward_backward, store_gradient.
  mutable std::atomic<int64_t> phase_nanos[5] = {};

  const ImageDataset& train() const { return options.data->train; }
  const ImageDataset& test() const { return options.data->test; }

  // The images of `rows` fitted to the model's input: a 1-channel image is replicated over the
  // model's channels, a smaller image is zero-padded evenly on all sides; pixels scaled to [0, 1].
  torch::Tensor Images(const Model& model, const ImageDataset& set, const int64_t* rows,
                       int64_t count) const {
    const std::vector<int64_t>& shape = model.input_shape();
    const int64_t C = shape[0], H = shape[1], W = shape[2];
    torch::Tensor batch = torch::zeros({count, C, H, W}, torch::kFloat);
    float* out = batch.data_ptr<float>();
    const int64_t top = (H - set.height) / 2, left = (W - set.width) / 2;
    for (int64_t b = 0; b < count; ++b) {
      const uint8_t* image = set.image(rows[b]);
      for (int64_t c = 0; c < C; ++c) {
        const uint8_t* source = image + (set.channels == 1 ? 0 : c) * set.height * set.width;
        float* target = out + ((b * C + c) * H + top) * W + left;
        for (int64_t y = 0; y < set.height; ++y) {
          for (int64_t x = 0; x < set.width; ++x) {
            target[y * W + x] = static_cast<float>(source[y * set.width + x]) / 255.0f;
          }
        }
      }
    }
    return model.dtype() == torch::kFloat ? batch : batch.to(model.dtype());
  }

  torch::Tensor Labels(const ImageDataset& set, const int64_t* rows, int64_t count) const {
    torch::Tensor labels = torch::empty({count}, torch::kLong);
    int64_t* out = labels.data_ptr<int64_t>();
    for (int64_t b = 0; b < count; ++b) out[b] = set.labels[rows[b]];
    return labels;
  }

  // The mean cross-entropy of one batch and, into *grad, its gradient.
  double Batch(Replica& replica, ConstVectorRef x, const std::vector<int64_t>& rows,
               Vector* grad) const {
    absl::MutexLock lock(&replica.mu);
    UseOneIntraOpThread();
    int64_t t = ThreadCpuNanos();
    auto lap = [this, &t](int phase) {
      const int64_t now = ThreadCpuNanos();
      phase_nanos[phase].fetch_add(now - t, std::memory_order_relaxed);
      t = now;
    };
    Model& model = *replica.model;
    const int64_t count = static_cast<int64_t>(rows.size());
    torch::Tensor images = Images(model, train(), rows.data(), count);
    torch::Tensor labels = Labels(train(), rows.data(), count);
    lap(1);
    model.SetParameters(x);
    model.ZeroGradient();
    model.SetTraining(true);
    lap(2);
    torch::Tensor loss = torch::nn::functional::cross_entropy(model.Forward(images), labels);
    loss.backward();
    const double value = loss.item<double>();
    lap(3);
    model.GetGradient(grad);
    model.ZeroGradient();
    lap(4);
    phase_nanos[0].fetch_add(1, std::memory_order_relaxed);
    return value;
  }

  // (1/m) Σ_rows cross-entropy over `rows` of `set` in chunks of kEvalChunk; with grad, its
  // gradient; with correct, the number of rows whose largest logit is the label.
  double Pass(Replica& replica, ConstVectorRef x, const ImageDataset& set,
              const std::vector<int64_t>& rows, Vector* grad, int64_t* correct) const {
    absl::MutexLock lock(&replica.mu);
    UseOneIntraOpThread();
    Model& model = *replica.model;
    BufferGuard keep_buffers(&model);
    model.SetParameters(x);
    model.ZeroGradient();
    model.SetTraining(true);
    const int64_t m = static_cast<int64_t>(rows.size());
    double total = 0.0;
    int64_t right = 0;
    for (int64_t begin = 0; begin < m; begin += kEvalChunk) {
      const int64_t count = std::min(kEvalChunk, m - begin);
      std::optional<torch::NoGradGuard> no_grad;
      if (grad == nullptr) no_grad.emplace();
      torch::Tensor labels = Labels(set, rows.data() + begin, count);
      torch::Tensor logits = model.Forward(Images(model, set, rows.data() + begin, count));
      torch::Tensor sum = torch::nn::functional::cross_entropy(
          logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      if (grad != nullptr) (sum / static_cast<double>(m)).backward();
      total += sum.item<double>();
      if (correct != nullptr) right += logits.argmax(1).eq(labels).sum().item<int64_t>();
    }
    if (grad != nullptr) {
      model.GetGradient(grad);
      model.ZeroGradient();
    }
    if (correct != nullptr) *correct = right;
    return total / static_cast<double>(m);
  }

  std::vector<int64_t> MinibatchRows(int64_t client, int64_t batch, uint64_t seed,
                                     uint64_t round) const {
    const std::vector<int64_t>& shard = shards[client];
    CounterRng rng(seed, Purpose::kMinibatch, static_cast<uint64_t>(client), round);
    std::vector<int64_t> rows =
        SampleWithoutReplacement(static_cast<int64_t>(shard.size()), batch, &rng);
    for (int64_t& r : rows) r = shard[r];
    return rows;
  }
};

absl::StatusOr<std::unique_ptr<NetworkProblem>> NetworkProblem::Create(
    const NetworkOptions& options) {
  EF21_RETURN_IF_ERROR(options.Validate());
  KeepFreedMemoryForTheNextPass();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  const ImageDataset& train = options.data->train;
  ModelOptions& mo = impl->model_options;
  mo.model = options.model;
  mo.channels = train.channels;
  mo.height = train.height;
  mo.width = train.width;
  mo.classes = train.num_classes;
  mo.mlp_hidden = options.mlp_hidden;
  mo.double_precision = options.double_precision;
  UseOneIntraOpThread();
  for (int64_t i = 0; i <= options.clients; ++i) {
    auto replica = std::make_unique<Replica>();
    EF21_ASSIGN_OR_RETURN(replica->model, Model::Create(mo));
    if (i < options.clients) {
      impl->replicas.push_back(std::move(replica));
    } else {
      impl->evaluator = std::move(replica);
    }
  }
  {
    absl::MutexLock lock(&impl->evaluator->mu);
    impl->dim = impl->evaluator->model->dim();
    impl->input_shape = impl->evaluator->model->input_shape();
    if (mo.IsTorchScript()) {
      impl->saved_start = impl->evaluator->model->InitialParameters(options.seed);
    }
  }

  impl->train_count =
      options.train_samples > 0 ? std::min(options.train_samples, train.count) : train.count;
  impl->shards = MakeShards(impl->train_count, options.clients, options.shards, options.seed);
  const int64_t n = options.clients;
  const int64_t N = options.diagnostics_samples;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int64_t>& shard = impl->shards[i];
    if (N == 0) {
      impl->diagnostic.push_back(shard);
      continue;
    }
    CounterRng rng(options.seed, Purpose::kSubsample, static_cast<uint64_t>(i), 0);
    std::vector<int64_t> positions = SampleWithoutReplacement(static_cast<int64_t>(shard.size()),
                                                              std::max<int64_t>(1, N / n), &rng);
    std::sort(positions.begin(), positions.end());
    std::vector<int64_t> rows;
    for (int64_t pos : positions) rows.push_back(shard[pos]);
    impl->diagnostic.push_back(std::move(rows));
  }
  if (N == 0 || N >= options.data->test.count) {
    impl->test_rows.resize(options.data->test.count);
    for (int64_t r = 0; r < options.data->test.count; ++r) impl->test_rows[r] = r;
  } else {
    CounterRng rng(options.seed, Purpose::kSubsample, static_cast<uint64_t>(n), 1);
    impl->test_rows = SampleWithoutReplacement(options.data->test.count, N, &rng);
    std::sort(impl->test_rows.begin(), impl->test_rows.end());
  }
  return std::unique_ptr<NetworkProblem>(new NetworkProblem(std::move(impl)));
}

NetworkProblem::NetworkProblem(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NetworkProblem::~NetworkProblem() = default;

int64_t NetworkProblem::dim() const { return impl_->dim; }
int64_t NetworkProblem::num_clients() const { return impl_->options.clients; }

std::string NetworkProblem::Describe() const {
  const NetworkOptions& o = impl_->options;
  const ImageDataset& train = impl_->train();
  const std::vector<int64_t>& shape = impl_->input_shape;
  std::string fed;
  if (shape[0] != train.channels || shape[1] != train.height || shape[2] != train.width) {
    fed = absl::StrCat(" fed as ", absl::StrJoin(shape, "x"));
  }
  return absl::StrCat("network ", o.model, " (d=", impl_->dim, ") on ",
                      o.data_name.empty() ? "images" : o.data_name, ": ", impl_->train_count,
                      " training / ", impl_->test().count, " test images ", train.channels, "x",
                      train.height, "x", train.width, fed, ", ", o.clients, " ",
                      ShardKindName(o.shards), " shards");
}

void NetworkProblem::PrepareShared(EvalPoint* p) const {
  p->shared_loss = 0.0;
  p->shared_grad.resize(0);
}

double NetworkProblem::LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const {
  return impl_->Pass(*impl_->replicas[client], p.x(), impl_->train(), impl_->diagnostic[client],
                     grad, nullptr);
}

double NetworkProblem::ShardLossAndGradient(int64_t client, const EvalPoint& p,
                                            Vector* grad) const {
  return impl_->Pass(*impl_->replicas[client], p.x(), impl_->train(), impl_->shards[client], grad,
                     nullptr);
}

bool NetworkProblem::DiagnosticsCoverShard() const {
  return impl_->options.diagnostics_samples == 0;
}

double NetworkProblem::Loss(int64_t client, const EvalPoint& p) const {
  return impl_->Pass(*impl_->replicas[client], p.x(), impl_->train(), impl_->diagnostic[client],
                     nullptr, nullptr);
}

void NetworkProblem::StochasticGradient(int64_t client, const EvalPoint& p,
                                        const NoiseOptions& noise, uint64_t round,
                                        Vector* grad) const {
  StochasticLossAndGradient(client, p, noise, round, grad);
}

double NetworkProblem::StochasticLossAndGradient(int64_t client, const EvalPoint& p,
                                                 const NoiseOptions& noise, uint64_t round,
                                                 Vector* grad) const {
  if (noise.batch <= 0) return LossAndGradient(client, p, grad);
  return impl_->Batch(*impl_->replicas[client], p.x(),
                      impl_->MinibatchRows(client, noise.batch, noise.seed, round), grad);
}

bool NetworkProblem::IsStochastic(const NoiseOptions& noise) const { return noise.batch > 0; }

double NetworkProblem::ProbeLoss(int64_t client, const EvalPoint& p) const {
  const std::vector<int64_t>& shard = impl_->shards[client];
  const std::vector<int64_t> rows(shard.begin(),
                                  shard.begin() + std::min<int64_t>(kProbeRows, shard.size()));
  return impl_->Pass(*impl_->replicas[client], p.x(), impl_->train(), rows, nullptr, nullptr);
}

ClientConstants NetworkProblem::ClientSmoothness(int64_t client) const {
  ClientConstants c;
  c.rows = static_cast<int64_t>(impl_->shards[client].size());
  return c;
}

SmoothnessConstants NetworkProblem::Constants() const {
  SmoothnessConstants c;
  c.L_i.assign(num_clients(), 0.0);
  return c;
}

std::optional<Vector> NetworkProblem::InitialPoint(uint64_t seed) const {
  if (impl_->saved_start) return impl_->saved_start;
  absl::MutexLock lock(&impl_->evaluator->mu);
  return impl_->evaluator->model->InitialParameters(seed);
}

Evaluation NetworkProblem::Evaluate(const EvalPoint& p) const {
  Evaluation e;
  int64_t correct = 0, total = 0;
  for (int64_t i = 0; i < num_clients(); ++i) {
    int64_t right = 0;
    impl_->Pass(*impl_->evaluator, p.x(), impl_->train(), impl_->diagnostic[i], nullptr, &right);
    correct += right;
    total += static_cast<int64_t>(impl_->diagnostic[i].size());
  }
  e.train_accuracy = static_cast<double>(correct) / static_cast<double>(total);
  int64_t right = 0;
  e.test_loss =
      impl_->Pass(*impl_->evaluator, p.x(), impl_->test(), impl_->test_rows, nullptr, &right);
  e.test_accuracy = static_cast<double>(right) / static_cast<double>(impl_->test_rows.size());
  return e;
}

NetworkProblem::PassPhases NetworkProblem::pass_phases() const {
  auto seconds = [this](int phase) {
    return 1e-9 * static_cast<double>(impl_->phase_nanos[phase].load(std::memory_order_relaxed));
  };
  PassPhases p;
  p.passes = impl_->phase_nanos[0].load(std::memory_order_relaxed);
  p.assemble = seconds(1);
  p.load_x = seconds(2);
  p.forward_backward = seconds(3);
  p.store_gradient = seconds(4);
  return p;
}

const std::vector<int64_t>& NetworkProblem::shard(int64_t client) const {
  return impl_->shards[client];
}

std::vector<int64_t> NetworkProblem::MinibatchRows(int64_t client, int64_t batch,
                                                   uint64_t round) const {
  return impl_->MinibatchRows(client, batch, impl_->options.seed, round);
}

Vector NetworkProblem::ReplicaParameters(int64_t client) const {
  Replica& replica = *impl_->replicas[client];
  absl::MutexLock lock(&replica.mu);
  Vector x(impl_->dim);
  int64_t offset = 0;
  for (const torch::Tensor& p : replica.model->parameters()) {
    torch::Tensor flat = p.detach().to(torch::kDouble).contiguous().flatten();
    std::copy(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel(), x.data() + offset);
    offset += flat.numel();
  }
  return x;
}

}  // namespace ef21
