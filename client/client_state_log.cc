#include "client/client_state_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/base/status_macros.h"
#include "common/run/run_log.h"

namespace ef21 {
namespace {

constexpr char kSnapshotMagic[8] = {'E', 'F', '2', '1', 'G', 'S', 'N', '1'};
constexpr char kLogMagic[8] = {'E', 'F', '2', '1', 'G', 'L', 'G', '1'};
constexpr char kSnapshotSuffix[] = ".gsnap";
constexpr char kLogSuffix[] = ".glog";
constexpr uint64_t kMessages = 1;
constexpr uint64_t kAnchor = 2;

void AppendU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

// Frames a payload: its length, the payload, its checksum.
void AppendFramed(std::string* out, const std::string& payload) {
  AppendU64(out, payload.size());
  *out += payload;
  AppendU64(out, Checksum64(payload.data(), payload.size()));
}

// Reads a framed payload at *offset; false (offset unchanged) when short or damaged.
bool ReadFramed(const std::string& bytes, size_t* offset, std::string_view* payload) {
  uint64_t size;
  if (bytes.size() - *offset < 16) return false;
  std::memcpy(&size, bytes.data() + *offset, 8);
  if (size > bytes.size() - *offset - 16) return false;
  uint64_t checksum;
  const char* p = bytes.data() + *offset + 8;
  std::memcpy(&checksum, p + size, 8);
  if (checksum != Checksum64(p, size)) return false;
  *payload = std::string_view(p, size);
  *offset += 16 + size;
  return true;
}

// Reads fields off a payload, failing once it runs short.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
  bool U64(uint64_t* v) { return Bytes(v, 8); }
  bool Bytes(void* out, size_t size) {
    if (static_cast<size_t>(end_ - p_) < size) return false;
    std::memcpy(out, p_, size);
    p_ += size;
    return true;
  }
  bool String(std::string* s, size_t size) {
    if (static_cast<size_t>(end_ - p_) < size) return false;
    s->assign(p_, size);
    p_ += size;
    return true;
  }
  bool done() const { return p_ == end_; }

 private:
  const char* p_;
  const char* end_;
};

absl::Status ReadWholeFile(const std::string& path, std::string* bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string message = absl::StrCat("cannot read \"", path, "\": ", std::strerror(errno));
    return errno == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  bytes->clear();
  char buffer[1 << 16];
  for (ssize_t got; (got = ::read(fd, buffer, sizeof(buffer))) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      ::close(fd);
      return absl::DataLossError(absl::StrCat("cannot read \"", path, "\": ", std::strerror(err)));
    }
    bytes->append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  return absl::OkStatus();
}

// <run id>-<A>-<B>-<base><suffix> with the given "<A>-<B>-": the run id and base, or false.
bool ParseName(const std::string& name, const std::string& prefix, const char* suffix,
               std::string* run_id, int64_t* base) {
  if (!absl::EndsWith(name, suffix)) return false;
  const size_t dash = name.find('-');
  if (dash == std::string::npos || dash == 0) return false;
  const std::string rest = name.substr(dash + 1, name.size() - dash - 1 - std::strlen(suffix));
  if (!absl::StartsWith(rest, prefix)) return false;
  if (!absl::SimpleAtoi(rest.substr(prefix.size()), base) || *base < 0) return false;
  *run_id = name.substr(0, dash);
  return true;
}

}  // namespace

absl::Status ClientStateLog::Options::Validate() const {
  if (dir.empty()) return absl::InvalidArgumentError("--state-dir is empty");
  if (first_client < 0 || last_client < first_client || dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad client state range ", first_client, "-",
                                                   last_client, " or dimension ", dim));
  }
  return absl::OkStatus();
}

ClientStateLog::ClientStateLog(Options options) : options_(std::move(options)) {
  chain_last_.assign(count(), kFreshClientChain);
  chain_prev_ = chain_last_;
  chain_anchor_ = chain_last_;
}

