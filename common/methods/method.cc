#include "common/methods/method.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/base/digest.h"
#include "common/base/status_macros.h"
#include "common/methods/participation.h"

namespace ef21 {

absl::Status MethodOptions::Validate() const {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (traits().identity_only && compressor != CompressorKind::kIdentity) {
    return bad(AlgorithmName(algorithm), " is defined with the identity compressor; got ",
               CompressorKindName(compressor));
  }
  if (compressor != CompressorKind::kIdentity && k < 1) return bad("k must be >= 1; got ", k);
  if (rounds < 1) return bad("rounds must be >= 1; got ", rounds);
  if (diagnostics_every < 1) return bad("diagnostics_every must be >= 1; got ", diagnostics_every);
  if (noise.batch < 0) return bad("batch must be >= 0; got ", noise.batch);
  if (!(noise.sigma >= 0.0)) return bad("sigma must be >= 0; got ", noise.sigma);
  if (!(participation > 0.0 && participation <= 1.0)) {
    return bad("participation must be in (0, 1]; got ", participation);
  }
  if (participation < 1.0 && traits().error_feedback_14) {
    // EF14's server sets g to the round's mean message instead of accumulating differences, so an
    // absent client's contribution would be lost rather than kept.
    return bad("partial participation (EF21-PP) is defined for the EF21 family; ",
               AlgorithmName(algorithm), " (EF14) does not keep g = (1/n) sum_i g_i");
  }
  return absl::OkStatus();
}

uint64_t ChainClientState(uint64_t chain, uint64_t round, const SparseVector& c) {
  Digest64 digest;
  digest.AddValue(chain);
  digest.AddValue(round);
  digest.AddValue(c.dim);
  digest.AddValue(static_cast<uint64_t>(c.dense));
  digest.Add(c.indices.data(), sizeof(int32_t) * c.indices.size());
  digest.Add(c.values.data(), sizeof(double) * c.values.size());
  return digest.value();
}

std::unique_ptr<ClientMethod> MakeEf21Client(std::shared_ptr<const MethodContext> context,
                                             int64_t client);
std::unique_ptr<ClientMethod> MakeEf14Client(std::shared_ptr<const MethodContext> context,
                                             int64_t client);
std::unique_ptr<ServerMethod> MakeEf21Server(std::shared_ptr<const MethodContext> context,
                                             Vector x0);
std::unique_ptr<ServerMethod> MakeEf14Server(std::shared_ptr<const MethodContext> context,
                                             Vector x0);

absl::StatusOr<std::shared_ptr<const MethodContext>> MethodContext::Create(
    const MethodOptions& options, std::shared_ptr<const Problem> problem,
    std::optional<StepsizePlan> plan) {
  EF21_RETURN_IF_ERROR(options.Validate());
  if (problem == nullptr) return absl::InvalidArgumentError("no problem");
  auto context = std::make_shared<MethodContext>();
  context->options = options;
  context->problem = std::move(problem);
  CompressorOptions copts;
  copts.kind = options.compressor;
  copts.k = options.k;
  copts.dim = context->problem->dim();
  EF21_ASSIGN_OR_RETURN(context->compressor, CreateCompressor(copts));
  if (plan) {
    context->plan = *std::move(plan);
  } else {
    context->constants = context->problem->Constants();
    EF21_ASSIGN_OR_RETURN(context->plan,
                          PlanStepsize(options.stepsize, options.algorithm, options.rounds,
                                       context->constants, context->compressor->alpha()));
  }
  context->noise = options.noise;
  return std::shared_ptr<const MethodContext>(std::move(context));
}

bool MethodContext::DiagnosticRound(uint64_t round) const {
  return round % static_cast<uint64_t>(options.diagnostics_every) == 0 ||
         round == static_cast<uint64_t>(options.rounds);
}

bool MethodContext::DenseRound(uint64_t round) const {
  return round == 0 && options.init != InitKind::kCompressed && !options.traits().error_feedback_14;
}

bool MethodContext::CountsPaperBits(uint64_t round) const { return round > 0; }

bool MethodContext::Participates(int64_t client, uint64_t round) const {
  return ef21::Participates(options.seed, options.participation, client, round);
}

std::unique_ptr<ClientMethod> ClientMethod::Create(std::shared_ptr<const MethodContext> context,
                                                   int64_t client) {
  if (context->options.traits().error_feedback_14)
    return MakeEf14Client(std::move(context), client);
  return MakeEf21Client(std::move(context), client);
}

std::unique_ptr<ServerMethod> ServerMethod::Create(std::shared_ptr<const MethodContext> context,
                                                   Vector x0) {
  if (context->options.traits().error_feedback_14)
    return MakeEf14Server(std::move(context), std::move(x0));
  return MakeEf21Server(std::move(context), std::move(x0));
}

ServerMethod::ServerMethod(std::shared_ptr<const MethodContext> context, Vector x0)
    : context_(std::move(context)), x_(std::move(x0)) {
  g_ = Vector::Zero(x_.size());
  // sum_ is sized by its first use (the round closer's diagnostics).
}

namespace {

// SumOnUnion over n messages, message i read by get(i) (null: none), which may reuse one buffer
// from call to call: each message is read twice, once to mark the union and once to add.
template <typename Get>
void SumOnUnionOf(size_t n, Get&& get, std::vector<uint64_t>* marks_buffer,
                  std::vector<int32_t>* ranks_buffer, SparseVector* sum) {
  const int64_t d = sum->dim;
  sum->Clear(d);
  // The same sums on the union of indices only, written in ascending index order without a
  // d-sized buffer: one bit per coordinate marks the union, a count per 64-bit word ranks it, and
  // each message's value goes to its coordinate's rank. Each coordinate starts from +0 and takes
  // the messages' values in ascending id, exactly as the dense sum would.
  const size_t words = static_cast<size_t>((d + 63) / 64);
  marks_buffer->assign(words, 0);
  uint64_t* marks = marks_buffer->data();
  for (size_t i = 0; i < n; ++i) {
    const SparseVector* c = get(i);
    if (c == nullptr) continue;
    for (const int32_t j : c->indices) marks[j >> 6] |= uint64_t{1} << (j & 63);
  }
  ranks_buffer->resize(words);
  int32_t* ranks = ranks_buffer->data();
  int64_t count = 0;
  for (size_t w = 0; w < words; ++w) {
    ranks[w] = static_cast<int32_t>(count);
    count += __builtin_popcountll(marks[w]);
  }
  sum->indices.reserve(static_cast<size_t>(count));
  sum->indices.resize(static_cast<size_t>(count));
  int32_t* indices = sum->indices.data();
  for (size_t w = 0, p = 0; w < words; ++w) {
    for (uint64_t bits = marks[w]; bits != 0; bits &= bits - 1) {
      indices[p++] = static_cast<int32_t>(64 * w + static_cast<size_t>(__builtin_ctzll(bits)));
    }
  }
  sum->values.reserve(static_cast<size_t>(count));
  sum->values.assign(static_cast<size_t>(count), 0.0);
  double* s = sum->values.data();
  for (size_t i = 0; i < n; ++i) {
    const SparseVector* c = get(i);
    if (c == nullptr) continue;
    for (size_t e = 0; e < c->indices.size(); ++e) {
      const int32_t j = c->indices[e];
      const uint64_t below = marks[j >> 6] & ((uint64_t{1} << (j & 63)) - 1);
      s[ranks[j >> 6] + __builtin_popcountll(below)] += 1.0 * c->values[e];
    }
  }
}

}  // namespace

void SumOnUnion(absl::Span<const SparseVector* const> by_client,
                std::vector<uint64_t>* marks_buffer, std::vector<int32_t>* ranks_buffer,
                SparseVector* sum) {
  SumOnUnionOf(
      by_client.size(), [&](size_t i) { return by_client[i]; }, marks_buffer, ranks_buffer, sum);
}

void ServerMethod::SumMessages(absl::Span<const SparseVector* const> by_client,
                               absl::Span<const PackedSparse* const> packed) {
  const int64_t d = x_.size();
  SparseVector& sum = delta_.sum;
  sum.Clear(d);
  if (!packed.empty()) {
    // Client i's message is by_client[i] or, packed, unpacked here into one reused buffer (a
    // packed message is never dense). Unpack cannot fail on what Pack wrote.
    auto get = [&](size_t i) -> const SparseVector* {
      if (by_client[i] != nullptr) return by_client[i];
      if (packed[i] == nullptr) return nullptr;
      (void)Unpack(*packed[i], &unpacked_);
      return &unpacked_;
    };
    bool dense = false;
    for (const SparseVector* c : by_client) dense = dense || (c != nullptr && c->dense);
    if (!dense && d > kScatterMaxDim) {
      SumOnUnionOf(by_client.size(), get, &marks_, &ranks_, &sum);
      return;
    }
    // Otherwise the paths below, on every message unpacked (small d, or a dense round).
    unpacked_all_.resize(by_client.size());
    unpacked_by_client_.assign(by_client.begin(), by_client.end());
    for (size_t i = 0; i < by_client.size(); ++i) {
      if (by_client[i] == nullptr && packed[i] != nullptr) {
        (void)Unpack(*packed[i], &unpacked_all_[i]);
        unpacked_by_client_[i] = &unpacked_all_[i];
      }
    }
    SumMessages(unpacked_by_client_, {});
    unpacked_all_.clear();
    return;
  }
  bool dense = false;
  // A null entry: a client that did not take part (EF21-PP), nothing to add.
  for (const SparseVector* c : by_client) dense = dense || (c != nullptr && c->dense);
  if (dense) {
    // Σ_i c_i over every coordinate, from +0, in ascending id (SparseVector::AddTo's arithmetic,
    // straight into the sum's values).
    sum.dense = true;
    sum.values.assign(static_cast<size_t>(d), 0.0);
    double* s = sum.values.data();
    for (const SparseVector* c : by_client) {
      if (c == nullptr) continue;
      if (c->dense) {
        for (int64_t j = 0; j < d; ++j) s[j] += 1.0 * c->values[j];
      } else {
        for (size_t e = 0; e < c->indices.size(); ++e) s[c->indices[e]] += 1.0 * c->values[e];
      }
    }
    return;
  }
  if (d > kScatterMaxDim) {
    SumOnUnion(by_client, &marks_, &ranks_, &sum);
    return;
  }
  // Small d: a scatter into the d-sized scratch is faster (one pass over the messages; a1a's 1,605
  // one-entry messages: 2.6 against 7 µs, bench/round_sum_bench.cc) and its buffers are small.
  // Each coordinate starts from +0 when first touched and takes the messages' values in ascending
  // id: SumOnUnion's bits.
  if (sum_.size() != d) sum_.resize(d);
  if (static_cast<int64_t>(touched_.size()) != d) touched_.assign(static_cast<size_t>(d), 0);
  double* s = sum_.data();
  std::vector<int32_t>& union_indices = ranks_;  // the union in order of first touch
  union_indices.clear();
  for (const SparseVector* c : by_client) {
    if (c == nullptr) continue;
    for (size_t e = 0; e < c->indices.size(); ++e) {
      const int32_t j = c->indices[e];
      if (!touched_[j]) {
        touched_[j] = 1;
        s[j] = 0.0;
        union_indices.push_back(j);
      }
      s[j] += 1.0 * c->values[e];
    }
  }
  std::sort(union_indices.begin(), union_indices.end());
  sum.indices.reserve(union_indices.size());
  sum.values.reserve(union_indices.size());
  for (const int32_t j : union_indices) {
    sum.indices.push_back(j);
    sum.values.push_back(s[j]);
    touched_[j] = 0;
  }
}

void ServerMethod::ReleaseRoundScratch() {
  sum_ = Vector();
  marks_ = std::vector<uint64_t>();
  ranks_ = std::vector<int32_t>();
  touched_ = std::vector<uint8_t>();
  unpacked_ = SparseVector{};
  const int64_t d = delta_.sum.dim;
  delta_.sum = SparseVector{};
  delta_.sum.dim = d;
}

void ServerMethod::ApplyStep(double scale) {
  if (scale == 0.0) return;
  double* x = x_.data();
  const double* g = g_.data();
  for (Eigen::Index j = 0; j < x_.size(); ++j) x[j] -= scale * g[j];
}

absl::Status ServerMethod::Restore(uint64_t round, Vector x, Vector g) {
  if (x.size() != context_->dim() || g.size() != context_->dim()) {
    return absl::InvalidArgumentError(absl::StrCat("restored x and g have dimensions ", x.size(),
                                                   " and ", g.size(), "; the problem's is ",
                                                   context_->dim()));
  }
  round_ = round;
  x_ = std::move(x);
  g_ = std::move(g);
  return absl::OkStatus();
}

double ServerMethod::CloseRound(absl::Span<const SparseVector* const> by_client,
                                absl::Span<const PackedSparse* const> packed) {
  SumMessages(by_client, packed);
  Aggregate(delta_.sum);
  const double g_norm = Norm(g_);
  delta_.round = round_;
  delta_.scale = StepScale(g_norm);
  ApplyStep(delta_.scale);
  ++round_;
  return g_norm;
}

absl::Status ServerMethod::Replay(const RoundDelta& delta) {
  if (delta.round != round_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the delta closes round ", delta.round, "; this replica has round ", round_, " open"));
  }
  if (delta.sum.dim != x_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the delta has dimension ", delta.sum.dim, "; the model's is ", x_.size()));
  }
  Aggregate(delta.sum);
  ApplyStep(delta.scale);
  ++round_;
  return absl::OkStatus();
}

absl::Status ServerMethod::Reset(uint64_t round, ConstVectorRef x, ConstVectorRef g) {
  if (x.size() != x_.size() || g.size() != x_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("state of dimensions ", x.size(), " and ",
                                                   g.size(), "; the model's is ", x_.size()));
  }
  x_ = x;
  g_ = g;
  round_ = round;
  return absl::OkStatus();
}

bool ServerMethod::ClientCopyStaysWithin(const SparseVector& c, const Vector& g_i,
                                         bool /*g_i_within*/, double bound) const {
  thread_local Vector candidate;
  candidate = g_i;
  ApplyToClientCopy(c, &candidate);
  for (Eigen::Index j = 0; j < candidate.size(); ++j) {
    if (!(std::abs(candidate[j]) <= bound)) return false;  // NaN fails too
  }
  return true;
}

}  // namespace ef21
