// The aggregator over real gRPC on 127.0.0.1:0. The hostile-message catalogue is one table row
// per bad message: each row runs on its own aggregator (three honest clients attached, client 0
// left to the row) and asserts the status code, a substring of the message, the unchanged state
// hash and that exactly its RejectionReason's counter moved; every reason in the enum has a row.
// Then exactly-once (a resent update is a counted duplicate) and a run that finishes equal to the
// simulation bit for bit.
#include "server/aggregator.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/worker_host.h"
#include "common/compress/sparse_codec.h"
#include "common/run/problem_factory.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "proto/codec.h"
#include "proto/rejection_reason.h"
#include "server/aggregator_service.h"
#include "server/checkpoint.h"
#include "server/worker_auth.h"
#include "tests/testing/aggregator_fixture.h"
#include "tests/testing/runs.h"
#include "tests/testing/trajectory.h"

namespace ef21 {
namespace {

RunConfig TestConfig(const std::string& out) {
  RunConfig c = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/6);
  c.features = 10;  // the data's own; stated, so that an aggregator without data knows it
  c.out = out;
  return c;
}

using test::RawStream;

class AggregatorTest : public test::AggregatorFixture {
 public:
  void SetUp() override {
    // One directory per test; a parameterized test's name "Test/Row" becomes "Test_Row".
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = ::testing::TempDir() + "/aggregator_test_" + name;
    std::filesystem::remove_all(dir_);  // a run directory is never overwritten by accident
    RunConfig config = TestConfig(dir_);
    config.participation = participation_;
    Aggregator::Options options = test::LoopbackOptions(config);
    ASSERT_NO_FATAL_FAILURE(EditOptions(&options));
    tls_ = !options.insecure;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    if (tls_) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadCertFile(CertDir() + "/ca.pem");
      credentials = grpc::SslCredentials(ssl);
    }
    ASSERT_NO_FATAL_FAILURE(StartAggregator(config, options, credentials));
  }

  // Aggregator options of the test before it starts (plaintext unless a test overrides this).
  virtual void EditOptions(Aggregator::Options* options) {}

  // Certificates (tools/make_certs.sh) and the workers file of the tests that serve TLS: identity
  // "honest" may carry clients 1-3 and "row" client 0, each proven by its bearer token.
  static std::string CertDir() {
    static const std::string* const dir = [] {
      auto* d = new std::string(::testing::TempDir() + "/aggregator_test_certs_" +
                                std::to_string(::getpid()));
      const std::string make = std::string(EF21_SOURCE_DIR) + "/tools/make_certs.sh";
      EXPECT_EQ(std::system((make + " " + *d + " honest row 2>/dev/null").c_str()), 0);
      std::ofstream(*d + "/workers") << "honest 1-3 token-sha256=" << Sha256Hex(kHonestToken)
                                     << "\nrow 0 token-sha256=" << Sha256Hex(kRowToken) << "\n";
      std::ofstream(*d + "/honest-token") << kHonestToken << "\n";
      return d;
    }();
    return *dir;
  }
  static std::string ReadCertFile(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  static void ServeTls(Aggregator::Options* options) {
    options->insecure = false;
    options->tls_cert = CertDir() + "/aggregator.pem";
    options->tls_key = CertDir() + "/aggregator.key";
    options->workers_file = CertDir() + "/workers";
  }
  static constexpr char kHonestToken[] = "token-of-the-honest-worker";
  static constexpr char kRowToken[] = "token-of-the-row-stream";

  // An honest worker host for clients first..last, run on a thread (with identity "honest"'s
  // token over TLS).
  size_t StartHost(int64_t first, int64_t last) {
    WorkerHost::Options options = test::HostOptions(config_, aggregator_->address(), first, last);
    if (tls_) {
      options.insecure = false;
      options.tls_ca = CertDir() + "/ca.pem";
      options.token_file = CertDir() + "/honest-token";
      options.connect_timeout = absl::Seconds(20);
    }
    return AggregatorFixture::StartHost(std::move(options));
  }

  // Attaches `ids` on `s` and reads Welcome and RoundStart.
  void AttachOk(RawStream* s, std::vector<int64_t> ids, v1::Welcome* welcome,
                v1::RoundStart* start) {
    ASSERT_TRUE(s->Write(AttachMessage(ids)));
    v1::ServerMessage m;
    ASSERT_TRUE(s->Read(&m));
    ASSERT_TRUE(m.has_welcome());
    *welcome = m.welcome();
    ASSERT_TRUE(s->Read(&m));
    ASSERT_TRUE(m.has_round_start());
    *start = m.round_start();
  }

  // The update client `client` computes honestly for `start`.
  v1::WorkerMessage HonestUpdate(ClientMethod* client, const v1::RoundStart& start) {
    v1::WorkerMessage m;
    *m.add_updates() = test::HonestUpdate(*problem_, config_.value_type, client, start);
    return m;
  }

  // A well-formed sparse update of client 0 for `round` (values arbitrary).
  v1::WorkerMessage SparseUpdate(uint64_t round, uint32_t client, std::vector<int32_t> indices,
                                 std::vector<double> values) {
    ClientMessage message;
    message.c.Clear(problem_->dim());
    message.c.indices = std::move(indices);
    message.c.values = std::move(values);
    message.loss = 0.5;
    message.gradient = Vector::Zero(problem_->dim());
    v1::WorkerMessage m;
    EncodeUpdate(round, client, message, /*diagnostics=*/true, ValueType::kF32, m.add_updates());
    return m;
  }

  // `m` (one update, honest loss and diagnostics) with c replaced by the given sparse entries.
  v1::WorkerMessage WithC(v1::WorkerMessage m, std::vector<int32_t> indices,
                          std::vector<double> values) {
    SparseVector c;
    c.Clear(problem_->dim());
    c.indices = std::move(indices);
    c.values = std::move(values);
    EncodeSparseVector(c, config_.value_type, m.mutable_updates(0)->mutable_c());
    return m;
  }

  // The sum of the samples of `name` (all label sets) in the current exposition.
  int64_t MetricTotal(const std::string& name) {
    int64_t total = 0;
    for (absl::string_view line : absl::StrSplit(aggregator_->metrics().Render(), '\n')) {
      if (!absl::StartsWith(line, name) || line.size() <= name.size()) continue;
      const char next = line[name.size()];
      if (next != ' ' && next != '{') continue;
      double v = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) total += static_cast<int64_t>(v);
    }
    return total;
  }

  // ef21_rejected_messages_total for each RejectionReason, indexed by the enum.
  std::vector<int64_t> RejectionCounts() {
    std::vector<int64_t> counts;
    for (const char* reason : kRejectionReasonNames.names()) {
      counts.push_back(
          MetricTotal(absl::StrCat("ef21_rejected_messages_total{reason=\"", reason, "\"}")));
    }
    return counts;
  }

  // Attaches client 0 on `s` and reads Welcome and RoundStart (discarded).
  void AttachClient0(RawStream* s) {
    v1::Welcome welcome;
    v1::RoundStart start;
    AttachOk(s, {0}, &welcome, &start);
  }

