#include "common/base/rng.h"

#include <cmath>

namespace ef21 {
namespace {

// SplitMix64's finalizer (Steele, Lea, Flood 2014): a bijective 64-bit mixer with full avalanche.
uint64_t Mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

CounterRng::CounterRng(uint64_t seed, Purpose purpose, uint64_t client, uint64_t round)
    : key_(Mix(Mix(Mix(Mix(seed) ^ static_cast<uint64_t>(purpose)) ^ client) ^ round)) {}

uint64_t CounterRng::At(uint64_t i) const { return Mix(key_ ^ Mix(i)); }

double CounterRng::NextUniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

uint64_t CounterRng::NextBelow(uint64_t n) {
  // Lemire, "Fast random integer generation in an interval" (2019).
  uint64_t x = NextU64();
  __uint128_t m = static_cast<__uint128_t>(x) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = -n % n;
    while (low < threshold) {
      x = NextU64();
      m = static_cast<__uint128_t>(x) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double CounterRng::NextGaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  // u1 in (0, 1] so that log(u1) is finite.
  const double u1 = 1.0 - NextUniform();
  const double u2 = NextUniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return radius * std::cos(angle);
}

}  // namespace ef21
