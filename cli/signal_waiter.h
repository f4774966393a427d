// Turns SIGINT and SIGTERM into a callback on a dedicated thread, so long-running commands shut
// down gracefully (the callback runs outside signal context and may take locks).
//
// Construct it first thing in a command, before any thread starts: it blocks both signals in the
// calling thread, and threads started later inherit the mask. Children spawned with
// SpawnProcess() get an empty mask back. Thread-compatible.
#ifndef EF21_CLI_SIGNAL_WAITER_H_
#define EF21_CLI_SIGNAL_WAITER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace ef21 {

class SignalWaiter {
 public:
  // `on_signal` gets "SIGINT" or "SIGTERM"; it runs at most once per signal received.
  explicit SignalWaiter(std::function<void(const std::string&)> on_signal);
  ~SignalWaiter();
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  // The last signal received, "" if none.
  std::string received() const;

 private:
  std::function<void(const std::string&)> on_signal_;
  std::atomic<int> received_{0};
  // The thread sleeps in poll() on both: a signalfd for SIGINT and SIGTERM, and an eventfd the
  // destructor writes to, so a command's exit never waits for a timeout.
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

// What SIGINT and SIGTERM do to a long-running command (`ef21 aggregator`, `ef21 worker`): while it
// loads its data, the process ends at once (ExitWhileLoading); once its server or host is live, the
// signal goes to the stop function given to SetLive. Either way the signal is remembered:
// signalled() turns true and WaitForSignal() and LingerForMetrics() return.
//
// Construct it where a SignalWaiter goes (first thing, before any thread starts) and after the
// object the stop function uses, so that it is destroyed, and its thread joined, first.
// Thread-safe.
class SignalStop {
 public:
  // `command` names the process in messages: "aggregator", "worker".
  explicit SignalStop(std::string command);

  // From now on a signal calls `stop` with "SIGINT" or "SIGTERM" (under a lock: it must not block
  // on anything that waits for a signal).
  void SetLive(std::function<void(const std::string& signal_name)> stop);

  bool signalled() const { return signalled_.HasBeenNotified(); }
  // The last signal received, "" if none.
  std::string received() const { return waiter_.received(); }
  void WaitForSignal() const { signalled_.WaitForNotification(); }
  // Unless a signal came already, prints "ef21 <command>: keeping /metrics up for S s
  // (--linger-seconds; a signal ends it)" and waits that long or until a signal. Nothing when
  // seconds <= 0.
  void LingerForMetrics(double seconds) const;

 private:
  void OnSignal(const std::string& name);

  const std::string command_;
  absl::Mutex mu_;
  std::function<void(const std::string&)> stop_ ABSL_GUARDED_BY(mu_);
  absl::Notification signalled_;
  // Last: its thread calls OnSignal, so it starts after the members above and stops before them.
  SignalWaiter waiter_;
};

// For a signal that arrives while a command is still loading its data: prints
// "ef21 <command>: SIGTERM while loading; exiting" and ends the process at once with 128 + the
// signal number (the shell's convention), without running destructors.
[[noreturn]] void ExitWhileLoading(const std::string& command, const std::string& signal_name);

}  // namespace ef21

#endif  // EF21_CLI_SIGNAL_WAITER_H_
