// keypool::select::RoundRobin: keys in turn, evenly, with no word written by every acquire.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/error.hpp>
#include <keypool/time.hpp>

namespace keypool::select {

/// Each thread walks the keys in turn from its own cursor; a key that refuses is skipped, and the
/// walk goes on from the key after the one granted. The n-th thread to use the policy starts at
/// the bit-reversed fraction n of the ring (0, ½, ¼, ¾, …), so concurrent threads mostly touch
/// different keys, and each thread's traffic is exactly even over the keys it can use.
///
/// Runs under load: when more than one thread uses the policy and a thread went round all the
/// keys in less than a millisecond (hundreds of thousands of requests a second and more), it
/// takes `Options::run` grants in a row from each key in its next round, so a key's counter line
/// moves between cores once per run instead of on every grant. A round runs from key 0 to the
/// last key; every key gets the same number of the thread's grants in every round (1 each, or
/// `run` each). A single thread, or any thread at the rates real providers allow, rotates on
/// every grant.
///
/// The cursors live in the policy (64 slots padded to 128 bytes, one per thread ordinal modulo 64),
/// so pools never disturb each other's rotation. Past 64 threads, two threads may share a slot:
/// the cursor is then a relaxed atomic both write, which can only make their rotation slightly
/// less even, never refuse a key that could serve.
/// Thread-safe, lock-free, O(1) per grant (O(n) only when keys refuse). Move-only.
class RoundRobin {
 public:
  static constexpr std::size_t cursor_slots = 64;
  /// A thread's round over the keys (key 0 to the last) faster than this is "under load" (see above).
  static constexpr Duration busy_round = std::chrono::milliseconds{1};

  struct Options {
    /// Consecutive grants a thread takes from one key under load (at least 1; 1: never a run).
    /// On two cores, runs of 8 take two threads on 10 keys from about 1.1× to 1.7× the
    /// throughput of one (see docs/performance.md).
    std::uint32_t run = 8;
    /// true (the default): runs only under load, as described above. false: runs always, from
    /// the first grant, also for a single thread (traffic stays exactly even over every
    /// n × run grants of a thread).
    bool adaptive = true;
  };

  RoundRobin() : RoundRobin(Options{}) {}
  /// Throws keypool::Error when `options.run` is 0.
  explicit RoundRobin(Options options)
      : state_(std::make_unique<State>()), run_(options.run), adaptive_(options.adaptive) {
    if (run_ == 0) throw Error("RoundRobin: Options::run must be at least 1");
  }

  [[nodiscard]] std::uint32_t run() const noexcept { return run_; }
  [[nodiscard]] bool adaptive() const noexcept { return adaptive_; }

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::uint32_t ordinal = detail::thread_ordinal();
    Cursor& cursor = state_->cursors[ordinal % cursor_slots];
    std::size_t i = cursor.next.load(std::memory_order_relaxed);
    if (i >= n) [[unlikely]] {  // the thread's first acquire, or a cursor left by a larger view (a tier)
      i = i == unset ? first_use(cursor, ordinal, n) : i % n;
      cursor.next.store(i, std::memory_order_relaxed);
    }
    const std::size_t start = i;
    for (std::size_t tried = 0; tried < n; ++tried) {
      if (ctx.try_key(i)) {
        // This round's run (high half) and the grants taken in a row from this key (low half; a
        // run restarts on the key after a refusal).
        const std::uint64_t runs = cursor.runs.load(std::memory_order_relaxed);
        const std::uint32_t taken = (tried == 0 ? static_cast<std::uint32_t>(runs) : 0u) + 1u;
        if (taken < static_cast<std::uint32_t>(runs >> 32)) {
          cursor.runs.store((runs & round_bits) | taken, std::memory_order_relaxed);
          if (tried != 0) cursor.next.store(i, std::memory_order_relaxed);
        } else {
          move_on(cursor, runs, i + 1 == n ? 0 : i + 1, ctx.now());
        }
        return true;
      }
      if (++i == n) i = 0;
    }
    move_on(cursor, cursor.runs.load(std::memory_order_relaxed), start + 1 == n ? 0 : start + 1, ctx.now());
    return false;
  }

 private:
  static constexpr std::size_t unset = ~std::size_t{0};
  static constexpr std::uint64_t round_bits = ~std::uint64_t{0} << 32;
  static constexpr std::int64_t first_round = std::numeric_limits<std::int64_t>::min();  // round_start before the first wrap

  struct alignas(128) Cursor {  // 128: CPUs that prefetch lines in pairs would otherwise couple two threads
    std::atomic<std::size_t> next{unset};
    std::atomic<std::uint64_t> runs{std::uint64_t{1} << 32};  // this round's run << 32 | grants in a row from `next`
    std::atomic<std::int64_t> round_start{first_round};        // when this round began (ns since the epoch)
  };

  // To key `next`. A round ends where the ring wraps (key 0): the next round takes runs if this
  // one was fast (see the class comment).
  void move_on(Cursor& cursor, std::uint64_t runs, std::size_t next, TimePoint now) noexcept {
    cursor.next.store(next, std::memory_order_relaxed);
    if (next == 0 && run_ > 1) [[unlikely]] {
      const std::int64_t at = now.time_since_epoch().count();
      // The thread's first round (from wherever it started) is partial: it says nothing of the pace.
      const std::int64_t began = cursor.round_start.load(std::memory_order_relaxed);
      const bool busy = !adaptive_ || (state_->users.load(std::memory_order_relaxed) > 1 && began != first_round &&
                                       at - began < busy_round.count());
      cursor.runs.store(std::uint64_t{busy ? run_ : 1u} << 32, std::memory_order_relaxed);
      cursor.round_start.store(at, std::memory_order_relaxed);
    } else if (static_cast<std::uint32_t>(runs) != 0) {
      cursor.runs.store(runs & round_bits, std::memory_order_relaxed);
    }
  }

  // A thread's first acquire through this slot: where it starts; and one more user of the policy
  // (written once per thread, never on the hot path).
  std::size_t first_use(Cursor& cursor, std::uint32_t ordinal, std::size_t n) noexcept {
    state_->users.fetch_add(1, std::memory_order_relaxed);
    if (!adaptive_) cursor.runs.store(std::uint64_t{run_} << 32, std::memory_order_relaxed);
    return start_for(ordinal, n);
  }

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

  struct State {
    Cursor cursors[cursor_slots];
    alignas(128) std::atomic<std::uint32_t> users{0};  // cursor slots ever used (threads, up to 64 apart): shared when > 1
  };

  std::unique_ptr<State> state_;
  std::uint32_t run_ = 8;
  bool adaptive_ = true;
};

}  // namespace keypool::select
