// The rolling-rate counters (`Limit::…per(duration)`), not aligned to any calendar:
//   Gcra           the generic cell rate algorithm, exact: the theoretical arrival time (TAT) is a
//                  rational number of ns (a unit lasts period / amount ns), kept as whole ns in the
//                  counter's first word and the rest in its second; a request of n units moves it
//                  n × period / amount ahead and is admitted while the TAT stays within the
//                  priority's burst of now. It decides exactly as a token bucket of `amount` units
//                  refilled at amount / period (store::Memory, store::MappedFile). See
//                  docs/guarantees.md for the bounds;
//   LeasedRolling  the word is the units in hand, signed (below zero after commits above the
//                  estimate, until the store debits the difference); the fleet's GCRA lives in the
//                  backend (store::Redis).
//
// Thread safety: every function is thread-safe and lock-free (relaxed CAS on the limit's own word;
// a Gcra whose unit is not whole ns swaps its two words with one 16-byte CAS).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>

namespace keypool::accounting {

struct Gcra {
  /// A theoretical arrival time: whole ns in `counter.state`, the rest in 1/den ns in
  /// `counter.window_end` (always 0 when the rate's den is 1).
  using Tat = detail::FractionalNs;

  /// Admits `amount` when the TAT after it is at most the priority's burst (`burst` whole ns, a
  /// cap of LimitPlan::cap) ahead of now. Refuses without a write.
  static Admission reserve(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                             std::uint64_t burst, std::uint64_t now_ns, Reserved& out) noexcept {
    if (amount > plan.amount) return Admission::too_large;  // also keeps the span within the period
    const detail::RollingRate& rate = plan.rate;
    out.before = 0;
    if (rate.den == 1) [[likely]] {  // whole ns per unit: one word
      const std::uint64_t increment = amount * rate.per_unit;
      if (increment > burst) return Admission::too_large;
      auto state = detail::word(counter.state);
      std::uint64_t tat = state.load(std::memory_order_relaxed);
      for (;;) {
        const std::uint64_t next = std::max(tat, now_ns) + increment;
        if (next - now_ns > burst) return Admission::over_cap;
        if (state.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
          out.epoch = next;  // a refund may give back only what is still ahead of the clock
          return Admission::granted;
        }
      }
    }
    const Tat increment = rate.span(amount);
    const Tat cap{burst, cap_rem(plan, burst)};
    if (increment > cap) return Admission::too_large;
    Tat seen = load(counter);
    for (;;) {
      const Tat next = add(later(normal(seen, rate), now_ns), increment, rate);
      if (Tat{next.whole - now_ns, next.rem} > cap) return Admission::over_cap;
      if (exchange(counter, seen, next)) {
        out.epoch = next.whole;  // rounded down: a refund never gives back more than is ahead
        return Admission::granted;
      }
    }
  }

  /// Gives back `amount` of a reservation whose TAT ended at `reserved_tat` (whole ns, as
  /// Reserved::epoch): only the part still ahead of `now_ns`, since the rest has already
  /// replenished. The TAT goes back by at most that much, and not below zero.
  static void release(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t reserved_tat,
                      std::uint64_t now_ns) noexcept {
    if (amount == 0 || reserved_tat <= now_ns) return;
    const detail::RollingRate& rate = plan.rate;
    const Tat refund = std::min(rate.span(std::min(amount, plan.amount)), Tat{reserved_tat - now_ns, 0});
    if (rate.den == 1) [[likely]] {
      auto state = detail::word(counter.state);
      std::uint64_t seen = state.load(std::memory_order_relaxed);
      while (!state.compare_exchange_weak(seen, seen - std::min(seen, refund.whole), std::memory_order_relaxed)) {
      }
      return;
    }
    Tat seen = load(counter);
    for (;;) {
      const Tat tat = normal(seen, rate);
      Tat desired{};
      if (tat > refund) desired = tat.rem >= refund.rem ? Tat{tat.whole - refund.whole, tat.rem - refund.rem}
                                                        : Tat{tat.whole - refund.whole - 1, tat.rem + rate.den - refund.rem};
      if (exchange(counter, seen, desired)) return;
    }
  }

  /// Charges `amount` more units from now (the usage happened), saturating far in the future.
  static void charge(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t now_ns) noexcept {
    if (amount == 0) return;
    const detail::RollingRate& rate = plan.rate;
    const Tat increment = rate.span(std::min(amount, ceiling / rate.per_unit));  // per_unit >= 1: the period is >= the amount
    Tat seen = load(counter);
    for (;;) {
      const Tat base = later(normal(seen, rate), now_ns);
      Tat desired{ceiling, 0};
      if (base.whole < ceiling && increment.whole < ceiling - base.whole) desired = std::min(add(base, increment, rate), desired);
      if (rate.den == 1) [[likely]] {
        if (detail::word(counter.state).compare_exchange_weak(seen.whole, desired.whole, std::memory_order_relaxed)) return;
      } else if (exchange(counter, seen, desired)) {
        return;
      }
    }
  }

  /// Whether `amount` could ever fit in the burst `burst` (a cap of LimitPlan::cap).
  [[nodiscard]] static bool fits(const detail::LimitPlan& plan, std::uint64_t amount, std::uint64_t burst) noexcept {
    return amount <= plan.amount && plan.rate.span(amount) <= Tat{burst, cap_rem(plan, burst)};
  }

  /// Forgets all usage: the full burst is available at once. The fraction goes first, so a
  /// reserve racing with the reset lands either wholly before it or after it.
  static void reset(KeySlot::Counter& counter) noexcept {
    detail::word(counter.window_end).store(0, std::memory_order_relaxed);
    detail::word(counter.state).store(0, std::memory_order_relaxed);
  }

