// The line `acquire_for` waiters stand in: waiters of one request class (priority and model) take
// their turn in arrival order; only the first of a class tries the pool, the others sleep until
// they are first. Off the hot path: `acquire` never looks at it, and `acquire_for` pays one load
// of `waiting()` when nobody waits.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <thread>

#include <keypool/time.hpp>

namespace keypool::detail {

class WaitQueue {
 public:
  /// Waiters in line, all classes. One relaxed load.
  [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }

  /// A place in line for the life of the object: arrival order within `klass`.
  class Place {
   public:
    Place(WaitQueue& queue, std::uint64_t klass) : queue_(queue) {
      std::lock_guard lock{queue_.mutex_};
      at_ = queue_.line_.insert(queue_.line_.end(), klass);
      queue_.waiting_.fetch_add(1, std::memory_order_relaxed);
    }
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    ~Place() {
      {
        std::lock_guard lock{queue_.mutex_};
        queue_.line_.erase(at_);
        queue_.waiting_.fetch_sub(1, std::memory_order_relaxed);
      }
      queue_.turn_.notify_all();
    }

    /// Blocks until no earlier waiter of the same class is in line, or `deadline` passes; true
    /// when it is this waiter's turn.
    bool wait_turn(std::chrono::steady_clock::time_point deadline) {
      std::unique_lock lock{queue_.mutex_};
      return queue_.turn_.wait_until(lock, deadline, [&] { return first(); });
    }

   private:
    bool first() const noexcept {
      for (auto it = queue_.line_.begin(); it != at_; ++it)
        if (*it == *at_) return false;
      return true;
    }
    WaitQueue& queue_;
    std::list<std::uint64_t>::iterator at_;
  };

 private:
  std::mutex mutex_;
  std::condition_variable turn_;
  std::list<std::uint64_t> line_;  // each waiter's class, in arrival order
  std::atomic<std::size_t> waiting_{0};
};

/// acquire_for's loop: one try at once when nobody waits; otherwise a place in `queue` (class
/// `klass`), then tries at the clock's time, sleeping exactly until each refusal's retry time
/// (through the clock's own sleep_until when it has one: clock::Manual), until a grant, a
/// permanent refusal or `timeout`. `acquire_at(now)` is the pool's acquire.
template <class Clock, class AcquireAt>
[[nodiscard]] auto acquire_waiting(WaitQueue& queue, std::uint64_t klass, const Clock& clock, Duration timeout, AcquireAt&& acquire_at) {
  using Steady = std::chrono::steady_clock;
  const Steady::time_point start = Steady::now();
  const auto deadline = timeout <= Duration::zero() ? start
                        : timeout >= Steady::time_point::max() - start ? Steady::time_point::max()
                                                                       : start + std::chrono::duration_cast<Steady::duration>(timeout);
  if (queue.waiting() == 0) {  // nobody in line: one try at once
    auto lease = acquire_at(clock.now());
    if (lease || lease.refusal().permanent() || Steady::now() >= deadline) return lease;
  }
  WaitQueue::Place place{queue, klass};
  if (!place.wait_turn(deadline)) return acquire_at(clock.now());  // timed out behind earlier waiters
  for (;;) {
    const TimePoint now = clock.now();
    auto lease = acquire_at(now);
    if (lease || lease.refusal().permanent()) return lease;
    if (Steady::now() >= deadline) return lease;
    const Duration wait = lease.refusal().retry_after;
    if (wait <= Duration::zero()) {
      std::this_thread::yield();  // refused by a race that is already over: try again at once
    } else if constexpr (requires(const Clock& c) { c.sleep_until(now, deadline); }) {
      clock.sleep_until(saturating_add(now, wait), deadline);
    } else {
      std::this_thread::sleep_for(std::min<Steady::duration>(std::chrono::duration_cast<Steady::duration>(wait), deadline - Steady::now()));
    }
  }
}

}  // namespace keypool::detail
