// `ef21 simulate`: all clients and the server of one run in one process, no network. Clients of a
// round are computed in parallel; everything order-dependent (aggregation, norms, sums) is done
// in ascending client id on one thread, so results never depend on the thread count.
//
//   EF21_ASSIGN_OR_RETURN(auto sim, Simulator::Create(config));
//   EF21_RETURN_IF_ERROR(sim->Run(log.get(), progress));
#ifndef EF21_COMMON_RUN_SIMULATOR_H_
#define EF21_COMMON_RUN_SIMULATOR_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/thread_pool.h"
#include "common/methods/method.h"
#include "common/run/round_close.h"
#include "common/run/run_config.h"
#include "common/run/run_log.h"

namespace ef21 {

class Simulator {
 public:
  // Builds the problem, x^0, the method halves and the thread pool from `config`. An unset
  // --diagnostics-every is resolved for the problem's dimension (config()).
  static absl::StatusOr<std::unique_ptr<Simulator>> Create(const RunConfig& config);
  // The same with a problem already built (tests, benchmarks).
  static absl::StatusOr<std::unique_ptr<Simulator>> Create(const RunConfig& config,
                                                           std::shared_ptr<const Problem> problem,
                                                           Vector x0);

  // Called after each round with its metrics row.
  using Observer = std::function<void(const MetricsRow&)>;

  // Runs rounds 0..K, appending each row to `log`.
  absl::Status Run(RunLog* log, const Observer& observer = nullptr);

  // Runs one round; false once all rounds are done.
  bool RunRound(RunLog* log);

  // The run's configuration as in effect (config.json): --diagnostics-every resolved.
  const RunConfig& config() const { return config_; }
  const MethodContext& context() const { return *context_; }
  // Communication counted through the last round run.
  const CommTotals& totals() const { return closer_.totals(); }
  const ServerMethod& server() const { return *server_; }
  const ClientMethod& client(int64_t i) const { return *clients_[i]; }
  const std::vector<ClientMessage>& messages() const { return messages_; }

 private:
  Simulator(RunConfig config, std::shared_ptr<const MethodContext> context, Vector x0);

  RunConfig config_;
  std::shared_ptr<const MethodContext> context_;
  std::unique_ptr<ServerMethod> server_;
  std::vector<std::unique_ptr<ClientMethod>> clients_;
  std::vector<ClientMessage> messages_;
  std::vector<ClientReport> reports_;  // messages_ as the round closer reads them
  RoundCloser closer_;
  EvalPoint point_;
  ThreadPool pool_;
  AdaptiveGrain grain_;
  double started_ = 0.0;
  Observer observer_;
  absl::Status last_error_;
};

}  // namespace ef21

#endif  // EF21_COMMON_RUN_SIMULATOR_H_
