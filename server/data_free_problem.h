// The problem as an aggregator without --data knows it (issue 11 item 5): the run's shape — the
// dimension d (--features) and the client count n (--clients) — and nothing of any client's rows.
// It is what the aggregator's MethodContext holds when the data stays with the workers: the round
// loop needs only d and n, the stepsize rules that use no problem constant (||EF21||'s
// γ0/√(K+1), --stepsize=constant) plan without one, and what the aggregator would otherwise read
// from its own data — each client's constants and data digest — the workers report at attach
// (proto ClientConstants). Evaluating any f_i is a programming error: it returns NaN, and
// HasData() tells callers not to ask.
//
//   EF21_ASSIGN_OR_RETURN(auto problem, DataFreeProblem::Create(config, clients));
//
// Immutable and thread-safe.
#ifndef EF21_SERVER_DATA_FREE_PROBLEM_H_
#define EF21_SERVER_DATA_FREE_PROBLEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/problems/logistic.h"
#include "common/problems/problem.h"
#include "common/run/run_config.h"

namespace ef21 {

class DataFreeProblem final : public Problem {
 public:
  // For --problem=logreg without --data: d = config.features, n = `clients` (--split=row: the
  // aggregator's --clients; --split=contiguous: config.clients). INVALID_ARGUMENT naming the
  // missing flag otherwise.
  static absl::StatusOr<std::unique_ptr<DataFreeProblem>> Create(const RunConfig& config,
                                                                 int64_t clients);

  // Whether `config` leaves the aggregator without data: logreg with neither --data nor
  // --synthetic.
  static bool Applies(const RunConfig& config);

  int64_t dim() const override { return dim_; }
  int64_t num_clients() const override { return clients_; }
  // Logistic::Describe's text with the row count unknown ("?"); the aggregator writes the real
  // one into summary.json from the reports (Describe(rows)).
  std::string Describe() const override;
  std::string Describe(int64_t rows) const;
  void PrepareShared(EvalPoint* p) const override;
  double LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const override;
  double Loss(int64_t client, const EvalPoint& p) const override;
  void StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                          uint64_t round, Vector* grad) const override;
  bool IsStochastic(const NoiseOptions& noise) const override { return noise.batch > 0; }
  // Unknown: L NaN, no L_i. The aggregator combines the workers' reports instead.
  SmoothnessConstants Constants() const override;
  uint64_t DataDigest(int64_t client) const override { return 0; }
  bool HasData() const override { return false; }

 private:
  DataFreeProblem(int64_t dim, int64_t clients, Split split, double lambda)
      : dim_(dim), clients_(clients), split_(split), lambda_(lambda) {}

  const int64_t dim_;
  const int64_t clients_;
  const Split split_;
  const double lambda_;
};

}  // namespace ef21

#endif  // EF21_SERVER_DATA_FREE_PROBLEM_H_
