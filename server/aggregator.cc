#include "server/aggregator.h"

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/base/bounded_file.h"
#include "common/base/host_port.h"
#include "common/base/status_macros.h"
#include "common/run/problem_factory.h"
#include "common/run/round_close.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "nlohmann/json.hpp"
#include "proto/codec.h"
#include "server/aggregator_service.h"
#include "server/checkpoint.h"
#include "server/data_free_problem.h"

namespace ef21 {
namespace {

// A fresh run id: 64 random bits, hex.
std::string NewRunId() {
  std::random_device device;
  std::seed_seq seq{
      device(), device(), static_cast<unsigned>(::getpid()),
      static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count())};
  std::mt19937_64 rng(seq);
  return absl::StrFormat("%016x", rng());
}

// TLS for the gRPC port: the server's certificate and key, and with a CA, client certificates
// requested and verified (a worker may instead prove itself with a bearer token over TLS).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const Aggregator::Options& options) {
  constexpr int64_t kMaxPemBytes = 1 << 20;
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  EF21_ASSIGN_OR_RETURN(pair.cert_chain,
                        ReadBoundedFile(options.tls_cert, kMaxPemBytes, "--tls-cert"));
  EF21_ASSIGN_OR_RETURN(pair.private_key,
                        ReadBoundedFile(options.tls_key, kMaxPemBytes, "--tls-key"));
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.tls_ca.empty()) {
    EF21_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                          ReadBoundedFile(options.tls_ca, kMaxPemBytes, "--tls-ca"));
    ssl.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

int Milliseconds(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

// A config.json as the identity of a run: its keys (flag names; an older ef21 wrote value_type for
// value-type) and values, without the "build" object, which says which binary wrote the file and
// may differ between the run and its resumption. Numbers compare by value, so formatting does not
// matter. Unreadable text yields a JSON string holding it, which equals only the same text.
nlohmann::ordered_json RunIdentity(const std::string& config_json) {
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(config_json, nullptr, false);
  if (!parsed.is_object()) return config_json;
  nlohmann::ordered_json identity = nlohmann::ordered_json::object();
  for (const auto& [key, value] : parsed.items()) {
    if (key == "build") continue;
    identity[absl::StrReplaceAll(key, {{"_", "-"}})] = value;
  }
  return identity;
}

bool SameRun(const std::string& there, const std::string& here) {
  return RunIdentity(there) == RunIdentity(here);
}

// What differs between two configurations, for the refusal: "rounds: 100 there, 200 here; ...".
std::string ConfigDifference(const std::string& there, const std::string& here) {
  const nlohmann::ordered_json a = RunIdentity(there), b = RunIdentity(here);
  if (!a.is_object() || !b.is_object()) return "config.json is not a JSON object";
  auto value = [](const nlohmann::ordered_json& o, const std::string& k) -> std::string {
    return o.contains(k) ? o.at(k).dump() : "(unset)";
  };
  std::vector<std::string> keys;
  for (const auto* o : {&a, &b}) {
    for (const auto& item : o->items()) {
      if (std::find(keys.begin(), keys.end(), item.key()) == keys.end()) keys.push_back(item.key());
    }
  }
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    const std::string va = value(a, k), vb = value(b, k);
    if (!(a.contains(k) && b.contains(k) && a.at(k) == b.at(k))) {
      out.push_back(absl::StrCat(k, ": ", va, " there, ", vb, " here"));
    }
  }
  return out.empty() ? "formatting only" : absl::StrJoin(out, "; ");
}

std::string ReadWholeFile(const std::string& path) {
  std::string text;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    char buffer[4096];
    for (size_t got; (got = std::fread(buffer, 1, sizeof(buffer), f)) > 0;)
      text.append(buffer, got);
    std::fclose(f);
  }
  return text;
}

