// `ef21 run`: a whole federation on this machine — the aggregator in this process and
// --worker-processes `ef21 worker` processes of this same binary, each hosting a contiguous block
// of clients, connected over TCP on 127.0.0.1:0 (--transport=tcp, the default) or a Unix domain
// socket in a private directory (--transport=unix). Writes the same run directory and prints the
// same summary as `ef21 simulate`. The workers are started before the aggregator loads, as forks of
// this process that run `ef21 worker` without exec (ForkWorker); when the clients are known only
// after the aggregator has started (gRPC's threads then run here), they are spawned by exec.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "cli/round_memory.h"
#include "cli/signal_waiter.h"
#include "common/base/host_port.h"
#include "common/base/status_macros.h"
#include "common/problems/dataset.h"
#include "server/aggregator.h"

extern char** environ;

namespace ef21 {
namespace {

struct Child {
  pid_t pid = -1;
  int64_t first = 0, last = 0;
  bool exited = false;
  int status = 0;
};

// Starts `argv` with an empty signal mask in its own process group (a terminal's Ctrl-C reaches
// only `ef21 run`, which then stops the run for everyone gracefully); `stdin_fd` >= 0 becomes its
// standard input.
absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv, int stdin_fd = -1) {
  std::vector<char*> raw;
  for (const std::string& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
  raw.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&files, stdin_fd, STDIN_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, raw[0], &files, &attr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", strerror(rc)));
  return pid;
}

// Closes every descriptor from `first` on. In a child between fork and its own work: nothing of
// the parent's (the other workers' address pipes, the signal waiter's descriptors) stays open in
// it.
void CloseDescriptorsFrom(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, first, ~0U, 0) == 0) return;
#endif
  const long limit = ::sysconf(_SC_OPEN_MAX);
  for (long fd = first; fd < (limit > 0 ? limit : 65536); ++fd) ::close(static_cast<int>(fd));
}

// Starts `ef21 worker args` as a fork of this process, in its own process group with an empty
// signal mask and `stdin_fd` as its standard input, like SpawnProcess — but without exec: the
// child goes on in this process's loaded and relocated binary. exec, the dynamic linker and the
// static initializers cost each worker ~10 ms of CPU (a fifth of its start-up on a1a, where four
// workers start on two cores). The child runs WorkerCommand and ends with its exit status, never
// returning here (it must not run this process's destructors: the signal waiter's thread, for one,
// does not exist in it).
//
// Only while no thread but the SignalWaiter's runs here (gRPC is not initialized yet): the child
// gets only the calling thread, and nothing it uses may be locked by another. Its command line
// stays `ef21 run`'s; its name (ps -o comm, top) is "ef21-worker".
absl::StatusOr<pid_t> ForkWorker(const std::vector<std::string>& args, int stdin_fd) {
  std::fflush(nullptr);  // nothing buffered is written twice
  const pid_t pid = ::fork();
  if (pid < 0)
    return absl::InternalError(absl::StrCat("cannot start a worker: fork: ", strerror(errno)));
  if (pid > 0) return pid;
  if (::dup2(stdin_fd, STDIN_FILENO) < 0) std::_Exit(127);
  CloseDescriptorsFrom(3);
  ::setpgid(0, 0);
  sigset_t empty;
  sigemptyset(&empty);
  ::pthread_sigmask(SIG_SETMASK, &empty, nullptr);
  ::prctl(PR_SET_NAME, "ef21-worker", 0, 0, 0);
  const int status = WorkerCommand(args);
  std::fflush(nullptr);
  std::_Exit(status);
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exited with status ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("was killed by signal ", WTERMSIG(status));
  return "ended";
}

// Reaps children that have exited; returns the first failure.
absl::Status ReapChildren(std::vector<Child>* children, bool block) {
  absl::Status failure;
  for (size_t i = 0; i < children->size(); ++i) {
    Child& c = (*children)[i];
    if (c.exited) continue;
    const pid_t r = ::waitpid(c.pid, &c.status, block ? 0 : WNOHANG);
    if (r != c.pid) continue;
    c.exited = true;
    if (!(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0) && failure.ok()) {
      failure = absl::InternalError(absl::StrCat("worker process ", i, " (clients ", c.first, "-",
                                                 c.last, ") ", DescribeExit(c.status)));
    }
  }
  return failure;
}