ClientStateLog::~ClientStateLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ClientStateLog::Prefix() const {
  return absl::StrCat(options_.first_client, "-", options_.last_client, "-");
}

std::string ClientStateLog::PathOf(int64_t base, const char* suffix) const {
  return absl::StrCat(options_.dir, "/", run_id_, "-", Prefix(), base, suffix);
}

int64_t ClientStateLog::snapshot_bytes() const {
  return 64 + static_cast<int64_t>(run_id_.size()) + count() * (8 + 8 * options_.dim);
}

std::string ClientStateLog::LogHeader(int64_t base) const {
  std::string payload;
  AppendU64(&payload, run_id_.size());
  payload += run_id_;
  AppendU64(&payload, static_cast<uint64_t>(base));
  AppendU64(&payload, static_cast<uint64_t>(options_.first_client));
  AppendU64(&payload, static_cast<uint64_t>(count()));
  AppendU64(&payload, static_cast<uint64_t>(options_.dim));
  std::string bytes(kLogMagic, sizeof(kLogMagic));
  AppendFramed(&bytes, payload);
  return bytes;
}

std::string ClientStateLog::EncodeRecord(const Record& record) {
  std::string payload;
  AppendU64(&payload, record.anchor ? kAnchor : kMessages);
  AppendU64(&payload, static_cast<uint64_t>(record.round));
  AppendU64(&payload, record.entries.size());
  for (const Entry& e : record.entries) {
    AppendU64(&payload, e.client);
    AppendU64(&payload, e.c.dense ? 1 : 0);
    AppendU64(&payload, e.c.values.size());
    if (!e.c.dense) {
      payload.append(reinterpret_cast<const char*>(e.c.indices.data()),
                     sizeof(int32_t) * e.c.indices.size());
    }
    payload.append(reinterpret_cast<const char*>(e.c.values.data()),
                   sizeof(double) * e.c.values.size());
  }
  std::string bytes;
  AppendFramed(&bytes, payload);
  return bytes;
}

absl::StatusOr<std::unique_ptr<ClientStateLog>> ClientStateLog::Open(Options options) {
  EF21_RETURN_IF_ERROR(options.Validate());
  EF21_RETURN_IF_ERROR(MakeDirectories(options.dir));
  std::unique_ptr<ClientStateLog> log(new ClientStateLog(std::move(options)));
  DIR* dir = ::opendir(log->options_.dir.c_str());
  if (dir == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot list --state-dir \"", log->options_.dir,
                                                    "\": ", std::strerror(errno)));
  }
  // Per run: the bases with a snapshot, those with a log, and the newest log's time.
  struct Found {
    std::map<int64_t, bool> has_snapshot;
    std::map<int64_t, bool> has_log;
    int64_t newest = 0;
  };
  std::map<std::string, Found> runs;
  const std::string prefix = log->Prefix();
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    std::string run;
    int64_t base;
    if (ParseName(name, prefix, kSnapshotSuffix, &run, &base)) {
      runs[run].has_snapshot[base] = true;
    } else if (ParseName(name, prefix, kLogSuffix, &run, &base)) {
      runs[run].has_log[base] = true;
      struct stat st;
      if (::stat((log->options_.dir + "/" + name).c_str(), &st) == 0) {
        runs[run].newest = std::max<int64_t>(runs[run].newest, st.st_mtime);
      }
    }
  }
  ::closedir(dir);
  // The run whose log was written last; its newest base with a complete pair (a crash during a
  // compaction can leave the next pair half written: the previous one is still whole).
  const std::string* chosen = nullptr;
  int64_t chosen_base = -1;
  int64_t newest = -1;
  for (const auto& [run, found] : runs) {
    int64_t best = -1;
    for (const auto& [base, unused] : found.has_log) {
      if (base == 0 || found.has_snapshot.count(base) > 0) best = std::max(best, base);
    }
    if (best >= 0 && found.newest > newest) {
      chosen = &run;
      chosen_base = best;
      newest = found.newest;
    }
  }
  if (chosen == nullptr) return log;
  log->run_id_ = *chosen;
  log->base_ = chosen_base;
  EF21_RETURN_IF_ERROR(log->Reload());
  return log;
}

