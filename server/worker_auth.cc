#include "server/worker_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/bounded_file.h"
#include "common/base/status_macros.h"

namespace ef21 {

std::string Sha256Hex(absl::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 15]);
  }
  return hex;
}

absl::StatusOr<std::unique_ptr<WorkerAuthorizer>> WorkerAuthorizer::Parse(absl::string_view text,
                                                                          absl::string_view name) {
  std::vector<Grant> grants;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    auto bad = [&](absl::string_view expected, absl::string_view got) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", line_number, ": expected ", expected, ", got \"", got, "\""));
    };
    if (fields.size() < 2 || fields.size() > 3) {
      return bad("IDENTITY CLIENT_IDS [token-sha256=HEX]", line);
    }
    Grant grant;
    grant.identity = std::string(fields[0]);
    for (absl::string_view range : absl::StrSplit(fields[1], ',')) {
      std::pair<absl::string_view, absl::string_view> ab = absl::StrSplit(range, '-');
      int64_t a, b;
      if (!absl::SimpleAtoi(ab.first, &a) || a < 0) return bad("client ids like 0-340,400", range);
      b = a;
      if (!ab.second.empty() && (!absl::SimpleAtoi(ab.second, &b) || b < a)) {
        return bad("client ids like 0-340,400", range);
      }
      grant.ranges.emplace_back(a, b);
    }
    if (fields.size() == 3) {
      absl::string_view hex = fields[2];
      if (!absl::ConsumePrefix(&hex, "token-sha256=") || hex.size() != 64 ||
          !std::all_of(hex.begin(), hex.end(), [](char c) { return absl::ascii_isxdigit(c); })) {
        return bad("token-sha256= and 64 hex digits", fields[2]);
      }
      grant.token_sha256 = absl::AsciiStrToLower(hex);
    }
    for (const Grant& other : grants) {
      if (other.identity == grant.identity) {
        return bad("each identity once", absl::StrCat(grant.identity, " (listed before)"));
      }
    }
    grants.push_back(std::move(grant));
  }
  if (grants.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": no workers listed"));
  }
  return std::unique_ptr<WorkerAuthorizer>(new WorkerAuthorizer(std::move(grants)));
}

absl::StatusOr<std::unique_ptr<WorkerAuthorizer>> WorkerAuthorizer::Load(const std::string& path) {
  EF21_ASSIGN_OR_RETURN(std::string text, ReadBoundedFile(path, 16 << 20, "workers file"));
  return Parse(text, path);
}

const WorkerAuthorizer::Grant* WorkerAuthorizer::Find(absl::string_view identity) const {
  for (const Grant& grant : grants_) {
    if (grant.identity == identity) return &grant;
  }
  return nullptr;
}

std::optional<std::string> WorkerAuthorizer::Authenticate(const grpc::AuthContext* auth,
                                                          absl::string_view authorization) const {
  // A certificate counts only when gRPC verified it against the CA (the context is then
  // "peer authenticated"); its CN and SANs are candidate identities.
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
      for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
        const absl::string_view name(value.data(), value.size());
        if (Find(name) != nullptr) return std::string(name);
      }
    }
  }
  absl::string_view token = authorization;
  if (absl::ConsumePrefix(&token, "Bearer ") && !token.empty()) {
    const std::string hash = Sha256Hex(token);
    for (const Grant& grant : grants_) {
      if (!grant.token_sha256.empty() &&
          CRYPTO_memcmp(grant.token_sha256.data(), hash.data(), hash.size()) == 0) {
        return grant.identity;
      }
    }
  }
  return std::nullopt;
}

std::vector<int64_t> WorkerAuthorizer::Denied(const std::string& identity,
                                              const std::vector<int64_t>& ids) const {
  const Grant* grant = Find(identity);
  std::vector<int64_t> denied;
  for (int64_t id : ids) {
    bool granted = false;
    if (grant != nullptr) {
      for (const auto& [a, b] : grant->ranges) granted = granted || (a <= id && id <= b);
    }
    if (!granted) denied.push_back(id);
  }
  return denied;
}

}  // namespace ef21