// What an aggregator without --data cannot do, refused before it starts (issue 11 item 5): plan a
// stepsize from problem constants — today's rules combine L_i, L0, L1 from the workers' reports
// only once every client attached, and L (EF21's Theorem 1) is λ_max of all rows together, which
// no report gives — and evaluate the clients that sit a round out (EF21-PP), whose f_i(x^r) the
// closer computes itself.
absl::Status CheckRunWithoutData(const RunConfig& config) {
  const MethodOptions method = config.ToMethodOptions();
  if (PlanNeedsConstants(method.stepsize, method.algorithm)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "without --data the aggregator has no smoothness constants, and --stepsize=",
        StepsizeRuleName(method.stepsize.rule),
        " for --algorithm=", AlgorithmName(method.algorithm),
        " needs them; give the aggregator --data (then it plans from its own copy and checks the "
        "workers' reports against it), or use --stepsize=constant --gamma=G (the normalized "
        "methods' --stepsize=theory, gamma0/sqrt(K+1), needs none)"));
  }
  if (method.participation < 1.0) {
    return absl::InvalidArgumentError(
        "without --data the aggregator cannot evaluate f_i(x) of the clients that sit a round "
        "out, as metrics.csv's loss needs with --participation < 1; give it --data");
  }
  if (method.client_state == ClientStateMode::kWorker) {
    return absl::InvalidArgumentError(
        "without --data the aggregator cannot evaluate the gradients of diagnostic rounds, which "
        "clients do not send with --client-state=worker; give it --data, or use "
        "--client-state=aggregator");
  }
  return absl::OkStatus();
}

// How Start() treats the run directory.
struct RunStart {
  std::optional<AggregatorCheckpoint> resume;  // empty: a new run
};

absl::StatusOr<RunStart> PlanRunStart(const RunConfig& config) {
  RunStart start;
  if (config.out.empty() || config.overwrite) return start;
  const std::string path = absl::StrCat(config.out, "/", kCheckpointFileName);
  const std::string here = config.ToJson();
  absl::StatusOr<AggregatorCheckpoint> checkpoint = ReadCheckpoint(path);
  if (checkpoint.ok()) {
    if (!SameRun(checkpoint->config_json, here)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--out=", config.out, " holds run ", checkpoint->run_id, " with another configuration (",
          ConfigDifference(checkpoint->config_json, here),
          "); start it with its own flags to resume it, choose another --out, or pass "
          "--overwrite to replace it"));
    }
    start.resume = *std::move(checkpoint);
    return start;
  }
  if (checkpoint.status().code() != absl::StatusCode::kNotFound) {
    return absl::Status(
        checkpoint.status().code(),
        absl::StrCat(checkpoint.status().message(), "; pass --overwrite to replace the run"));
  }
  if (!HoldsRun(config.out)) return start;
  // A run directory without checkpoint: a run that died before its first checkpoint is started
  // again; anything with rows is not ours to erase.
  const std::string there = ReadWholeFile(config.out + "/config.json");
  const std::string metrics = ReadWholeFile(config.out + "/metrics.csv");
  const bool no_rows = metrics.empty() || metrics == absl::StrCat(kMetricsHeader, "\n");
  if (SameRun(there, here) && no_rows) return start;
  if (!there.empty() && !SameRun(there, here)) {
    return absl::FailedPreconditionError(
        absl::StrCat("--out=", config.out, " holds a run with another configuration (",
                     ConfigDifference(there, here),
                     ") and no checkpoint; choose another --out, or pass "
                     "--overwrite to replace it"));
  }
  return CheckFreshRunDirectory(config.out, false);
}

}  // namespace

void Aggregator::ConfigureProcessMemory(int arena_max) {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  if (arena_max > 0) mallopt(M_ARENA_MAX, arena_max);
}

