// keypool::Monitor: runs a pool's poll() (and, given a probe, probe_disabled) on a background
// thread at a fixed interval.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include <keypool/error.hpp>
#include <keypool/probe.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// Calls `pool.poll()` every `interval` on its own thread, from construction until `stop()` or
/// destruction, which wake the thread and join it (at most one poll in progress is awaited).
/// An exception thrown by a poll (std::bad_alloc) is counted and the next poll goes on.
/// The pool must outlive the monitor: declare the monitor after the pool.
///
///   kp::KeyPool<> pool{…};
///   kp::Monitor monitor{pool, std::chrono::seconds{1}};
template <class Pool>
class Monitor {
 public:
  /// What a monitor probes disabled keys with (empty: no probes).
  using Probe = std::function<ProbeResult(const KeyProbe&)>;

  /// Starts polling. Throws keypool::Error when `interval` is not positive.
  template <class Rep, class Period>
  Monitor(Pool& pool, std::chrono::duration<Rep, Period> interval) : Monitor(pool, interval, Probe{}, ProbeOptions{}) {}
  /// Also probes, after each poll, the keys a provider's answer disabled whose probe is due
  /// (`pool.probe_disabled(probe, options)`): `probe(const KeyProbe&)` returns a ProbeResult, on
  /// this monitor's thread. A probe that throws is inconclusive.
  ///
  ///   kp::Monitor monitor{pool, 1s, [](const kp::KeyProbe& key) { return list_models(key.secret); }};
  template <class Rep, class Period>
  Monitor(Pool& pool, std::chrono::duration<Rep, Period> interval, Probe probe, ProbeOptions options = {})
      : pool_(pool), interval_(std::chrono::duration_cast<Duration>(interval)), probe_(std::move(probe)), probe_options_(options) {
    if (interval_ <= Duration::zero()) throw Error("Monitor: the interval must be positive, e.g. std::chrono::seconds{1}");
    if (probe_) options.check();
    thread_ = std::thread([this] { run(); });
  }

  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  ~Monitor() { stop(); }

  /// Stops polling and joins the thread. Idempotent; thread-safe.
  void stop() {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    std::lock_guard join_lock{join_mutex_};
    if (thread_.joinable()) thread_.join();
  }

  /// Polls completed so far, and polls that threw.
  [[nodiscard]] std::uint64_t polls() const noexcept { return polls_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }

 private:
  void run() {
    std::unique_lock lock{mutex_};
    auto next = std::chrono::steady_clock::now();
    while (!stopping_) {
      lock.unlock();
      try {
        pool_.poll();
        if (probe_) pool_.probe_disabled(probe_, probe_options_);
      } catch (...) {
        failures_.fetch_add(1, std::memory_order_relaxed);
      }
      polls_.fetch_add(1, std::memory_order_relaxed);
      lock.lock();
      next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval_);
      const auto now = std::chrono::steady_clock::now();
      if (next < now) next = now;  // a slow poll: skip the missed ticks instead of bursting
      wake_.wait_until(lock, next, [this] { return stopping_; });
    }
  }

  Pool& pool_;
  Duration interval_;
  Probe probe_;
  ProbeOptions probe_options_;
  std::mutex mutex_;
  std::mutex join_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> polls_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::thread thread_;
};

}  // namespace keypool
