// keypool::select::TwoChoices: the power of two random choices, O(1) on pools of any size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/select/score.hpp>

namespace keypool::select {

/// Samples two distinct keys at random (from the calling thread's own stream: no shared write)
/// and tries the one with more headroom left (discounted by consecutive failures, as Score),
/// then the other. Balancing load by the better of two random choices keeps the most-used key
/// within O(log log n) of the average, at O(1) cost whatever the pool size.
/// When both refuse, every key is tried from a random start, so TwoChoices refuses only when no
/// key can serve. Thread-safe, lock-free, stateless.
class TwoChoices {
 public:
  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::uint64_t random = detail::thread_random();
    std::size_t a = detail::bounded(random, n);
    if (n > 1) {
      std::size_t b = detail::bounded(random << 32 | (random >> 32), n - 1);
      if (b >= a) ++b;  // distinct from a, uniform over the others
      if (Score::score_of(ctx, b) > Score::score_of(ctx, a)) std::swap(a, b);
      if (ctx.try_key(a) || ctx.try_key(b)) return true;
      for (std::size_t k = 0, i = a; k < n; ++k, i = i + 1 == n ? 0 : i + 1)
        if (i != a && i != b && ctx.try_key(i)) return true;
      return false;
    }
    return ctx.try_key(a);
  }
};

}  // namespace keypool::select
