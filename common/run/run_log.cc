#include "common/run/run_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/base/status_macros.h"
#include "common/base/version.h"

namespace ef21 {

void RunSummary::Observe(const MetricsRow& row) {
  ++rows;
  rounds = row.round;
  if (std::isfinite(row.grad_norm)) {
    if (min_grad_norm_round < 0 || row.grad_norm < min_grad_norm) {
      min_grad_norm = row.grad_norm;
      min_grad_norm_round = static_cast<int64_t>(row.round);
    }
    if (first_round_below_eps < 0 && row.grad_norm_sq < eps) {
      first_round_below_eps = static_cast<int64_t>(row.round);
      paper_bits_per_client_at_eps = row.paper_bits_per_client;
    }
    final_grad_norm = row.grad_norm;
  }
  final_loss = row.loss;
  if (!std::isnan(row.test_accuracy)) {
    final_train_accuracy = row.train_accuracy;
    final_test_loss = row.test_loss;
    final_test_accuracy = row.test_accuracy;
    if (std::isnan(max_test_accuracy) || row.test_accuracy > max_test_accuracy) {
      max_test_accuracy = row.test_accuracy;
    }
  }
  paper_bits_per_client = row.paper_bits_per_client;
  uplink_bytes_per_client = row.uplink_bytes_per_client;
  downlink_bytes_per_client = row.downlink_bytes_per_client;
  wall_seconds = row.wall_seconds;
}

nlohmann::ordered_json JsonNumber(double value) {
  if (!std::isfinite(value)) return nullptr;
  if (value == std::floor(value) && std::abs(value) < 9007199254740992.0) {  // 2^53: exact
    return static_cast<int64_t>(value);
  }
  return value;
}

absl::Status MakeDirectories(const std::string& dir) {
  std::string path;
  for (size_t pos = 0; pos != std::string::npos;) {
    pos = dir.find('/', pos + 1);
    path = dir.substr(0, pos);
    if (path.empty()) continue;
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create directory \"", path, "\": ", std::strerror(errno)));
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("\"", dir, "\" is not a directory"));
  }
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& name) {
  size_t done = 0;
  while (done < size) {
    const ssize_t w = ::write(fd, data + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      return absl::DataLossError(
          absl::StrCat("cannot write \"", name, "\": ", std::strerror(w < 0 ? errno : EIO)));
    }
    done += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents, bool sync) {
  return WriteFileAtomically(
      path,
      [&](int fd, const std::string& tmp) {
        return WriteAll(fd, contents.data(), contents.size(), tmp);
      },
      sync);
}

absl::Status WriteFileAtomically(
    const std::string& path, absl::FunctionRef<absl::Status(int fd, const std::string& tmp)> write,
    bool sync) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write \"", tmp, "\": ", std::strerror(errno)));
  }
  if (absl::Status s = write(fd, tmp); !s.ok()) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  if (sync && ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return absl::DataLossError(absl::StrCat("cannot fsync \"", tmp, "\": ", std::strerror(err)));
  }
  if (::close(fd) != 0) return absl::DataLossError(absl::StrCat("short write to \"", tmp, "\""));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename \"", tmp, "\" to \"", path, "\": ", std::strerror(errno)));
  }
  if (sync) {
    const size_t slash = path.rfind('/');
    const std::string dir =
        slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return absl::OkStatus();
}

namespace {
constexpr uint64_t kChecksumSeed = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kChecksumWordPrime = 0xff51afd7ed558ccdULL;
constexpr uint64_t kChecksumBytePrime = 0xc4ceb9fe1a85ec53ULL;

uint64_t ChecksumWord(uint64_t h, uint64_t w) {
  h ^= w;
  h *= kChecksumWordPrime;
  return h ^ (h >> 33);
}

uint64_t ChecksumTail(uint64_t h, const char* data, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= kChecksumBytePrime;
  }
  return h ^ (h >> 29);
}
}  // namespace

uint64_t Checksum64(const char* data, size_t size) {
  Checksum64Stream stream(size);
  stream.Update(data, size);
  return stream.Finish();
}

