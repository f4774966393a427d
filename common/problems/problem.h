// A finite-sum problem f(x) = (1/n) Σ_i f_i(x) (SPEC §1): client i alone evaluates f_i and ∇f_i.
// Implementations are immutable after creation and thread-safe: many clients are evaluated
// concurrently against one Problem.
//
//   EvalPoint p;
//   problem.Prepare(x, &p);                     // work shared by every client at this x
//   double fi = problem.LossAndGradient(i, p, &grad_i);
#ifndef EF21_COMMON_PROBLEMS_PROBLEM_H_
#define EF21_COMMON_PROBLEMS_PROBLEM_H_

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/base/digest.h"
#include "common/base/rng.h"
#include "common/base/vector.h"

namespace ef21 {

// The point x with the parts of f_i that every client shares (e.g. a regularizer) already
// evaluated, so that n clients do not recompute them n times. x is the point's own copy
// (Problem::Prepare) or the caller's vector, borrowed (Problem::PrepareBorrowed: no d-sized copy;
// the vector must outlive the point and stay unchanged while the point is used). A copy of a
// borrowing point borrows the same vector.
struct EvalPoint {
  const Vector& x() const { return borrowed_ != nullptr ? *borrowed_ : own_; }
  void SetX(ConstVectorRef x) {
    own_ = x;
    borrowed_ = nullptr;
  }
  void BorrowX(const Vector& x) {
    borrowed_ = &x;
    own_.resize(0);
  }

  double shared_loss = 0.0;
  Vector shared_grad;

 private:
  Vector own_;
  const Vector* borrowed_ = nullptr;
};

// What one client knows about its own f_i and reports to the aggregator when it attaches (issue
// 11 item 5: the aggregator needs no client's data). Computed from the client's rows alone.
struct ClientConstants {
  int64_t rows = 0;  // data rows of the client (1 for the polynomial)
  double L = 0.0;    // f_i is L_i-smooth
  double L0 = 0.0;   // f_i is (L0_i, L1_i)-smooth
  double L1 = 0.0;
};

// Smoothness constants (SPEC §1, §5).
struct SmoothnessConstants {
  double L = 0.0;           // f is L-smooth (NaN: not known, e.g. to an aggregator without data)
  std::vector<double> L_i;  // f_i is L_i-smooth
  double L0 = 0.0;          // (L0, L1)-smoothness of every f_i
  double L1 = 0.0;
  // Each client's own constants, when the problem knows them (CombineClientConstants).
  std::vector<ClientConstants> clients;
  // L̃ = √((1/n) Σ L_i²).
  double LTilde() const;
};

// The run's constants from every client's report, by the formulas a problem with all the data
// uses (Logistic::Constants, Polynomial::Constants derive theirs through this function, so the
// two agree bit for bit): L_i as reported, L0 = max_i L0_i, L1 = max_i L1_i. L, the constant of
// f = (1/n) Σ f_i itself, is λ_max of all clients' rows together, which no report gives: it is
// `L` as passed (NaN when unknown).
SmoothnessConstants CombineClientConstants(const std::vector<ClientConstants>& clients, double L);

// How stochastic gradients are drawn (SPEC §3).
struct NoiseOptions {
  int64_t batch = 0;   // rows per minibatch, drawn uniformly with replacement; 0: all rows
  double sigma = 0.0;  // standard deviation of additive Gaussian noise (polynomial)
  uint64_t seed = 0;
};

// Metrics of a classifier at x beyond the loss (network problems, SPEC §5); NaN where a problem has
// no such metric.
struct Evaluation {
  double train_accuracy = std::nan("");  // over the training rows the clients' diagnostics use
  double test_loss = std::nan("");
  double test_accuracy = std::nan("");
};

class Problem {
 public:
  virtual ~Problem() = default;

  virtual int64_t dim() const = 0;
  virtual int64_t num_clients() const = 0;
  virtual std::string Describe() const = 0;

