// The round coordinator without gRPC: a fake StreamSink records what the coordinator sends, and
// the test plays the workers with the same ClientMethod objects, the update encoder and decoder of
// proto/codec.h. Checks the run against the simulation bit for bit, and that the closer holds no
// lock while it writes a row or runs the observer: attaches, submissions and Stop() go on while
// the observer is blocked.
#include "server/round_coordinator.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/run/problem_factory.h"
#include "gtest/gtest.h"
#include "proto/codec.h"
#include "tests/testing/runs.h"
#include "tests/testing/trajectory.h"

namespace ef21 {
namespace {

// Records the messages queued on it; thread-safe.
class FakeSink final : public StreamSink {
 public:
  void Send(std::shared_ptr<const v1::ServerMessage> message) override {
    absl::MutexLock lock(&mu_);
    messages_.push_back(std::move(message));
  }
  void FinishAfterQueue() override {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  void Abort(const absl::Status&) override {
    absl::MutexLock lock(&mu_);
    finished_ = true;
  }
  const StreamInfo& info() const override { return info_; }
  // Waits for message number `index` (0-based); null on timeout.
  std::shared_ptr<const v1::ServerMessage> Await(size_t index, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, index]()
                       ABSL_SHARED_LOCKS_REQUIRED(mu_) { return messages_.size() > index; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout)) return nullptr;
    return messages_[index];
  }
  StreamInfo info_{"fake", "", "fake"};
  bool finished() {
    absl::MutexLock lock(&mu_);
    return finished_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::shared_ptr<const v1::ServerMessage>> messages_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

class RoundCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(
        Configure(test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/8), ""));
  }

  // The run the test plays: `config`, its log written to `out` ("": none).
  void Configure(RunConfig config, const std::string& out) {
    config_ = std::move(config);
    clients_.clear();
    absl::StatusOr<test::ProblemAndContext> run = test::CreateProblemAndContext(config_);
    ASSERT_TRUE(run.ok()) << run.status();
    problem_ = run->problem;
    context_ = run->context;
    auto log = RunLog::Create(out, "{}", config_.eps);
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
    for (int64_t i = 0; i < context_->num_clients(); ++i) {
      clients_.push_back(ClientMethod::Create(context_, i));
    }
  }

  std::unique_ptr<RoundCoordinator> MakeCoordinator(
      std::function<void(const MetricsRow&)> observer = nullptr) {
    RoundCoordinator::Options o;
    o.context = context_;
    o.config = config_;
    auto x0 = CreateStartingPoint(config_, problem_->dim());
    EXPECT_TRUE(x0.ok());
    o.x0 = *x0;
    o.log = log_.get();
    o.run_id = "test-run";
    o.observer = [this, observer = std::move(observer)](const MetricsRow& row) {
      if (record_rows_) recorded_.Observer()(row);
      if (observer) observer(row);
    };
    auto coordinator = RoundCoordinator::Create(std::move(o));
    EXPECT_TRUE(coordinator.ok()) << coordinator.status();
    return std::move(coordinator).value();
  }

  // Attaches clients 0-3 on `sink` and submits their honest round-0 updates, which close the
  // round. Fatal failures: call in ASSERT_NO_FATAL_FAILURE.
  void AttachAllAndSubmitRound0(RoundCoordinator* coordinator, FakeSink* sink) {
    RejectionReason reason = RejectionReason::kMalformedMessage;
    ASSERT_TRUE(coordinator->Attach(sink, AttachFor({0, 1, 2, 3}), &reason).ok())
        << EnumName(reason);
    auto start0 = sink->Await(1, absl::Seconds(10));
    ASSERT_NE(start0, nullptr);
    std::vector<DecodedUpdate> round0 = Updates(start0->round_start(), {0, 1, 2, 3});
    int duplicates = 0;
    ASSERT_TRUE(coordinator->Submit(sink, absl::MakeSpan(round0), &duplicates, &reason).ok())
        << EnumName(reason);
  }

