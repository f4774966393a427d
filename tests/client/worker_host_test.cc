// Worker hosts against a real aggregator on 127.0.0.1: a stream cut mid-run resumes bit for bit
// (even for a momentum method, whose v_i the live worker keeps), a worker started before its
// aggregator waits and retries, and configuration mistakes are refused with clear messages.
#include "client/worker_host.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/run/simulator.h"
#include "gtest/gtest.h"
#include "server/aggregator.h"
#include "tests/testing/runs.h"
#include "tests/testing/trajectory.h"

namespace ef21 {
namespace {

RunConfig Config(Algorithm algorithm) {
  return test::BreastCancer(algorithm, /*clients=*/6, /*rounds=*/12);
}

using test::HostOptions;
using test::HostThreads;

std::vector<MetricsRow> Simulate(const RunConfig& config) {
  absl::StatusOr<std::vector<MetricsRow>> rows = test::SimulateRows(config);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : std::vector<MetricsRow>();
}

// A real aggregator running `config` on `listen` (127.0.0.1:0 unless given), its rows recorded into
// *recorder when one is given.
absl::StatusOr<std::unique_ptr<Aggregator>> StartAggregator(const RunConfig& config,
                                                            test::RowRecorder* recorder,
                                                            const std::string& listen = "") {
  Aggregator::Options options;
  options.config = config;
  if (!listen.empty()) options.listen = listen;
  if (recorder != nullptr) options.observer = recorder->Observer();
  return Aggregator::Start(options);
}

TEST(WorkerHostTest, CutStreamsResumeBitForBit) {
  for (Algorithm algorithm : {Algorithm::kNormEf21, Algorithm::kNormEf21Sgdm, Algorithm::kEf14}) {
    SCOPED_TRACE(AlgorithmName(algorithm));
    const RunConfig config = Config(algorithm);
    test::RowRecorder recorder;
    auto aggregator = StartAggregator(config, &recorder);
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    HostThreads hosts;
    // Why each host retried. After its cut a host's new Attach may come before the aggregator has
    // seen the old stream end; it is then refused (ABORTED: its clients are still held) and
    // retried, so a host may reconnect more than once, but only for that reason.
    absl::Mutex retries_mu;
    std::vector<std::vector<absl::Status>> retries(2);
    auto record = [&](size_t host) {
      return [&, host](const absl::Status& s) {
        absl::MutexLock lock(&retries_mu);
        retries[host].push_back(s);
      };
    };
    WorkerHost::Options a = HostOptions(config, (*aggregator)->address(), 0, 2);
    a.drop_stream_at_round = 0;  // the dense initial round
    a.on_retry = record(0);
    WorkerHost::Options b = HostOptions(config, (*aggregator)->address(), 3, 5);
    b.drop_stream_at_round = 7;
    b.on_retry = record(1);
    ASSERT_TRUE(hosts.Start(a).ok());
    ASSERT_TRUE(hosts.Start(b).ok());
    ASSERT_TRUE((*aggregator)->Wait(absl::Seconds(60)));
    hosts.Join();
    for (size_t i = 0; i < 2; ++i) {
      ASSERT_TRUE(hosts.result(i).ok()) << hosts.result(i).status();
      absl::MutexLock lock(&retries_mu);
      ASSERT_GE(retries[i].size(), 1u);
      EXPECT_EQ(hosts.result(i)->reconnects, static_cast<int64_t>(retries[i].size()));
      for (size_t r = 1; r < retries[i].size(); ++r) {
        EXPECT_EQ(retries[i][r].code(), absl::StatusCode::kAborted) << retries[i][r];
      }
      EXPECT_FALSE(hosts.result(i)->stopped);
      EXPECT_EQ(hosts.result(i)->rounds, 12u);
    }
    EXPECT_TRUE((*aggregator)->Shutdown().ok());
    EXPECT_TRUE(test::SameTrajectory(recorder.rows(), Simulate(config)));
  }
}

// A host sends its round's updates in messages of about --message-bytes: each update alone at 1
// byte, a gradient sum together with all of its clients' updates, a whole batch by default; the
// run is the simulator's bit for bit whichever way the batches are cut, and with cut streams.
TEST(WorkerHostTest, BatchesGoInMessagesOfTheirSizeAndTheRunStaysBitwise) {
  RunConfig config = Config(Algorithm::kNormEf21);
  config.diagnostics_every = 1;  // every round's updates carry gradients (or a sum of them)
  const std::vector<MetricsRow> simulated = Simulate(config);
  const uint64_t rounds = static_cast<uint64_t>(config.rounds) + 1;
  struct Case {
    int64_t first, last, message_bytes, drop_at;
  };
  // Clients 0-2 and 3-5 of 6 hold no whole node of the gradient tree (its leaves' parent covers
  // all 6): each update carries its own gradient. Clients 0-5 together send the root's sum.
  const std::vector<std::vector<Case>> layouts = {
      {{0, 2, 1, -1}, {3, 5, int64_t{256} << 10, -1}},
      {{0, 5, 1, -1}},
      {{0, 2, 1, 4}, {3, 5, 200, 9}},
  };
  for (size_t l = 0; l < layouts.size(); ++l) {
    SCOPED_TRACE(l);
    test::RowRecorder recorder;
    auto aggregator = StartAggregator(config, &recorder);
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    HostThreads hosts;
    for (const Case& c : layouts[l]) {
      WorkerHost::Options o = HostOptions(config, (*aggregator)->address(), c.first, c.last);
      o.message_bytes = c.message_bytes;
      o.drop_stream_at_round = c.drop_at;
      ASSERT_TRUE(hosts.Start(o).ok());
    }
    ASSERT_TRUE((*aggregator)->Wait(absl::Seconds(60)));
    hosts.Join();
    for (size_t h = 0; h < layouts[l].size(); ++h) ASSERT_TRUE(hosts.result(h).ok());
    EXPECT_TRUE((*aggregator)->Shutdown().ok());
    EXPECT_TRUE(test::SameTrajectory(recorder.rows(), simulated));
    if (l == 0) {
      EXPECT_EQ(hosts.result(0)->update_messages, 3 * static_cast<int64_t>(rounds));
      EXPECT_EQ(hosts.result(1)->update_messages, static_cast<int64_t>(rounds));
    } else if (l == 1) {
      EXPECT_EQ(hosts.result(0)->update_messages, static_cast<int64_t>(rounds));
    } else {
      // Both streams were cut once and resumed.
      EXPECT_GE(hosts.result(0)->reconnects, 1);
      EXPECT_GE(hosts.result(1)->reconnects, 1);
      // A few updates a message at 200 bytes (a gradient of 10 doubles is ~100 of them): more
      // messages than rounds, fewer than updates.
      EXPECT_GT(hosts.result(1)->update_messages, static_cast<int64_t>(rounds));
      EXPECT_LT(hosts.result(1)->update_messages, 3 * static_cast<int64_t>(rounds));
    }
  }
  WorkerHost::Options bad = HostOptions(config, "127.0.0.1:1", 0, 2);
  bad.message_bytes = 0;
  const absl::Status refused = bad.Validate();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(refused.message(), "--message-bytes")) << refused;
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(WorkerHostTest, WorkerStartedBeforeTheAggregatorWaitsAndRetries) {
  const RunConfig config = Config(Algorithm::kEf21);
  const std::string address = "127.0.0.1:" + std::to_string(FreePort());
  absl::Notification retried;
  WorkerHost::Options o = HostOptions(config, address, 0, 5);
  o.on_retry = [&](const absl::Status& s) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    if (!retried.HasBeenNotified()) retried.Notify();
  };
  HostThreads hosts;
  ASSERT_TRUE(hosts.Start(o).ok());
  ASSERT_TRUE(retried.WaitForNotificationWithTimeout(absl::Seconds(30)));
  test::RowRecorder recorder;
  auto aggregator = StartAggregator(config, &recorder, address);
  ASSERT_TRUE(aggregator.ok()) << aggregator.status();
  ASSERT_TRUE((*aggregator)->Wait(absl::Seconds(60)));
  hosts.Join();
  ASSERT_TRUE(hosts.result(0).ok()) << hosts.result(0).status();
  EXPECT_GE(hosts.result(0)->reconnects, 1);
  EXPECT_TRUE((*aggregator)->Shutdown().ok());
  EXPECT_TRUE(test::SameTrajectory(recorder.rows(), Simulate(config)));
}

TEST(WorkerHostTest, GivesUpAfterTheConnectTimeout) {
  const RunConfig config = Config(Algorithm::kEf21);
  WorkerHost::Options o = HostOptions(config, "127.0.0.1:" + std::to_string(FreePort()), 0, 5);
  o.connect_timeout = absl::Milliseconds(300);
  auto host = WorkerHost::Create(o);
  ASSERT_TRUE(host.ok());
  auto result = (*host)->Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "unreachable")) << result.status();
}

