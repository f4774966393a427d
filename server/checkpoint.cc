#include "server/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/run/run_log.h"

namespace ef21 {
namespace {

constexpr char kMagic[8] = {'E', 'F', '2', '1', 'C', 'K', 'P', '4'};
// The format before the workers' reports were recorded.
constexpr char kMagicV3[8] = {'E', 'F', '2', '1', 'C', 'K', 'P', '3'};
// The format before the data digest was recorded.
constexpr char kMagicV2[8] = {'E', 'F', '2', '1', 'C', 'K', 'P', '2'};
// The format before the open round's RoundStart was recorded.
constexpr char kMagicV1[8] = {'E', 'F', '2', '1', 'C', 'K', 'P', '1'};
// Bounds a decoder accepts, so a damaged size field cannot ask for an absurd allocation.
constexpr uint64_t kMaxString = 1 << 20;

uint64_t Checksum(absl::string_view bytes) { return Checksum64(bytes.data(), bytes.size()); }

// Where encoded bytes go: a string (EncodeCheckpoint), a file (WriteCheckpoint) or nowhere (to
// count them).
class Output {
 public:
  virtual ~Output() = default;
  virtual void Append(const char* data, size_t size) = 0;
};

class CountingOutput : public Output {
 public:
  void Append(const char*, size_t size) override { size_ += size; }
  uint64_t size() const { return size_; }

 private:
  uint64_t size_ = 0;
};

class StringOutput : public Output {
 public:
  explicit StringOutput(std::string* out) : out_(out) {}
  void Append(const char* data, size_t size) override { out_->append(data, size); }

 private:
  std::string* out_;
};

// Writes to a file through a fixed buffer, so that a checkpoint of O(d) bytes needs no O(d)
// buffer. The first error is kept (status()) and later bytes are dropped. With `kill_after` > 0,
// the test hook: once that many bytes are written, syncs and kills the process (SIGKILL).
class FileOutput : public Output {
 public:
  FileOutput(int fd, const std::string& name, uint64_t kill_after)
      : fd_(fd), name_(name), kill_after_(kill_after), buffer_(kBufferSize) {}
  void Append(const char* data, size_t size) override {
    while (size > 0 && status_.ok()) {
      size_t take = std::min(size, buffer_.size() - used_);
      if (kill_after_ > 0) take = std::min<uint64_t>(take, kill_after_ - written_ - used_);
      std::memcpy(buffer_.data() + used_, data, take);
      used_ += take;
      data += take;
      size -= take;
      if (used_ == buffer_.size() || (kill_after_ > 0 && written_ + used_ == kill_after_)) {
        (void)Flush();  // an error stays in status_
      }
    }
  }
  // Writes what is buffered; the status of everything written so far.
  absl::Status Flush() {
    if (status_.ok() && used_ > 0) status_ = WriteAll(fd_, buffer_.data(), used_, name_);
    written_ += used_;
    used_ = 0;
    if (kill_after_ > 0 && written_ >= kill_after_) {
      ::fsync(fd_);
      ::kill(::getpid(), SIGKILL);
    }
    return status_;
  }

 private:
  static constexpr size_t kBufferSize = 1 << 18;
  const int fd_;
  const std::string& name_;
  const uint64_t kill_after_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  uint64_t written_ = 0;
  absl::Status status_;
};

// Writes the fields of a payload to an Output, checksumming them on the way when given a stream.
class Writer {
 public:
  Writer(Output* out, Checksum64Stream* checksum) : out_(out), checksum_(checksum) {}
  void U64(uint64_t v) { Put(reinterpret_cast<const char*>(&v), 8); }
  void F64(double v) { Put(reinterpret_cast<const char*>(&v), 8); }
  void Str(const std::string& s) {
    U64(s.size());
    Put(s.data(), s.size());
  }
  void Doubles(ConstVectorRef v) {
    Put(reinterpret_cast<const char*>(v.data()), sizeof(double) * v.size());
  }

