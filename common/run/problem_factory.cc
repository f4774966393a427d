#include "common/run/problem_factory.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base/bounded_file.h"
#include "common/base/status_macros.h"
#include "common/nn/image_dataset.h"
#include "common/problems/logistic.h"
#include "common/problems/polynomial.h"

namespace ef21 {
namespace {

std::atomic<NetworkProblemFactory> network_factory{nullptr};

}  // namespace

void SetNetworkProblemFactory(NetworkProblemFactory factory) { network_factory.store(factory); }

bool NetworkProblemsEnabled() { return network_factory.load() != nullptr; }

absl::StatusOr<std::shared_ptr<const Problem>> CreateProblem(const RunConfig& config) {
  return CreateProblemForClients(config, 0, -1);
}

namespace {

// The rows of clients [first, last] as Logistic splits `rows` (one per client, or n contiguous
// blocks of ⌊rows/n⌋, the last taking the rest); all rows when last < first or the split is not
// valid (Logistic::Create then says why).
std::pair<int64_t, int64_t> ClientRows(const RunConfig& config, int64_t rows, int64_t first,
                                       int64_t last) {
  if (last < first || first < 0) return {0, rows};
  if (config.split == Split::kRow) return {first, last + 1};
  const int64_t n = config.clients;
  if (n < 1 || n > rows || last >= n) return {0, rows};
  const int64_t block = rows / n;
  return {first * block, last == n - 1 ? rows : (last + 1) * block};
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Problem>> CreateProblemForClients(const RunConfig& config,
                                                                       int64_t first,
                                                                       int64_t last) {
  EF21_RETURN_IF_ERROR(config.Validate());
  if (config.problem == ProblemKind::kPolynomial) {
    PolynomialOptions options;
    options.dim = config.dim;
    options.L0 = config.L0;
    options.L1 = config.L1;
    options.clients = config.clients == 0 ? 1 : config.clients;
    EF21_ASSIGN_OR_RETURN(auto problem, Polynomial::Create(options));
    return std::shared_ptr<const Problem>(std::move(problem));
  }
  if (config.problem == ProblemKind::kNetwork) {
    NetworkOptions options;
    EF21_ASSIGN_OR_RETURN(
        ImageData data,
        LoadImageData(config.dataset == "cifar10" ? DatasetFormat::kCifar10 : DatasetFormat::kIdx,
                      config.DatasetDir()));
    options.data = std::make_shared<const ImageData>(std::move(data));
    options.data_name = config.dataset;
    options.model = config.model;
    options.clients = config.EffectiveClients();
    options.shards = config.shards;
    options.train_samples = config.train_samples;
    options.diagnostics_samples = config.diagnostics_samples;
    options.seed = config.seed;
    const NetworkProblemFactory create = network_factory.load();
    if (create == nullptr) {
      return absl::FailedPreconditionError(
          "--problem=network: this program was built without neural networks (LibTorch); use the "
          "ef21 binary");
    }
    EF21_ASSIGN_OR_RETURN(auto problem, create(options));
    return std::shared_ptr<const Problem>(std::move(problem));
  }
  std::shared_ptr<Dataset> data;
  if (!config.data.empty()) {
    LibsvmOptions options;
    options.features = config.features;
    EF21_ASSIGN_OR_RETURN(Dataset read, ReadLibsvm(config.data, options));
    data = std::make_shared<Dataset>(std::move(read));
  } else {
    const auto [begin, end] = ClientRows(config, config.synthetic_rows, first, last);
    data = std::make_shared<Dataset>(MakeSyntheticDataset(
        config.synthetic_rows, config.synthetic_cols, config.seed, begin, end));
  }
  LogisticOptions options;
  options.lambda = config.EffectiveLambda();
  options.split = config.split;
  options.clients = config.clients;
  EF21_ASSIGN_OR_RETURN(auto problem, Logistic::Create(std::move(data), options));
  return std::shared_ptr<const Problem>(std::move(problem));
}

absl::StatusOr<Vector> ReadVectorFile(const std::string& path, int64_t dim) {
  // One number per line: 64 bytes a coordinate is ample room for "%.17g" and a comment.
  const int64_t max_bytes = std::min<int64_t>(kDefaultMaxFileBytes, 64 * dim + (int64_t{1} << 20));
  EF21_ASSIGN_OR_RETURN(const std::string text, ReadBoundedFile(path, max_bytes, "x0 file"));
  std::vector<double> values;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    double v;
    if (!absl::SimpleAtod(line, &v) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected one finite number, got \"", line, "\""));
    }
    values.push_back(v);
  }
  if (static_cast<int64_t>(values.size()) != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected ", dim, " numbers (the dimension), got ", values.size()));
  }
  return Eigen::Map<const Vector>(values.data(), dim);
}

absl::StatusOr<Vector> CreateStartingPoint(const RunConfig& config, const Problem& problem) {
  if (config.x0_file.empty() && config.x0 == X0Kind::kGaussian) {
    if (std::optional<Vector> x0 = problem.InitialPoint(config.seed)) return *std::move(x0);
  }
  return CreateStartingPoint(config, problem.dim());
}

absl::StatusOr<Vector> CreateStartingPoint(const RunConfig& config, int64_t dim) {
  if (!config.x0_file.empty()) return ReadVectorFile(config.x0_file, dim);
  if (config.x0 == X0Kind::kZeros) return Vector(Vector::Zero(dim));
  const double mean = config.problem == ProblemKind::kPolynomial ? 20.0 : 0.0;
  CounterRng rng(config.seed, Purpose::kX0, 0, 0);
  Vector x(dim);
  for (int64_t j = 0; j < dim; ++j) x[j] = mean + rng.NextGaussian();
  return x;
}

}  // namespace ef21