// An aggregator slow to answer a new connection (its HTTP/2 SETTINGS late, as on a loaded
// machine) is waited for: a connection attempt is not given up after the first retry's backoff
// (50 ms) but lasts seconds. Here the "aggregator" accepts and says nothing for 1.5 s.
TEST(WorkerHostTest, AnAggregatorSlowToAnswerIsWaitedFor) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  WorkerHost::Options o = HostOptions(Config(Algorithm::kEf21),
                                      "127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), 0, 5);
  o.connect_timeout = absl::Seconds(3);
  HostThreads hosts;
  ASSERT_TRUE(hosts.Start(o).ok());
  pollfd waiting{listener, POLLIN, 0};
  ASSERT_EQ(::poll(&waiting, 1, 10000), 1) << "the worker did not connect";
  const int connection = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(connection, 0);
  ::close(listener);  // later attempts are refused, and the worker gives up after 3 s
  // Read what the worker sends (its HTTP/2 preface) until it closes the connection, or 1.5 s.
  const absl::Time accepted = absl::Now();
  const absl::Time until = accepted + absl::Milliseconds(1500);
  char bytes[4096];
  for (absl::Time now = accepted; now < until; now = absl::Now()) {
    pollfd readable{connection, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(absl::ToInt64Milliseconds(until - now) + 1)) <= 0) {
      break;
    }
    if (::read(connection, bytes, sizeof(bytes)) <= 0) break;
  }
  const absl::Duration held = absl::Now() - accepted;
  ::close(connection);
  hosts.Join();
  EXPECT_GE(held, absl::Milliseconds(1400))
      << "the worker gave up its connection attempt after " << held;
  EXPECT_EQ(hosts.result(0).status().code(), absl::StatusCode::kUnavailable)
      << hosts.result(0).status();
}

