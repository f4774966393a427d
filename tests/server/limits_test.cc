// Issue 10's operator errors and hostile clients, each over real gRPC on 127.0.0.1: a held port,
// bad --listen values, a silent squatter (--round-timeout), values near the top of the float64
// range, a g_i pushed past the bound, data that differs in one feature, clients no worker carries
// or two workers claim, and half-sent HTTP requests to /metrics.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "client/worker_host.h"
#include "common/run/problem_factory.h"
#include "common/run/simulator.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/codec.h"
#include "server/aggregator.h"
#include "tests/server/http_get.h"
#include "tests/testing/aggregator_fixture.h"
#include "tests/testing/runs.h"

namespace ef21 {
namespace {

using ::testing::HasSubstr;

RunConfig TestConfig(const std::string& out) {
  RunConfig c = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/6);
  c.out = out;
  return c;
}

std::string TempDir(const std::string& name) {
  return ::testing::TempDir() + "/limits_test_" + name + "_" + std::to_string(::getpid());
}

// The whole text of a FILE* the aggregator writes its audit log to.
std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::string text;
  char buffer[4096];
  const long end = std::ftell(f);
  std::rewind(f);
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) text.append(buffer, n);
  std::fseek(f, end, SEEK_SET);
  return text;
}

// Polls `predicate` every 50 ms for up to `timeout`: the audit log is written by another thread
// with nothing to wait on.
template <typename Predicate>
bool Eventually(Predicate predicate, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (predicate()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return predicate();
}

class LimitsTest : public test::AggregatorFixture {
 protected:
  // The aggregator of `config` on loopback, auditing into audit_ and recording rows into
  // recorder_, its options edited by `edit`.
  void StartAggregator(RunConfig config, std::function<void(Aggregator::Options*)> edit = {}) {
    audit_ = std::tmpfile();
    ASSERT_NE(audit_, nullptr);
    Aggregator::Options options = test::LoopbackOptions(config);
    options.audit_out = audit_;
    options.observer = recorder_.Observer();
    if (edit) edit(&options);
    AggregatorFixture::StartAggregator(config, options);
  }

  void TearDown() override {
    AggregatorFixture::TearDown();
    if (audit_ != nullptr) std::fclose(audit_);
  }

  using AggregatorFixture::StartHost;
  // A host of clients first..last that loads the problem of `problem`.
  size_t StartHost(int64_t first, int64_t last, const RunConfig& problem) {
    return StartHost(test::HostOptions(problem, aggregator_->address(), first, last));
  }

  // A correct Attach for `ids` from a worker named "hostile" (as the audit log shows it).
  v1::WorkerMessage HostileAttach(std::vector<int64_t> ids) {
    v1::WorkerMessage m = AttachMessage(std::move(ids));
    m.mutable_attach()->set_worker_name("hostile");
    return m;
  }

  // An update of `client` for `start` whose diagnostics are honest and whose c is `c`.
  v1::WorkerMessage UpdateWith(int64_t client, const v1::RoundStart& start, const SparseVector& c) {
    EvalPoint point;
    problem_->Prepare(MapVector(start.x()), &point);
    Vector gradient;
    const double loss = problem_->LossAndGradient(client, point, &gradient);
    v1::WorkerMessage m;
    v1::Update* u = m.add_updates();
    u->set_round(start.round());
    u->set_client_id(static_cast<uint32_t>(client));
    EncodeSparseVector(c, config_.value_type, u->mutable_c());
    u->set_loss(loss);
    if (start.diagnostics()) AssignVector(gradient, u->mutable_gradient());
    return m;
  }

  SparseVector OneEntry(int32_t index, double value) {
    SparseVector c;
    c.Clear(problem_->dim());
    c.indices = {index};
    c.values = {value};
    return c;
  }

  void ExpectEqualsSimulation() {
    RunConfig sim_config = config_;
    sim_config.out.clear();
    const auto simulated = test::SimulateRows(sim_config);
    ASSERT_TRUE(simulated.ok()) << simulated.status();
    const std::vector<MetricsRow>& expected = *simulated;
    const std::vector<MetricsRow> got = recorder_.rows();
    ASSERT_EQ(got.size(), expected.size());
    for (size_t r = 0; r < got.size(); ++r) {
      MetricsRow a = got[r], b = expected[r];
      a.wall_seconds = b.wall_seconds = 0;
      EXPECT_EQ(RunLog::FormatRow(a), RunLog::FormatRow(b)) << "round " << r;
    }
  }

  std::FILE* audit_ = nullptr;
  test::RowRecorder recorder_;  // outlives the aggregator, which TearDown destroys
};

using test::RawStream;

TEST(ListenTest, BadPortsAreRefusedBeforeBinding) {
  for (const char* listen : {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:http"}) {
    SCOPED_TRACE(listen);
    Aggregator::Options options;
    options.config = TestConfig("");
    options.listen = listen;
    auto aggregator = Aggregator::Start(options);
    EXPECT_EQ(aggregator.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(aggregator.status().message(), HasSubstr("--listen="));
  }
  Aggregator::Options options;
  options.config = TestConfig("");
  options.metrics_listen = "127.0.0.1:70000";
  EXPECT_THAT(Aggregator::Start(options).status().message(), HasSubstr("--metrics-listen="));
}

TEST(ListenTest, ASecondAggregatorOnAHeldPortFails) {
  Aggregator::Options options;
  options.config = TestConfig("");
  options.audit_out = nullptr;
  auto first = Aggregator::Start(options);
  ASSERT_TRUE(first.ok()) << first.status();
  options.listen = (*first)->address();
  auto second = Aggregator::Start(options);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("the port is in use"));
  (void)(*first)->Shutdown(absl::Seconds(1));
}

TEST_F(LimitsTest, AValueNearTheTopOfTheFloat64RangeIsRefusedAndTheRunGoesOn) {
  RunConfig config = TestConfig(TempDir("overflow"));
  config.value_type = ValueType::kF64;
  StartAggregator(config);
  {
    RawStream s(stub_.get());
    const v1::RoundStart start = s.Attach(HostileAttach({0}));
    ASSERT_TRUE(s.Write(UpdateWith(0, start, OneEntry(3, 1.7e308))));
    const grpc::Status status = s.Finish(/*writes_done=*/false);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("from client 0"));
    EXPECT_THAT(status.error_message(), HasSubstr("|values| must be at most 1e+30"));
  }
  const size_t host = StartHost(0, 3);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  hosts_.Join();
  EXPECT_TRUE(HostStatus(host).ok()) << HostStatus(host);
  ASSERT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
  ExpectEqualsSimulation();
  EXPECT_THAT(ReadAll(audit_), HasSubstr("\"reason\":\"value_too_large\""));
}

// The largest Attach an honest worker sends for `n` clients: every id, constant and claim field
// at its widest encoding (4 held hashes and a resend per client), a 4 kB data path and worker name.
v1::Attach WidestHonestAttach(int64_t n) {
  v1::Attach a;
  a.set_run_id(std::string(32, 'f'));
  a.mutable_problem()->set_problem("logreg");
  a.mutable_problem()->set_data(std::string(4096, 'd'));
  a.mutable_problem()->set_split("contiguous");
  a.set_dim(UINT32_MAX);
  a.set_clients(UINT32_MAX);
  a.set_data_digest(UINT64_MAX);
  a.set_worker_name(std::string(4096, 'w'));
  for (int64_t j = 0; j < n; ++j) {
    const uint32_t id = UINT32_MAX - static_cast<uint32_t>(j);
    a.add_client_ids(id);
    v1::ClientConstants* c = a.add_constants();
    c->set_client_id(id);
    c->set_rows(UINT64_MAX);
    c->set_l(1e300);
    c->set_l0(1e300);
    c->set_l1(1e300);
    c->set_data_digest(UINT64_MAX);
    v1::ClientClaim* claim = a.add_claims();
    claim->set_client_id(id);
    for (int h = 0; h < kMaxHeldPerClaim; ++h) claim->add_held(UINT64_MAX - h);
    claim->set_can_resend(true);
    claim->set_resend_round(UINT64_MAX);
    claim->set_resend_from(UINT64_MAX);
  }
  return a;
}

// gRPC's receive limit (Aggregator::MaxReceiveMessageBytes, which also bounds the updates) admits
// every honest Attach, even at d = 1, and CheckClaimBounds admits its claims.
TEST(AttachLimitsTest, TheMessageLimitAdmitsTheWidestHonestAttach) {
  for (int64_t n : {1, 16, 1605, 100000}) {
    SCOPED_TRACE(n);
    v1::WorkerMessage m;
    *m.mutable_attach() = WidestHonestAttach(n);
    EXPECT_LE(static_cast<int64_t>(m.ByteSizeLong()), Aggregator::MaxReceiveMessageBytes(1, n));
    EXPECT_TRUE(CheckClaimBounds(m.attach()).ok()) << CheckClaimBounds(m.attach());
  }
  // One hash more for one client is refused, naming the limit and what came.
  v1::Attach a = WidestHonestAttach(3);
  a.mutable_claims(2)->add_held(7);
  const absl::Status s = CheckClaimBounds(a);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("claim 2 (client 4294967293) holds 5 state hashes; at most 4"));
}

