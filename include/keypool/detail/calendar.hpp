// Calendar windows of a Zone (seconds, minutes, hours, local days, local months), numbered from the
// window that contains 1970-01-01T00:00:00Z: the arithmetic behind per_day() and friends.
#pragma once

#include <keypool/detail/civil_date.hpp>
#include <keypool/zone.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace keypool::detail {

/// The length of a calendar window.
enum class WindowUnit : std::uint8_t { second, minute, hour, day, month };

// How the windows are laid out:
//
//  - second, minute and hour windows are aligned on the zone's STANDARD offset: the window of t is
//    floor((t + standard_offset) / unit). They are all equally long and never move with DST; for
//    whole-hour DST shifts they match the local wall clock's boundaries.
//  - a day window starts at local midnight, with DST: in "PST8PDT,M3.2.0,M11.1.0" that is 08:00 UTC
//    in winter and 07:00 UTC in summer, and the spring-forward day is 23 h long, the fall-back day
//    25 h. Precisely, day D starts at the first UTC instant whose local date is D. When midnight is
//    skipped (a change at 00:00 that springs forward) that is the instant of the change; when the
//    clock falls back across midnight the day starts at the first midnight, and the repeated
//    evening before it still belongs to the new day, so windows never go backwards.
//  - a month window starts where the day window of its 1st starts.
//
// The contract, for t from 1970 on and i >= 0 (tested over randomized sweeps):
//   window_index is non-decreasing in t;
//   window_start(u, z, window_index(u, z, t)) <= t < window_start(u, z, window_index(u, z, t) + 1);
//   window_index(u, z, window_start(u, z, i)) == i.
// Window 0 is the one containing 1970-01-01T00:00:00Z; it may start before 1970 (a day window in a
// zone west of UTC starts on 1969-12-31), and window_start of a negative index names an earlier one.
// Times are clamped to [1970, 1970 + 71 million years]; beyond that the contract does not hold.

namespace calendar {

// Times are clamped to [0, 2^51 s] (about 71 million years) so that no arithmetic can overflow.
inline constexpr std::int64_t horizon = std::int64_t{1} << 51;

constexpr std::int64_t fixed_length(WindowUnit unit) noexcept {
  switch (unit) {
    case WindowUnit::second: return 1;
    case WindowUnit::minute: return 60;
    case WindowUnit::hour: return 3'600;
    case WindowUnit::day: return seconds_per_day;
    case WindowUnit::month: return 31 * seconds_per_day;  // the longest month, used to bound indices
  }
  return 1;
}

// The first UTC instant (seconds since 1970) whose local date is `local_day`.
inline std::int64_t first_instant_of_local_day(const Zone& zone, std::int64_t local_day) noexcept {
  const std::int64_t midnight = local_day * seconds_per_day;  // local seconds
  const std::int64_t standard = zone.standard_offset().count();
  if (!zone.has_dst()) return midnight - standard;
  // Local time u + offset(u) reaches midnight no earlier than `midnight - largest offset` and no
  // later than `midnight - smallest offset`. Walk the periods from the former: in each, local time
  // reads midnight at `midnight - offset`; if that instant lies before the period, the clock sprang
  // past midnight at the period's start.
  const std::int64_t daylight = zone.daylight_offset().count();
  std::int64_t instant = midnight - std::max(standard, daylight);
  for (;;) {
    const Zone::Period period = zone.period_at(std::chrono::sys_seconds{std::chrono::seconds{instant}});
    const std::int64_t reads_midnight = midnight - period.offset.count();
    if (reads_midnight <= instant) return instant;
    if (reads_midnight < period.end.time_since_epoch().count()) return reads_midnight;
    instant = period.end.time_since_epoch().count();
  }
}

// The local day whose window contains `instant`: the last day that has started by then. That is
// the local date of `instant`, or the next date when the clock fell back across midnight and shows
// the previous evening again.
inline std::int64_t day_window(const Zone& zone, std::int64_t instant) noexcept {
  const std::chrono::sys_seconds at{std::chrono::seconds{instant}};
  const std::int64_t local = instant + zone.offset_at(at).count();
  const std::int64_t local_day = floor_div(local, seconds_per_day);
  if (!zone.has_dst()) return local_day;
  // Local time never drops more than the DST shift below a value it has shown, so the next day can
  // only have started if its midnight is at most that far ahead.
  const std::int64_t shift = zone.daylight_offset().count() - zone.standard_offset().count();
  const std::int64_t to_next_midnight = (local_day + 1) * seconds_per_day - local;
  if (to_next_midnight <= (shift < 0 ? -shift : shift) &&
      first_instant_of_local_day(zone, local_day + 1) <= instant) {
    return local_day + 1;
  }
  return local_day;
}

// Months since January 1970 of a day number.
inline std::int64_t month_of_day(std::int64_t day) noexcept {
  const CivilDate date = civil_from_days(day);
  return (date.year - 1970) * 12 + static_cast<std::int64_t>(date.month) - 1;
}

// Day number of the 1st of a month counted from January 1970.
inline std::int64_t first_day_of_month(std::int64_t month) noexcept {
  const std::int64_t years = floor_div(month, 12);
  return days_from_civil(1970 + years, static_cast<unsigned>(month - years * 12) + 1, 1);
}

}  // namespace calendar

