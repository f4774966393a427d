#include "common/base/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"

namespace ef21 {
namespace {

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a pipe";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

absl::StatusOr<std::string> ReadBoundedFile(const std::string& path, int64_t max_bytes,
                                            absl::string_view what) {
  // O_NONBLOCK: opening a FIFO with no writer must not hang; it is refused below anyway.
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("cannot open ", what, " \"", path, "\""));
  }
  struct stat st;
  if (::fstat(file.fd, &st) != 0) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("cannot stat ", what, " \"", path, "\""));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " \"", path, "\" is ", FileKind(st.st_mode), "; expected a regular file"));
  }
  auto too_large = [&](int64_t size, absl::string_view qualifier) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", path, "\" ", qualifier, size,
                                                   " bytes; at most ", max_bytes,
                                                   " bytes are read"));
  };
  if (st.st_size > max_bytes) return too_large(st.st_size, "has ");
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  int64_t filled = 0;
  for (;;) {
    if (filled == static_cast<int64_t>(text.size())) {
      // The file may have grown since fstat: keep reading, up to one byte past the bound.
      if (filled > max_bytes) return too_large(filled, "grew to more than ");
      const int64_t grow =
          std::min<int64_t>(std::max<int64_t>(filled, 1 << 16), max_bytes + 1 - filled);
      text.resize(static_cast<size_t>(filled + grow));
    }
    const ssize_t n = ::read(file.fd, &text[filled], text.size() - filled);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      return absl::ErrnoToStatus(error, absl::StrCat("cannot read ", what, " \"", path, "\""));
    }
    if (n == 0) break;
    filled += n;
  }
  if (filled > max_bytes) return too_large(filled, "grew to more than ");
  text.resize(static_cast<size_t>(filled));
  return text;
}

}  // namespace ef21
