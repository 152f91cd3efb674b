// The rolling-rate counters (`Limit::…per(duration)`), not aligned to any calendar:
//   Gcra           the generic cell rate algorithm: the word is the theoretical arrival time (TAT)
//                  in ns; a request of n units moves it n intervals ahead and is admitted while the
//                  TAT stays within one burst of now (store::Memory, store::MappedFile);
//   LeasedRolling  the word is the units in hand, signed (below zero after commits above the
//                  estimate, until the store debits the difference); the fleet's GCRA lives in the
//                  backend (store::Redis).
//
// Thread safety: every function is thread-safe and lock-free (relaxed CAS on the limit's own word).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>

namespace keypool::accounting {

struct Gcra {
  /// Admits `amount` when the TAT after it is at most `burst` (ns, the priority's cap) ahead of
  /// now. Refuses without a write.
  static Admission reserve(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                             std::uint64_t burst, std::uint64_t now_ns, Reserved& out) noexcept {
    if (amount > plan.amount) return Admission::too_large;  // also keeps amount × interval from overflowing
    const std::uint64_t increment = amount * plan.interval_ns;
    if (increment > burst) return Admission::too_large;
    auto state = detail::word(counter.state);
    std::uint64_t tat = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t next = std::max(tat, now_ns) + increment;
      if (next - now_ns > burst) return Admission::over_cap;
      if (state.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
        out.epoch = next;  // a refund may give back only what is still ahead of the clock
        out.before = 0;
        return Admission::granted;
      }
    }
  }

  /// Gives back `amount` of a reservation whose TAT ended at `reserved_tat`: only the part still
  /// ahead of `now_ns`, since the rest has already replenished.
  static void release(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t reserved_tat,
                      std::uint64_t now_ns) noexcept {
    if (amount == 0) return;
    const std::uint64_t ahead = reserved_tat > now_ns ? reserved_tat - now_ns : 0;
    const std::uint64_t refund = std::min(std::min(amount, plan.amount) * plan.interval_ns, ahead);
    if (refund == 0) return;
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    while (!state.compare_exchange_weak(seen, seen - std::min(seen, refund), std::memory_order_relaxed)) {
    }
  }

  /// Charges `amount` more units from now (the usage happened), saturating far in the future.
  static void charge(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t now_ns) noexcept {
    if (amount == 0) return;
    const std::uint64_t ceiling = std::numeric_limits<std::uint64_t>::max() / 2;
    const std::uint64_t increment = std::min(amount, ceiling / plan.interval_ns) * plan.interval_ns;
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t base = std::max(seen, now_ns);
      const std::uint64_t desired = base > ceiling - increment ? ceiling : base + increment;
      if (state.compare_exchange_weak(seen, desired, std::memory_order_relaxed)) return;
    }
  }

  /// Forgets all usage: the full burst is available at once.
  static void reset(KeySlot::Counter& counter) noexcept { detail::word(counter.state).store(0, std::memory_order_relaxed); }

  /// Why `amount` cannot be admitted within `burst` now, and for how long (loads only).
  [[nodiscard]] static Verdict wait(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                    std::uint64_t burst, std::uint64_t now_ns) noexcept {
    if (amount > plan.amount || amount * plan.interval_ns > burst) return {Reason::too_large, Duration::max()};
    const std::uint64_t tat = detail::word(counter.state).load(std::memory_order_relaxed);
    const std::uint64_t next = std::max(tat, now_ns) + amount * plan.interval_ns;
    if (next - now_ns <= burst) return {};
    return {Reason::rate_limited, Duration{static_cast<std::int64_t>(next - burst - now_ns)}};
  }

  /// The burst used up now, in ns (for headroom against a cap in ns).
  [[nodiscard]] static std::uint64_t used_ns(const detail::LimitPlan&, KeySlot::Counter& counter, std::uint64_t now_ns) noexcept {
    const std::uint64_t tat = detail::word(counter.state).load(std::memory_order_relaxed);
    return tat > now_ns ? tat - now_ns : 0;
  }

  /// Units not yet replenished, and when all of them are.
  [[nodiscard]] static Usage usage(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t now_ns) noexcept {
    const std::uint64_t tat = detail::word(counter.state).load(std::memory_order_relaxed);
    const std::uint64_t ahead = tat > now_ns ? tat - now_ns : 0;
    return {std::min<std::uint64_t>(plan.amount, (ahead + plan.interval_ns - 1) / plan.interval_ns),
            TimePoint{Duration{static_cast<std::int64_t>(std::max(tat, now_ns))}}};
  }
};

