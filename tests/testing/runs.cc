#include "tests/testing/runs.h"

#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/run/problem_factory.h"
#include "common/run/simulator.h"
#include "proto/codec.h"
#include "server/aggregator.h"

namespace ef21::test {

std::string BreastCancerPath() {
  return std::string(EF21_SOURCE_DIR) + "/data/libsvm/breast-cancer_scale";
}

RunConfig BreastCancer(Algorithm algorithm, int64_t clients, int64_t rounds) {
  RunConfig c;
  c.problem = ProblemKind::kLogreg;
  c.data = BreastCancerPath();
  c.split = Split::kContiguous;
  c.clients = clients;
  c.algorithm = algorithm;
  c.k = 2;
  c.rounds = rounds;
  c.threads = 1;
  if (algorithm == Algorithm::kEf21Sgdm) {
    c.stepsize = StepsizeRule::kConstant;
    c.gamma = 0.05;
    c.eta = 0.5;
  }
  return c;
}

absl::StatusOr<std::vector<MetricsRow>> SimulateRows(RunConfig config) {
  config.out.clear();
  EF21_ASSIGN_OR_RETURN(std::unique_ptr<Simulator> sim, Simulator::Create(config));
  EF21_ASSIGN_OR_RETURN(std::unique_ptr<RunLog> log, RunLog::Create("", "{}", config.eps));
  std::vector<MetricsRow> rows;
  EF21_RETURN_IF_ERROR(
      sim->Run(log.get(), [&rows](const MetricsRow& row) { rows.push_back(row); }));
  return rows;
}

v1::Attach HonestAttach(const RunConfig& config, const Problem& problem,
                        const std::vector<int64_t>& ids) {
  v1::Attach a;
  for (int64_t id : ids) a.add_client_ids(static_cast<uint32_t>(id));
  ProblemToSpec(config, a.mutable_problem());
  a.set_dim(static_cast<uint32_t>(problem.dim()));
  a.set_clients(static_cast<uint32_t>(problem.num_clients()));
  SetShardReports(problem, &a);
  return a;
}

absl::StatusOr<ProblemAndContext> CreateProblemAndContext(const RunConfig& config) {
  ProblemAndContext out;
  EF21_ASSIGN_OR_RETURN(out.problem, CreateProblem(config));
  EF21_ASSIGN_OR_RETURN(out.context, MethodContext::Create(config.ToMethodOptions(), out.problem));
  return out;
}

v1::Update HonestUpdate(const Problem& problem, ValueType type, ClientMethod* client,
                        const v1::RoundStart& start) {
  EvalPoint point;
  problem.Prepare(MapVector(start.x()), &point);
  ClientRound request;
  request.round = start.round();
  request.point = &point;
  request.stepsize = start.stepsize();
  request.want_gradient = start.diagnostics();
  ClientMessage message;
  client->Step(request, &message);
  v1::Update update;
  EncodeUpdate(start.round(), client->client(), message, start.diagnostics(), type, &update);
  return update;
}

WorkerHost::Options HostOptions(const RunConfig& config, const std::string& address, int64_t first,
                                int64_t last) {
  WorkerHost::Options o;
  o.problem = config;
  o.aggregator = address;
  o.first_client = first;
  o.last_client = last;
  o.connect_timeout = absl::Seconds(30);
  return o;
}

absl::Status HostThreads::Start(WorkerHost::Options options) {
  auto* result = &results_.emplace_back(absl::UnknownError("not run"));
  absl::StatusOr<std::unique_ptr<WorkerHost>> created = WorkerHost::Create(std::move(options));
  if (!created.ok()) {
    *result = created.status();
    return created.status();
  }
  std::shared_ptr<WorkerHost> host(*std::move(created));
  hosts_.push_back(host);
  threads_.emplace_back([host, result] { *result = host->Run(); });
  return absl::OkStatus();
}

void HostThreads::Join() {
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void HostThreads::CancelAll() {
  for (auto& host : hosts_) host->Cancel();
}

std::function<void(const MetricsRow&)> RowRecorder::Observer() {
  return [this](const MetricsRow& row) {
    absl::MutexLock lock(&mu_);
    rows_.push_back(row);
  };
}

std::vector<MetricsRow> RowRecorder::rows() const {
  absl::MutexLock lock(&mu_);
  return rows_;
}

namespace {

absl::StatusOr<std::vector<MetricsRow>> Federate(
    Aggregator::Options options, const RunConfig& worker_config,
    const std::vector<std::pair<int64_t, int64_t>>& hosts, absl::Duration timeout) {
  options.config.out.clear();
  options.listen = "127.0.0.1:0";
  RowRecorder recorder;
  options.observer = recorder.Observer();
  EF21_ASSIGN_OR_RETURN(std::unique_ptr<Aggregator> aggregator, Aggregator::Start(options));
  HostThreads threads;
  RunConfig problem = worker_config;
  problem.out.clear();
  for (const auto& [first, last] : hosts) {
    const absl::Status s = threads.Start(HostOptions(problem, aggregator->address(), first, last));
    if (!s.ok()) {
      aggregator->Stop("a worker host could not start");
      (void)aggregator->Shutdown();
      return s;
    }
  }
  if (!aggregator->Wait(timeout)) {
    aggregator->Stop("timeout");
    threads.Join();
    (void)aggregator->Shutdown();
    return absl::DeadlineExceededError(
        absl::StrCat("the federation did not finish in ", absl::FormatDuration(timeout)));
  }
  threads.Join();
  EF21_RETURN_IF_ERROR(aggregator->Shutdown());
  for (size_t i = 0; i < threads.size(); ++i) {
    if (!threads.result(i).ok()) {
      const absl::Status& s = threads.result(i).status();
      return absl::Status(s.code(), absl::StrCat("worker host ", i, ": ", s.message()));
    }
  }
  if (!aggregator->coordinator().complete()) {
    return absl::InternalError(
        absl::StrCat("the run did not complete: ", aggregator->coordinator().status().ToString()));
  }
  return recorder.rows();
}

}  // namespace

absl::StatusOr<std::vector<MetricsRow>> FederateRows(
    const RunConfig& config, const std::vector<std::pair<int64_t, int64_t>>& hosts,
    absl::Duration timeout) {
  Aggregator::Options options;
  options.config = config;
  return Federate(options, config, hosts, timeout);
}

absl::StatusOr<Aggregator::Options> OptionsWithoutData(const RunConfig& config) {
  EF21_ASSIGN_OR_RETURN(std::shared_ptr<const Problem> problem, CreateProblem(config));
  Aggregator::Options options;
  options.config = config;
  options.config.data.clear();
  options.config.features = problem->dim();
  if (config.split == Split::kRow) options.expected_clients = problem->num_clients();
  return options;
}

absl::StatusOr<std::vector<MetricsRow>> FederateRowsWithoutData(
    const RunConfig& config, const std::vector<std::pair<int64_t, int64_t>>& hosts,
    absl::Duration timeout) {
  EF21_ASSIGN_OR_RETURN(Aggregator::Options options, OptionsWithoutData(config));
  // Both sides state the dimension, as a deployment does (--features is a problem flag).
  RunConfig workers = config;
  workers.features = options.config.features;
  return Federate(options, workers, hosts, timeout);
}

}  // namespace ef21::test
