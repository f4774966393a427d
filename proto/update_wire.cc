#include "proto/update_wire.h"

#include "common/compress/sparse_codec.h"

namespace ef21 {

SparseVectorView ViewOf(const v1::SparseVector& c) {
  SparseVectorView v;
  v.dim = c.dim();
  v.dense = c.dense();
  v.rice_bits = c.rice_bits();
  v.index_code = c.index_code();
  v.values_f32 = reinterpret_cast<const char*>(c.values_f32().data());
  v.values_f32_count = c.values_f32_size();
  v.values_f64 = reinterpret_cast<const char*>(c.values_f64().data());
  v.values_f64_count = c.values_f64_size();
  return v;
}

UpdateView ViewOf(const v1::Update& u) {
  UpdateView v;
  v.round = u.round();
  v.client_id = u.client_id();
  v.has_c = u.has_c();
  if (v.has_c) v.c = ViewOf(u.c());
  v.has_loss = u.has_loss();
  v.loss = u.loss();
  v.gradient = reinterpret_cast<const char*>(u.gradient().data());
  v.gradient_count = u.gradient_size();
  return v;
}

GradientSumView ViewOf(const v1::GradientSum& sum) {
  GradientSumView v;
  v.level = sum.level();
  v.index = sum.index();
  v.values = reinterpret_cast<const char*>(sum.values().data());
  v.count = sum.values_size();
  v.byte_size = static_cast<int64_t>(sum.ByteSizeLong());
  return v;
}

void ViewBatch(const v1::WorkerMessage& in, BatchView* out) {
  out->Clear();
  for (const v1::Update& u : in.updates()) out->updates.push_back(ViewOf(u));
  for (const v1::GradientSum& s : in.gradient_sums()) out->sums.push_back(ViewOf(s));
}

namespace {

// Wire types (the low three bits of a tag).
constexpr uint8_t kVarint = 0, kFixed64 = 1, kLen = 2;
constexpr uint8_t Tag(int field, uint8_t wire_type) {
  return static_cast<uint8_t>((field << 3) | wire_type);
}

// Reads the bytes [at, end) field by field; every read checks the bounds, and a failed read leaves
// the reader failed (the caller gives up on the message).
class Reader {
 public:
  Reader(const char* at, const char* end) : at_(at), end_(end) {}

  bool done() const { return at_ == end_; }

  // The next tag, when it is one byte (every known field's is).
  bool ReadTag(uint8_t* tag) {
    if (at_ == end_ || (static_cast<uint8_t>(*at_) & 0x80) != 0) return false;
    *tag = static_cast<uint8_t>(*at_++);
    return true;
  }

  // A varint of at most 10 bytes whose value fits 64 bits.
  bool ReadVarint(uint64_t* value) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (at_ == end_) return false;
      const uint8_t byte = static_cast<uint8_t>(*at_++);
      if (shift == 63 && byte > 1) return false;  // past 64 bits, or an 11th byte
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *value = v;
        return true;
      }
    }
    return false;
  }

  bool ReadUint32(uint32_t* value) {
    uint64_t v;
    if (!ReadVarint(&v) || v > UINT32_MAX) return false;
    *value = static_cast<uint32_t>(v);
    return true;
  }

  bool ReadBool(bool* value) {
    uint64_t v;
    if (!ReadVarint(&v) || v > 1) return false;
    *value = v != 0;
    return true;
  }

  bool ReadFixed64(double* value) {
    if (end_ - at_ < 8) return false;
    std::memcpy(value, at_, sizeof(*value));
    at_ += 8;
    return true;
  }

  // A length-delimited field's payload.
  bool ReadLen(const char** data, size_t* size) {
    uint64_t n;
    if (!ReadVarint(&n) || n > static_cast<uint64_t>(end_ - at_)) return false;
    *data = at_;
    *size = static_cast<size_t>(n);
    at_ += n;
    return true;
  }

  // A packed field of `width`-byte numbers.
  bool ReadPacked(size_t width, const char** data, int64_t* count) {
    size_t size;
    if (!ReadLen(data, &size) || size % width != 0) return false;
    *count = static_cast<int64_t>(size / width);
    return true;
  }

 private:
  const char* at_;
  const char* const end_;
};

// Marks field `field` seen; false when it was already (a repeated singular field: protobuf's
// rules for it are left to protobuf).
inline bool FirstTime(uint32_t* seen, int field) {
  const uint32_t bit = 1u << field;
  if ((*seen & bit) != 0) return false;
  *seen |= bit;
  return true;
}

