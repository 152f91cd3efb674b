// Which of a key's limits a provider's answer is about: the limit a remaining-report tightens, and
// the limits a quota_exhausted answer marks spent. Pure functions of the key's plans and the time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/outcome.hpp>

namespace keypool::detail {

/// The calendar limit of `key` that `report` describes, or `key.limit_count` for none: the one
/// with the reported amount, else the shortest window that lasts until the reported reset, else
/// the only calendar limit of that metric.
[[nodiscard]] inline std::size_t report_target(const KeyRecord& key, const ProviderRemaining& report, TimePoint now) noexcept {
  const LimitPlan* plans = key.plans;
  const std::size_t count = key.limit_count;
  const std::int64_t now_sec = to_seconds(now);
  std::size_t chosen = count;
  std::size_t candidates = 0;
  std::size_t only = count;
  for (std::size_t i = 0; i < count; ++i)
    if (plans[i].kind == Limit::Kind::window && plans[i].metric == report.metric) {
      ++candidates;
      only = i;
      if (report.limit != 0 && plans[i].amount == report.limit && chosen == count) chosen = i;
    }
  if (chosen == count && report.resets_at > now) {
    std::int64_t best_length = std::numeric_limits<std::int64_t>::max();
    const auto reset_in = std::chrono::duration_cast<std::chrono::seconds>(report.resets_at - now).count();
    for (std::size_t i = 0; i < count; ++i) {
      if (plans[i].kind != Limit::Kind::window || plans[i].metric != report.metric) continue;
      const accounting::WindowNow window = accounting::current_window_of(plans[i].limit, now_sec);
      const std::int64_t length = window.end - accounting::window_start_of(plans[i].limit, window.epoch);
      if (length + 1 >= reset_in && length < best_length) {
        best_length = length;
        chosen = i;
      }
    }
  }
  if (chosen == count && candidates == 1) chosen = only;
  return chosen;
}

/// The limits a quota_exhausted answer marks spent, as a bit mask, and the latest end (UTC
/// seconds) of their windows. With `until`, every calendar limit of the metric whose window ends
/// by then (a per-minute answer marks the minute, a per-day one the day too); without it, the
/// longest calendar window of the metric (a quota, not a rate).
struct SpentLimits {
  std::uint32_t mask = 0;
  std::int64_t latest_end = 0;
};
[[nodiscard]] inline SpentLimits spent_limits(const KeyRecord& key, const Outcome& outcome, TimePoint now) noexcept {
  const LimitPlan* plans = key.plans;
  const std::size_t count = key.limit_count;
  const std::int64_t now_sec = to_seconds(now);
  const std::uint64_t until_ns = to_ns(outcome.until());
  const bool has_until = until_ns > to_ns(now);
  std::int64_t longest_end = 0;
  for (std::size_t i = 0; i < count; ++i)
    if (plans[i].kind == Limit::Kind::window && plans[i].metric == outcome.metric())
      longest_end = std::max(longest_end, accounting::current_window_of(plans[i].limit, now_sec).end);
  SpentLimits spent;
  for (std::size_t i = 0; i < count; ++i) {
    if (plans[i].kind != Limit::Kind::window || plans[i].metric != outcome.metric()) continue;
    const std::int64_t end = accounting::current_window_of(plans[i].limit, now_sec).end;
    const bool matches = has_until ? static_cast<std::uint64_t>(end) * 1'000'000'000ull <= until_ns + 1'000'000'000ull
                                   : end == longest_end;
    if (!matches) continue;
    spent.mask |= 1u << i;
    spent.latest_end = std::max(spent.latest_end, end);
  }
  return spent;
}

}  // namespace keypool::detail
