// "host:port" addresses as the command line gives them (--listen, --metrics-listen,
// --aggregator). gRPC and civetweb accept malformed ports silently (":99999" binds another port,
// "host:" binds a default one), so every address is checked here first. Pure, thread-safe.
#ifndef EF21_COMMON_BASE_HOST_PORT_H_
#define EF21_COMMON_BASE_HOST_PORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ef21 {

struct HostPort {
  std::string host;  // as written: "0.0.0.0", "localhost", "[::1]"; may be empty (every interface)
  int port = 0;      // 0..65535; 0 asks the kernel for a free port
};

// Parses "host:port" with a decimal port in [0, 65535]; `flag` names the flag in errors
// ("--listen"). INVALID_ARGUMENT otherwise.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view address, absl::string_view flag);

// Whether `address` names a Unix domain socket: "unix:PATH" (gRPC's form; "unix:///abs/path"
// too).
bool IsUnixAddress(absl::string_view address);
// The socket's path of a "unix:PATH" address ("unix:///tmp/s" -> "/tmp/s").
std::string UnixSocketPath(absl::string_view address);

// A gRPC server or channel address: "host:port" as ParseHostPort checks it, or "unix:PATH" with a
// non-empty PATH of at most 107 bytes (the kernel's sun_path) and no NUL. INVALID_ARGUMENT,
// naming `flag`, otherwise.
absl::Status CheckGrpcAddress(absl::string_view address, absl::string_view flag);

}  // namespace ef21

#endif  // EF21_COMMON_BASE_HOST_PORT_H_
