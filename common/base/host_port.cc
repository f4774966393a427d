#include "common/base/host_port.h"

#include "absl/strings/ascii.h"
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

}  // namespace ef21
