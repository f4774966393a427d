// The aggregator's wire reader of update batches (proto/update_wire.h ParseUpdateBatch) against
// protobuf: whatever the reader takes, protobuf parses to a message viewing the same (every field,
// every byte of the index codes and values), and both views decode (DecodeUpdate,
// DecodeGradientSums) to the same status, refusal reason and result. Honest batches, hand-built
// edge forms (field order, explicit defaults, overlong varints; unknown fields, repeated singular
// fields, unpacked numbers and Attach left to protobuf) and random batches with random mutations.
#include "proto/update_wire.h"

#include <random>
#include <string>
#include <vector>

#include "common/run/gradient_tree.h"
#include "gtest/gtest.h"
#include "proto/codec.h"
#include "server/aggregator_service.h"
#include "tests/testing/runs.h"

namespace ef21 {
namespace {

std::string Bytes(const char* data, int64_t size) {
  return size == 0 ? std::string() : std::string(data, static_cast<size_t>(size));
}

void ExpectSameView(const UpdateView& a, const UpdateView& b) {
  EXPECT_EQ(a.round, b.round);
  EXPECT_EQ(a.client_id, b.client_id);
  EXPECT_EQ(a.has_c, b.has_c);
  EXPECT_EQ(a.c.dim, b.c.dim);
  EXPECT_EQ(a.c.dense, b.c.dense);
  EXPECT_EQ(a.c.rice_bits, b.c.rice_bits);
  EXPECT_EQ(std::string(a.c.index_code), std::string(b.c.index_code));
  EXPECT_EQ(a.c.values_f32_count, b.c.values_f32_count);
  EXPECT_EQ(Bytes(a.c.values_f32, 4 * a.c.values_f32_count),
            Bytes(b.c.values_f32, 4 * b.c.values_f32_count));
  EXPECT_EQ(a.c.values_f64_count, b.c.values_f64_count);
  EXPECT_EQ(Bytes(a.c.values_f64, 8 * a.c.values_f64_count),
            Bytes(b.c.values_f64, 8 * b.c.values_f64_count));
  EXPECT_EQ(a.has_loss, b.has_loss);
  EXPECT_EQ(Bytes(reinterpret_cast<const char*>(&a.loss), 8),
            Bytes(reinterpret_cast<const char*>(&b.loss), 8));
  EXPECT_EQ(a.gradient_count, b.gradient_count);
  EXPECT_EQ(Bytes(a.gradient, 8 * a.gradient_count), Bytes(b.gradient, 8 * b.gradient_count));
}

void ExpectSameView(const BatchView& a, const BatchView& b) {
  ASSERT_EQ(a.updates.size(), b.updates.size());
  for (size_t j = 0; j < a.updates.size(); ++j) {
    SCOPED_TRACE(testing::Message() << "update " << j);
    ExpectSameView(a.updates[j], b.updates[j]);
  }
  ASSERT_EQ(a.sums.size(), b.sums.size());
  for (size_t k = 0; k < a.sums.size(); ++k) {
    SCOPED_TRACE(testing::Message() << "gradient sum " << k);
    EXPECT_EQ(a.sums[k].level, b.sums[k].level);
    EXPECT_EQ(a.sums[k].index, b.sums[k].index);
    EXPECT_EQ(a.sums[k].count, b.sums[k].count);
    EXPECT_EQ(Bytes(a.sums[k].values, 8 * a.sums[k].count),
              Bytes(b.sums[k].values, 8 * b.sums[k].count));
    EXPECT_EQ(a.sums[k].byte_size, b.sums[k].byte_size);
  }
}

// Whether the wire reader takes `wire`; when it does, protobuf must parse it to the same view.
bool CheckAgainstProtobuf(const std::string& wire, BatchView* view) {
  if (!ParseUpdateBatch(wire, view)) return false;
  v1::WorkerMessage parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire)) << "the wire reader took bytes protobuf refuses";
  EXPECT_FALSE(parsed.has_attach());
  BatchView expected;
  ViewBatch(parsed, &expected);
  ExpectSameView(*view, expected);
  return true;
}

// A run to decode against: breast-cancer (d = 10), 4 clients, top-2.
struct TestRun {
  std::shared_ptr<const MethodContext> context;
  GradientTree tree{4};
};
TestRun MakeRun(ValueType type) {
  RunConfig config = test::BreastCancer(Algorithm::kNormEf21, /*clients=*/4, /*rounds=*/6);
  config.value_type = type;
  auto made = test::CreateProblemAndContext(config);
  EXPECT_TRUE(made.ok()) << made.status();
  TestRun run;
  run.context = made->context;
  return run;
}

