// A limit compiled for the hot path: what to count, the admission cap per priority, the packing
// of its counter word, and the thresholds at which it reports. Immutable once built.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <keypool/detail/packed_window.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/options.hpp>

namespace keypool::detail {

inline constexpr std::uint8_t exhausted_bit = 0x80;  // in KeySlot::alerted: key_exhausted reported

struct LimitPlan {
  // Hot: what reserve/release read, first, so a plan's hot part fits one cache line.
  Limit::Kind kind;
  Metric metric;
  PackedWindow packing;
  std::uint64_t amount;
  /// Calendar: the most usage a request of each priority may bring the window to.
  /// Rolling: the burst tolerance in ns for each priority (GCRA's τ + one interval).
  std::array<std::uint64_t, priority_count> cap{};
  std::uint64_t interval_ns = 0;  // rolling: ns per unit, rounded up (never over-admits)
  std::array<std::uint64_t, Thresholds::max_levels> threshold_at{};  // usage at which level i fires
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
      for (std::size_t p = 0; p < priority_count; ++p)
        cap[p] = source.cap(static_cast<Priority>(p)) * interval_ns;
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
