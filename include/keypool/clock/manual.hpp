// keypool::clock::Manual: time that moves only when told to, for tests and simulations. Copies
// share one time, so the pool and the test see the same clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include <keypool/time.hpp>

namespace keypool::clock {

/// A shared, settable time. Every copy refers to the same time: give one copy to the pool and
/// keep another to `advance` it. All members are thread-safe.
class Manual {
 public:
  /// Starts at 2026-01-01T00:00:00Z.
  Manual() : Manual(TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}}) {}
  explicit Manual(TimePoint start) : state_(std::make_shared<State>()) {
    state_->now_ns.store(start.time_since_epoch().count(), std::memory_order_relaxed);
  }
  template <class D>
  explicit Manual(std::chrono::sys_time<D> start) : Manual(std::chrono::time_point_cast<Duration>(start)) {}

  /// The current manual time. One load.
  [[nodiscard]] TimePoint now() const noexcept {
    return TimePoint{Duration{state_->now_ns.load(std::memory_order_acquire)}};
  }
  /// Moves time forward (or back, with a negative step) and wakes waiters in `acquire_for`.
  void advance(Duration step) noexcept {
    state_->now_ns.fetch_add(step.count(), std::memory_order_acq_rel);
    notify();
  }
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> step) noexcept {
    advance(std::chrono::duration_cast<Duration>(step));
  }
  /// Sets the time; may step backwards, as a real clock can.
  void set(TimePoint t) noexcept {
    state_->now_ns.store(t.time_since_epoch().count(), std::memory_order_release);
    notify();
  }
  template <class D>
  void set(std::chrono::sys_time<D> t) noexcept { set(std::chrono::time_point_cast<Duration>(t)); }

  /// Blocks until the manual time reaches `target` or the real `deadline` passes, whichever is
  /// first. Used by `acquire_for`: waiting on a manual clock means waiting for someone to
  /// advance it.
  void sleep_until(TimePoint target, std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock lock{state_->mutex};
    state_->moved.wait_until(lock, deadline, [&] { return now() >= target; });
  }

 private:
  struct State {
    std::atomic<std::int64_t> now_ns{0};
    std::mutex mutex;
    std::condition_variable moved;
  };
  void notify() const noexcept {
    { std::lock_guard lock{state_->mutex}; }  // orders the store before a waiter's predicate check
    state_->moved.notify_all();
  }
  std::shared_ptr<State> state_;
};

}  // namespace keypool::clock
