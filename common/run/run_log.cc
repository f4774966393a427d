#include "common/run/run_log.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ef21 {

void RunSummary::Observe(const MetricsRow& row) {
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

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write \"", tmp, "\": ", std::strerror(errno)));
  }
  const bool ok = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  if (std::fclose(f) != 0 || !ok) return absl::DataLossError(absl::StrCat("short write to \"", tmp, "\""));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot rename \"", tmp, "\" to \"", path, "\""));
  }
  return absl::OkStatus();
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
      return absl::PermissionDeniedError(absl::StrCat("cannot write \"", path, "\": ", std::strerror(errno)));
    }
    if (std::fprintf(metrics.get(), "%s\n", kMetricsHeader) < 0 || std::fflush(metrics.get()) != 0) {
      return absl::DataLossError(absl::StrCat("cannot write \"", path, "\""));
    }
  }
  return std::unique_ptr<RunLog>(new RunLog(dir, std::move(metrics), eps));
}

RunLog::RunLog(std::string dir, File metrics, double eps)
    : dir_(std::move(dir)), metrics_(std::move(metrics)) {
  summary_.eps = eps;
}

std::string RunLog::FormatRow(const MetricsRow& r) {
  // Columns a round did not evaluate stay empty.
  auto optional = [](double v) { return std::isnan(v) ? std::string() : absl::StrFormat("%.17g", v); };
  return absl::StrFormat("%d,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.6f,%s,%s,%s", r.round,
                         r.paper_bits_per_client, r.uplink_bytes_per_client,
                         r.downlink_bytes_per_client, r.loss, r.grad_norm, r.grad_norm_sq, r.g_norm,
                         r.stepsize, r.wall_seconds, optional(r.train_accuracy),
                         optional(r.test_loss), optional(r.test_accuracy));
}

absl::Status RunLog::Append(const MetricsRow& row) {
  rows_.push_back(row);
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

absl::Status RunLog::Finish(const JsonObject& extra) {
  if (dir_.empty()) return absl::OkStatus();
  const RunSummary& s = summary_;
  JsonObject o = extra;
  o.Add("rounds", static_cast<int64_t>(s.rounds));
  o.Add("eps", s.eps);
  if (s.first_round_below_eps >= 0) {
    o.Add("first_round_below_eps", s.first_round_below_eps);
    o.Add("paper_bits_per_client_at_eps", s.paper_bits_per_client_at_eps);
  } else {
    o.AddNull("first_round_below_eps");
    o.AddNull("paper_bits_per_client_at_eps");
  }
  o.Add("min_grad_norm", s.min_grad_norm);
  o.Add("min_grad_norm_round", s.min_grad_norm_round);
  o.Add("final_loss", s.final_loss);
  o.Add("final_grad_norm", s.final_grad_norm);
  o.Add("paper_bits_per_client", s.paper_bits_per_client);
  o.Add("uplink_bytes_per_client", s.uplink_bytes_per_client);
  o.Add("downlink_bytes_per_client", s.downlink_bytes_per_client);
  if (!std::isnan(s.final_test_accuracy)) {
    o.Add("final_train_accuracy", s.final_train_accuracy);
    o.Add("final_test_loss", s.final_test_loss);
    o.Add("final_test_accuracy", s.final_test_accuracy);
    o.Add("max_test_accuracy", s.max_test_accuracy);
  }
  o.Add("wall_seconds", s.wall_seconds);
  return WriteFileAtomically(dir_ + "/summary.json", o.Render());
}

}  // namespace ef21
