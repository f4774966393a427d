// The aggregator over real gRPC on 127.0.0.1:0: a catalogue of malformed and hostile messages sent
// by a raw test client, each refused with its status code while the coordinator's state hash stays
// unchanged; exactly-once (a resent update is a counted duplicate); and the run then finishes with
// honest workers and equals the simulation bit for bit.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "client/worker_host.h"
#include "common/run/problem_factory.h"
#include "common/compress/sparse_codec.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/codec.h"
#include "server/aggregator.h"
#include "tests/testing/runs.h"
#include "tests/testing/trajectory.h"

namespace ef21 {
namespace {

using Stream = grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>;

RunConfig TestConfig(const std::string& out) {
  RunConfig c = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/6);
  c.out = out;
  return c;
}

// A raw Train stream: what a hostile or buggy worker could send.
class RawStream {
 public:
  explicit RawStream(v1::Aggregator::Stub* stub) {
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    stream_ = stub->Train(&context_);
  }
  bool Write(const v1::WorkerMessage& m) { return stream_->Write(m); }
  bool Read(v1::ServerMessage* m) { return stream_->Read(m); }
  // Drains what the server still sends and returns the stream's status.
  grpc::Status Finish(bool writes_done = true) {
    if (writes_done) stream_->WritesDone();
    v1::ServerMessage m;
    while (stream_->Read(&m)) {
    }
    return stream_->Finish();
  }
  // Leaves the stream the way a crashed worker does: cancelled, not refused.
  void Cancel() {
    context_.TryCancel();
    (void)Finish(false);
  }
  grpc::ClientContext& context() { return context_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<Stream> stream_;
};

class AggregatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/aggregator_test_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);  // a run directory is never overwritten by accident
    config_ = TestConfig(dir_);
    Aggregator::Options options;
    options.config = config_;
    options.listen = "127.0.0.1:0";
    auto aggregator = Aggregator::Start(options);
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    aggregator_ = std::move(*aggregator);
    channel_ = grpc::CreateChannel(aggregator_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Aggregator::NewStub(channel_);
    auto problem = CreateProblem(config_);
    ASSERT_TRUE(problem.ok());
    problem_ = *problem;
    auto context = MethodContext::Create(config_.ToMethodOptions(), problem_);
    ASSERT_TRUE(context.ok());
    context_ = *context;
  }

  void TearDown() override {
    if (aggregator_ != nullptr) aggregator_->Stop("test over");
    hosts_.Join();
    if (aggregator_ != nullptr) (void)aggregator_->Shutdown(absl::Seconds(2));
  }

  // An honest worker host for clients first..last, run on a thread.
  void StartHost(int64_t first, int64_t last) {
    const absl::Status started =
        hosts_.Start(test::HostOptions(config_, aggregator_->address(), first, last));
    EXPECT_TRUE(started.ok()) << started;
  }