/// Index of the calendar window containing t, counted from the window containing
/// 1970-01-01T00:00:00Z (index 0 may be partial; times before 1970 are clamped to index 0).
/// Thread-safe (reads an immutable Zone). Throws nothing. O(1): second/minute/hour windows take
/// a few integer operations; day and month windows evaluate the zone's rule (a few hundred ns
/// with DST), no allocation.
[[nodiscard]] inline std::int64_t window_index(WindowUnit unit, const Zone& zone,
                                               std::chrono::sys_seconds t) noexcept {
  const std::int64_t instant = std::clamp<std::int64_t>(t.time_since_epoch().count(), 0, calendar::horizon);
  switch (unit) {
    case WindowUnit::second:
    case WindowUnit::minute:
    case WindowUnit::hour: {
      const std::int64_t length = calendar::fixed_length(unit);
      const std::int64_t standard = zone.standard_offset().count();
      return floor_div(instant + standard, length) - floor_div(standard, length);
    }
    case WindowUnit::day:
      return calendar::day_window(zone, instant) - calendar::day_window(zone, 0);
    case WindowUnit::month:
      return calendar::month_of_day(calendar::day_window(zone, instant)) -
             calendar::month_of_day(calendar::day_window(zone, 0));
  }
  return 0;
}

/// The UTC instant at which window `index` starts (window_index's inverse; see the contract above).
/// Window 0 may start before 1970; indices are clamped to about ±71 million years.
/// Thread-safe (reads an immutable Zone). Throws nothing. O(1), as window_index.
[[nodiscard]] inline std::chrono::sys_seconds window_start(WindowUnit unit, const Zone& zone,
                                                           std::int64_t index) noexcept {
  const std::int64_t bound = calendar::horizon / calendar::fixed_length(unit);
  index = std::clamp(index, -bound, bound);
  std::int64_t start = 0;
  switch (unit) {
    case WindowUnit::second:
    case WindowUnit::minute:
    case WindowUnit::hour: {
      const std::int64_t length = calendar::fixed_length(unit);
      const std::int64_t standard = zone.standard_offset().count();
      start = (floor_div(standard, length) + index) * length - standard;
      break;
    }
    case WindowUnit::day:
      start = calendar::first_instant_of_local_day(zone, calendar::day_window(zone, 0) + index);
      break;
    case WindowUnit::month: {
      const std::int64_t month = calendar::month_of_day(calendar::day_window(zone, 0)) + index;
      start = calendar::first_instant_of_local_day(zone, calendar::first_day_of_month(month));
      break;
    }
  }
  return std::chrono::sys_seconds{std::chrono::seconds{start}};
}

}  // namespace keypool::detail
