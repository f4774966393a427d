#include "cli/signal_waiter.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ef21 {
namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

SignalWaiter::SignalWaiter(std::function<void(const std::string&)> on_signal)
    : on_signal_(std::move(on_signal)) {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (signal_fd_ < 0 || wake_fd_ < 0) {
    // Only when the process has run out of file descriptors, first thing in a command.
    std::fprintf(stderr, "ef21: cannot create the signal waiter's %s: %s\n",
                 signal_fd_ < 0 ? "signalfd" : "eventfd", std::strerror(errno));
    std::exit(1);
  }
  thread_ = std::thread([this] {
    pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    while (true) {
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        std::fprintf(stderr, "ef21: the signal waiter's poll failed: %s\n", std::strerror(errno));
        return;
      }
      if (fds[1].revents != 0) return;  // the destructor
      signalfd_siginfo info;
      if (fds[0].revents != 0 && read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
        const int sig = static_cast<int>(info.ssi_signo);
        if (sig == SIGINT || sig == SIGTERM) {
          received_ = sig;
          on_signal_(sig == SIGINT ? "SIGINT" : "SIGTERM");
        }
      }
    }
  });
}

SignalWaiter::~SignalWaiter() {
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) != sizeof(one)) {
    std::fprintf(stderr, "ef21: cannot wake the signal waiter: %s\n", std::strerror(errno));
  }
  thread_.join();
  close(signal_fd_);
  close(wake_fd_);
}

void ExitWhileLoading(const std::string& command, const std::string& signal_name) {
  std::fprintf(stderr, "ef21 %s: %s while loading; exiting\n", command.c_str(),
               signal_name.c_str());
  std::fflush(stderr);
  std::_Exit(128 + (signal_name == "SIGINT" ? SIGINT : SIGTERM));
}

SignalStop::SignalStop(std::string command)
    : command_(std::move(command)), waiter_([this](const std::string& name) { OnSignal(name); }) {}

void SignalStop::SetLive(std::function<void(const std::string&)> stop) {
  absl::MutexLock lock(&mu_);
  stop_ = std::move(stop);
}

void SignalStop::OnSignal(const std::string& name) {
  absl::MutexLock lock(&mu_);
  // Loading holds nothing worth saving (the run directory is written after it): leave now rather
  // than after a data set that may take minutes to read.
  if (!stop_) ExitWhileLoading(command_, name);
  // Before stopping: what the stop ends (a host's Run, a server's Wait) finds the signal noted.
  if (!signalled_.HasBeenNotified()) signalled_.Notify();
  stop_(name);
}

void SignalStop::LingerForMetrics(double seconds) const {
  if (!(seconds > 0) || signalled()) return;
  std::fprintf(stderr,
               "ef21 %s: keeping /metrics up for %g s (--linger-seconds; a signal ends it)\n",
               command_.c_str(), seconds);
  (void)signalled_.WaitForNotificationWithTimeout(absl::Seconds(seconds));
}

std::string SignalWaiter::received() const {
  const int sig = received_;
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "";
}

}  // namespace ef21
