// Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the project's own
// encoders, so the seeds are messages an honest worker or aggregator really produces:
//   make_fuzz_seeds OUT_DIR      (tools/fuzz.sh --seeds regenerates fuzz/corpus)
// The LIBSVM seeds are text files kept in the repository by hand.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/run/problem_factory.h"
#include "common/run/run_config.h"
#include "ef21/v1/ef21.pb.h"
#include "proto/codec.h"

namespace ef21 {
namespace {

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

// sparse_decoder_fuzzer: 4 bytes of limits (dim − 1 little-endian, flags: 1 float64, 2 dense
// allowed, 4 value cap; max entries − 1) and a SparseVector.
std::string SparseSeed(const SparseVector& v, ValueType type, bool dense_allowed, int max_entries) {
  std::string out(4, '\0');
  out[0] = static_cast<char>((v.dim - 1) & 0xff);
  out[1] = static_cast<char>(((v.dim - 1) >> 8) & 0xff);
  out[2] = static_cast<char>((type == ValueType::kF64 ? 1 : 0) | (dense_allowed ? 2 : 0) | 4);
  out[3] = static_cast<char>(max_entries - 1);
  v1::SparseVector encoded;
  EncodeSparseVector(v, type, &encoded);
  return out + encoded.SerializeAsString();
}

// The data path is relative to the source directory (the working directory of the fuzzers and of
// this program), so the seeds name no machine's paths.
RunConfig SmallRun() {
  RunConfig c;
  c.problem = ProblemKind::kLogreg;
  c.data = "data/libsvm/breast-cancer_scale";
  c.split = Split::kContiguous;
  c.clients = 2;
  c.algorithm = Algorithm::kNormEf21;
  c.k = 2;
  c.rounds = 3;
  c.threads = 1;
  return c;
}

int Main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = std::filesystem::absolute(argv[1]).string();
  const char* env = std::getenv("EF21_SOURCE_DIR");
  const std::string source = env != nullptr ? env : EF21_SOURCE_DIR;
  if (::chdir(source.c_str()) != 0) {
    std::fprintf(stderr, "make_fuzz_seeds: cannot enter %s\n", source.c_str());
    return 1;
  }

  // Sparse vectors: top-2 of d = 10, a long sparse one (Rice parameters > 0), dense, float64.
  {
    const std::string dir = out + "/sparse_decoder_fuzzer";
    SparseVector v;
    v.Clear(10);
    v.indices = {2, 7};
    v.values = {0.5, -1.0};
    Write(dir, "top2_f32", SparseSeed(v, ValueType::kF32, false, 2));
    Write(dir, "top2_f64", SparseSeed(v, ValueType::kF64, false, 2));
    v.Clear(1000);
    for (int32_t j = 0; j < 40; ++j) {
      v.indices.push_back(j * 23 + j % 5);
      v.values.push_back(0.25 * (j - 20));
    }
    Write(dir, "sparse40_of_1000", SparseSeed(v, ValueType::kF32, false, 64));
    v.Clear(8);
    v.dense = true;
    v.values = {1, -2, 3, -4, 5, -6, 7, -8};
    Write(dir, "dense8_f64", SparseSeed(v, ValueType::kF64, true, 8));
    v.Clear(10);
    Write(dir, "empty", SparseSeed(v, ValueType::kF32, false, 2));
  }

  // Run specs: the default run and a few vocabularies' other values.
  {
    const std::string dir = out + "/run_spec_fuzzer";
    const RunConfig base = SmallRun();
    std::vector<std::pair<std::string, RunConfig>> configs = {{"default", RunConfig()},
                                                              {"logreg_norm_ef21", base}};
    RunConfig sgdm = base;
    sgdm.algorithm = Algorithm::kEf21Sgdm;
    sgdm.batch = 4;
    configs.emplace_back("ef21_sgdm_batch4", sgdm);
    RunConfig poly = base;
    poly.problem = ProblemKind::kPolynomial;
    poly.data.clear();
    poly.compressor = CompressorKind::kRandK;
    configs.emplace_back("polynomial_rand_k", poly);
    for (const auto& [name, config] : configs) {
      v1::RunSpec spec;
      RunConfigToSpec(config, &spec);
      Write(dir, name, spec.SerializeAsString());
    }
  }