 private:
  void Put(const char* data, size_t size) {
    if (checksum_ != nullptr) checksum_->Update(data, size);
    out_->Append(data, size);
  }
  Output* out_;
  Checksum64Stream* checksum_;
};

class Reader {
 public:
  Reader(absl::string_view bytes, const std::string& where) : bytes_(bytes), where_(where) {}
  bool U64(uint64_t* v) { return Raw(v, 8); }
  bool F64(double* v) { return Raw(v, 8); }
  bool Str(std::string* s) {
    uint64_t size;
    if (!U64(&size) || size > kMaxString || size > bytes_.size() - pos_) return false;
    s->assign(bytes_.data() + pos_, size);
    pos_ += size;
    return true;
  }
  bool Doubles(int64_t count, Vector* v) {
    if (static_cast<uint64_t>(count) > (bytes_.size() - pos_) / sizeof(double)) return false;
    v->resize(count);
    std::memcpy(v->data(), bytes_.data() + pos_, sizeof(double) * count);
    pos_ += sizeof(double) * count;
    return true;
  }
  bool done() const { return pos_ == bytes_.size(); }
  absl::Status Damaged(absl::string_view what) const {
    return absl::DataLossError(
        absl::StrCat(where_, ": damaged checkpoint (", what, " at byte ", pos_ + 16, ")"));
  }