// An Attach claiming 10^5 state hashes for one client (800 kB, past this run's ~68 kB receive
// limit) is refused by gRPC before any of it is parsed, and the run goes on unchanged.
TEST_F(LimitsTest, AGiantAttachIsRefusedByTheMessageLimitAndTheRunGoesOn) {
  RunConfig config = TestConfig(TempDir("giant_attach"));
  config.client_state = ClientStateMode::kWorker;
  StartAggregator(config);
  StartHost(1, 3);
  ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(3, absl::Seconds(30)));
  const uint64_t hash = aggregator_->coordinator().StateHash();
  v1::WorkerMessage giant = HostileAttach({0});
  v1::ClientClaim* claim = giant.mutable_attach()->add_claims();
  claim->set_client_id(0);
  for (uint64_t h = 0; h < 100000; ++h) claim->add_held(h);
  ASSERT_GT(static_cast<int64_t>(giant.ByteSizeLong()),
            Aggregator::MaxReceiveMessageBytes(problem_->dim(), problem_->num_clients()));
  {
    RawStream s(stub_.get());
    s.Write(giant);
    const grpc::Status status = s.Finish(/*writes_done=*/false);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  }
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  EXPECT_EQ(aggregator_->coordinator().rounds_closed(), 0u);
  const size_t host = StartHost(0, 0);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  hosts_.Join();
  EXPECT_TRUE(HostStatus(host).ok()) << HostStatus(host);
  ASSERT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
  ExpectEqualsSimulation();
}

