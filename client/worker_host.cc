#include "client/worker_host.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/base/bounded_file.h"
#include "common/base/clock.h"
#include "common/base/host_port.h"
#include "common/base/status_macros.h"
#include "common/run/problem_factory.h"
#include "grpcpp/grpcpp.h"
#include "proto/codec.h"

namespace ef21 {
namespace {

using Stream = grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>;

int Milliseconds(absl::Duration d) { return static_cast<int>(absl::ToInt64Milliseconds(d)); }

// Worth reconnecting for: the aggregator is (temporarily) unreachable, the stream broke, or a
// client is still attached on a stream the aggregator has not seen die yet.
bool Retryable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kAborted ||
         code == absl::StatusCode::kDeadlineExceeded || code == absl::StatusCode::kCancelled ||
         code == absl::StatusCode::kUnknown;
}

// The method context with the aggregator's stepsize plan: a worker has no use for the smoothness
// constants, whose computation over the whole data set can take longer than the run.
absl::StatusOr<std::shared_ptr<const MethodContext>> MakeContext(
    const RunConfig& config, std::shared_ptr<const Problem> problem, const v1::Welcome& welcome) {
  StepsizePlan plan;
  plan.gamma = welcome.gamma();
  plan.eta = welcome.eta();
  plan.rule = welcome.stepsize_rule();
  return MethodContext::Create(config.ToMethodOptions(), std::move(problem), std::move(plan));
}

}  // namespace

absl::Status WorkerHost::Options::Validate() const {
  // A gRPC target URI ("dns:///host:port") is passed as is; a plain address is checked.
  if (!await_aggregator && aggregator.find("://") == std::string::npos) {
    EF21_RETURN_IF_ERROR(CheckGrpcAddress(aggregator, "--aggregator"));
  }
  if (!metrics_listen.empty()) {
    EF21_RETURN_IF_ERROR(ParseHostPort(metrics_listen, "--metrics-listen").status());
  }
  if (message_bytes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--message-bytes: expected a positive number of bytes; got ", message_bytes));
  }
  if (first_client < 0 || last_client < first_client) {
    return absl::InvalidArgumentError(
        absl::StrCat("--client-ids: expected 0 <= A <= B; got ", first_client, "-", last_client));
  }
  if (insecure) {
    if (!tls_ca.empty() || !tls_cert.empty() || !tls_key.empty() || !token_file.empty()) {
      return absl::InvalidArgumentError(
          "--insecure connects in plaintext: it excludes --tls-ca, --tls-cert, --tls-key and "
          "--token-file");
    }
  } else {
    if (tls_ca.empty()) {
      return absl::InvalidArgumentError(
          "the worker needs --tls-ca (the CA of the aggregator's certificate) and --tls-cert/"
          "--tls-key or --token-file, or an explicit --insecure to connect in plaintext");
    }
    if (tls_cert.empty() != tls_key.empty()) {
      return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
    }
    if (tls_cert.empty() && token_file.empty()) {
      return absl::InvalidArgumentError(
          "the worker needs an identity: --tls-cert and --tls-key, or --token-file");
    }
  }
  if (threads < 1)
    return absl::InvalidArgumentError(absl::StrCat("--threads must be >= 1; got ", threads));
  if (connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--connect-timeout-seconds must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WorkerHost>> WorkerHost::Create(Options options) {
  EF21_RETURN_IF_ERROR(options.Validate());
  // The problem flags alone must make a valid configuration (the algorithm part is a default).
  std::unique_ptr<WorkerHost> host(new WorkerHost(std::move(options)));
  const Options& o = host->options_;
  EF21_ASSIGN_OR_RETURN(host->problem_,
                        CreateProblemForClients(o.problem, o.first_client, o.last_client));
  if (o.last_client >= host->problem_->num_clients()) {
    return absl::InvalidArgumentError(absl::StrCat("--client-ids=", o.first_client, "-",
                                                   o.last_client, " reaches beyond the problem's ",
                                                   host->problem_->num_clients(), " clients"));
  }
  for (int64_t i = o.first_client; i <= o.last_client; ++i) host->ids_.push_back(i);

  WorkerMetrics::Options metrics_options;
  metrics_options.listen = o.metrics_listen;
  EF21_ASSIGN_OR_RETURN(host->metrics_, WorkerMetrics::Start(metrics_options));
  host->metrics_->SetClients(static_cast<int64_t>(host->ids_.size()));

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Milliseconds(o.keepalive_time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Milliseconds(o.keepalive_timeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, Milliseconds(o.backoff_initial));
  // gRPC takes this as the deadline of one connection attempt (not as a delay: a refused
  // connection is retried after the backoff): it must cover an aggregator that answers late. At the
  // initial backoff's 50 ms, a worker on a loaded machine (load ~10) gave up attempt after attempt
  // on an aggregator that had just started, and attached only after 5.5 s; a TLS handshake on a
  // busy machine needs longer still.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, o.insecure ? 2000 : 10000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, Milliseconds(o.backoff_max));
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!o.insecure) {
    constexpr int64_t kMaxPemBytes = 1 << 20;
    grpc::SslCredentialsOptions ssl;
    EF21_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadBoundedFile(o.tls_ca, kMaxPemBytes, "--tls-ca"));
    if (!o.tls_cert.empty()) {
      EF21_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                            ReadBoundedFile(o.tls_cert, kMaxPemBytes, "--tls-cert"));
      EF21_ASSIGN_OR_RETURN(ssl.pem_private_key,
                            ReadBoundedFile(o.tls_key, kMaxPemBytes, "--tls-key"));
    }
    if (!o.token_file.empty()) {
      EF21_ASSIGN_OR_RETURN(std::string token, ReadBoundedFile(o.token_file, 4096, "--token-file"));
      token = std::string(absl::StripAsciiWhitespace(token));
      if (token.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--token-file \"", o.token_file, "\" is empty"));
      }
      host->authorization_ = absl::StrCat("Bearer ", token);
    }
    if (!o.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(o.tls_server_name);
    }
    credentials = grpc::SslCredentials(ssl);
  }
  host->pool_ = std::make_unique<ThreadPool>(o.threads);
  if (host->problem_->ClientStepsAreLong()) host->grain_.AssumeLongIterations();
  // What the aggregator needs of the hosted clients' data (it may hold none): each client's
  // constants and data digest, from its own rows (the digest alone with report_constants off).
  host->reports_.resize(host->ids_.size());
  host->pool_->ParallelFor(
      static_cast<int64_t>(host->ids_.size()), 1, [&host](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
          if (host->options_.report_constants) {
            host->reports_[j] = ComputeShardReport(*host->problem_, host->ids_[j]);
          } else {
            host->reports_[j].digest = host->problem_->DataDigest(host->ids_[j]);
          }
        }
      });
  std::vector<uint64_t> digests(host->ids_.size());
  for (size_t j = 0; j < digests.size(); ++j) digests[j] = host->reports_[j].digest;
  host->data_digest_ = CombineDataDigests(host->ids_, digests);
  if (!o.state_dir.empty()) {
    ClientStateLog::Options log_options;
    log_options.dir = o.state_dir;
    log_options.first_client = o.first_client;
    log_options.last_client = o.last_client;
    log_options.dim = host->problem_->dim();
    // A damaged file matters only to a run that keeps g_i on the workers: reported then.
    absl::StatusOr<std::unique_ptr<ClientStateLog>> log =
        ClientStateLog::Open(std::move(log_options));
    if (log.ok()) {
      host->g_log_ = *std::move(log);
    } else {
      host->g_log_error_ = log.status();
    }
  }
  if (o.await_aggregator) {
    EF21_ASSIGN_OR_RETURN(host->options_.aggregator, o.await_aggregator());
    EF21_RETURN_IF_ERROR(CheckGrpcAddress(o.aggregator, "the aggregator's address"));
  }
  host->channel_ = grpc::CreateCustomChannel(o.aggregator, credentials, args);
  host->stub_ = v1::Aggregator::NewStub(host->channel_);
  return host;
}

