// keypool::select::TwoChoices: the power of two random choices, O(1) on pools of any size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <keypool/detail/thread_ordinal.hpp>

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
      if (better(ctx, b, a)) std::swap(a, b);
      if (ctx.try_key(a) || ctx.try_key(b)) return true;
      return detail::any_from(n, a, [&](std::size_t i) { return i != a && i != b && ctx.try_key(i); });
    }
    return ctx.try_key(a);
  }

 private:
  // Whether key x scores above key y, scores as Score's: headroom / (1 + failures). Compared
  // by cross-multiplying (h_x · (1 + f_y) > h_y · (1 + f_x)), two multiplications in place of
  // two divisions, the same order up to the last bit of a double.
  template <class Context>
  static bool better(const Context& ctx, std::size_t x, std::size_t y) noexcept {
    const double headroom_x = ctx.headroom(x), headroom_y = ctx.headroom(y);
    return headroom_x * (1.0 + static_cast<double>(ctx.failures(y))) > headroom_y * (1.0 + static_cast<double>(ctx.failures(x)));
  }
};

}  // namespace keypool::select