  // Fills p with a copy of x and the shared terms.
  void Prepare(ConstVectorRef x, EvalPoint* p) const {
    p->SetX(x);
    PrepareShared(p);
  }
  // The same with p borrowing x instead of copying it (EvalPoint): x must outlive p and stay
  // unchanged while p is used.
  void PrepareBorrowed(const Vector& x, EvalPoint* p) const {
    p->BorrowX(x);
    PrepareShared(p);
  }
  // Fills p's shared terms at p->x().
  virtual void PrepareShared(EvalPoint* p) const = 0;
  // f_i(x), writing ∇f_i(x) to *grad (resized to dim()).
  virtual double LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const = 0;
  // f_i(x) and ∇f_i(x) over all of client i's data: g_i^0 under --init=shard. The same as
  // LossAndGradient for every problem whose diagnostics use all the client's rows.
  virtual double ShardLossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const {
    return LossAndGradient(client, p, grad);
  }
  // Whether LossAndGradient covers all of client i's data (ShardLossAndGradient then equals it);
  // false for a network whose diagnostics score a subsample (--diagnostics-samples).
  virtual bool DiagnosticsCoverShard() const { return true; }
  // f_i(x) alone.
  virtual double Loss(int64_t client, const EvalPoint& p) const = 0;
  // f_i(x), adding ∇f_i(x) to *sum coordinate by coordinate (sum_j += ∂_j f_i(x)): the same bits
  // as LossAndGradient followed by that addition. By default ∇f_i goes through *scratch first; a
  // problem whose coordinates are independent expressions adds them in place and never touches
  // *scratch (one d-sized buffer less where a round's diagnostics are summed over clients).
  virtual double LossAndAddGradient(int64_t client, const EvalPoint& p, Vector* sum,
                                    Vector* scratch) const {
    const double loss = LossAndGradient(client, p, scratch);
    double* __restrict s = sum->data();
    const double* __restrict g = scratch->data();
    for (Eigen::Index j = 0; j < sum->size(); ++j) s[j] += g[j];
    return loss;
  }
  // Whether AddGradientBlock evaluates only the coordinates asked for (a problem whose
  // coordinates are independent expressions); a closer keeping memory low then sums a diagnostic
  // round's gradients block by block, in O(block) memory instead of d-sized buffers. Such a
  // problem's Loss must give the bits of LossAndAddGradient's loss.
  virtual bool AddsGradientBlocks() const { return false; }
  // sum[j − begin] += ∂_j f_i(x) for j in [begin, end): the bits of those coordinates of
  // LossAndAddGradient. By default ∇f_i goes through *scratch whole and the block is added.
  virtual void AddGradientBlock(int64_t client, const EvalPoint& p, int64_t begin, int64_t end,
                                double* sum, Vector* scratch) const {
    LossAndGradient(client, p, scratch);
    const double* g = scratch->data();
    for (int64_t j = begin; j < end; ++j) sum[j - begin] += g[j];
  }
  // A stochastic gradient ∇f_i(x; ξ) with ξ a pure function of (noise.seed, client, round).
  virtual void StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                                  uint64_t round, Vector* grad) const = 0;
  // Whether StochasticGradient differs from the exact gradient under `noise`.
  virtual bool IsStochastic(const NoiseOptions& noise) const = 0;
  // The loss a client reports on a round without diagnostics, writing ∇f_i(x; ξ) to *grad. By
  // default f_i(x) itself; a problem whose f_i costs a pass over a large shard (a network) returns
  // the loss of the sample ξ instead.
  virtual double StochasticLossAndGradient(int64_t client, const EvalPoint& p,
                                           const NoiseOptions& noise, uint64_t round,
                                           Vector* grad) const {
    StochasticGradient(client, p, noise, round, grad);
    return Loss(client, p);
  }
  // The data fingerprint a worker sends when it attaches (proto Attach.probe_loss): by default
  // f_i(p); a network uses a few of the client's rows.
  virtual double ProbeLoss(int64_t client, const EvalPoint& p) const { return Loss(client, p); }

  // x^0 when the problem defines its own (a network's initialization), drawn from `seed`.
  virtual std::optional<Vector> InitialPoint(uint64_t seed) const { return std::nullopt; }
  // Whether one client's step is a long computation on one thread (a network's forward and backward
  // pass: a tenth of a second and more), against microseconds for the other problems. Such clients
  // get a thread each by default and their loop is spread over the threads from its first run: n
  // clients on c < n cores then take about n/c step times, the OS sharing the cores among them,
  // instead of ⌈n/c⌉ with one thread per core (5 clients on 2 cores: 2.5 against 3).
  virtual bool ClientStepsAreLong() const { return false; }
  // Whether Evaluate reports anything.
  virtual bool HasEvaluation() const { return false; }
  // Accuracy and test metrics at p.x, evaluated by whoever holds x (simulator, aggregator).
  virtual Evaluation Evaluate(const EvalPoint& p) const { return {}; }

  virtual SmoothnessConstants Constants() const = 0;
  // Client i's own constants (what its worker reports at attach), from its rows alone. The default,
  // for problems without known constants (networks): zero.
  virtual ClientConstants ClientSmoothness(int64_t client) const { return {}; }
  // Whether the problem holds the clients' data. An aggregator started without --data holds only
  // the run's shape (server/data_free_problem.h): it cannot evaluate any f_i.
  virtual bool HasData() const { return true; }

  // A digest of everything f_i depends on beyond the run's flags: client i's rows (indices,
  // values, labels) and the dimension. Two processes that built the same problem from the same
  // data agree; a difference in any coordinate of any row changes it (common/digest.h).
  // The default digests f_i at the fixed probe point p_j = ((j mod 7) - 3)/8, for problems whose
  // data is not at hand as rows (networks).
  virtual uint64_t DataDigest(int64_t client) const {
    Vector probe(dim());
    for (int64_t j = 0; j < dim(); ++j) probe[j] = static_cast<double>((j % 7) - 3) / 8.0;
    EvalPoint point;
    Prepare(probe, &point);
    Digest64 digest;
    digest.AddValue(dim());
    digest.AddValue(ProbeLoss(client, point));
    return digest.value();
  }
};

}  // namespace ef21

#endif  // EF21_COMMON_PROBLEMS_PROBLEM_H_