WorkerHost::WorkerHost(Options options) : options_(std::move(options)) {
  if (options_.name.empty()) {
    char hostname[256] = {0};
    ::gethostname(hostname, sizeof(hostname) - 1);
    options_.name = absl::StrCat(hostname, ":", ::getpid());
  }
}

WorkerHost::~WorkerHost() = default;

void WorkerHost::Cancel() {
  cancelled_ = true;
  absl::MutexLock lock(&mu_);  // waiters re-check cancelled_ when it is released
  if (active_context_ != nullptr) active_context_->TryCancel();
}

bool WorkerHost::SleepUnlessCancelled(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto cancelled = [this] { return cancelled_.load(); };
  return !mu_.AwaitWithTimeout(absl::Condition(&cancelled), d);
}

absl::StatusOr<WorkerHost::Result> WorkerHost::Run() {
  Result result;
  std::mt19937_64 jitter(std::random_device{}());
  absl::Duration backoff = options_.backoff_initial;
  absl::Time outage_start = absl::Now();
  absl::Status last;
  for (;;) {
    if (cancelled_) return absl::CancelledError("worker cancelled");
    bool welcomed = false;
    bool finished = false;
    last = RunSession(&welcomed, &result);
    if (last.ok()) {
      finished = true;
    }
    if (finished) {
      result.update_messages = update_messages_;
      return result;
    }
    if (cancelled_) return absl::CancelledError("worker cancelled");
    if (!Retryable(last.code())) return last;
    if (welcomed) {
      outage_start = absl::Now();
      backoff = options_.backoff_initial;
    }
    if (absl::Now() - outage_start > options_.connect_timeout) {
      if (last.code() == absl::StatusCode::kAborted) {
        // The aggregator was reachable and refused: a client is held by another stream.
        return absl::FailedPreconditionError(absl::StrCat(
            last.message(), " (still after ", absl::FormatDuration(options_.connect_timeout),
            "): --client-ids=", options_.first_client, "-", options_.last_client,
            " overlaps another worker's, or the aggregator has not yet seen this worker's previous "
            "stream end"));
      }
      return absl::UnavailableError(
          absl::StrCat("aggregator at ", options_.aggregator, " unreachable for ",
                       absl::FormatDuration(options_.connect_timeout), ": ", last.message()));
    }
    if (options_.on_retry) options_.on_retry(last);
    // Jitter in [backoff/2, backoff].
    const double fraction = 0.5 + 0.5 * std::uniform_real_distribution<double>(0.0, 1.0)(jitter);
    if (!SleepUnlessCancelled(backoff * fraction)) return absl::CancelledError("worker cancelled");
    backoff = std::min(backoff * 2, options_.backoff_max);
    ++result.reconnects;
    metrics_->OnReconnect();
  }
}