// Two workers with overlapping ids: the second is refused while the first holds client 3, retries
// for its connect timeout and then names the reason, not "unreachable". The first, told its run id
// and round on attach, completes the run with a third worker for the rest.
TEST(WorkerHostTest, OverlappingClientIdsAreReportedAsSuch) {
  const RunConfig config = Config(Algorithm::kNormEf21);
  auto aggregator = StartAggregator(config, /*recorder=*/nullptr);
  ASSERT_TRUE(aggregator.ok());
  absl::Notification attached;
  std::string attached_run;
  WorkerHost::Options first = HostOptions(config, (*aggregator)->address(), 0, 3);
  first.on_attached = [&](const std::string& run_id, uint64_t round, bool reattach) {
    attached_run = run_id;
    EXPECT_EQ(round, 0u);
    EXPECT_FALSE(reattach);
    attached.Notify();
  };
  HostThreads hosts;
  ASSERT_TRUE(hosts.Start(first).ok());
  ASSERT_TRUE(attached.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(attached_run, (*aggregator)->run_id());

  WorkerHost::Options second = HostOptions(config, (*aggregator)->address(), 3, 5);
  second.connect_timeout = absl::Milliseconds(500);
  int retries = 0;
  second.on_retry = [&](const absl::Status& status) {
    ++retries;
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  };
  auto host = WorkerHost::Create(second);
  ASSERT_TRUE(host.ok());
  auto result = (*host)->Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "client 3 is attached by another worker"))
      << result.status();
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "--client-ids=3-5 overlaps another worker's"))
      << result.status();
  EXPECT_FALSE(absl::StrContains(result.status().message(), "unreachable")) << result.status();
  EXPECT_GE(retries, 1);

  ASSERT_TRUE(hosts.Start(HostOptions(config, (*aggregator)->address(), 4, 5)).ok());
  hosts.Join();
  EXPECT_TRUE(hosts.result(0).ok()) << hosts.result(0).status();
  EXPECT_TRUE(hosts.result(1).ok()) << hosts.result(1).status();
  EXPECT_TRUE((*aggregator)->Shutdown().ok());
  EXPECT_TRUE((*aggregator)->coordinator().complete());
}