  // Sends client 0's honest update for `start` on `s` and returns the next RoundStart.
  v1::RoundStart AdvanceRound(RawStream* s, ClientMethod* client0, const v1::RoundStart& start,
                              v1::WorkerMessage* sent = nullptr) {
    const v1::WorkerMessage update = HonestUpdate(client0, start);
    if (sent != nullptr) *sent = update;
    EXPECT_TRUE(s->Write(update));
    v1::ServerMessage m;
    EXPECT_TRUE(s->Read(&m));
    EXPECT_TRUE(m.has_round_start()) << m.DebugString();
    EXPECT_EQ(m.round_start().round(), start.round() + 1);
    return m.round_start();
  }

  std::string dir_;
  bool tls_ = false;
  // Scratch of the catalogue rows that prepare state before their hostile message.
  std::unique_ptr<ClientMethod> client0_;
  std::unique_ptr<ClientMethod> client1_;
  v1::WorkerMessage prepared_;
  // The run's --participation (set before SetUp) and the updates of the open round that are in
  // once the state is settled (a row's prepare may change it).
  double participation_ = 1.0;
  int64_t settled_ = 3;
};

// Sends raw bytes as one message of a Train stream (bypassing protobuf on the client).
grpc::Status SendGarbage(const std::shared_ptr<grpc::Channel>& channel, const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, "/ef21.v1.Aggregator/Train", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// One hostile or malformed message and what the aggregator must answer.
struct HostileCase {
  enum class Stream {
    kFresh,      // a new stream; the message is its first
    kAttached,   // a new stream that attached client 0 first
    kHalfClose,  // attach client 0, then half-close before the run ends (no message)
    kRawBytes,   // bytes that are no WorkerMessage, sent past protobuf
    kSilent,     // attach client 0, then send nothing and wait for the aggregator to end it
  };
  std::string name;
  Stream stream;
  // Legitimate steps before the hostile message (advance rounds, stop the run); the state hash is
  // taken after them. `s` is the row's stream (attached for kAttached; null for kRawBytes), `open`
  // its RoundStart.
  std::function<void(AggregatorTest& t, RawStream* s, const v1::RoundStart& open)> prepare;
  std::function<v1::WorkerMessage(AggregatorTest& t)> message;
  grpc::StatusCode code;
  std::string message_part;  // expected in the status message
  RejectionReason reason;
  // gRPC refuses the message itself; the reactor may see a failed read (counted under `reason`)
  // or a cancelled call (not counted).
  bool count_may_be_zero = false;
  // The run's --participation; with p < 1 the honest host carries clients 2-3 and the row's stream
  // attaches clients 0 and 1.
  double participation = 1.0;
  // The row's aggregator: a limit set (--max-update-value, --round-timeout-seconds) or TLS with
  // the workers file of AggregatorTest::CertDir(). Null: the default plaintext aggregator.
  std::function<void(Aggregator::Options*)> options;
  // Over TLS, the row stream's "authorization" metadata (default: the token of identity "row",
  // which may carry client 0 only).
  std::optional<std::string> authorization;
};

// `c` on an aggregator edited by `options`.
HostileCase On(std::function<void(Aggregator::Options*)> options, HostileCase c) {
  c.options = std::move(options);
  return c;
}
// `c` on a TLS aggregator (tokens), its stream carrying `authorization`.
HostileCase OverTls(std::optional<std::string> authorization, HostileCase c) {
  c.options = AggregatorTest::ServeTls;
  c.authorization = std::move(authorization);
  return c;
}

using HostileStream = HostileCase::Stream;
using grpc::StatusCode;

v1::WorkerMessage WithUpdate(v1::WorkerMessage m, const std::function<void(v1::Update*)>& edit) {
  edit(m.mutable_updates(0));
  return m;
}

// Client 0's well-formed sparse update for round 0 (k = 2 entries, values arbitrary).
v1::WorkerMessage Good(AggregatorTest& t) { return t.SparseUpdate(0, 0, {2, 7}, {0.5, -1.0}); }

// `m` with its updates' gradients left out (to be covered by a gradient sum).
v1::WorkerMessage Summed(v1::WorkerMessage m) {
  for (v1::Update& u : *m.mutable_updates()) u.clear_gradient();
  return m;
}

// `m` with a gradient sum of tree node (level, index) appended.
v1::WorkerMessage WithSum(v1::WorkerMessage m, uint32_t level, uint64_t index,
                          const std::vector<double>& values) {
  v1::GradientSum* sum = m.add_gradient_sums();
  sum->set_level(level);
  sum->set_index(index);
  for (double v : values) sum->add_values(v);
  return m;
}

// The row's aggregator holds no data (issue 11 item 5): --features and the contiguous split's
// --clients give its shape; the honest host and the row's stream load the data.
void WithoutData(Aggregator::Options* options) { options->config.data.clear(); }

// Prepare: client 0 attaches honestly on a stream of its own, which then breaks the way a crashed
// worker's does; the aggregator has detached it.
void Client0AttachedOnceAndCrashed(AggregatorTest& t, RawStream*, const v1::RoundStart&) {
  RawStream first(t.stub_.get());
  t.AttachClient0(&first);
  first.Cancel();
  ASSERT_TRUE(t.aggregator_->coordinator().WaitForDetached(0, absl::Seconds(20)));
}

v1::WorkerMessage AttachEdited(AggregatorTest& t, const std::function<void(v1::Attach*)>& edit) {
  v1::WorkerMessage m = t.AttachMessage({0});
  edit(m.mutable_attach());
  return m;
}

const std::vector<HostileCase>& Catalogue() {
  using R = RejectionReason;
  static const auto* const cases = new std::vector<HostileCase>{
      // Who is sending: the row stream over TLS, refused before it touches the run.
      OverTls("", {"no credentials", HostileStream::kFresh, nullptr,
                   [](AggregatorTest& t) { return t.AttachMessage({0}); },
                   StatusCode::UNAUTHENTICATED, "authentication required",
                   R::kUnauthenticated}),
      OverTls("Bearer not-a-listed-token",
              {"a token the workers file does not list", HostileStream::kFresh, nullptr,
               [](AggregatorTest& t) { return t.AttachMessage({0}); },
               StatusCode::UNAUTHENTICATED, "authentication required", R::kUnauthenticated}),
      OverTls(std::nullopt,
              {"attach ids the identity is not granted", HostileStream::kFresh, nullptr,
               [](AggregatorTest& t) { return t.AttachMessage({0, 2}); },
               StatusCode::PERMISSION_DENIED, "identity 'row' may not carry clients 2",
               R::kNotAuthorized}),
      // The shape of a WorkerMessage.
      {"empty message", HostileStream::kFresh, nullptr,
       [](AggregatorTest&) { return v1::WorkerMessage(); }, StatusCode::INVALID_ARGUMENT,
       "empty WorkerMessage", R::kEmptyMessage},
      {"attach and updates together", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         v1::WorkerMessage m = t.AttachMessage({0});
         *m.add_updates() = Good(t).updates(0);
         return m;
       },
       StatusCode::INVALID_ARGUMENT, "not both", R::kMalformedMessage},
      {"same client twice in a batch", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         v1::WorkerMessage m = Good(t);
         *m.add_updates() = m.updates(0);
         return m;
       },
       StatusCode::INVALID_ARGUMENT, "must increase; 0 follows 0", R::kMalformedMessage},
      {"no compressed message", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithUpdate(Good(t), [](v1::Update* u) { u->clear_c(); }); },
       StatusCode::INVALID_ARGUMENT, "no compressed message", R::kMalformedMessage},
      {"no loss", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithUpdate(Good(t), [](v1::Update* u) { u->clear_loss(); }); },
       StatusCode::INVALID_ARGUMENT, "no loss", R::kMalformedMessage},
      {"bytes that are no protobuf", HostileStream::kRawBytes, nullptr, nullptr,
       StatusCode::INVALID_ARGUMENT, "not a WorkerMessage", R::kUnreadableOrEarlyClose},
      {"half-close before the run ends", HostileStream::kHalfClose, nullptr, nullptr,
       StatusCode::INVALID_ARGUMENT, "half-closed early", R::kUnreadableOrEarlyClose},
      {"oversized message", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         v1::WorkerMessage m = Good(t);
         for (int j = 0; j < 200000; ++j) m.mutable_updates(0)->add_gradient(1.0);
         return m;
       },
       StatusCode::RESOURCE_EXHAUSTED, "", R::kUnreadableOrEarlyClose,
       /*count_may_be_zero=*/true},
      // Attach.
      {"update before attach", HostileStream::kFresh, nullptr, Good,
       StatusCode::FAILED_PRECONDITION, "update before Attach", R::kUpdateBeforeAttach},
      {"attach twice", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.AttachMessage({0}); }, StatusCode::FAILED_PRECONDITION,
       "Attach sent twice", R::kAttachTwice},
      {"attach without ids", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->clear_client_ids(); });
       },
       StatusCode::INVALID_ARGUMENT, "no client ids", R::kBadAttach},
      {"attach id out of range", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->set_client_ids(0, 4); });
       },
       StatusCode::INVALID_ARGUMENT, "client 4, outside [0, 4)", R::kBadAttach},
      {"attach repeated id", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->add_client_ids(0); });
       },
       StatusCode::INVALID_ARGUMENT, "client 0 twice", R::kBadAttach},
      // An honest worker claims at most 4 state hashes per client (proto/codec.h
      // CheckClaimBounds); a hostile one cannot make the aggregator store or search more.
      On([](Aggregator::Options* o) { o->config.client_state = ClientStateMode::kWorker; },
         {"attach claiming more state hashes than a worker holds", HostileStream::kFresh, nullptr,
          [](AggregatorTest& t) {
            return AttachEdited(t, [](v1::Attach* a) {
              v1::ClientClaim* claim = a->add_claims();
              claim->set_client_id(0);
              for (uint64_t h = 0; h < 5; ++h) claim->add_held(h);
            });
          },
          StatusCode::INVALID_ARGUMENT,
          "claim 0 (client 0) holds 5 state hashes; at most 4 per client", R::kBadAttach}),
      {"attach with more claims than client ids", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) {
           for (int j = 0; j < 2; ++j) a->add_claims()->set_client_id(0);
         });
       },
       StatusCode::INVALID_ARGUMENT,
       "Attach carries 2 client claims for 1 client ids; at most one claim per client id",
       R::kBadAttach},
      {"attach other run", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->set_run_id("feedbeef"); });
       },
       StatusCode::FAILED_PRECONDITION, "run feedbeef is not", R::kWrongRun},
      {"attach wrong dimension", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) { return AttachEdited(t, [](v1::Attach* a) { a->set_dim(11); }); },
       StatusCode::FAILED_PRECONDITION, "dimension 11; the run's is 10", R::kWrongProblem},
      {"attach wrong client count", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) { return AttachEdited(t, [](v1::Attach* a) { a->set_clients(5); }); },
       StatusCode::FAILED_PRECONDITION, "has 5 clients; the run has 4", R::kWrongProblem},
      {"attach other problem flags", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->mutable_problem()->set_seed(9); });
       },
       StatusCode::FAILED_PRECONDITION, "--seed is 9", R::kWrongProblem},
      {"attach other data", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) {
           a->mutable_constants(0)->set_data_digest(a->constants(0).data_digest() ^ 1);
           a->set_data_digest(CombineDataDigests({0}, {a->constants(0).data_digest()}));
         });
       },
       StatusCode::FAILED_PRECONDITION, "data differs", R::kWrongProblem},
      {"attach with more constants than clients", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { *a->add_constants() = a->constants(0); });
       },
       StatusCode::INVALID_ARGUMENT, "reports constants of 2 clients for 1 client ids",
       R::kBadConstants},
      // A worker with --report-constants=false sends none: only an aggregator with data, which
      // computes them itself, accepts that (AttachWithoutConstantsWhereTheAggregatorHasData).
      On(WithoutData,
         {"attach without constants (aggregator without data)", HostileStream::kFresh, nullptr,
          [](AggregatorTest& t) {
            return AttachEdited(t, [](v1::Attach* a) { a->clear_constants(); });
          },
          StatusCode::INVALID_ARGUMENT,
          "reports no smoothness constants for clients 0; this aggregator holds no data",
          R::kBadConstants}),
      {"attach with a non-finite constant", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->mutable_constants(0)->set_l1(NAN); });
       },
       StatusCode::INVALID_ARGUMENT, "client 0 reports L1 = nan", R::kBadConstants},
      {"attach with a negative constant", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) { a->mutable_constants(0)->set_l(-2); });
       },
       StatusCode::INVALID_ARGUMENT, "must be finite and >= 0", R::kBadConstants},
      {"attach with digests that do not combine to the data fingerprint", HostileStream::kFresh,
       nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) {
           a->mutable_constants(0)->set_data_digest(a->constants(0).data_digest() ^ 1);
         });
       },
       StatusCode::INVALID_ARGUMENT, "do not combine to its data_digest", R::kBadConstants},
      {"attach constants the aggregator's data contradicts", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) {
         return AttachEdited(t, [](v1::Attach* a) {
           a->mutable_constants(0)->set_l1(2 * a->constants(0).l1());
         });
       },
       StatusCode::FAILED_PRECONDITION,
       "other smoothness constants than the aggregator's data gives for clients 0",
       R::kConstantsMismatch},
      // Without data, the aggregator holds a client to its first report: client 0 attached
      // honestly once (and its worker crashed); a worker reporting other constants is refused.
      On(WithoutData,
         {"attach constants other than the client reported earlier (aggregator without data)",
          HostileStream::kFresh,
          Client0AttachedOnceAndCrashed,
          [](AggregatorTest& t) {
            return AttachEdited(t, [](v1::Attach* a) {
              a->mutable_constants(0)->set_l(a->constants(0).l() * 1.5);
            });
          },
          StatusCode::FAILED_PRECONDITION,
          "other smoothness constants than were reported earlier in this run for clients 0",
          R::kConstantsMismatch}),
      On(WithoutData,
         {"attach other data than the client reported earlier (aggregator without data)",
          HostileStream::kFresh,
          Client0AttachedOnceAndCrashed,
          [](AggregatorTest& t) {
            return AttachEdited(t, [](v1::Attach* a) {
              a->mutable_constants(0)->set_data_digest(a->constants(0).data_digest() ^ 1);
              a->set_data_digest(CombineDataDigests({0}, {a->constants(0).data_digest()}));
            });
          },
          StatusCode::FAILED_PRECONDITION,
          "data differs from what was reported earlier in this run for clients 0",
          R::kWrongProblem}),
      {"attach a client live on another stream", HostileStream::kFresh, nullptr,
       [](AggregatorTest& t) { return t.AttachMessage({1}); }, StatusCode::ABORTED,
       "client 1 is attached by another worker", R::kClientBusy},
      // --client-state=worker: the aggregator holds no g_i to hand back, so a worker must hold
      // the state the run expects (here: client 0 before its first update).
      On([](Aggregator::Options* o) { o->config.client_state = ClientStateMode::kWorker; },
         {"attach a client whose state the worker lost", HostileStream::kFresh, nullptr,
          [](AggregatorTest& t) {
            return AttachEdited(t, [](v1::Attach* a) {
              v1::ClientClaim* claim = a->add_claims();
              claim->set_client_id(0);
              claim->add_held(0x1234);
            });
          },
          StatusCode::FAILED_PRECONDITION,
          "client 0 cannot resume round 0: the run keeps client state on the workers",
          R::kClientStateMismatch}),
      {"attach after the run was stopped", HostileStream::kFresh,
       [](AggregatorTest& t, RawStream*, const v1::RoundStart&) { t.aggregator_->Stop("test"); },
       [](AggregatorTest& t) { return t.AttachMessage({0}); }, StatusCode::UNAVAILABLE,
       "shutting down", R::kRunOver},
      On([](Aggregator::Options* o) { o->round_timeout = absl::Milliseconds(500); },
         {"attach and stay silent past the round timeout", HostileStream::kSilent, nullptr,
          nullptr, StatusCode::DEADLINE_EXCEEDED, "without updates from clients 0",
          R::kRoundTimeout}),
      // Which update.
      {"another client's id", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(0, 1, {2}, {1.0}); },
       StatusCode::PERMISSION_DENIED, "client 1, which is not attached", R::kClientNotAttached},
      {"unknown client id", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(0, 999, {2}, {1.0}); },
       StatusCode::PERMISSION_DENIED, "client 999, which is not attached", R::kClientNotAttached},
      {"future round", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(5, 0, {2}, {1.0}); },
       StatusCode::FAILED_PRECONDITION, "round 5 from client 0 is ahead: round 0 is open",
       R::kFutureRound},
      {"stale round", HostileStream::kAttached,
       [](AggregatorTest& t, RawStream* s, const v1::RoundStart& open) {
         t.client0_ = ClientMethod::Create(t.context_, 0);
         const v1::RoundStart round1 = t.AdvanceRound(s, t.client0_.get(), open, &t.prepared_);
         t.AdvanceRound(s, t.client0_.get(), round1);
       },
       [](AggregatorTest& t) { return t.prepared_; }, StatusCode::FAILED_PRECONDITION,
       "round 0 from client 0 is stale: round 2 is open", R::kStaleRound},
      {"a different update for an accepted round", HostileStream::kAttached,
       [](AggregatorTest& t, RawStream* s, const v1::RoundStart& open) {
         t.client0_ = ClientMethod::Create(t.context_, 0);
         t.AdvanceRound(s, t.client0_.get(), open, &t.prepared_);
       },
       [](AggregatorTest& t) {
         return WithUpdate(t.prepared_, [](v1::Update* u) { u->set_loss(u->loss() + 1); });
       },
       StatusCode::FAILED_PRECONDITION, "already sent a different update for round 0",
       R::kConflictingUpdate},
      {"an update from a client not drawn for the round", HostileStream::kAttached,
       [](AggregatorTest& t, RawStream* s, const v1::RoundStart& open) {
         // EF21-PP with p = 0.5: clients 0 and 1 answer honestly while both or neither are drawn;
         // at the first round with exactly one of them drawn, the drawn one holds the round open
         // and the other's update is the hostile message.
         t.client0_ = ClientMethod::Create(t.context_, 0);
         t.client1_ = ClientMethod::Create(t.context_, 1);
         v1::RoundStart start = open;
         for (;;) {
           const uint64_t r = start.round();
           const bool drawn0 = t.context_->Participates(0, r);
           const bool drawn1 = t.context_->Participates(1, r);
           if (drawn0 != drawn1) {
             ClientMethod* absent = drawn0 ? t.client1_.get() : t.client0_.get();
             t.prepared_ = t.HonestUpdate(absent, start);
             t.settled_ = t.context_->Participates(2, r) + t.context_->Participates(3, r);
             return;
           }
           if (drawn0) {
             v1::WorkerMessage both = t.HonestUpdate(t.client0_.get(), start);
             *both.add_updates() = t.HonestUpdate(t.client1_.get(), start).updates(0);
             ASSERT_TRUE(s->Write(both));
           }
           v1::ServerMessage m;
           ASSERT_TRUE(s->Read(&m));
           ASSERT_TRUE(m.has_round_start()) << m.DebugString();
           ASSERT_EQ(m.round_start().round(), r + 1);
           start = m.round_start();
         }
       },
       [](AggregatorTest& t) { return t.prepared_; }, StatusCode::FAILED_PRECONDITION,
       "was not drawn to take part in round", R::kNotParticipating, false,
       /*participation=*/0.5},
      // An update's content.
      {"wrong dimension", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) { u->mutable_c()->set_dim(11); });
       },
       StatusCode::INVALID_ARGUMENT, "c has dimension 11; the run's dimension is 10",
       R::kWrongDimension},
      {"float64 values in a float32 run", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) {
           u->mutable_c()->clear_values_f32();
           u->mutable_c()->add_values_f64(0.5);
           u->mutable_c()->add_values_f64(1.0);
         });
       },
       StatusCode::INVALID_ARGUMENT, "c carries 2 float64 values", R::kWrongValueType},
      {"dense message outside round 0", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         const int64_t d = t.problem_->dim();
         return WithUpdate(t.SparseUpdate(1, 0, {}, {}), [d](v1::Update* u) {
           u->mutable_c()->set_dense(true);
           for (int64_t j = 0; j < d; ++j) u->mutable_c()->add_values_f32(1.0f);
         });
       },
       StatusCode::INVALID_ARGUMENT, "c is dense", R::kUnexpectedDense},
      {"dense message of the wrong length", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(t.SparseUpdate(0, 0, {}, {}), [](v1::Update* u) {
           u->mutable_c()->set_dense(true);
           u->mutable_c()->add_values_f32(1.0f);
         });
       },
       StatusCode::INVALID_ARGUMENT, "dense c has 1 values; expected 10", R::kUnexpectedDense},
      {"too many entries", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(0, 0, {1, 2, 3}, {1, 2, 3}); },
       StatusCode::INVALID_ARGUMENT, "3 entries; at most 2", R::kTooManyEntries},
      {"index >= d", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         const int32_t d = static_cast<int32_t>(t.problem_->dim());
         SparseVector c;
         c.Clear(d + 40);
         c.indices = {3, d + 20};
         c.values = {1.0, 2.0};
         v1::WorkerMessage m = Good(t);
         EncodeSparseVector(c, ValueType::kF32, m.mutable_updates(0)->mutable_c());
         m.mutable_updates(0)->mutable_c()->set_dim(static_cast<uint32_t>(d));
         return m;
       },
       StatusCode::INVALID_ARGUMENT, "index 30 >= dimension 10", R::kBadIndexCode},
      {"index code with trailing bytes", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) {
           u->mutable_c()->mutable_index_code()->push_back('\0');
         });
       },
       StatusCode::INVALID_ARGUMENT, "index code has", R::kBadIndexCode},
      {"index code with non-zero padding", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) {
           std::string* code = u->mutable_c()->mutable_index_code();
           code->back() = static_cast<char>(code->back() | 0x80);
         });
       },
       StatusCode::INVALID_ARGUMENT, "padding", R::kBadIndexCode},
      {"truncated index code (fewer indices than values)", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) { u->mutable_c()->clear_index_code(); });
       },
       StatusCode::INVALID_ARGUMENT, "index code ends inside entry 0 of 2", R::kBadIndexCode},
      {"rice parameter above 30", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) { u->mutable_c()->set_rice_bits(31); });
       },
       StatusCode::INVALID_ARGUMENT, "Rice parameter 31", R::kBadIndexCode},
      // Gaps only move forward, so repeated or unsorted indices are unrepresentable; a code whose
      // gaps run past d is the closest hostile form.
      {"index gaps running beyond d", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) {
           u->mutable_c()->set_rice_bits(0);
           u->mutable_c()->set_index_code(std::string("\xff\xff\x00", 3));
         });
       },
       StatusCode::INVALID_ARGUMENT, "beyond dimension", R::kBadIndexCode},
      {"NaN value", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(0, 0, {2, 7}, {0.5, std::nan("")}); },
       StatusCode::INVALID_ARGUMENT, "c has value nan at entry 1 (index 7)", R::kNonFiniteValue},
      {"infinite value", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(0, 0, {3}, {HUGE_VAL}); },
       StatusCode::INVALID_ARGUMENT, "values must be finite", R::kNonFiniteValue},
      {"NaN loss", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) { u->set_loss(std::nan("")); });
       },
       StatusCode::INVALID_ARGUMENT, "loss nan is not finite", R::kNonFiniteValue},
      {"infinite gradient entry", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) { u->set_gradient(4, -HUGE_VAL); });
       },
       StatusCode::INVALID_ARGUMENT, "gradient value -inf at coordinate 4", R::kNonFiniteValue},
      {"a finite value above --max-update-value", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return t.SparseUpdate(0, 0, {2, 7}, {0.5, 3e38}); },
       StatusCode::INVALID_ARGUMENT, "|values| must be at most 1e+30", R::kValueTooLarge},
      // Client 0 brings g_0 to 9 in round 0, within the bound of 10; in round 1 another 9 at the
      // same coordinate, each entry within the bound, would take g_0 to 18. Refused when the
      // round would close, as if never sent.
      On([](Aggregator::Options* o) { o->max_update_value = 10; },
         {"an update that would take g_i past --max-update-value", HostileStream::kAttached,
          [](AggregatorTest& t, RawStream* s, const v1::RoundStart& open) {
            t.client0_ = ClientMethod::Create(t.context_, 0);
            ASSERT_TRUE(s->Write(t.WithC(t.HonestUpdate(t.client0_.get(), open), {2}, {9.0})));
            v1::ServerMessage m;
            ASSERT_TRUE(s->Read(&m));
            ASSERT_TRUE(m.has_round_start()) << m.DebugString();
            ASSERT_EQ(m.round_start().round(), 1u);
            t.prepared_ = t.WithC(t.HonestUpdate(t.client0_.get(), m.round_start()), {2}, {9.0});
          },
          [](AggregatorTest& t) { return t.prepared_; },
          StatusCode::INVALID_ARGUMENT, "from client 0 would take g_0 beyond the bound",
          R::kStateOverflow}),
      {"missing diagnostic gradient", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithUpdate(Good(t), [](v1::Update* u) { u->clear_gradient(); });
       },
       StatusCode::INVALID_ARGUMENT, "asks for the dense gradient (10 values); got 0",
       R::kBadDiagnostics},
      // Partial sums of the diagnostic gradients (WorkerMessage.gradient_sums): 4 clients, so
      // the client tree has one node of level 1, (1, 0), covering clients 0-3.
      {"a gradient sum with the wrong length", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithSum(Summed(Good(t)), 1, 0, std::vector<double>(3)); },
       StatusCode::INVALID_ARGUMENT, "gradient sum 0 over clients 0-3 has 3 values; expected 10",
       R::kBadDiagnostics},
      {"a NaN in a gradient sum", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         std::vector<double> values(10, 0.5);
         values[6] = std::nan("");
         return WithSum(Summed(Good(t)), 1, 0, values);
       },
       StatusCode::INVALID_ARGUMENT, "value nan at coordinate 6 is not finite",
       R::kNonFiniteValue},
      {"a gradient sum outside the client tree", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithSum(Summed(Good(t)), 1, 1, std::vector<double>(10)); },
       StatusCode::INVALID_ARGUMENT, "is not a node of the client tree", R::kBadDiagnostics},
      {"a gradient sum of one client (level 0)", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithSum(Summed(Good(t)), 0, 0, std::vector<double>(10)); },
       StatusCode::INVALID_ARGUMENT, "gradient sum of node (level 0, index 0) is not a node",
       R::kBadDiagnostics},
      {"overlapping gradient sums", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) {
         return WithSum(WithSum(Summed(Good(t)), 1, 0, std::vector<double>(10)), 1, 0,
                        std::vector<double>(10));
       },
       StatusCode::INVALID_ARGUMENT, "overlaps or precedes the sum before it",
       R::kBadDiagnostics},
      {"a gradient sum without its clients' updates", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithSum(Summed(Good(t)), 1, 0, std::vector<double>(10)); },
       StatusCode::INVALID_ARGUMENT, "comes with updates of 1 of its 4 clients",
       R::kBadDiagnostics},
      {"a gradient both summed and sent alone", HostileStream::kAttached, nullptr,
       [](AggregatorTest& t) { return WithSum(Good(t), 1, 0, std::vector<double>(10)); },
       StatusCode::INVALID_ARGUMENT, "gradient is in one of the batch's gradient sums",
       R::kBadDiagnostics},
      {"a made-up loss (the aggregator recomputes it)", HostileStream::kAttached, nullptr, Good,
       StatusCode::INVALID_ARGUMENT, "reports f_0(x) = 0.5; the aggregator computes",
       R::kBadDiagnostics},
      {"a made-up diagnostic gradient", HostileStream::kAttached,
       [](AggregatorTest& t, RawStream*, const v1::RoundStart& open) {
         t.client0_ = ClientMethod::Create(t.context_, 0);
         t.prepared_ = t.HonestUpdate(t.client0_.get(), open);
       },
       [](AggregatorTest& t) {
         return WithUpdate(t.prepared_,
                           [](v1::Update* u) { u->set_gradient(3, u->gradient(3) + 1.0); });
       },
       StatusCode::INVALID_ARGUMENT, "reports gradient entry 3", R::kBadDiagnostics},
  };
  return *cases;
}

