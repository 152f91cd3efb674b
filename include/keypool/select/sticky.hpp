// keypool::select::Sticky<Inner>: one affinity value, one key (rendezvous hashing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/select/round_robin.hpp>

namespace keypool::select {

/// Sends every request with the same non-zero `Request::affinity` (a conversation, a user, a
/// document: whatever keeps a provider-side prompt cache warm) to the same key, chosen by
/// rendezvous (highest-random-weight) hashing over the keys' label hashes: the key with the
/// largest mix(affinity, key) wins. Adding or removing a key moves only the affinities that key
/// wins or won (about 1/n of them), and the choice is the same in every process and run (labels,
/// not indices, are hashed).
///
/// When that key cannot serve, or the affinity is 0, `Inner` chooses (the affinity is then not
/// kept: the next request tries its own key again first).
/// Thread-safe and lock-free if Inner is. O(keys) hashes for a sticky request.
template <class Inner = RoundRobin>
class Sticky {
 public:
  Sticky() = default;
  explicit Sticky(Inner inner) : inner_(std::move(inner)) {}

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    const std::uint64_t affinity = ctx.request().affinity;
    if (affinity != 0 && n != 0) {
      const std::size_t home = home_of(ctx, affinity);
      if (ctx.try_key(home)) return true;
    }
    return inner_.select(ctx);
  }

  /// The key an affinity value maps to (what select tries first).
  template <class Context>
  [[nodiscard]] static std::size_t home_of(const Context& ctx, std::uint64_t affinity) noexcept {
    const std::size_t n = ctx.size();
    std::size_t best = 0;
    std::uint64_t best_weight = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t weight = detail::mix64(affinity ^ ctx.key_hash(i));
      if (i == 0 || weight > best_weight) {
        best = i;
        best_weight = weight;
      }
    }
    return best;
  }

  [[nodiscard]] Inner& inner() noexcept { return inner_; }

 private:
  Inner inner_;
};

}  // namespace keypool::select
