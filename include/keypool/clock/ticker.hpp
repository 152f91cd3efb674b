// keypool::clock::Ticker: the wall clock read from one word that a background thread rewrites
// every tick. The cheapest `now()` there is (one relaxed load); the price is a thread and a
// resolution of one tick. Where the vDSO clock is fast it saves little (docs/performance.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include <keypool/error.hpp>
#include <keypool/time.hpp>

namespace keypool::clock {

/// The wall clock (CLOCK_REALTIME, as clock::System) sampled by a thread of its own every
/// `resolution` (default 1 ms) into one word; `now()` is a relaxed load of that word.
///
/// Resolution: `now()` lags the wall clock by at most one tick plus however long the scheduler
/// keeps the ticking thread from running (on an idle core, microseconds; on an overloaded
/// machine, possibly milliseconds). It is as fine as clock::Coarse (the kernel tick: 1–4 ms) or
/// finer, and it follows the system clock's steps like every keypool clock (a step back is
/// handled by the counters: see docs/guarantees.md). Rolling limits finer than a few ticks
/// should use clock::System.
///
/// One thread per Ticker (copies share it, and it stops when the last copy is destroyed), waking
/// 1,000 times a second at the default resolution. After fork() the child has no ticking thread:
/// its first `now()` notices (the word reads 0 in the child) and starts one.
/// Thread-safe. Constructing throws keypool::Error for a resolution outside [100 µs, 1 s], and
/// std::system_error when no thread can be started.
class Ticker {
 public:
  Ticker() : Ticker(std::chrono::milliseconds{1}) {}
  explicit Ticker(Duration resolution) : source_(std::make_shared<Source>(checked(resolution))) {}

  [[nodiscard]] TimePoint now() const noexcept {
    const std::int64_t ns = source_->word.load(std::memory_order_relaxed);
    if (ns == 0) [[unlikely]] return source_->restart();  // a forked child: no thread ticks here yet
    return TimePoint{Duration{ns}};
  }

  /// The tick: how often the word is rewritten.
  [[nodiscard]] Duration resolution() const noexcept { return source_->resolution; }

 private:
  static Duration checked(Duration resolution) {
    if (resolution < std::chrono::microseconds{100} || resolution > std::chrono::seconds{1})
      throw Error("clock::Ticker: the resolution must be between 100 µs and 1 s");
    return resolution;
  }

  static std::int64_t wall_ns() noexcept {
    const auto ns = std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch()).count();
    return ns == 0 ? 1 : ns;  // 0 means "no thread ticks in this process"
  }

  struct Source;

  // The live sources of this process, for the fork handlers: before fork() every source's mutex
  // is taken (so no ticking thread holds one into the child), and in the child every word is set
  // to 0, which makes the child's first `now()` start its own thread. Never destroyed.
  struct Registry {
    std::mutex mutex;
    Source* first = nullptr;  // an intrusive list through Source::next

    static Registry& get() {
      static Registry* const registry = [] {
        auto* made = new Registry;
        ::pthread_atfork(&prepare, &parent, &child);
        return made;
      }();
      return *registry;
    }
    static void prepare() noexcept {
      Registry& r = get();
      r.mutex.lock();
      for (Source* s = r.first; s != nullptr; s = s->next) s->mutex.lock();
    }
    static void parent() noexcept {
      Registry& r = get();
      for (Source* s = r.first; s != nullptr; s = s->next) s->mutex.unlock();
      r.mutex.unlock();
    }
    static void child() noexcept {
      Registry& r = get();
      for (Source* s = r.first; s != nullptr; s = s->next) {
        s->word.store(0, std::memory_order_relaxed);
        s->mutex.unlock();
      }
      r.mutex.unlock();
    }
  };

  struct Source {
    explicit Source(Duration tick) : resolution(tick) {
      word.store(wall_ns(), std::memory_order_relaxed);
      Registry& registry = Registry::get();
      std::lock_guard listed{registry.mutex};
      std::lock_guard lock{mutex};
      start_locked();
      next = registry.first;
      registry.first = this;
    }
    Source(const Source&) = delete;
    Source& operator=(const Source&) = delete;
    ~Source() {
      Registry& registry = Registry::get();
      {
        std::lock_guard listed{registry.mutex};
        for (Source** at = &registry.first; *at != nullptr; at = &(*at)->next)
          if (*at == this) {
            *at = next;
            break;
          }
      }
      std::lock_guard lock{mutex};
      stop.store(true, std::memory_order_relaxed);
      if (thread == nullptr) return;
      // A thread started by another process (the parent, before fork) does not exist here: it
      // cannot be joined, only forgotten. Ours ends within one tick.
      if (owner.load(std::memory_order_relaxed) == ::getpid()) thread->join();
      else static_cast<void>(thread.release());
    }

    /// The child's first read after fork(): start this process's thread (once), answer now.
    TimePoint restart() noexcept {
      const std::int64_t ns = wall_ns();
      std::lock_guard lock{mutex};
      if (owner.load(std::memory_order_relaxed) != ::getpid()) {
        static_cast<void>(thread.release());  // the parent's thread: not ours to join
        word.store(ns, std::memory_order_relaxed);
        try {
          start_locked();
        } catch (...) {
          // No thread: the word stays 0 and the next read tries again.
          word.store(0, std::memory_order_relaxed);
        }
      }
      return TimePoint{Duration{ns}};
    }

    void start_locked() {
      owner.store(::getpid(), std::memory_order_relaxed);
      thread = std::make_unique<std::thread>([this] { run(); });
    }

    // Sleeps, with no lock held and no condition variable (neither survives fork() in a usable
    // state): the destructor waits at most one tick for it.
    void run() noexcept {
      while (!stop.load(std::memory_order_relaxed)) {
        word.store(wall_ns(), std::memory_order_relaxed);
        std::this_thread::sleep_for(resolution);
      }
    }

    std::atomic<std::int64_t> word{0};  // the last sample (ns since the epoch); 0 in a forked child
    Duration resolution;
    std::mutex mutex;                  // start, restart, stop
    std::atomic<bool> stop{false};
    std::atomic<pid_t> owner{0};       // the process whose thread ticks
    std::unique_ptr<std::thread> thread;
    Source* next = nullptr;  // in Registry's list
  };

  std::shared_ptr<Source> source_;
};

}  // namespace keypool::clock