struct LeasedRolling {
  /// Spends `amount` from the hand; refuses (without a write) when the hand is short.
  static Admission reserve(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                             std::uint64_t /*burst*/, std::uint64_t /*now_ns*/, Reserved& out) noexcept {
    if (amount > plan.amount) return Admission::too_large;
    auto hand = detail::word(counter.state);
    std::uint64_t seen = hand.load(std::memory_order_relaxed);
    for (;;) {
      if (static_cast<std::int64_t>(seen) < static_cast<std::int64_t>(amount)) return Admission::over_cap;
      if (hand.compare_exchange_weak(seen, seen - amount, std::memory_order_relaxed)) {
        out = {};
        return Admission::granted;
      }
    }
  }

  /// Puts `amount` back in hand.
  static void release(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t /*reserved*/,
                      std::uint64_t /*now_ns*/) noexcept {
    if (amount == 0) return;
    detail::word(counter.state).fetch_add(std::min(amount, plan.amount), std::memory_order_relaxed);
  }

  /// Spent beyond the hand: a debt the store debits from the fleet's rate.
  static void charge(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t /*now_ns*/) noexcept {
    if (amount == 0) return;
    detail::word(counter.state).fetch_sub(std::min(amount, plan.amount * 1024), std::memory_order_relaxed);
  }

  /// Drops what is in hand (the backend's count is reset with it).
  static void reset(KeySlot::Counter& counter) noexcept { detail::word(counter.state).store(0, std::memory_order_relaxed); }

  /// Short in hand, and the fleet had none to lease: the fleet's rate refills a unit per interval.
  [[nodiscard]] static Verdict wait(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                    std::uint64_t burst, std::uint64_t /*now_ns*/) noexcept {
    if (amount > plan.amount || amount * plan.interval_ns > burst) return {Reason::too_large, Duration::max()};
    const std::int64_t have = hand(counter);
    if (have >= static_cast<std::int64_t>(amount)) return {};
    const auto short_by = static_cast<std::uint64_t>(static_cast<std::int64_t>(amount) - std::max<std::int64_t>(0, have));
    return {Reason::rate_limited, Duration{static_cast<std::int64_t>(short_by * plan.interval_ns)}};
  }

  /// What is not in hand counts as used, in ns of the rate (for headroom against a cap in ns).
  [[nodiscard]] static std::uint64_t used_ns(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t /*now_ns*/) noexcept {
    return (plan.amount - std::min(plan.amount, in_hand(counter))) * plan.interval_ns;
  }

  // --- What the store may do to the hand ----------------------------------------------------------

  /// The units in hand, signed (negative: a debt).
  [[nodiscard]] static std::int64_t hand(KeySlot::Counter& counter) noexcept {
    return static_cast<std::int64_t>(detail::word(counter.state).load(std::memory_order_relaxed));
  }
  /// The units in hand, 0 when in debt.
  [[nodiscard]] static std::uint64_t in_hand(KeySlot::Counter& counter) noexcept {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, hand(counter)));
  }
  /// Puts `units` leased in hand and settles `debt`.
  static void give(KeySlot::Counter& counter, std::uint64_t units, std::uint64_t debt) noexcept {
    detail::word(counter.state).fetch_add(units + debt, std::memory_order_relaxed);
  }
  /// Takes back everything in hand; returns the units taken (0 when in debt).
  static std::uint64_t take(KeySlot::Counter& counter) noexcept {
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      if (static_cast<std::int64_t>(seen) <= 0) return 0;
      if (state.compare_exchange_weak(seen, 0, std::memory_order_relaxed)) return seen;
    }
  }
};

}  // namespace keypool::accounting
