// The exact delta downlink against dense x (issue 11): on the polynomial with d = 10^6, 16 clients
// (Gaussian gradient noise, so their messages differ), top-k with k = 10^4, f32 values,
// norm-ef21-sgd, it prints per round the bytes of the RoundStart a host receives under
// --downlink=delta, the coded size of the round's sparse update (Σ_i c_i on its union of indices,
// coded as one uplink SparseVector with f32 values), their ratio (target ≤ 1.3), and the dense
// RoundStart (8·d bytes). Byte counts, not times: exact and independent of the machine.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common/compress/sparse_codec.h"
#include "common/run/downlink.h"
#include "common/run/simulator.h"

int main(int argc, char** argv) {
  ef21::RunConfig config;
  config.problem = ef21::ProblemKind::kPolynomial;
  config.dim = 1000000;
  config.clients = 16;
  config.sigma = 0.5;
  config.algorithm = ef21::Algorithm::kNormEf21Sgd;
  config.k = 10000;
  config.rounds = argc > 1 ? std::atoi(argv[1]) : 10;
  config.value_type = ef21::ValueType::kF32;
  config.downlink = ef21::DownlinkMode::kDelta;
  config.threads = 1;
  auto sim = ef21::Simulator::Create(config);
  if (!sim.ok()) {
    std::fprintf(stderr, "%s\n", std::string(sim.status().message()).c_str());
    return 1;
  }
  const int64_t d = config.dim;
  std::printf("polynomial d=%lld, %lld clients, norm-ef21-sgd (sigma 0.5), top-k k=%lld, f32:\n",
              static_cast<long long>(d), static_cast<long long>(config.clients),
              static_cast<long long>(config.k));
  std::printf("%6s %10s %12s %14s %8s %12s %8s\n", "round", "union", "delta bytes", "update bytes",
              "ratio", "dense bytes", "dense/delta");
  double worst = 0.0;
  while ((*sim)->RunRound(nullptr)) {
    const ef21::ServerMethod& server = (*sim)->server();
    const ef21::RoundDelta& delta = server.last_delta();
    if (delta.round == 0 || server.round() > static_cast<uint64_t>(config.rounds)) continue;
    const ef21::DownlinkSizes sizes = ef21::MeasureDownlink(server.round(), d, server.stepsize(),
                                                            false, delta, config.value_type);
    const int64_t update = ef21::SparseVectorWireBytes(delta.sum, config.value_type);
    const double ratio = static_cast<double>(sizes.delta) / static_cast<double>(update);
    worst = std::max(worst, ratio);
    std::printf("%6llu %10lld %12lld %14lld %8.3f %12lld %8.1fx\n",
                static_cast<unsigned long long>(server.round()),
                static_cast<long long>(delta.sum.nnz()), static_cast<long long>(sizes.delta),
                static_cast<long long>(update), ratio, static_cast<long long>(sizes.dense),
                static_cast<double>(sizes.dense) / static_cast<double>(sizes.delta));
  }
  std::printf("worst delta / sparse update: %.3f (target <= 1.3)\n", worst);
  return 0;
}
