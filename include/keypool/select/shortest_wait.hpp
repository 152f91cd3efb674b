// keypool::select::ShortestWait: the key that can serve this request soonest.
#pragma once

#include <cstddef>
#include <cstdint>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/time.hpp>

namespace keypool::select {

/// Tries the key that can admit this very request soonest (its wait computed from every limit
/// and its cooldown, loads only); among keys that can serve now, the one with the most headroom
/// left, ties broken by a per-thread random start (no shared write). When the chosen key refuses
/// (a race), every other key is tried, so ShortestWait refuses only when no key can serve, and
/// then the refusal's `retry_after` is the shortest wait of all keys: `acquire_for` sleeps exactly
/// until that key can serve, not a fixed interval.
/// Thread-safe, lock-free, stateless. O(keys × limits) per acquire: for small pools.
class ShortestWait {
 public:
  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::size_t start = detail::bounded(detail::thread_random(), n);
    std::size_t best = start;
    Duration best_wait = Duration::max();
    double best_headroom = -1.0;
    for (std::size_t k = 0, i = start; k < n; ++k, i = i + 1 == n ? 0 : i + 1) {
      const Duration wait = ctx.wait(i);
      if (wait > best_wait) continue;
      const double headroom = wait == Duration::zero() ? ctx.headroom(i) : 0.0;
      if (wait < best_wait || headroom > best_headroom) {
        best = i;
        best_wait = wait;
        best_headroom = headroom;
      }
    }
    return ctx.try_key(best) || detail::try_each_from(ctx, start, best);
  }
};

}  // namespace keypool::select
