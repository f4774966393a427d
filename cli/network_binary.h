// The ef21 program is two executables built from cli/main.cc: `ef21`, which every command starts,
// and `ef21-networks` beside it, the same program with LibTorch and the network problems linked
// in. LibTorch costs about a second of CPU, 337 shared libraries and 160 MB of memory at every
// start, so `ef21` leaves it out; a command whose parsed flags (or configuration file) say
// --problem=network replaces its process with `ef21-networks` and the same arguments, after
// parsing and before doing anything else. Users see one command either way.
#ifndef EF21_CLI_NETWORK_BINARY_H_
#define EF21_CLI_NETWORK_BINARY_H_

#include <string>

#include "absl/status/status.h"

namespace ef21 {

// Called by the LibTorch-free main(): remembers the arguments that ExecNetworkBinary passes on.
void SetCommandLineForNetworkBinary(int argc, char** argv);

// Whether a command with this problem kind must run in ef21-networks: a network problem, in a
// program without networks, whose main() registered its command line (tests parsing flags
// in-process never re-execute).
bool NeedsNetworkBinary(const std::string& problem);

// Replaces this process with ef21-networks (the directory of /proc/self/exe) and the registered
// arguments. Returns only on failure: FAILED_PRECONDITION naming the path and the error.
absl::Status ExecNetworkBinary();

}  // namespace ef21

#endif  // EF21_CLI_NETWORK_BINARY_H_