void PrintTo(const HostileCase& c, std::ostream* os) { *os << "\"" << c.name << "\""; }

// "attach a client live on another stream" -> "AttachAClientLiveOnAnotherStream".
std::string TestName(const ::testing::TestParamInfo<HostileCase>& info) {
  std::string out;
  bool upper = true;
  for (char ch : info.param.name) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch;
      upper = false;
    } else {
      upper = true;
    }
  }
  return out;
}

class HostileMessageTest : public AggregatorTest,
                           public ::testing::WithParamInterface<HostileCase> {
 protected:
  void EditOptions(Aggregator::Options* options) override {
    if (GetParam().options) GetParam().options(options);
  }
  // The row stream's metadata: over TLS the row's token unless the row names another.
  std::string RowAuthorization() const {
    if (!tls_) return "";
    return GetParam().authorization.value_or(absl::StrCat("Bearer ", kRowToken));
  }

  void SetUp() override {
    participation_ = GetParam().participation;
    AggregatorTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(problem_->dim(), 10);
    // Clients 1-3 are honest and client 0 is left to the row: round 0 cannot close, and the
    // state is settled once the honest clients' three updates are in. (Partial participation:
    // clients 2-3 are honest, 0 and 1 the row's.)
    settled_ = participation_ < 1.0 ? 2 : 3;
    StartHost(participation_ < 1.0 ? 2 : 1, 3);
    ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(settled_, absl::Seconds(30)));
  }
};

