#include "cli/network_binary.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/run/problem_factory.h"

namespace ef21 {
namespace {

std::vector<char*> registered_argv;

}  // namespace

void SetCommandLineForNetworkBinary(int argc, char** argv) {
  registered_argv.assign(argv, argv + argc);
  registered_argv.push_back(nullptr);
}

bool NeedsNetworkBinary(const std::string& problem) {
  return problem == "network" && !registered_argv.empty() && !NetworkProblemsEnabled();
}

absl::Status ExecNetworkBinary() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("--problem=network: cannot find this program's path (/proc/self/exe): ",
                     std::strerror(errno)));
  }
  std::string path(self, static_cast<size_t>(n));
  path = path.substr(0, path.rfind('/') + 1) + "ef21-networks";
  execv(path.c_str(), registered_argv.data());
  return absl::FailedPreconditionError(
      absl::StrCat("--problem=network runs in ", path,
                   " (ef21 with LibTorch, built beside ef21), which could not be started: ",
                   std::strerror(errno)));
}

}  // namespace ef21
