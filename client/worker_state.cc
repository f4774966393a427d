#include "client/worker_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/run/run_log.h"

namespace ef21 {
namespace {

constexpr char kMagic[8] = {'E', 'F', '2', '1', 'W', 'S', 'T', '1'};
constexpr char kSuffix[] = ".state";

void AppendU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

}  // namespace

absl::Status WorkerStateStore::Options::Validate() const {
  if (dir.empty()) return absl::InvalidArgumentError("--state-dir is empty");
  if (run_id.empty() || run_id.find_first_of("/-") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("unusable run id \"", run_id, "\""));
  }
  if (first_client < 0 || last_client < first_client || dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad worker state range ", first_client, "-",
                                                   last_client, " or dimension ", dim));
  }
  return absl::OkStatus();
}

std::string WorkerStateStore::Prefix() const {
  return absl::StrCat(options_.first_client, "-", options_.last_client, "-");
}

std::string WorkerStateStore::PathOf(int64_t round) const {
  return absl::StrCat(options_.dir, "/", options_.run_id, "-", Prefix(), round, kSuffix);
}

absl::StatusOr<std::unique_ptr<WorkerStateStore>> WorkerStateStore::Open(Options options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (absl::Status s = MakeDirectories(options.dir); !s.ok()) return s;
  std::unique_ptr<WorkerStateStore> store(new WorkerStateStore(std::move(options)));
  DIR* dir = ::opendir(store->options_.dir.c_str());
  if (dir == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot list --state-dir \"", store->options_.dir, "\": ", std::strerror(errno)));
  }
  const std::string ours = absl::StrCat(store->options_.run_id, "-", store->Prefix());
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (!absl::EndsWith(name, kSuffix)) continue;
    if (absl::StartsWith(name, ours)) {
      int64_t round;
      const std::string middle =
          name.substr(ours.size(), name.size() - ours.size() - strlen(kSuffix));
      if (absl::SimpleAtoi(middle, &round) && round >= 0) store->rounds_.insert(round);
    } else {
      // <other run id>-<A>-<B>-<round>.state of the same clients: a previous run's.
      const size_t dash = name.find('-');
      if (dash != std::string::npos && absl::StartsWith(name.substr(dash + 1), store->Prefix())) {
        stale.push_back(name);
      }
    }
  }
  ::closedir(dir);
  for (const std::string& name : stale) ::unlink((store->options_.dir + "/" + name).c_str());
  // Until a RoundStart names the anchor, the oldest file may be it: keep it.
  store->anchor_ = store->rounds_.empty() ? -1 : *store->rounds_.begin();
  return store;
}

absl::StatusOr<int64_t> WorkerStateStore::Save(int64_t round,
                                               absl::Span<const Vector* const> states) {
  const int64_t count = options_.last_client - options_.first_client + 1;
  if (static_cast<int64_t>(states.size()) != count) {
    return absl::InternalError(
        absl::StrCat("saving ", states.size(), " states for ", count, " clients"));
  }
  std::string payload;
  payload.reserve(64 + options_.run_id.size() + states.size() * (8 + 8 * options_.dim));
  AppendU64(&payload, options_.run_id.size());
  payload += options_.run_id;
  AppendU64(&payload, static_cast<uint64_t>(round));
  AppendU64(&payload, static_cast<uint64_t>(options_.first_client));
  AppendU64(&payload, static_cast<uint64_t>(count));
  AppendU64(&payload, static_cast<uint64_t>(options_.dim));
  for (const Vector* v : states) {
    const int64_t size = v->size();
    if (size != 0 && size != options_.dim) {
      return absl::InternalError(
          absl::StrCat("a client state has ", size, " values; expected ", options_.dim));
    }
    AppendU64(&payload, static_cast<uint64_t>(size));
    payload.append(reinterpret_cast<const char*>(v->data()), sizeof(double) * size);
  }
  std::string bytes(kMagic, sizeof(kMagic));
  AppendU64(&bytes, payload.size());
  bytes += payload;
  AppendU64(&bytes, Checksum64(payload.data(), payload.size()));
  if (absl::Status s = WriteFileAtomically(PathOf(round), bytes); !s.ok()) return s;
  rounds_.insert(round);
  for (auto it = rounds_.begin(); it != rounds_.end();) {
    const int64_t r = *it;
    if (r == round || r == round - 1 || r == anchor_) {
      ++it;
      continue;
    }
    ::unlink(PathOf(r).c_str());
    it = rounds_.erase(it);
  }
  return static_cast<int64_t>(bytes.size());
}