  /// Why `amount` cannot be admitted within `burst` now, and for how long: the wait ends at the
  /// first whole ns at which it is admitted. Loads only: against a counter written meanwhile, the
  /// answer may mix the two words of different writes (off by less than one ns).
  [[nodiscard]] static Verdict wait(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                    std::uint64_t burst, std::uint64_t now_ns) noexcept {
    if (amount > plan.amount) return {Reason::too_large, Duration::max()};
    const detail::RollingRate& rate = plan.rate;
    const Tat increment = rate.span(amount);
    const Tat cap{burst, cap_rem(plan, burst)};
    if (increment > cap) return {Reason::too_large, Duration::max()};
    const Tat next = add(later(normal(load(counter), rate), now_ns), increment, rate);
    if (Tat{next.whole - now_ns, next.rem} <= cap) return {};
    // Admitted from the first t with next - t <= cap (refused now, so the TAT is ahead of now).
    const Tat admit_at = next.rem >= cap.rem ? Tat{next.whole - cap.whole, next.rem - cap.rem}
                                             : Tat{next.whole - cap.whole - 1, next.rem + rate.den - cap.rem};
    const std::uint64_t at = admit_at.whole + (admit_at.rem > 0 ? 1 : 0);
    return {Reason::rate_limited, Duration{static_cast<std::int64_t>(at - now_ns)}};
  }

  /// The burst used up now, in ns rounded up (for headroom against a cap in ns).
  [[nodiscard]] static std::uint64_t used_ns(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t now_ns) noexcept {
    const Tat tat = normal(load(counter), plan.rate);
    if (tat <= Tat{now_ns, 0}) return 0;
    return tat.whole - now_ns + (tat.rem > 0 ? 1 : 0);
  }

  /// Units not yet replenished (rounded up), and when all of them are (rounded up to a whole ns).
  [[nodiscard]] static Usage usage(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t now_ns) noexcept {
    const detail::RollingRate& rate = plan.rate;
    const Tat tat = normal(load(counter), rate);
    std::uint64_t used = 0;
    if (tat > Tat{now_ns, 0}) {
      const std::uint64_t ahead = tat.whole - now_ns;  // at most the burst plus charges, below 2^63
      if (rate.den == 1) {
        used = ahead / rate.num + (ahead % rate.num > 0 ? 1 : 0);
      } else {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        const detail::WideUnsigned scaled = static_cast<detail::WideUnsigned>(ahead) * rate.den + tat.rem;  // (TAT - now) × den
        const detail::WideUnsigned units = scaled / rate.num + (scaled % rate.num > 0 ? 1 : 0);
        used = units > plan.amount ? plan.amount : static_cast<std::uint64_t>(units);
#endif
      }
    }
    const std::uint64_t free_at = tat > Tat{now_ns, 0} ? tat.whole + (tat.rem > 0 ? 1 : 0) : now_ns;
    return {std::min(plan.amount, used), TimePoint{Duration{static_cast<std::int64_t>(free_at)}}};
  }

 private:
  /// Where charges saturate: far in the future, and never wrapping to the past.
  static constexpr std::uint64_t ceiling = std::numeric_limits<std::uint64_t>::max() / 2;

  /// The part below one ns of the burst `burst` (whole ns): each priority's cap has its own burst,
  /// and bursts of distinct caps differ in whole ns since a unit lasts at least one ns.
  [[nodiscard]] static std::uint64_t cap_rem(const detail::LimitPlan& plan, std::uint64_t burst) noexcept {
    for (std::size_t p = 0; p < priority_count; ++p)
      if (plan.cap[p] == burst) return plan.rate.cap_rem[p];
    return 0;  // a burst of whole ns: rounding down never over-admits
  }

  /// The two words, each loaded atomically but not together (a compare-and-swap of both checks them).
  [[nodiscard]] static Tat load(KeySlot::Counter& counter) noexcept {
    return {detail::word(counter.state).load(std::memory_order_relaxed),
            detail::word(counter.window_end).load(std::memory_order_relaxed)};
  }
  /// A fraction out of range (a word not written by this rate) read as the most it could mean.
  [[nodiscard]] static Tat normal(Tat tat, const detail::RollingRate& rate) noexcept {
    if (tat.rem >= rate.den) tat.rem = rate.den - 1;
    return tat;
  }
  [[nodiscard]] static Tat later(Tat tat, std::uint64_t now_ns) noexcept { return tat.whole >= now_ns ? tat : Tat{now_ns, 0}; }
  [[nodiscard]] static Tat add(Tat a, Tat b, const detail::RollingRate& rate) noexcept {
    const std::uint64_t rem = a.rem + b.rem;  // both below den < 2^55
    return rem >= rate.den ? Tat{a.whole + b.whole + 1, rem - rate.den} : Tat{a.whole + b.whole, rem};
  }

  /// Replaces both words with `desired` if they still hold `expected`; otherwise loads them,
  /// together, into `expected`. Relaxed, like every counter update (the locked instruction orders
  /// more than that). Lock-free and address-free: it works on a slot in shared memory.
  static bool exchange(KeySlot::Counter& counter, Tat& expected, Tat desired) noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static_assert(alignof(KeySlot::Counter) == 16, "cmpxchg16b needs the counter's two words 16-byte aligned");
    bool swapped;
    __asm__ __volatile__("lock cmpxchg16b %1"
                         : "=@ccz"(swapped), "+m"(counter), "+a"(expected.whole), "+d"(expected.rem)
                         : "b"(desired.whole), "c"(desired.rem)
                         : "memory");
    return swapped;
#else
    (void)counter, (void)expected, (void)desired;
    std::terminate();  // unreachable: without detail::exact_rolling every rate's den is 1
#endif
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
    if (!Gcra::fits(plan, amount, burst)) return {Reason::too_large, Duration::max()};
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