Checksum64Stream::Checksum64Stream(size_t total_size) : h_(kChecksumSeed ^ total_size) {}

void Checksum64Stream::Update(const char* data, size_t size) {
  if (size == 0) return;  // data may be null then (memcpy must not see it)
  seen_ += size;
  if (tail_size_ > 0) {  // complete the word begun by an earlier piece
    const size_t take = std::min(size, 8 - tail_size_);
    std::memcpy(tail_ + tail_size_, data, take);
    tail_size_ += take;
    data += take;
    size -= take;
    if (tail_size_ < 8) return;
    uint64_t w;
    std::memcpy(&w, tail_, 8);
    h_ = ChecksumWord(h_, w);
    tail_size_ = 0;
  }
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h_ = ChecksumWord(h_, w);
  }
  std::memcpy(tail_, data + i, size - i);
  tail_size_ = size - i;
}

uint64_t Checksum64Stream::Finish() const { return ChecksumTail(h_, tail_, tail_size_); }

bool HoldsRun(const std::string& dir) {
  if (dir.empty()) return false;
  struct stat st;
  for (const char* name : {"config.json", "metrics.csv", "checkpoint.bin"}) {
    if (::stat((dir + "/" + name).c_str(), &st) == 0) return true;
  }
  return false;
}

absl::Status CheckFreshRunDirectory(const std::string& dir, bool overwrite) {
  if (overwrite || !HoldsRun(dir)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("\"", dir,
                   "\" already holds a run (config.json, metrics.csv or checkpoint.bin); choose "
                   "another --out, or pass --overwrite to replace it"));
}

absl::StatusOr<std::unique_ptr<RunLog>> RunLog::Create(const std::string& dir,
                                                       const std::string& config_json, double eps) {
  File metrics;
  if (!dir.empty()) {
    if (absl::Status s = MakeDirectories(dir); !s.ok()) return s;
    if (absl::Status s = WriteFileAtomically(dir + "/config.json", config_json); !s.ok()) return s;
    const std::string path = dir + "/metrics.csv";
    metrics.reset(std::fopen(path.c_str(), "wb"));
    if (metrics == nullptr) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write \"", path, "\": ", std::strerror(errno)));
    }
    if (std::fprintf(metrics.get(), "%s\n", kMetricsHeader) < 0 ||
        std::fflush(metrics.get()) != 0) {
      return absl::DataLossError(absl::StrCat("cannot write \"", path, "\""));
    }
  }
  return std::unique_ptr<RunLog>(new RunLog(dir, std::move(metrics), eps));
}

namespace {

// A metrics.csv cell: a number, or empty (not measured that round) as NaN when `may_be_empty`.
bool ParseCell(absl::string_view cell, bool may_be_empty, double* out) {
  if (cell.empty()) {
    *out = std::nan("");
    return may_be_empty;
  }
  return absl::SimpleAtod(cell, out);
}

// One metrics.csv line as FormatRow writes it (kMetricsHeader's columns).
bool ParseRow(const std::string& line, MetricsRow* row) {
  const std::vector<absl::string_view> cells = absl::StrSplit(line, ',');
  if (cells.size() != 13 || !absl::SimpleAtoi(cells[0], &row->round)) return false;
  double* const numbers[] = {&row->paper_bits_per_client,
                             &row->uplink_bytes_per_client,
                             &row->downlink_bytes_per_client,
                             &row->loss,
                             &row->grad_norm,
                             &row->grad_norm_sq,
                             &row->g_norm,
                             &row->stepsize,
                             &row->wall_seconds,
                             &row->train_accuracy,
                             &row->test_loss,
                             &row->test_accuracy};
  for (size_t i = 0; i < 12; ++i) {
    // grad_norm, grad_norm_sq and the three evaluation columns are empty on rounds without them.
    const bool may_be_empty = i == 4 || i == 5 || i >= 9;
    if (!ParseCell(cells[i + 1], may_be_empty, numbers[i])) return false;
  }
  return true;
}

}  // namespace