  // A correct Attach for `ids`.
  v1::WorkerMessage AttachMessage(std::vector<int64_t> ids) {
    v1::WorkerMessage m;
    std::sort(ids.begin(), ids.end());
    *m.mutable_attach() = test::HonestAttach(config_, *problem_, ids);
    return m;
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
    EvalPoint point;
    problem_->Prepare(MapVector(start.x()), &point);
    ClientRound request;
    request.round = start.round();
    request.point = &point;
    request.stepsize = start.stepsize();
    request.want_gradient = start.diagnostics();
    ClientMessage message;
    client->Step(request, &message);
    v1::WorkerMessage m;
    EncodeUpdate(start.round(), client->client(), message, start.diagnostics(), config_.value_type,
                 m.add_updates());
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

  std::string dir_;
  RunConfig config_;
  std::unique_ptr<Aggregator> aggregator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
  std::shared_ptr<const Problem> problem_;
  std::shared_ptr<const MethodContext> context_;
  test::HostThreads hosts_;
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

TEST_F(AggregatorTest, RefusesHostileMessagesWithoutHarmAndFinishesTheRun) {
  StartHost(1, 3);
  // Client 0 attached by a raw stream: round 0 cannot close, so the state is settled once the
  // honest clients' three updates are in.
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
  const uint64_t hash = aggregator_->coordinator().StateHash();
  const int64_t d = problem_->dim();
  ASSERT_EQ(d, 10);

  struct Case {
    std::string name;
    bool attach_first;
    std::function<v1::WorkerMessage()> message;
    grpc::StatusCode expected;
    std::string message_part;  // expected in the status message
  };
  auto with = [&](v1::WorkerMessage m, std::function<void(v1::Update*)> edit) {
    edit(m.mutable_updates(0));
    return m;
  };
  auto good = [&] { return SparseUpdate(0, 0, {2, 7}, {0.5, -1.0}); };
  auto attach = [&](std::function<void(v1::Attach*)> edit) {
    v1::WorkerMessage m = AttachMessage({0});
    edit(m.mutable_attach());
    return m;
  };
  using grpc::StatusCode;
  std::vector<Case> cases = {
      {"update before attach", false, good, StatusCode::FAILED_PRECONDITION, "before Attach"},
      {"empty message", false, [] { return v1::WorkerMessage(); }, StatusCode::INVALID_ARGUMENT, "empty"},
      {"attach and updates together", false,
       [&] {
         v1::WorkerMessage m = AttachMessage({0});
         *m.add_updates() = good().updates(0);
         return m;
       },
       StatusCode::INVALID_ARGUMENT, "not both"},
      {"attach without ids", false, [&] { return attach([](v1::Attach* a) { a->clear_client_ids(); }); },
       StatusCode::INVALID_ARGUMENT, "no client ids"},
      {"attach id out of range", false,
       [&] { return attach([](v1::Attach* a) { a->set_client_ids(0, 4); }); },
       StatusCode::INVALID_ARGUMENT, "client 4, outside [0, 4)"},
      {"attach repeated id", false, [&] { return attach([](v1::Attach* a) { a->add_client_ids(0); }); },
       StatusCode::INVALID_ARGUMENT, "twice"},
      {"attach wrong dimension", false, [&] { return attach([](v1::Attach* a) { a->set_dim(11); }); },
       StatusCode::FAILED_PRECONDITION, "dimension 11"},
      {"attach other problem flags", false,
       [&] { return attach([](v1::Attach* a) { a->mutable_problem()->set_seed(9); }); },
       StatusCode::FAILED_PRECONDITION, "--seed is 9"},
      {"attach other data", false,
       [&] { return attach([](v1::Attach* a) { a->set_probe_loss(a->probe_loss() + 1e-9); }); },
       StatusCode::FAILED_PRECONDITION, "data differs"},
      {"attach other run", false, [&] { return attach([](v1::Attach* a) { a->set_run_id("feedbeef"); }); },
       StatusCode::FAILED_PRECONDITION, "run feedbeef is not"},
      {"attach a client live on another stream", false,
       [&] { return AttachMessage({1}); }, StatusCode::ABORTED, "client 1 is attached by another worker"},
      {"attach twice", true, [&] { return AttachMessage({0}); }, StatusCode::FAILED_PRECONDITION,
       "twice"},
      {"another client's id", true, [&] { return SparseUpdate(0, 1, {2}, {1.0}); },
       StatusCode::PERMISSION_DENIED, "client 1, which is not attached"},
      {"unknown client id", true, [&] { return SparseUpdate(0, 999, {2}, {1.0}); },
       StatusCode::PERMISSION_DENIED, "client 999"},
      {"future round", true, [&] { return SparseUpdate(5, 0, {2}, {1.0}); },
       StatusCode::FAILED_PRECONDITION, "round 5 from client 0 is ahead"},
      {"wrong dimension", true,
       [&] { return with(good(), [](v1::Update* u) { u->mutable_c()->set_dim(11); }); },
       StatusCode::INVALID_ARGUMENT, "dimension 11"},
      {"NaN value", true, [&] { return SparseUpdate(0, 0, {2, 7}, {0.5, std::nan("")}); },
       StatusCode::INVALID_ARGUMENT, "must be finite"},
      {"infinite value", true, [&] { return SparseUpdate(0, 0, {3}, {HUGE_VAL}); },
       StatusCode::INVALID_ARGUMENT, "must be finite"},
      {"index >= d", true,
       [&] {
         SparseVector c;
         c.Clear(d + 40);
         c.indices = {3, d + 20};
         c.values = {1.0, 2.0};
         v1::WorkerMessage m = good();
         EncodeSparseVector(c, ValueType::kF32, m.mutable_updates(0)->mutable_c());
         m.mutable_updates(0)->mutable_c()->set_dim(static_cast<uint32_t>(d));
         return m;
       },
       StatusCode::INVALID_ARGUMENT, "index 30 >= dimension 10"},
      {"too many entries", true, [&] { return SparseUpdate(0, 0, {1, 2, 3}, {1, 2, 3}); },
       StatusCode::INVALID_ARGUMENT, "3 entries; at most 2"},
      {"index code with trailing bytes", true,
       [&] {
         return with(good(), [](v1::Update* u) { u->mutable_c()->mutable_index_code()->push_back('\0'); });
       },
       StatusCode::INVALID_ARGUMENT, "index code has"},
      {"index code with non-zero padding", true,
       [&] {
         return with(good(), [](v1::Update* u) {
           std::string* code = u->mutable_c()->mutable_index_code();
           code->back() = static_cast<char>(code->back() | 0x80);
         });
       },
       StatusCode::INVALID_ARGUMENT, "padding"},
      {"truncated index code (fewer indices than values)", true,
       [&] { return with(good(), [](v1::Update* u) { u->mutable_c()->clear_index_code(); }); },
       StatusCode::INVALID_ARGUMENT, "index code ends inside entry 0 of 2"},
      {"rice parameter above 30", true,
       [&] { return with(good(), [](v1::Update* u) { u->mutable_c()->set_rice_bits(31); }); },
       StatusCode::INVALID_ARGUMENT, "Rice parameter 31"},
      {"repeated index (zero gap after the first) beyond d", true,
       [&] {
         // Gaps can only move forward, so "repeated" or "unsorted" indices are unrepresentable;
         // a code whose gaps run past d is the closest hostile form.
         return with(good(), [](v1::Update* u) {
           u->mutable_c()->set_rice_bits(0);
           u->mutable_c()->set_index_code(std::string("\xff\xff\x00", 3));
         });
       },
       StatusCode::INVALID_ARGUMENT, "beyond dimension"},
      {"float64 values in a float32 run", true,
       [&] {
         return with(good(), [](v1::Update* u) {
           u->mutable_c()->clear_values_f32();
           u->mutable_c()->add_values_f64(0.5);
           u->mutable_c()->add_values_f64(1.0);
         });
       },
       StatusCode::INVALID_ARGUMENT, "float64"},
      {"dense message outside round 0", true,
       [&] {
         return with(SparseUpdate(1, 0, {}, {}), [&](v1::Update* u) {
           u->mutable_c()->set_dense(true);
           for (int64_t j = 0; j < d; ++j) u->mutable_c()->add_values_f32(1.0f);
         });
       },
       StatusCode::INVALID_ARGUMENT, "dense"},
      {"dense message of the wrong length", true,
       [&] {
         return with(SparseUpdate(0, 0, {}, {}), [&](v1::Update* u) {
           u->mutable_c()->set_dense(true);
           u->mutable_c()->add_values_f32(1.0f);
         });
       },
       StatusCode::INVALID_ARGUMENT, "dense c has 1 values; expected 10"},
      {"no compressed message", true, [&] { return with(good(), [](v1::Update* u) { u->clear_c(); }); },
       StatusCode::INVALID_ARGUMENT, "no compressed message"},
      {"no loss", true, [&] { return with(good(), [](v1::Update* u) { u->clear_loss(); }); },
       StatusCode::INVALID_ARGUMENT, "no loss"},
      {"NaN loss", true, [&] { return with(good(), [](v1::Update* u) { u->set_loss(std::nan("")); }); },
       StatusCode::INVALID_ARGUMENT, "loss nan"},
      {"missing diagnostic gradient", true,
       [&] { return with(good(), [](v1::Update* u) { u->clear_gradient(); }); },
       StatusCode::INVALID_ARGUMENT, "dense gradient"},
      {"infinite gradient entry", true,
       [&] { return with(good(), [](v1::Update* u) { u->set_gradient(4, -HUGE_VAL); }); },
       StatusCode::INVALID_ARGUMENT, "gradient value"},
      {"same client twice in a batch", true,
       [&] {
         v1::WorkerMessage m = good();
         *m.add_updates() = m.updates(0);
         return m;
       },
       StatusCode::INVALID_ARGUMENT, "must increase"},
      {"oversized message", true,
       [&] {
         v1::WorkerMessage m = good();
         for (int j = 0; j < 200000; ++j) m.mutable_updates(0)->add_gradient(1.0);
         return m;
       },
       StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  int refused = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawStream s(stub_.get());
    if (c.attach_first) {
      v1::Welcome w;
      v1::RoundStart r;
      AttachOk(&s, {0}, &w, &r);
    }
    s.Write(c.message());
    const grpc::Status status = s.Finish(/*writes_done=*/false);
    EXPECT_EQ(status.error_code(), c.expected) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), c.message_part))
        << "\"" << status.error_message() << "\" lacks \"" << c.message_part << "\"";
    if (c.name == "attach other run") {
      const auto& trailers = s.context().GetServerTrailingMetadata();
      auto it = trailers.find("ef21-run-id");
      ASSERT_NE(it, trailers.end());
      EXPECT_EQ(std::string(it->second.data(), it->second.size()), aggregator_->run_id());
    }
    EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
    if (status.error_code() != StatusCode::RESOURCE_EXHAUSTED) ++refused;
  }
  EXPECT_GE(cases.size(), 20u);
  // Bytes that are no protobuf at all: gRPC's callback API reports them to the reactor as a failed
  // read (as it would a half-close), which before the run's end is refused as INVALID_ARGUMENT.
  const grpc::Status garbage = SendGarbage(channel_, std::string("\xff\xff\xff\xff\x0f\x12", 6));
  EXPECT_EQ(garbage.error_code(), StatusCode::INVALID_ARGUMENT) << garbage.error_message();
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  ++refused;
  // The oversized message is refused by gRPC itself; the reactor sees it as a failed read, which
  // counts unless gRPC marked the call cancelled first.
  EXPECT_GE(MetricTotal("ef21_rejected_messages_total"), refused) << aggregator_->metrics().Render();
  EXPECT_LE(MetricTotal("ef21_rejected_messages_total"), refused + 1);
  // Every reason the catalogue produced is one of the reasons whose series exist from the start.
  {
    const std::string text = aggregator_->metrics().Render();
    const std::string prefix = "ef21_rejected_messages_total{reason=\"";
    for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
      const size_t begin = at + prefix.size();
      const std::string reason = text.substr(begin, text.find('"', begin) - begin);
      EXPECT_TRUE(std::any_of(kRejectionReasonNames.names().begin(), kRejectionReasonNames.names().end(),
                              [&](const char* known) { return reason == known; }))
          << "reason \"" << reason << "\" is missing from kRejectionReasonNames";
    }
  }

  // Exactly once: client 0's honest update closes round 0; resent after a reconnect it is a
  // counted duplicate and changes nothing. (The oversized message's stream may still be detaching:
  // gRPC ends it before the reactor hears of it.)
  ASSERT_TRUE(aggregator_->coordinator().WaitForDetached(0, absl::Seconds(30)));
  std::unique_ptr<ClientMethod> client0 = ClientMethod::Create(context_, 0);
  const v1::WorkerMessage update0 = HonestUpdate(client0.get(), start0);
  v1::RoundStart start1;
  {
    RawStream s(stub_.get());
    v1::Welcome w;
    v1::RoundStart r;
    AttachOk(&s, {0}, &w, &r);
    ASSERT_TRUE(s.Write(update0));
    v1::ServerMessage m;
    ASSERT_TRUE(s.Read(&m));
    ASSERT_TRUE(m.has_round_start());
    start1 = m.round_start();
    EXPECT_EQ(start1.round(), 1u);
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
    // A different update for the accepted (client, round) is refused.
    v1::WorkerMessage conflicting = update0;
    conflicting.mutable_updates(0)->set_loss(update0.updates(0).loss() + 1);
    ASSERT_TRUE(s.Write(conflicting));
    const grpc::Status status = s.Finish(false);
    EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "different update for round 0"));
  }
  EXPECT_EQ(MetricTotal("ef21_duplicate_updates_total"), 1);
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash1);
  // Round 1 from client 0, then a round-0 message is stale.
  {
    RawStream s(stub_.get());
    v1::Welcome w;
    v1::RoundStart r;
    AttachOk(&s, {0}, &w, &r);
    ASSERT_TRUE(s.Write(HonestUpdate(client0.get(), start1)));
    v1::ServerMessage m;
    ASSERT_TRUE(s.Read(&m));
    ASSERT_TRUE(m.has_round_start());
    EXPECT_EQ(m.round_start().round(), 2u);
    ASSERT_TRUE(s.Write(update0));
    const grpc::Status status = s.Finish(false);
    EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "is stale: round 2 is open"));
  }

  // An honest host takes client 0 over (a fresh process: g_0 comes from the aggregator) and the
  // run finishes equal to the simulation.
  StartHost(0, 0);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  ASSERT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
  hosts_.Join();
  ASSERT_EQ(hosts_.size(), 2u);
  EXPECT_TRUE(hosts_.result(0).ok()) << hosts_.result(0).status();
  EXPECT_TRUE(hosts_.result(1).ok()) << hosts_.result(1).status();

  const absl::StatusOr<std::vector<MetricsRow>> simulated = test::SimulateRows(config_);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  EXPECT_TRUE(test::SameTrajectory(aggregator_->log().rows(), *simulated));
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
  EXPECT_EQ(aggregator_->coordinator().rounds_closed(), static_cast<uint64_t>(config_.rounds + 1));  // rows 0..K
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
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "--per-client-metrics-max must be >= 0; got -1"))
      << refused.status();
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

}  // namespace
}  // namespace ef21
