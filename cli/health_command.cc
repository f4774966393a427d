// `ef21 health`: one grpc.health.v1.Health/Check call; exit 0 iff the target is SERVING.
#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "common/base/bounded_file.h"
#include "common/base/status_macros.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ef21 {

int HealthCommand(const std::vector<std::string>& args) {
  std::string target, service;
  double timeout_seconds = 5;
  std::string tls_ca, tls_server_name;
  auto flags = NewCommandFlags(
      "health",
      "Asks a server's grpc.health.v1 health service whether it is serving; exits 0 iff\n"
      "SERVING (1 when not serving or unreachable, 2 on bad flags).");
  const std::string g = "Health check";
  AddString(flags.get(), "target", &target, "HOST:PORT", "HOST:PORT of the aggregator; required")
      ->group(g);
  AddString(flags.get(), "service", &service, "NAME", "service name to ask about")
      ->default_str("\"\": the whole server")
      ->group(g);
  AddDouble(flags.get(), "timeout-seconds", &timeout_seconds, "deadline of the call")->group(g);
  AddString(flags.get(), "tls-ca", &tls_ca, "FILE",
            "PEM CA of the server's certificate: ask over TLS")
      ->default_str("none: plaintext")
      ->group(g);
  AddString(flags.get(), "tls-server-name", &tls_server_name, "NAME",
            "name the server's certificate carries, when it differs from\n--target's host")
      ->group(g);
  bool asked = false, serving = false;
  const int code = RunSubcommand(*flags, args, [&]() -> absl::Status {
    if (target.empty()) return absl::InvalidArgumentError("--target=HOST:PORT is required");
    if (!(timeout_seconds > 0))
      return absl::InvalidArgumentError("--timeout-seconds must be positive");
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    grpc::ChannelArguments channel_args;
    if (!tls_ca.empty()) {
      EF21_ASSIGN_OR_RETURN(std::string ca, ReadBoundedFile(tls_ca, 1 << 20, "--tls-ca"));
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = std::move(ca);
      credentials = grpc::SslCredentials(ssl);
      if (!tls_server_name.empty()) channel_args.SetSslTargetNameOverride(tls_server_name);
    }
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateCustomChannel(target, credentials, channel_args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
    context.set_wait_for_ready(false);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    const grpc::Status s = stub->Check(&context, request, &response);
    if (!s.ok()) return absl::UnavailableError(absl::StrCat(target, ": ", s.error_message()));
    std::printf(
        "%s\n",
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()).c_str());
    asked = true;
    serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    return absl::OkStatus();
  });
  return code == 0 && asked && !serving ? 1 : code;
}

}  // namespace ef21
