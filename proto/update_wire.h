// Borrowed views of what a worker's batch carries — WorkerMessage.updates (Update, its
// SparseVector c) and WorkerMessage.gradient_sums (GradientSum) — and the two ways to get them:
// from a message protobuf parsed (ViewBatch), or straight from the batch's wire bytes
// (ParseUpdateBatch), without building the protobuf objects. The aggregator decodes and
// validates the views (proto/codec.h DecodeUpdate, server/aggregator_service.h
// DecodeGradientSums), so both ways share every check, refusal reason and message.
//
// ParseUpdateBatch reads only the plain form an encoder writes — each known field with its
// declared wire type at most once per message (in any order), repeated numbers packed, no unknown
// fields, no Attach — and gives up (returns false) on anything else, including malformed bytes:
// the caller then parses the message with protobuf, which decides (unknown fields skipped, the last
// of a repeated singular field kept, a repeated message field merged, malformed bytes refused).
// Whenever it returns true, protobuf parses the same bytes to a message whose ViewBatch equals
// its view (tests/proto/update_wire_test.cc, fuzz/update_wire_fuzzer.cc).
//
// Packed numbers are viewed where they lie in the bytes, at any alignment: read them with
// FloatAt / DoubleAt. A view borrows the bytes or message it came from and must not outlive them.
// All functions are pure and thread-safe.
#ifndef EF21_PROTO_UPDATE_WIRE_H_
#define EF21_PROTO_UPDATE_WIRE_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/string_view.h"
#include "ef21/v1/ef21.pb.h"

namespace ef21 {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "packed wire numbers are little-endian");

// Element j of packed little-endian floats / doubles at `data`, of any alignment.
inline float FloatAt(const char* data, int64_t j) {
  float v;
  std::memcpy(&v, data + 4 * j, sizeof(v));
  return v;
}
inline double DoubleAt(const char* data, int64_t j) {
  double v;
  std::memcpy(&v, data + 8 * j, sizeof(v));
  return v;
}

// ef21.v1.SparseVector.
struct SparseVectorView {
  uint32_t dim = 0;
  bool dense = false;
  uint32_t rice_bits = 0;
  absl::string_view index_code;
  const char* values_f32 = nullptr;  // values_f32_count packed floats
  int64_t values_f32_count = 0;
  const char* values_f64 = nullptr;  // values_f64_count packed doubles
  int64_t values_f64_count = 0;
};

// ef21.v1.Update.
struct UpdateView {
  uint64_t round = 0;
  uint32_t client_id = 0;
  bool has_c = false;
  SparseVectorView c;  // all defaults when !has_c
  bool has_loss = false;
  double loss = 0.0;
  const char* gradient = nullptr;  // gradient_count packed doubles
  int64_t gradient_count = 0;
};

// ef21.v1.GradientSum.
struct GradientSumView {
  uint32_t level = 0;
  uint64_t index = 0;
  const char* values = nullptr;  // count packed doubles
  int64_t count = 0;
  int64_t byte_size = 0;  // its serialized size (protobuf's ByteSizeLong)
};

// A WorkerMessage's updates and gradient sums, in order.
struct BatchView {
  std::vector<UpdateView> updates;
  std::vector<GradientSumView> sums;
  void Clear() {
    updates.clear();
    sums.clear();
  }
};

SparseVectorView ViewOf(const v1::SparseVector& c);
UpdateView ViewOf(const v1::Update& u);
GradientSumView ViewOf(const v1::GradientSum& sum);
// The updates and gradient sums of `in` (its Attach, if any, is not viewed), into *out (reusing
// its capacity).
void ViewBatch(const v1::WorkerMessage& in, BatchView* out);

// Views the WorkerMessage serialized in `wire` into *out (reusing its capacity), borrowing from
// `wire`, when it is a batch in the plain form above carrying at least one update; else returns
// false and *out holds nothing to use.
bool ParseUpdateBatch(absl::string_view wire, BatchView* out);

}  // namespace ef21

#endif  // EF21_PROTO_UPDATE_WIRE_H_