bool WorkerHost::Write(Stream* stream, const v1::WorkerMessage& message) {
  const bool written = stream->Write(message);
  // Serializing computed the size (a batch of many small updates takes about as long to size as
  // to serialize): counted from the cache rather than sized twice.
  metrics_->OnBytesSent(static_cast<int64_t>(message.GetCachedSize()));
  return written;
}

namespace {

// About the bytes an update takes on the wire (index code, values, gradient, a few field headers):
// enough to deal a batch out to messages of about a given size without sizing every update.
int64_t ApproxWireBytes(const v1::Update& u) {
  const v1::SparseVector& c = u.c();
  return 32 + static_cast<int64_t>(c.index_code().size()) + int64_t{4} * c.values_f32_size() +
         int64_t{8} * c.values_f64_size() + int64_t{8} * u.gradient_size();
}

int64_t ApproxWireBytes(const v1::GradientSum& sum) { return 16 + int64_t{8} * sum.values_size(); }

}  // namespace

bool WorkerHost::WriteUpdates(Stream* stream, v1::WorkerMessage* batch) {
  const int n = batch->updates_size(), m = batch->gradient_sums_size();
  int64_t total = 0;
  for (const v1::Update& u : batch->updates()) total += ApproxWireBytes(u);
  for (const v1::GradientSum& sum : batch->gradient_sums()) total += ApproxWireBytes(sum);
  if (n <= 1 || total <= options_.message_bytes) {
    ++update_messages_;
    return Write(stream, *batch);
  }
  update_ptrs_.resize(static_cast<size_t>(n));
  sum_ptrs_.resize(static_cast<size_t>(m));
  batch->mutable_updates()->ExtractSubrange(0, n, update_ptrs_.data());
  batch->mutable_gradient_sums()->ExtractSubrange(0, m, sum_ptrs_.data());
  bool written = true;
  int j = 0, s = 0;  // the next update and the next sum to send
  while (written && j < n) {
    const int first = j, first_sum = s;
    int64_t bytes = 0;
    while (j < n && bytes < options_.message_bytes) {
      const int64_t client = update_ptrs_[static_cast<size_t>(j)]->client_id();
      const v1::GradientSum* sum = s < m ? sum_ptrs_[static_cast<size_t>(s)] : nullptr;
      const TreeNode node{static_cast<int>(sum == nullptr ? 0 : sum->level()),
                          static_cast<int64_t>(sum == nullptr ? 0 : sum->index())};
      if (sum != nullptr && tree_->Begin(node) <= client) {
        // A sum and all of its clients' updates (ascending, as the batch holds them) go together.
        bytes += ApproxWireBytes(*sum);
        ++s;
        const int64_t end = tree_->End(node);
        for (; j < n && update_ptrs_[static_cast<size_t>(j)]->client_id() < end; ++j) {
          bytes += ApproxWireBytes(*update_ptrs_[static_cast<size_t>(j)]);
        }
      } else {
        bytes += ApproxWireBytes(*update_ptrs_[static_cast<size_t>(j++)]);
      }
    }
    for (int k = first; k < j; ++k) {
      piece_.mutable_updates()->AddAllocated(update_ptrs_[static_cast<size_t>(k)]);
    }
    for (int k = first_sum; k < s; ++k) {
      piece_.mutable_gradient_sums()->AddAllocated(sum_ptrs_[static_cast<size_t>(k)]);
    }
    ++update_messages_;
    written = Write(stream, piece_);
    piece_.mutable_updates()->ExtractSubrange(0, j - first, update_ptrs_.data() + first);
    piece_.mutable_gradient_sums()->ExtractSubrange(0, s - first_sum, sum_ptrs_.data() + first_sum);
  }
  for (v1::Update* u : update_ptrs_) batch->mutable_updates()->AddAllocated(u);
  for (v1::GradientSum* sum : sum_ptrs_) batch->mutable_gradient_sums()->AddAllocated(sum);
  return written;
}

