// keypool::select::Priority<Inner>: tier-by-tier failover (Groq → Gemini → Mistral).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <keypool/options.hpp>
#include <keypool/select/round_robin.hpp>

namespace keypool::select {

/// Tries the keys of the lowest provider tier first (`add_provider(name, tier)`), choosing among
/// them with `Inner`; moves to the next tier only when every key of the tier refuses. Lower tiers
/// are tried again on every acquire, so traffic returns as soon as they can serve.
///
/// Emits `failover` (from the provider last served, to the provider now serving) when traffic
/// moves to another tier, and again when it moves back. The tier being served is one word that is
/// read by every acquire and written only when the tier changes: no written word is shared in
/// steady state. A move back to a lower tier counts only from an acquire whose time is later than
/// the last move, so threads racing for a tier's last units do not report moves back and forth.
///
/// Each tier has its own `Inner` instance (tiers beyond `tier_slots` share them modulo), so a
/// round-robin rotation in one tier is not disturbed by another. Thread-safe and lock-free if
/// `Inner` is. O(tiers tried + Inner's cost).
template <class Inner = RoundRobin>
class Priority {
 public:
  static constexpr std::size_t tier_slots = 8;

  Priority() : state_(std::make_unique<State>()) {}
  /// Every tier's inner policy is a copy of `inner` (Inner must then be copyable).
  explicit Priority(const Inner& inner) : state_(std::make_unique<State>(inner)) {}

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t tiers = ctx.tier_count();
    for (std::size_t t = 0; t < tiers; ++t) {
      auto tier = ctx.tier_view(t);
      if (tier.size() == 0) continue;
      Recorder<decltype(tier)> recorder{tier};
      if (!state_->inner[t % tier_slots].select(recorder)) continue;
      note_serving(ctx, t, recorder.granted_provider);
      return true;
    }
    return false;
  }

  /// The inner policy of the t-th lowest tier.
  [[nodiscard]] Inner& inner(std::size_t t) noexcept { return state_->inner[t % tier_slots]; }

 private:
  static constexpr std::uint64_t nobody = ~std::uint64_t{0};

  struct State {
    State() = default;
    explicit State(const Inner& prototype) { inner.fill(prototype); }
    alignas(128) std::atomic<std::uint64_t> serving{nobody};  // (tier position << 32) | provider
    std::atomic<std::uint64_t> moved_at{0};                   // ns since the epoch of the last move
    alignas(128) std::array<Inner, tier_slots> inner{};
  };

  // Passes everything through, remembering the provider of the key granted.
  template <class Tier>
  struct Recorder : Tier {
    explicit Recorder(const Tier& tier) noexcept : Tier(tier) {}
    bool try_key(std::size_t j) noexcept {
      if (!Tier::try_key(j)) return false;
      granted_provider = Tier::provider(j);
      return true;
    }
    ProviderId granted_provider{};
  };

  template <class Context>
  void note_serving(Context& ctx, std::size_t tier, ProviderId provider) noexcept {
    std::uint64_t seen = state_->serving.load(std::memory_order_relaxed);
    if (seen != nobody && (seen >> 32) == tier) return;  // the steady state: one load
    const auto now = static_cast<std::uint64_t>(ctx.now().time_since_epoch().count());
    // A grant in a lower tier from an acquire that began no later than the last move is a late
    // grant racing the move (the lower tier's last units), not a recovery: it moves nothing, so
    // concurrent threads at the boundary do not report a move back and forth.
    if (seen != nobody && tier < (seen >> 32) && now <= state_->moved_at.load(std::memory_order_relaxed)) return;
    const std::uint64_t now_serving = (std::uint64_t{tier} << 32) | provider.value;
    if (!state_->serving.compare_exchange_strong(seen, now_serving, std::memory_order_relaxed)) return;
    state_->moved_at.store(now, std::memory_order_relaxed);
    if (seen != nobody) ctx.failover(ProviderId{static_cast<std::uint32_t>(seen & 0xffffffffu)}, provider);
  }

  std::unique_ptr<State> state_;
};

}  // namespace keypool::select
