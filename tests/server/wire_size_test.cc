// common/sparse_codec.h computes the wire size of the federation's messages arithmetically (the
// simulator has no protobuf); these must equal protobuf's own ByteSizeLong exactly.
#include <limits>
#include <random>

#include "common/compress/sparse_codec.h"
#include "common/run/downlink.h"
#include "common/run/problem_factory.h"
#include "gtest/gtest.h"
#include "proto/codec.h"
#include "tests/testing/runs.h"

namespace ef21 {
namespace {

SparseVector RandomVector(std::mt19937_64& rng, int64_t dim, bool dense, int64_t k) {
  SparseVector c;
  c.Clear(dim);
  c.dense = dense;
  std::normal_distribution<double> normal;
  if (dense) {
    for (int64_t j = 0; j < dim; ++j) c.values.push_back(normal(rng));
    return c;
  }
  std::vector<int32_t> all(dim);
  for (int64_t j = 0; j < dim; ++j) all[j] = static_cast<int32_t>(j);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(k);
  std::sort(all.begin(), all.end());
  c.indices = all;
  for (int64_t j = 0; j < k; ++j) c.values.push_back(normal(rng));
  return c;
}

TEST(WireSizeTest, UpdateAndSparseVectorMatchProtobuf) {
  std::mt19937_64 rng(42);
  const uint64_t rounds[] = {0, 1, 127, 128, 16383, 16384, 1ull << 35};
  const uint32_t clients[] = {0, 1, 127, 128, 20000, 1u << 30};
  const int64_t dims[] = {1, 4, 123, 1000, 100000};
  int checked = 0;
  for (int64_t dim : dims) {
    for (int trial = 0; trial < 6; ++trial) {
      const bool dense = trial == 0;
      std::uniform_int_distribution<int64_t> kdist(1, std::min<int64_t>(dim, 2000));
      const int64_t k = trial == 1 ? 0 : kdist(rng);
      const SparseVector c = RandomVector(rng, dim, dense, k);
      for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
        v1::SparseVector sv;
        EncodeSparseVector(c, type, &sv);
        ASSERT_EQ(SparseVectorWireBytes(c, type), static_cast<int64_t>(sv.ByteSizeLong()))
            << "dim " << dim << " dense " << dense << " k " << k;
        for (uint64_t round : rounds) {
          for (uint32_t client : clients) {
            v1::WorkerMessage message;
            v1::Update* u = message.add_updates();
            u->set_round(round);
            u->set_client_id(client);
            *u->mutable_c() = sv;
            ASSERT_EQ(UpdateWireBytes(round, client, c, type),
                      static_cast<int64_t>(message.ByteSizeLong()))
                << "round " << round << " client " << client;
            // The diagnostics ride along in the same Update and are counted apart.
            u->set_loss(0.5);
            const int64_t algorithm = UpdateWireBytes(round, client, c, type);
            EXPECT_LE(algorithm + DiagnosticWireBytes(dim, false),
                      static_cast<int64_t>(message.ByteSizeLong()));
            EXPECT_GE(algorithm + DiagnosticWireBytes(dim, false) + 4,
                      static_cast<int64_t>(message.ByteSizeLong()));
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 1000);
}

TEST(WireSizeTest, BatchIsTheSumOfItsElements) {
  std::mt19937_64 rng(7);
  v1::WorkerMessage batch;
  int64_t expected = 0;
  for (uint32_t client = 0; client < 50; ++client) {
    const SparseVector c = RandomVector(rng, 500, false, 1 + client % 9);
    v1::Update* u = batch.add_updates();
    u->set_round(41);
    u->set_client_id(client * 37);
    EncodeSparseVector(c, ValueType::kF32, u->mutable_c());
    expected += UpdateWireBytes(41, client * 37, c, ValueType::kF32);
  }
  EXPECT_EQ(expected, static_cast<int64_t>(batch.ByteSizeLong()));
}

TEST(WireSizeTest, RoundStartMatchesProtobuf) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (int64_t dim : {1, 4, 15, 16, 123, 100000}) {
    for (uint64_t round : {0ull, 1ull, 300ull, 1ull << 40}) {
      for (double stepsize : {0.0, 0.25}) {
        for (bool diagnostics : {false, true}) {
          v1::ServerMessage message;
          v1::RoundStart* start = message.mutable_round_start();
          start->set_round(round);
          for (int64_t j = 0; j < dim; ++j) start->add_x(normal(rng));
          start->set_stepsize(stepsize);
          start->set_diagnostics(diagnostics);
          EXPECT_EQ(RoundStartWireBytes(round, dim, stepsize, diagnostics),
                    static_cast<int64_t>(message.ByteSizeLong()))
              << "dim " << dim << " round " << round;
        }
      }
    }
  }
}

TEST(WireSizeTest, DiagnosticFieldsMatchProtobuf) {
  for (int64_t dim : {1, 10, 123, 5000}) {
    v1::Update with, without;
    without.set_loss(1.0);
    with.set_loss(1.0);
    for (int64_t j = 0; j < dim; ++j) with.add_gradient(0.5);
    EXPECT_EQ(DiagnosticWireBytes(dim, false), static_cast<int64_t>(without.ByteSizeLong()));
    EXPECT_EQ(DiagnosticWireBytes(dim, true), static_cast<int64_t>(with.ByteSizeLong()));
  }
}

TEST(WireSizeTest, CodecRoundTripsSparseVectors) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t dim = 1 + static_cast<int64_t>(rng() % 5000);
    const int64_t k = 1 + static_cast<int64_t>(rng() % std::min<int64_t>(dim, 300));
    SparseVector c = RandomVector(rng, dim, false, k);
    c.RoundValues(ValueType::kF32);
    v1::SparseVector sv;
    EncodeSparseVector(c, ValueType::kF32, &sv);
    SparseLimits limits{dim, ValueType::kF32, k, false};
    SparseVector back;
    RejectionReason reason = RejectionReason::kMalformedMessage;
    ASSERT_TRUE(DecodeSparseVector(sv, limits, &back, &reason).ok());
    EXPECT_EQ(back.indices, c.indices);
    EXPECT_EQ(back.values, c.values);
  }
}

// The worker's encoder and the aggregator's decoder are one pair: what a client computed comes
// out of the wire exactly (values already rounded to the run's value type), with its wire bytes.
TEST(WireSizeTest, UpdateEncoderAndDecoderRoundTrip) {
  for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
    for (InitKind init : {InitKind::kFull, InitKind::kCompressed}) {
      RunConfig config = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/6);
      config.value_type = type;
      config.init = init;
      config.diagnostics_every = 2;
      auto problem = CreateProblem(config);
      ASSERT_TRUE(problem.ok()) << problem.status();
      auto context = MethodContext::Create(config.ToMethodOptions(), *problem);
      ASSERT_TRUE(context.ok()) << context.status();
      std::unique_ptr<ClientMethod> client = ClientMethod::Create(*context, 3);
      Vector x = Vector::Constant((*problem)->dim(), 0.25);
      for (uint64_t round = 0; round < 4; ++round) {
        SCOPED_TRACE(testing::Message()
                     << ValueTypeName(type) << " " << InitKindName(init) << " round " << round);
        const bool diagnostics = (*context)->DiagnosticRound(round);
        EvalPoint point;
        (*problem)->Prepare(x, &point);
        ClientRound request;
        request.round = round;
        request.point = &point;
        request.stepsize = 0.1;
        request.want_gradient = diagnostics;
        ClientMessage message;
        client->Step(request, &message);
        EXPECT_EQ(message.c.dense, (*context)->DenseRound(round));

        v1::Update sent;
        EncodeUpdate(round, 3, message, diagnostics, type, &sent);
        v1::Update received;
        ASSERT_TRUE(received.ParseFromString(sent.SerializeAsString()));
        DecodedUpdate decoded;
        RejectionReason reason = RejectionReason::kMalformedMessage;
        const absl::Status status = DecodeUpdate(received, **context, &decoded, &reason);
        ASSERT_TRUE(status.ok()) << status << " (" << EnumName(reason) << ")";
        EXPECT_EQ(decoded.round, round);
        EXPECT_EQ(decoded.client, 3);
        EXPECT_EQ(decoded.c.dense, message.c.dense);
        EXPECT_EQ(decoded.c.indices, message.c.indices);
        EXPECT_EQ(decoded.c.values, message.c.values);
        EXPECT_EQ(decoded.loss, message.loss);
        if (diagnostics) {
          EXPECT_TRUE(decoded.gradient == message.gradient);
        } else {
          EXPECT_EQ(decoded.gradient.size(), 0);
        }
        EXPECT_EQ(decoded.algorithm_bytes, UpdateWireBytes(round, 3, message.c, type));
        EXPECT_EQ(decoded.digest, UpdateDigest(sent));
        x[round % x.size()] += 0.5;
      }
    }
  }
}

