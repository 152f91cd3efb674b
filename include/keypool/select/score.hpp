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
/// Up to `exact_up_to` keys every key is scored: the best one is tried. Beyond, `samples` keys
/// are drawn at random (independently, from the thread's own stream) and the best of them is
/// tried: with probability at least 1 - (1 - q)^samples it is among the best fraction q of the
/// keys (q = 20%: at least 89%; q = 10%: at least 65%), whatever the pool size (tested). When no
/// sampled key can serve (score 0), every key is scored as on a small pool, so a nearly spent pool
/// still finds its last keys with headroom.
///
/// Ties (equal scores: e.g. a fresh pool) are broken by where the scan starts, which each thread
/// draws from its own random stream: no shared write, and equal keys share the traffic evenly.
/// When the chosen key refuses (another thread took its last unit), the others are tried in scan
/// order, so Score refuses only when no key can serve.
/// Thread-safe, lock-free, stateless. O(min(keys, samples) × limits) loads per acquire; O(keys)
/// when the sample finds no key that can serve or the chosen key refuses.
class Score {
 public:
  /// Pools of up to this many keys are scored in full.
  static constexpr std::size_t exact_up_to = 32;
  /// Keys scored per acquire on larger pools.
  static constexpr std::size_t samples = 10;

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    const std::size_t start = detail::bounded(detail::thread_random(), n);
    Choice choice;
    if (n > exact_up_to) {
      // The failure counts first: each loads a sampled key's record and counter line, so the
      // cache misses overlap instead of waiting one by one behind each headroom.
      const auto sampled = detail::random_keys<samples>(n);
      std::uint64_t failures[samples];
      for (std::size_t k = 0; k < samples; ++k) failures[k] = ctx.failures(sampled[k]);
      for (std::size_t k = 0; k < samples; ++k)
        choice.offer(ctx.headroom(sampled[k]) / (1.0 + static_cast<double>(failures[k])), sampled[k]);
      if (choice.score <= 0.0) choice = best_of_all(ctx, start);
    } else {
      choice = best_of_all(ctx, start);
    }
    if (choice.score <= 0.0) return detail::try_each_from(ctx, start, n);  // none can serve by the loads: try all
    return ctx.try_key(choice.key) || detail::try_each_from(ctx, start, choice.key);
  }

  /// A key's score: headroom / (1 + consecutive failures), in [0, 1].
  template <class Context>
  [[nodiscard]] static double score_of(const Context& ctx, std::size_t i) noexcept {
    return ctx.headroom(i) / (1.0 + static_cast<double>(ctx.failures(i)));
  }

 private:
  struct Choice {
    std::size_t key = 0;
    double score = -1.0;
    void offer(double s, std::size_t i) noexcept {
      if (s > score) {
        score = s;
        key = i;
      }
    }
  };

  template <class Context>
  static Choice best_of_all(const Context& ctx, std::size_t start) noexcept {
    const std::size_t n = ctx.size();
    Choice choice;
    detail::any_from(n, start, [&](std::size_t i) {
      choice.offer(score_of(ctx, i), i);
      return false;
    });
    return choice;
  }
};

}  // namespace keypool::select
