// keypool::select::RoundRobin: keys in turn, evenly, with no word written by every acquire.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/error.hpp>

namespace keypool::select {

/// Each thread walks the keys in turn from its own cursor; a key that refuses is skipped, and the
/// walk goes on from the key after the one granted. The n-th thread to use the policy starts at
/// the bit-reversed fraction n of the ring (0, ½, ¼, ¾, …), so concurrent threads mostly touch
/// different keys, and each thread's traffic is exactly even over the keys it can use.
///
/// The cursors live in the policy (64 slots padded to 128 bytes, one per thread ordinal modulo 64),
/// so pools never disturb each other's rotation. Past 64 threads, two threads may share a slot:
/// the cursor is then a relaxed atomic both write, which can only make their rotation slightly
/// less even, never refuse a key that could serve.
/// Thread-safe, lock-free, O(1) per grant (O(n) only when keys refuse). Move-only.
class RoundRobin {
 public:
  static constexpr std::size_t cursor_slots = 64;

  struct Options {
    /// Consecutive grants a thread takes from one key before it moves to the next (at least 1).
    /// 1 (the default) rotates on every grant. With several threads on few keys, a run of 8
    /// lets a key's counter line move between cores once per 8 grants instead of on every grant:
    /// on two cores it about doubles throughput (see docs/performance.md). Traffic stays exactly
    /// even over every n × run grants of a thread.
    std::uint32_t run = 1;
  };

  RoundRobin() : RoundRobin(Options{}) {}
  /// Throws keypool::Error when `options.run` is 0.
  explicit RoundRobin(Options options) : cursors_(std::make_unique<Cursor[]>(cursor_slots)), run_(options.run) {
    if (run_ == 0) throw Error("RoundRobin: Options::run must be at least 1");
  }

  [[nodiscard]] std::uint32_t run() const noexcept { return run_; }

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::uint32_t ordinal = detail::thread_ordinal();
    std::atomic<std::size_t>& cursor = cursors_[ordinal % cursor_slots].next;
    std::size_t i = cursor.load(std::memory_order_relaxed);
    if (i >= n) [[unlikely]] i = i == unset ? start_for(ordinal, n) : i % n;
    const std::size_t start = i;
    for (std::size_t tried = 0; tried < n; ++tried) {
      if (ctx.try_key(i)) {
        if (run_ == 1) {
          cursor.store(i + 1 == n ? 0 : i + 1, std::memory_order_relaxed);
        } else {
          std::atomic<std::uint32_t>& streak = cursors_[ordinal % cursor_slots].streak;
          const std::uint32_t taken = tried == 0 ? streak.load(std::memory_order_relaxed) + 1 : 1;
          const bool move_on = taken >= run_;
          streak.store(move_on ? 0 : taken, std::memory_order_relaxed);
          cursor.store(move_on ? (i + 1 == n ? 0 : i + 1) : i, std::memory_order_relaxed);
        }
        return true;
      }
      if (++i == n) i = 0;
    }
    cursor.store(start + 1 == n ? 0 : start + 1, std::memory_order_relaxed);
    return false;
  }

 private:
  static constexpr std::size_t unset = ~std::size_t{0};

  struct alignas(128) Cursor {  // 128: CPUs that prefetch lines in pairs would otherwise couple two threads
    std::atomic<std::size_t> next{unset};
    std::atomic<std::uint32_t> streak{0};  // grants taken in a row from `next` (run > 1 only)
  };

  // Where the thread with this ordinal starts: the bit reversal of the ordinal as a fraction of
  // the ring, so any number of threads stays spread out.
  static std::size_t start_for(std::uint32_t ordinal, std::size_t n) noexcept {
    std::uint32_t reversed = 0;
    for (int bit = 0; bit < 32; ++bit) {
      reversed = (reversed << 1) | (ordinal & 1u);
      ordinal >>= 1;
    }
    return static_cast<std::size_t>((static_cast<std::uint64_t>(reversed) * n) >> 32);
  }

  std::unique_ptr<Cursor[]> cursors_;
  std::uint32_t run_ = 1;
};

}  // namespace keypool::select