// DecodedUpdate::Swap (the aggregator's Submit hands each accepted update's storage to its slot
// with it) exchanges every member, storage by pointer: the same outcome as std::swap's three moves.
TEST(WireSizeTest, DecodedUpdateSwapExchangesEveryMember) {
  auto make = [](int seed) {
    DecodedUpdate u;
    u.round = 10 + seed;
    u.client = 20 + seed;
    u.c.dim = 30 + seed;
    u.c.dense = seed == 1;
    u.c.indices = {seed, seed + 2};
    u.c.values = {0.5 * seed, 1.5};
    u.is_packed = seed == 2;
    u.packed.dim = 40 + seed;
    u.packed.code.rice_bits = 3 + seed;
    u.packed.code.bytes = std::string(static_cast<size_t>(5 + seed), 'a' + seed);
    u.packed.values = std::vector<float>(static_cast<size_t>(seed), 2.5f);
    u.loss = 0.25 * seed;
    u.gradient = Vector::Constant(3 + seed, seed);
    u.digest = 0x1234 + seed;
    u.algorithm_bytes = 100 + seed;
    u.diagnostic_bytes = 200 + seed;
    return u;
  };
  auto expect_equal = [](const DecodedUpdate& a, const DecodedUpdate& b) {
    EXPECT_EQ(a.round, b.round);
    EXPECT_EQ(a.client, b.client);
    EXPECT_EQ(a.c.dim, b.c.dim);
    EXPECT_EQ(a.c.dense, b.c.dense);
    EXPECT_EQ(a.c.indices, b.c.indices);
    EXPECT_EQ(a.c.values, b.c.values);
    EXPECT_EQ(a.is_packed, b.is_packed);
    EXPECT_EQ(a.packed.dim, b.packed.dim);
    EXPECT_EQ(a.packed.code.rice_bits, b.packed.code.rice_bits);
    EXPECT_EQ(a.packed.code.bytes, b.packed.code.bytes);
    EXPECT_EQ(a.packed.values, b.packed.values);
    EXPECT_EQ(a.loss, b.loss);
    EXPECT_TRUE(a.gradient == b.gradient);
    EXPECT_EQ(a.digest, b.digest);
    EXPECT_EQ(a.algorithm_bytes, b.algorithm_bytes);
    EXPECT_EQ(a.diagnostic_bytes, b.diagnostic_bytes);
  };
  DecodedUpdate a = make(1), b = make(2);
  const int32_t* a_indices = a.c.indices.data();
  const double* b_gradient = b.gradient.data();
  a.Swap(b);
  expect_equal(a, make(2));
  expect_equal(b, make(1));
  EXPECT_EQ(b.c.indices.data(), a_indices);  // storage changed hands, not copied
  EXPECT_EQ(a.gradient.data(), b_gradient);
  // A member added to DecodedUpdate must be added to Swap (and to this test).
  struct Members {
    uint64_t round;
    int64_t client;
    SparseVector c;
    bool is_packed;
    PackedSparse packed;
    double loss;
    Vector gradient;
    uint64_t digest;
    int64_t algorithm_bytes, diagnostic_bytes;
  };
  static_assert(sizeof(DecodedUpdate) == sizeof(Members), "a DecodedUpdate member Swap misses?");
}

}  // namespace
}  // namespace ef21