 private:
  bool Raw(void* out, size_t n) {
    if (bytes_.size() - pos_ < n) return false;
    std::memcpy(out, bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  absl::string_view bytes_;
  const std::string& where_;
  size_t pos_ = 0;
};

// The checkpoint the EF21_TEST_CHECKPOINT_KILL hook interrupts (0: none).
int64_t KillAt() {
  const char* value = std::getenv("EF21_TEST_CHECKPOINT_KILL");
  int64_t n = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &n)) return 0;
  return n;
}

// The vectors of a checkpoint given apart from it (c.x, c.g and c.client_g are not read).
struct Held {
  ConstVectorRef x;
  ConstVectorRef g;
  absl::Span<const Vector* const> client_g;
};

// The client_g of `c` by pointer.
std::vector<const Vector*> PointersTo(const std::vector<Vector>& client_g) {
  std::vector<const Vector*> out(client_g.size());
  for (size_t i = 0; i < client_g.size(); ++i) out[i] = &client_g[i];
  return out;
}

// The payload of a checkpoint with its vectors given apart.
void EncodePayload(const AggregatorCheckpoint& c, const Held& held, Writer* w) {
  ConstVectorRef x = held.x;
  ConstVectorRef g = held.g;
  const int64_t d = x.size();
  w->Str(c.run_id);
  w->Str(c.config_json);
  w->F64(c.fingerprint);
  w->U64(c.data_digest.value_or(0));
  w->U64(c.round);
  w->U64(c.complete ? 1 : 0);
  w->F64(c.gamma);
  w->F64(c.eta);
  w->Str(c.stepsize_rule);
  w->U64(static_cast<uint64_t>(c.totals.paper_bits));
  w->U64(static_cast<uint64_t>(c.totals.uplink_bytes));
  w->U64(static_cast<uint64_t>(c.totals.downlink_bytes));
  w->U64(static_cast<uint64_t>(c.totals.diagnostic_bytes));
  w->F64(c.elapsed_seconds);
  w->U64(static_cast<uint64_t>(d));
  w->U64(held.client_g.size());
  w->U64(static_cast<uint64_t>(c.open_round_start_kind));
  w->U64(static_cast<uint64_t>(c.open_round_start_bytes));
  w->Doubles(x);
  w->Doubles(g);
  for (size_t i = 0; i < held.client_g.size(); ++i) {
    const Vector& gi = *held.client_g[i];
    if (i < c.client_chain.size()) {
      w->U64(2);
      w->U64(c.client_chain[i]);
      continue;
    }
    w->U64(gi.size() == 0 ? 0 : 1);
    if (gi.size() != 0) w->Doubles(gi);
  }
  w->U64(c.reports.size());
  for (const std::optional<ShardReport>& r : c.reports) {
    w->U64(r.has_value() ? 1 : 0);
    if (!r) continue;
    w->U64(static_cast<uint64_t>(r->constants.rows));
    w->F64(r->constants.L);
    w->F64(r->constants.L0);
    w->F64(r->constants.L1);
    w->U64(r->digest);
  }
}

// A whole checkpoint file into `out`: magic, payload size, payload, checksum. The size is counted
// first (a pass that copies nothing) and the checksum computed as the payload goes out, so the
// bytes never need to be in memory all at once. Returns the file's size.
uint64_t Encode(const AggregatorCheckpoint& c, const Held& held, Output* out) {
  CountingOutput counter;
  Writer count(&counter, nullptr);
  EncodePayload(c, held, &count);
  const uint64_t size = counter.size();
  out->Append(kMagic, sizeof(kMagic));
  out->Append(reinterpret_cast<const char*>(&size), 8);
  Checksum64Stream checksum(size);
  Writer w(out, &checksum);
  EncodePayload(c, held, &w);
  const uint64_t sum = checksum.Finish();
  out->Append(reinterpret_cast<const char*>(&sum), 8);
  return size + 24;
}

}  // namespace

std::string EncodeCheckpoint(const AggregatorCheckpoint& c) {
  const std::vector<const Vector*> client_g = PointersTo(c.client_g);
  const Held held{c.x, c.g, client_g};
  CountingOutput counter;
  Writer count(&counter, nullptr);
  EncodePayload(c, held, &count);
  std::string out;
  out.reserve(counter.size() + 24);  // exactly: the string never reallocates
  StringOutput to_string(&out);
  Encode(c, held, &to_string);
  return out;
}

absl::StatusOr<AggregatorCheckpoint> DecodeCheckpoint(absl::string_view bytes,
                                                      const std::string& where) {
  auto has_magic = [&](const char* magic) {
    return bytes.size() >= 24 && std::memcmp(bytes.data(), magic, 8) == 0;
  };
  const bool v1 = has_magic(kMagicV1);
  const bool v2 = has_magic(kMagicV2);
  const bool v3 = has_magic(kMagicV3);
  if (!v1 && !v2 && !v3 && !has_magic(kMagic)) {
    return absl::DataLossError(
        absl::StrCat(where,
                     ": not an ef21 checkpoint (expected the magic \"EF21CKP4\", \"EF21CKP3\", "
                     "\"EF21CKP2\" or \"EF21CKP1\" and at least 24 bytes; got ",
                     bytes.size(), " bytes)"));
  }
  uint64_t size;
  std::memcpy(&size, bytes.data() + 8, 8);
  if (size != bytes.size() - 24) {
    return absl::DataLossError(absl::StrCat(where, ": damaged checkpoint (header says ", size,
                                            " payload bytes; the file has ", bytes.size() - 24,
                                            ")"));
  }
  const absl::string_view payload = bytes.substr(16, size);
  uint64_t checksum;
  std::memcpy(&checksum, bytes.data() + 16 + size, 8);
  if (checksum != Checksum(payload)) {
    return absl::DataLossError(absl::StrCat(where, ": damaged checkpoint (checksum mismatch)"));
  }
  AggregatorCheckpoint c;
  Reader r(payload, where);
  uint64_t complete, paper, up, down, diag, d, n;
  if (!r.Str(&c.run_id) || !r.Str(&c.config_json) || !r.F64(&c.fingerprint)) {
    return r.Damaged("truncated header fields");
  }
  if (!v1 && !v2) {
    uint64_t digest;
    if (!r.U64(&digest)) return r.Damaged("truncated header fields");
    c.data_digest = digest;
  }
  if (!r.U64(&c.round) || !r.U64(&complete) || !r.F64(&c.gamma) || !r.F64(&c.eta) ||
      !r.Str(&c.stepsize_rule) || !r.U64(&paper) || !r.U64(&up) || !r.U64(&down) || !r.U64(&diag) ||
      !r.F64(&c.elapsed_seconds) || !r.U64(&d) || !r.U64(&n)) {
    return r.Damaged("truncated header fields");
  }
  if (!v1) {
    uint64_t kind, start_bytes;
    if (!r.U64(&kind) || !r.U64(&start_bytes)) return r.Damaged("truncated header fields");
    const int64_t signed_bytes = static_cast<int64_t>(start_bytes);
    if (kind > static_cast<uint64_t>(DownlinkKind::kMaxValue) || signed_bytes < -1) {
      return r.Damaged(
          absl::StrCat("implausible open RoundStart (kind ", kind, ", ", signed_bytes, " bytes)"));
    }
    c.open_round_start_kind = static_cast<DownlinkKind>(kind);
    c.open_round_start_bytes = signed_bytes;
  }
  if (d == 0 || d > (uint64_t{1} << 40) || n > (uint64_t{1} << 40) || complete > 1) {
    return r.Damaged(absl::StrCat("implausible dimension ", d, " or clients ", n));
  }
  c.complete = complete == 1;
  c.totals = {static_cast<int64_t>(paper), static_cast<int64_t>(up), static_cast<int64_t>(down),
              static_cast<int64_t>(diag)};
  if (!r.Doubles(static_cast<int64_t>(d), &c.x) || !r.Doubles(static_cast<int64_t>(d), &c.g)) {
    return r.Damaged("truncated x or g");
  }
  c.client_g.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t present;
    if (!r.U64(&present) || present > 2 || ((v1 || v2) && present == 2) ||
        (i > 0 && (present == 2) != !c.client_chain.empty())) {
      return r.Damaged(absl::StrCat("client ", i, "'s flag"));
    }
    if (present == 2) {
      if (i == 0) c.client_chain.reserve(n);
      uint64_t chain;
      if (!r.U64(&chain)) return r.Damaged(absl::StrCat("truncated state hash of client ", i));
      c.client_chain.push_back(chain);
      continue;
    }
    if (present == 1 && !r.Doubles(static_cast<int64_t>(d), &c.client_g[i])) {
      return r.Damaged(absl::StrCat("truncated g_", i));
    }
  }
  if (!v1 && !v2 && !v3) {
    uint64_t count;
    if (!r.U64(&count) || (count != 0 && count != n)) return r.Damaged("the reports' count");
    c.reports.resize(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t present, rows, digest;
      if (!r.U64(&present) || present > 1)
        return r.Damaged(absl::StrCat("client ", i, "'s report"));
      if (present == 0) continue;
      ShardReport report;
      if (!r.U64(&rows) || !r.F64(&report.constants.L) || !r.F64(&report.constants.L0) ||
          !r.F64(&report.constants.L1) || !r.U64(&digest)) {
        return r.Damaged(absl::StrCat("truncated report of client ", i));
      }
      report.constants.rows = static_cast<int64_t>(rows);
      report.digest = digest;
      c.reports[i] = report;
    }
  }
  if (!r.done()) return r.Damaged("trailing bytes");
  return c;
}

