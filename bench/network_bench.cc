// The performance targets of networks (issue 9), measured side by side in one run on ResNet-20,
// 5 clients × batch 128, 3 × 32 × 32 inputs, top-k with k = 0.01·d:
//   floor      5 forward+backward passes of batch 128 in a plain LibTorch loop, one thread: first
//              with glibc's default malloc, then with the malloc settings every network process
//              uses (KeepFreedMemoryForTheNextPass, common/nn/model.h), the floor the ratios use
//   simulate   `ef21 simulate` rounds (norm-ef21, top-k) with --threads=0 (the default: one thread
//              per client for networks, the OS sharing the 2 cores among them, as the authors' 5
//              Python threads do) and with other thread counts: wall and CPU per round, the ratio
//              of its wall time to the floor's (target ≤ 0.55), its CPU time against the floor's
//   phases     where the rounds' CPU time went: each phase of the clients' passes (thread CPU
//              time, NetworkProblem::pass_phases) and, measured alone on one thread, the method's
//              work of a round — each client's v − g, top-k, rounding and g_i update, and the
//              server's aggregation and step; everything but forward+backward as a share of the
//              round's CPU time (target ≤ 3 %)
//   top-k      top-k of a d = 269,722 vector, k = 2,700, against one pass over the vector (≤ 3×)
// Usage: network_bench [--rounds=R] [--threads=T1,T2,...]   (default 4 rounds; threads 0,2)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/base/rng.h"
#include "common/compress/compressor.h"
#include "common/methods/method.h"
#include "common/nn/model.h"
#include "common/nn/network_problem.h"
#include "common/run/simulator.h"

namespace ef21 {
namespace {

constexpr int64_t kClients = 5;
constexpr int64_t kBatch = 128;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Usage {
  double wall = 0;
  double cpu = 0;  // user + system, all threads
  double sys = 0;
  double faults = 0;  // minor page faults

  static Usage Take() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    Usage r;
    r.wall = Now();
    r.sys = u.ru_stime.tv_sec + 1e-6 * u.ru_stime.tv_usec;
    r.cpu = u.ru_utime.tv_sec + 1e-6 * u.ru_utime.tv_usec + r.sys;
    r.faults = static_cast<double>(u.ru_minflt);
    return r;
  }
  // Per repetition, from `start` to now.
  static Usage Since(const Usage& start, int repeats) {
    const Usage now = Take();
    return {(now.wall - start.wall) / repeats, (now.cpu - start.cpu) / repeats,
            (now.sys - start.sys) / repeats, (now.faults - start.faults) / repeats};
  }
};

double PeakRssMb() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

std::shared_ptr<const ImageData> RandomCifarLike(int64_t train, int64_t test) {
  auto data = std::make_shared<ImageData>();
  for (ImageDataset* set : {&data->train, &data->test}) {
    set->count = set == &data->train ? train : test;
    set->channels = 3;
    set->height = 32;
    set->width = 32;
    set->num_classes = 10;
    CounterRng rng(1, Purpose::kSynthetic, set == &data->train ? 0 : 1, 0);
    set->pixels.resize(set->count * set->image_size());
    for (uint8_t& p : set->pixels) p = static_cast<uint8_t>(rng.NextBelow(256));
    for (int64_t i = 0; i < set->count; ++i)
      set->labels.push_back(static_cast<int32_t>(rng.NextBelow(10)));
  }
  return data;
}

// 5 forward+backward passes of batch 128 through ResNet-20, one intra-op thread, per repetition.
Usage Floor(int repeats) {
  at::set_num_threads(1);
  ModelOptions o;
  o.model = "resnet20";
  o.channels = 3;
  o.height = 32;
  o.width = 32;
  auto model = *Model::Create(o);
  model->SetParameters(model->InitialParameters(0));
  model->SetTraining(true);
  torch::Tensor input = torch::rand({kBatch, 3, 32, 32});
  torch::Tensor labels = torch::randint(0, 10, {kBatch}, torch::kLong);
  auto pass = [&] {
    model->ZeroGradient();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->Forward(input), labels);
    loss.backward();
  };
  pass();  // warm-up
  const Usage start = Usage::Take();
  for (int r = 0; r < repeats; ++r) {
    for (int client = 0; client < kClients; ++client) pass();
  }
  return Usage::Since(start, repeats);
}