namespace ef21 {
namespace {

// A round's sum as the server builds it: some entries a single client's float32 value, others
// sums of several (not float32 in general).
RoundDelta RandomDelta(std::mt19937_64& rng, int64_t dim, bool dense, int64_t k, ValueType type,
                       double scale) {
  RoundDelta delta;
  delta.round = 5;
  delta.scale = scale;
  delta.sum = RandomVector(rng, dim, dense, k);
  for (size_t e = 0; e < delta.sum.values.size(); ++e) {
    double& v = delta.sum.values[e];
    v = RoundToWire(v, type);
    if (e % 3 == 0) v += RoundToWire(0.1 * v + 1e-3, type);
  }
  return delta;
}

TEST(WireSizeTest, DeltaResyncAndDenseRoundStartsMatchProtobuf) {
  std::mt19937_64 rng(11);
  int64_t checked = 0;
  for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
    for (int64_t dim : {1, 16, 123, 5000}) {
      for (int64_t k : {int64_t{0}, int64_t{1}, dim / 3, dim}) {
        for (bool dense : {false, true}) {
          for (uint64_t round : {1ull, 300ull}) {
            for (double scale : {0.0, 0.125}) {
              const RoundDelta delta = RandomDelta(rng, dim, dense, k, type, scale);
              const DownlinkSizes sizes =
                  MeasureDownlink(round, dim, 0.5, round == 300, delta, type);
              v1::ServerMessage message;
              v1::RoundStart* start = message.mutable_round_start();
              start->set_round(round);
              start->set_stepsize(0.5);
              start->set_diagnostics(round == 300);
              EncodeRoundDelta(delta, type, start->mutable_delta());
              EXPECT_EQ(sizes.delta, static_cast<int64_t>(message.ByteSizeLong()))
                  << "dim " << dim << " k " << k << " dense " << dense;
              // Decoding gives back the delta exactly.
              RoundDelta back;
              ASSERT_TRUE(DecodeRoundDelta(start->delta(), 5, dim, type, &back).ok());
              EXPECT_EQ(back.sum.dense, delta.sum.dense);
              EXPECT_EQ(back.sum.indices, delta.sum.indices);
              EXPECT_EQ(back.sum.values, delta.sum.values);
              EXPECT_EQ(back.scale, delta.scale);
              start->clear_delta();
              for (int64_t j = 0; j < dim; ++j) start->add_x(0.25 * j);
              EXPECT_EQ(sizes.dense, static_cast<int64_t>(message.ByteSizeLong()));
              for (int64_t j = 0; j < dim; ++j) start->add_g(-0.5 * j);
              EXPECT_EQ(sizes.resync, static_cast<int64_t>(message.ByteSizeLong()));
              ++checked;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 200);
}

// The delta's parts are encoded and measured from the sum in place (no copies): the bytes are
// those of the parts SplitExactValues writes out, each encoded as a SparseVector of its own, and
// the sizes those parts give.
// A dense RoundStart written straight from x and g is byte for byte what protobuf serializes from
// a message holding copies of them: every combination of the optional fields, a stepsize of -0.0
// (written: its bits are not zero) and +0.0 (omitted), g absent and present, d from 0 to large
// enough for multi-byte lengths.
TEST(WireSizeTest, DenseRoundStartWrittenFromXIsProtobufsBytes) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal;
  int cases = 0;
  for (const int64_t d : {0, 1, 15, 16, 2000, 70000}) {
    Vector x(d), g(d);
    for (int64_t j = 0; j < d; ++j) {
      x[j] = normal(rng);
      g[j] = j % 5 == 0 ? -0.0 : normal(rng);
    }
    for (const uint64_t round : {uint64_t{0}, uint64_t{1}, uint64_t{300}, ~uint64_t{0}}) {
      for (const double stepsize : {0.0, -0.0, 0.125, 1e-300}) {
        for (int flags = 0; flags < 8; ++flags) {
          const bool diagnostics = flags & 1, checkpointed = flags & 2, with_g = flags & 4;
          v1::ServerMessage message;
          v1::RoundStart* start = message.mutable_round_start();
          start->set_round(round);
          AssignVector(x, start->mutable_x());
          start->set_stepsize(stepsize);
          start->set_diagnostics(diagnostics);
          start->set_checkpointed(checkpointed);
          if (with_g) AssignVector(g, start->mutable_g());
          std::string want;
          ASSERT_TRUE(message.SerializeToString(&want));
          std::string got = "stale";
          WriteDenseRoundStart(round, x, stepsize, diagnostics, checkpointed, with_g ? &g : nullptr,
                               &got);
          ASSERT_EQ(got, want) << "d " << d << " round " << round << " stepsize " << stepsize
                               << " flags " << flags;
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 6 * 4 * 4 * 8);
}

TEST(WireSizeTest, DeltaRoundStartWrittenFromTheSumIsProtobufsBytes) {
  std::mt19937_64 rng(23);
  int64_t cases = 0, with_wide = 0;
  for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
    for (int64_t dim : {1, 16, 123, 5000, 70000}) {
      for (int64_t k : {int64_t{0}, int64_t{1}, dim / 50, dim / 3, dim}) {
        for (bool dense : {false, true}) {
          // -0.0 is written (its bits are not all zero), 0.0 is omitted.
          for (double scale : {0.0, -0.0, 0.125}) {
            const RoundDelta delta = RandomDelta(rng, dim, dense, k, type, scale);
            for (const uint64_t round : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
              for (const double stepsize : {0.0, -0.0, 1e-300}) {
                for (int flags = 0; flags < 4; ++flags) {
                  const bool diagnostics = flags & 1, checkpointed = flags & 2;
                  v1::ServerMessage message;
                  v1::RoundStart* start = message.mutable_round_start();
                  start->set_round(round);
                  start->set_stepsize(stepsize);
                  start->set_diagnostics(diagnostics);
                  start->set_checkpointed(checkpointed);
                  EncodeRoundDelta(delta, type, start->mutable_delta());
                  std::string want;
                  ASSERT_TRUE(message.SerializeToString(&want));
                  std::string got = "stale";
                  WriteDeltaRoundStart(round, stepsize, diagnostics, checkpointed, delta, type,
                                       &got);
                  ASSERT_EQ(got, want) << "dim " << dim << " k " << k << " dense " << dense
                                       << " round " << round << " flags " << flags;
                  with_wide += start->delta().has_sum_wide();
                  ++cases;
                }
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 2 * 5 * 5 * 2 * 3 * 3 * 3 * 4);
  EXPECT_GT(with_wide, 0);  // the f32 runs' sums have values no float32 holds
}

TEST(WireSizeTest, RoundDeltaPartsInPlaceAreTheSplitCopiesBytes) {
  std::mt19937_64 rng(17);
  int64_t with_wide = 0, checked = 0;
  for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
    for (int64_t dim : {1, 64, 123, 5000, 100000}) {
      for (int64_t k : {int64_t{0}, int64_t{1}, dim / 50, dim / 3, dim}) {
        const RoundDelta delta = RandomDelta(rng, dim, /*dense=*/false, k, type, 0.25);
        SparseVector narrow, wide;
        SplitExactValues(delta.sum, type, &narrow, &wide);
        v1::RoundDelta split;
        EncodeSparseVector(narrow, type, split.mutable_sum());
        if (wide.nnz() > 0) EncodeSparseVector(wide, ValueType::kF64, split.mutable_sum_wide());
        split.set_scale(delta.scale);
        v1::RoundDelta in_place;
        EncodeRoundDelta(delta, type, &in_place);
        EXPECT_EQ(in_place.SerializeAsString(), split.SerializeAsString())
            << "dim " << dim << " k " << k;
        EXPECT_EQ(DeltaRoundStartWireBytes(7, 0.5, true, delta.sum, type, delta.scale),
                  DeltaRoundStartWireBytes(7, 0.5, true, narrow, wide, type, delta.scale))
            << "dim " << dim << " k " << k;
        const ExactParts parts = MeasureExactParts(delta.sum, type);
        EXPECT_EQ(parts.count[0], narrow.nnz());
        EXPECT_EQ(parts.count[1], wide.nnz());
        with_wide += wide.nnz() > 0;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 50);
  EXPECT_GT(with_wide, 10);  // the wide part was exercised
}

TEST(WireSizeTest, BadRoundDeltasAreRefused) {
  std::mt19937_64 rng(5);
  const RoundDelta delta = RandomDelta(rng, 100, false, 30, ValueType::kF32, 0.5);
  v1::RoundDelta good;
  EncodeRoundDelta(delta, ValueType::kF32, &good);
  ASSERT_TRUE(good.has_sum_wide());
  RoundDelta out;
  auto code = [&](const v1::RoundDelta& in, ValueType type) {
    return DecodeRoundDelta(in, 5, 100, type, &out);
  };
  // A wide part in an f64 run; the wrong dimension; a non-finite scale; an index in both parts.
  EXPECT_EQ(code(good, ValueType::kF64).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeRoundDelta(good, 5, 101, ValueType::kF32, &out).code(),
            absl::StatusCode::kInvalidArgument);
  v1::RoundDelta bad = good;
  bad.set_scale(std::numeric_limits<double>::infinity());
  EXPECT_EQ(code(bad, ValueType::kF32).code(), absl::StatusCode::kInvalidArgument);
  SparseVector both;
  both.Clear(100);
  both.indices = {delta.sum.indices[1]};  // entry 1 is a float32 value: in the narrow part
  both.values = {delta.sum.values[1] + 1e-9};
  bad = good;
  EncodeSparseVector(both, ValueType::kF64, bad.mutable_sum_wide());
  absl::Status s = code(bad, ValueType::kF32);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("in both"), absl::string_view::npos) << s;
  bad.clear_sum();
  EXPECT_EQ(code(bad, ValueType::kF32).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ef21
