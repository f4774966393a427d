// Partial participation (EF21-PP, SPEC §3 "Partial participation"): which clients take part in a
// round. Each client i takes part in round r independently with probability p, by a draw that is a
// pure function of (seed, client, round) — CounterRng(seed, kParticipation, i, r) — so the
// simulator, every worker and the aggregator compute the same set without talking to each other,
// and a restarted process recomputes it. Round 0 (the initialization g_i^0) has every client.
// With p = 1 every client takes part in every round and no draw is made.
#ifndef EF21_COMMON_METHODS_PARTICIPATION_H_
#define EF21_COMMON_METHODS_PARTICIPATION_H_

#include <cstdint>

namespace ef21 {

// Whether client `client` takes part in round `round` of a run with seed `seed` and participation
// probability `p` in (0, 1]: round 0, or p = 1, or a uniform draw u in [0, 1) with u < p.
bool Participates(uint64_t seed, double p, int64_t client, uint64_t round);

}  // namespace ef21

#endif  // EF21_COMMON_METHODS_PARTICIPATION_H_
