// Helpers for tests of Prometheus expositions: read one sample, drop families, run Debian's
// `promtool check metrics`, and read the project version the build info must carry.
#ifndef EF21_TESTS_SERVER_EXPOSITION_TEST_UTIL_H_
#define EF21_TESTS_SERVER_EXPOSITION_TEST_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace testing_exposition {

// The value of the sample written exactly as `series` (name and labels, e.g.
// `ef21_rejected_messages_total{reason="stale"}`), or nullopt when the exposition has none.
inline std::optional<double> SampleValue(absl::string_view exposition, absl::string_view series) {
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.size() <= series.size() || line.substr(0, series.size()) != series ||
        line[series.size()] != ' ') {
      continue;
    }
    double value;
    if (!absl::SimpleAtod(line.substr(series.size() + 1), &value)) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

// The exposition without the families whose names start with `prefix` (HELP, TYPE and samples).
inline std::string WithoutFamilies(absl::string_view exposition, absl::string_view prefix) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    absl::string_view name = line;
    if (!absl::ConsumePrefix(&name, "# HELP ")) absl::ConsumePrefix(&name, "# TYPE ");
    if (absl::StartsWith(name, prefix)) continue;
    absl::StrAppend(&out, line, "\n");
  }
  // StrSplit yields an empty piece after the final newline; do not double it.
  if (!out.empty()) out.pop_back();
  return out;
}

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Feeds `exposition` to `promtool check metrics` on stdin.
inline absl::StatusOr<PromtoolResult> PromtoolCheckMetrics(absl::string_view exposition) {
  const char* promtool = "/usr/bin/promtool";
  if (::access(promtool, X_OK) != 0) {
    return absl::FailedPreconditionError(
        "/usr/bin/promtool is missing; install Debian's `prometheus` package");
  }
  const std::string path =
      absl::StrCat(::testing::TempDir(), "exposition_", ::getpid(), "_",
                   ::testing::UnitTest::GetInstance()->random_seed(), "_",
                   ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".txt");
  {
    std::ofstream file(path, std::ios::binary);
    file << exposition;
    if (!file) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  const std::string command = absl::StrCat(promtool, " check metrics < '", path, "' 2>&1");
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("popen: ", command));
  PromtoolResult result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.output.append(buffer, n);
  const int status = ::pclose(pipe);
  std::remove(path.c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The VERSION of `project(ef21 VERSION x.y.z ...)` in the top-level CMakeLists.txt.
inline std::string CMakeProjectVersion() {
  std::ifstream file(std::string(EF21_SOURCE_DIR) + "/CMakeLists.txt");
  std::stringstream text;
  text << file.rdbuf();
  const std::string contents = text.str();
  std::smatch match;
  if (!std::regex_search(contents, match, std::regex(R"(project\(ef21\s+VERSION\s+([0-9.]+))"))) {
    return "";
  }
  return match[1];
}

}  // namespace testing_exposition
}  // namespace ef21

#endif  // EF21_TESTS_SERVER_EXPOSITION_TEST_UTIL_H_
