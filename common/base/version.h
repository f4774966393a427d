// The ef21 release version, as exported by ef21_build_info{version} and reported by the binaries.
// Must equal `project(ef21 VERSION ...)` in the top-level CMakeLists.txt; the metrics tests check
// that it does.
#ifndef EF21_COMMON_BASE_VERSION_H_
#define EF21_COMMON_BASE_VERSION_H_

namespace ef21 {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace ef21

#endif  // EF21_COMMON_BASE_VERSION_H_