RunConfig BenchConfig(int64_t dim, int64_t threads) {
  RunConfig c;
  c.problem = ProblemKind::kNetwork;
  c.clients = kClients;
  c.algorithm = Algorithm::kNormEf21;
  c.compressor = CompressorKind::kTopK;
  c.k = dim / 100;
  c.batch = kBatch;
  c.stepsize = StepsizeRule::kConstant;
  c.gamma = 5;
  c.rounds = 1000;
  c.diagnostics_every = 1000;
  c.threads = threads;
  return c;
}

struct SimulateResult {
  Usage round;
  NetworkProblem::PassPhases phases;  // per round
};

SimulateResult Simulate(const std::shared_ptr<const NetworkProblem>& problem, int64_t threads,
                        int rounds) {
  const RunConfig c = BenchConfig(problem->dim(), threads);
  auto sim = *Simulator::Create(c, problem, *problem->InitialPoint(0));
  sim->RunRound(nullptr);  // round 0: dense g_i^0 and the diagnostics pass
  sim->RunRound(nullptr);  // warm-up
  const NetworkProblem::PassPhases before = problem->pass_phases();
  const Usage start = Usage::Take();
  for (int r = 0; r < rounds; ++r) sim->RunRound(nullptr);
  SimulateResult result;
  result.round = Usage::Since(start, rounds);
  const NetworkProblem::PassPhases after = problem->pass_phases();
  result.phases.passes = (after.passes - before.passes) / rounds;
  result.phases.assemble = (after.assemble - before.assemble) / rounds;
  result.phases.load_x = (after.load_x - before.load_x) / rounds;
  result.phases.forward_backward = (after.forward_backward - before.forward_backward) / rounds;
  result.phases.store_gradient = (after.store_gradient - before.store_gradient) / rounds;
  return result;
}

// CPU seconds of the method's own work in one round, alone on this thread (fastest of `repeats`):
// each client's v − g, top-k, rounding to f32 and g_i += c_i (Ef21Client::Step beyond the
// gradient), then the server's sum of the 5 messages, g update, norm and step.
struct MethodWork {
  double clients = 0;
  double server = 0;
};

double ThreadCpu() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

MethodWork MeasureMethodWork(const std::shared_ptr<const NetworkProblem>& problem, int repeats) {
  const RunConfig c = BenchConfig(problem->dim(), 1);
  auto context = *MethodContext::Create(c.ToMethodOptions(), problem);
  const int64_t d = problem->dim();
  std::vector<Vector> v(kClients), g(kClients);
  std::vector<SparseVector> messages(kClients);
  for (int64_t i = 0; i < kClients; ++i) {
    CounterRng rng(3, Purpose::kSynthetic, static_cast<uint64_t>(i), 0);
    v[i].resize(d);
    g[i] = Vector::Zero(d);
    for (int64_t j = 0; j < d; ++j) v[i][j] = 1e-3 * rng.NextGaussian();
  }
  auto server = ServerMethod::Create(context, *problem->InitialPoint(0));
  MethodWork best{1e9, 1e9};
  Vector diff;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = ThreadCpu();
    for (int64_t i = 0; i < kClients; ++i) {
      diff = v[i] - g[i];
      context->compressor->Compress(
          diff, {c.seed, static_cast<uint64_t>(i), static_cast<uint64_t>(r + 1)}, &messages[i]);
      messages[i].RoundValues(ValueType::kF32);
      messages[i].AddTo(1.0, &g[i]);
    }
    const double t1 = ThreadCpu();
    std::vector<const SparseVector*> by_client;
    for (const SparseVector& m : messages) by_client.push_back(&m);
    server->CloseRound(by_client);
    const double t2 = ThreadCpu();
    best.clients = std::min(best.clients, t1 - t0);
    best.server = std::min(best.server, t2 - t1);
  }
  return best;
}

void TopK(int64_t d, int64_t k) {
  CompressorOptions o;
  o.kind = CompressorKind::kTopK;
  o.k = k;
  o.dim = d;
  auto top_k = *CreateCompressor(o);
  Vector v(d);
  CounterRng rng(7, Purpose::kSynthetic, 0, 0);
  for (int64_t j = 0; j < d; ++j) v[j] = rng.NextGaussian();
  SparseVector out;
  const int reps = 200;
  double sink = 0;
  double t0 = Now();
  for (int r = 0; r < reps; ++r) {
    v[r % d] += 1e-9;
    sink += SquaredNorm(v);
  }
  const double pass = (Now() - t0) / reps;
  t0 = Now();
  for (int r = 0; r < reps; ++r) {
    v[r % d] += 1e-9;
    top_k->Compress(v, {0, 0, static_cast<uint64_t>(r)}, &out);
  }
  const double select = (Now() - t0) / reps;
  std::printf(
      "top-k d=%lld k=%lld: %.3f ms; one pass (sum of squares) %.3f ms; ratio %.2f (target <= "
      "3)%s\n",
      static_cast<long long>(d), static_cast<long long>(k), select * 1e3, pass * 1e3, select / pass,
      sink == 0 ? " " : "");
}

