// The run directory: config.json (the effective configuration), metrics.csv (one row per round,
// flushed as it is written, so a stopped run leaves every closed round on disk) and summary.json.
// Used by the simulator and the aggregator alike, so both write byte-identical files.
// Rows are streamed to metrics.csv and not kept: the log holds only what summary.json needs
// (RunSummary's running minima and last values), so a run's memory does not grow with its rounds.
// Whoever wants the rows observes them (Simulator::Run's and the aggregator's observer) or reads
// metrics.csv back (ReadMetricsRows). Thread-compatible; move-only.
#ifndef EF21_COMMON_RUN_RUN_LOG_H_
#define EF21_COMMON_RUN_RUN_LOG_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ef21 {

// The columns of metrics.csv (DESIGN.md), in order. Communication is cumulative per client after
// the messages that produced g^t; loss = f(x^t); grad_norm = ‖∇f(x^t)‖ (nan on rounds without
// diagnostics, written as an empty cell, as is grad_norm_sq); g_norm = ‖g^t‖; stepsize = γ_t used
// to leave x^t.
inline constexpr char kMetricsHeader[] =
    "round,paper_bits_per_client,uplink_bytes_per_client,downlink_bytes_per_client,loss,grad_norm,"
    "grad_norm_sq,g_norm,stepsize,wall_seconds,train_accuracy,test_loss,test_accuracy";

struct MetricsRow {
  uint64_t round = 0;
  double paper_bits_per_client = 0;
  double uplink_bytes_per_client = 0;
  double downlink_bytes_per_client = 0;
  double loss = 0;
  double grad_norm = 0;
  double grad_norm_sq = 0;
  double g_norm = 0;
  double stepsize = 0;
  double wall_seconds = 0;
  // Classifiers (network problems) on diagnostic rounds, NaN otherwise (written empty):
  // accuracy over the clients' diagnostic rows, loss and accuracy over the test rows.
  double train_accuracy = std::nan("");
  double test_loss = std::nan("");
  double test_accuracy = std::nan("");
};

// Cumulative communication of all clients, in exact integers.
struct CommTotals {
  int64_t paper_bits = 0;
  int64_t uplink_bytes = 0;
  int64_t downlink_bytes = 0;
  int64_t diagnostic_bytes = 0;
};

// What summary.json reports, tracked row by row.
struct RunSummary {
  uint64_t rows = 0;  // rows observed (0: the run stopped before round 0)
  uint64_t rounds = 0;
  double eps = 1e-4;
  int64_t first_round_below_eps = -1;  // -1: never
  double paper_bits_per_client_at_eps = 0;
  double min_grad_norm = 0;
  int64_t min_grad_norm_round = -1;
  double final_loss = 0;
  // The last evaluated accuracies and test loss (network problems; NaN: never evaluated).
  double final_train_accuracy = std::nan("");
  double final_test_loss = std::nan("");
  double final_test_accuracy = std::nan("");
  double max_test_accuracy = std::nan("");
  double final_grad_norm = 0;
  double paper_bits_per_client = 0;
  double uplink_bytes_per_client = 0;
  double downlink_bytes_per_client = 0;
  double wall_seconds = 0;

  void Observe(const MetricsRow& row);
};

class RunLog {
 public:
  // dir == "": nothing is written (only the summary is tracked). Otherwise the directory is created
  // (with parents) and config.json written at once.
  static absl::StatusOr<std::unique_ptr<RunLog>> Create(const std::string& dir,
                                                        const std::string& config_json, double eps);
  // Move-only: the log owns metrics.csv's open file.
  RunLog(RunLog&&) = default;
  RunLog& operator=(RunLog&&) = default;
  // Continues the run in `dir` (a resumed aggregator): metrics.csv is cut back to its header and
  // rows 0..rows−1, which are read back (one line at a time) into summary(); later rows are
  // dropped. Refuses a metrics.csv with another header or fewer than `rows` whole rows.
  static absl::StatusOr<std::unique_ptr<RunLog>> Resume(const std::string& dir, uint64_t rows,
                                                        double eps);