absl::Status WorkerHost::RunSession(bool* welcomed, Result* result) {
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("worker cancelled");
    active_context_ = &context;
  }
  // Cancels the stream when Welcome does not come in time.
  bool got_welcome = false;
  bool session_over = false;
  std::thread watchdog([&] {
    absl::MutexLock lock(&mu_);
    auto settled = [&] { return got_welcome || session_over; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&settled), options_.welcome_timeout)) {
      context.TryCancel();
    }
  });

  if (!authorization_.empty()) context.AddMetadata("authorization", authorization_);
  std::unique_ptr<Stream> stream = stub_->Train(&context);
  v1::WorkerMessage attach_message;
  v1::Attach* attach = attach_message.mutable_attach();
  attach->set_run_id(run_id_);
  for (int64_t id : ids_) attach->add_client_ids(static_cast<uint32_t>(id));
  ProblemToSpec(options_.problem, attach->mutable_problem());
  attach->set_dim(static_cast<uint32_t>(problem_->dim()));
  attach->set_clients(static_cast<uint32_t>(problem_->num_clients()));
  attach->set_data_digest(data_digest_);
  for (size_t j = 0; j < ids_.size() && options_.report_constants; ++j) {
    EncodeShardReport(ids_[j], reports_[j], attach->add_constants());
  }
  attach->set_worker_name(options_.name);
  ClaimStates(attach);

  absl::Status protocol;  // an error of ours that ends the session
  bool finish_received = false;
  if (Write(stream.get(), attach_message)) {
    v1::ServerMessage in;
    while (stream->Read(&in)) {
      metrics_->OnBytesReceived(static_cast<int64_t>(in.ByteSizeLong()));
      if (in.has_welcome()) {
        {
          absl::MutexLock lock(&mu_);
          got_welcome = true;
        }
        *welcomed = true;
        protocol = OnWelcome(in.welcome(), stream.get());
      } else if (in.has_round_start()) {
        if (context_ == nullptr) {
          protocol = absl::InternalError("RoundStart before Welcome");
        } else {
          protocol = OnRoundStart(in.round_start(), stream.get(), &context);
        }
      } else if (in.has_finish()) {
        result->rounds = in.finish().rounds();
        result->stopped = in.finish().stopped();
        result->reason = in.finish().reason();
        finish_received = true;
        stream->WritesDone();
      }
      if (!protocol.ok()) {
        context.TryCancel();
        break;
      }
    }
  }
  const grpc::Status status = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    active_context_ = nullptr;
    session_over = true;
  }
  watchdog.join();
  if (!protocol.ok()) return protocol;
  if (finish_received) return absl::OkStatus();
  if (status.ok()) return absl::UnavailableError("the aggregator ended the stream without Finish");
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && !run_id_.empty()) {
    const auto& trailers = context.GetServerTrailingMetadata();
    auto it = trailers.find(kRunIdMetadataKey);
    if (it != trailers.end() && std::string(it->second.data(), it->second.size()) != run_id_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "aggregator restarted: run ", run_id_, " is gone (now ",
          std::string(it->second.data(), it->second.size()),
          "): it started a new run instead of resuming this one (another --out, or --overwrite)"));
    }
  }
  absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(),
                      absl::StrCat("aggregator ", options_.aggregator, ": ", s.message()));
}

absl::Status WorkerHost::OnWelcome(const v1::Welcome& welcome, Stream* stream) {
  if (!run_id_.empty() && welcome.run_id() != run_id_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "aggregator restarted: run ", run_id_, " is gone (now ", welcome.run_id(),
        "): it started a new run instead of resuming this one (another --out, or --overwrite)"));
  }
  if (static_cast<int64_t>(welcome.dim()) != problem_->dim() ||
      static_cast<int64_t>(welcome.clients()) != problem_->num_clients()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the run has dimension ", welcome.dim(), " and ", welcome.clients(),
        " clients; this worker's problem has ", problem_->dim(), " and ", problem_->num_clients()));
  }
  if (welcome.states_size() != static_cast<int>(ids_.size())) {
    return absl::InternalError(absl::StrCat("Welcome carries ", welcome.states_size(),
                                            " client states for ", ids_.size(), " clients"));
  }
  const size_t n = ids_.size();
  const bool reattach = context_ != nullptr;
  if (context_ == nullptr) {
    RunConfig config = options_.problem;
    EF21_RETURN_IF_ERROR(SpecToRunConfig(welcome.spec(), &config));
    // Keep this worker's own data path; the rest of the problem was compared by the aggregator.
    config.data = options_.problem.data;
    config.x0_file.clear();
    config.out.clear();
    EF21_ASSIGN_OR_RETURN(context_, MakeContext(config, problem_, welcome));
    run_id_ = welcome.run_id();
    worker_state_ = context_->options.client_state == ClientStateMode::kWorker;
    chain_.assign(n, kFreshClientChain);
    chain_before_.assign(n, kFreshClientChain);
    for (int64_t id : ids_) clients_.push_back(ClientMethod::Create(context_, id));
    model_ = ServerMethod::Create(context_, Vector::Zero(problem_->dim()));
    tree_ = std::make_unique<GradientTree>(problem_->num_clients());
    computed_round_.assign(n, -1);
    messages_.resize(n);
    if (!worker_state_) {
      g_log_.reset();  // the aggregator keeps g_i: nothing of it on this host's disk
    } else if (g_log_ != nullptr) {
      EF21_RETURN_IF_ERROR(g_log_->Bind(run_id_));
    } else if (!g_log_error_.ok()) {
      return g_log_error_;
    }
    if (!options_.state_dir.empty() && clients_.front()->private_state() != nullptr) {
      WorkerStateStore::Options store_options;
      store_options.dir = options_.state_dir;
      store_options.run_id = run_id_;
      store_options.first_client = ids_.front();
      store_options.last_client = ids_.back();
      store_options.dim = problem_->dim();
      EF21_ASSIGN_OR_RETURN(store_, WorkerStateStore::Open(std::move(store_options)));
    }
  }
  const int64_t open = static_cast<int64_t>(welcome.round());
  v1::WorkerMessage resend;
  Vector g;
  if (worker_state_) EF21_RETURN_IF_ERROR(ResumeWorkerStates(welcome, &resend));
  for (size_t j = 0; j < n && !worker_state_; ++j) {
    const v1::ClientState& state = welcome.states(static_cast<int>(j));
    if (static_cast<int64_t>(state.client_id()) != ids_[j]) {
      return absl::InternalError(absl::StrCat("Welcome's state ", j, " is for client ",
                                              state.client_id(), ", expected ", ids_[j]));
    }
    const bool has_g = state.g_size() > 0;
    if (has_g && state.g_size() != problem_->dim()) {
      return absl::InternalError(absl::StrCat("Welcome's g_", ids_[j], " has ", state.g_size(),
                                              " values; expected ", problem_->dim()));
    }
    const bool agrees = has_g && clients_[j]->g() == MapVector(state.g());
    if (state.update_received()) {
      // Skip the open round; hold g_i exactly as the aggregator will after applying it.
      if (computed_round_[j] != open || !agrees) {
        EF21_RETURN_IF_ERROR(RestoreClient(j, MapVector(state.g()), open));
      }
      computed_round_[j] = open;
    } else if (computed_round_[j] == open && !context_->Participates(ids_[j], open)) {
      // Sat the open round out (EF21-PP): nothing was sent and nothing is owed.
    } else if (computed_round_[j] == open) {
      // Computed and sent, but lost with the stream: send the same message again.
      const int k = static_cast<int>(std::find(todo_.begin(), todo_.end(), j) - todo_.begin());
      *resend.add_updates() = out_.updates(k);
    } else {
      // Answer the open round from the aggregator's g_i (a fresh client starts from zero).
      if (has_g) {
        if (computed_round_[j] != open - 1 || !agrees) {
          EF21_RETURN_IF_ERROR(RestoreClient(j, MapVector(state.g()), open - 1));
        }
      } else if (computed_round_[j] != -1) {
        clients_[j] = ClientMethod::Create(context_, ids_[j]);
      }
      computed_round_[j] = open - 1;
    }
  }
  loaded_.clear();
  // A restored host keeps what it restored to (a later checkpoint may name it as the anchor).
  EF21_RETURN_IF_ERROR(SaveStates());
  if (resend.updates_size() > 0 && context_->UploadsGradient(static_cast<uint64_t>(open))) {
    // The resent clients' gradients as this batch sums them: each alone, or in a sum over whole
    // subtrees of them (what was sent before may have been summed over other clients too).
    std::vector<size_t> batch;
    for (const v1::Update& u : resend.updates()) {
      batch.push_back(static_cast<size_t>(u.client_id() - ids_.front()));
    }
    PlanGradientSums(batch);
    for (int k = 0; k < resend.updates_size(); ++k) {
      v1::Update* u = resend.mutable_updates(k);
      if (summed_[k]) {
        u->clear_gradient();
      } else {
        AssignVector(messages_[batch[k]].gradient, u->mutable_gradient());
      }
    }
    FillGradientSums(&resend);
  }
  if (resend.updates_size() > 0 && !WriteUpdates(stream, &resend)) {
    return absl::UnavailableError("stream broke while resending updates");
  }
  if (options_.on_attached) options_.on_attached(run_id_, welcome.round(), reattach);
  return absl::OkStatus();
}

