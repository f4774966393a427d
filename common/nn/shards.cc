#include "common/nn/shards.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ef21 {

absl::StatusOr<ShardKind> ParseShardKind(const std::string& name) {
  if (name == "random") return ShardKind::kRandom;
  if (name == "contiguous") return ShardKind::kContiguous;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown shard kind \"", name, "\", expected random or contiguous"));
}

const char* ShardKindName(ShardKind kind) {
  return kind == ShardKind::kRandom ? "random" : "contiguous";
}

std::vector<std::vector<int64_t>> MakeShards(int64_t count, int64_t clients, ShardKind kind,
                                             uint64_t seed) {
  std::vector<int64_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  if (kind == ShardKind::kRandom) {
    CounterRng rng(seed, Purpose::kShard, 0, 0);
    order = SampleWithoutReplacement(count, count, &rng);
  }
  std::vector<std::vector<int64_t>> shards(clients);
  const int64_t block = count / clients;
  for (int64_t i = 0; i < clients; ++i) {
    const int64_t begin = i * block;
    const int64_t end = i + 1 == clients ? count : begin + block;
    shards[i].assign(order.begin() + begin, order.begin() + end);
  }
  return shards;
}

std::vector<int64_t> SampleWithoutReplacement(int64_t m, int64_t b, CounterRng* rng) {
  std::vector<int64_t> pool(m);
  std::iota(pool.begin(), pool.end(), 0);
  b = std::min(b, m);
  for (int64_t j = 0; j < b; ++j) {
    const int64_t pick = j + static_cast<int64_t>(rng->NextBelow(static_cast<uint64_t>(m - j)));
    std::swap(pool[j], pool[pick]);
  }
  pool.resize(b);
  return pool;
}

}  // namespace ef21