TEST_P(HostileMessageTest, RefusedWithItsCodeMessageAndReasonAndChangesNothing) {
  const HostileCase& c = GetParam();
  std::optional<RawStream> s;
  // A fresh stream starts only after the state is taken: over TLS its refusal comes as the call
  // starts.
  if (c.stream != HostileStream::kRawBytes && c.stream != HostileStream::kFresh) {
    s.emplace(stub_.get(), RowAuthorization());
  }
  v1::RoundStart open;
  if (c.stream == HostileStream::kAttached || c.stream == HostileStream::kHalfClose ||
      c.stream == HostileStream::kSilent) {
    v1::Welcome welcome;
    std::vector<int64_t> ids = {0};
    if (c.participation < 1.0) ids.push_back(1);
    ASSERT_NO_FATAL_FAILURE(AttachOk(&*s, ids, &welcome, &open));
  }
  if (c.prepare) ASSERT_NO_FATAL_FAILURE(c.prepare(*this, s ? &*s : nullptr, open));
  ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(settled_, absl::Seconds(30)));
  const uint64_t hash = aggregator_->coordinator().StateHash();
  const std::vector<int64_t> before = RejectionCounts();

  grpc::Status status;
  switch (c.stream) {
    case HostileStream::kFresh:
      s.emplace(stub_.get(), RowAuthorization());
      s->Write(c.message(*this));
      status = s->Finish(/*writes_done=*/false);
      break;
    case HostileStream::kAttached:
      s->Write(c.message(*this));
      status = s->Finish(/*writes_done=*/false);
      break;
    case HostileStream::kHalfClose:
      status = s->Finish(/*writes_done=*/true);
      break;
    case HostileStream::kSilent:
      status = s->Finish(/*writes_done=*/false);
      break;
    case HostileStream::kRawBytes:
      status = SendGarbage(channel_, std::string("\xff\xff\xff\xff\x0f\x12", 6));
      break;
  }

  EXPECT_EQ(status.error_code(), c.code) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), c.message_part))
      << "\"" << status.error_message() << "\" lacks \"" << c.message_part << "\"";
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  if (c.code == StatusCode::FAILED_PRECONDITION && c.reason == RejectionReason::kWrongRun) {
    // A worker refused after an aggregator restart learns which run replaced its own.
    const auto& trailers = s->context().GetServerTrailingMetadata();
    auto it = trailers.find("ef21-run-id");
    ASSERT_NE(it, trailers.end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), aggregator_->run_id());
  }
  const std::vector<int64_t> after = RejectionCounts();
  for (RejectionReason reason : AllEnumValues<RejectionReason>()) {
    const size_t i = static_cast<size_t>(reason);
    const int64_t expected = reason == c.reason ? 1 : 0;
    if (c.count_may_be_zero && reason == c.reason) {
      EXPECT_LE(after[i] - before[i], expected) << EnumName(reason);
    } else {
      EXPECT_EQ(after[i] - before[i], expected) << EnumName(reason);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileMessageTest, ::testing::ValuesIn(Catalogue()), TestName);

// A message's wire bytes are made once and shared by every stream that sends it while anyone
// holds them (a stream writing them, or another holder); once nobody does they are freed, even if
// the message lives.
TEST(SerializedMessagesTest, BytesAreSharedWhileHeldAndFreedAfter) {
  SerializedMessages serialized;
  auto message = std::make_shared<v1::ServerMessage>();
  message->mutable_round_start()->set_round(3);
  message->mutable_round_start()->mutable_x()->Resize(1000, 0.5);
  std::shared_ptr<const grpc::ByteBuffer> retained = serialized.Get(message);  // one holder
  EXPECT_EQ(retained->Length(), message->ByteSizeLong());
  std::shared_ptr<const grpc::ByteBuffer> first = serialized.Get(message);  // a stream
  EXPECT_EQ(first.get(), retained.get());
  first.reset();  // written
  std::shared_ptr<const grpc::ByteBuffer> second = serialized.Get(message);
  EXPECT_EQ(second.get(), retained.get());  // not serialized again
  std::weak_ptr<const grpc::ByteBuffer> weak = retained;
  retained.reset();              // the first holder lets go
  EXPECT_FALSE(weak.expired());  // the second stream still holds them
  second.reset();
  EXPECT_TRUE(weak.expired());  // freed, though the message lives on
  // Another message gets bytes of its own, which parse back to it.
  auto other = std::make_shared<v1::ServerMessage>();
  other->mutable_round_start()->set_round(4);
  std::shared_ptr<const grpc::ByteBuffer> bytes = serialized.Get(other);
  grpc::ByteBuffer copy(*bytes);
  v1::ServerMessage parsed;
  ASSERT_TRUE(grpc::SerializationTraits<v1::ServerMessage>::Deserialize(&copy, &parsed).ok());
  EXPECT_EQ(parsed.round_start().round(), 4u);
}

TEST(HostileCatalogueTest, EveryRejectionReasonHasARow) {
  for (RejectionReason reason : AllEnumValues<RejectionReason>()) {
    EXPECT_TRUE(std::any_of(Catalogue().begin(), Catalogue().end(),
                            [&](const HostileCase& c) { return c.reason == reason; }))
        << "no hostile message is refused as " << EnumName(reason);
  }
  std::set<std::string> names;
  for (const HostileCase& c : Catalogue()) {
    EXPECT_TRUE(names.insert(TestName({c, 0})).second) << "two rows named " << c.name;
  }
}

// Exactly once: client 0's honest update closes round 0; resent after a reconnect it is a counted
// duplicate and changes nothing; then an honest host takes client 0 over and the run finishes
// equal to the simulation.
TEST_F(AggregatorTest, ExactlyOnceAcrossReconnectsAndFinishesEqualToSimulation) {
  StartHost(1, 3);
  v1::Welcome welcome;
  v1::RoundStart start0;
  {
    RawStream s(stub_.get());
    AttachOk(&s, {0}, &welcome, &start0);
    EXPECT_EQ(welcome.run_id(), aggregator_->run_id());
    EXPECT_EQ(welcome.round(), 0u);
    ASSERT_EQ(welcome.states_size(), 1);
    EXPECT_EQ(welcome.states(0).g_size(), 0);
    EXPECT_FALSE(welcome.states(0).update_received());
    ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(3, absl::Seconds(30)));
    s.Cancel();
    // A cancelled stream is detached asynchronously; client 0 attaches again next.
    ASSERT_TRUE(aggregator_->coordinator().WaitForDetached(0, absl::Seconds(30)));
  }
  std::unique_ptr<ClientMethod> client0 = ClientMethod::Create(context_, 0);
  v1::WorkerMessage update0;
  v1::RoundStart start1;
  {
    RawStream s(stub_.get());
    AttachClient0(&s);
    start1 = AdvanceRound(&s, client0.get(), start0, &update0);
    s.Cancel();
    // A cancelled stream is detached asynchronously; client 0 attaches again next.
    ASSERT_TRUE(aggregator_->coordinator().WaitForDetached(0, absl::Seconds(30)));
  }
  ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(3, absl::Seconds(30)));
  const uint64_t hash1 = aggregator_->coordinator().StateHash();
  {
    RawStream s(stub_.get());
    v1::Welcome w;
    v1::RoundStart r;
    AttachOk(&s, {0}, &w, &r);
    EXPECT_EQ(w.round(), 1u);
    EXPECT_FALSE(w.states(0).update_received());
    EXPECT_TRUE(MapVector(w.states(0).g()) == client0->g());
    ASSERT_TRUE(s.Write(update0));  // the resend
    // The stream stays open after a duplicate: a later message is still read (and this one,
    // a different update for the accepted (client, round), refused).
    v1::WorkerMessage conflicting = update0;
    v1::SparseVector* c = conflicting.mutable_updates(0)->mutable_c();
    if (c->values_f32_size() > 0) c->set_values_f32(0, c->values_f32(0) + 1.0f);
    ASSERT_TRUE(s.Write(conflicting));
    const grpc::Status status = s.Finish(false);
    EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.error_message();
  }
  EXPECT_EQ(MetricTotal("ef21_duplicate_updates_total"), 1);
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash1);

  StartHost(0, 0);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  ASSERT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
  hosts_.Join();
  ASSERT_EQ(hosts_.size(), 2u);
  EXPECT_TRUE(hosts_.result(0).ok()) << hosts_.result(0).status();
  EXPECT_TRUE(hosts_.result(1).ok()) << hosts_.result(1).status();

  const absl::StatusOr<std::vector<MetricsRow>> simulated = test::SimulateRows(config_);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  // metrics.csv as written (the log keeps no rows).
  const auto written = ReadMetricsRows(dir_ + "/metrics.csv");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_TRUE(test::SameTrajectory(*written, *simulated));
}