absl::Status ClientStateLog::Bind(const std::string& run_id) {
  if (run_id.empty() || run_id.find_first_of("/-") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("unusable run id \"", run_id, "\""));
  }
  if (run_id == run_id_) {
    RemoveOthers(/*keep=*/true);
    return absl::OkStatus();
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  RemoveOthers(/*keep=*/false);
  run_id_ = run_id;
  base_ = 0;
  last_ = -1;
  anchor_ = -1;
  log_bytes_ = 0;
  chain_last_.assign(count(), kFreshClientChain);
  chain_prev_ = chain_last_;
  chain_anchor_ = chain_last_;
  return absl::OkStatus();
}

void ClientStateLog::RemoveOthers(bool keep) {
  DIR* dir = ::opendir(options_.dir.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> remove;
  const std::string prefix = Prefix();
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    std::string run;
    int64_t base;
    if (ParseName(name, prefix, kSnapshotSuffix, &run, &base) ||
        ParseName(name, prefix, kLogSuffix, &run, &base)) {
      if (!keep || run != run_id_ || base != base_) remove.push_back(name);
    }
  }
  ::closedir(dir);
  for (const std::string& name : remove) ::unlink((options_.dir + "/" + name).c_str());
}

absl::Status ClientStateLog::ReadSnapshot(State* state) const {
  state->g.assign(count(), Vector::Zero(options_.dim));
  state->chains.assign(count(), kFreshClientChain);
  if (base_ == 0) return absl::OkStatus();
  const std::string path = PathOf(base_, kSnapshotSuffix);
  std::string bytes;
  EF21_RETURN_IF_ERROR(ReadWholeFile(path, &bytes));
  auto damaged = [&](const std::string& what) {
    return absl::DataLossError(
        absl::StrCat("damaged client state snapshot \"", path, "\": ", what));
  };
  size_t offset = sizeof(kSnapshotMagic);
  std::string_view payload;
  if (bytes.size() < offset || std::memcmp(bytes.data(), kSnapshotMagic, offset) != 0) {
    return damaged("no magic");
  }
  if (!ReadFramed(bytes, &offset, &payload) || offset != bytes.size()) {
    return damaged("wrong size or checksum");
  }
  Reader in(payload);
  uint64_t id_size, base, first, n, dim;
  std::string id;
  if (!in.U64(&id_size) || !in.String(&id, id_size) || id != run_id_ || !in.U64(&base) ||
      !in.U64(&first) || !in.U64(&n) || !in.U64(&dim) || static_cast<int64_t>(base) != base_ ||
      static_cast<int64_t>(first) != options_.first_client || static_cast<int64_t>(n) != count() ||
      static_cast<int64_t>(dim) != options_.dim) {
    return damaged("another run, round, client range or dimension");
  }
  for (int64_t j = 0; j < count(); ++j) {
    if (!in.U64(&state->chains[j]) ||
        !in.Bytes(state->g[j].data(), sizeof(double) * options_.dim)) {
      return damaged(absl::StrCat("client ", options_.first_client + j));
    }
  }
  if (!in.done()) return damaged("trailing bytes");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ClientStateLog::Record>> ClientStateLog::ReadLog(
    int64_t* valid_end) const {
  std::vector<Record> records;
  *valid_end = 0;
  const std::string path = PathOf(base_, kLogSuffix);
  std::string bytes;
  if (absl::Status s = ReadWholeFile(path, &bytes); !s.ok()) {
    if (s.code() == absl::StatusCode::kNotFound && base_ == 0) return records;
    return s;
  }
  auto damaged = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat("damaged client state log \"", path, "\": ", what));
  };
  size_t offset = sizeof(kLogMagic);
  std::string_view payload;
  if (bytes.size() < offset || std::memcmp(bytes.data(), kLogMagic, offset) != 0 ||
      !ReadFramed(bytes, &offset, &payload)) {
    return damaged("no header");
  }
  Reader header(payload);
  uint64_t id_size, base, first, n, dim;
  std::string id;
  if (!header.U64(&id_size) || !header.String(&id, id_size) || id != run_id_ ||
      !header.U64(&base) || !header.U64(&first) || !header.U64(&n) || !header.U64(&dim) ||
      static_cast<int64_t>(base) != base_ || static_cast<int64_t>(first) != options_.first_client ||
      static_cast<int64_t>(n) != count() || static_cast<int64_t>(dim) != options_.dim) {
    return damaged("another run, round, client range or dimension");
  }
  *valid_end = static_cast<int64_t>(offset);
  // Records up to the first one that is torn or does not parse (a crash mid-append).
  while (ReadFramed(bytes, &offset, &payload)) {
    Reader in(payload);
    Record record;
    uint64_t kind, round, entries;
    if (!in.U64(&kind) || !in.U64(&round) || !in.U64(&entries) ||
        (kind != kMessages && kind != kAnchor) ||
        round > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      break;
    }
    record.anchor = kind == kAnchor;
    record.round = static_cast<int64_t>(round);
    bool ok = entries <= static_cast<uint64_t>(count());
    for (uint64_t e = 0; ok && e < entries; ++e) {
      Entry entry;
      uint64_t client, dense, nnz;
      ok = in.U64(&client) && in.U64(&dense) && in.U64(&nnz) &&
           client < static_cast<uint64_t>(count()) && dense <= 1 &&
           nnz <= static_cast<uint64_t>(options_.dim) &&
           (dense == 0 || nnz == static_cast<uint64_t>(options_.dim));
      if (!ok) break;
      entry.client = static_cast<uint32_t>(client);
      entry.c.dim = options_.dim;
      entry.c.dense = dense == 1;
      if (!entry.c.dense) {
        entry.c.indices.resize(nnz);
        ok = in.Bytes(entry.c.indices.data(), sizeof(int32_t) * nnz);
        for (int32_t i : entry.c.indices) ok = ok && i >= 0 && i < options_.dim;
      }
      entry.c.values.resize(nnz);
      ok = ok && in.Bytes(entry.c.values.data(), sizeof(double) * nnz);
      record.entries.push_back(std::move(entry));
    }
    if (!ok || !in.done()) break;
    record.end = static_cast<int64_t>(offset);
    *valid_end = record.end;
    records.push_back(std::move(record));
  }
  return records;
}

