#include "cli/round_memory.h"

#include <malloc.h>

namespace ef21 {

void KeepRoundMemoryForReuse() {
  // Blocks below 32 MB come from the heap (glibc's default threshold starts at 128 kB and adapts
  // only upwards as blocks are freed); the heap gives back only what exceeds 64 MB free at its
  // top, and grows 16 MB at a time. Fixing any of these turns off glibc's adaptive threshold.
  constexpr int kMmapThreshold = 32 << 20;
  constexpr int kTrimThreshold = 64 << 20;
  constexpr int kTopPad = 16 << 20;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  mallopt(M_TOP_PAD, kTopPad);
}

}  // namespace ef21
