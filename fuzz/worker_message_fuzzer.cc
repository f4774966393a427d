// libFuzzer target: a whole WorkerMessage through the aggregator's validation, as a Train stream
// applies it (server/aggregator_service.cc): the shape checks, Attach against the run, the batch
// order, the gradient sums (DecodeGradientSums, CheckGradientSumsCover), DecodeUpdate with the
// value cap, and the RoundCoordinator's Submit. Each input runs on a fresh coordinator of a small
// run (logistic regression on breast-cancer, 2 clients, norm-EF21 top-2) in which client 1 has
// already sent its round-0 update and client 0 is attached on the fuzzed stream, so an accepted
// update for client 0 closes the round. A batch carrying gradient sums runs with both clients
// attached on the fuzzed stream and none of their updates received (a sum covers a whole node of
// the client tree, here both clients), so an honest one is accepted and closes the round too. An
// input whose Attach carries client claims runs on a
// --client-state=worker coordinator of the same run instead, where client 1 claimed its fresh
// state and client 0 is left free: such an Attach reaches the claims' bounds and their check
// against client 0's state hash (accepted when it holds the fresh state).
//
// The batch is read as the aggregator reads it: straight from its bytes when the wire reader
// takes them (proto/update_wire.h ParseUpdateBatch), else through protobuf; either way the
// updates and gradient sums are decoded from their views.
//
// Invariants (a violation aborts):
//   - whatever the wire reader takes, protobuf parses to a message without an Attach whose view
//     (ViewBatch) is the reader's, field for field and byte for byte;
//   - a refused message leaves the coordinator's state hash unchanged;
//   - whatever is accepted, every x a RoundStart carries and the state stay finite: no message
//     can overflow the model (issue 10: one client sending 1.7e308 killed the run).
//
// EF21_SOURCE_DIR (environment, else the compile-time source directory) locates the data: the
// target works in that directory.
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/run/problem_factory.h"
#include "common/run/run_config.h"
#include "common/run/run_log.h"
#include "ef21/v1/ef21.pb.h"
#include "proto/codec.h"
#include "proto/update_wire.h"
#include "server/aggregator_service.h"
#include "server/round_coordinator.h"

namespace ef21 {
namespace {

// A stream end that keeps what the coordinator sends it.
class RecordingSink final : public StreamSink {
 public:
  void Send(std::shared_ptr<const v1::ServerMessage> message) override {
    absl::MutexLock lock(&mu_);
    sent_.push_back(std::move(message));
  }
  void FinishAfterQueue() override {}
  void Abort(const absl::Status&) override {}
  const StreamInfo& info() const override { return info_; }
  std::vector<std::shared_ptr<const v1::ServerMessage>> sent() {
    absl::MutexLock lock(&mu_);
    return sent_;
  }

