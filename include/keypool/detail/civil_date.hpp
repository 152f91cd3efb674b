// Civil-date arithmetic on day numbers (days since 1970-01-01, proleptic Gregorian calendar): the
// one place where Zone, the calendar windows and the HTTP-date parsers turn dates into days and back.
#pragma once

#include <cstdint>

namespace keypool::detail {

// Howard Hinnant's civil-calendar algorithms (https://howardhinnant.github.io/date_algorithms.html)
// on 64-bit day counts, so that every year a sys_seconds can name works, not only std::chrono::year's
// -32767..32767. Day numbers count from 1970-01-01 (day 0). Every function here is constexpr,
// noexcept, allocation-free and thread-safe (a pure function of its arguments), and O(1).

inline constexpr std::int64_t seconds_per_day = 86'400;

/// A calendar date: year (0 is 1 BC, -1 is 2 BC, …), month 1..12, day 1..31.
struct CivilDate {
  std::int64_t year;
  unsigned month;
  unsigned day;
  friend constexpr bool operator==(const CivilDate&, const CivilDate&) = default;
};

/// a / b rounded towards negative infinity (b > 0).
[[nodiscard]] constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t quotient = a / b;
  return quotient - (a % b < 0 ? 1 : 0);
}

/// The day number of year-month-day (month 1..12, day 1..31; other values give meaningless days).
[[nodiscard]] constexpr std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) noexcept {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(year, 400);
  const auto year_of_era = static_cast<unsigned>(year - era * 400);                       // [0, 399]
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;  // [0, 365]
  const unsigned day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;              // [0, 146096]
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

/// The date of day number `days`.
[[nodiscard]] constexpr CivilDate civil_from_days(std::int64_t days) noexcept {
  days += 719468;
  const std::int64_t era = floor_div(days, 146097);
  const auto day_of_era = static_cast<unsigned>(days - era * 146097);                     // [0, 146096]
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;   // [0, 399]
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);              // [0, 365]
  const unsigned shifted_month = (5 * day_of_year + 2) / 153;                              // March = 0
  const unsigned day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
  const unsigned month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
  return {static_cast<std::int64_t>(year_of_era) + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

/// Whether `year` has a February 29th: divisible by 4, except centuries not divisible by 400.
[[nodiscard]] constexpr bool is_leap_year(std::int64_t year) noexcept {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

/// Number of days in `month` (1..12) of `year`.
[[nodiscard]] constexpr unsigned days_in_month(std::int64_t year, unsigned month) noexcept {
  constexpr unsigned lengths[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : lengths[month - 1];
}

/// Day of the week of day number `days`, 0 = Sunday .. 6 = Saturday (1970-01-01 was a Thursday).
[[nodiscard]] constexpr unsigned weekday_from_days(std::int64_t days) noexcept {
  return static_cast<unsigned>(days - floor_div(days + 4, 7) * 7 + 4);
}

}  // namespace keypool::detail
