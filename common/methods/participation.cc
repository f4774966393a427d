#include "common/methods/participation.h"

#include "common/base/rng.h"

namespace ef21 {

bool Participates(uint64_t seed, double p, int64_t client, uint64_t round) {
  if (round == 0 || p >= 1.0) return true;
  CounterRng rng(seed, Purpose::kParticipation, static_cast<uint64_t>(client), round);
  return rng.NextUniform() < p;
}

}  // namespace ef21
