#include "cli/signal_waiter.h"

#include <signal.h>
#include <unistd.h>

#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace ef21 {
namespace {

// Sends `sig` to this process and waits until a fresh SignalWaiter's callback has it; then the
// waiter is destroyed without a signal (its thread woken, not timed out: the join returns).
std::string DeliverTo(int sig) {
  absl::Notification got;
  absl::Mutex mu;
  std::string name;
  {
    SignalWaiter waiter([&](const std::string& n) {
      absl::MutexLock lock(&mu);
      name = n;
      got.Notify();
    });
    EXPECT_EQ(waiter.received(), "");
    EXPECT_EQ(kill(getpid(), sig), 0);
    EXPECT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(60)));
    EXPECT_EQ(waiter.received(), sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  absl::MutexLock lock(&mu);
  return name;
}

TEST(SignalWaiterTest, SigtermAndSigintReachTheCallbackOneWaiterAfterAnother) {
  EXPECT_EQ(DeliverTo(SIGTERM), "SIGTERM");
  EXPECT_EQ(DeliverTo(SIGINT), "SIGINT");
}

TEST(SignalWaiterTest, ADestroyedWaiterLeavesNoSignalBehind) {
  // A waiter that saw no signal stops at once; the next one starts with nothing received.
  {
    SignalWaiter idle([](const std::string&) { ADD_FAILURE() << "no signal was sent"; });
  }
  EXPECT_EQ(DeliverTo(SIGTERM), "SIGTERM");
}

}  // namespace
}  // namespace ef21
