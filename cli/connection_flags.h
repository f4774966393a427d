// The flags both ends of a federation connection take, `ef21 aggregator` and `ef21 worker`:
// --metrics-listen and --linger-seconds (group "Federation"), --tls-cert, --tls-key, --tls-ca and
// --insecure (group "Security"), each with its side's help text. Written once, so that the two
// commands read and check them alike; each command adds the flags only it has.
//
//   ConnectionFlags connection;
//   AddConnectionFlags(flags.get(), ConnectionSide::kWorker, &connection);
//   ... after parsing:
//   EF21_RETURN_IF_ERROR(connection.ApplyTo(&options));
#ifndef EF21_CLI_CONNECTION_FLAGS_H_
#define EF21_CLI_CONNECTION_FLAGS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/worker_host.h"
#include "server/aggregator.h"

namespace ef21 {

enum class ConnectionSide { kAggregator, kWorker };

// What the shared flags hold once parsed.
struct ConnectionFlags {
  std::string metrics_listen;  // "" serves no /metrics
  double linger_seconds = 0;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  // A flag, false unless given: plaintext is never the silent default of a command (the option
  // structs default to it for tests).
  bool insecure = false;

  // Checks --linger-seconds (INVALID_ARGUMENT, nothing copied) and copies the rest into `options`.
  absl::Status ApplyTo(Aggregator::Options* options) const;
  absl::Status ApplyTo(WorkerHost::Options* options) const;
};

// Adds --metrics-listen and --linger-seconds to group "Federation" and --tls-cert, --tls-key,
// --tls-ca and --insecure to group "Security", bound to `flags`.
void AddConnectionFlags(CLI::App* app, ConnectionSide side, ConnectionFlags* flags);

}  // namespace ef21

#endif  // EF21_CLI_CONNECTION_FLAGS_H_
