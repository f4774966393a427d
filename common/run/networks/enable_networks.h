// Turns on --problem=network for this program: CreateProblem (common/run/problem_factory.h) then
// builds networks with NetworkProblem (common/nn, LibTorch). Lives in its own library,
// ef21_networks, so that only the programs that call it — the ef21 binary, the network tests and
// benchmarks — link LibTorch and pay its start-up (about a second of CPU per process).
#ifndef EF21_COMMON_RUN_NETWORKS_ENABLE_NETWORKS_H_
#define EF21_COMMON_RUN_NETWORKS_ENABLE_NETWORKS_H_

namespace ef21 {

// Idempotent and thread-safe; call before the first CreateProblem of a network.
void EnableNetworkProblems();

}  // namespace ef21

#endif  // EF21_COMMON_RUN_NETWORKS_ENABLE_NETWORKS_H_