void ClientStateLog::Apply(const std::vector<Record>& records, int64_t round,
                           const ServerMethod* method, State* state) {
  for (const Record& record : records) {
    if (record.anchor || record.round > round) continue;
    for (const Entry& e : record.entries) {
      if (method != nullptr) method->ApplyToClientCopy(e.c, &state->g[e.client]);
      state->chains[e.client] =
          ChainClientState(state->chains[e.client], static_cast<uint64_t>(record.round), e.c);
    }
  }
}

absl::Status ClientStateLog::Reload() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  State start;
  EF21_RETURN_IF_ERROR(ReadSnapshot(&start));
  int64_t valid_end = 0;
  EF21_ASSIGN_OR_RETURN(std::vector<Record> records, ReadLog(&valid_end));
  const std::string path = PathOf(base_, kLogSuffix);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && st.st_size > valid_end) {
    // A torn last record: its round's updates never left (they are logged before sending).
    if (::truncate(path.c_str(), valid_end) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot cut the torn end of \"", path, "\": ", std::strerror(errno)));
    }
  }
  log_bytes_ = valid_end;
  last_ = base_ - 1;
  anchor_ = base_ - 1;
  for (const Record& record : records) {
    if (record.anchor) {
      anchor_ = record.round;
    } else {
      last_ = std::max(last_, record.round);
    }
  }
  State at = start;
  Apply(records, last_, nullptr, &at);
  chain_last_ = at.chains;
  at = start;
  Apply(records, last_ - 1, nullptr, &at);
  chain_prev_ = at.chains;
  at = start;
  Apply(records, anchor_, nullptr, &at);
  chain_anchor_ = at.chains;
  return absl::OkStatus();
}