absl::Status Aggregator::Options::Validate() const {
  EF21_RETURN_IF_ERROR(config.ValidateWithoutData());
  EF21_RETURN_IF_ERROR(CheckGrpcAddress(listen, "--listen"));
  if (!metrics_listen.empty()) {
    EF21_RETURN_IF_ERROR(ParseHostPort(metrics_listen, "--metrics-listen").status());
  }
  if (expected_clients < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--clients must be >= 0; got ", expected_clients));
  }
  if (per_client_metric_bound < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--per-client-metrics-max must be >= 0; got ", per_client_metric_bound));
  }
  if (round_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--round-timeout-seconds must be >= 0 (0: none); got ",
                     absl::FormatDuration(round_timeout)));
  }
  if (!(max_update_value > 0) || !(max_update_value <= 1e300)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-update-value must be in (0, 1e300]; got ", max_update_value));
  }
  if (insecure) {
    if (!tls_cert.empty() || !tls_key.empty() || !tls_ca.empty() || !workers_file.empty()) {
      return absl::InvalidArgumentError(
          "--insecure serves plaintext: it excludes --tls-cert, --tls-key, --tls-ca and "
          "--workers-file");
    }
  } else {
    if (tls_cert.empty() || tls_key.empty()) {
      return absl::InvalidArgumentError(
          "the aggregator needs --tls-cert and --tls-key (and --workers-file), or an explicit "
          "--insecure to serve plaintext to anyone who can reach the port");
    }
    if (workers_file.empty()) {
      return absl::InvalidArgumentError(
          "--workers-file is required with TLS: it binds each worker identity to its client ids");
    }
  }
  if (keepalive_time <= absl::ZeroDuration() || keepalive_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("keepalive durations must be positive");
  }
  if (checkpoint_every_rounds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint-every must be >= 0 rounds; got ", checkpoint_every_rounds));
  }
  if (!(checkpoint_every_seconds >= 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint-seconds must be >= 0; got ", checkpoint_every_seconds));
  }
  return absl::OkStatus();
}

int Aggregator::MaxReceiveMessageBytes(int64_t dim, int64_t clients) {
  const int64_t per_client = 24 * dim + 256;
  const int64_t cap = per_client * std::max<int64_t>(1, clients) + 64 * 1024;
  return static_cast<int>(std::min<int64_t>(cap, INT32_MAX));
}

int64_t Aggregator::ServerMemoryQuotaBytes(int max_message_bytes) {
  return 4 * static_cast<int64_t>(max_message_bytes) + (int64_t{64} << 20);
}

