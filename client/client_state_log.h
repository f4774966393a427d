// A worker host's g_i on disk under --client-state=worker (`ef21 worker --state-dir`): the state
// only the worker keeps in that mode, so that a worker killed with kill -9 and restarted — or a
// live worker whose aggregator resumed an older checkpoint — puts every client back exactly where
// the aggregator's state hash (ChainClientState) says, instead of being refused.
//
// g_i is a pure function of the messages applied to it (common/methods/method.h), so the store is
//   - a snapshot of every hosted client's g_i and state hash as of round base − 1 (none for
//     base 0: g_i = 0 before the first message), and
//   - an append-only log of the messages each client sent in rounds >= base (exactly as sent:
//     indices and values), and of the anchors (rounds a resumed aggregator may ask for).
// A round appends O(k) bytes per client, not O(d). When a RoundStart says "checkpointed" (the
// anchor moves to round a) and the log has grown larger than a snapshot, the store compacts: a new
// snapshot as of round a, a new log holding the rounds after it, then the old pair is removed;
// writes are amortized O(k) per client per round (the log's bytes bound the snapshots' bytes).
//
// Files: <dir>/<run id>-<A>-<B>-<base>.gsnap and .glog (clients A..B), each record with a length
// and a checksum; the snapshot is written through a rename, the log is appended. A torn last
// record (a crash mid-append) is cut off at open. Like the private-state files
// (client/worker_state.h) they are not fsync'ed: they survive the process, not a power loss.
//
// What the host may claim at Attach (held()): the state hashes at the anchor and at the last two
// rounds it logged — the rounds a resumed or live aggregator can ask for. Rebuild(t) replays the
// snapshot and the log up to round t; Rewind drops messages a client must compute again.
//
// Thread-compatible; one store per worker host.
#ifndef EF21_CLIENT_CLIENT_STATE_LOG_H_
#define EF21_CLIENT_CLIENT_STATE_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/base/vector.h"
#include "common/methods/method.h"

namespace ef21 {

class ClientStateLog {
 public:
  struct Options {
    std::string dir;
    int64_t first_client = 0;
    int64_t last_client = 0;  // inclusive
    int64_t dim = 0;

    absl::Status Validate() const;
  };

  // The state hashes of every hosted client (in id order) as of round `round`.
  struct Held {
    int64_t round = -1;
    std::vector<uint64_t> chains;
  };

  // Rebuilt state as of a round: g_i and its state hash per hosted client.
  struct State {
    std::vector<Vector> g;
    std::vector<uint64_t> chains;
  };

  // Creates the directory if needed and reads what it holds for these clients: the newest
  // complete snapshot + log pair of the run found there (run_id() names it; "" when none). A torn
  // last record is cut off; a damaged snapshot or log header is DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<ClientStateLog>> Open(Options options);
  ~ClientStateLog();

  // The run these files belong to; "" when the directory held none.
  const std::string& run_id() const { return run_id_; }
  // Binds the store to run `run_id` (the aggregator's Welcome): keeps the files when they are
  // this run's, else removes them (and any other run's for these clients) and starts empty.
  absl::Status Bind(const std::string& run_id);

  // The state hashes the host can rebuild: at the anchor and the last two logged rounds (rounds
  // before the snapshot excluded), ascending, without repeats. Empty before anything was logged.
  std::vector<Held> held() const;

  // Appends the messages hosted clients `hosted` (indices 0..B−A) sent in round `round`, before
  // they leave. FAILED_PRECONDITION (nothing written) for a round before the last logged one.
  // Returns the bytes appended.
  absl::StatusOr<int64_t> Append(int64_t round, absl::Span<const size_t> hosted,
                                 absl::Span<const SparseVector* const> messages);
  // The RoundStart of round `round` + 1 said "checkpointed": the state as of `round` is the oldest
  // a resumed aggregator can ask for. Records it, and compacts when the log outgrew a snapshot
  // (`method` applies a message to a g_i exactly as the aggregator would).
  absl::Status Anchor(int64_t round, const ServerMethod& method);
  // Every hosted client's g_i and state hash as of round `round` (>= the snapshot's round).
  absl::StatusOr<State> Rebuild(int64_t round, const ServerMethod& method) const;
  // Drops, for each hosted client j, its messages of rounds after keep_through[j] (and anchors
  // after the smallest of them): those rounds will be computed again.
  absl::Status Rewind(absl::Span<const int64_t> keep_through);

  // For tests and the documentation's figures.
  int64_t base() const { return base_; }
  int64_t last_round() const { return last_; }
  int64_t log_bytes() const { return log_bytes_; }
  int64_t snapshot_bytes() const;

 private:
  struct Entry {
    uint32_t client = 0;  // hosted index
    SparseVector c;
  };
  struct Record {
    int64_t round = 0;
    bool anchor = false;
    std::vector<Entry> entries;
    int64_t end = 0;  // offset just past the record in the log file
  };

  explicit ClientStateLog(Options options);
  int64_t count() const { return options_.last_client - options_.first_client + 1; }
  std::string Prefix() const;  // "<A>-<B>-"
  std::string PathOf(int64_t base, const char* suffix) const;
  std::string LogHeader(int64_t base) const;
  static std::string EncodeRecord(const Record& record);

  // Reads the snapshot of base_ (or zeros) into *state.
  absl::Status ReadSnapshot(State* state) const;
  // Reads the log of base_: its records (a torn tail cut off), the end of its valid prefix.
  absl::StatusOr<std::vector<Record>> ReadLog(int64_t* valid_end) const;
  // Recomputes last_, anchor_ and the held chains from the files.
  absl::Status Reload();
  // Applies the records of rounds <= `round` to *state.
  static void Apply(const std::vector<Record>& records, int64_t round, const ServerMethod* method,
                    State* state);
  // Opens the log for appending, creating it with its header when absent.
  absl::Status OpenForAppend();
  absl::Status WriteAll(const std::string& bytes);
  absl::Status Compact(int64_t round, const ServerMethod& method);
  // Removes this client range's files except the pair of (run_id_, base_) when keep is set.
  void RemoveOthers(bool keep);

  Options options_;
  std::string run_id_;
  int64_t base_ = 0;       // the log holds rounds >= base_; the snapshot is as of base_ − 1
  int64_t last_ = -1;      // the last round logged (base_ − 1 when none)
  int64_t anchor_ = -1;    // the last anchor (base_ − 1 when none)
  int64_t log_bytes_ = 0;  // the log file's size
  int fd_ = -1;            // the log, open for appending
  std::vector<uint64_t> chain_last_;    // as of last_
  std::vector<uint64_t> chain_prev_;    // as of last_ − 1
  std::vector<uint64_t> chain_anchor_;  // as of anchor_
};

}  // namespace ef21

#endif  // EF21_CLIENT_CLIENT_STATE_LOG_H_