TEST_F(LimitsTest, AnUpdateThatWouldTakeGiPastTheBoundIsRefusedNamingTheClient) {
  // Each c_0 entry is within the bound, but two of them take g_0 past it.
  StartAggregator(TestConfig(TempDir("state_overflow")),
                  [](Aggregator::Options* o) { o->max_update_value = 10; });
  StartHost(1, 3);
  RawStream s(stub_.get());
  const v1::RoundStart start0 = s.Attach(HostileAttach({0}));
  ASSERT_TRUE(s.Write(UpdateWith(0, start0, OneEntry(2, 9.0))));
  v1::ServerMessage m;
  ASSERT_TRUE(s.Read(&m));
  ASSERT_TRUE(m.has_round_start());
  ASSERT_EQ(m.round_start().round(), 1u);
  ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(3, absl::Seconds(30)));
  const uint64_t hash = aggregator_->coordinator().StateHash();
  ASSERT_TRUE(s.Write(UpdateWith(0, m.round_start(), OneEntry(2, 9.0))));
  const grpc::Status status = s.Finish(/*writes_done=*/false);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("from client 0 would take g_0 beyond the bound"));
  // Refused as if never sent: round 1 is still open, waiting for client 0.
  EXPECT_EQ(aggregator_->coordinator().rounds_closed(), 1u);
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  EXPECT_THAT(aggregator_->metrics().Render(),
              HasSubstr("ef21_rejected_messages_total{reason=\"state_overflow\"} 1"));
  // The run goes on with client 0's owner.
  const size_t host0 = StartHost(0, 0);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  hosts_.Join();
  EXPECT_TRUE(HostStatus(host0).ok()) << HostStatus(host0);
  EXPECT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
}