std::vector<int64_t> ParseList(const char* text) {
  std::vector<int64_t> out;
  while (*text != '\0') {
    char* end = nullptr;
    out.push_back(std::strtoll(text, &end, 10));
    if (end == text) break;
    text = *end == ',' ? end + 1 : end;
  }
  return out;
}

double LoadAverage() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) {
  using namespace ef21;
  int rounds = 4;
  std::vector<int64_t> thread_counts = {0, 2};
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--rounds=", 9) == 0) rounds = std::max(1, std::atoi(argv[i] + 9));
    if (std::strncmp(argv[i], "--threads=", 10) == 0) thread_counts = ParseList(argv[i] + 10);
  }
  std::printf(
      "ResNet-20, %lld clients x batch %lld, 3x32x32, 2 cores; load average %.1f at start\n",
      static_cast<long long>(kClients), static_cast<long long>(kBatch), LoadAverage());
  const Usage plain = Floor(2);
  std::printf(
      "floor with glibc's default malloc: %.3f s wall, %.3f s CPU (%.3f s system, %.0f page "
      "faults) per 5 passes\n",
      plain.wall, plain.cpu, plain.sys, plain.faults);
  KeepFreedMemoryForTheNextPass();
  const Usage floor = Floor(2);
  std::printf(
      "floor: 5 fwd+bwd, 1 thread: %.3f s wall, %.3f s CPU (%.3f s system, %.0f page faults); "
      "the default malloc took %.2fx its CPU\n",
      floor.wall, floor.cpu, floor.sys, floor.faults, plain.cpu / floor.cpu);
  std::fflush(stdout);

  NetworkOptions o;
  o.model = "resnet20";
  o.data = RandomCifarLike(50000, 100);
  o.clients = kClients;
  // Round 0's diagnostics pass scores this many rows, not all 50,000 (a full pass costs about as
  // much as 250 training rounds and is not what the per-round figures measure).
  o.diagnostics_samples = 128;
  o.seed = 0;
  auto problem = std::shared_ptr<const NetworkProblem>(*NetworkProblem::Create(o));
  const MethodWork method = MeasureMethodWork(problem, 5);
  for (int64_t threads : thread_counts) {
    const SimulateResult sim = Simulate(problem, threads, rounds);
    const NetworkProblem::PassPhases& p = sim.phases;
    const double other = sim.round.cpu - p.assemble - p.load_x - p.forward_backward -
                         p.store_gradient - method.clients - method.server;
    const double non_compute =
        p.assemble + p.load_x + p.store_gradient + method.clients + method.server;
    std::printf(
        "simulate --threads=%lld%s: %.3f s/round wall = %.2fx the floor (target <= 0.55); %.3f s "
        "CPU/round = %.2fx the floor's (%.3f s system, %.0f page faults); peak RSS so far %.0f "
        "MB\n",
        static_cast<long long>(threads), threads == 0 ? " (one thread per client)" : "",
        sim.round.wall, sim.round.wall / floor.wall, sim.round.cpu, sim.round.cpu / floor.cpu,
        sim.round.sys, sim.round.faults, PeakRssMb());
    std::printf(
        "  CPU per round: forward+backward %.3f s (%lld passes); batch assembly %.2f ms, x -> "
        "model %.2f ms, gradient -> vector %.2f ms; clients' v-g, top-k, g_i update %.2f ms; "
        "server %.2f ms; the rest (threads, scheduling) %.1f ms\n",
        p.forward_backward, static_cast<long long>(p.passes), 1e3 * p.assemble, 1e3 * p.load_x,
        1e3 * p.store_gradient, 1e3 * method.clients, 1e3 * method.server, 1e3 * other);
    std::printf(
        "  non-compute (all but forward+backward, the rest included): %.2f %% of the round's CPU "
        "(target <= 3 %%)\n",
        100.0 * (non_compute + std::max(0.0, other)) / sim.round.cpu);
    std::fflush(stdout);
  }
  TopK(problem->dim(), 2700);
  std::printf("load average %.1f at the end\n", LoadAverage());
  return 0;
}