// Rows t = 0..K; round 0 is the initialization: after --rounds=K both ef21_rounds_completed_total
// and ef21_round read K. The second worker attaches 0.5 s late: that is waiting, counted in
// ef21_waiting_for_workers_seconds_total and not in any round's duration, and the two together
// account for the whole wall time up to the last close.
TEST_F(AggregatorTest, CountersAfterKRoundsAndWaitingApartFromRoundDurations) {
  StartHost(0, 1);
  absl::SleepFor(absl::Milliseconds(500));
  StartHost(2, 3);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  hosts_.Join();
  ASSERT_EQ(hosts_.size(), 2u);
  EXPECT_TRUE(hosts_.result(0).ok()) << hosts_.result(0).status();
  EXPECT_TRUE(hosts_.result(1).ok()) << hosts_.result(1).status();
  ASSERT_TRUE(aggregator_->coordinator().complete());
  const std::string text = aggregator_->metrics().Render();
  const auto value = [&](const std::string& name) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (absl::StartsWith(line, name + " ")) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(name.size() + 1), &v)) return v;
      }
    }
    ADD_FAILURE() << "no sample " << name << " in\n" << text;
    return -1.0;
  };
  const double k = static_cast<double>(config_.rounds);
  EXPECT_EQ(aggregator_->coordinator().rounds_closed(),
            static_cast<uint64_t>(config_.rounds + 1));  // rows 0..K
  EXPECT_EQ(aggregator_->log().summary().rounds, static_cast<uint64_t>(config_.rounds));
  EXPECT_EQ(value("ef21_rounds_completed_total"), k);
  EXPECT_EQ(value("ef21_round"), k);
  EXPECT_EQ(value("ef21_round_duration_seconds_count"), k + 1);  // rounds 0..K
  const double waiting = value("ef21_waiting_for_workers_seconds_total");
  const double busy = value("ef21_round_duration_seconds_sum");
  EXPECT_GE(waiting, 0.5);
  EXPECT_DOUBLE_EQ(waiting, aggregator_->coordinator().waiting_seconds());
  // Every second from the start to the last close is either a round's or waiting.
  EXPECT_NEAR(busy + waiting, aggregator_->log().summary().wall_seconds, 1e-6);
}

