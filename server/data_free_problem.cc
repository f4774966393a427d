#include "server/data_free_problem.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace ef21 {

bool DataFreeProblem::Applies(const RunConfig& config) {
  return config.problem == ProblemKind::kLogreg && config.data.empty() &&
         config.synthetic_rows == 0 && config.synthetic_cols == 0;
}

absl::StatusOr<std::unique_ptr<DataFreeProblem>> DataFreeProblem::Create(const RunConfig& config,
                                                                         int64_t clients) {
  if (!Applies(config)) {
    return absl::InvalidArgumentError(
        "an aggregator holds no data only for --problem=logreg without --data and --synthetic");
  }
  if (config.features < 1) {
    return absl::InvalidArgumentError(
        "without --data the aggregator needs --features=D, the dimension the workers' data has");
  }
  const int64_t n = config.split == Split::kContiguous ? config.clients : clients;
  if (n < 1) {
    return absl::InvalidArgumentError(
        "without --data the aggregator needs --clients=N (with --split=row: the number of data "
        "rows the workers' files hold together)");
  }
  return std::unique_ptr<DataFreeProblem>(
      new DataFreeProblem(config.features, n, config.split, config.EffectiveLambda()));
}

std::string DataFreeProblem::Describe() const { return Describe(0); }

std::string DataFreeProblem::Describe(int64_t rows) const {
  return DescribeLogistic(rows, dim_, split_, clients_, lambda_);
}

void DataFreeProblem::PrepareShared(EvalPoint* p) const {
  p->shared_loss = 0.0;
  p->shared_grad.resize(0);
}

double DataFreeProblem::LossAndGradient(int64_t, const EvalPoint&, Vector* grad) const {
  grad->setConstant(dim_, std::numeric_limits<double>::quiet_NaN());
  return std::numeric_limits<double>::quiet_NaN();
}

double DataFreeProblem::Loss(int64_t, const EvalPoint&) const {
  return std::numeric_limits<double>::quiet_NaN();
}

void DataFreeProblem::StochasticGradient(int64_t, const EvalPoint&, const NoiseOptions&, uint64_t,
                                         Vector* grad) const {
  grad->setConstant(dim_, std::numeric_limits<double>::quiet_NaN());
}

SmoothnessConstants DataFreeProblem::Constants() const {
  SmoothnessConstants c;
  c.L = c.L0 = c.L1 = std::numeric_limits<double>::quiet_NaN();
  return c;
}

}  // namespace ef21
