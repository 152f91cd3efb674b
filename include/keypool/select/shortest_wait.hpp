// keypool::select::ShortestWait: the key that can serve this request soonest.
#pragma once

#include <cstddef>
#include <cstdint>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/time.hpp>

namespace keypool::select {

/// Tries the key that can admit this very request soonest (its wait computed from every limit
/// and its cooldown, loads only); among keys that can serve now, the one with the most headroom
/// left, ties broken by a per-thread random start (no shared write).
///
/// Up to `exact_up_to` keys every key is examined. Beyond, `samples` keys are drawn at random
/// (independently, from the thread's own stream): when some of them can serve now, the one with
/// the most headroom among them is tried; with probability at least 1 - (1 - q)^samples it is
/// among the best fraction q of the keys (q = 20%: at least 93%), whatever the pool size (tested).
/// When none of the sample can serve now, every key is examined as on a small pool, so the key
/// that can serve soonest is found exactly when keys are scarce.
///
/// When the chosen key refuses (a race), every other key is tried, so ShortestWait refuses only
/// when no key can serve, and then the refusal's `retry_after` is the shortest wait of all keys:
/// `acquire_for` sleeps exactly until that key can serve, not a fixed interval.
/// Thread-safe, lock-free, stateless. O(min(keys, samples) × limits) per acquire while sampled
/// keys can serve; O(keys × limits) when they cannot, and on refusal.
class ShortestWait {
 public:
  /// Pools of up to this many keys are examined in full.
  static constexpr std::size_t exact_up_to = 32;
  /// Keys examined per acquire on larger pools.
  static constexpr std::size_t samples = 12;

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::size_t start = detail::bounded(detail::thread_random(), n);
    Choice choice;
    if (n > exact_up_to) {
      // A load from each sampled key first (its record and counter line): the twelve cache
      // misses then overlap instead of waiting one by one behind each wait computation.
      const auto sampled = detail::random_keys<samples>(n);
      for (const std::size_t i : sampled) (void)ctx.failures(i);
      for (const std::size_t i : sampled) choice.offer(ctx, i);
      if (choice.wait != Duration::zero()) choice = soonest_of_all(ctx, start);
    } else {
      choice = soonest_of_all(ctx, start);
    }
    return ctx.try_key(choice.key) || detail::try_each_from(ctx, start, choice.key);
  }

 private:
  struct Choice {
    std::size_t key = 0;
    Duration wait = Duration::max();
    double headroom = -1.0;
    bool any = false;
    template <class Context>
    void offer(const Context& ctx, std::size_t i) noexcept {
      const Duration w = ctx.wait(i);
      if (any && w > wait) return;
      const double h = w == Duration::zero() ? ctx.headroom(i) : 0.0;
      if (!any || w < wait || h > headroom) {
        key = i;
        wait = w;
        headroom = h;
        any = true;
      }
    }
  };

  template <class Context>
  static Choice soonest_of_all(const Context& ctx, std::size_t start) noexcept {
    const std::size_t n = ctx.size();
    Choice choice;
    detail::any_from(n, start, [&](std::size_t i) {
      choice.offer(ctx, i);
      return false;
    });
    return choice;
  }
};

}  // namespace keypool::select