// --per-client-metrics-max reaches the metrics: per-client series while n <= the bound only, and a
// negative bound is refused before anything starts.
TEST(AggregatorOptionsTest, PerClientMetricBoundIsAnOption) {
  for (const int64_t bound : {int64_t{3}, int64_t{4}}) {
    Aggregator::Options options;
    options.config = TestConfig("");  // 4 clients
    options.per_client_metric_bound = bound;
    auto aggregator = Aggregator::Start(options);
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    const std::string text = (*aggregator)->metrics().Render();
    EXPECT_EQ(absl::StrContains(text, "ef21_client_uplink_bytes_total{client=\"3\"}"), bound == 4)
        << "bound " << bound;
    (*aggregator)->Stop("test over");
    EXPECT_TRUE((*aggregator)->Shutdown().ok());
  }
  Aggregator::Options bad;
  bad.config = TestConfig("");
  bad.per_client_metric_bound = -1;
  const auto refused = Aggregator::Start(bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "--per-client-metrics-max must be >= 0; got -1"))
      << refused.status();
}

// A finished run stays served: a worker attaching to it (after a crash, or started late) is told
// the run is over with a Finish, not refused, and exits normally; nothing changes.
TEST_F(AggregatorTest, AttachWithoutConstantsWhereTheAggregatorHasData) {
  // A worker with --report-constants=false sends only its data fingerprint: an aggregator with
  // the data welcomes it (the constants are its own) ...
  RawStream plain(stub_.get());
  v1::WorkerMessage m = AttachMessage({0});
  m.mutable_attach()->clear_constants();
  ASSERT_TRUE(plain.Write(m));
  v1::ServerMessage in;
  ASSERT_TRUE(plain.Read(&in));
  EXPECT_TRUE(in.has_welcome()) << in.DebugString();
  // ... and still checks that fingerprint against its own data.
  const uint64_t hash = aggregator_->coordinator().StateHash();
  RawStream other(stub_.get());
  m = AttachMessage({1});
  m.mutable_attach()->clear_constants();
  m.mutable_attach()->set_data_digest(m.attach().data_digest() ^ 1);
  ASSERT_TRUE(other.Write(m));
  EXPECT_FALSE(other.Read(&in));
  const grpc::Status refused = other.Finish(false);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("data differs from the run's for clients 1"),
            std::string::npos)
      << refused.error_message();
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
}