TEST(WorkerHostTest, OtherProblemFlagsAreRefusedClearly) {
  const RunConfig config = Config(Algorithm::kNormEf21);
  auto aggregator = StartAggregator(config, /*recorder=*/nullptr);
  ASSERT_TRUE(aggregator.ok());
  RunConfig other = config;
  other.lambda = 0.2;
  auto host = WorkerHost::Create(HostOptions(other, (*aggregator)->address(), 0, 5));
  ASSERT_TRUE(host.ok());
  auto result = (*host)->Run();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "--lambda is 0.2 on the worker"))
      << result.status();
  (*aggregator)->Stop("test over");
  EXPECT_TRUE((*aggregator)->Shutdown().ok());
}

TEST(WorkerHostTest, StoppedAggregatorEndsTheWorkerCleanly) {
  RunConfig config = Config(Algorithm::kNormEf21);
  config.rounds = 100000;
  test::RowRecorder recorder;
  auto aggregator = StartAggregator(config, &recorder);
  ASSERT_TRUE(aggregator.ok());
  absl::Notification some_rounds;
  WorkerHost::Options o = HostOptions(config, (*aggregator)->address(), 0, 5);
  o.on_round_sent = [&](uint64_t round) {
    if (round == 20) some_rounds.Notify();
  };
  HostThreads hosts;
  ASSERT_TRUE(hosts.Start(o).ok());
  ASSERT_TRUE(some_rounds.WaitForNotificationWithTimeout(absl::Seconds(60)));
  (*aggregator)->Stop("SIGTERM");
  hosts.Join();
  ASSERT_TRUE(hosts.result(0).ok()) << hosts.result(0).status();
  EXPECT_TRUE(hosts.result(0)->stopped);
  EXPECT_EQ(hosts.result(0)->reason, "SIGTERM");
  EXPECT_TRUE((*aggregator)->Shutdown().ok());
  const std::vector<MetricsRow> rows = recorder.rows();
  EXPECT_GE(rows.size(), 20u);
  EXPECT_EQ(hosts.result(0)->rounds + 1, rows.size());
  // Every closed round is on record and equals the simulation's first rounds.
  RunConfig sim_config = config;
  sim_config.out.clear();
  auto sim = Simulator::Create(sim_config);
  ASSERT_TRUE(sim.ok());
  const std::string dir = ::testing::TempDir() + "/worker_host_test_sigterm_simulation";
  std::filesystem::remove_all(dir);
  auto log = RunLog::Create(dir, "{}", config.eps);
  ASSERT_TRUE(log.ok()) << log.status();
  for (size_t r = 0; r < rows.size(); ++r) ASSERT_TRUE((*sim)->RunRound(log->get()));
  const auto simulated = ReadMetricsRows(dir + "/metrics.csv");
  ASSERT_TRUE(simulated.ok()) << simulated.status();
  EXPECT_TRUE(test::SameTrajectory(rows, *simulated));
}

