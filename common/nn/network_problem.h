// A neural network as a problem (SPEC §5 "Neural network", DESIGN "Networks are problems"): f_i is
// the mean cross-entropy of a classifier over client i's shard of an image data set, and x is the
// flat vector of the model's trainable parameters (in the model's registration order). LibTorch
// stays behind this header: nothing including it sees torch.
//
// - Stochastic gradients: each round client i draws `batch` rows of its shard without replacement
//   inside the batch, fresh every round, from CounterRng(seed, kMinibatch, i, round), and returns
//   the gradient of the batch's mean cross-entropy.
// - Batch norm: gradients and every evaluation use the statistics of the batch at hand (training
//   mode); evaluations go through the rows in fixed chunks of kEvalChunk, so every loss and
//   accuracy is a pure function of x and the data. Each client's replica keeps its own running
//   statistics, updated by its training batches only — buffers, never part of x, never sent.
// - Determinism: every gradient runs on the calling thread with one intra-op thread, so results are
//   bitwise identical whichever thread or process computes them and however many threads there are.
// - Memory: Create sets the process's malloc (glibc mallopt: KeepFreedMemoryForTheNextPass in
//   model.h) to keep freed memory, so that each pass reuses the previous pass's activations instead
//   of faulting fresh pages in; the process keeps its peak memory until it exits.
//
// Thread-safety: const methods may be called concurrently for different clients (each client has
// its own replica behind its own mutex); Evaluate uses a separate replica.
#ifndef EF21_COMMON_NN_NETWORK_PROBLEM_H_
#define EF21_COMMON_NN_NETWORK_PROBLEM_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/nn/image_dataset.h"
#include "common/nn/network_options.h"
#include "common/nn/shards.h"
#include "common/problems/problem.h"

namespace ef21 {

class NetworkProblem final : public Problem {
 public:
  // Rows per chunk of every evaluation pass (loss, full gradient, accuracy).
  static constexpr int64_t kEvalChunk = 128;
  // Rows of a client's shard that ProbeLoss evaluates.
  static constexpr int64_t kProbeRows = 16;

  static absl::StatusOr<std::unique_ptr<NetworkProblem>> Create(const NetworkOptions& options);
  ~NetworkProblem() override;

  int64_t dim() const override;
  int64_t num_clients() const override;
  std::string Describe() const override;

  void PrepareShared(EvalPoint* p) const override;
  // f_i and ∇f_i over the client's diagnostic rows (its whole shard unless diagnostics_samples).
  double LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const override;
  double Loss(int64_t client, const EvalPoint& p) const override;
  // Over the client's whole shard, in chunks of kEvalChunk (--init=shard).
  double ShardLossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const override;
  bool DiagnosticsCoverShard() const override;
  void StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                          uint64_t round, Vector* grad) const override;
  double StochasticLossAndGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                                   uint64_t round, Vector* grad) const override;
  bool IsStochastic(const NoiseOptions& noise) const override;
  double ProbeLoss(int64_t client, const EvalPoint& p) const override;
  // No smoothness constants are known for a network: all zero (use a constant or γ0-based
  // stepsize).
  SmoothnessConstants Constants() const override;
  // Rows: the client's shard; no constants (zero).
  ClientConstants ClientSmoothness(int64_t client) const override;
  std::optional<Vector> InitialPoint(uint64_t seed) const override;
  bool ClientStepsAreLong() const override { return true; }
  bool HasEvaluation() const override { return true; }
  Evaluation Evaluate(const EvalPoint& p) const override;

  // CPU seconds (of the threads that ran them) spent so far in the phases of the minibatch
  // gradients (StochasticLossAndGradient with a batch), summed over clients: where a training
  // round's CPU time goes inside the problem (bench/network_bench prints it).
  struct PassPhases {
    int64_t passes = 0;
    double assemble = 0.0;          // the batch's images (fitted, scaled) and labels as tensors
    double load_x = 0.0;            // x into the replica's parameters
    double forward_backward = 0.0;  // forward, cross-entropy, backward
    double store_gradient = 0.0;    // the parameters' gradients into the flat vector
  };
  PassPhases pass_phases() const;

  // Row indices (into the training set) of each client's shard.
  const std::vector<int64_t>& shard(int64_t client) const;
  // The rows of a minibatch of client i in round r (positions drawn without replacement).
  std::vector<int64_t> MinibatchRows(int64_t client, int64_t batch, uint64_t round) const;
  // The flat parameters client i's replica holds now (the x of its last computation, rounded to the
  // model's precision): the inverse of loading x into the model.
  Vector ReplicaParameters(int64_t client) const;

 private:
  struct Impl;
  explicit NetworkProblem(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ef21

#endif  // EF21_COMMON_NN_NETWORK_PROBLEM_H_