std::vector<ClientStateLog::Held> ClientStateLog::held() const {
  std::vector<Held> held;
  if (run_id_.empty() || last_ < 0) return held;
  std::map<int64_t, const std::vector<uint64_t>*> rounds;
  if (anchor_ >= base_ - 1 && anchor_ >= 0) rounds[anchor_] = &chain_anchor_;
  if (last_ - 1 >= base_ - 1 && last_ - 1 >= 0) rounds[last_ - 1] = &chain_prev_;
  rounds[last_] = &chain_last_;
  for (const auto& [round, chains] : rounds) held.push_back({round, *chains});
  return held;
}

absl::Status ClientStateLog::OpenForAppend() {
  if (fd_ >= 0) return absl::OkStatus();
  if (run_id_.empty()) return absl::InternalError("the client state log is bound to no run");
  const std::string path = PathOf(base_, kLogSuffix);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const std::string header = LogHeader(base_);
    EF21_RETURN_IF_ERROR(WriteFileAtomically(path, header));
    log_bytes_ = static_cast<int64_t>(header.size());
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot append to \"", path, "\": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ClientStateLog::WriteAll(const std::string& bytes) {
  EF21_RETURN_IF_ERROR(OpenForAppend());
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      return absl::DataLossError(absl::StrCat("cannot append to \"", PathOf(base_, kLogSuffix),
                                              "\": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(w);
  }
  log_bytes_ += static_cast<int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ClientStateLog::Append(int64_t round, absl::Span<const size_t> hosted,
                                               absl::Span<const SparseVector* const> messages) {
  if (round < last_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "logging round ", round, "'s messages after round ", last_, "'s (rewind first)"));
  }
  if (hosted.size() != messages.size()) {
    return absl::InternalError(
        absl::StrCat("logging ", messages.size(), " messages for ", hosted.size(), " clients"));
  }
  Record record;
  record.round = round;
  for (size_t e = 0; e < hosted.size(); ++e) {
    if (hosted[e] >= static_cast<size_t>(count()) || messages[e]->dim != options_.dim) {
      return absl::InternalError(absl::StrCat("logging a message of dimension ", messages[e]->dim,
                                              " for hosted client ", hosted[e]));
    }
    record.entries.push_back({static_cast<uint32_t>(hosted[e]), *messages[e]});
  }
  const std::string bytes = EncodeRecord(record);
  EF21_RETURN_IF_ERROR(WriteAll(bytes));
  if (round > last_) {
    chain_prev_ = chain_last_;
    last_ = round;
  }
  for (const Entry& e : record.entries) {
    chain_last_[e.client] =
        ChainClientState(chain_last_[e.client], static_cast<uint64_t>(round), e.c);
  }
  return static_cast<int64_t>(bytes.size());
}

absl::Status ClientStateLog::Anchor(int64_t round, const ServerMethod& method) {
  if (round < base_ - 1 || round == anchor_) return absl::OkStatus();
  std::vector<uint64_t> chains;
  if (round >= last_) {
    chains = chain_last_;
  } else if (round == last_ - 1) {
    chains = chain_prev_;
  } else {
    EF21_ASSIGN_OR_RETURN(State state, Rebuild(round, method));
    chains = std::move(state.chains);
  }
  Record record;
  record.round = round;
  record.anchor = true;
  EF21_RETURN_IF_ERROR(WriteAll(EncodeRecord(record)));
  anchor_ = round;
  chain_anchor_ = std::move(chains);
  if (log_bytes_ > snapshot_bytes() && round >= base_) return Compact(round, method);
  return absl::OkStatus();
}

