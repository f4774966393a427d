// The algorithms of SPEC §3 as a client half and a server half. The same objects run inside
// `ef21 simulate` and inside the federation (worker / aggregator), which is why the two give
// bitwise-identical trajectories.
//
// A run is a sequence of rounds r = 0..K. In round r every client evaluates at x^r and sends one
// message c_i^r; round 0 is the initialization (c_i^0 = g_i^0). When all messages are in, the
// server closes the round: g^r = g^{r−1} + (1/n) Σ_i c_i^r (ascending client id), then
// x^{r+1} = x^r − γ_r g^r/‖g^r‖ (normalized) or x^r − γ_r g^r. EF14 fits the same loop with
// c_i^r = C(e_i + γ_r ∇f_i(x^r)), g^r = (1/n) Σ_i c_i^r and x^{r+1} = x^r − g^r.
//
// Thread-safety: a MethodContext is immutable and shared; each ClientMethod belongs to one thread
// at a time; ServerMethod is thread-compatible (the round coordinator owns it).
#ifndef EF21_COMMON_METHODS_METHOD_H_
#define EF21_COMMON_METHODS_METHOD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/base/enum_names.h"
#include "common/compress/compressor.h"
#include "common/compress/sparse_codec.h"
#include "common/methods/algorithm.h"
#include "common/methods/stepsize.h"
#include "common/problems/problem.h"

namespace ef21 {

enum class InitKind {
  kFull,  // g_i^0 = v_i^0, sent dense (the authors' code): a minibatch gradient when stochastic
  kCompressed,  // g_i^0 = C(v_i^0) from g_i^{-1} = 0
  kShard,       // g_i^0 = v_i^0 = ∇f_i(x^0) over the client's whole shard even when the later
                // rounds are stochastic, sent dense (the paper's networks, Section 6.2)
  kMaxValue = kShard,
};

// The --init names.
inline constexpr auto kInitKindNames =
    MakeEnumNames<InitKind>("init", {{InitKind::kFull, "full"},
                                     {InitKind::kCompressed, "compressed"},
                                     {InitKind::kShard, "shard"}});
constexpr const auto& NamesOf(InitKind) { return kInitKindNames; }
inline const char* InitKindName(InitKind kind) { return kInitKindNames.Name(kind); }

// Where each client's g_i lives in a federation (--client-state). `ef21 simulate` computes the
// same trajectory either way; the choice moves memory and the duty of keeping g_i.
enum class ClientStateMode {
  // The aggregator keeps a copy of every g_i (n·d values) and hands it back on reattach.
  kAggregator,
  // Only the worker keeps g_i; the aggregator keeps x, g and, per client, the state hash of g_i
  // (ChainClientState) that a reattaching worker must match: O(d) + O(n) at the aggregator.
  kWorker,
  kMaxValue = kWorker,
};

// The --client-state names.
inline constexpr auto kClientStateModeNames = MakeEnumNames<ClientStateMode>(
    "client state",
    {{ClientStateMode::kAggregator, "aggregator"}, {ClientStateMode::kWorker, "worker"}});
constexpr const auto& NamesOf(ClientStateMode) { return kClientStateModeNames; }

// The state hash of a client's g_i under --client-state=worker, before its first message.
inline constexpr uint64_t kFreshClientChain = 0;
// The state hash after the client's message c of round `round` was applied to g_i: a digest of
// the previous hash, the round and c exactly as sent (dimension, dense flag, indices, values).
// g_i is a pure function of the messages applied to it (g_i ← g_i + c_i for EF21, g_i ← c_i for
// EF14), so equal hashes mean equal g_i; the aggregator computes it from the messages it applied,
// the worker from the messages it sent.
uint64_t ChainClientState(uint64_t chain, uint64_t round, const SparseVector& c);

// What the algorithm layer needs to know of a run; the run configuration (common/run) and the
// aggregator's Welcome both produce one.
struct MethodOptions {
  Algorithm algorithm = Algorithm::kNormEf21;
  CompressorKind compressor =
      CompressorKind::kTopK;  // effective: identity for identity-only methods
  int64_t k = 1;
  InitKind init = InitKind::kFull;
  ValueType value_type = ValueType::kF32;
  uint64_t seed = 0;
  int64_t rounds = 100;           // K: rounds 0..K
  int64_t diagnostics_every = 1;  // rounds between exact ∇f_i uploads
  NoiseOptions noise;
  StepsizeOptions stepsize;
  // EF21-PP (SPEC §3 "Partial participation"): each client takes part in a round with this
  // probability (common/methods/participation.h); 1: every client, every round.
  double participation = 1.0;
  // Where g_i lives in a federation (no effect on the trajectory).
  ClientStateMode client_state = ClientStateMode::kAggregator;