// --client-state=worker: a host that goes away mid-run (its memory with it) and is replaced by a
// new one with the same --state-dir rebuilds its clients' g_i (and momentum / EF14 error) from
// the directory and the run equals the simulation; replaced without the directory it is refused.
TEST(WorkerHostTest, WorkerStateHostReplacedMidRunRebuildsFromItsStateDir) {
  for (Algorithm algorithm : {Algorithm::kNormEf21, Algorithm::kNormEf21Sgdm, Algorithm::kEf14}) {
    for (const bool with_state_dir : {true, false}) {
      SCOPED_TRACE(absl::StrCat(AlgorithmName(algorithm), with_state_dir ? "" : " without"));
      RunConfig config = Config(algorithm);
      config.client_state = ClientStateMode::kWorker;
      test::RowRecorder recorder;
      auto aggregator = StartAggregator(config, &recorder);
      ASSERT_TRUE(aggregator.ok()) << aggregator.status();
      const std::string dir = absl::StrCat(::testing::TempDir(), "/worker_host_test_state_",
                                           AlgorithmName(algorithm), with_state_dir);
      std::filesystem::remove_all(dir);
      HostThreads hosts;
      ASSERT_TRUE(hosts.Start(HostOptions(config, (*aggregator)->address(), 0, 2)).ok());
      // The first host of clients 3..5 leaves right after sending round 6.
      WorkerHost::Options b = HostOptions(config, (*aggregator)->address(), 3, 5);
      b.state_dir = dir;
      WorkerHost* first = nullptr;
      b.on_round_sent = [&first](uint64_t round) {
        if (round == 6) first->Cancel();
      };
      auto created = WorkerHost::Create(b);
      ASSERT_TRUE(created.ok()) << created.status();
      first = created->get();
      const absl::StatusOr<WorkerHost::Result> gone = first->Run();
      EXPECT_EQ(gone.status().code(), absl::StatusCode::kCancelled) << gone.status();
      created->reset();
      b.on_round_sent = nullptr;
      if (!with_state_dir) b.state_dir.clear();
      absl::StatusOr<std::unique_ptr<WorkerHost>> second = WorkerHost::Create(b);
      ASSERT_TRUE(second.ok()) << second.status();
      const absl::StatusOr<WorkerHost::Result> result = (*second)->Run();
      if (with_state_dir) {
        ASSERT_TRUE(result.ok()) << result.status();
        EXPECT_EQ(result->rounds, 12u);
        ASSERT_TRUE((*aggregator)->Wait(absl::Seconds(60)));
        hosts.Join();
        EXPECT_TRUE(test::SameTrajectory(recorder.rows(), Simulate(config)));
      } else {
        EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_TRUE(absl::StrContains(result.status().message(), "cannot resume round"))
            << result.status();
        (*aggregator)->Stop("test over");
        hosts.Join();
      }
      EXPECT_TRUE((*aggregator)->Shutdown().ok());
    }
  }
}