absl::StatusOr<std::unique_ptr<Aggregator>> Aggregator::Start(Options options) {
  EF21_RETURN_IF_ERROR(options.Validate());
  // gRPC removes whatever file is at a Unix socket's path before binding: a second aggregator given
  // the first one's path would take its workers' address from it without a word.
  if (IsUnixAddress(options.listen)) {
    struct stat st;
    if (::lstat(UnixSocketPath(options.listen).c_str(), &st) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "cannot listen on ", options.listen,
          ": the path exists (another aggregator's socket, or a stale one: remove it first)"));
    }
  }
  const RunConfig& config = options.config;
  std::shared_ptr<const Problem> problem;
  if (DataFreeProblem::Applies(config)) {
    EF21_RETURN_IF_ERROR(CheckRunWithoutData(config));
    EF21_ASSIGN_OR_RETURN(problem, DataFreeProblem::Create(config, options.expected_clients));
  } else {
    EF21_ASSIGN_OR_RETURN(problem, CreateProblem(config));
  }
  // From here on (config.json, the checkpoint's identity, the workers' RunSpec) the interval in
  // effect, as `ef21 simulate` writes it.
  options.config.ResolveDiagnosticsEvery(problem->dim());
  if (options.expected_clients != 0 && options.expected_clients != problem->num_clients()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--clients=", options.expected_clients, " but the problem has ", problem->num_clients(),
        " clients (", SplitName(config.split), " split of ", problem->Describe(), ")"));
  }
  EF21_ASSIGN_OR_RETURN(RunStart run_start, PlanRunStart(config));
  EF21_ASSIGN_OR_RETURN(Vector x0, CreateStartingPoint(config, *problem));
  EF21_ASSIGN_OR_RETURN(auto context,
                        MethodContext::Create(config.ToMethodOptions(), std::move(problem)));

  std::unique_ptr<Aggregator> a(new Aggregator());
  if (run_start.resume) {
    const AggregatorCheckpoint& c = *run_start.resume;
    // The plan is recomputed from the same data and configuration; it must agree bit for bit.
    if (!(c.gamma == context->plan.gamma) || !(c.eta == context->plan.eta) ||
        c.stepsize_rule != context->plan.rule) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--out=%s: the checkpoint's stepsize plan (gamma %.17g, eta %.17g, %s) differs from the "
          "one planned now (gamma %.17g, eta %.17g, %s): the data changed; pass --overwrite to "
          "start over",
          config.out, c.gamma, c.eta, c.stepsize_rule, context->plan.gamma, context->plan.eta,
          context->plan.rule));
    }
    std::vector<int64_t> all(context->num_clients());
    for (int64_t i = 0; i < context->num_clients(); ++i) all[i] = i;
    std::vector<double> probes(all.size());
    // Without data the workers' reports, kept in the checkpoint, identify the data instead.
    if (context->problem->HasData()) ProbeLosses(*context->problem, all, probes.data());
    const double fingerprint = context->problem->HasData() ? SumAscending(probes) : std::nan("");
    if (!(fingerprint == c.fingerprint) &&
        !(std::isnan(fingerprint) && std::isnan(c.fingerprint))) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--out=%s: the data differs from the checkpointed run's (fingerprint %.17g, now %.17g); "
          "pass --overwrite to start over",
          config.out, c.fingerprint, fingerprint));
    }
    // The probe fingerprint misses a coordinate where the probe point is zero; the digest of
    // every row, coordinate and label does not (checkpoints before EF21CKP3 lack it).
    if (c.data_digest.has_value() && context->problem->HasData()) {
      std::vector<uint64_t> digests(all.size());
      ClientDataDigests(*context->problem, all, digests.data());
      const uint64_t digest = CombineDataDigests(all, digests);
      if (digest != *c.data_digest) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "--out=%s: the data differs from the checkpointed run's (data digest %016x, now "
            "%016x: some row, coordinate or label changed); pass --overwrite to start over",
            config.out, *c.data_digest, digest));
      }
    }
    EF21_ASSIGN_OR_RETURN(a->log_, RunLog::Resume(config.out, c.round, config.eps));
  } else {
    EF21_ASSIGN_OR_RETURN(a->log_, RunLog::Create(config.out, config.ToJson(), config.eps));
  }
  AggregatorMetrics::Options metrics_options;
  metrics_options.listen = options.metrics_listen;
  metrics_options.clients = context->num_clients();
  metrics_options.diagnostics_every = context->options.diagnostics_every;
  metrics_options.per_client_bound = options.per_client_metric_bound;
  EF21_ASSIGN_OR_RETURN(a->metrics_, AggregatorMetrics::Start(metrics_options));
  AuditLog::Options audit_options;
  audit_options.out = options.audit_out;
  audit_options.metrics = a->metrics_.get();
  a->audit_ = std::make_unique<AuditLog>(audit_options);

  RoundCoordinator::Options coordinator_options;
  coordinator_options.context = context;
  coordinator_options.config = config;
  coordinator_options.x0 = std::move(x0);
  coordinator_options.log = a->log_.get();
  coordinator_options.metrics = a->metrics_.get();
  coordinator_options.run_id = run_start.resume ? run_start.resume->run_id : NewRunId();
  coordinator_options.observer = std::move(options.observer);
  if (!config.out.empty()) {
    coordinator_options.checkpoint_path = absl::StrCat(config.out, "/", kCheckpointFileName);
    coordinator_options.checkpoint_every_rounds = options.checkpoint_every_rounds;
    coordinator_options.checkpoint_every_seconds = options.checkpoint_every_seconds;
  }
  coordinator_options.resume = std::move(run_start.resume);
  coordinator_options.audit = a->audit_.get();
  coordinator_options.round_timeout = options.round_timeout;
  coordinator_options.coverage_report_after = options.coverage_report_after;
  coordinator_options.max_abs_value = options.max_update_value;
  EF21_ASSIGN_OR_RETURN(a->coordinator_, RoundCoordinator::Create(std::move(coordinator_options)));
  a->served_finished_ = a->coordinator_->complete();
  AggregatorService::Options service_options;
  service_options.coordinator = a->coordinator_.get();
  service_options.metrics = a->metrics_.get();
  service_options.audit = a->audit_.get();
  service_options.max_abs_value = options.max_update_value;
  service_options.verify_diagnostics = options.verify_diagnostics;

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.insecure) {
    EF21_ASSIGN_OR_RETURN(a->authorizer_, WorkerAuthorizer::Load(options.workers_file));
    EF21_ASSIGN_OR_RETURN(credentials, ServerTlsCredentials(options));
  }
  service_options.authorizer = a->authorizer_.get();
  a->service_ = std::make_unique<AggregatorService>(service_options);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &a->port_);
  builder.RegisterService(a->service_.get());
  const int max_message = MaxReceiveMessageBytes(context->dim(), context->num_clients());
  builder.SetMaxReceiveMessageSize(max_message);
  // gRPC checks the size cap only once a message is whole, and its HTTP/2 flow control opens the
  // window to whatever length the message header announces: a 400 MB message against a 404 kB cap
  // was buffered whole. A memory quota for the server's transports bounds that: past it, gRPC
  // reclaims memory by cancelling streams.
  grpc::ResourceQuota quota("ef21-aggregator");
  quota.Resize(static_cast<size_t>(ServerMemoryQuotaBytes(max_message)));
  builder.SetResourceQuota(quota);
  builder.SetMaxSendMessageSize(-1);
  // gRPC sets SO_REUSEPORT by default: a second aggregator on the same port would start without
  // error and the kernel would split the workers between the two.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Milliseconds(options.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             Milliseconds(options.keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Workers ping every few seconds too; do not count that as abuse.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  if (config.client_state == ClientStateMode::kWorker) {
    // Keeping memory low: a stream's receive window stays at the message being read plus gRPC's
    // 64 KB lookahead, so that the workers' messages (--message-bytes) wait in their senders'
    // buffers rather than in ours. The BDP probe would widen it to megabytes per stream (gRPC's
    // receive buffers at the heap's peak, 4 workers at d = 10^6: 9.6 MB with it, 2.4 MB without),
    // which only pays on links with a long round trip (docs/DEPLOY.md).
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  }
  a->server_ = builder.BuildAndStart();
  if (a->server_ == nullptr || a->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen,
                     ": the port is in use (another aggregator?), the address is not local, or the "
                     "TLS certificate or key is not valid PEM"));
  }
  if (IsUnixAddress(options.listen)) {
    a->address_ = options.listen;
  } else {
    const size_t colon = options.listen.rfind(':');
    a->address_ = absl::StrCat(options.listen.substr(0, colon), ":", a->port_);
  }
  grpc::HealthCheckServiceInterface* health = a->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(v1::Aggregator::service_full_name(), true);
  }
  return a;
}

absl::Status Aggregator::WriteSummary() {
  if (served_finished_ || summary_written_) return absl::OkStatus();
  summary_written_ = true;
  return log_->Finish(coordinator_->DescribeRunForSummary(), coordinator_->status());
}

absl::Status Aggregator::Shutdown(absl::Duration grace) {
  if (shut_down_) return coordinator_->status();
  shut_down_ = true;
  // A run still going when shut down is stopped: workers get Finish{stopped}.
  coordinator_->Stop("aggregator shut down");
  const absl::Status status = coordinator_->status();
  // A finished run served again keeps the summary.json it was finished with.
  absl::Status written = WriteSummary();
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
