// Which rows of a data set each client holds, and the rows a client draws for a minibatch. Every
// draw comes from the counter RNG (common/rng.h), so any process recomputes the same shards and
// batches. Pure functions.
#ifndef EF21_COMMON_NN_SHARDS_H_
#define EF21_COMMON_NN_SHARDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/base/rng.h"

namespace ef21 {

enum class ShardKind {
  kRandom,      // a seeded random permutation cut into blocks (the paper's split)
  kContiguous,  // rows in file order cut into blocks
};
absl::StatusOr<ShardKind> ParseShardKind(const std::string& name);
const char* ShardKindName(ShardKind kind);

// Splits rows 0..count−1 into `clients` blocks of ⌊count/clients⌋ rows, the last block taking the
// remainder (as --split=contiguous does for LIBSVM data). kRandom permutes the rows first with
// CounterRng(seed, kShard, 0, 0) (Fisher–Yates); rows inside a block keep the permuted order.
// Requires count ≥ clients ≥ 1.
std::vector<std::vector<int64_t>> MakeShards(int64_t count, int64_t clients, ShardKind kind,
                                             uint64_t seed);

// `b` distinct positions of [0, m), in draw order: the first b steps of a Fisher–Yates shuffle
// driven by `rng`. b ≥ m returns all of 0..m−1 in shuffled order.
std::vector<int64_t> SampleWithoutReplacement(int64_t m, int64_t b, CounterRng* rng);

}  // namespace ef21

#endif  // EF21_COMMON_NN_SHARDS_H_