TEST_F(LimitsTest, ASilentSquatterIsDetachedAfterTheRoundTimeoutAndTheOwnerTakesOver) {
  StartAggregator(TestConfig(TempDir("squatter")),
                  [](Aggregator::Options* o) { o->round_timeout = absl::Seconds(1); });
  RawStream squatter(stub_.get());
  squatter.Attach(HostileAttach({0, 1, 2, 3}));
  // The owner retries while the squatter holds the ids, then takes them over.
  const size_t host = StartHost(0, 3);
  const grpc::Status squatted = squatter.Finish(/*writes_done=*/false);
  EXPECT_EQ(squatted.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(squatted.error_message(), HasSubstr("without updates from clients 0-3"));
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  hosts_.Join();
  EXPECT_TRUE(HostStatus(host).ok()) << HostStatus(host);
  ASSERT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
  ExpectEqualsSimulation();
  const std::string audit = ReadAll(audit_);
  EXPECT_THAT(audit, HasSubstr("\"event\":\"round_timeout\""));
  EXPECT_THAT(audit, HasSubstr("\"worker\":\"hostile\""));
}

TEST_F(LimitsTest, AWorkerWhoseDataDiffersInOneFeatureIsRefused) {
  StartAggregator(TestConfig(TempDir("data")));
  // The run's data with one value of feature 4 changed, in the last client's rows.
  std::ifstream in(config_.data);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_GT(lines.size(), 600u);
  std::string& line = lines[600];
  const size_t at = line.find(" 4:");
  ASSERT_NE(at, std::string::npos) << line;
  // Append a digit to the value: 0.5 -> 0.51, -1 -> -11.
  size_t end = line.find(' ', at + 3);
  if (end == std::string::npos) end = line.size();
  line.insert(end, "1");
  const std::string path = TempDir("data") + ".svm";
  {
    std::ofstream out(path);
    for (const std::string& l : lines) out << l << "\n";
  }
  RunConfig other = config_;
  other.data = path;
  const size_t host = StartHost(0, 3, other);
  hosts_.Join();
  EXPECT_EQ(HostStatus(host).code(), absl::StatusCode::kFailedPrecondition) << HostStatus(host);
  EXPECT_THAT(HostStatus(host).message(), HasSubstr("data differs from the run's for clients 0-3"));
}

TEST_F(LimitsTest, ClientsWithoutAWorkerAndOverlappingWorkersAreReportedWithinSeconds) {
  StartAggregator(TestConfig(TempDir("coverage")), [](Aggregator::Options* o) {
    o->coverage_report_after = absl::Milliseconds(200);
  });
  StartHost(0, 1);
  ASSERT_TRUE(aggregator_->coordinator().WaitForReceived(2, absl::Seconds(30)));
  EXPECT_TRUE(Eventually(
      [&] {
        const std::string audit = ReadAll(audit_);
        return absl::StrContains(audit, "\"event\":\"unassigned_clients\"") &&
               absl::StrContains(audit, "waiting for clients 2-3, which have no worker");
      },
      absl::Seconds(10)))
      << ReadAll(audit_);
  // A second worker claims 1-3: 1 is carried by the first.
  StartHost(1, 3);
  EXPECT_TRUE(Eventually(
      [&] {
        const std::string audit = ReadAll(audit_);
        return absl::StrContains(audit, "\"event\":\"client_overlap\"") &&
               absl::StrContains(audit, "asked for clients 1-3; 1 are carried by worker");
      },
      absl::Seconds(10)))
      << ReadAll(audit_);
  EXPECT_THAT(aggregator_->metrics().Render(),
              HasSubstr("ef21_audit_events_total{event=\"client_overlap\"}"));
}

// Opens a TCP connection to 127.0.0.1:port and sends `bytes`, leaving it open.
int HalfSend(int port, const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  (void)!::write(fd, bytes.data(), bytes.size());
  return fd;
}

TEST(MetricsEndpointTest, HalfSentRequestsDoNotBlockScrapes) {
  AggregatorMetrics::Options options;
  options.listen = "127.0.0.1:0";
  options.clients = 2;
  auto metrics = AggregatorMetrics::Start(options);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const int port = (*metrics)->port();
  // More half-sent requests than serving threads; each holds a thread until its request times out.
  std::vector<int> held;
  for (int i = 0; i < 6; ++i) {
    const int fd = HalfSend(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n");
    ASSERT_GE(fd, 0);
    held.push_back(fd);
  }
  // http_get.h gives up after 10 s; civetweb's default request timeout is 30 s.
  absl::StatusOr<std::string> scrape = testing_http::HttpGet(port, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  EXPECT_THAT(*scrape, HasSubstr("ef21_rounds_completed_total"));
  for (int fd : held) ::close(fd);
}

}  // namespace
}  // namespace ef21