  v1::Attach AttachFor(const std::vector<int64_t>& ids) {
    return test::HonestAttach(config_, *problem_, ids);
  }

  // Steps clients `ids` for `start` and decodes their updates as the aggregator's reactor does.
  std::vector<DecodedUpdate> Updates(const v1::RoundStart& start, const std::vector<int64_t>& ids) {
    std::vector<DecodedUpdate> out(ids.size());
    for (size_t j = 0; j < ids.size(); ++j) {
      const v1::Update wire =
          test::HonestUpdate(*problem_, config_.value_type, clients_[ids[j]].get(), start);
      RejectionReason reason = RejectionReason::kMalformedMessage;
      const absl::Status s = DecodeUpdate(wire, *context_, &out[j], &reason);
      EXPECT_TRUE(s.ok()) << s << " (" << EnumName(reason) << ")";
    }
    return out;
  }

  RunConfig config_;
  std::shared_ptr<const Problem> problem_;
  std::shared_ptr<const MethodContext> context_;
  std::unique_ptr<RunLog> log_;
  test::RowRecorder recorded_;  // the rows the coordinator closed (the log keeps none)
  bool record_rows_ = true;
  std::vector<std::unique_ptr<ClientMethod>> clients_;
};

TEST_F(RoundCoordinatorTest, ARunThroughAFakeSinkEqualsTheSimulation) {
  std::unique_ptr<RoundCoordinator> coordinator = MakeCoordinator();
  FakeSink sink;
  RejectionReason reason = RejectionReason::kMalformedMessage;
  ASSERT_TRUE(coordinator->Attach(&sink, AttachFor({0, 1, 2, 3}), &reason).ok())
      << EnumName(reason);
  auto welcome = sink.Await(0, absl::Seconds(10));
  ASSERT_NE(welcome, nullptr);
  ASSERT_TRUE(welcome->has_welcome());
  EXPECT_EQ(welcome->welcome().round(), 0u);
  size_t next = 1;
  for (;;) {
    auto message = sink.Await(next++, absl::Seconds(10));
    ASSERT_NE(message, nullptr);
    if (message->has_finish()) {
      EXPECT_FALSE(message->finish().stopped());
      EXPECT_EQ(message->finish().rounds(), 8u);
      break;
    }
    ASSERT_TRUE(message->has_round_start());
    // Two batches: the round closes on the second.
    std::vector<DecodedUpdate> first = Updates(message->round_start(), {0, 2});
    std::vector<DecodedUpdate> second = Updates(message->round_start(), {1, 3});
    int duplicates = 0;
    ASSERT_TRUE(coordinator->Submit(&sink, absl::MakeSpan(first), &duplicates, &reason).ok());
    ASSERT_TRUE(coordinator->Submit(&sink, absl::MakeSpan(second), &duplicates, &reason).ok());
    EXPECT_EQ(duplicates, 0);
  }
  ASSERT_TRUE(coordinator->WaitDone(absl::Seconds(10)));
  EXPECT_TRUE(coordinator->complete());
  EXPECT_TRUE(coordinator->status().ok()) << coordinator->status();
  EXPECT_TRUE(sink.finished());
  EXPECT_EQ(coordinator->rounds_closed(), 9u);
  auto simulated = test::SimulateRows(config_);
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  EXPECT_TRUE(test::SameTrajectory(recorded_.rows(), *simulated));
}

