#include "common/run/networks/enable_networks.h"

#include <memory>

#include "common/nn/network_problem.h"
#include "common/run/problem_factory.h"

namespace ef21 {
namespace {

absl::StatusOr<std::unique_ptr<Problem>> CreateNetwork(const NetworkOptions& options) {
  absl::StatusOr<std::unique_ptr<NetworkProblem>> problem = NetworkProblem::Create(options);
  if (!problem.ok()) return problem.status();
  return std::unique_ptr<Problem>(std::move(*problem));
}

}  // namespace

void EnableNetworkProblems() { SetNetworkProblemFactory(&CreateNetwork); }

}  // namespace ef21