  // Worker messages of the worker_message_fuzzer's run: an honest Attach of client 0 (also one
  // claiming its fresh state), client 0's honest round-0 update, a made-up sparse update, a batch
  // of two, and the same two as one host sends them with their gradients' tree sum.
  {
    const std::string dir = out + "/worker_message_fuzzer";
    const RunConfig config = SmallRun();
    auto problem = CreateProblem(config);
    auto context = problem.ok()
                       ? MethodContext::Create(config.ToMethodOptions(), *problem)
                       : absl::StatusOr<std::shared_ptr<const MethodContext>>(problem.status());
    auto x0 = problem.ok() ? CreateStartingPoint(config, **problem)
                           : absl::StatusOr<Vector>(problem.status());
    if (!context.ok() || !x0.ok()) {
      std::fprintf(stderr, "make_fuzz_seeds: %s\n",
                   (context.ok() ? x0.status() : context.status()).ToString().c_str());
      return 1;
    }
    v1::WorkerMessage attach;
    v1::Attach* a = attach.mutable_attach();
    a->add_client_ids(0);
    ProblemToSpec(config, a->mutable_problem());
    a->set_dim(static_cast<uint32_t>((*problem)->dim()));
    a->set_clients(static_cast<uint32_t>((*problem)->num_clients()));
    SetShardReports(**problem, a);
    a->set_worker_name("seed");
    Write(dir, "attach_client0", attach.SerializeAsString());
    // The same Attach claiming client 0's fresh state: the fuzzer runs it on a
    // --client-state=worker coordinator.
    v1::ClientClaim* claim = a->add_claims();
    claim->set_client_id(0);
    claim->add_held(kFreshClientChain);
    Write(dir, "attach_client0_claims", attach.SerializeAsString());

    EvalPoint point;
    (*problem)->Prepare(*x0, &point);
    v1::WorkerMessage batch;
    // The same two clients as a host holding both sends them on a diagnostic round: updates
    // without gradients and the sum of the gradients over their tree node (level 1, index 0:
    // clients 0 and 1 of the run's two), +0 plus ∇f_0 plus ∇f_1 as common/run/gradient_tree.h
    // sums it.
    v1::WorkerMessage summed;
    Vector gradient_sum = Vector::Zero((*problem)->dim());
    for (int64_t client : {0, 1}) {
      std::unique_ptr<ClientMethod> method = ClientMethod::Create(*context, client);
      ClientRound request;
      request.round = 0;
      request.point = &point;
      request.want_gradient = (*context)->DiagnosticRound(0);
      ClientMessage message;
      method->Step(request, &message);
      v1::WorkerMessage m;
      EncodeUpdate(0, client, message, request.want_gradient, config.value_type, m.add_updates());
      *batch.add_updates() = m.updates(0);
      if (client == 0) Write(dir, "honest_update_client0", m.SerializeAsString());
      EncodeUpdate(0, client, message, /*diagnostics=*/false, config.value_type,
                   summed.add_updates());
      gradient_sum += message.gradient;
    }
    Write(dir, "batch_clients_0_1", batch.SerializeAsString());
    if ((*context)->DiagnosticRound(0)) {
      v1::GradientSum* sum = summed.add_gradient_sums();
      sum->set_level(1);
      sum->set_index(0);
      for (int64_t j = 0; j < gradient_sum.size(); ++j) sum->add_values(gradient_sum[j]);
      Write(dir, "batch_clients_0_1_gradient_sum", summed.SerializeAsString());
    }
    ClientMessage made_up;
    made_up.c.Clear((*problem)->dim());
    made_up.c.indices = {2, 7};
    made_up.c.values = {0.5, -1.0};
    made_up.loss = 0.5;
    made_up.gradient = Vector::Zero((*problem)->dim());
    v1::WorkerMessage m;
    EncodeUpdate(0, 0, made_up, (*context)->DiagnosticRound(0), config.value_type, m.add_updates());
    Write(dir, "made_up_update_client0", m.SerializeAsString());
  }
  std::fprintf(stderr, "make_fuzz_seeds: seeds in %s\n", out.c_str());
  return 0;
}

}  // namespace
}  // namespace ef21

int main(int argc, char** argv) { return ef21::Main(argc, argv); }
