// Authentication over real gRPC on 127.0.0.1 with certificates made by tools/make_certs.sh
// (openssl): mutual TLS and bearer tokens bind each worker identity to its client ids; a stream
// without credentials, with a certificate from another CA, with a wrong token, or asking for ids
// it is not granted is refused before it touches the run, and the refusal says nothing about the
// run (issue 10: a client with no credentials attached as free ids and poisoned the run).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/worker_host.h"
#include "common/base/bounded_file.h"
#include "common/run/problem_factory.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/codec.h"
#include "server/aggregator.h"
#include "server/worker_auth.h"
#include "tests/testing/aggregator_fixture.h"
#include "tests/testing/runs.h"

namespace ef21 {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kToken[] = "s3cret-token-of-worker-1";

std::string Dir() {
  static const std::string dir = ::testing::TempDir() + "/tls_test_" + std::to_string(::getpid());
  return dir;
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> text = ReadBoundedFile(path, 1 << 20, "test file");
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

RunConfig TestConfig() {
  return test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/5);
}

class TlsTest : public test::AggregatorFixture {
 protected:
  static void SetUpTestSuite() {
    const std::string make = std::string(EF21_SOURCE_DIR) + "/tools/make_certs.sh";
    ASSERT_EQ(std::system((make + " " + Dir() + " worker-0 worker-1 2>/dev/null").c_str()), 0);
    ASSERT_EQ(std::system((make + " " + Dir() + "/rogue worker-0 2>/dev/null").c_str()), 0);
    std::ofstream(Dir() + "/workers") << "# identity  ids  [token]\n"
                                      << "worker-0 0-1\n"
                                      << "worker-1 2-3 token-sha256=" << Sha256Hex(kToken) << "\n";
    std::ofstream(Dir() + "/token") << kToken << "\n";
    std::ofstream(Dir() + "/wrong-token") << "not-the-token\n";
  }

  void SetUp() override {
    Aggregator::Options options = test::LoopbackOptions(TestConfig());
    options.insecure = false;
    options.tls_cert = Dir() + "/aggregator.pem";
    options.tls_key = Dir() + "/aggregator.key";
    options.tls_ca = Dir() + "/ca.pem";
    options.workers_file = Dir() + "/workers";
    ASSERT_NO_FATAL_FAILURE(StartAggregator(TestConfig(), options, Tls()));
  }

  WorkerHost::Options HostOptions(int64_t first, int64_t last) {
    WorkerHost::Options o = test::HostOptions(config_, aggregator_->address(), first, last);
    o.insecure = false;
    o.tls_ca = Dir() + "/ca.pem";
    o.connect_timeout = absl::Seconds(20);
    return o;
  }

  // A raw stream with `credentials`, optional bearer metadata, sending a correct Attach for ids.
  grpc::Status RawAttach(std::shared_ptr<grpc::ChannelCredentials> credentials,
                         const std::string& authorization, std::vector<int64_t> ids,
                         std::multimap<grpc::string_ref, grpc::string_ref>* trailers = nullptr,
                         std::string* run_id_seen = nullptr) {
    auto channel = grpc::CreateChannel(aggregator_->address(), credentials);
    auto stub = v1::Aggregator::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    auto stream = stub->Train(&context);
    stream->Write(AttachMessage(std::move(ids)));
    stream->WritesDone();
    v1::ServerMessage in;
    while (stream->Read(&in)) {
      if (in.has_welcome() && run_id_seen != nullptr) *run_id_seen = in.welcome().run_id();
    }
    grpc::Status status = stream->Finish();
    if (trailers != nullptr) {
      for (const auto& [k, v] : context.GetServerTrailingMetadata()) trailers->emplace(k, v);
    }
    return status;
  }

  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& cert_prefix = "",
                                                const std::string& ca = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Read(ca.empty() ? Dir() + "/ca.pem" : ca);
    if (!cert_prefix.empty()) {
      ssl.pem_cert_chain = Read(cert_prefix + ".pem");
      ssl.pem_private_key = Read(cert_prefix + ".key");
    }
    return grpc::SslCredentials(ssl);
  }
};

TEST_F(TlsTest, CertificateAndTokenWorkersCompleteTheRun) {
  WorkerHost::Options cert = HostOptions(0, 1);
  cert.tls_cert = Dir() + "/worker-0.pem";
  cert.tls_key = Dir() + "/worker-0.key";
  WorkerHost::Options token = HostOptions(2, 3);
  token.token_file = Dir() + "/token";
  const size_t a = StartHost(cert);
  const size_t b = StartHost(token);
  ASSERT_TRUE(aggregator_->Wait(absl::Seconds(60)));
  hosts_.Join();
  EXPECT_TRUE(HostStatus(a).ok()) << HostStatus(a);
  EXPECT_TRUE(HostStatus(b).ok()) << HostStatus(b);
  EXPECT_TRUE(aggregator_->coordinator().complete()) << aggregator_->coordinator().status();
}