void KillChildren(std::vector<Child>* children) {
  for (Child& c : *children) {
    if (!c.exited) ::kill(c.pid, SIGKILL);
  }
  (void)ReapChildren(children, /*block=*/true);
}

struct RunOptions {
  RunConfig config;
  int64_t worker_processes = 2;
  std::string metrics_listen;
  double linger_seconds = 0;
  std::string transport = "tcp";          // "tcp" or "unix"
  std::vector<std::string> problem_args;  // forwarded to the workers
};

// A directory only this user can enter, made for the run's Unix domain socket, and removed with
// the socket when the run ends: under $TMPDIR (or /tmp), named ef21-run-XXXXXX.
class SocketDir {
 public:
  static absl::StatusOr<std::unique_ptr<SocketDir>> Create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp", "/ef21-run-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrCat("cannot create a directory for the run's socket (",
                                              pattern, "): ", strerror(errno),
                                              "; set TMPDIR or use --transport=tcp"));
    }
    auto dir = std::unique_ptr<SocketDir>(new SocketDir(pattern));
    EF21_RETURN_IF_ERROR(CheckGrpcAddress(dir->address(),
                                          "the run's socket (TMPDIR too long? "
                                          "use --transport=tcp)"));
    return dir;
  }
  ~SocketDir() {
    ::unlink(socket_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string address() const { return absl::StrCat("unix:", socket_); }

 private:
  explicit SocketDir(std::string dir) : dir_(std::move(dir)), socket_(dir_ + "/aggregator.sock") {}
  std::string dir_, socket_;
};

// Worker w's metrics address: the aggregator's HOST:PORT with PORT + 1 + w (port 0: a free one,
// which the worker prints).
std::string WorkerMetricsListen(const std::string& listen, int64_t w) {
  const size_t colon = listen.rfind(':');
  int64_t port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(listen).substr(colon + 1), &port) || port == 0) {
    return listen;  // the worker reports a malformed address itself
  }
  return absl::StrCat(listen.substr(0, colon), ":", port + 1 + w);
}

// The number of clients before the problem is loaded, so that the workers can start loading
// their data while the aggregator loads its own (the two start-ups overlap instead of following
// each other): from the flags, or for a LIBSVM file split by row from a count of its rows (a
// pass over the file without parsing it); nullopt when the file cannot be read (the aggregator
// then says why) and for networks, whose workers take a thread per client from the problem.
std::optional<int64_t> ClientsFromFlags(const RunConfig& c) {
  if (c.problem == ProblemKind::kPolynomial) return c.clients == 0 ? 1 : c.clients;
  if (c.problem != ProblemKind::kLogreg) return std::nullopt;
  if (c.split == Split::kContiguous) return c.clients;
  if (c.data.empty()) return c.synthetic_rows;
  absl::StatusOr<int64_t> rows = CountLibsvmRows(c.data);
  if (!rows.ok() || *rows < 1) return std::nullopt;
  return *rows;
}

