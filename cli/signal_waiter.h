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
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// For a signal that arrives while a command is still loading its data: prints
// "ef21 <command>: SIGTERM while loading; exiting" and ends the process at once with 128 + the
// signal number (the shell's convention), without running destructors.
[[noreturn]] void ExitWhileLoading(const std::string& command, const std::string& signal_name);

}  // namespace ef21

#endif  // EF21_CLI_SIGNAL_WAITER_H_