TEST_F(AggregatorTest, AttachAfterTheRunCompletedGetsFinishNotARefusal) {
  StartHost(0, 3);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  ASSERT_TRUE(aggregator_->coordinator().complete());
  hosts_.Join();
  const uint64_t hash = aggregator_->coordinator().StateHash();
  const uint64_t closed = aggregator_->coordinator().rounds_closed();
  RawStream late(stub_.get());
  late.Write(AttachMessage({0}));
  v1::ServerMessage m;
  ASSERT_TRUE(late.Read(&m));
  ASSERT_TRUE(m.has_finish()) << m.DebugString();
  EXPECT_FALSE(m.finish().stopped());
  EXPECT_TRUE(late.Finish(false).ok());
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  EXPECT_EQ(aggregator_->coordinator().rounds_closed(), closed);
}

TEST_F(AggregatorTest, StopEndsStreamsWithFinishAndKeepsClosedRounds) {
  v1::Welcome welcome;
  v1::RoundStart start;
  RawStream s(stub_.get());
  AttachOk(&s, {0, 1, 2, 3}, &welcome, &start);
  aggregator_->Stop("SIGTERM");
  v1::ServerMessage m;
  ASSERT_TRUE(s.Read(&m));
  ASSERT_TRUE(m.has_finish());
  EXPECT_TRUE(m.finish().stopped());
  EXPECT_EQ(m.finish().reason(), "SIGTERM");
  EXPECT_TRUE(s.Finish().ok());
  EXPECT_TRUE(aggregator_->Shutdown().ok());
  EXPECT_EQ(aggregator_->coordinator().rounds_closed(), 0u);
  // A new attach after the stop is refused as retryable.
  RawStream late(stub_.get());
  late.Write(AttachMessage({0}));
  EXPECT_FALSE(late.Finish(false).ok());
}

