#include "tests/testing/aggregator_fixture.h"

#include <algorithm>
#include <utility>

namespace ef21::test {

Aggregator::Options LoopbackOptions(const RunConfig& config) {
  Aggregator::Options options;
  options.config = config;
  options.listen = "127.0.0.1:0";
  options.audit_out = nullptr;
  return options;
}

RawStream::RawStream(v1::Aggregator::Stub* stub, const std::string& authorization) {
  context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (!authorization.empty()) context_.AddMetadata("authorization", authorization);
  stream_ = stub->Train(&context_);
}

v1::RoundStart RawStream::Attach(const v1::WorkerMessage& attach) {
  EXPECT_TRUE(Write(attach));
  v1::ServerMessage m;
  EXPECT_TRUE(Read(&m));
  EXPECT_TRUE(m.has_welcome());
  EXPECT_TRUE(Read(&m));
  EXPECT_TRUE(m.has_round_start());
  return m.round_start();
}

grpc::Status RawStream::Finish(bool writes_done) {
  if (writes_done) stream_->WritesDone();
  v1::ServerMessage m;
  while (stream_->Read(&m)) {
  }
  return stream_->Finish();
}

void RawStream::Cancel() {
  context_.TryCancel();
  (void)Finish(/*writes_done=*/false);
}

void AggregatorFixture::StartAggregator(const RunConfig& config, const Aggregator::Options& options,
                                        std::shared_ptr<grpc::ChannelCredentials> credentials) {
  config_ = config;
  auto aggregator = Aggregator::Start(options);
  ASSERT_TRUE(aggregator.ok()) << aggregator.status();
  aggregator_ = std::move(*aggregator);
  if (credentials == nullptr) credentials = grpc::InsecureChannelCredentials();
  channel_ = grpc::CreateChannel(aggregator_->address(), credentials);
  stub_ = v1::Aggregator::NewStub(channel_);
  absl::StatusOr<ProblemAndContext> run = CreateProblemAndContext(config_);
  ASSERT_TRUE(run.ok()) << run.status();
  problem_ = run->problem;
  context_ = run->context;
}

void AggregatorFixture::TearDown() {
  if (aggregator_ != nullptr) aggregator_->Stop("test over");
  // A host still retrying (a refused overlap) would otherwise wait out its connect timeout.
  hosts_.CancelAll();
  hosts_.Join();
  if (aggregator_ != nullptr) (void)aggregator_->Shutdown(absl::Seconds(2));
  aggregator_.reset();
}

size_t AggregatorFixture::StartHost(WorkerHost::Options options) {
  const absl::Status started = hosts_.Start(std::move(options));
  EXPECT_TRUE(started.ok()) << started;
  return hosts_.size() - 1;
}

size_t AggregatorFixture::StartHost(int64_t first, int64_t last) {
  return StartHost(HostOptions(config_, aggregator_->address(), first, last));
}

v1::WorkerMessage AggregatorFixture::AttachMessage(std::vector<int64_t> ids) const {
  v1::WorkerMessage m;
  std::sort(ids.begin(), ids.end());
  *m.mutable_attach() = HonestAttach(config_, *problem_, ids);
  return m;
}

}  // namespace ef21::test