TEST_F(RoundCoordinatorTest, TheObserverRunsWithoutTheLockAndRoundsStayInOrder) {
  absl::Notification in_observer;
  absl::Notification release;
  std::vector<uint64_t> observed;  // written by the closer thread only
  std::unique_ptr<RoundCoordinator> coordinator = MakeCoordinator([&](const MetricsRow& row) {
    observed.push_back(row.round);
    if (row.round == 0) {
      in_observer.Notify();
      release.WaitForNotification();
    }
  });
  FakeSink sink;
  ASSERT_NO_FATAL_FAILURE(AttachAllAndSubmitRound0(coordinator.get(), &sink));
  ASSERT_TRUE(in_observer.WaitForNotificationWithTimeout(absl::Seconds(10)));

  // The closer is inside the observer of round 0. Round 1 was already broadcast, and everything
  // a reactor does goes on: a second stream attaches (and is refused for a busy client), round 1's
  // updates are accepted, the state can be read.
  auto start1 = sink.Await(2, absl::Seconds(10));
  ASSERT_NE(start1, nullptr);
  ASSERT_TRUE(start1->has_round_start());
  EXPECT_EQ(start1->round_start().round(), 1u);
  FakeSink other;
  RejectionReason reason = RejectionReason::kMalformedMessage;
  EXPECT_EQ(coordinator->Attach(&other, AttachFor({2}), &reason).code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(reason, RejectionReason::kClientBusy) << EnumName(reason);
  std::vector<DecodedUpdate> round1 = Updates(start1->round_start(), {0, 1, 2, 3});
  int duplicates = 0;
  ASSERT_TRUE(coordinator->Submit(&sink, absl::MakeSpan(round1), &duplicates, &reason).ok());
  EXPECT_EQ(coordinator->rounds_closed(), 1u);
  (void)coordinator->StateHash();
  // Round 1 is complete but cannot close before round 0's row is out.
  EXPECT_EQ(log_->summary().rows, 1u);
  release.Notify();

  auto start2 = sink.Await(3, absl::Seconds(10));
  ASSERT_NE(start2, nullptr);
  EXPECT_EQ(start2->round_start().round(), 2u);
  // Round 1's row is being written or written: Stop ends the run after it either way.
  coordinator->Stop("test over");
  EXPECT_EQ(coordinator->status().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(coordinator->complete());
  ASSERT_EQ(log_->summary().rows, 2u);
  EXPECT_EQ(observed, (std::vector<uint64_t>{0, 1}));
  auto simulated = test::SimulateRows(config_);
  ASSERT_TRUE(simulated.ok());
  EXPECT_TRUE(test::SamePrefix(recorded_.rows(), *simulated));
}

TEST_F(RoundCoordinatorTest, StopDuringARowWaitsForTheRow) {
  absl::Notification in_observer;
  absl::Notification release;
  std::unique_ptr<RoundCoordinator> coordinator = MakeCoordinator([&](const MetricsRow& row) {
    if (row.round == 0) {
      in_observer.Notify();
      release.WaitForNotification();
    }
  });
  FakeSink sink;
  ASSERT_NO_FATAL_FAILURE(AttachAllAndSubmitRound0(coordinator.get(), &sink));
  ASSERT_TRUE(in_observer.WaitForNotificationWithTimeout(absl::Seconds(10)));

  // Stop from another thread while round 0's row is out: it returns only once the closer has
  // finished the row and ended the run, so a caller may write summary.json right after.
  absl::Notification stopped;
  std::thread stopper([&] {
    coordinator->Stop("SIGTERM");
    stopped.Notify();
  });
  EXPECT_FALSE(stopped.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  release.Notify();
  ASSERT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Seconds(10)));
  stopper.join();
  EXPECT_TRUE(coordinator->WaitDone(absl::ZeroDuration()));
  EXPECT_EQ(coordinator->status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(log_->summary().rows, 1u);
  EXPECT_EQ(coordinator->rounds_closed(), 1u);
  EXPECT_TRUE(sink.finished());
  // The last message is Finish{stopped, SIGTERM}, after round 1's RoundStart.
  auto finish = sink.Await(3, absl::Seconds(10));
  ASSERT_NE(finish, nullptr);
  ASSERT_TRUE(finish->has_finish());
  EXPECT_TRUE(finish->finish().stopped());
  EXPECT_EQ(finish->finish().reason(), "SIGTERM");
}

TEST_F(RoundCoordinatorTest, StopFromTheObserverEndsTheRunAfterIt) {
  RoundCoordinator* self = nullptr;
  std::unique_ptr<RoundCoordinator> coordinator = MakeCoordinator([&](const MetricsRow& row) {
    self->Stop("from the observer");  // on the closer thread: must not wait for itself
  });
  self = coordinator.get();
  FakeSink sink;
  ASSERT_NO_FATAL_FAILURE(AttachAllAndSubmitRound0(coordinator.get(), &sink));
  ASSERT_TRUE(coordinator->WaitDone(absl::Seconds(10)));
  EXPECT_EQ(coordinator->status().code(), absl::StatusCode::kCancelled) << coordinator->status();
  EXPECT_EQ(log_->summary().rows, 1u);
  auto finish = sink.Await(3, absl::Seconds(10));
  ASSERT_NE(finish, nullptr);
  ASSERT_TRUE(finish->has_finish());
  EXPECT_EQ(finish->finish().reason(), "from the observer");
}

// Keeps only the last message queued on it (a long run through FakeSink would grow with its
// messages); thread-safe.
class LatestSink final : public StreamSink {
 public:
  void Send(std::shared_ptr<const v1::ServerMessage> message) override {
    absl::MutexLock lock(&mu_);
    latest_ = std::move(message);
    ++count_;
  }
  void FinishAfterQueue() override {}
  void Abort(const absl::Status&) override {}
  const StreamInfo& info() const override { return info_; }
  // Waits for message number `index` (0-based) and returns the latest one then; null on timeout.
  std::shared_ptr<const v1::ServerMessage> Await(size_t index, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, index]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return count_ > index; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout)) return nullptr;
    return latest_;
  }

 private:
  StreamInfo info_{"latest", "", "latest"};
  absl::Mutex mu_;
  std::shared_ptr<const v1::ServerMessage> latest_ ABSL_GUARDED_BY(mu_);
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Keeps only a weak reference to the dense RoundStarts it is sent as bytes (as a stream that has
// written them).
class ForgetfulSink final : public StreamSink {
 public:
  void Send(std::shared_ptr<const v1::ServerMessage> message) override {}
  std::shared_ptr<const void> SendBytes(std::shared_ptr<const std::string> bytes) override {
    v1::ServerMessage message;
    if (message.ParseFromString(*bytes) && message.has_round_start()) round_starts.push_back(bytes);
    return nullptr;
  }
  void FinishAfterQueue() override {}
  void Abort(const absl::Status&) override {}
  const StreamInfo& info() const override { return info_; }
  std::vector<std::weak_ptr<const std::string>> round_starts;

 private:
  StreamInfo info_{"forgetful", "", "forgetful"};
};

// Workers attaching one after the other while some client still has no stream get the same dense
// RoundStart (its bytes written once from x, no message holding a copy of x), even when the earlier
// ones no longer hold it; once every client is carried the coordinator lets it go.
TEST_F(RoundCoordinatorTest, AttachingWorkersShareOneDenseRoundStart) {
  std::unique_ptr<RoundCoordinator> coordinator = MakeCoordinator();
  ForgetfulSink a, b, c;
  RejectionReason reason = RejectionReason::kMalformedMessage;
  ASSERT_TRUE(coordinator->Attach(&a, AttachFor({0}), &reason).ok()) << EnumName(reason);
  ASSERT_TRUE(coordinator->Attach(&b, AttachFor({1, 2}), &reason).ok()) << EnumName(reason);
  ASSERT_EQ(a.round_starts.size(), 1u);
  ASSERT_EQ(b.round_starts.size(), 1u);
  std::shared_ptr<const std::string> first = a.round_starts[0].lock();
  ASSERT_NE(first, nullptr);  // client 3 has no stream yet: held for the next attach
  EXPECT_EQ(b.round_starts[0].lock(), first);
  v1::ServerMessage parsed;
  ASSERT_TRUE(parsed.ParseFromString(*first));
  EXPECT_EQ(parsed.round_start().x_size(), problem_->dim());
  first.reset();
  ASSERT_TRUE(coordinator->Attach(&c, AttachFor({3}), &reason).ok()) << EnumName(reason);
  ASSERT_EQ(c.round_starts.size(), 1u);
  // The same message again (the same owner), and with every client carried nobody holds it.
  EXPECT_FALSE(a.round_starts[0].owner_before(c.round_starts[0]) ||
               c.round_starts[0].owner_before(a.round_starts[0]));
  EXPECT_TRUE(a.round_starts[0].expired());
  EXPECT_TRUE(c.round_starts[0].expired());
  coordinator->Stop("test over");
}

// kB of this process's resident memory (VmRSS), -1 when unreadable.
int64_t ResidentKilobytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// Issue 10: "a long run: aggregator memory grows ~80 B per round (every metrics row kept)". The
// coordinator with its run log (metrics.csv on disk) over 100,000 rounds: resident memory after
// the first 10,000 rounds and at the end differ by far less than the 90,000 rows would take in
// memory (9.4 MB at 104 B each), and every row is in metrics.csv.
TEST_F(RoundCoordinatorTest, ALongRunsMemoryIsFlat) {
  constexpr int64_t kRounds = 100000;
  constexpr int64_t kWarmup = 10000;
  const std::string out = ::testing::TempDir() + "/round_coordinator_long_run";
  std::filesystem::remove_all(out);
  RunConfig config = test::BreastCancer(Algorithm::kGd, /*clients=*/2, kRounds);
  config.diagnostics_every = 1000;
  ASSERT_NO_FATAL_FAILURE(Configure(config, out));
  record_rows_ = false;
  std::unique_ptr<RoundCoordinator> coordinator = MakeCoordinator();
  LatestSink sink;
  RejectionReason reason = RejectionReason::kMalformedMessage;
  ASSERT_TRUE(coordinator->Attach(&sink, AttachFor({0, 1}), &reason).ok()) << EnumName(reason);
  int64_t warm = -1;
  for (size_t next = 1;; ++next) {
    auto message = sink.Await(next, absl::Seconds(30));
    ASSERT_NE(message, nullptr) << "message " << next;
    if (message->has_finish()) break;
    ASSERT_TRUE(message->has_round_start());
    if (message->round_start().round() == kWarmup) warm = ResidentKilobytes();
    std::vector<DecodedUpdate> updates = Updates(message->round_start(), {0, 1});
    int duplicates = 0;
    ASSERT_TRUE(coordinator->Submit(&sink, absl::MakeSpan(updates), &duplicates, &reason).ok())
        << EnumName(reason);
  }
  ASSERT_TRUE(coordinator->WaitDone(absl::Seconds(30)));
  ASSERT_TRUE(coordinator->complete()) << coordinator->status();
  const int64_t end = ResidentKilobytes();
  ASSERT_GT(warm, 0);
  std::printf("resident memory: %lld kB at round %lld, %lld kB at round %lld\n",
              static_cast<long long>(warm), static_cast<long long>(kWarmup),
              static_cast<long long>(end), static_cast<long long>(kRounds));
  const int64_t kept_rows_kilobytes = (kRounds - kWarmup) * sizeof(MetricsRow) / 1024;
  EXPECT_LT(end - warm, kept_rows_kilobytes / 4)
      << "resident memory grew from " << warm << " kB at round " << kWarmup << " to " << end
      << " kB at round " << kRounds;
  EXPECT_EQ(log_->summary().rows, static_cast<uint64_t>(kRounds + 1));
  std::ifstream metrics(out + "/metrics.csv");
  int64_t lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, kRounds + 2);  // the header and rows 0..K
}

}  // namespace
}  // namespace ef21
