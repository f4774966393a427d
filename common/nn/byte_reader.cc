#include "common/nn/byte_reader.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ef21 {

absl::StatusOr<std::unique_ptr<ByteReader>> ByteReader::Open(const std::string& path) {
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "cannot open \"", path, "\": ", errno != 0 ? std::strerror(errno) : "out of memory"));
  }
  // Large buffer: the training images are ~50 MB decompressed.
  gzbuffer(file, 1 << 17);
  // gzdirect is only meaningful after the first read has looked at the header.
  const int first = gzgetc(file);
  const bool gzipped = first != -1 && gzdirect(file) == 0;
  if (first != -1) gzungetc(first, file);
  return std::unique_ptr<ByteReader>(new ByteReader(path, file, gzipped));
}

ByteReader::ByteReader(std::string path, void* file, bool gzipped)
    : path_(std::move(path)), file_(file), gzipped_(gzipped) {}

ByteReader::~ByteReader() { gzclose(static_cast<gzFile>(file_)); }

std::string ByteReader::Where(int64_t offset) const {
  return absl::StrCat(path_, ": byte ", offset, gzipped_ ? " (of the decompressed stream)" : "",
                      ": ");
}

absl::Status ByteReader::Read(void* out, int64_t n, const std::string& what) {
  auto* dst = static_cast<char*>(out);
  int64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - got, 1 << 30));
    const int r = gzread(static_cast<gzFile>(file_), dst + got, chunk);
    if (r < 0) {
      int code = 0;
      const char* message = gzerror(static_cast<gzFile>(file_), &code);
      return absl::DataLossError(
          absl::StrCat(Where(offset_ + got), "cannot read ", what, ": ", message));
    }
    if (r == 0) break;
    got += r;
  }
  if (got < n) {
    int code = 0;
    const char* message = gzerror(static_cast<gzFile>(file_), &code);
    const std::string detail =
        code != Z_OK && code != Z_BUF_ERROR ? absl::StrCat(" (", message, ")") : "";
    return absl::InvalidArgumentError(absl::StrCat(Where(offset_), "truncated: expected ", n,
                                                   " bytes of ", what, ", the file ends after ",
                                                   got, detail));
  }
  offset_ += n;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ByteReader::ReadBigEndian32(const std::string& what) {
  unsigned char b[4];
  if (absl::Status s = Read(b, 4, what); !s.ok()) return s;
  return (static_cast<uint32_t>(b[0]) << 24) | (static_cast<uint32_t>(b[1]) << 16) |
         (static_cast<uint32_t>(b[2]) << 8) | static_cast<uint32_t>(b[3]);
}

bool ByteReader::AtEnd() {
  const int c = gzgetc(static_cast<gzFile>(file_));
  if (c == -1) return true;
  gzungetc(c, static_cast<gzFile>(file_));
  return false;
}

}  // namespace ef21