TEST_F(TlsTest, StreamsWithoutValidCredentialsAreRefusedAndLearnNothing) {
  const uint64_t hash = aggregator_->coordinator().StateHash();
  const std::string run_id = aggregator_->run_id();
  struct Case {
    std::string name;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    std::string authorization;
    grpc::StatusCode code;
  };
  const std::vector<Case> cases = {
      {"TLS without a certificate or token", Tls(), "", grpc::StatusCode::UNAUTHENTICATED},
      {"a wrong token", Tls(), "Bearer not-the-token", grpc::StatusCode::UNAUTHENTICATED},
      {"a token sent as a bare value", Tls(), kToken, grpc::StatusCode::UNAUTHENTICATED},
      // The handshake fails: the aggregator does not accept the rogue CA's certificate.
      {"a certificate from another CA", Tls(Dir() + "/rogue/worker-0"), "",
       grpc::StatusCode::UNAVAILABLE},
      {"plaintext", grpc::InsecureChannelCredentials(), "", grpc::StatusCode::UNAVAILABLE},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::multimap<grpc::string_ref, grpc::string_ref> trailers;
    std::string seen;
    const grpc::Status status = RawAttach(c.credentials, c.authorization, {0, 1}, &trailers, &seen);
    EXPECT_EQ(status.error_code(), c.code) << status.error_message();
    EXPECT_THAT(status.error_message(), Not(HasSubstr(run_id)));
    EXPECT_THAT(status.error_message(), Not(HasSubstr("breast-cancer")));
    EXPECT_EQ(trailers.count("ef21-run-id"), 0u);
    EXPECT_EQ(seen, "");
    EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  }
  EXPECT_THAT(aggregator_->metrics().Render(),
              HasSubstr("ef21_rejected_messages_total{reason=\"unauthenticated\"} 3"));
}

TEST_F(TlsTest, AnIdentityMayCarryOnlyItsOwnClients) {
  const uint64_t hash = aggregator_->coordinator().StateHash();
  // worker-0 (certificate) asks for worker-1's clients; worker-1 (token) for worker-0's.
  grpc::Status status = RawAttach(Tls(Dir() + "/worker-0"), "", {1, 2, 3});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "identity 'worker-0' may not carry clients 2-3");
  status = RawAttach(Tls(), absl::StrCat("Bearer ", kToken), {0});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "identity 'worker-1' may not carry clients 0");
  EXPECT_EQ(aggregator_->coordinator().StateHash(), hash);
  // Its own clients: attached (the stream then ends when the test half-closes).
  std::string seen;
  RawAttach(Tls(Dir() + "/worker-0"), "", {0, 1}, nullptr, &seen);
  EXPECT_EQ(seen, aggregator_->run_id());
}

TEST(WorkerAuthorizerTest, ParsesTheWorkersFileAndNamesBadLines) {
  auto ok = WorkerAuthorizer::Parse(
      "a 0-3,7 # comment\n\nb 4-6 token-sha256=" + std::string(64, 'A') + "\n", "workers");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->Denied("a", {0, 3, 4, 7, 8}), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ((*ok)->Denied("nobody", {1}), (std::vector<int64_t>{1}));
  for (const char* bad : {"a", "a 3-1", "a x", "a 1 token=abc", "a 1\na 2", ""}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(WorkerAuthorizer::Parse(bad, "workers").status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AggregatorOptionsTest, PlaintextNeedsAnExplicitInsecure) {
  Aggregator::Options options;
  options.config = TestConfig();
  options.insecure = false;
  EXPECT_THAT(options.Validate().message(), HasSubstr("or an explicit --insecure"));
  options.tls_cert = "c.pem";
  options.tls_key = "k.pem";
  EXPECT_THAT(options.Validate().message(), HasSubstr("--workers-file is required"));
  options.insecure = true;
  EXPECT_THAT(options.Validate().message(), HasSubstr("--insecure serves plaintext"));
  WorkerHost::Options worker;
  worker.aggregator = "127.0.0.1:1";
  worker.insecure = false;
  EXPECT_THAT(worker.Validate().message(), HasSubstr("or an explicit --insecure"));
}

}  // namespace
}  // namespace ef21