  AlgorithmTraits traits() const { return TraitsOf(algorithm); }
  // The checks the algorithm itself needs; flag-level checks live in RunConfig::Validate.
  absl::Status Validate() const;
};

// Everything the halves of a run share. Create() builds the compressor and plans the stepsize.
struct MethodContext {
  MethodOptions options;
  std::shared_ptr<const Problem> problem;
  std::unique_ptr<Compressor> compressor;
  SmoothnessConstants constants;
  StepsizePlan plan;
  NoiseOptions noise;

  // With `plan` given — a worker, whose aggregator planned the stepsize — the smoothness
  // constants (a pass of eigenvalue iterations over the data) are not computed and stay zero.
  static absl::StatusOr<std::shared_ptr<const MethodContext>> Create(
      const MethodOptions& options, std::shared_ptr<const Problem> problem,
      std::optional<StepsizePlan> plan = std::nullopt);

  int64_t dim() const { return problem->dim(); }
  int64_t num_clients() const { return problem->num_clients(); }
  // Whether round r asks clients for their dense ∇f_i(x^r) (every --diagnostics-every rounds, and
  // the last round).
  bool DiagnosticRound(uint64_t round) const;
  // Whether updates of round r carry the client's dense ∇f_i(x^r): on diagnostic rounds, unless
  // clients keep their own state (--client-state=worker), where the aggregator evaluates ∇f(x^r)
  // itself so that it never holds n dense vectors.
  bool UploadsGradient(uint64_t round) const {
    return DiagnosticRound(round) && options.client_state == ClientStateMode::kAggregator;
  }
  // Whether client messages of round r are dense g_i^0 (SPEC §3: --init=full, not EF14), not
  // compressed c_i.
  bool DenseRound(uint64_t round) const;
  // Whether messages of round r count in the paper convention (SPEC §6): the paper's code counts
  // t·k·b bits after t iterations, so round 0's message — dense g_i^0, compressed C(∇f_i(x^0))
  // with --init=compressed, or EF14's first c_i — is never counted; rounds 1..t are.
  bool CountsPaperBits(uint64_t round) const;
  // Whether client i takes part in round r (EF21-PP; always with --participation=1, and in round
  // 0). A client that does not keeps its state and sends nothing; the server's g stays (1/n) Σ_i
  // g_i.
  bool Participates(int64_t client, uint64_t round) const;
  bool partial_participation() const { return options.participation < 1.0; }
};

// What a client is asked in round r.
struct ClientRound {
  uint64_t round = 0;
  const EvalPoint* point = nullptr;  // x^r and the shared terms
  double stepsize = 0.0;             // γ_r (EF14 scales by it)
  bool want_gradient = false;        // also return the exact ∇f_i(x^r)
};

// What a client answers.
struct ClientMessage {
  SparseVector c;     // the compressed message, values exactly as sent
  double loss = 0.0;  // f_i(x^r)
  Vector gradient;    // ∇f_i(x^r) when asked
};

class ClientMethod {
 public:
  virtual ~ClientMethod() = default;

  static std::unique_ptr<ClientMethod> Create(std::shared_ptr<const MethodContext> context,
                                              int64_t client);

  // Computes this client's message for round r and updates its own state with exactly the values
  // sent. Rounds must be consecutive from 0 (or from the round given to Restore).
  virtual void Step(const ClientRound& round, ClientMessage* out) = 0;