std::vector<ClientStateLog::Held> WorkerHost::ClaimableFromStateDir() const {
  std::vector<ClientStateLog::Held> held;
  if (g_log_ == nullptr) return held;
  held = g_log_->held();
  if (held.empty()) return held;
  // A round's g_i alone does not resume a client with private state (momentum v_i, EF14's e_i):
  // its file of that round must be whole too. Whether the method has any: known once a Welcome
  // named it; before (a restarted host), from whether this run's files include private states.
  WorkerStateStore::Options options;
  options.dir = options_.state_dir;
  options.run_id = g_log_->run_id();
  options.first_client = ids_.front();
  options.last_client = ids_.back();
  options.dim = problem_->dim();
  const std::set<int64_t> whole = WorkerStateStore::WholeRounds(options);
  const bool private_state =
      clients_.empty() ? !whole.empty() : clients_.front()->private_state() != nullptr;
  if (!private_state) return held;
  // The newest held state stands until now (no message was logged after it): any later whole
  // file holds the private state that goes with it (the clients sat the rounds since out).
  const int64_t newest = held.back().round;
  std::vector<int64_t> dropped;
  std::vector<ClientStateLog::Held> claimable;
  for (ClientStateLog::Held& h : held) {
    const bool kept =
        h.round == newest ? whole.lower_bound(h.round) != whole.end() : whole.count(h.round) > 0;
    if (h.round < 0 || kept) {
      claimable.push_back(std::move(h));
    } else {
      dropped.push_back(h.round);
    }
  }
  if (!dropped.empty()) {
    std::fprintf(stderr,
                 "ef21 worker: clients %lld-%lld: --state-dir %s holds g_i as of round%s %s but "
                 "not the private state (momentum / EF14 error) of %s: not claimed\n",
                 static_cast<long long>(ids_.front()), static_cast<long long>(ids_.back()),
                 options_.state_dir.c_str(), dropped.size() > 1 ? "s" : "",
                 absl::StrJoin(dropped, ", ").c_str(), dropped.size() > 1 ? "those" : "that round");
  }
  return claimable;
}