absl::StatusOr<std::vector<Vector>> WorkerStateStore::Load(int64_t round) const {
  const int64_t count = options_.last_client - options_.first_client + 1;
  if (round == -1) return std::vector<Vector>(count);
  const std::string path = PathOf(round);
  if (rounds_.count(round) == 0)
    return absl::NotFoundError(absl::StrCat("no state of round ", round));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat("cannot read \"", path, "\": ", std::strerror(errno)));
  std::string bytes;
  char buffer[1 << 16];
  for (ssize_t got; (got = ::read(fd, buffer, sizeof(buffer))) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    bytes.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  auto damaged = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat("damaged worker state \"", path, "\": ", what));
  };
  uint64_t size = 0;
  if (bytes.size() < 24 || std::memcmp(bytes.data(), kMagic, 8) != 0) return damaged("no magic");
  std::memcpy(&size, bytes.data() + 8, 8);
  if (size != bytes.size() - 24) return damaged("wrong size");
  uint64_t checksum;
  std::memcpy(&checksum, bytes.data() + 16 + size, 8);
  const char* p = bytes.data() + 16;
  if (checksum != Checksum64(p, size)) return damaged("checksum mismatch");
  const char* end = p + size;
  auto u64 = [&](uint64_t* v) {
    if (end - p < 8) return false;
    std::memcpy(v, p, 8);
    p += 8;
    return true;
  };
  uint64_t id_size, r, first, n, dim;
  if (!u64(&id_size) || id_size != options_.run_id.size() ||
      end - p < static_cast<ptrdiff_t>(id_size) || std::string(p, id_size) != options_.run_id) {
    return damaged("another run");
  }
  p += id_size;
  if (!u64(&r) || !u64(&first) || !u64(&n) || !u64(&dim) || static_cast<int64_t>(r) != round ||
      static_cast<int64_t>(first) != options_.first_client || static_cast<int64_t>(n) != count ||
      static_cast<int64_t>(dim) != options_.dim) {
    return damaged("another round, client range or dimension");
  }
  std::vector<Vector> states(count);
  for (int64_t j = 0; j < count; ++j) {
    uint64_t values;
    if (!u64(&values) || (values != 0 && values != dim) ||
        static_cast<uint64_t>(end - p) < values * sizeof(double)) {
      return damaged(absl::StrCat("client ", options_.first_client + j));
    }
    states[j].resize(static_cast<int64_t>(values));
    std::memcpy(states[j].data(), p, values * sizeof(double));
    p += values * sizeof(double);
  }
  if (p != end) return damaged("trailing bytes");
  return states;
}

void WorkerStateStore::Anchor(int64_t round) { anchor_ = round; }

std::set<int64_t> WorkerStateStore::WholeRounds(const Options& options) {
  std::set<int64_t> whole;
  if (!options.Validate().ok()) return whole;
  DIR* dir = ::opendir(options.dir.c_str());
  if (dir == nullptr) return whole;
  const WorkerStateStore names(options);
  const std::string ours = absl::StrCat(options.run_id, "-", names.Prefix());
  std::vector<int64_t> candidates;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (!absl::EndsWith(name, kSuffix) || !absl::StartsWith(name, ours)) continue;
    int64_t round;
    if (absl::SimpleAtoi(name.substr(ours.size(), name.size() - ours.size() - strlen(kSuffix)),
                         &round) &&
        round >= 0) {
      candidates.push_back(round);
    }
  }
  ::closedir(dir);
  const int64_t count = options.last_client - options.first_client + 1;
  for (int64_t round : candidates) {
    const int fd = ::open(names.PathOf(round).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    // Magic, payload size, then the payload's header: run id, round, first client, count, dim.
    std::string head(16 + 8 + options.run_id.size() + 32, '\0');
    const ssize_t got = ::pread(fd, head.data(), head.size(), 0);
    const off_t size = ::lseek(fd, 0, SEEK_END);
    ::close(fd);
    if (got != static_cast<ssize_t>(head.size()) || std::memcmp(head.data(), kMagic, 8) != 0) {
      continue;
    }
    uint64_t fields[6];
    std::memcpy(&fields[0], head.data() + 8, 8);   // payload size
    std::memcpy(&fields[1], head.data() + 16, 8);  // run id size
    const size_t after_id = 24 + options.run_id.size();
    for (int f = 2; f < 6; ++f) std::memcpy(&fields[f], head.data() + after_id + 8 * (f - 2), 8);
    if (fields[0] + 24 != static_cast<uint64_t>(size) || fields[1] != options.run_id.size() ||
        head.compare(24, options.run_id.size(), options.run_id) != 0 ||
        fields[2] != static_cast<uint64_t>(round) ||
        fields[3] != static_cast<uint64_t>(options.first_client) ||
        fields[4] != static_cast<uint64_t>(count) ||
        fields[5] != static_cast<uint64_t>(options.dim)) {
      continue;
    }
    whole.insert(round);
  }
  return whole;
}

}  // namespace ef21