// config.json's "build" object says which binary wrote it; a run resumed by another build (a
// rebuilt or upgraded aggregator) is the same run. Any other key that differs is refused, named.
TEST(AggregatorResumeTest, ConfigurationIdentitySkipsTheBuildObject) {
  const std::string out = ::testing::TempDir() + "/resume-build";
  std::filesystem::remove_all(out);
  Aggregator::Options options;
  options.listen = "127.0.0.1:0";
  options.config = TestConfig(out);
  auto first = Aggregator::Start(options);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE((*first)->resumed());
  (*first)->Stop("test");
  EXPECT_TRUE((*first)->Shutdown().ok());
  first->reset();

  const std::string path = out + "/" + kCheckpointFileName;
  auto checkpoint = ReadCheckpoint(path);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  nlohmann::ordered_json recorded = nlohmann::ordered_json::parse(checkpoint->config_json);
  ASSERT_TRUE(recorded.contains("build")) << checkpoint->config_json;
  recorded["build"]["commit"] = "0123456789ab-dirty";
  recorded["build"]["build_type"] = "Debug";
  checkpoint->config_json = recorded.dump(2) + "\n";
  ASSERT_TRUE(WriteCheckpoint(path, *checkpoint).ok());

  auto again = Aggregator::Start(options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->resumed());
  EXPECT_EQ((*again)->run_id(), checkpoint->run_id);
  (*again)->Stop("test");
  EXPECT_TRUE((*again)->Shutdown().ok());
  again->reset();

  options.config.rounds += 1;
  const auto refused = Aggregator::Start(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "another configuration (rounds: 6 there, 7 here)"))
      << refused.status();
}

// Issue 10: data that differs only in feature 4, where the probe point p_j = ((j mod 7) − 3)/8 is
// zero, kept Σ_i f_i(p) and resumed the checkpointed run on other data. The checkpoint's digest of
// every row and coordinate refuses it (a constant stepsize: the stepsize plan, which depends on
// the data's smoothness constants, would catch the change otherwise).
TEST(AggregatorResumeTest, DataChangedOnlyWhereTheProbePointIsZeroIsRefused) {
  const std::string dir = ::testing::TempDir() + "/resume-data-digest";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string data = dir + "/data.svm";
  std::ifstream in(test::BreastCancerPath());
  const std::string original((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  const size_t at = original.find(" 4:-1 ");  // row 0's feature 4 (coordinate 3)
  ASSERT_LT(at, original.find('\n'));
  std::ofstream(data) << original;
  Aggregator::Options options;
  options.listen = "127.0.0.1:0";
  options.config = TestConfig(dir + "/out");
  options.config.data = data;
  options.config.stepsize = StepsizeRule::kConstant;
  options.config.gamma = 0.05;
  auto first = Aggregator::Start(options);
  ASSERT_TRUE(first.ok()) << first.status();
  const double probe_fingerprint = (*first)->coordinator().fingerprint();
  (*first)->Stop("test");
  EXPECT_TRUE((*first)->Shutdown().ok());
  first->reset();

  std::string changed = original;
  changed.replace(at, 6, " 4:-0.5 ");
  std::ofstream(data, std::ios::trunc) << changed;
  {
    // The probe fingerprint cannot tell the two apart.
    auto problem = CreateProblem(options.config);
    ASSERT_TRUE(problem.ok()) << problem.status();
    std::vector<int64_t> all((*problem)->num_clients());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    std::vector<double> probes(all.size());
    ProbeLosses(**problem, all, probes.data());
    EXPECT_EQ(SumAscending(probes), probe_fingerprint);
  }
  const auto refused = Aggregator::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "the data differs from the "
                                "checkpointed run's (data digest"))
      << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "--overwrite")) << refused.status();
  // Nothing in the run directory changed: the original data resumes it.
  std::ofstream(data, std::ios::trunc) << original;
  auto again = Aggregator::Start(options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->resumed());
  (*again)->Stop("test");
  EXPECT_TRUE((*again)->Shutdown().ok());
}

}  // namespace
}  // namespace ef21
