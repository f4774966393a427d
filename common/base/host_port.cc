#include "common/base/host_port.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ef21 {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view address, absl::string_view flag) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, "=", address, ": expected HOST:PORT with a port in [0, 65535]; ", why));
  };
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad("no ':PORT'");
  const absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  if (port.empty()) return bad("the port is empty");
  if (port.size() > 5) return bad(absl::StrCat("port \"", port, "\" is out of range"));
  int value = 0;
  for (char c : port) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return bad(absl::StrCat("port \"", port, "\" is not a decimal number"));
    }
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return bad(absl::StrCat("port ", value, " is out of range"));
  // An IPv6 literal must be bracketed, otherwise its last group would be read as the port.
  if (host.find(':') != absl::string_view::npos &&
      !(host.size() >= 2 && host.front() == '[' && host.back() == ']')) {
    return bad("an IPv6 host must be written in brackets, e.g. [::1]:50051");
  }
  HostPort out;
  out.host = std::string(host);
  out.port = value;
  return out;
}

bool IsUnixAddress(absl::string_view address) { return absl::StartsWith(address, "unix:"); }

std::string UnixSocketPath(absl::string_view address) {
  absl::string_view path = address.substr(std::min<size_t>(address.size(), 5));
  // gRPC reads "unix://" + an absolute path ("unix:///tmp/s") as the path itself.
  if (absl::StartsWith(path, "//")) path.remove_prefix(2);
  return std::string(path);
}

absl::Status CheckGrpcAddress(absl::string_view address, absl::string_view flag) {
  if (!IsUnixAddress(address)) return ParseHostPort(address, flag).status();
  const std::string path = UnixSocketPath(address);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, "=", address, ": expected unix:PATH, a Unix domain socket's path; ", why));
  };
  if (path.empty()) return bad("the path is empty");
  if (path.find('\0') != std::string::npos) return bad("the path contains a NUL byte");
  constexpr size_t kMaxPathBytes = 107;  // sizeof(sockaddr_un::sun_path) - 1 on Linux
  if (path.size() > kMaxPathBytes) {
    return bad(absl::StrCat("the path has ", path.size(), " bytes, more than the ", kMaxPathBytes,
                            " a socket address holds"));
  }
  return absl::OkStatus();
}

}  // namespace ef21