  // g_i: the client's estimate, whose mean over clients is the server's g. (EF14: its last c_i.)
  virtual const Vector& g() const = 0;

  // Resumes after a reconnect with the aggregator's copy of g_i. State the aggregator does not
  // hold is rebuilt by a documented policy: momentum v_i := g_i, EF14's e_i := 0.
  virtual void Restore(const Vector& g) = 0;

  // The client's private state, which the aggregator never sees: momentum v_i (ef21-sgdm,
  // norm-ef21-sgdm, norm-sgdm) or EF14's error e_i; nullptr for methods that have none (their whole
  // state is g_i). Empty before the first Step.
  virtual const Vector* private_state() const { return nullptr; }
  // Resumes exactly: g_i from the aggregator and the private state saved after the same round
  // (client/worker_state.h). An empty `private_state` means "before round 0".
  virtual void Restore(const Vector& g, const Vector& private_state) { Restore(g); }

  int64_t client() const { return client_; }

 protected:
  ClientMethod(std::shared_ptr<const MethodContext> context, int64_t client)
      : context_(std::move(context)), client_(client) {}

  std::shared_ptr<const MethodContext> context_;
  int64_t client_;
};

// What closing round r did to the server's state: enough for a replica holding x^r and g^{r−1}
// (a worker host) to reach x^{r+1} and g^r bit for bit without any client's message — the exact
// delta downlink of issue 11:
//   g^r = g^{r−1} + sum/n (EF21 family) or g^r = sum/n (EF14), on sum's entries only;
//   x^{r+1} = x^r − scale·g^r, no move when scale is 0.
struct RoundDelta {
  uint64_t round = 0;  // r, the round it closed
  // Σ_i c_i^r summed in ascending client id, on the union of the messages' indices (ascending);
  // dense when a message was dense (g_i^0 with --init=full, the identity compressor).
  SparseVector sum;
  // γ_r/‖g^r‖ (normalized), γ_r, or 1 (EF14), exactly as the server computed it.
  double scale = 0.0;
};

// Σ_i c_i of sparse messages (null: a client that did not take part) into *sum, whose dim must be
// set: each coordinate of the union of their indices from +0, adding the messages' values in
// ascending id (the bits of a dense scatter), written in ascending index order. The union is
// marked one bit per coordinate and ranked per 64 (`marks` and `ranks`: d/64 words of scratch,
// reused across calls); no d-sized buffer. ServerMethod::CloseRound's sum of sparse messages.
void SumOnUnion(absl::Span<const SparseVector* const> by_client, std::vector<uint64_t>* marks,
                std::vector<int32_t>* ranks, SparseVector* sum);

class ServerMethod {
 public:
  virtual ~ServerMethod() = default;

  static std::unique_ptr<ServerMethod> Create(std::shared_ptr<const MethodContext> context,
                                              Vector x0);

  // The open round r and the point x^r its clients evaluate at, with γ_r.
  uint64_t round() const { return round_; }
  const Vector& x() const { return x_; }
  // g^{r−1}, the estimate the last closed round left (zero before round 0 closes).
  const Vector& g() const { return g_; }
  double stepsize() const { return context_->plan.gamma; }

  // Closes round r with the messages of all n clients, indexed by client id; they are summed in
  // ascending id so the result is bitwise reproducible. A null entry is a client that did not take
  // part (EF21-PP): its c_i counts as zero. Then takes the step to x^{r+1} and opens round r + 1.
  // Returns ‖g^r‖. last_delta() then describes what the round did.
  // `packed`: empty, or n entries where client i's message may be held packed instead (by_client[i]
  // null, packed[i] set): it is unpacked as the sum reads it (common/compress/sparse_codec.h), with
  // the same bits as its SparseVector.
  double CloseRound(absl::Span<const SparseVector* const> by_client,
                    absl::Span<const PackedSparse* const> packed = {});
  const RoundDelta& last_delta() const { return delta_; }