// --client-state=worker with momentum: the host of clients 3..5 leaves once round 7 has closed
// with its updates (the run needs its clients as of round 7). Its --state-dir then holds their g_i
// as of round 7 (log) and their momentum as of rounds 6 and 7. With round 7's momentum file
// removed, a new host on that directory must not claim g_i as of round 7 — it could resume only by
// policy (v_i := g_i), no longer bit-identical — so the aggregator refuses it. With every momentum
// file removed it cannot tell before the Welcome that the method has any (it claims round 7), but
// refuses to go on once it knows, naming what is missing. With every file in place the same
// replacement resumes and the run equals the simulation.
TEST(WorkerHostTest, WorkerStateHostClaimsOnlyStatesItsPrivateFilesHold) {
  enum class Removed { kRound7, kEvery, kNone };
  for (const Removed removed : {Removed::kRound7, Removed::kEvery, Removed::kNone}) {
    SCOPED_TRACE(removed == Removed::kRound7  ? "round 7's momentum file removed"
                 : removed == Removed::kEvery ? "every momentum file removed"
                                              : "every file in place");
    RunConfig config = Config(Algorithm::kNormEf21Sgdm);
    config.client_state = ClientStateMode::kWorker;
    test::RowRecorder recorder;
    auto aggregator = StartAggregator(config, &recorder);
    ASSERT_TRUE(aggregator.ok()) << aggregator.status();
    const std::string dir =
        absl::StrCat(::testing::TempDir(), "/worker_host_test_claims_", static_cast<int>(removed));
    std::filesystem::remove_all(dir);
    HostThreads hosts;
    ASSERT_TRUE(hosts.Start(HostOptions(config, (*aggregator)->address(), 0, 2)).ok());
    WorkerHost::Options b = HostOptions(config, (*aggregator)->address(), 3, 5);
    b.state_dir = dir;
    WorkerHost* first = nullptr;
    Aggregator* agg = aggregator->get();
    b.on_round_sent = [&first, agg](uint64_t round) {
      if (round != 7) return;
      // Round 7 closes with these updates (rounds_closed counts round 0 as 1).
      const absl::Time end = absl::Now() + absl::Seconds(30);
      while (agg->coordinator().rounds_closed() < 8 && absl::Now() < end) {
        absl::SleepFor(absl::Milliseconds(5));
      }
      first->Cancel();
    };
    auto created = WorkerHost::Create(b);
    ASSERT_TRUE(created.ok()) << created.status();
    first = created->get();
    const absl::StatusOr<WorkerHost::Result> gone = first->Run();
    EXPECT_EQ(gone.status().code(), absl::StatusCode::kCancelled) << gone.status();
    created->reset();
    ASSERT_EQ((*aggregator)->coordinator().rounds_closed(), 8u);
    const std::string prefix = absl::StrCat(dir, "/", (*aggregator)->run_id(), "-3-5-");
    ASSERT_TRUE(std::filesystem::exists(prefix + "6.state"));
    ASSERT_TRUE(std::filesystem::exists(prefix + "7.state"));
    if (removed != Removed::kNone) std::filesystem::remove(prefix + "7.state");
    if (removed == Removed::kEvery) std::filesystem::remove(prefix + "6.state");
    b.on_round_sent = nullptr;
    absl::StatusOr<std::unique_ptr<WorkerHost>> second = WorkerHost::Create(b);
    ASSERT_TRUE(second.ok()) << second.status();
    const absl::StatusOr<WorkerHost::Result> result = (*second)->Run();
    if (removed != Removed::kNone) {
      EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition) << result.status();
      EXPECT_TRUE(absl::StrContains(result.status().message(), "client 3 cannot resume round 8"))
          << result.status();
      if (removed == Removed::kEvery) {
        EXPECT_TRUE(absl::StrContains(result.status().message(),
                                      "holds g_i as of round 7 but not the client's private state"))
            << result.status();
      }
      EXPECT_EQ((*aggregator)->coordinator().rounds_closed(), 8u);
      (*aggregator)->Stop("test over");
      hosts.Join();
    } else {
      ASSERT_TRUE(result.ok()) << result.status();
      ASSERT_TRUE((*aggregator)->Wait(absl::Seconds(60)));
      hosts.Join();
      EXPECT_TRUE(test::SameTrajectory(recorder.rows(), Simulate(config)));
    }
    EXPECT_TRUE((*aggregator)->Shutdown().ok());
  }
}

}  // namespace
}  // namespace ef21