// Decodes both views the aggregator's way and expects the same outcome, update by update.
// Returns how many updates decoded.
int ExpectSameDecoding(const BatchView& wire, const BatchView& parsed, const TestRun& run) {
  const MethodContext& context = *run.context;
  std::vector<DecodedGradientSum> sums_a, sums_b;
  RejectionReason reason_a = RejectionReason::kMalformedMessage, reason_b = reason_a;
  const absl::Status sa = DecodeGradientSums(wire.sums, context, run.tree, &sums_a, &reason_a);
  const absl::Status sb = DecodeGradientSums(parsed.sums, context, run.tree, &sums_b, &reason_b);
  EXPECT_EQ(sa, sb);
  if (!sa.ok()) EXPECT_EQ(reason_a, reason_b);
  if (sa.ok() && sb.ok()) {
    for (size_t k = 0; k < wire.sums.size(); ++k) {
      EXPECT_TRUE(sums_a[k].values == sums_b[k].values);
      EXPECT_EQ(sums_a[k].wire_bytes, sums_b[k].wire_bytes);
    }
  }
  int decoded = 0;
  for (size_t j = 0; j < wire.updates.size() && j < parsed.updates.size(); ++j) {
    for (bool summed : {false, true}) {
      DecodedUpdate a, b;
      const absl::Status da = DecodeUpdate(wire.updates[j], context, &a, &reason_a, 1e30, summed);
      const absl::Status db = DecodeUpdate(parsed.updates[j], context, &b, &reason_b, 1e30, summed);
      EXPECT_EQ(da, db);
      if (!da.ok()) {
        EXPECT_EQ(reason_a, reason_b);
        continue;
      }
      ++decoded;
      EXPECT_EQ(a.round, b.round);
      EXPECT_EQ(a.client, b.client);
      EXPECT_EQ(a.c.dim, b.c.dim);
      EXPECT_EQ(a.c.dense, b.c.dense);
      EXPECT_EQ(a.c.indices, b.c.indices);
      EXPECT_EQ(a.c.values, b.c.values);
      EXPECT_EQ(a.loss, b.loss);
      EXPECT_TRUE(a.gradient == b.gradient);
      EXPECT_EQ(a.digest, b.digest);
      EXPECT_EQ(a.algorithm_bytes, b.algorithm_bytes);
      EXPECT_EQ(a.diagnostic_bytes, b.diagnostic_bytes);
    }
  }
  return decoded;
}

// --- Raw protobuf encoding, for the forms an encoder does not write. ---
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Key(int field, int wire_type) { return Varint((field << 3) | wire_type); }
std::string Len(int field, const std::string& payload) {
  return Key(field, 2) + Varint(payload.size()) + payload;
}
std::string Fixed64(int field, double v) {
  std::string out = Key(field, 1);
  out.append(reinterpret_cast<const char*>(&v), 8);
  return out;
}
std::string Floats(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
  return out;
}

// An honest client's update for breast-cancer client 1 (top-2 of d = 10, f32), field by field.
std::string HonestC() {
  IndexCode code;
  EncodeIndices(std::vector<int32_t>{2, 7}, 10, &code);
  return Key(1, 0) + Varint(10) + Key(3, 0) + Varint(code.rice_bits) + Len(4, code.bytes) +
         Len(5, Floats({0.5f, -1.25f}));
}

TEST(UpdateWireTest, HonestBatchesAreReadFromTheWireAsProtobufReadsThem) {
  for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
    const TestRun run = MakeRun(type);
    for (bool diagnostics : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << ValueTypeName(type) << (diagnostics ? " with gradients" : ""));
      // Four clients' updates for round 3 (and a gradient sum over all of them).
      v1::WorkerMessage batch;
      for (int64_t i = 0; i < 4; ++i) {
        ClientMessage message;
        message.c.Clear(10);
        message.c.indices = {static_cast<int32_t>(i), static_cast<int32_t>(i + 5)};
        message.c.values = {0.5 * static_cast<double>(i + 1), -0.25};
        message.loss = 0.125 * static_cast<double>(i);
        message.gradient = Vector::Constant(10, 0.5 + static_cast<double>(i));
        EncodeUpdate(3, i, message, diagnostics, type, batch.add_updates());
      }
      if (diagnostics) {
        v1::GradientSum* sum = batch.add_gradient_sums();
        sum->set_level(2);
        for (int j = 0; j < 10; ++j) sum->add_values(0.25 * j);
      }
      const std::string wire = batch.SerializeAsString();  // the view borrows it
      BatchView view;
      ASSERT_TRUE(CheckAgainstProtobuf(wire, &view));
      EXPECT_EQ(view.updates.size(), 4u);
      BatchView parsed;
      ViewBatch(batch, &parsed);
      // Round 3 takes gradients (breast-cancer: every round): with them, each update decodes on
      // its own (not summed); without them, each decodes as covered by a sum.
      EXPECT_EQ(ExpectSameDecoding(view, parsed, run), 4);
    }
  }
}

