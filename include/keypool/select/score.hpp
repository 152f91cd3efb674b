// keypool::select::Score: the key with the most quota left, discounted by recent failures.
#pragma once

#include <cstddef>
#include <cstdint>

#include <keypool/detail/thread_ordinal.hpp>

namespace keypool::select {

/// Prefers the key whose tightest limit has the largest fraction left (for the request's
/// priority), divided by 1 + its consecutive transient failures, so a flaky key is used less
/// while it fails and fully again after one success. Keys that cannot serve score 0.
///
/// Ties (equal scores: e.g. a fresh pool) are broken by where the scan starts, which each thread
/// draws from its own random stream: no shared write, and equal keys share the traffic evenly.
/// When the best key refuses (another thread took its last unit), the others are tried in scan
/// order, so Score refuses only when no key can serve.
/// Thread-safe, lock-free, stateless. O(keys × limits) loads per acquire: meant for pools of up to
/// a few hundred keys (use TwoChoices beyond).
class Score {
 public:
  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::size_t start = detail::bounded(detail::thread_random(), n);
    std::size_t best = n;
    double best_score = -1.0;
    for (std::size_t k = 0, i = start; k < n; ++k, i = i + 1 == n ? 0 : i + 1) {
      const double score = score_of(ctx, i);
      if (score > best_score) {
        best_score = score;
        best = i;
      }
    }
    if (best_score <= 0.0) return detail::try_each_from(ctx, start, n);  // none can serve by the loads: try all
    return ctx.try_key(best) || detail::try_each_from(ctx, start, best);
  }

  /// A key's score: headroom / (1 + consecutive failures), in [0, 1].
  template <class Context>
  [[nodiscard]] static double score_of(const Context& ctx, std::size_t i) noexcept {
    return ctx.headroom(i) / (1.0 + static_cast<double>(ctx.failures(i)));
  }
};

}  // namespace keypool::select