namespace {

struct InputCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using InputFile = std::unique_ptr<std::FILE, InputCloser>;

// metrics.csv one line at a time, in a fixed buffer: a metrics row is a few hundred bytes, so a
// longer line is not one (and is not read whole into memory).
class LineReader {
 public:
  enum class Result { kLine, kEnd, kTorn, kTooLong };
  explicit LineReader(std::FILE* file) : file_(file) {}
  // kLine: `line` holds the next line without its '\n'. kTorn: the file ends inside a line.
  Result Next(std::string* line) {
    if (std::fgets(buffer_, sizeof(buffer_), file_) == nullptr) return Result::kEnd;
    const size_t length = std::strlen(buffer_);
    if (length == 0 || buffer_[length - 1] != '\n') {
      return std::feof(file_) ? Result::kTorn : Result::kTooLong;
    }
    line->assign(buffer_, length - 1);
    offset_ += static_cast<int64_t>(length);
    return Result::kLine;
  }
  // Bytes of the whole lines read so far.
  int64_t offset() const { return offset_; }

 private:
  std::FILE* file_;
  char buffer_[4096];
  int64_t offset_ = 0;
};

// Opens `path` and reads its header line: FAILED_PRECONDITION (prefixed by `what`) when it cannot
// be read or does not start with kMetricsHeader.
absl::Status OpenMetrics(const std::string& path, absl::string_view what, InputFile* file) {
  file->reset(std::fopen(path.c_str(), "rb"));
  if (*file == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, "cannot read \"", path, "\": ", std::strerror(errno)));
  }
  LineReader header(file->get());
  std::string line;
  if (header.Next(&line) != LineReader::Result::kLine || line != kMetricsHeader) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, "\"", path, "\" does not start with the metrics.csv header"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunLog>> RunLog::Resume(const std::string& dir, uint64_t rows,
                                                       double eps) {
  const std::string path = dir + "/metrics.csv";
  constexpr absl::string_view kWhat = "cannot resume: ";
  InputFile in;
  EF21_RETURN_IF_ERROR(OpenMetrics(path, kWhat, &in));
  const int64_t header_bytes = static_cast<int64_t>(std::strlen(kMetricsHeader)) + 1;
  auto log = std::unique_ptr<RunLog>(new RunLog(dir, File(), eps));
  LineReader reader(in.get());
  std::string line;
  for (uint64_t r = 0; r < rows; ++r) {
    if (reader.Next(&line) != LineReader::Result::kLine) {
      return absl::FailedPreconditionError(absl::StrCat(
          kWhat, "\"", path, "\" has ", r, " whole rows; the checkpoint needs ", rows));
    }
    MetricsRow row;
    if (!ParseRow(line, &row) || row.round != r) {
      return absl::FailedPreconditionError(absl::StrCat(kWhat, "\"", path, "\" row ", r + 1,
                                                        " is not the metrics row of round ", r,
                                                        ": \"", line, "\""));
    }
    log->summary_.Observe(row);
  }
  in.reset();
  // Cut the file back to the rows kept, then append after them.
  if (::truncate(path.c_str(), static_cast<off_t>(header_bytes + reader.offset())) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot truncate \"", path, "\": ", std::strerror(errno)));
  }
  log->metrics_.reset(std::fopen(path.c_str(), "ab"));
  if (log->metrics_ == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write \"", path, "\": ", std::strerror(errno)));
  }
  return log;
}

absl::StatusOr<std::vector<MetricsRow>> ReadMetricsRows(const std::string& path) {
  InputFile in;
  EF21_RETURN_IF_ERROR(OpenMetrics(path, "", &in));
  LineReader reader(in.get());
  std::vector<MetricsRow> rows;
  std::string line;
  for (;;) {
    const LineReader::Result result = reader.Next(&line);
    if (result == LineReader::Result::kEnd) return rows;
    const std::string where = absl::StrCat("\"", path, "\" line ", rows.size() + 2);
    if (result == LineReader::Result::kTorn) {
      return absl::FailedPreconditionError(absl::StrCat(where, " ends without a newline"));
    }
    MetricsRow row;
    if (result == LineReader::Result::kTooLong || !ParseRow(line, &row)) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, " is not a metrics row (", kMetricsHeader, ")"));
    }
    rows.push_back(row);
  }
}

