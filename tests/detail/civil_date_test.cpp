// Specification of keypool::detail's civil-date arithmetic: day numbers and dates convert both ways
// over the whole range a sys_seconds can name, before 1970 too; leap years and month lengths follow
// the Gregorian rules; and std::chrono agrees wherever it can count.
#include <keypool/detail/civil_date.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>

namespace {

namespace kp = keypool;
using kp::detail::CivilDate;
using kp::detail::civil_from_days;
using kp::detail::days_from_civil;
using kp::detail::days_in_month;
using kp::detail::is_leap_year;
using kp::detail::weekday_from_days;

// The day after `date`, by counting (not by the functions under test).
CivilDate next_date(CivilDate date) {
  if (date.day < days_in_month(date.year, date.month)) return {date.year, date.month, date.day + 1};
  if (date.month < 12) return {date.year, date.month + 1, 1};
  return {date.year + 1, 1, 1};
}

}  // namespace

TEST_CASE("well-known days have the numbers the Unix epoch gives them, before 1970 too", "[civil_date]") {
  STATIC_REQUIRE(days_from_civil(1970, 1, 1) == 0);
  STATIC_REQUIRE(days_from_civil(1970, 1, 2) == 1);
  STATIC_REQUIRE(days_from_civil(1969, 12, 31) == -1);
  STATIC_REQUIRE(days_from_civil(1969, 1, 1) == -365);
  STATIC_REQUIRE(days_from_civil(1900, 1, 1) == -25'567);
  STATIC_REQUIRE(days_from_civil(1, 1, 1) == -719'162);
  STATIC_REQUIRE(days_from_civil(0, 3, 1) == -719'468);  // the algorithm's era 0 starts here
  STATIC_REQUIRE(days_from_civil(2000, 3, 1) == 11'017);
  STATIC_REQUIRE(days_from_civil(2026, 11, 24) == 20'781);
  STATIC_REQUIRE(civil_from_days(0) == CivilDate{1970, 1, 1});
  STATIC_REQUIRE(civil_from_days(-1) == CivilDate{1969, 12, 31});
  STATIC_REQUIRE(civil_from_days(-25'567) == CivilDate{1900, 1, 1});
  STATIC_REQUIRE(civil_from_days(-719'162) == CivilDate{1, 1, 1});
  STATIC_REQUIRE(civil_from_days(-719'163) == CivilDate{0, 12, 31});  // 1 BC, proleptic
  STATIC_REQUIRE(civil_from_days(20'781) == CivilDate{2026, 11, 24});
}

TEST_CASE("every day from 2000 BC to AD 4000 converts to its date and back, one day after the other", "[civil_date]") {
  CivilDate expected{-2000, 1, 1};
  const std::int64_t first = days_from_civil(expected.year, expected.month, expected.day);
  const std::int64_t last = days_from_civil(4000, 12, 31);
  REQUIRE(first < 0);
  int failures = 0;
  for (std::int64_t day = first; day <= last; ++day) {
    const CivilDate date = civil_from_days(day);
    if ((date != expected || days_from_civil(date.year, date.month, date.day) != day) && ++failures <= 5)
      FAIL_CHECK("day " << day << " reads as " << date.year << "-" << date.month << "-" << date.day << ", expected "
                        << expected.year << "-" << expected.month << "-" << expected.day);
    expected = next_date(expected);
  }
  CHECK(failures == 0);
  CHECK(expected == CivilDate{4001, 1, 1});
}

TEST_CASE("std::chrono agrees on every day it can name from 1600 to 2400, weekdays included", "[civil_date]") {
  const std::int64_t first = days_from_civil(1600, 1, 1);
  const std::int64_t last = days_from_civil(2400, 12, 31);
  int failures = 0;
  for (std::int64_t day = first; day <= last; ++day) {
    const std::chrono::sys_days date{std::chrono::days{day}};
    const std::chrono::year_month_day expected{date};
    const CivilDate civil = civil_from_days(day);
    const bool agrees = civil.year == static_cast<int>(expected.year()) && civil.month == static_cast<unsigned>(expected.month()) &&
                        civil.day == static_cast<unsigned>(expected.day()) &&
                        weekday_from_days(day) == std::chrono::weekday{date}.c_encoding();
    if (!agrees && ++failures <= 5) FAIL_CHECK("day " << day);
  }
  CHECK(failures == 0);
  STATIC_REQUIRE(weekday_from_days(0) == 4);   // 1970-01-01 was a Thursday
  STATIC_REQUIRE(weekday_from_days(-4) == 0);  // 1969-12-28 was a Sunday
}

TEST_CASE("day numbers far from 1970 round-trip, in both directions", "[civil_date]") {
  // A sys_seconds holds about ±1.07e14 days; stride across that range with a step that is no
  // multiple of the 400-year era, so that every part of an era is visited.
  constexpr std::int64_t reach = std::numeric_limits<std::int64_t>::max() / kp::detail::seconds_per_day;
  constexpr std::int64_t step = 1'000'000'007;
  int failures = 0;
  for (std::int64_t day = -reach; day <= reach - step; day += step) {
    const CivilDate date = civil_from_days(day);
    const bool valid = date.month >= 1 && date.month <= 12 && date.day >= 1 && date.day <= days_in_month(date.year, date.month);
    if ((!valid || days_from_civil(date.year, date.month, date.day) != day) && ++failures <= 5) FAIL_CHECK("day " << day);
  }
  CHECK(failures == 0);
  STATIC_REQUIRE(civil_from_days(days_from_civil(-292'277'022'657, 1, 27)) == CivilDate{-292'277'022'657, 1, 27});
  STATIC_REQUIRE(civil_from_days(days_from_civil(292'277'026'596, 12, 4)) == CivilDate{292'277'026'596, 12, 4});
}

TEST_CASE("leap years: every fourth, except centuries not divisible by 400", "[civil_date]") {
  STATIC_REQUIRE(is_leap_year(2024));
  STATIC_REQUIRE(is_leap_year(2000));
  STATIC_REQUIRE(is_leap_year(1600));
  STATIC_REQUIRE(!is_leap_year(1900));
  STATIC_REQUIRE(!is_leap_year(2100));
  STATIC_REQUIRE(!is_leap_year(2023));
  STATIC_REQUIRE(!is_leap_year(2026));
  STATIC_REQUIRE(is_leap_year(0));  // 1 BC
  STATIC_REQUIRE(is_leap_year(-4));
  STATIC_REQUIRE(!is_leap_year(-100));
  STATIC_REQUIRE(is_leap_year(-400));
  STATIC_REQUIRE(!is_leap_year(-1));
  // A year is 366 days long exactly when it is a leap year.
  for (std::int64_t year = -1000; year <= 3000; ++year) {
    const std::int64_t length = days_from_civil(year + 1, 1, 1) - days_from_civil(year, 1, 1);
    if (length != (is_leap_year(year) ? 366 : 365)) FAIL_CHECK("year " << year << " has " << length << " days");
  }
  STATIC_REQUIRE(civil_from_days(days_from_civil(2024, 2, 29)) == CivilDate{2024, 2, 29});
  STATIC_REQUIRE(civil_from_days(days_from_civil(2000, 2, 29)) == CivilDate{2000, 2, 29});
  STATIC_REQUIRE(civil_from_days(days_from_civil(1900, 2, 28) + 1) == CivilDate{1900, 3, 1});
}

TEST_CASE("month lengths: 30 days hath September, February 28 or 29", "[civil_date]") {
  constexpr unsigned common[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (unsigned month = 1; month <= 12; ++month) {
    CAPTURE(month);
    CHECK(days_in_month(2023, month) == common[month - 1]);
    CHECK(days_in_month(2024, month) == (month == 2 ? 29u : common[month - 1]));
    CHECK(days_in_month(1900, month) == common[month - 1]);
    CHECK(days_in_month(2000, month) == (month == 2 ? 29u : common[month - 1]));
    // The month's length is the distance to the first of the next month, in years before 1970 too.
    for (const std::int64_t year : {std::int64_t{-401}, std::int64_t{1}, std::int64_t{1900}, std::int64_t{1969}, std::int64_t{2024}}) {
      CAPTURE(year);
      const std::int64_t next = month == 12 ? days_from_civil(year + 1, 1, 1) : days_from_civil(year, month + 1, 1);
      CHECK(next - days_from_civil(year, month, 1) == days_in_month(year, month));
    }
  }
}

TEST_CASE("floor_div rounds towards negative infinity", "[civil_date]") {
  STATIC_REQUIRE(kp::detail::floor_div(7, 7) == 1);
  STATIC_REQUIRE(kp::detail::floor_div(6, 7) == 0);
  STATIC_REQUIRE(kp::detail::floor_div(0, 7) == 0);
  STATIC_REQUIRE(kp::detail::floor_div(-1, 7) == -1);
  STATIC_REQUIRE(kp::detail::floor_div(-7, 7) == -1);
  STATIC_REQUIRE(kp::detail::floor_div(-8, 7) == -2);
}
