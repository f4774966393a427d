// Reads a data file front to back, gzipped or not (zlib detects which from the content), keeping
// the byte offset so that every error names the file and where the data went wrong. Offsets of a
// gzipped file count decompressed bytes, and the message says so. Thread-compatible.
#ifndef EF21_COMMON_NN_BYTE_READER_H_
#define EF21_COMMON_NN_BYTE_READER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ef21 {

class ByteReader {
 public:
  static absl::StatusOr<std::unique_ptr<ByteReader>> Open(const std::string& path);
  ~ByteReader();

  // Reads exactly n bytes of `what` into out, or fails naming the offset and how many bytes came.
  absl::Status Read(void* out, int64_t n, const std::string& what);
  // A big-endian 32-bit integer.
  absl::StatusOr<uint32_t> ReadBigEndian32(const std::string& what);
  // True when no byte is left.
  bool AtEnd();

  int64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }
  // "PATH: byte N (of the decompressed stream): " — the prefix of every message about the data.
  std::string Where() const { return Where(offset_); }
  std::string Where(int64_t offset) const;

 private:
  ByteReader(std::string path, void* file, bool gzipped);

  std::string path_;
  void* file_;  // gzFile
  bool gzipped_;
  int64_t offset_ = 0;
};

}  // namespace ef21

#endif  // EF21_COMMON_NN_BYTE_READER_H_
