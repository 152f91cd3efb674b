// A limit compiled for the hot path: what to count, the admission cap per priority, the packing
// of its counter word, and the thresholds at which it reports. Immutable once built.
#pragma once

#include <array>
#include <cmath>
#include <compare>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <keypool/detail/packed_window.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/options.hpp>

namespace keypool::detail {

inline constexpr std::uint8_t exhausted_bit = 0x80;  // in KeySlot::alerted: key_exhausted reported

/// Whether a rolling limit is counted exactly (accounting::Gcra keeps its theoretical arrival time
/// as whole ns plus a fraction in the counter's two words, swapped by one 16-byte compare-and-swap:
/// x86-64's cmpxchg16b, lock-free and address-free, so it works in shared memory). Elsewhere the
/// emission interval is rounded up to whole ns, which never over-admits but refuses a little early.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline constexpr bool exact_rolling = true;
__extension__ using WideUnsigned = unsigned __int128;
#else
inline constexpr bool exact_rolling = false;
#endif

/// A time in ns as whole ns plus `rem`/den ns (0 <= rem < den) of a rolling limit's RollingRate.
struct FractionalNs {
  std::uint64_t whole = 0;
  std::uint64_t rem = 0;
  friend bool operator==(const FractionalNs&, const FractionalNs&) = default;
  friend auto operator<=>(const FractionalNs&, const FractionalNs&) = default;  // whole first: rem < den
};

/// A rolling limit's rate as an exact fraction: `num` ns per `den` units (the period over the
/// amount, both divided by their gcd), so a theoretical arrival time is always whole ns plus a
/// multiple of 1/den ns. `per_unit` and `per_unit_rem` split num / den; `cap_rem[p]` is the part
/// below one ns, in 1/den ns, of priority p's burst (whose whole ns are LimitPlan::cap[p]).
struct RollingRate {
  std::uint64_t num = 1;
  std::uint64_t den = 1;
  std::uint64_t per_unit = 1;
  std::uint64_t per_unit_rem = 0;
  std::array<std::uint64_t, priority_count> cap_rem{};

  /// `units` × num / den. `units` × per_unit must not overflow (a reserve's units are at most the
  /// amount, so the span is at most the period).
  [[nodiscard]] FractionalNs span(std::uint64_t units) const noexcept {
    const std::uint64_t whole = units * per_unit;
    if (per_unit_rem == 0) [[likely]] return {whole, 0};
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    std::uint64_t product;
    if (!__builtin_mul_overflow(units, per_unit_rem, &product)) {
      if (product < den) return {whole, product};  // a few units: no division
      return {whole + product / den, product % den};
    }
    const WideUnsigned wide = static_cast<WideUnsigned>(units) * per_unit_rem;
    return {whole + static_cast<std::uint64_t>(wide / den), static_cast<std::uint64_t>(wide % den)};
#else
    return {whole, 0};  // unreachable: without exact_rolling den is 1, so per_unit_rem is 0
#endif
  }
};

struct LimitPlan {
  // Hot: what reserve/release read, first, so a plan's hot part fits one cache line.
  Limit::Kind kind;
  Metric metric;
  PackedWindow packing;
  std::uint64_t amount;
  /// Calendar: the most usage a request of each priority may bring the window to.
  /// Rolling: the burst tolerance for each priority, cap(priority) × period / amount, in whole
  /// ns (rounded down; `rate.cap_rem` holds the rest).
  std::array<std::uint64_t, priority_count> cap{};
  /// Rolling: ns per unit rounded up, for the fleet's rate (store::Redis) and its leases.
  std::uint64_t interval_ns = 0;
  std::array<std::uint64_t, Thresholds::max_levels> threshold_at{};  // usage at which level i fires
  RollingRate rate;  // rolling: the exact rate accounting::Gcra counts with
  // Cold: events, snapshots and calendar math.
  std::array<double, Thresholds::max_levels> levels{};
  std::uint8_t level_count = 0;
  Limit limit;

  LimitPlan(const Limit& source, const Thresholds& thresholds)
      : kind(source.kind()), metric(source.metric()),
        packing(source.kind() == Limit::Kind::window ? source.unit() : WindowUnit::second),
        amount(source.amount()), limit(source) {
    if (kind == Limit::Kind::unset)
      throw Error("limit '" + source.describe() + "' has no period: add .per_minute(), .per_day(), .per(duration) or .per_request()");
    if (kind == Limit::Kind::rolling) {
      const auto period = static_cast<std::uint64_t>(source.period().count());
      interval_ns = (period + amount - 1) / amount;
      // Limit::per bounds the period to 400 days (< 2^55 ns) and the amount to the period, so
      // num, den and every burst (at most the period) fit in 64 bits.
      const std::uint64_t common = std::gcd(period, amount);
      rate.num = exact_rolling ? period / common : interval_ns;
      rate.den = exact_rolling ? amount / common : 1;
      rate.per_unit = rate.num / rate.den;
      rate.per_unit_rem = rate.num % rate.den;
      for (std::size_t p = 0; p < priority_count; ++p) {
        const FractionalNs burst = rate.span(source.cap(static_cast<Priority>(p)));
        cap[p] = burst.whole;
        rate.cap_rem[p] = burst.rem;
      }
    } else {
      for (std::size_t p = 0; p < priority_count; ++p) cap[p] = source.cap(static_cast<Priority>(p));
    }
    if (kind == Limit::Kind::window) {
      for (const double level : thresholds) {
        levels[level_count] = level;
        threshold_at[level_count] = scale_ceil(amount, level);
        if (threshold_at[level_count] == 0) threshold_at[level_count] = 1;
        ++level_count;
      }
    }
  }

  /// Bit mask of the levels crossed by moving usage from `before` to `after` (before < after).
  [[nodiscard]] std::uint8_t levels_crossed(std::uint64_t before, std::uint64_t after) const noexcept {
    std::uint8_t mask = 0;
    for (std::uint8_t i = 0; i < level_count; ++i)
      if (before < threshold_at[i] && after >= threshold_at[i]) mask = static_cast<std::uint8_t>(mask | (1u << i));
    return mask;
  }
};

/// The limits of a key, shared by every key with the same list (keys usually come in sets with
/// identical limits, so 10,000 keys keep one plan hot in cache).
struct LimitSet {
  std::vector<Limit> source;     // as given to add_key, for matching equal lists
  std::vector<LimitPlan> plans;  // same order
  std::uint64_t fingerprint = 0; // layout identity for persistent stores
};

}  // namespace keypool::detail