TEST(UpdateWireTest, EdgeFormsAreReadAsProtobufReadsThemOrLeftToIt) {
  const TestRun run = MakeRun(ValueType::kF32);
  const std::string c = HonestC();
  const std::string round = Key(1, 0) + Varint(3), client = Key(2, 0) + Varint(1);
  const std::string loss = Fixed64(4, 0.75);
  struct Case {
    const char* name;
    std::string update;  // one WorkerMessage.updates element
    bool read;           // whether the wire reader takes it
  };
  const Case cases[] = {
      {"plain", round + client + Len(3, c) + loss, true},
      {"fields in reverse order", loss + Len(3, c) + client + round, true},
      {"defaults written out",
       Key(1, 0) + Varint(0) + Key(2, 0) + Varint(0) + Len(3, c) + loss + Len(5, ""), true},
      {"overlong varints",
       Key(1, 0) + std::string("\x83\x80\x80\x00", 4) + Key(2, 0) + std::string("\x81\x00", 2) +
           Len(3, c) + loss,
       true},
      {"no c", round + client + loss, true},
      {"empty c", round + client + Len(3, "") + loss, true},
      {"no loss", round + client + Len(3, c), true},
      {"unknown field", round + client + Len(3, c) + loss + Key(9, 0) + Varint(5), false},
      {"round twice (protobuf: the last wins)",
       round + client + Len(3, c) + loss + Key(1, 0) + Varint(4), false},
      {"c twice (protobuf: merged)",
       round + client + Len(3, c) + Len(3, Key(1, 0) + Varint(9)) + loss, false},
      {"unpacked gradient", round + client + Len(3, c) + loss + Fixed64(5, 1.0), false},
      {"client id past 32 bits", round + Key(2, 0) + Varint(1ull << 33) + Len(3, c) + loss, false},
      {"loss as a varint", round + client + Len(3, c) + Key(4, 0) + Varint(1), false},
      {"unpacked f32 values in c",
       round + client + Len(3, Key(1, 0) + Varint(10) + Key(5, 5) + Floats({1.0f})) + loss, false},
      {"dense = 2", round + client + Len(3, Key(1, 0) + Varint(10) + Key(2, 0) + Varint(2)) + loss,
       false},
  };
  for (const Case& test : cases) {
    SCOPED_TRACE(test.name);
    const std::string wire = Len(2, test.update);
    v1::WorkerMessage parsed;
    ASSERT_TRUE(parsed.ParseFromString(wire)) << "the case must be valid protobuf";
    BatchView view;
    EXPECT_EQ(CheckAgainstProtobuf(wire, &view), test.read);
    if (test.read) {
      BatchView expected;
      ViewBatch(parsed, &expected);
      ExpectSameDecoding(view, expected, run);
    }
  }
  // Whole messages the reader leaves to protobuf: an Attach (alone or with updates), no updates.
  BatchView view;
  v1::WorkerMessage attach;
  attach.mutable_attach()->add_client_ids(1);
  EXPECT_FALSE(ParseUpdateBatch(attach.SerializeAsString(), &view));
  EXPECT_FALSE(ParseUpdateBatch(attach.SerializeAsString() + Len(2, round + Len(3, c)), &view));
  EXPECT_FALSE(ParseUpdateBatch("", &view));
  EXPECT_FALSE(ParseUpdateBatch(Len(3, Key(1, 0) + Varint(1)), &view));  // a gradient sum only
  // Malformed bytes: a length past the end, a truncated varint, a group, wire type 7.
  const std::string update = Len(2, round + client + Len(3, c) + loss);
  EXPECT_FALSE(ParseUpdateBatch(update.substr(0, update.size() - 1), &view));
  EXPECT_FALSE(ParseUpdateBatch(update + Key(2, 2) + "\x80", &view));
  EXPECT_FALSE(ParseUpdateBatch(update + Key(5, 3) + Key(5, 4), &view));
  EXPECT_FALSE(ParseUpdateBatch(update + Key(2, 7), &view));
}