 private:
  StreamInfo info_{"fuzz", "", "fuzz"};
  absl::Mutex mu_;
  std::vector<std::shared_ptr<const v1::ServerMessage>> sent_;
};

// One client-state mode of the run: its configuration, context, honest attaches of clients 0 and
// 1 (and of both on one stream), and client 1's honest round-0 update.
struct Mode {
  RunConfig config;
  std::shared_ptr<const MethodContext> context;
  v1::Attach attach0;
  v1::Attach attach1;
  v1::Attach attach01;
  v1::Update update1;
};

struct Fixture {
  Vector x0;
  Mode modes[2];  // --client-state=aggregator, worker
};

const Fixture& GetFixture() {
  static const Fixture* const fixture = [] {
    auto* f = new Fixture;
    const char* env = std::getenv("EF21_SOURCE_DIR");
    const std::string source = env != nullptr ? env : EF21_SOURCE_DIR;
    // The data path relative to the source directory, as in the seeds (make_fuzz_seeds).
    if (::chdir(source.c_str()) != 0) std::abort();
    RunConfig config;
    config.problem = ProblemKind::kLogreg;
    config.data = "data/libsvm/breast-cancer_scale";
    config.split = Split::kContiguous;
    config.clients = 2;
    config.algorithm = Algorithm::kNormEf21;
    config.k = 2;
    config.rounds = 3;
    config.threads = 1;
    // Every RoundStart carries x, which the finiteness check reads.
    config.downlink = DownlinkMode::kDense;
    auto problem = CreateProblem(config);
    if (!problem.ok()) {
      std::fprintf(stderr, "worker_message_fuzzer: %s\n", problem.status().ToString().c_str());
      std::abort();
    }
    auto x0 = CreateStartingPoint(config, **problem);
    if (!x0.ok()) std::abort();
    f->x0 = *x0;
    for (int worker = 0; worker < 2; ++worker) {
      Mode& m = f->modes[worker];
      m.config = config;
      if (worker == 1) m.config.client_state = ClientStateMode::kWorker;
      auto context = MethodContext::Create(m.config.ToMethodOptions(), *problem);
      if (!context.ok()) std::abort();
      m.context = *context;
      for (int64_t id : {0, 1, 2}) {  // 2: clients 0 and 1 on one stream
        v1::Attach& a = id == 0 ? m.attach0 : id == 1 ? m.attach1 : m.attach01;
        if (id == 2) {
          a.add_client_ids(0);
          a.add_client_ids(1);
          ProblemToSpec(m.config, a.mutable_problem());
          a.set_dim(static_cast<uint32_t>((*problem)->dim()));
          a.set_clients(static_cast<uint32_t>((*problem)->num_clients()));
          SetShardReports(**problem, &a);
          continue;
        }
        a.add_client_ids(static_cast<uint32_t>(id));
        ProblemToSpec(m.config, a.mutable_problem());
        a.set_dim(static_cast<uint32_t>((*problem)->dim()));
        a.set_clients(static_cast<uint32_t>((*problem)->num_clients()));
        SetShardReports(**problem, &a);
        if (worker == 1) {
          v1::ClientClaim* claim = a.add_claims();
          claim->set_client_id(static_cast<uint32_t>(id));
          claim->add_held(kFreshClientChain);
        }
      }
      // Client 1's honest round 0 at x0.
      std::unique_ptr<ClientMethod> client1 = ClientMethod::Create(m.context, 1);
      EvalPoint point;
      (*problem)->Prepare(f->x0, &point);
      ClientRound request;
      request.round = 0;
      request.point = &point;
      request.stepsize = 0;
      request.want_gradient = m.context->DiagnosticRound(0);
      ClientMessage message;
      client1->Step(request, &message);
      EncodeUpdate(0, 1, message, m.context->UploadsGradient(0), m.config.value_type, &m.update1);
    }
    return f;
  }();
  return *fixture;
}

bool AllFinite(const v1::ServerMessage& m) {
  if (!m.has_round_start()) return true;
  for (double v : m.round_start().x()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

bool SameBytes(const char* a, const char* b, int64_t n) {
  return n == 0 || std::memcmp(a, b, static_cast<size_t>(n)) == 0;
}

// Whether the wire reader's view of a batch is protobuf's, field for field and byte for byte.
bool SameView(const BatchView& a, const BatchView& b) {
  if (a.updates.size() != b.updates.size() || a.sums.size() != b.sums.size()) return false;
  for (size_t j = 0; j < a.updates.size(); ++j) {
    const UpdateView &u = a.updates[j], &v = b.updates[j];
    if (u.round != v.round || u.client_id != v.client_id || u.has_c != v.has_c ||
        u.c.dim != v.c.dim || u.c.dense != v.c.dense || u.c.rice_bits != v.c.rice_bits ||
        u.c.index_code != v.c.index_code || u.c.values_f32_count != v.c.values_f32_count ||
        !SameBytes(u.c.values_f32, v.c.values_f32, 4 * u.c.values_f32_count) ||
        u.c.values_f64_count != v.c.values_f64_count ||
        !SameBytes(u.c.values_f64, v.c.values_f64, 8 * u.c.values_f64_count) ||
        u.has_loss != v.has_loss || std::memcmp(&u.loss, &v.loss, sizeof(u.loss)) != 0 ||
        u.gradient_count != v.gradient_count ||
        !SameBytes(u.gradient, v.gradient, 8 * u.gradient_count)) {
      return false;
    }
  }
  for (size_t k = 0; k < a.sums.size(); ++k) {
    const GradientSumView &s = a.sums[k], &t = b.sums[k];
    if (s.level != t.level || s.index != t.index || s.count != t.count ||
        !SameBytes(s.values, t.values, 8 * s.count) || s.byte_size != t.byte_size) {
      return false;
    }
  }
  return true;
}

// What the Train stream does with one message after `attached` attached client 0 (see
// TrainReactor::Handle and HandleBatch; `batch` is the message's updates and gradient sums, read
// from its bytes or viewed from `in`); returns whether it was accepted.
bool Apply(const v1::WorkerMessage& in, const BatchView& batch, RoundCoordinator& coordinator,
           RecordingSink& attached, RecordingSink& fresh) {
  const MethodContext& context = coordinator.context();
  RejectionReason reason = RejectionReason::kMalformedMessage;
  if (in.has_attach() && (in.updates_size() > 0 || in.gradient_sums_size() > 0)) return false;
  if (in.has_attach()) {
    // On the attached stream a second Attach is refused before the coordinator; a fresh stream
    // takes it to the run.
    return coordinator.Attach(&fresh, in.attach(), &reason).ok();
  }
  if (batch.updates.empty()) return false;
  std::vector<DecodedUpdate> decoded(batch.updates.size());
  const GradientTree tree(context.num_clients());
  std::vector<DecodedGradientSum> sums;
  if (!DecodeGradientSums(batch.sums, context, tree, &sums, &reason).ok()) return false;
  const size_t sum_count = batch.sums.size();
  int64_t previous = -1;
  size_t sum = 0;
  for (size_t j = 0; j < batch.updates.size(); ++j) {
    const UpdateView& u = batch.updates[j];
    const int64_t client = u.client_id;
    if (client <= previous && client < context.num_clients()) return false;
    const bool summed = UnderGradientSum(tree, sums, sum_count, client, &sum);
    if (!DecodeUpdate(u, context, &decoded[j], &reason, 1e30, summed).ok()) return false;
    previous = client;
  }
  const absl::Span<DecodedGradientSum> batch_sums = absl::MakeSpan(sums.data(), sum_count);
  if (!CheckGradientSumsCover(decoded, context, tree, batch_sums, &reason).ok()) return false;
  int duplicates = 0;
  return coordinator.Submit(&attached, absl::MakeSpan(decoded), &duplicates, &reason, batch_sums)
      .ok();
}

}  // namespace
}  // namespace ef21

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ef21;
  const Fixture& f = GetFixture();
  // The bytes as the aggregator reads them: the wire reader first, else protobuf.
  const std::string wire(reinterpret_cast<const char*>(data), size);
  BatchView from_wire;
  const bool read_from_wire = ParseUpdateBatch(wire, &from_wire);
  v1::WorkerMessage in;
  if (!in.ParseFromString(wire)) {
    if (read_from_wire) {
      std::fprintf(stderr, "the wire reader took bytes protobuf refuses\n");
      std::abort();
    }
    return 0;
  }
  BatchView viewed;
  ViewBatch(in, &viewed);
  if (read_from_wire && (in.has_attach() || !SameView(from_wire, viewed))) {
    std::fprintf(stderr, "the wire reader's view differs from protobuf's\n");
    std::abort();
  }
  const Mode& mode = f.modes[in.has_attach() && in.attach().claims_size() > 0 ? 1 : 0];

