// What produced a binary: the ef21 release version, the git commit it was built from and the
// CMake build type. Printed by `ef21 version` / `ef21 --version`, recorded as the "build" object
// of config.json and summary.json, and exported as ef21_build_info{version}.
// kVersion must equal `project(ef21 VERSION ...)` in the top-level CMakeLists.txt; the metrics
// tests check that it does. The commit and build type are read when CMake configures the build
// (and again whenever git's HEAD moves); the commit is "unknown" when the source is not a git
// checkout, and ends in "-dirty" when it had uncommitted changes.
#ifndef EF21_COMMON_BASE_VERSION_H_
#define EF21_COMMON_BASE_VERSION_H_

#include <string>

#include "nlohmann/json_fwd.hpp"

namespace ef21 {

inline constexpr char kVersion[] = "0.1.0";

const char* GitCommit();
const char* BuildType();
// "ef21 0.1.0 (commit 10d76fd0a1b2, Release build)".
std::string VersionText();
// {"version": ..., "commit": ..., "build_type": ...}.
nlohmann::ordered_json BuildJson();

}  // namespace ef21

#endif  // EF21_COMMON_BASE_VERSION_H_