void WorkerHost::ClaimStates(v1::Attach* attach) const {
  const std::vector<ClientStateLog::Held> from_dir = ClaimableFromStateDir();
  for (size_t j = 0; j < ids_.size(); ++j) {
    v1::ClientClaim* claim = attach->add_claims();
    claim->set_client_id(static_cast<uint32_t>(ids_[j]));
    // What the --state-dir can rebuild (--client-state=worker; before the first Welcome, what
    // a previous process of this host left there).
    auto add_held = [claim](uint64_t chain) {
      if (std::find(claim->held().begin(), claim->held().end(), chain) == claim->held().end()) {
        claim->add_held(chain);
      }
    };
    // Before the first Welcome every client is fresh in memory.
    add_held(chain_.empty() ? kFreshClientChain : chain_[j]);
    for (const ClientStateLog::Held& held : from_dir) add_held(held.chains[j]);
    if (chain_.empty()) continue;
    const auto cached = std::find(todo_.begin(), todo_.end(), j);
    if (cached != todo_.end() && computed_round_[j] >= 0) {
      claim->set_can_resend(true);
      claim->set_resend_round(static_cast<uint64_t>(computed_round_[j]));
      claim->set_resend_from(chain_before_[j]);
    }
  }
}

absl::StatusOr<bool> WorkerHost::RestoreFromLog(size_t j, int64_t round, uint64_t chain,
                                                std::map<int64_t, ClientStateLog::State>* rebuilt,
                                                int64_t* lacks_private_state) {
  if (g_log_ == nullptr || g_log_->run_id() != run_id_ || round < g_log_->base() - 1) return false;
  auto it = rebuilt->find(round);
  if (it == rebuilt->end()) {
    EF21_ASSIGN_OR_RETURN(ClientStateLog::State state, g_log_->Rebuild(round, *model_));
    it = rebuilt->emplace(round, std::move(state)).first;
  }
  if (it->second.chains[j] != chain) return false;
  // Exactly or not at all: without the private state of that round (momentum, EF14's error) the
  // caller tries an earlier round, else the client is refused, rather than resumed by policy.
  if (round >= 0 && !PrivateStateKept(j, round)) {
    *lacks_private_state = round;
    return false;
  }
  if (round < 0) {
    clients_[j] = ClientMethod::Create(context_, ids_[j]);
  } else {
    EF21_RETURN_IF_ERROR(RestoreClient(j, it->second.g[j], round));
  }
  chain_[j] = chain;
  chain_before_[j] = chain;
  computed_round_[j] = round;
  return true;
}

absl::Status WorkerHost::ResumeWorkerStates(const v1::Welcome& welcome, v1::WorkerMessage* resend) {
  const int64_t open = static_cast<int64_t>(welcome.round());
  // Clients put back from the --state-dir: the log forgets their messages after that round.
  std::vector<int64_t> keep_through(ids_.size(), std::numeric_limits<int64_t>::max());
  bool rewound = false;
  std::map<int64_t, ClientStateLog::State> rebuilt;
  for (size_t j = 0; j < ids_.size(); ++j) {
    int64_t lacks_private_state = -2;  // a round whose g_i the log has, but not its private state
    const v1::ClientState& state = welcome.states(static_cast<int>(j));
    if (static_cast<int64_t>(state.client_id()) != ids_[j] || state.g_size() != 0) {
      return absl::InternalError(absl::StrCat(
          "Welcome's state ", j, " is for client ", state.client_id(), " with ", state.g_size(),
          " values of g; expected client ", ids_[j], " without g (--client-state=worker)"));
    }
    if (state.update_received() && chain_[j] == state.chain_after_update()) {
      computed_round_[j] = open;  // holds g_i with the received update applied: skip the round
      continue;
    }
    const auto cached = std::find(todo_.begin(), todo_.end(), j);
    if (!state.update_received() && computed_round_[j] == open && cached != todo_.end() &&
        chain_before_[j] == state.chain() && chain_[j] != state.chain()) {
      // Computed and sent, but lost with the stream: send the same message again.
      *resend->add_updates() = out_.updates(static_cast<int>(cached - todo_.begin()));
      continue;
    }
    if (chain_[j] == state.chain()) {
      // At the closed rounds' state: answer the open round (a client that sat it out is done;
      // an update the aggregator already has goes again as an exact resend, which it ignores).
      if (!(computed_round_[j] == open && !context_->Participates(ids_[j], open))) {
        computed_round_[j] = open - 1;
      }
      continue;
    }
    // From the --state-dir: g_i with the received update applied (skip the round), or as of the
    // closed rounds (answer it; a received update goes again as an exact resend).
    bool restored = false;
    if (state.update_received()) {
      EF21_ASSIGN_OR_RETURN(restored, RestoreFromLog(j, open, state.chain_after_update(), &rebuilt,
                                                     &lacks_private_state));
    }
    if (!restored) {
      EF21_ASSIGN_OR_RETURN(
          restored, RestoreFromLog(j, open - 1, state.chain(), &rebuilt, &lacks_private_state));
    }
    if (restored) {
      keep_through[j] = computed_round_[j];
      rewound = true;
      continue;
    }
    return absl::FailedPreconditionError(absl::StrFormat(
        "client %d cannot resume round %d: the aggregator expects g_%d with state hash %016x; "
        "this worker holds %016x in memory%s (--client-state=worker keeps g_i only here)",
        ids_[j], open, ids_[j], state.chain(), chain_[j],
        g_log_ == nullptr ? std::string(" and has no --state-dir")
        : lacks_private_state >= 0
            ? absl::StrCat(" and its --state-dir holds g_i as of round ", lacks_private_state,
                           " but not the client's private state (momentum / EF14 error) of that "
                           "round, without which it would not continue exactly")
            : std::string(" and cannot rebuild it from --state-dir")));
  }
  if (rewound) {
    EF21_RETURN_IF_ERROR(g_log_->Rewind(keep_through));
    int64_t restored = 0;
    int64_t lowest = std::numeric_limits<int64_t>::max();
    int64_t highest = -1;
    for (int64_t round : keep_through) {
      if (round == std::numeric_limits<int64_t>::max()) continue;
      ++restored;
      lowest = std::min(lowest, round);
      highest = std::max(highest, round);
    }
    const std::string rounds = lowest == highest ? absl::StrCat("round ", lowest)
                                                 : absl::StrCat("rounds ", lowest, "-", highest);
    std::fprintf(stderr,
                 "ef21 worker: g_i of %lld of clients %lld-%lld rebuilt from --state-dir %s as of "
                 "%s (state hashes match the aggregator's)\n",
                 static_cast<long long>(restored), static_cast<long long>(ids_.front()),
                 static_cast<long long>(ids_.back()), options_.state_dir.c_str(), rounds.c_str());
  }
  return absl::OkStatus();
}

