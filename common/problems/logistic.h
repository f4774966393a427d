// Logistic regression with the nonconvex regularizer of the paper's Section 6.1 (SPEC §5):
//   f_i(x) = (1/m_i) Σ_{rows j of client i} log(1 + exp(−b_j a_jᵀx)) + λ Σ_l x_l²/(1 + x_l²).
// Rows are assigned to clients by --split=row (one row each, the paper) or --split=contiguous (n
// blocks, the last taking the remainder, as the EF21 code does). Immutable and thread-safe.
#ifndef EF21_COMMON_PROBLEMS_LOGISTIC_H_
#define EF21_COMMON_PROBLEMS_LOGISTIC_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/base/enum_names.h"
#include "common/problems/dataset.h"
#include "common/problems/problem.h"

namespace ef21 {

enum class Split { kRow, kContiguous, kMaxValue = kContiguous };

// The --split names.
inline constexpr auto kSplitNames =
    MakeEnumNames<Split>("split", {{Split::kRow, "row"}, {Split::kContiguous, "contiguous"}});
constexpr const auto& NamesOf(Split) { return kSplitNames; }
inline absl::StatusOr<Split> ParseSplit(absl::string_view name) { return kSplitNames.Parse(name); }
inline const char* SplitName(Split split) { return kSplitNames.Name(split); }

struct LogisticOptions {
  double lambda = 0.1;
  Split split = Split::kRow;
  int64_t clients = 0;  // --split=contiguous only: the number of blocks n (1 ≤ n ≤ rows)

  absl::Status Validate(const Dataset& data) const;
};

// Describe()'s text, also written by an aggregator that holds only the run's shape.
std::string DescribeLogistic(int64_t rows, int64_t cols, Split split, int64_t clients,
                             double lambda);

class Logistic final : public Problem {
 public:
  static absl::StatusOr<std::unique_ptr<Logistic>> Create(std::shared_ptr<const Dataset> data,
                                                          const LogisticOptions& options);

  // Rows [begin, end) of client i.
  int64_t RowBegin(int64_t client) const { return client_rows_[client]; }
  int64_t RowEnd(int64_t client) const { return client_rows_[client + 1]; }
  const Dataset& data() const { return *data_; }

  int64_t dim() const override { return data_->cols; }
  int64_t num_clients() const override { return static_cast<int64_t>(client_rows_.size()) - 1; }
  std::string Describe() const override;
  void PrepareShared(EvalPoint* p) const override;
  double LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const override;
  double Loss(int64_t client, const EvalPoint& p) const override;
  void StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                          uint64_t round, Vector* grad) const override;
  bool IsStochastic(const NoiseOptions& noise) const override;
  // L_i = λ_max(A_iᵀA_i)/(4m_i) + 2λ; L = λ_max((1/n) Σ_i A_iᵀA_i/(4m_i)) + 2λ;
  // L1 = max_j ‖a_j‖; L0 = 2λ + λ√d·max_j ‖a_j‖.
  SmoothnessConstants Constants() const override;
  // Client i's part: L_i, L1_i = max_{rows j of i} ‖a_j‖, L0_i = 2λ + λ√d·L1_i.
  ClientConstants ClientSmoothness(int64_t client) const override;
  uint64_t DataDigest(int64_t client) const override;

 private:
  Logistic(std::shared_ptr<const Dataset> data, const LogisticOptions& options);

  // a_jᵀx.
  double Dot(int64_t row, const Vector& x) const;
  // log(1 + exp(−b_j a_jᵀx)) and its derivative in a_jᵀx.
  double RowLoss(int64_t row, const Vector& x, double* slope) const;
  // sum += slope·a_row.
  void AddRow(int64_t row, double slope, Vector* sum) const;
  // grad ← grad·inv_m + ∇r(x): the mean of the rows' terms plus the shared regularizer.
  void FinishGradient(double inv_m, const EvalPoint& p, Vector* grad) const;

  std::shared_ptr<const Dataset> data_;
  LogisticOptions options_;
  std::vector<int64_t> client_rows_;  // size n + 1
};

}  // namespace ef21

#endif  // EF21_COMMON_PROBLEMS_LOGISTIC_H_
