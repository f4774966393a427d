// The server tests' common fixture: a real aggregator on 127.0.0.1:0, a stub on a channel to it,
// the run's problem and method context, worker hosts on threads, and raw Train streams for what a
// hostile or buggy worker could send. TearDown stops the aggregator, cancels and joins the hosts
// and shuts the server down.
//
//   class LimitsTest : public test::AggregatorFixture {};
//   TEST_F(LimitsTest, ...) {
//     ASSERT_NO_FATAL_FAILURE(StartAggregator(config, test::LoopbackOptions(config)));
//     test::RawStream s(stub_.get());
//     const v1::RoundStart start = s.Attach(AttachMessage({0}));
//   }
#ifndef EF21_TESTS_TESTING_AGGREGATOR_FIXTURE_H_
#define EF21_TESTS_TESTING_AGGREGATOR_FIXTURE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client/worker_host.h"
#include "common/methods/method.h"
#include "common/problems/problem.h"
#include "common/run/run_config.h"
#include "ef21/v1/ef21.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/aggregator.h"
#include "tests/testing/runs.h"

namespace ef21::test {

// Aggregator options for `config` on 127.0.0.1:0 with no audit log.
Aggregator::Options LoopbackOptions(const RunConfig& config);

// A raw Train stream. Not thread-safe.
class RawStream {
 public:
  // `authorization`: the "authorization" metadata (a bearer token), none when empty.
  explicit RawStream(v1::Aggregator::Stub* stub, const std::string& authorization = "");
  bool Write(const v1::WorkerMessage& m) { return stream_->Write(m); }
  bool Read(v1::ServerMessage* m) { return stream_->Read(m); }
  // Sends `attach`, reads Welcome and the open round's RoundStart and returns the latter.
  v1::RoundStart Attach(const v1::WorkerMessage& attach);
  // Half-closes (unless !writes_done), drains what the server still sends and returns the
  // stream's status.
  grpc::Status Finish(bool writes_done = true);
  // Leaves the stream the way a crashed worker does: cancelled, not refused.
  void Cancel();
  grpc::ClientContext& context() { return context_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>> stream_;
};

// Public: tables of cases (functions outside the fixture) reach into it.
class AggregatorFixture : public ::testing::Test {
 public:
  // Starts the aggregator of `options` (usually LoopbackOptions(config), edited) for the run
  // `config` as the workers load it (an aggregator may hold less, e.g. no data), and fills config_,
  // channel_ (with `credentials`; plaintext when null), stub_, and problem_ and context_ of
  // `config`. Fatal failures: call in ASSERT_NO_FATAL_FAILURE.
  void StartAggregator(const RunConfig& config, const Aggregator::Options& options,
                       std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);
  // Stops the aggregator, cancels and joins the hosts, shuts the aggregator down and destroys it,
  // so that what a derived fixture gave it (an observer, an audit file) outlives it.
  void TearDown() override;

  // Runs a worker host of `options` on a thread; its result is hosts_.result(returned index) once
  // hosts_.Join() returned. A host that could not be created is a test failure.
  size_t StartHost(WorkerHost::Options options);
  // An honest host for clients first..last of config_.
  size_t StartHost(int64_t first, int64_t last);
  // The outcome of host `i` (after hosts_.Join()).
  absl::Status HostStatus(size_t i) const { return hosts_.result(i).status(); }

  // A correct Attach for `ids` (sorted here).
  v1::WorkerMessage AttachMessage(std::vector<int64_t> ids) const;

  RunConfig config_;
  std::unique_ptr<Aggregator> aggregator_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Aggregator::Stub> stub_;
  std::shared_ptr<const Problem> problem_;
  std::shared_ptr<const MethodContext> context_;
  HostThreads hosts_;
};

}  // namespace ef21::test

#endif  // EF21_TESTS_TESTING_AGGREGATOR_FIXTURE_H_