bool ParseSparseVector(const char* data, size_t size, SparseVectorView* out) {
  Reader r(data, data + size);
  uint32_t seen = 0;
  while (!r.done()) {
    uint8_t tag;
    if (!r.ReadTag(&tag) || !FirstTime(&seen, tag >> 3)) return false;
    bool ok = false;
    switch (tag) {
      case Tag(1, kVarint):
        ok = r.ReadUint32(&out->dim);
        break;
      case Tag(2, kVarint):
        ok = r.ReadBool(&out->dense);
        break;
      case Tag(3, kVarint):
        ok = r.ReadUint32(&out->rice_bits);
        break;
      case Tag(4, kLen): {
        const char* code;
        size_t code_size;
        ok = r.ReadLen(&code, &code_size);
        if (ok) out->index_code = absl::string_view(code, code_size);
        break;
      }
      case Tag(5, kLen):
        ok = r.ReadPacked(4, &out->values_f32, &out->values_f32_count);
        break;
      case Tag(6, kLen):
        ok = r.ReadPacked(8, &out->values_f64, &out->values_f64_count);
        break;
      default:
        return false;
    }
    if (!ok) return false;
  }
  return true;
}

// *out is a default UpdateView (ParseUpdateBatch's emplace_back).
bool ParseUpdate(const char* data, size_t size, UpdateView* out) {
  Reader r(data, data + size);
  uint32_t seen = 0;
  while (!r.done()) {
    uint8_t tag;
    if (!r.ReadTag(&tag) || !FirstTime(&seen, tag >> 3)) return false;
    bool ok = false;
    switch (tag) {
      case Tag(1, kVarint):
        ok = r.ReadVarint(&out->round);
        break;
      case Tag(2, kVarint):
        ok = r.ReadUint32(&out->client_id);
        break;
      case Tag(3, kLen): {
        const char* c;
        size_t c_size;
        ok = r.ReadLen(&c, &c_size) && ParseSparseVector(c, c_size, &out->c);
        out->has_c = true;
        break;
      }
      case Tag(4, kFixed64):
        ok = r.ReadFixed64(&out->loss);
        out->has_loss = true;
        break;
      case Tag(5, kLen):
        ok = r.ReadPacked(8, &out->gradient, &out->gradient_count);
        break;
      default:
        return false;
    }
    if (!ok) return false;
  }
  return true;
}

// *out is a default GradientSumView.
bool ParseGradientSum(const char* data, size_t size, GradientSumView* out) {
  Reader r(data, data + size);
  uint32_t seen = 0;
  while (!r.done()) {
    uint8_t tag;
    if (!r.ReadTag(&tag) || !FirstTime(&seen, tag >> 3)) return false;
    bool ok = false;
    switch (tag) {
      case Tag(1, kVarint):
        ok = r.ReadUint32(&out->level);
        break;
      case Tag(2, kVarint):
        ok = r.ReadVarint(&out->index);
        break;
      case Tag(3, kLen):
        ok = r.ReadPacked(8, &out->values, &out->count);
        break;
      default:
        return false;
    }
    if (!ok) return false;
  }
  // What ByteSizeLong gives for these fields: proto3 omits those holding their default.
  // Each field present has a one-byte tag.
  const uint64_t values = 8 * static_cast<uint64_t>(out->count);
  out->byte_size = (out->level != 0 ? 1 + VarintBytes(out->level) : 0) +
                   (out->index != 0 ? 1 + VarintBytes(out->index) : 0) +
                   (values != 0 ? 1 + VarintBytes(values) + static_cast<int64_t>(values) : 0);
  return true;
}

}  // namespace

bool ParseUpdateBatch(absl::string_view wire, BatchView* out) {
  out->Clear();
  Reader r(wire.data(), wire.data() + wire.size());
  while (!r.done()) {
    uint8_t tag;
    if (!r.ReadTag(&tag)) return false;
    const char* data;
    size_t size;
    switch (tag) {
      case Tag(2, kLen):  // updates
        out->updates.emplace_back();
        if (!r.ReadLen(&data, &size) || !ParseUpdate(data, size, &out->updates.back())) {
          return false;
        }
        break;
      case Tag(3, kLen):  // gradient_sums
        out->sums.emplace_back();
        if (!r.ReadLen(&data, &size) || !ParseGradientSum(data, size, &out->sums.back())) {
          return false;
        }
        break;
      default:  // an Attach, an unknown field, another wire type
        return false;
    }
  }
  return !out->updates.empty();
}

}  // namespace ef21
