#include "common/problems/logistic.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/base/digest.h"
#include "common/base/linalg.h"

namespace ef21 {

absl::Status LogisticOptions::Validate(const Dataset& data) const {
  if (!(lambda >= 0.0) || !std::isfinite(lambda)) {
    return absl::InvalidArgumentError(absl::StrFormat("--lambda must be >= 0; got %g", lambda));
  }
  if (data.rows < 1 || data.cols < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("data set is empty (%d rows, %d features)", data.rows, data.cols));
  }
  if (split == Split::kRow && clients != 0 && clients != data.rows) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--split=row gives one client per row (%d); got --clients=%d", data.rows, clients));
  }
  if (split == Split::kContiguous && (clients < 1 || clients > data.rows)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--split=contiguous needs 1 <= --clients <= rows = %d; got %d", data.rows, clients));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Logistic>> Logistic::Create(std::shared_ptr<const Dataset> data,
                                                           const LogisticOptions& options) {
  if (data == nullptr) return absl::InvalidArgumentError("no data set");
  if (absl::Status s = options.Validate(*data); !s.ok()) return s;
  return std::unique_ptr<Logistic>(new Logistic(std::move(data), options));
}

Logistic::Logistic(std::shared_ptr<const Dataset> data, const LogisticOptions& options)
    : data_(std::move(data)), options_(options) {
  const int64_t rows = data_->rows;
  if (options_.split == Split::kRow) {
    client_rows_.resize(rows + 1);
    for (int64_t i = 0; i <= rows; ++i) client_rows_[i] = i;
  } else {
    const int64_t n = options_.clients;
    const int64_t block = rows / n;
    client_rows_.resize(n + 1);
    for (int64_t i = 0; i < n; ++i) client_rows_[i] = i * block;
    client_rows_[n] = rows;
  }
}

std::string DescribeLogistic(int64_t rows, int64_t cols, Split split, int64_t clients,
                             double lambda) {
  return absl::StrFormat("logreg %d rows x %d features, split=%s, %d clients, lambda=%g", rows,
                         cols, SplitName(split), clients, lambda);
}

std::string Logistic::Describe() const {
  return DescribeLogistic(data_->rows, data_->cols, options_.split, num_clients(), options_.lambda);
}

double Logistic::Dot(int64_t row, const Vector& x) const {
  const Dataset& a = *data_;
  double z = 0.0;
  for (int64_t e = a.row_offsets[row]; e < a.row_offsets[row + 1]; ++e) {
    z += a.values[e] * x[a.col_indices[e]];
  }
  return z;
}

double Logistic::RowLoss(int64_t row, const Vector& x, double* slope) const {
  // With z = b·aᵀx: log(1 + e^{−z}) = max(−z, 0) + log1p(e^{−|z|}), and its derivative in aᵀx is
  // −b·σ(−z), σ(t) = 1/(1 + e^{−t}), computed without overflow on either side.
  const double b = data_->labels[row];
  const double z = b * Dot(row, x);
  const double e = std::exp(-std::abs(z));
  const double sigma_minus_z = z >= 0 ? e / (1.0 + e) : 1.0 / (1.0 + e);
  if (slope != nullptr) *slope = -b * sigma_minus_z;
  return std::max(-z, 0.0) + std::log1p(e);
}

void Logistic::AddRow(int64_t row, double slope, Vector* sum) const {
  const Dataset& a = *data_;
  double* g = sum->data();
  for (int64_t e = a.row_offsets[row]; e < a.row_offsets[row + 1]; ++e) {
    g[a.col_indices[e]] += slope * a.values[e];
  }
}

void Logistic::FinishGradient(double inv_m, const EvalPoint& p, Vector* grad) const {
  // The data term is scaled once, after the sum, so coordinates whose sums are equal stay equal
  // whatever the order of their rows (SPEC §2's tie rule then decides top-k, not rounding).
  double* g = grad->data();
  const double* r = p.shared_grad.data();
  const Eigen::Index d = grad->size();
  for (Eigen::Index l = 0; l < d; ++l) g[l] = g[l] * inv_m + r[l];
}

void Logistic::PrepareShared(EvalPoint* p) const {
  // The regularizer r(x) = λ Σ x_l²/(1 + x_l²), ∇r = 2λ x/(1 + x²)², shared by all clients.
  const int64_t d = dim();
  const double lambda = options_.lambda;
  const Vector& x = p->x();
  p->shared_grad.resize(d);
  double r = 0.0;
  for (int64_t l = 0; l < d; ++l) {
    const double xl = x[l];
    const double q = 1.0 + xl * xl;
    r += xl * xl / q;
    p->shared_grad[l] = 2.0 * lambda * xl / (q * q);
  }
  p->shared_loss = lambda * r;
}

