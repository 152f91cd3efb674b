// keypool::select::Weighted: traffic in proportion to each key's KeyOptions::weight.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <keypool/detail/thread_ordinal.hpp>

namespace keypool::select {

/// Sends each key a share of the traffic proportional to its `KeyOptions::weight` (a key of
/// weight 3 gets three times the requests of a key of weight 1), while every key can serve.
///
/// Each thread walks its own low-discrepancy sequence (the golden-ratio Weyl sequence c·φ mod 1)
/// over the keys' cumulative weights, so grants are spread evenly in time, not in runs, and any
/// stretch of n consecutive grants of one thread is within a few requests of the exact
/// proportions. The sequence position lives in a per-thread slot of the policy (64 slots padded
/// to 128 bytes, as RoundRobin's cursors): no word is written by two threads. When the chosen key
/// refuses, the next keys are tried in order, so Weighted refuses only when no key can serve (its
/// share then goes to its neighbours).
///
/// The point of the sequence is mapped to its key exactly (the first key whose cumulative weight
/// exceeds it) by the context's key_at_weight: on a pool, a guide table over a compact array of
/// cumulative weights (detail::WeightIndex), so a grant reads one guide entry (and, when its
/// bucket straddles two keys, a line or two of that array) before the chosen key's own record and
/// counters, whatever the pool size. Within a tier (Priority<Weighted>) the view sums its keys' weights: O(keys of the tier).
/// Thread-safe, lock-free. O(1) expected per grant on a pool's context (O(log keys) at worst, when
/// a few keys are far heavier than many others).
class Weighted {
 public:
  static constexpr std::size_t cursor_slots = 64;

  Weighted() : cursors_(std::make_unique<Cursor[]>(cursor_slots)) {}

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    std::atomic<std::uint64_t>& cursor = cursors_[detail::thread_ordinal() % cursor_slots].position;
    const std::uint64_t position = cursor.load(std::memory_order_relaxed) + golden;
    cursor.store(position, std::memory_order_relaxed);
    const std::uint64_t total = total_of(ctx, n);
    // A point in [0, total): the fraction `position / 2^64` of the total weight.
    const std::uint64_t point = static_cast<std::uint64_t>(
        (static_cast<double>(position >> 11) * 0x1.0p-53) * static_cast<double>(total));
    const std::size_t first = key_at(ctx, n, point < total ? point : total - 1);
    return detail::try_each_from(ctx, first, n);
  }

 private:
  static constexpr std::uint64_t golden = 0x9E3779B97F4A7C15ull;  // 2^64 / φ

  struct alignas(128) Cursor {
    std::atomic<std::uint64_t> position{0};
  };

  // A context with key_at_weight (every context of a pool) answers from its guide table; one
  // without it (a view a policy of yours builds) by a binary search over cumulative_weight.
  template <class Context>
  static std::uint64_t total_of(const Context& ctx, std::size_t n) noexcept {
    if constexpr (requires { ctx.total_weight(); }) return ctx.total_weight();
    else return ctx.cumulative_weight(n - 1);
  }

  // The first key whose cumulative weight exceeds `point`.
  template <class Context>
  static std::size_t key_at(const Context& ctx, std::size_t n, std::uint64_t point) noexcept {
    if constexpr (requires { ctx.key_at_weight(point); }) {
      return ctx.key_at_weight(point);
    } else {
      std::size_t low = 0, high = n - 1;
      while (low < high) {
        const std::size_t mid = low + (high - low) / 2;
        if (ctx.cumulative_weight(mid) > point) high = mid;
        else low = mid + 1;
      }
      return low;
    }
  }

  std::unique_ptr<Cursor[]> cursors_;
};

}  // namespace keypool::select