// Random batches (fields valid or not for the run) and random mutations of their bytes: whatever
// the wire reader takes, protobuf takes and views the same, and both decode alike.
TEST(UpdateWireTest, RandomAndMutatedBatchesAgreeWithProtobuf) {
  std::mt19937_64 rng(20261203);
  auto pick = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
  const double specials[] = {0.5,
                             -3.25,
                             1e-300,
                             1e31,
                             std::numeric_limits<double>::infinity(),
                             std::numeric_limits<double>::quiet_NaN(),
                             -0.0};
  int read = 0, read_mutated = 0, decoded = 0, taken_by_protobuf_only = 0;
  for (ValueType type : {ValueType::kF32, ValueType::kF64}) {
    const TestRun run = MakeRun(type);
    for (int trial = 0; trial < 400; ++trial) {
      v1::WorkerMessage batch;
      const int n = 1 + static_cast<int>(pick(4));
      for (int j = 0; j < n; ++j) {
        v1::Update* u = batch.add_updates();
        u->set_round(pick(3) == 0 ? pick(1ull << 40) : pick(4));
        u->set_client_id(static_cast<uint32_t>(pick(6)));
        if (pick(10) != 0) {
          v1::SparseVector* c = u->mutable_c();
          c->set_dim(pick(5) == 0 ? static_cast<uint32_t>(pick(20)) : 10u);
          c->set_dense(pick(6) == 0);
          const int count = static_cast<int>(pick(4)) + (c->dense() ? 8 : 0);
          if (!c->dense() && count > 0 && pick(4) != 0) {
            std::vector<int32_t> indices;
            for (int32_t i = 0; i < 10 && static_cast<int>(indices.size()) < count; ++i) {
              if (pick(2) == 0) indices.push_back(i);
            }
            IndexCode code;
            if (!indices.empty()) EncodeIndices(indices, 10, &code);
            c->set_rice_bits(code.rice_bits);
            c->set_index_code(code.bytes);
          } else if (pick(3) == 0) {
            c->set_rice_bits(static_cast<uint32_t>(pick(40)));
            c->set_index_code(std::string(pick(3), static_cast<char>(pick(256))));
          }
          const bool f64 = (type == ValueType::kF64) != (pick(8) == 0);
          for (int e = 0; e < count; ++e) {
            const double v = specials[pick(std::size(specials))];
            if (f64) {
              c->add_values_f64(v);
            } else {
              c->add_values_f32(static_cast<float>(v));
            }
          }
        }
        if (pick(10) != 0) u->set_loss(specials[pick(std::size(specials))]);
        if (pick(3) == 0) {
          const int count = pick(4) == 0 ? static_cast<int>(pick(12)) : 10;
          for (int e = 0; e < count; ++e) u->add_gradient(specials[pick(3)]);
        }
      }
      for (int k = static_cast<int>(pick(3)); k > 0; --k) {
        v1::GradientSum* sum = batch.add_gradient_sums();
        sum->set_level(static_cast<uint32_t>(pick(4)));
        sum->set_index(pick(4));
        const int count = pick(4) == 0 ? static_cast<int>(pick(12)) : 10;
        for (int e = 0; e < count; ++e) sum->add_values(specials[pick(3)]);
      }
      const std::string wire = batch.SerializeAsString();
      BatchView view, parsed;
      ASSERT_TRUE(CheckAgainstProtobuf(wire, &view)) << "an encoder's form must be read";
      ++read;
      ViewBatch(batch, &parsed);
      decoded += ExpectSameDecoding(view, parsed, run);
      // Mutations: a byte changed, a byte dropped, a byte inserted, the tail cut.
      for (int m = 0; m < 30; ++m) {
        std::string mutated = wire;
        const size_t at = pick(mutated.size());
        switch (pick(4)) {
          case 0:
            mutated[at] = static_cast<char>(pick(256));
            break;
          case 1:
            mutated.erase(at, 1);
            break;
          case 2:
            mutated.insert(at, 1, static_cast<char>(pick(256)));
            break;
          default:
            mutated.resize(at);
        }
        BatchView mutated_view;
        if (CheckAgainstProtobuf(mutated, &mutated_view)) {
          ++read_mutated;
          v1::WorkerMessage reparsed;
          ASSERT_TRUE(reparsed.ParseFromString(mutated));
          BatchView expected;
          ViewBatch(reparsed, &expected);
          decoded += ExpectSameDecoding(mutated_view, expected, run);
        } else if (v1::WorkerMessage reparsed;
                   reparsed.ParseFromString(mutated) && reparsed.updates_size() > 0) {
          ++taken_by_protobuf_only;  // left to protobuf: the aggregator's fallback
        }
      }
    }
  }
  // Not vacuous: mutated batches were read and updates decoded on both paths.
  EXPECT_EQ(read, 800);
  EXPECT_GT(read_mutated, 2000);
  EXPECT_GT(decoded, 500);
  EXPECT_GT(taken_by_protobuf_only, 100);
}

}  // namespace
}  // namespace ef21
