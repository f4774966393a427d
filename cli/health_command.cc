// `ef21 health`: one grpc.health.v1.Health/Check call; exit 0 iff the target is SERVING.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/flags.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ef21 {

int HealthCommand(const std::vector<std::string>& args) {
  std::string target, service;
  double timeout_seconds = 5;
  FlagSet flags("health",
                "Asks a server's grpc.health.v1 health service whether it is serving; exits 0 iff\n"
                "SERVING (1 when not serving or unreachable, 2 on bad flags).");
  flags.String("target", &target, "HOST:PORT of the aggregator");
  flags.String("service", &service, "service name to ask about (default \"\": the whole server)");
  flags.Double("timeout-seconds", &timeout_seconds, "deadline of the call (default 5)");
  bool help = false;
  absl::Status status = flags.Parse(args, &help);
  if (help) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (status.ok() && target.empty()) status = absl::InvalidArgumentError("--target=HOST:PORT is required");
  if (status.ok() && !(timeout_seconds > 0)) {
    status = absl::InvalidArgumentError("--timeout-seconds must be positive");
  }
  if (!status.ok()) {
    std::fprintf(stderr, "ef21 health: %s\n", std::string(status.message()).c_str());
    return 2;
  }
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
  context.set_wait_for_ready(false);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s = stub->Check(&context, request, &response);
  if (!s.ok()) {
    std::fprintf(stderr, "ef21 health: %s: %s\n", target.c_str(), s.error_message().c_str());
    return 1;
  }
  const char* name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()).c_str();
  std::printf("%s\n", name);
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace ef21