  auto log = RunLog::Create("", mode.config.ToJson(), mode.config.eps);
  if (!log.ok()) std::abort();
  RoundCoordinator::Options options;
  options.context = mode.context;
  options.config = mode.config;
  options.x0 = f.x0;
  options.log = log->get();
  options.run_id = "fuzz";
  options.max_abs_value = 1e30;
  auto coordinator = RoundCoordinator::Create(std::move(options));
  if (!coordinator.ok()) std::abort();
  RoundCoordinator& c = **coordinator;

  RecordingSink sink0, sink1, fresh;
  RejectionReason reason;
  const bool worker_state = mode.config.client_state == ClientStateMode::kWorker;
  // A batch with gradient sums: a sum covers a whole node of the client tree, here the root over
  // both clients, so such an input runs with clients 0 and 1 attached on the fuzzed stream and
  // neither update received yet (a host holding both); an accepted batch then closes round 0.
  const bool both_on_stream = !worker_state && !in.has_attach() && in.gradient_sums_size() > 0;
  if (both_on_stream) {
    if (!c.Attach(&sink0, mode.attach01, &reason).ok()) std::abort();
  } else {
    if ((!worker_state && !c.Attach(&sink0, mode.attach0, &reason).ok()) ||
        !c.Attach(&sink1, mode.attach1, &reason).ok()) {
      std::abort();
    }
    std::vector<DecodedUpdate> honest(1);
    if (!DecodeUpdate(mode.update1, c.context(), &honest[0], &reason, 1e30).ok()) std::abort();
    int duplicates = 0;
    if (!c.Submit(&sink1, absl::MakeSpan(honest), &duplicates, &reason).ok()) std::abort();
    if (!c.WaitForReceived(1, absl::Seconds(10))) std::abort();
  }

  const uint64_t before = c.StateHash();
  const bool accepted = Apply(in, read_from_wire ? from_wire : viewed, c, sink0, fresh);
  if (!accepted && c.StateHash() != before) {
    std::fprintf(stderr, "a refused message changed the state\n");
    std::abort();
  }
  if (accepted) {
    // An accepted update of client 0 closes round 0 on the closer thread, or is refused there
    // (it would take g_0 past the bound), which restores the state as it was: wait for either.
    auto round1_started = [&] {
      for (const auto& m : (both_on_stream ? sink0 : sink1).sent()) {
        if (m->has_round_start() && m->round_start().round() == 1) return true;
      }
      return false;
    };
    const absl::Time end = absl::Now() + absl::Seconds(5);
    while (!round1_started() && c.StateHash() != before && absl::Now() < end) {
      absl::SleepFor(absl::Microseconds(20));
    }
  }
  for (RecordingSink* sink : {&sink0, &sink1, &fresh}) {
    for (const auto& m : sink->sent()) {
      if (!AllFinite(*m)) {
        std::fprintf(stderr, "a RoundStart carries a non-finite x\n");
        std::abort();
      }
    }
  }
  c.Stop("fuzz input done");
  return 0;
}
