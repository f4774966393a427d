// Building and running small ef21 runs in tests: the shipped breast-cancer configuration, the
// simulator's trajectory, worker hosts on threads, and a whole federation in one process (a real
// aggregator on 127.0.0.1:0 and WorkerHosts over real gRPC).
//
//   RunConfig config = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/6, /*rounds=*/12);
//   EXPECT_TRUE(test::SameTrajectory(*test::FederateRows(config, {{0, 2}, {3, 5}}),
//                                    *test::SimulateRows(config)));
#ifndef EF21_TESTS_TESTING_RUNS_H_
#define EF21_TESTS_TESTING_RUNS_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/worker_host.h"
#include "common/methods/algorithm.h"
#include "common/methods/method.h"
#include "common/problems/problem.h"
#include "common/run/run_config.h"
#include "common/run/run_log.h"
#include "ef21/v1/ef21.pb.h"
#include "server/aggregator.h"

namespace ef21::test {

// data/libsvm/breast-cancer_scale in the source tree.
std::string BreastCancerPath();

// Logistic regression on breast-cancer, a contiguous split into `clients`, top-k with k = 2 (the
// identity for identity-only methods), one thread, no run directory. EF21-SGDM, which has no
// theory stepsize, gets a constant γ = 0.05 and η = 0.5.
RunConfig BreastCancer(Algorithm algorithm, int64_t clients, int64_t rounds);

// All nine algorithms of SPEC §3.
inline constexpr Algorithm kAllAlgorithms[] = {
    Algorithm::kEf21,         Algorithm::kNormEf21,    Algorithm::kEf21Sgdm,
    Algorithm::kNormEf21Sgdm, Algorithm::kNormEf21Sgd, Algorithm::kNormSgdm,
    Algorithm::kEf14,         Algorithm::kGd,          Algorithm::kNormGd};

// The metrics rows of `ef21 simulate` for `config` (nothing written to disk).
absl::StatusOr<std::vector<MetricsRow>> SimulateRows(RunConfig config);

// The Attach an honest worker sends for clients `ids` (ascending) of `config`'s problem.
v1::Attach HonestAttach(const RunConfig& config, const Problem& problem,
                        const std::vector<int64_t>& ids);

// The problem of `config` and the method context a run builds on it.
struct ProblemAndContext {
  std::shared_ptr<const Problem> problem;
  std::shared_ptr<const MethodContext> context;
};
absl::StatusOr<ProblemAndContext> CreateProblemAndContext(const RunConfig& config);

// The update `client` computes honestly for `start` (a problem's client, values as `type`): what
// a worker host sends.
v1::Update HonestUpdate(const Problem& problem, ValueType type, ClientMethod* client,
                        const v1::RoundStart& start);

// A worker host's options for clients first..last of `config` against `address`.
WorkerHost::Options HostOptions(const RunConfig& config, const std::string& address, int64_t first,
                                int64_t last);

// Collects the rows a run closes through its observer (Aggregator::Options::observer, the round
// coordinator's, Simulator::Run's): the run log keeps none. Thread-safe; outlives the run.
class RowRecorder {
 public:
  std::function<void(const MetricsRow&)> Observer();
  std::vector<MetricsRow> rows() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<MetricsRow> rows_ ABSL_GUARDED_BY(mu_);
};

// Worker hosts run on threads; their results are read after Join() (the destructor joins).
class HostThreads {
 public:
  ~HostThreads() { Join(); }
  // Creates the host and runs it on a new thread. A host that cannot be created gets no thread:
  // its error is returned and is its result.
  absl::Status Start(WorkerHost::Options options);
  void Join();
  void CancelAll();
  const absl::StatusOr<WorkerHost::Result>& result(size_t i) const { return results_[i]; }
  size_t size() const { return results_.size(); }

 private:
  std::vector<std::shared_ptr<WorkerHost>> hosts_;
  std::deque<absl::StatusOr<WorkerHost::Result>> results_;
  std::vector<std::thread> threads_;
};

// Runs `config` as a federation in this process: an aggregator on 127.0.0.1:0 and one worker host
// per inclusive client range of `hosts`, until the run completes (or `timeout`). Returns the
// aggregator's metrics rows; an error when a host or the aggregator failed.
absl::StatusOr<std::vector<MetricsRow>> FederateRows(
    const RunConfig& config, const std::vector<std::pair<int64_t, int64_t>>& hosts,
    absl::Duration timeout = absl::Seconds(120));

// The same with an aggregator that holds no data (issue 11 item 5): `config` without --data,
// --features = the problem's dimension (for the workers too), --clients = its client count; the
// worker hosts load `config`'s data and report their clients' constants and digests at attach.
absl::StatusOr<std::vector<MetricsRow>> FederateRowsWithoutData(
    const RunConfig& config, const std::vector<std::pair<int64_t, int64_t>>& hosts,
    absl::Duration timeout = absl::Seconds(120));

// `config` as an aggregator without data is configured (see FederateRowsWithoutData).
absl::StatusOr<Aggregator::Options> OptionsWithoutData(const RunConfig& config);

}  // namespace ef21::test

#endif  // EF21_TESTS_TESTING_RUNS_H_
