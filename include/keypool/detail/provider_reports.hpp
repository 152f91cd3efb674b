// Which of a key's limits a provider's answer is about: the limit a remaining-report tightens (only
// the window the provider describes), and the limits a quota_exhausted answer marks spent. Pure
// functions of the key's plans and the time.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/calendar.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/outcome.hpp>
#include <keypool/time.hpp>

namespace keypool::detail {

/// The calendar unit a provider's window names (nullopt: unknown).
[[nodiscard]] constexpr std::optional<WindowUnit> unit_of(Window window) noexcept {
  switch (window) {
    case Window::second: return WindowUnit::second;
    case Window::minute: return WindowUnit::minute;
    case Window::hour: return WindowUnit::hour;
    case Window::day: return WindowUnit::day;
    case Window::month: return WindowUnit::month;
    case Window::unknown: break;
  }
  return std::nullopt;
}

/// The unit a reset horizon identifies: the smallest of second, minute, hour, day, month (31 days)
/// whose length is at least `horizon` (a second more for a minute and longer, for a provider's
/// rounding); nullopt beyond a month.
[[nodiscard]] constexpr std::optional<WindowUnit> unit_holding(Duration horizon) noexcept {
  using std::chrono::seconds;
  if (horizon <= seconds{1}) return WindowUnit::second;
  if (horizon <= seconds{60 + 1}) return WindowUnit::minute;
  if (horizon <= seconds{3'600 + 1}) return WindowUnit::hour;
  if (horizon <= seconds{86'400 + 1}) return WindowUnit::day;
  if (horizon <= seconds{31 * 86'400 + 1}) return WindowUnit::month;
  return std::nullopt;
}

/// The calendar limit of `key` that `report` describes, or `key.limit_count` for none. Only a
/// limit of the report's metric whose window is the one the provider describes:
///  - the report's window, when known (from the provider's dialect), is the limit's unit;
///  - else the reported amount is the limit's and the reset (if any) falls within the limit's
///    window length; or the reset horizon identifies the limit's unit (see unit_holding).
/// Of several, one with the reported amount first. A longer window is never drained by a report
/// about a shorter one: Groq's per-minute tokens never fill a key's tokens per day.
[[nodiscard]] inline std::size_t report_target(const KeyRecord& key, const ProviderRemaining& report, TimePoint now) noexcept {
  const LimitPlan* plans = key.plans;
  const std::size_t count = key.limit_count;
  const std::int64_t now_sec = to_seconds(now);
  const bool has_reset = report.resets_at > now;
  const Duration horizon = has_reset ? report.resets_at - now : Duration::zero();
  const std::optional<WindowUnit> named = unit_of(report.window);
  const std::optional<WindowUnit> by_horizon = has_reset ? unit_holding(horizon) : std::nullopt;
  std::size_t chosen = count;
  for (std::size_t i = 0; i < count; ++i) {
    if (plans[i].kind != Limit::Kind::window || plans[i].metric != report.metric) continue;
    const WindowUnit unit = plans[i].limit.unit();
    const bool same_amount = report.limit != 0 && plans[i].amount == report.limit;
    bool describes = false;
    if (named) {
      describes = *named == unit;
    } else {
      bool fits = !has_reset;
      if (same_amount && has_reset) {
        const accounting::WindowNow window = accounting::current_window_of(plans[i].limit, now_sec);
        const std::int64_t length = window.end - accounting::window_start_of(plans[i].limit, window.epoch);
        fits = horizon <= std::chrono::seconds{length + 1};
      }
      describes = (same_amount && fits) || (by_horizon && *by_horizon == unit);
    }
    if (!describes) continue;
    if (chosen == count || (same_amount && plans[chosen].amount != report.limit)) chosen = i;
  }
  return chosen;
}

/// The latest end (UTC seconds) of the key's current calendar windows, each in its reset zone, of
/// `metric`'s limits only when given; 0 when there are none. Without a metric: where a quota of a
/// metric the key does not count leaves it, out until its own longest window resets (YouTube's
/// quotaExceeded on a key counting units per day in Pacific time: midnight Pacific).
[[nodiscard]] inline std::int64_t longest_window_end(const KeyRecord& key, TimePoint now,
                                                     std::optional<Metric> metric = std::nullopt) noexcept {
  const std::int64_t now_sec = to_seconds(now);
  std::int64_t latest = 0;
  for (std::size_t i = 0; i < key.limit_count; ++i)
    if (key.plans[i].kind == Limit::Kind::window && (!metric || key.plans[i].metric == *metric))
      latest = std::max(latest, accounting::current_window_of(key.plans[i].limit, now_sec).end);
  return latest;
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
  const std::int64_t longest_end = longest_window_end(key, now, outcome.metric());
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
