// A worker host's private client state on disk (`ef21 worker --state-dir`): the part of a client
// the aggregator never sees — momentum v_i (ef21-sgdm, norm-ef21-sgdm, norm-sgdm) or EF14's error
// e_i. With it a worker killed with kill -9 and restarted, or a worker whose aggregator resumed an
// older checkpoint, continues exactly (g_i comes from the aggregator's Welcome).
//
// After stepping round r the host saves the states of all its clients as of round r, before it
// sends the round's updates. It keeps three files at most:
//   - round r and round r − 1: a restarted host needs r − 1 when the aggregator lost its round-r
//     updates, r when it received them;
//   - the anchor: the state as of round c − 1, where c is the latest round whose RoundStart said
//     "checkpointed" — the oldest round an aggregator can resume from.
// A file is <dir>/<run id>-<A>-<B>-<round>.state (clients A..B), written through a temporary file
// and a rename, with a checksum; files of another run for the same clients are removed. Files
// are not fsync'ed: they survive the process (kill -9), not the machine losing power.
//
// Thread-compatible; one store per worker host.
#ifndef EF21_CLIENT_WORKER_STATE_H_
#define EF21_CLIENT_WORKER_STATE_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/base/vector.h"

namespace ef21 {

class WorkerStateStore {
 public:
  struct Options {
    std::string dir;
    std::string run_id;
    int64_t first_client = 0;
    int64_t last_client = 0;  // inclusive
    int64_t dim = 0;

    absl::Status Validate() const;
  };

  // Creates the directory if needed and finds this run's files; removes other runs' files for the
  // same clients.
  static absl::StatusOr<std::unique_ptr<WorkerStateStore>> Open(Options options);

  // Saves the states of all hosted clients (in id order) as of round `round`, then removes files
  // no longer needed. Returns the bytes written.
  absl::StatusOr<int64_t> Save(int64_t round, absl::Span<const Vector* const> states);
  // The states as of round `round`; round −1 (before round 0) is empty vectors without a file.
  // NOT_FOUND when not kept; DATA_LOSS for a damaged file.
  absl::StatusOr<std::vector<Vector>> Load(int64_t round) const;
  // The RoundStart of round `round` + 1 said "checkpointed": keep round `round` from now on.
  void Anchor(int64_t round);

  // Rounds whose file exists (for tests).
  const std::set<int64_t>& rounds() const { return rounds_; }

  // The rounds whose file in options.dir is whole, read without changing the directory (a
  // restarted host checks what it may claim before the first Welcome names the run, and before
  // Open would remove other runs' files): the file's size is the one its header gives, and the
  // header names this run, client range and dimension and the round of its name. The checksum is
  // Load's. Rounds of missing, cut or foreign files are left out; none when the directory is
  // unreadable or options invalid.
  static std::set<int64_t> WholeRounds(const Options& options);

 private:
  explicit WorkerStateStore(Options options) : options_(std::move(options)) {}
  std::string PathOf(int64_t round) const;
  std::string Prefix() const;

  Options options_;
  std::set<int64_t> rounds_;
  int64_t anchor_ = -1;
};

}  // namespace ef21

#endif  // EF21_CLIENT_WORKER_STATE_H_
