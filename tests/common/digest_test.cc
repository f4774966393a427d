// Digest64 is persisted (the data digest in checkpoints, workers' state hashes compared across
// processes): its value for given bytes must never change. The tail of a string is assembled in a
// register; these tests hold it to the definition (a memcpy of the tail into a zeroed
// little-endian word) for every length and alignment.
#include "common/base/digest.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace ef21 {
namespace {

// The definition, as digest.h states it: whole words, then the tail copied into a zeroed word,
// then the length; each word mixed as Digest64 mixes it.
uint64_t Reference(const std::string& bytes, uint64_t state = 0xcbf29ce484222325ULL) {
  auto mix = [&state](uint64_t word) {
    state = (state ^ word) * 0x9e3779b97f4a7c15ULL;
    state ^= state >> 32;
  };
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    mix(word);
  }
  uint64_t tail = 0;
  if (bytes.size() > i) std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  mix(tail);
  mix(bytes.size());
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

TEST(DigestTest, EveryLengthAndAlignmentMatchesTheDefinition) {
  std::mt19937_64 rng(11);
  std::string buffer(80, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t size = 0; size + offset <= buffer.size(); ++size) {
      const std::string bytes = buffer.substr(offset, size);
      Digest64 digest;
      digest.Add(buffer.data() + offset, size);
      EXPECT_EQ(digest.value(), Reference(bytes)) << "offset " << offset << " size " << size;
    }
  }
}

TEST(DigestTest, TailBytesAboveTheLowestCount) {
  // A tail differing only in its last byte, or only in a high byte set to 0x80 or more (a sign
  // extension would smear it over the word), digests differently.
  const unsigned char a[7] = {1, 2, 3, 4, 5, 6, 7};
  const unsigned char b[7] = {1, 2, 3, 4, 5, 6, 8};
  const unsigned char c[7] = {1, 2, 3, 0x80, 5, 6, 7};
  Digest64 da, db, dc;
  da.Add(a, 7);
  db.Add(b, 7);
  dc.Add(c, 7);
  EXPECT_NE(da.value(), db.value());
  EXPECT_NE(da.value(), dc.value());
  EXPECT_EQ(dc.value(), Reference(std::string(reinterpret_cast<const char*>(c), 7)));
  // An empty string's (null) data is never read.
  Digest64 empty;
  empty.Add(nullptr, 0);
  EXPECT_EQ(empty.value(), Reference(""));
}

}  // namespace
}  // namespace ef21
