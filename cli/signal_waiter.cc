#include "cli/signal_waiter.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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
  thread_ = std::thread([this] {
    const sigset_t signals = ShutdownSignals();
    // sigtimedwait with a short timeout so the destructor can end the thread.
    const timespec timeout = {0, 100 * 1000 * 1000};
    while (!stop_) {
      const int sig = sigtimedwait(&signals, nullptr, &timeout);
      if (sig == SIGINT || sig == SIGTERM) {
        received_ = sig;
        on_signal_(sig == SIGINT ? "SIGINT" : "SIGTERM");
      }
    }
  });
}

SignalWaiter::~SignalWaiter() {
  stop_ = true;
  thread_.join();
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