RunLog::RunLog(std::string dir, File metrics, double eps)
    : dir_(std::move(dir)), metrics_(std::move(metrics)) {
  summary_.eps = eps;
}

namespace {

// %.17g, or "" (an empty CSV cell) when not measured.
std::string Cell(double value) {
  return std::isfinite(value) ? absl::StrFormat("%.17g", value) : "";
}

}  // namespace

std::string RunLog::FormatRow(const MetricsRow& r) {
  return absl::StrFormat("%d,%.17g,%.17g,%.17g,%.17g,%s,%s,%.17g,%.17g,%.6f,%s,%s,%s", r.round,
                         r.paper_bits_per_client, r.uplink_bytes_per_client,
                         r.downlink_bytes_per_client, r.loss, Cell(r.grad_norm),
                         Cell(r.grad_norm_sq), r.g_norm, r.stepsize, r.wall_seconds,
                         Cell(r.train_accuracy), Cell(r.test_loss), Cell(r.test_accuracy));
}

absl::Status RunLog::Append(const MetricsRow& row) {
  summary_.Observe(row);
  if (metrics_ != nullptr) {
    const std::string line = FormatRow(row) + "\n";
    if (std::fwrite(line.data(), 1, line.size(), metrics_.get()) != line.size() ||
        std::fflush(metrics_.get()) != 0) {
      return absl::DataLossError(absl::StrCat("cannot append to ", dir_, "/metrics.csv"));
    }
  }
  return absl::OkStatus();
}

absl::Status RunLog::Finish(const nlohmann::ordered_json& extra, const absl::Status& run_status) {
  if (dir_.empty()) return absl::OkStatus();
  const RunSummary& s = summary_;
  // null for what was never observed.
  auto value_or_null = [](bool observed, auto value) -> nlohmann::ordered_json {
    if (!observed) return nullptr;
    return value;
  };
  const bool any_row = s.rows > 0;
  const bool measured = s.min_grad_norm_round >= 0;
  const bool reached = s.first_round_below_eps >= 0;
  nlohmann::ordered_json o;
  o["build"] = BuildJson();
  if (run_status.ok()) {
    o["status"] = "complete";
    o["stop_reason"] = nullptr;
  } else {
    o["status"] = run_status.code() == absl::StatusCode::kCancelled ? "stopped" : "failed";
    o["stop_reason"] = std::string(run_status.message());
  }
  o.update(extra);
  o["rounds"] = value_or_null(any_row, s.rounds);
  o["eps"] = JsonNumber(s.eps);
  o["first_round_below_eps"] = value_or_null(reached, s.first_round_below_eps);
  o["paper_bits_per_client_at_eps"] =
      value_or_null(reached, JsonNumber(s.paper_bits_per_client_at_eps));
  o["min_grad_norm"] = value_or_null(measured, JsonNumber(s.min_grad_norm));
  o["min_grad_norm_round"] = value_or_null(measured, s.min_grad_norm_round);
  o["final_loss"] = value_or_null(any_row, JsonNumber(s.final_loss));
  o["final_grad_norm"] = value_or_null(measured, JsonNumber(s.final_grad_norm));
  o["paper_bits_per_client"] = value_or_null(any_row, JsonNumber(s.paper_bits_per_client));
  o["uplink_bytes_per_client"] = value_or_null(any_row, JsonNumber(s.uplink_bytes_per_client));
  o["downlink_bytes_per_client"] = value_or_null(any_row, JsonNumber(s.downlink_bytes_per_client));
  if (!std::isnan(s.final_test_accuracy)) {
    o["final_train_accuracy"] = JsonNumber(s.final_train_accuracy);
    o["final_test_loss"] = JsonNumber(s.final_test_loss);
    o["final_test_accuracy"] = JsonNumber(s.final_test_accuracy);
    o["max_test_accuracy"] = JsonNumber(s.max_test_accuracy);
  }
  o["wall_seconds"] = value_or_null(any_row, JsonNumber(s.wall_seconds));
  return WriteFileAtomically(dir_ + "/summary.json", o.dump(2) + "\n");
}

}  // namespace ef21
