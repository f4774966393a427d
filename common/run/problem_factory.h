// Builds the problem and the starting point x^0 a RunConfig describes: reads the LIBSVM file or
// generates the synthetic set, splits rows among clients, draws or reads x^0.
#ifndef EF21_COMMON_RUN_PROBLEM_FACTORY_H_
#define EF21_COMMON_RUN_PROBLEM_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/nn/network_options.h"
#include "common/problems/problem.h"
#include "common/run/run_config.h"

namespace ef21 {

absl::StatusOr<std::shared_ptr<const Problem>> CreateProblem(const RunConfig& config);
// The same for a worker host that will only be asked about clients [first, last]: a synthetic
// data set then holds only their rows (generated exactly as in the whole set; the other clients'
// rows are empty), so each host generates its share instead of all of it.
absl::StatusOr<std::shared_ptr<const Problem>> CreateProblemForClients(const RunConfig& config,
                                                                       int64_t first, int64_t last);

// Networks (--problem=network) live in common/nn, the one layer linking LibTorch. A binary that
// trains them links ef21_networks and calls EnableNetworkProblems() (common/run/networks.h) once
// at start; every other binary — most test binaries — stays free of LibTorch and refuses
// --problem=network with a clear error.
using NetworkProblemFactory =
    absl::StatusOr<std::unique_ptr<Problem>> (*)(const NetworkOptions& options);
void SetNetworkProblemFactory(NetworkProblemFactory factory);
// Whether this program can build networks (EnableNetworkProblems was called).
bool NetworkProblemsEnabled();

// x^0: --x0-file (one number per line), zeros, or Gaussian — N(0, 1) for logreg (Section 6.1),
// N(20, 1) for the polynomial (Appendix E.1) — drawn from CounterRng(seed, kX0, 0, 0).
absl::StatusOr<Vector> CreateStartingPoint(const RunConfig& config, int64_t dim);
// The same, except that a problem with its own initialization (a network: Problem::InitialPoint)
// starts there unless --x0-file or --x0=zeros says otherwise.
absl::StatusOr<Vector> CreateStartingPoint(const RunConfig& config, const Problem& problem);

// Reads one finite number per line (blank lines and '#' comments skipped); errors name file and
// line, and a count other than `dim` is an error.
absl::StatusOr<Vector> ReadVectorFile(const std::string& path, int64_t dim);

}  // namespace ef21

#endif  // EF21_COMMON_RUN_PROBLEM_FACTORY_H_
