// Counter-based random numbers. Every draw in ef21 is a pure function of
// (run seed, purpose, client id, round) and a position inside that stream, so any process — the
// simulator, a worker after a crash, a test — recomputes exactly the same numbers and no generator
// state is ever saved or sent. Thread-compatible: one CounterRng per stream, never shared.
#ifndef EF21_COMMON_BASE_RNG_H_
#define EF21_COMMON_BASE_RNG_H_

#include <cstdint>

namespace ef21 {

// What a stream of draws is for; part of the key so that streams never overlap.
enum class Purpose : uint64_t {
  kX0 = 1,             // the starting point x^0
  kRandK = 2,          // rand-k coordinate choice
  kMinibatch = 3,      // minibatch row indices
  kNoise = 4,          // Gaussian gradient noise (polynomial)
  kSynthetic = 5,      // synthetic data set
  kShard = 6,          // the seeded random split of a data set into client shards
  kSubsample = 7,      // fixed diagnostic subsamples (network problems)
  kParticipation = 8,  // who takes part in a round (EF21-PP, --participation)
};

class CounterRng {
 public:
  CounterRng(uint64_t seed, Purpose purpose, uint64_t client, uint64_t round);

  // The i-th 64-bit word of the stream; NextU64 walks i = 0, 1, 2, ...
  uint64_t At(uint64_t i) const;
  uint64_t NextU64() { return At(counter_++); }
  // Uniform on [0, 1) with 53 random bits.
  double NextUniform();
  // Uniform on {0, ..., n-1} without modulo bias (Lemire's method); n > 0.
  uint64_t NextBelow(uint64_t n);
  // Standard normal by the Box–Muller transform.
  double NextGaussian();

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace ef21

#endif  // EF21_COMMON_BASE_RNG_H_