  // Replays a round another server closed (its last_delta()): the same arithmetic as CloseRound,
  // without the messages and without computing ‖g^r‖. FAILED_PRECONDITION when delta.round is not
  // the open round, INVALID_ARGUMENT for a sum of another dimension; nothing changes then.
  absl::Status Replay(const RoundDelta& delta);

  // Takes another server's state at open round `round`: x^round and g^{round−1}.
  // INVALID_ARGUMENT (nothing changes) when a vector has the wrong dimension.
  absl::Status Reset(uint64_t round, ConstVectorRef x, ConstVectorRef g);

  // The aggregator's copy of g_i after client i's message c (EF21: g_i + c; EF14: c).
  virtual void ApplyToClientCopy(const SparseVector& c, Vector* g_i) const = 0;
  // Whether ApplyToClientCopy(c, copy of g_i) would leave every entry finite with |entry| <=
  // bound, neither changing nor copying g_i where the method allows. `g_i_within`: every entry of
  // g_i already is (then only the entries c changes need a look). The base class checks a copy.
  virtual bool ClientCopyStaysWithin(const SparseVector& c, const Vector& g_i, bool g_i_within,
                                     double bound) const;

  // A d-sized buffer for the round closer, which sums a diagnostic round's gradients in it before
  // CloseRound (which itself uses it only for d <= kScatterMaxDim). Empty until first used (and
  // after ReleaseRoundScratch): its user sizes it (setZero(d)).
  Vector* scratch() { return &sum_; }

  // Gives the round's scratch back to the heap (the d-sized buffer above, the union's marks) and
  // with it last_delta()'s sum, which is empty afterwards: for an aggregator that keeps memory low
  // between rounds (--client-state=worker) once it has sent the round's delta. The next close
  // allocates them again; nothing else changes.
  void ReleaseRoundScratch();

  // Puts the server back where a checkpoint left it: round r open at x^r, with g^{r−1}. Refuses a
  // dimension other than the problem's.
  absl::Status Restore(uint64_t round, Vector x, Vector g);

 protected:
  ServerMethod(std::shared_ptr<const MethodContext> context, Vector x0);

  // g ← g + sum/n (EF21 family) or g ← sum/n (EF14), touching only sum's entries (EF14 zeroes
  // the rest).
  virtual void Aggregate(const SparseVector& sum) = 0;
  // The scale of the step x^{r+1} = x^r − scale·g^r given ‖g^r‖; 0 for no move.
  virtual double StepScale(double g_norm) const = 0;

  std::shared_ptr<const MethodContext> context_;
  uint64_t round_ = 0;
  Vector x_;
  Vector g_;

 private:
  // delta_.sum = Σ_i c_i in ascending id over the union of indices, in ascending index order:
  // SumOnUnion (no d-sized buffer) above kScatterMaxDim, a dense scatter up to it.
  void SumMessages(absl::Span<const SparseVector* const> by_client,
                   absl::Span<const PackedSparse* const> packed);
  // x ← x − scale·g, coordinate by coordinate; nothing when scale is 0.
  void ApplyStep(double scale);

  RoundDelta delta_;
  // Up to this d the sum goes through a dense scatter (sum_ and touched_, at most 576 KB), above
  // it SumOnUnion (d/64 words).
  static constexpr int64_t kScatterMaxDim = int64_t{1} << 16;
  Vector sum_;                    // the round closer's scratch (scratch()); the small-d scatter's
  std::vector<uint8_t> touched_;  // the small-d scatter: coordinate j in the union (zero between)
  std::vector<uint64_t> marks_;   // SumOnUnion: bit j of word j/64 marks coordinate j
  std::vector<int32_t> ranks_;    // SumOnUnion's ranks; the small-d scatter's union
  SparseVector unpacked_;         // one packed message, unpacked for the sum
  // Small d or a dense round with packed messages: all of them unpacked, and the messages' view.
  std::vector<SparseVector> unpacked_all_;
  std::vector<const SparseVector*> unpacked_by_client_;
};

}  // namespace ef21

#endif  // EF21_COMMON_METHODS_METHOD_H_
