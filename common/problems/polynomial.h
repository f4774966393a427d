// The nonconvex polynomial of the paper's Appendix E.1 (SPEC §5, formula reconstructed):
//   f(x) = Σ_j (λ/24)·x_j⁴ + λ·Σ_j x_j²/(1 + x_j²),  ∂f/∂x_j = (λ/6)x_j³ + 2λ x_j/(1 + x_j²)²,
// (L0, L1)-smooth for any L1 > 0 with L0 = 9λd²/(2L1²) + 2λ; the options give L0 and L1 and λ
// follows. Every client holds the same f (the paper uses n = 1). Thread-safe.
#ifndef EF21_COMMON_PROBLEMS_POLYNOMIAL_H_
#define EF21_COMMON_PROBLEMS_POLYNOMIAL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/problems/problem.h"

namespace ef21 {

struct PolynomialOptions {
  int64_t dim = 4;
  double L0 = 4.0;
  double L1 = 1.0;
  int64_t clients = 1;
  // Half-width D of the box |x_j| ≤ D on which L = λ√d·D²/2 + 2λ bounds the Hessian (x^0 ~ N(20,
  // 1)).
  double box = 20.0;

  absl::Status Validate() const;
};

class Polynomial final : public Problem {
 public:
  static absl::StatusOr<std::unique_ptr<Polynomial>> Create(const PolynomialOptions& options);

  // λ = L0 / (9d²/(2L1²) + 2).
  double lambda() const { return lambda_; }

  int64_t dim() const override { return options_.dim; }
  int64_t num_clients() const override { return options_.clients; }
  std::string Describe() const override;
  void PrepareShared(EvalPoint* p) const override;
  double LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const override;
  double Loss(int64_t client, const EvalPoint& p) const override;
  double LossAndAddGradient(int64_t client, const EvalPoint& p, Vector* sum,
                            Vector* scratch) const override;
  bool AddsGradientBlocks() const override { return true; }
  void AddGradientBlock(int64_t client, const EvalPoint& p, int64_t begin, int64_t end, double* sum,
                        Vector* scratch) const override;
  void StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                          uint64_t round, Vector* grad) const override;
  bool IsStochastic(const NoiseOptions& noise) const override { return noise.sigma > 0.0; }
  SmoothnessConstants Constants() const override;
  ClientConstants ClientSmoothness(int64_t client) const override;
  uint64_t DataDigest(int64_t client) const override;

 private:
  explicit Polynomial(const PolynomialOptions& options);

  PolynomialOptions options_;
  double lambda_;
};

}  // namespace ef21

#endif  // EF21_COMMON_PROBLEMS_POLYNOMIAL_H_
