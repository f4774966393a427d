// Who may carry which clients: the aggregator's list of worker identities, each bound to client
// id ranges, and how a Train stream proves one (issue 10, DESIGN.md "Trust is explicit").
//
// An identity is proven by either
//   - a client certificate that chains to --tls-ca (mutual TLS): its subject CN or any of its
//     subject alternative names is the identity; or
//   - a bearer token over TLS: metadata "authorization: Bearer <token>" whose SHA-256 the workers
//     file lists.
// The workers file (--workers-file) has one worker per line, '#' starts a comment:
//
//   # identity   client ids      [token-sha256=<64 hex digits>]
//   worker-0     0-340
//   worker-1     341-682         token-sha256=5e884898da28047151d0e56f8dc6292773603d0d6aabbdd6...
//
// The check runs before a stream's first message is read (UNAUTHENTICATED when no identity is
// proven) and before Attach reaches the run (PERMISSION_DENIED when an id is not granted); neither
// refusal says anything about the run.
//
// Thread-safety: immutable after Create; thread-safe.
#ifndef EF21_SERVER_WORKER_AUTH_H_
#define EF21_SERVER_WORKER_AUTH_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/support/string_ref.h"

namespace ef21 {

class WorkerAuthorizer {
 public:
  struct Grant {
    std::string identity;
    std::vector<std::pair<int64_t, int64_t>> ranges;  // inclusive
    std::string token_sha256;                         // lower-case hex, "" when none
  };

  // Parses the workers file's text; `name` is used in errors. INVALID_ARGUMENT naming the line.
  static absl::StatusOr<std::unique_ptr<WorkerAuthorizer>> Parse(absl::string_view text,
                                                                 absl::string_view name);
  static absl::StatusOr<std::unique_ptr<WorkerAuthorizer>> Load(const std::string& path);

  // The identity a stream proves: a verified client certificate naming a listed identity, else a
  // listed bearer token; nullopt when neither. `authorization` is the metadata value, or empty.
  std::optional<std::string> Authenticate(const grpc::AuthContext* auth,
                                          absl::string_view authorization) const;

  // The ids among `ids` that `identity` may not carry (empty: all granted).
  std::vector<int64_t> Denied(const std::string& identity, const std::vector<int64_t>& ids) const;

  const std::vector<Grant>& grants() const { return grants_; }

 private:
  explicit WorkerAuthorizer(std::vector<Grant> grants) : grants_(std::move(grants)) {}
  const Grant* Find(absl::string_view identity) const;

  std::vector<Grant> grants_;
};

// SHA-256 of `text`, lower-case hex.
std::string Sha256Hex(absl::string_view text);

}  // namespace ef21

#endif  // EF21_SERVER_WORKER_AUTH_H_
