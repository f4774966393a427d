#include "server/aggregator.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/run/problem_factory.h"
#include "common/run/round_close.h"
#include "common/base/status_macros.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/aggregator_service.h"

namespace ef21 {
namespace {

// A fresh run id: 64 random bits, hex.
std::string NewRunId() {
  std::random_device device;
  std::seed_seq seq{device(), device(), static_cast<unsigned>(::getpid()),
                    static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count())};
  std::mt19937_64 rng(seq);
  return absl::StrFormat("%016x", rng());
}

int Milliseconds(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

}  // namespace

absl::Status Aggregator::Options::Validate() const {
  EF21_RETURN_IF_ERROR(config.Validate());
  if (listen.empty()) return absl::InvalidArgumentError("--listen needs HOST:PORT");
  if (expected_clients < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--clients must be >= 0; got ", expected_clients));
  }
  if (per_client_metric_bound < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--per-client-metrics-max must be >= 0; got ", per_client_metric_bound));
  }
  if (keepalive_time <= absl::ZeroDuration() || keepalive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("keepalive durations must be positive");
  }
  return absl::OkStatus();
}

int Aggregator::MaxReceiveMessageBytes(int64_t dim, int64_t clients) {
  const int64_t per_client = 24 * dim + 256;
  const int64_t cap = per_client * std::max<int64_t>(1, clients) + 64 * 1024;
  return static_cast<int>(std::min<int64_t>(cap, INT32_MAX));
}

absl::StatusOr<std::unique_ptr<Aggregator>> Aggregator::Start(Options options) {
  EF21_RETURN_IF_ERROR(options.Validate());
  const RunConfig& config = options.config;
  EF21_ASSIGN_OR_RETURN(std::shared_ptr<const Problem> problem, CreateProblem(config));
  if (options.expected_clients != 0 && options.expected_clients != problem->num_clients()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--clients=", options.expected_clients, " but the problem has ", problem->num_clients(),
        " clients (", SplitName(config.split), " split of ", problem->Describe(), ")"));
  }
  EF21_ASSIGN_OR_RETURN(Vector x0, CreateStartingPoint(config, *problem));
  EF21_ASSIGN_OR_RETURN(auto context, MethodContext::Create(config.ToMethodOptions(), std::move(problem)));

  std::unique_ptr<Aggregator> a(new Aggregator());
  EF21_ASSIGN_OR_RETURN(a->log_, RunLog::Create(config.out, config.ToJson(), config.eps));
  AggregatorMetrics::Options metrics_options;
  metrics_options.listen = options.metrics_listen;
  metrics_options.clients = context->num_clients();
  metrics_options.per_client_bound = options.per_client_metric_bound;
  EF21_ASSIGN_OR_RETURN(a->metrics_, AggregatorMetrics::Start(metrics_options));

  RoundCoordinator::Options coordinator_options;
  coordinator_options.context = context;
  coordinator_options.config = config;
  coordinator_options.x0 = std::move(x0);
  coordinator_options.log = a->log_.get();
  coordinator_options.metrics = a->metrics_.get();
  coordinator_options.run_id = NewRunId();
  coordinator_options.observer = std::move(options.observer);
  EF21_ASSIGN_OR_RETURN(a->coordinator_, RoundCoordinator::Create(std::move(coordinator_options)));
  a->service_ = std::make_unique<AggregatorService>(a->coordinator_.get(), a->metrics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &a->port_);
  builder.RegisterService(a->service_.get());
  builder.SetMaxReceiveMessageSize(MaxReceiveMessageBytes(context->dim(), context->num_clients()));
  builder.SetMaxSendMessageSize(-1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Milliseconds(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Milliseconds(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Workers ping every few seconds too; do not count that as abuse.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  a->server_ = builder.BuildAndStart();
  if (a->server_ == nullptr || a->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  const size_t colon = options.listen.rfind(':');
  a->address_ = absl::StrCat(options.listen.substr(0, colon), ":", a->port_);
  grpc::HealthCheckServiceInterface* health = a->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(v1::Aggregator::service_full_name(), true);
  }
  return a;
}

absl::Status Aggregator::Shutdown(absl::Duration grace) {
  if (shut_down_) return coordinator_->status();
  shut_down_ = true;
  // A run still going when shut down is stopped: workers get Finish{stopped}.
  coordinator_->Stop("aggregator shut down");
  const absl::Status status = coordinator_->status();
  absl::Status written = log_->Finish(DescribeRun(coordinator_->context()));
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // Streams end on their own once Finish is written; cancel what is left after `grace`.
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  server_->Wait();
  if (!status.ok() && status.code() != absl::StatusCode::kCancelled) return status;
  return written;
}

Aggregator::~Aggregator() {
  if (server_ != nullptr && !shut_down_) {
    coordinator_->Stop("aggregator destroyed");
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

}  // namespace ef21
