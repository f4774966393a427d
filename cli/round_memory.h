// How the processes of a federation that run round after round (`ef21 run`, which hosts the
// aggregator, and `ef21 worker`) use glibc's malloc: the memory a round frees — gRPC receive and
// send buffers, decoded updates, dense diagnostic gradients — stays in the process for the next
// round instead of going back to the kernel and being faulted in and zeroed again. Measured on
// a1a (1,605 clients, 4 worker processes, 400 rounds, diagnostics every round; 3 runs each side
// by side, load ~3): `ef21 run` 2.28-2.48 s -> 1.78-1.88 s wall, system time 1.2-1.35 s ->
// 0.7-0.85 s. The cost is resident memory: up to 64 MB of freed memory kept. `ef21 aggregator`
// keeps its own setting (d-sized buffers from mmap, for its O(d) memory;
// cli/aggregator_command.cc).
#ifndef EF21_CLI_ROUND_MEMORY_H_
#define EF21_CLI_ROUND_MEMORY_H_

namespace ef21 {

// Called once at the start of the process, before its threads start.
void KeepRoundMemoryForReuse();

}  // namespace ef21

#endif  // EF21_CLI_ROUND_MEMORY_H_