absl::StatusOr<ClientStateLog::State> ClientStateLog::Rebuild(int64_t round,
                                                              const ServerMethod& method) const {
  if (round < base_ - 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("the client state as of round ", round, " is no longer kept (--state-dir ",
                     options_.dir, " holds rounds ", base_ - 1, " and later)"));
  }
  State state;
  EF21_RETURN_IF_ERROR(ReadSnapshot(&state));
  int64_t valid_end = 0;
  EF21_ASSIGN_OR_RETURN(std::vector<Record> records, ReadLog(&valid_end));
  Apply(records, round, &method, &state);
  return state;
}

absl::Status ClientStateLog::Compact(int64_t round, const ServerMethod& method) {
  EF21_ASSIGN_OR_RETURN(State state, Rebuild(round, method));
  int64_t valid_end = 0;
  EF21_ASSIGN_OR_RETURN(std::vector<Record> records, ReadLog(&valid_end));
  const int64_t base = round + 1;
  // The new log first: a snapshot is used only with its log, so a crash before the snapshot's
  // rename leaves the old pair in use.
  std::string log = LogHeader(base);
  for (const Record& record : records) {
    if (record.round >= base) log += EncodeRecord(record);
  }
  EF21_RETURN_IF_ERROR(WriteFileAtomically(PathOf(base, kLogSuffix), log));
  std::string payload;
  AppendU64(&payload, run_id_.size());
  payload += run_id_;
  AppendU64(&payload, static_cast<uint64_t>(base));
  AppendU64(&payload, static_cast<uint64_t>(options_.first_client));
  AppendU64(&payload, static_cast<uint64_t>(count()));
  AppendU64(&payload, static_cast<uint64_t>(options_.dim));
  for (int64_t j = 0; j < count(); ++j) {
    AppendU64(&payload, state.chains[j]);
    payload.append(reinterpret_cast<const char*>(state.g[j].data()), sizeof(double) * options_.dim);
  }
  std::string snapshot(kSnapshotMagic, sizeof(kSnapshotMagic));
  AppendFramed(&snapshot, payload);
  EF21_RETURN_IF_ERROR(WriteFileAtomically(PathOf(base, kSnapshotSuffix), snapshot));
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  const int64_t old = base_;
  base_ = base;
  log_bytes_ = static_cast<int64_t>(log.size());
  if (old > 0) ::unlink(PathOf(old, kSnapshotSuffix).c_str());
  ::unlink(PathOf(old, kLogSuffix).c_str());
  chain_anchor_ = std::move(state.chains);
  anchor_ = round;
  if (last_ < round) last_ = round;
  return absl::OkStatus();
}

absl::Status ClientStateLog::Rewind(absl::Span<const int64_t> keep_through) {
  if (static_cast<int64_t>(keep_through.size()) != count()) {
    return absl::InternalError(
        absl::StrCat("rewinding ", keep_through.size(), " clients of ", count()));
  }
  if (run_id_.empty()) return absl::OkStatus();
  const int64_t lowest = *std::min_element(keep_through.begin(), keep_through.end());
  int64_t valid_end = 0;
  EF21_ASSIGN_OR_RETURN(std::vector<Record> records, ReadLog(&valid_end));
  bool changed = false;
  std::string log = LogHeader(base_);
  for (Record& record : records) {
    if (record.anchor) {
      if (record.round > lowest) {
        changed = true;
        continue;
      }
    } else {
      const size_t before = record.entries.size();
      record.entries.erase(
          std::remove_if(record.entries.begin(), record.entries.end(),
                         [&](const Entry& e) { return record.round > keep_through[e.client]; }),
          record.entries.end());
      if (record.entries.size() != before) changed = true;
      if (record.entries.empty()) continue;
    }
    log += EncodeRecord(record);
  }
  if (!changed) return absl::OkStatus();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  EF21_RETURN_IF_ERROR(WriteFileAtomically(PathOf(base_, kLogSuffix), log));
  return Reload();
}

}  // namespace ef21