bool WorkerHost::PrivateStateKept(size_t j, int64_t round) {
  if (clients_[j]->private_state() == nullptr) return true;
  if (store_ == nullptr) return false;
  auto it = loaded_.find(round);
  if (it == loaded_.end()) {
    absl::StatusOr<std::vector<Vector>> states = store_->Load(round);
    if (!states.ok() && states.status().code() != absl::StatusCode::kNotFound) {
      std::fprintf(stderr, "ef21 worker: %s\n", std::string(states.status().message()).c_str());
    }
    it = loaded_.emplace(round, states.ok() ? *std::move(states) : std::vector<Vector>()).first;
  }
  return !it->second.empty();
}

absl::Status WorkerHost::RestoreClient(size_t j, const Vector& g, int64_t round) {
  if (clients_[j]->private_state() == nullptr) {
    clients_[j]->Restore(g);
    return absl::OkStatus();
  }
  if (PrivateStateKept(j, round)) {
    clients_[j]->Restore(g, loaded_.at(round)[j]);
    return absl::OkStatus();
  }
  // Not kept (no --state-dir, or a state older than any file): the documented policy.
  std::fprintf(stderr,
               "ef21 worker: client %lld resumes round %lld without its saved %s (%s); the run "
               "continues but is no longer bit-identical to an uninterrupted one\n",
               static_cast<long long>(ids_[j]), static_cast<long long>(round + 1),
               context_->options.traits().error_feedback_14 ? "EF14 error e_i (e_i := 0)"
                                                            : "momentum v_i (v_i := g_i)",
               store_ == nullptr ? "no --state-dir" : "not in --state-dir");
  clients_[j]->Restore(g);
  return absl::OkStatus();
}

absl::Status WorkerHost::SaveStates() {
  if (store_ == nullptr || computed_round_.empty()) return absl::OkStatus();
  const int64_t round = computed_round_.front();
  std::vector<const Vector*> states(clients_.size());
  for (size_t j = 0; j < clients_.size(); ++j) {
    if (computed_round_[j] != round) return absl::OkStatus();
    states[j] = clients_[j]->private_state();
  }
  if (round < 0) return absl::OkStatus();
  return store_->Save(round, states).status();
}

absl::Status WorkerHost::AdvanceModel(const v1::RoundStart& start) {
  const int64_t d = problem_->dim();
  const uint64_t round = start.round();
  if (start.has_delta()) {
    // x^r from our x^{r−1}, g^{r−2} and round r − 1's delta, as the aggregator computed it.
    if (!model_in_sync_ || round == 0 || model_->round() + 1 != round) {
      return absl::InternalError(absl::StrCat(
          "RoundStart of round ", round, " carries a delta, but this host holds ",
          model_in_sync_ ? absl::StrCat("round ", model_->round(), "'s model") : "no model"));
    }
    EF21_RETURN_IF_ERROR(
        DecodeRoundDelta(start.delta(), round - 1, d, context_->options.value_type, &delta_));
    return model_->Replay(delta_);
  }
  if (start.x_size() != d) {
    return absl::InternalError(
        absl::StrCat("RoundStart carries ", start.x_size(), " coordinates; expected ", d));
  }
  if (start.g_size() == d) {
    model_in_sync_ = true;
    return model_->Reset(round, MapVector(start.x()), MapVector(start.g()));
  }
  if (start.g_size() != 0) {
    return absl::InternalError(
        absl::StrCat("RoundStart carries g with ", start.g_size(), " values; expected ", d));
  }
  // Dense x alone: at round 0 g is zero and the host is in sync; later it holds no g.
  model_in_sync_ = round == 0;
  if (round == 0) return model_->Reset(0, MapVector(start.x()), Vector::Zero(d));
  return absl::OkStatus();
}