absl::StatusOr<int64_t> WriteCheckpoint(const std::string& path,
                                        const AggregatorCheckpoint& checkpoint) {
  return WriteCheckpoint(path, checkpoint, checkpoint.x, checkpoint.g,
                         PointersTo(checkpoint.client_g));
}

absl::StatusOr<int64_t> WriteCheckpoint(const std::string& path,
                                        const AggregatorCheckpoint& checkpoint, ConstVectorRef x,
                                        ConstVectorRef g,
                                        absl::Span<const Vector* const> client_g) {
  const Held held{x, g, client_g};
  static std::atomic<int64_t> written{0};
  static const int64_t kill_at = KillAt();
  // The test hook: half a temporary file, then a kill -9 of ourselves.
  const bool kill = kill_at > 0 && ++written == kill_at;
  uint64_t size = 0;
  absl::Status s = WriteFileAtomically(
      path,
      [&](int fd, const std::string& tmp) {
        uint64_t kill_after = 0;
        if (kill) {
          CountingOutput counter;
          Encode(checkpoint, held, &counter);
          kill_after = std::max<uint64_t>(1, counter.size() / 2);
        }
        FileOutput file(fd, tmp, kill_after);
        size = Encode(checkpoint, held, &file);
        return file.Flush();
      },
      /*sync=*/true);
  if (!s.ok()) return s;
  return static_cast<int64_t>(size);
}

absl::StatusOr<AggregatorCheckpoint> ReadCheckpoint(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return absl::NotFoundError(absl::StrCat("no checkpoint at \"", path, "\""));
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read \"", path, "\": ", std::strerror(errno)));
  }
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      return absl::DataLossError(absl::StrCat("cannot read \"", path, "\": ", std::strerror(err)));
    }
    if (got == 0) break;
    bytes.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  return DecodeCheckpoint(bytes, path);
}

}  // namespace ef21