// A worker process started before the aggregator listens reads the address from this pipe
// (`ef21 worker --aggregator=-`); closing it unwritten tells the worker there is none.
struct AddressPipe {
  int read = -1, write = -1;
  AddressPipe() = default;
  AddressPipe(AddressPipe&& other) noexcept
      : read(std::exchange(other.read, -1)), write(std::exchange(other.write, -1)) {}
  AddressPipe& operator=(AddressPipe&&) = delete;
  ~AddressPipe() {
    Close(&read);
    Close(&write);
  }
  static void Close(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
};

// Writes `text` into a pipe whose reader may be gone: EPIPE, not a SIGPIPE that would end `ef21
// run` (the signal, blocked in this thread meanwhile, is taken back off).
void WriteWithoutSigpipe(int fd, const std::string& text) {
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous);
  if (::write(fd, text.data(), text.size()) < 0 && errno == EPIPE) {
    const timespec now = {0, 0};
    sigtimedwait(&pipe_signal, nullptr, &now);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

absl::Status Run(const RunOptions& o) {
  KeepRoundMemoryForReuse();
  std::unique_ptr<SocketDir> socket_dir;
  if (o.transport == "unix") {
    EF21_ASSIGN_OR_RETURN(socket_dir, SocketDir::Create());
  }
  std::unique_ptr<Aggregator> aggregator;
  std::atomic<bool> stopping{false};
  SignalWaiter signals([&](const std::string& name) {
    stopping = true;
    if (aggregator != nullptr) aggregator->Stop(name);
  });
  ProgressLine progress(AlgorithmName(o.config.algorithm), o.config.rounds);
  Aggregator::Options options;
  options.config = o.config;
  options.listen = socket_dir != nullptr ? socket_dir->address() : "127.0.0.1:0";
  options.metrics_listen = o.metrics_listen;
  options.observer = [&progress](const MetricsRow& row) { progress.Update(row); };
  // The workers are this command's own children. The aggregator's recomputation of every reported
  // loss (and gradient, on diagnostic rounds) redoes the clients' work on its own core: each
  // network client's forward and backward pass (2.4x a round's time on ResNet-20), a logistic
  // client's pass over its rows (~2x the CPU of `simulate` at d = 10^5). `ef21 run` trusts its own
  // workers; `ef21 aggregator` keeps verifying.
  options.verify_diagnostics = false;

  const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
  std::vector<Child> children;
  std::vector<AddressPipe> pipes;
  absl::Status failure;
  // Worker w hosts clients [n·w/p, n·(w+1)/p); a worker steps its clients on one thread per core
  // it may use, or — clients with long steps (networks) — on one thread per client, as `ef21
  // simulate` does (Problem::ClientStepsAreLong).
  auto spawn_workers = [&](int64_t n, bool long_steps, const std::string& address) {
    const int64_t p = std::max<int64_t>(1, std::min(o.worker_processes, n));
    // Forked before the aggregator starts (never for networks: ClientsFromFlags); spawned by exec
    // once gRPC runs here.
    const bool fork = address == "-";
    children.resize(p);
    if (address == "-") pipes.resize(p);
    for (int64_t w = 0; w < p && failure.ok(); ++w) {
      Child& c = children[w];
      c.first = n * w / p;
      c.last = n * (w + 1) / p - 1;
      const int64_t threads = long_steps ? c.last - c.first + 1 : std::max<int64_t>(1, cores / p);
      std::vector<std::string> argv = {
          "/proc/self/exe", "worker", absl::StrCat("--aggregator=", address),
          absl::StrCat("--client-ids=", c.first, "-", c.last), absl::StrCat("--threads=", threads),
          "--connect-timeout-seconds=10",
          // The aggregator below has the data and computes every
          // client's constants itself.
          "--report-constants=false", "--insecure"};
      if (!o.metrics_listen.empty()) {
        argv.push_back(absl::StrCat("--metrics-listen=", WorkerMetricsListen(o.metrics_listen, w)));
        argv.push_back(absl::StrCat("--linger-seconds=", o.linger_seconds));
      }
      argv.insert(argv.end(), o.problem_args.begin(), o.problem_args.end());
      int stdin_fd = -1;
      if (!pipes.empty()) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
          failure = absl::InternalError(absl::StrCat("cannot create a pipe: ", strerror(errno)));
          c.exited = true;
          break;
        }
        pipes[w].read = stdin_fd = fds[0];
        pipes[w].write = fds[1];
      }
      absl::StatusOr<pid_t> pid =
          fork ? ForkWorker(std::vector<std::string>(argv.begin() + 2, argv.end()), stdin_fd)
               : SpawnProcess(argv, stdin_fd);
      if (!pipes.empty()) AddressPipe::Close(&pipes[w].read);
      if (!pid.ok()) {
        failure = pid.status();
        c.exited = true;
      } else {
        c.pid = *pid;
      }
    }
    for (int64_t w = static_cast<int64_t>(children.size()) - 1; w >= 0 && !failure.ok(); --w) {
      if (children[w].pid < 0) children[w].exited = true;
    }
  };
  const std::optional<int64_t> early_clients = ClientsFromFlags(o.config);
  if (early_clients) spawn_workers(*early_clients, /*long_steps=*/false, "-");

  absl::StatusOr<std::unique_ptr<Aggregator>> started =
      failure.ok() ? Aggregator::Start(options) : failure;
  if (!started.ok()) {
    pipes.clear();  // the early workers read end of input and exit
    KillChildren(&children);
    return started.status();
  }
  aggregator = *std::move(started);
  if (stopping) aggregator->Stop(signals.received());
  if (aggregator->metrics().port() != 0) {
    std::fprintf(stderr, "ef21 run: aggregator metrics on port %d; worker w's on %s\n",
                 aggregator->metrics().port(),
                 WorkerMetricsListen(o.metrics_listen, 0) == o.metrics_listen
                     ? "a free port (each worker prints it)"
                     : absl::StrCat("port ", aggregator->metrics().port(), " + 1 + w").c_str());
  }