absl::Status WorkerHost::OnRoundStart(const v1::RoundStart& start, Stream* stream,
                                      grpc::ClientContext* context) {
  const double started = MonotonicSeconds();
  const int64_t round = static_cast<int64_t>(start.round());
  EF21_RETURN_IF_ERROR(AdvanceModel(start));
  // A checkpoint with this round open exists: the state as of round − 1 is the oldest a resumed
  // aggregator can ask for.
  if (start.checkpointed() && store_ != nullptr) store_->Anchor(round - 1);
  if (start.checkpointed() && worker_state_ && g_log_ != nullptr) {
    EF21_RETURN_IF_ERROR(g_log_->Anchor(round - 1, *model_));
  }
  // The last batch stays cached (for a resend after reconnect) unless there is a new one.
  // EF21-PP: a client not drawn for the round keeps its state and sends nothing; it is done with
  // the round all the same.
  next_todo_.clear();
  bool sat_out = false;
  for (size_t j = 0; j < ids_.size(); ++j) {
    if (computed_round_[j] >= round) continue;
    if (context_->Participates(ids_[j], static_cast<uint64_t>(round))) {
      next_todo_.push_back(j);
    } else {
      computed_round_[j] = round;
      sat_out = true;
    }
  }
  if (next_todo_.empty()) {
    // Nobody here takes part: keep the last batch cached, save the (unchanged) states as of this
    // round so the state directory stays current.
    if (sat_out) EF21_RETURN_IF_ERROR(SaveStates());
    return absl::OkStatus();
  }
  todo_.swap(next_todo_);
  if (model_in_sync_) {
    problem_->Prepare(model_->x(), &point_);
  } else {
    problem_->Prepare(MapVector(start.x()), &point_);
  }
  ClientRound request;
  request.round = start.round();
  request.point = &point_;
  request.stepsize = start.stepsize();
  request.want_gradient = start.diagnostics();

  auto* updates = out_.mutable_updates();
  while (updates->size() > static_cast<int>(todo_.size())) updates->RemoveLast();
  while (updates->size() < static_cast<int>(todo_.size())) updates->Add();
  const ValueType type = context_->options.value_type;
  // --client-state=worker: the aggregator evaluates ∇f(x^r) itself; the update carries none.
  const bool upload_gradient = context_->UploadsGradient(start.round());
  // Diagnostic rounds: the clients under a whole subtree send their gradients as its sum.
  if (upload_gradient) {
    PlanGradientSums(todo_);
  } else {
    summed_.assign(todo_.size(), 0);
  }
  grain_.ParallelFor(
      pool_.get(), static_cast<int64_t>(todo_.size()), [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) {
          const size_t j = todo_[k];
          ClientMessage& message = messages_[j];
          clients_[j]->Step(request, &message);
          EncodeUpdate(start.round(), ids_[j], message, upload_gradient && !summed_[k], type,
                       updates->Mutable(static_cast<int>(k)));
          // Not sent (--client-state=worker): not kept either, or the host would
          // hold a dense vector per client.
          if (!upload_gradient && message.gradient.size() != 0) {
            message.gradient = Vector();
          }
        }
      });
  if (upload_gradient) {
    FillGradientSums(&out_);
  } else {
    out_.clear_gradient_sums();
  }
  for (size_t j : todo_) {
    computed_round_[j] = round;
    if (worker_state_) {
      chain_before_[j] = chain_[j];
      chain_[j] = ChainClientState(chain_[j], start.round(), messages_[j].c);
    }
  }
  // Saved before the updates leave: whatever the aggregator receives, the state behind it is kept.
  if (worker_state_ && g_log_ != nullptr) {
    logged_.clear();
    for (size_t j : todo_) logged_.push_back(&messages_[j].c);
    EF21_RETURN_IF_ERROR(g_log_->Append(round, todo_, logged_).status());
  }
  EF21_RETURN_IF_ERROR(SaveStates());
  metrics_->OnRoundComputed(MonotonicSeconds() - started);
  if (!WriteUpdates(stream, &out_)) return absl::OkStatus();  // the Read that follows reports why
  if (options_.on_round_sent) options_.on_round_sent(start.round());
  if (options_.drop_stream_at_round == round && !dropped_) {
    dropped_ = true;
    context->TryCancel();
  }
  return absl::OkStatus();
}

void WorkerHost::PlanGradientSums(absl::Span<const size_t> batch) {
  batch_ids_.clear();
  for (size_t j : batch) batch_ids_.push_back(ids_[j]);
  tree_->Cover(batch_ids_, &sum_nodes_, &leaf_ids_);
  summed_.assign(batch.size(), 0);
  size_t node = 0;
  for (size_t k = 0; k < batch.size(); ++k) {
    const int64_t id = batch_ids_[k];
    while (node < sum_nodes_.size() && tree_->End(sum_nodes_[node]) <= id) ++node;
    summed_[k] = node < sum_nodes_.size() && tree_->Begin(sum_nodes_[node]) <= id;
  }
}

void WorkerHost::FillGradientSums(v1::WorkerMessage* batch) {
  auto* sums = batch->mutable_gradient_sums();
  while (sums->size() > static_cast<int>(sum_nodes_.size())) sums->RemoveLast();
  while (sums->size() < static_cast<int>(sum_nodes_.size())) sums->Add();
  const int64_t first = ids_.front();
  for (size_t k = 0; k < sum_nodes_.size(); ++k) {
    const TreeNode node = sum_nodes_[k];
    // Every client under the node is hosted here and stepped in this batch (PlanGradientSums).
    tree_->Sum(
        node, problem_->dim(),
        [&](TreeNode child) -> const Vector* {
          return child.level == 0 ? &messages_[static_cast<size_t>(child.index - first)].gradient
                                  : nullptr;
        },
        [](int64_t, Vector*) {}, &tree_scratch_, &sum_value_);
    v1::GradientSum* out = sums->Mutable(static_cast<int>(k));
    out->set_level(static_cast<uint32_t>(node.level));
    out->set_index(static_cast<uint64_t>(node.index));
    AssignVector(sum_value_, out->mutable_values());
  }
}

}  // namespace ef21
