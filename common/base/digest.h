// A fast, non-cryptographic 64-bit digest of byte strings, used to tell equal data from different
// data across processes (the workers' data fingerprint, state hashes in tests). Equal input gives
// an equal digest on every machine of the same endianness; different input collides with
// probability ~2^-64. Not a defence against an adversary choosing inputs: authentication is.
// Thread-compatible value type.
#ifndef EF21_COMMON_BASE_DIGEST_H_
#define EF21_COMMON_BASE_DIGEST_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ef21 {

class Digest64 {
 public:
  // Mixes in `size` bytes: whole 8-byte words, then the tail, then the length (so that "ab" + ""
  // and "a" + "b" differ).
  void Add(const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
      uint64_t word;
      std::memcpy(&word, p + i, 8);
      MixWord(word);
    }
    // The tail's bytes as a little-endian word (what memcpy into a zeroed word gives on this
    // machine), assembled in a register: a memcpy of 1-7 bytes into a word read back at once
    // stalls on store forwarding, and the aggregator digests every update (a1a: 1-byte index
    // codes and 4-byte values). Nothing is read when size is a whole number of words (data may
    // then be null: an empty vector's).
    uint64_t tail = 0;
    for (size_t k = size; k > i; --k) tail = (tail << 8) | p[k - 1];
    MixWord(tail);
    MixWord(static_cast<uint64_t>(size));
  }
  template <typename T>
  void AddValue(const T& value) {
    Add(&value, sizeof(value));
  }
  uint64_t value() const {
    // splitmix64's finalizer.
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  void MixWord(uint64_t word) {
    state_ = (state_ ^ word) * 0x9e3779b97f4a7c15ULL;
    state_ ^= state_ >> 32;
  }

  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace ef21

#endif  // EF21_COMMON_BASE_DIGEST_H_