  const MethodContext& context = aggregator->coordinator().context();
  if (!early_clients) {
    spawn_workers(context.num_clients(), context.problem->ClientStepsAreLong(),
                  aggregator->address());
  } else if (*early_clients != context.num_clients()) {
    failure = absl::InternalError(absl::StrCat("the workers were started for ", *early_clients,
                                               " clients (from the flags or the data file's rows); "
                                               "the problem has ",
                                               context.num_clients()));
  } else {
    // The early workers learn where the aggregator listens.
    const std::string line = aggregator->address() + "\n";
    for (AddressPipe& pipe : pipes) {
      // A worker that already exited (bad flags) closed its end: the reaping below reports it.
      WriteWithoutSigpipe(pipe.write, line);
      AddressPipe::Close(&pipe.write);
    }
  }
  // Wait for the run, watching the workers: one that fails ends the run.
  while (failure.ok() && !aggregator->Wait(absl::Milliseconds(50))) {
    failure = ReapChildren(&children, /*block=*/false);
  }
  if (!failure.ok()) {
    aggregator->Stop("a worker failed");
    KillChildren(&children);
  }
  absl::Status run_status = aggregator->Shutdown();
  // The workers linger as long (with --metrics-listen), at the same time.
  if (o.linger_seconds > 0) absl::SleepFor(absl::Seconds(o.linger_seconds));
  if (failure.ok()) {
    // Workers exit once they have read Finish (and lingered).
    failure = ReapChildren(&children, /*block=*/true);
  }
  EF21_RETURN_IF_ERROR(failure);
  EF21_RETURN_IF_ERROR(run_status);
  if (!aggregator->coordinator().complete()) {
    std::fprintf(stderr, "ef21 run: stopped (%s) %s\n", signals.received().c_str(),
                 DescribeClosedRounds(aggregator->coordinator().rounds_closed()).c_str());
    return absl::OkStatus();
  }
  std::fputs(FormatSummary(AlgorithmName(o.config.algorithm), aggregator->log().summary()).c_str(),
             stdout);
  std::fprintf(stderr,
               "ef21 run: waited %.3f s for workers (in the wall time, not in "
               "ef21_round_duration_seconds)\n",
               aggregator->coordinator().waiting_seconds());
  return absl::OkStatus();
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  RunOptions o;
  auto flags = NewCommandFlags(
      "run",
      "Runs the federation on loopback: an aggregator in this process and worker\n"
      "processes over gRPC, with the flags of `ef21 simulate`. Writes the same run\n"
      "directory (config.json, metrics.csv, summary.json) and prints the same summary.");
  const std::string g = "Federation";
  AddInt(flags.get(), "worker-processes", &o.worker_processes,
         "worker processes, each hosting a contiguous block of clients")
      ->group(g);
  AddString(flags.get(), "metrics-listen", &o.metrics_listen, "HOST:PORT",
            "HOST:PORT for the aggregator's Prometheus /metrics; worker process w\n"
            "serves its own on HOST:PORT+1+w (port 0: free ports, printed)")
      ->default_str("none")
      ->group(g);
  AddDouble(flags.get(), "linger-seconds", &o.linger_seconds,
            "keep every /metrics up this long after the last round")
      ->group(g);
  AddString(flags.get(), "transport", &o.transport, "tcp|unix",
            "how the workers reach the aggregator: tcp (127.0.0.1 on a free\n"
            "port, which any local user can reach) or unix (a Unix domain socket\n"
            "in a directory under $TMPDIR only this user can enter, removed at\n"
            "the end)")
      ->group(g);
  AddProblemFlags(flags.get(), &o.config);
  AddAlgorithmFlags(flags.get(), &o.config);
  return RunSubcommand(*flags, args, [&] {
    if (o.worker_processes < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--worker-processes must be >= 1; got ", o.worker_processes));
    }
    if (o.linger_seconds < 0) return absl::InvalidArgumentError("--linger-seconds must be >= 0");
    if (o.transport != "unix" && o.transport != "tcp") {
      return absl::InvalidArgumentError(
          absl::StrCat("--transport: expected tcp or unix; got \"", o.transport, "\""));
    }
    EF21_RETURN_IF_ERROR(o.config.Validate());
    // The problem flags as given (on the command line or in --config), forwarded to the workers.
    o.problem_args = GivenProblemFlags(*flags);
    return Run(o);
  });
}

}  // namespace ef21
