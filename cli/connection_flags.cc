#include "cli/connection_flags.h"

#include "absl/strings/str_cat.h"
#include "cli/flags.h"

namespace ef21 {
namespace {

// The same for both sides' option structs, which name these fields alike.
template <typename Options>
absl::Status Apply(const ConnectionFlags& flags, Options* options) {
  if (!(flags.linger_seconds >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--linger-seconds must be >= 0; got ", flags.linger_seconds));
  }
  options->metrics_listen = flags.metrics_listen;
  options->tls_cert = flags.tls_cert;
  options->tls_key = flags.tls_key;
  options->tls_ca = flags.tls_ca;
  options->insecure = flags.insecure;
  return absl::OkStatus();
}

}  // namespace

absl::Status ConnectionFlags::ApplyTo(Aggregator::Options* options) const {
  return Apply(*this, options);
}

absl::Status ConnectionFlags::ApplyTo(WorkerHost::Options* options) const {
  return Apply(*this, options);
}

void AddConnectionFlags(CLI::App* app, ConnectionSide side, ConnectionFlags* flags) {
  const bool aggregator = side == ConnectionSide::kAggregator;
  const std::string g = "Federation";
  AddString(app, "metrics-listen", &flags->metrics_listen, "HOST:PORT",
            "HOST:PORT for Prometheus /metrics")
      ->default_str("none")
      ->group(g);
  AddDouble(app, "linger-seconds", &flags->linger_seconds,
            aggregator ? "keep /metrics up this long after the run"
                       : "keep /metrics up this long after the run ends")
      ->group(g);
  const std::string sec = "Security";
  AddString(app, "tls-cert", &flags->tls_cert, "FILE",
            aggregator ? "PEM certificate (chain) of the aggregator: serve TLS"
                       : "PEM client certificate of this worker (mutual TLS)")
      ->group(sec);
  AddString(app, "tls-key", &flags->tls_key, "FILE", "PEM private key of --tls-cert")->group(sec);
  AddString(app, "tls-ca", &flags->tls_ca, "FILE",
            aggregator ? "PEM CA that signs worker client certificates (mutual TLS);\nwithout it "
                         "workers prove themselves with tokens"
                       : "PEM CA that signed the aggregator's certificate")
      ->group(sec);
  AddBool(app, "insecure", &flags->insecure,
          aggregator ? "serve plaintext without authentication: anyone who reaches the\nport "
                       "can attach"
                     : "connect in plaintext without authentication")
      ->group(sec);
}

}  // namespace ef21