double Logistic::LossAndGradient(int64_t client, const EvalPoint& p, Vector* grad) const {
  const int64_t begin = RowBegin(client), end = RowEnd(client);
  const double inv_m = 1.0 / static_cast<double>(end - begin);
  double loss = 0.0;
  grad->setZero(dim());
  for (int64_t row = begin; row < end; ++row) {
    double slope;
    loss += RowLoss(row, p.x(), &slope);
    AddRow(row, slope, grad);
  }
  FinishGradient(inv_m, p, grad);
  return loss * inv_m + p.shared_loss;
}

double Logistic::Loss(int64_t client, const EvalPoint& p) const {
  const int64_t begin = RowBegin(client), end = RowEnd(client);
  double loss = 0.0;
  for (int64_t row = begin; row < end; ++row) loss += RowLoss(row, p.x(), nullptr);
  return loss / static_cast<double>(end - begin) + p.shared_loss;
}

bool Logistic::IsStochastic(const NoiseOptions& noise) const { return noise.batch > 0; }

void Logistic::StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                                  uint64_t round, Vector* grad) const {
  if (noise.batch <= 0) {
    LossAndGradient(client, p, grad);
    return;
  }
  // A minibatch of `batch` rows of client i, uniform with replacement (SPEC §3).
  const int64_t begin = RowBegin(client), m = RowEnd(client) - begin;
  CounterRng rng(noise.seed, Purpose::kMinibatch, static_cast<uint64_t>(client), round);
  grad->setZero(dim());
  for (int64_t s = 0; s < noise.batch; ++s) {
    const int64_t row = begin + static_cast<int64_t>(rng.NextBelow(static_cast<uint64_t>(m)));
    double slope;
    RowLoss(row, p.x(), &slope);
    AddRow(row, slope, grad);
  }
  FinishGradient(1.0 / static_cast<double>(noise.batch), p, grad);
}

namespace {

// y = Σ_{rows j in [begin, end)} w_j a_j a_jᵀ x.
void ApplyRows(const Dataset& a, int64_t begin, int64_t end, const std::vector<double>& w,
               const Vector& x, Vector* y) {
  y->resize(x.size());
  WeightedGramProduct(a, begin, end, w.data(), x.data(), y->data());
}

}  // namespace

ClientConstants Logistic::ClientSmoothness(int64_t client) const {
  const Dataset& a = *data_;
  const double lambda = options_.lambda;
  const int64_t begin = RowBegin(client), end = RowEnd(client), m = end - begin;
  ClientConstants c;
  c.rows = m;
  double max_row_norm = 0.0;
  for (int64_t j = begin; j < end; ++j)
    max_row_norm = std::max(max_row_norm, std::sqrt(a.RowSquaredNorm(j)));
  c.L1 = max_row_norm;
  c.L0 = 2.0 * lambda + lambda * std::sqrt(static_cast<double>(dim())) * max_row_norm;
  if (m == 1) {
    c.L = a.RowSquaredNorm(begin) / 4.0 + 2.0 * lambda;  // λ_max(a aᵀ) = ‖a‖²
    return c;
  }
  const std::vector<double> weight(m, 1.0 / (4.0 * m));
  c.L = LargestEigenvalue(
            [&](const Vector& x, Vector* y) { ApplyRows(a, begin, end, weight, x, y); }, dim()) +
        2.0 * lambda;
  return c;
}

SmoothnessConstants Logistic::Constants() const {
  const Dataset& a = *data_;
  const int64_t n = num_clients();
  std::vector<ClientConstants> clients(n);
  for (int64_t i = 0; i < n; ++i) clients[i] = ClientSmoothness(i);
  // The constant of f = (1/n) Σ f_i: rows of client i weigh 1/(4 n m_i).
  std::vector<double> weight(a.rows);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t m = RowEnd(i) - RowBegin(i);
    for (int64_t row = RowBegin(i); row < RowEnd(i); ++row) weight[row] = 1.0 / (4.0 * n * m);
  }
  const double L =
      LargestEigenvalue([&](const Vector& x, Vector* y) { ApplyRows(a, 0, a.rows, weight, x, y); },
                        dim()) +
      2.0 * options_.lambda;
  return CombineClientConstants(clients, L);
}

uint64_t Logistic::DataDigest(int64_t client) const {
  const Dataset& d = *data_;
  const int64_t begin = RowBegin(client);
  const int64_t end = RowEnd(client);
  Digest64 digest;
  digest.AddValue(d.cols);
  digest.AddValue(end - begin);
  for (int64_t j = begin; j < end; ++j) {
    const int64_t first = d.row_offsets[j];
    const size_t count = static_cast<size_t>(d.row_offsets[j + 1] - first);
    digest.AddValue(d.labels[j]);
    digest.Add(d.col_indices.data() + first, sizeof(int32_t) * count);
    digest.Add(d.values.data() + first, sizeof(double) * count);
  }
  return digest.value();
}

}  // namespace ef21