  absl::Status Append(const MetricsRow& row);
  // Writes summary.json: the build, the run's outcome ("status": "complete" when run_status is
  // OK, "stopped" when CANCELLED, else "failed", with "stop_reason" its message), `extra` (problem,
  // n, d, γ, ...) and the tracked summary. Values that were never observed (every one when the run
  // stopped before round 0) are null, not 0.
  absl::Status Finish(const nlohmann::ordered_json& extra, const absl::Status& run_status);

  // What summary.json reports so far; summary().rows counts the rows appended (resumed included).
  const RunSummary& summary() const { return summary_; }
  const std::string& dir() const { return dir_; }

  // One metrics.csv line (no newline): %.17g numbers, so values round-trip; a non-finite
  // grad_norm or grad_norm_sq (a round without diagnostics) is an empty cell.
  static std::string FormatRow(const MetricsRow& row);

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  using File = std::unique_ptr<std::FILE, FileCloser>;

  RunLog(std::string dir, File metrics, double eps);

  std::string dir_;
  File metrics_;  // null when dir_ is ""
  RunSummary summary_;
};

// Every row of the metrics.csv at `path` (as RunLog writes it), for tools and tests that compare
// runs: FAILED_PRECONDITION naming the file and line when the header or a row is not RunLog's.
absl::StatusOr<std::vector<MetricsRow>> ReadMetricsRows(const std::string& path);

// A double as config.json and summary.json write it: integral values as JSON integers ("3200",
// not "3200.0", so readers get the integer they got before), others in the shortest text that
// reads back to the same double, non-finite ones as null.
nlohmann::ordered_json JsonNumber(double value);

// Creates a directory and its parents; OK if it exists.
absl::Status MakeDirectories(const std::string& dir);
// Writes `path` through a temporary file and a rename, so a reader sees the old or the new
// contents, never a mix. With `sync`, the file and its directory are fsync'ed: the new contents
// survive a power loss once this returns.
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents,
                                 bool sync = false);
// The same with the contents streamed by `write` into the temporary file's descriptor, for
// contents too large to hold in memory at once. An error `write` returns removes the temporary
// file and is returned; the rename happens only after it succeeded.
absl::Status WriteFileAtomically(
    const std::string& path, absl::FunctionRef<absl::Status(int fd, const std::string& tmp)> write,
    bool sync = false);
// Writes all of [data, data + size) to `fd` (retrying short writes and EINTR); DATA_LOSS naming
// `name` on an error.
absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& name);

// A 64-bit checksum of `bytes` (over 8-byte words), for files whose damage must be detected
// (checkpoints, worker state): catches torn and corrupted writes, not an adversary.
uint64_t Checksum64(const char* data, size_t size);
// Checksum64 of bytes given piece by piece: Update with the pieces in order (any split), then
// Finish gives Checksum64 of their concatenation, whose total size must be given up front.
class Checksum64Stream {
 public:
  explicit Checksum64Stream(size_t total_size);
  void Update(const char* data, size_t size);
  // Checksum64 of everything given, which must be `total_size` bytes (checked by the caller).
  uint64_t Finish() const;
  size_t seen() const { return seen_; }

 private:
  void Word(uint64_t w);
  uint64_t h_;
  char tail_[8];
  size_t tail_size_ = 0;
  size_t seen_ = 0;
};

// Whether `dir` already holds a run (config.json, metrics.csv or a checkpoint).
bool HoldsRun(const std::string& dir);
// Refuses to start a new run in a directory that holds one, unless `overwrite`:
// FAILED_PRECONDITION naming the directory and the flag.
absl::Status CheckFreshRunDirectory(const std::string& dir, bool overwrite);

}  // namespace ef21

#endif  // EF21_COMMON_RUN_RUN_LOG_H_
