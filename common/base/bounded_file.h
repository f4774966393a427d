// Reading a whole input file with a size bound. Every file ef21 loads (LIBSVM data, --x0-file)
// goes through ReadBoundedFile, so an operator's typo such as --data=/dev/zero, or a file far
// larger than any data set, is refused with a clear error instead of being read until the kernel's
// OOM killer ends the process. Pure functions, thread-safe.
#ifndef EF21_COMMON_BASE_BOUNDED_FILE_H_
#define EF21_COMMON_BASE_BOUNDED_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ef21 {

// 4 GiB: an order of magnitude above the largest LIBSVM set the project ships or cites.
inline constexpr int64_t kDefaultMaxFileBytes = int64_t{4} << 30;

// The contents of `path`, which must be a regular file of at most `max_bytes` bytes. `what`
// names the file in errors ("LIBSVM file", "x0 file"). NOT_FOUND / PERMISSION_DENIED when it
// cannot be opened, INVALID_ARGUMENT for a directory, device, pipe or socket, or a file above the
// bound (also one that grows past it while being read).
absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, int64_t max_bytes,
                                            absl::string_view what);

}  // namespace ef21

#endif  // EF21_COMMON_BASE_BOUNDED_FILE_H_
