#include "common/problems/polynomial.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "common/base/digest.h"

namespace ef21 {

absl::Status PolynomialOptions::Validate() const {
  if (dim < 1)
    return absl::InvalidArgumentError(absl::StrFormat("--dim must be >= 1; got %d", dim));
  if (!(L0 > 0.0) || !std::isfinite(L0)) {
    return absl::InvalidArgumentError(absl::StrFormat("--L0 must be positive; got %g", L0));
  }
  if (!(L1 > 0.0) || !std::isfinite(L1)) {
    return absl::InvalidArgumentError(absl::StrFormat("--L1 must be positive; got %g", L1));
  }
  if (clients < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("--clients must be >= 1; got %d", clients));
  }
  if (!(box > 0.0))
    return absl::InvalidArgumentError(absl::StrFormat("box must be positive; got %g", box));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Polynomial>> Polynomial::Create(const PolynomialOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  return std::unique_ptr<Polynomial>(new Polynomial(options));
}

Polynomial::Polynomial(const PolynomialOptions& options)
    : options_(options),
      lambda_(options.L0 /
              (9.0 * options.dim * options.dim / (2.0 * options.L1 * options.L1) + 2.0)) {}

std::string Polynomial::Describe() const {
  return absl::StrFormat("polynomial d=%d L0=%g L1=%g lambda=%.6g clients=%d", options_.dim,
                         options_.L0, options_.L1, lambda_, options_.clients);
}

void Polynomial::PrepareShared(EvalPoint* p) const {
  p->shared_loss = 0.0;
  p->shared_grad.resize(0);
}

// The three evaluations below share these expressions, so that each gives the same bits: f_i sums
// the coordinates' terms in ascending j, ∂_j f_i is one expression of x_j.
namespace {

struct PolynomialTerms {
  double lambda;
  double Loss(double x) const {
    const double x2 = x * x;
    const double q = 1.0 + x2;
    return (lambda / 24.0) * x2 * x2 + lambda * x2 / q;
  }
  double Derivative(double x) const {
    const double x2 = x * x;
    const double q = 1.0 + x2;
    return (lambda / 6.0) * x2 * x + 2.0 * lambda * x / (q * q);
  }
};

}  // namespace

double Polynomial::LossAndGradient(int64_t, const EvalPoint& p, Vector* grad) const {
  const int64_t d = options_.dim;
  const PolynomialTerms terms{lambda_};
  const Vector& x = p.x();
  grad->resize(d);
  double loss = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    loss += terms.Loss(x[j]);
    (*grad)[j] = terms.Derivative(x[j]);
  }
  return loss;
}

double Polynomial::LossAndAddGradient(int64_t, const EvalPoint& p, Vector* sum, Vector*) const {
  const int64_t d = options_.dim;
  const PolynomialTerms terms{lambda_};
  const Vector& x = p.x();
  double loss = 0.0;
  double* s = sum->data();
  for (int64_t j = 0; j < d; ++j) {
    loss += terms.Loss(x[j]);
    s[j] += terms.Derivative(x[j]);
  }
  return loss;
}

void Polynomial::AddGradientBlock(int64_t, const EvalPoint& p, int64_t begin, int64_t end,
                                  double* sum, Vector*) const {
  const PolynomialTerms terms{lambda_};
  const Vector& x = p.x();
  for (int64_t j = begin; j < end; ++j) sum[j - begin] += terms.Derivative(x[j]);
}

// Without a gradient buffer: the aggregator checks every client's reported loss, on several gRPC
// threads at once.
double Polynomial::Loss(int64_t, const EvalPoint& p) const {
  const PolynomialTerms terms{lambda_};
  double loss = 0.0;
  const Vector& x = p.x();
  for (int64_t j = 0; j < options_.dim; ++j) loss += terms.Loss(x[j]);
  return loss;
}

void Polynomial::StochasticGradient(int64_t client, const EvalPoint& p, const NoiseOptions& noise,
                                    uint64_t round, Vector* grad) const {
  LossAndGradient(client, p, grad);
  if (noise.sigma > 0.0) {
    CounterRng rng(noise.seed, Purpose::kNoise, static_cast<uint64_t>(client), round);
    for (int64_t j = 0; j < options_.dim; ++j) (*grad)[j] += noise.sigma * rng.NextGaussian();
  }
}

ClientConstants Polynomial::ClientSmoothness(int64_t) const {
  ClientConstants c;
  const double d = static_cast<double>(options_.dim);
  c.rows = 1;
  // L0 = 9λd²/(2L1²) + 2λ recovers the option by construction.
  c.L0 = 9.0 * lambda_ * d * d / (2.0 * options_.L1 * options_.L1) + 2.0 * lambda_;
  c.L1 = options_.L1;
  c.L = lambda_ * std::sqrt(d) * options_.box * options_.box / 2.0 + 2.0 * lambda_;
  return c;
}

SmoothnessConstants Polynomial::Constants() const {
  // Every f_i is f: L of the sum is L_i.
  const std::vector<ClientConstants> clients(options_.clients, ClientSmoothness(0));
  return CombineClientConstants(clients, clients[0].L);
}

SmoothnessConstants CombineClientConstants(const std::vector<ClientConstants>& clients, double L) {
  SmoothnessConstants c;
  c.L = L;
  c.clients = clients;
  c.L_i.resize(clients.size());
  for (size_t i = 0; i < clients.size(); ++i) {
    c.L_i[i] = clients[i].L;
    // A maximum is exact: L0 = 2λ + λ√d·max_j ‖a_j‖ equals max_i of the clients' L0_i, since
    // rounding is monotone.
    c.L0 = i == 0 ? clients[i].L0 : std::max(c.L0, clients[i].L0);
    c.L1 = i == 0 ? clients[i].L1 : std::max(c.L1, clients[i].L1);
  }
  return c;
}

double SmoothnessConstants::LTilde() const {
  if (L_i.empty()) return 0.0;
  double sum = 0.0;
  for (double l : L_i) sum += l * l;
  return std::sqrt(sum / static_cast<double>(L_i.size()));
}

uint64_t Polynomial::DataDigest(int64_t client) const {
  // Every client's f_i is the same function of the options: digest them.
  Digest64 digest;
  digest.AddValue(options_.dim);
  digest.AddValue(options_.L0);
  digest.AddValue(options_.L1);
  digest.AddValue(options_.box);
  digest.AddValue(options_.clients);
  digest.AddValue(client);
  return digest.value();
}

}  // namespace ef21
