// Specification of keypool::detail's calendar windows: second/minute/hour windows on the standard
// offset, day and month windows on the local calendar with DST, and the window contract checked
// over randomized sweeps and against glibc's local dates.
#include "support/glibc_zone.hpp"
#include "support/instants.hpp"
#include <keypool/detail/calendar.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

namespace kp = keypool;
using kp::detail::WindowUnit;
using kp::detail::window_index;
using kp::detail::window_start;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;
using namespace std::chrono_literals;

constexpr WindowUnit all_units[] = {WindowUnit::second, WindowUnit::minute, WindowUnit::hour, WindowUnit::day,
                                    WindowUnit::month};

const char* unit_name(WindowUnit unit) {
  switch (unit) {
    case WindowUnit::second: return "second";
    case WindowUnit::minute: return "minute";
    case WindowUnit::hour: return "hour";
    case WindowUnit::day: return "day";
    case WindowUnit::month: return "month";
  }
  return "?";
}

// Where the window of `unit` containing t starts and where the next one starts, as ISO text.
std::string start_of(WindowUnit unit, const kp::Zone& zone, sys_seconds t) {
  return iso(window_start(unit, zone, window_index(unit, zone, t)));
}
std::string end_of(WindowUnit unit, const kp::Zone& zone, sys_seconds t) {
  return iso(window_start(unit, zone, window_index(unit, zone, t) + 1));
}
// How long the window of `unit` containing t lasts.
seconds length_of(WindowUnit unit, const kp::Zone& zone, sys_seconds t) {
  const std::int64_t index = window_index(unit, zone, t);
  return window_start(unit, zone, index + 1) - window_start(unit, zone, index);
}


// Zones for the sweeps: no DST, whole and odd offsets, both hemispheres, negative DST, and changes
// at, before and after local midnight (where a day starts at the change, or midnight repeats).
const std::vector<std::string> sweep_rules = {
    "UTC0",
    "<-08>8",
    "<+0545>-5:45",
    "PST8PDT,M3.2.0,M11.1.0",
    "CET-1CEST,M3.5.0,M10.5.0/3",
    "AEST-10AEDT,M10.1.0,M4.1.0/3",
    "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
    "IST-1GMT0,M10.5.0,M3.5.0/1",
    "<-03>3<-02>,M3.5.0/0,M10.5.0/0",
    "<-03>3<-02>,M3.5.0/0,M10.5.0/0:30",
    "EST5EDT,M3.2.0/24,M11.1.0/24",
    "EST5EDT,M3.2.0/-1,M11.1.0/-1",
    "<+0330>-3:30<+0430>,J79/24,J263/24",
};

// Checks the window contract for every unit over 200,000 random instants from 1970 to 2200 and the
// seconds around every offset change: window_index never decreases; the window of t starts at or
// before t and the next one after it; window_start(i) is the first instant of window i.
void check_window_contract(const std::string& rule) {
  const std::int64_t first = utc(1970, 1, 1).time_since_epoch().count();
  const std::int64_t last = utc(2200, 1, 1).time_since_epoch().count();
  const kp::Zone zone = kp::Zone::posix(rule);
  std::mt19937_64 random{42};
  std::uniform_int_distribution<std::int64_t> any_instant{first, last};
  std::vector<std::int64_t> instants(200'000);
  for (std::int64_t& t : instants) t = any_instant(random);
  // Add the second before, at and after every offset change, where the trouble would be.
  if (zone.has_dst()) {
    for (sys_seconds t = zone.period_at(utc(1970, 1, 1)).end; t < utc(2200, 1, 1); t = zone.period_at(t).end) {
      const std::int64_t change = t.time_since_epoch().count();
      instants.insert(instants.end(), {change - 1, change, change + 1});
    }
  }
  std::sort(instants.begin(), instants.end());
  for (const WindowUnit unit : all_units) {
    INFO("zone " << rule << ", " << unit_name(unit) << " windows");
    int failures = 0;
    std::int64_t previous = 0;
    for (const std::int64_t count : instants) {
      const sys_seconds t{seconds{count}};
      const std::int64_t index = window_index(unit, zone, t);
      const sys_seconds start = window_start(unit, zone, index);
      const sys_seconds next = window_start(unit, zone, index + 1);
      const char* broken = nullptr;
      if (index < previous) {
        broken = "window_index decreased";
      } else if (!(start <= t && t < next)) {
        broken = "t lies outside its window";
      } else if (window_index(unit, zone, start) != index) {
        broken = "window_index(window_start(i)) != i";
      } else if (index > 0 && window_index(unit, zone, start - 1s) != index - 1) {
        broken = "the second before window_start(i) is not in window i-1";
      }
      if (broken != nullptr && ++failures <= 5) {
        FAIL_CHECK(broken << " at " << iso(t) << " (window " << index << " = [" << iso(start) << ", "
                          << iso(next) << "))");
      }
      previous = index;
    }
    CHECK(failures == 0);
  }
}

}  // namespace

TEST_CASE("civil-date arithmetic agrees with std::chrono for every day from 1900 to 2500", "[calendar]") {
  const std::int64_t first = std::chrono::sys_days{std::chrono::year{1900} / 1 / 1}.time_since_epoch().count();
  const std::int64_t last = std::chrono::sys_days{std::chrono::year{2500} / 12 / 31}.time_since_epoch().count();
  int failures = 0;
  for (std::int64_t day = first; day <= last; ++day) {
    const std::chrono::sys_days date{std::chrono::days{day}};
    const std::chrono::year_month_day expected{date};
    const kp::detail::CivilDate civil = kp::detail::civil_from_days(day);
    const bool agrees = civil.year == static_cast<int>(expected.year()) &&
                        civil.month == static_cast<unsigned>(expected.month()) &&
                        civil.day == static_cast<unsigned>(expected.day()) &&
                        kp::detail::days_from_civil(civil.year, civil.month, civil.day) == day &&
                        kp::detail::weekday_from_days(day) == std::chrono::weekday{date}.c_encoding() &&
                        kp::detail::days_in_month(civil.year, civil.month) ==
                            static_cast<unsigned>(std::chrono::year_month_day_last{
                                expected.year(), std::chrono::month_day_last{expected.month()}}.day());
    if (!agrees && ++failures <= 5) FAIL_CHECK("day " << day << " is " << iso(sys_seconds{date}));
  }
  CHECK(failures == 0);
  STATIC_REQUIRE(kp::detail::days_from_civil(1970, 1, 1) == 0);
  STATIC_REQUIRE(kp::detail::civil_from_days(-1) == kp::detail::CivilDate{1969, 12, 31});
  STATIC_REQUIRE(kp::detail::weekday_from_days(-4) == 0);  // 1969-12-28 was a Sunday
}

TEST_CASE("second, minute and hour windows in UTC start on UTC's own boundaries", "[calendar]") {
  const kp::Zone zone = kp::Zone::utc();
  const sys_seconds t = utc(2026, 11, 24, 8, 30, 15);
  CHECK(window_index(WindowUnit::second, zone, t) == t.time_since_epoch().count());
  CHECK(window_index(WindowUnit::minute, zone, t) == t.time_since_epoch().count() / 60);
  CHECK(window_index(WindowUnit::hour, zone, t) == t.time_since_epoch().count() / 3600);
  CHECK(start_of(WindowUnit::second, zone, t) == "2026-11-24T08:30:15Z");
  CHECK(end_of(WindowUnit::second, zone, t) == "2026-11-24T08:30:16Z");
  CHECK(start_of(WindowUnit::minute, zone, t) == "2026-11-24T08:30:00Z");
  CHECK(end_of(WindowUnit::minute, zone, t) == "2026-11-24T08:31:00Z");
  CHECK(start_of(WindowUnit::hour, zone, t) == "2026-11-24T08:00:00Z");
  CHECK(end_of(WindowUnit::hour, zone, t) == "2026-11-24T09:00:00Z");
  CHECK(window_index(WindowUnit::hour, zone, utc(2026, 11, 24, 8, 59, 59)) ==
        window_index(WindowUnit::hour, zone, utc(2026, 11, 24, 9)) - 1);
}

TEST_CASE("hour windows in a UTC+05:30 zone start at half past the UTC hour", "[calendar]") {
  const kp::Zone zone = kp::Zone::fixed(minutes{330});
  CHECK(start_of(WindowUnit::hour, zone, utc(2026, 11, 24, 8, 10)) == "2026-11-24T07:30:00Z");
  CHECK(end_of(WindowUnit::hour, zone, utc(2026, 11, 24, 8, 10)) == "2026-11-24T08:30:00Z");
  CHECK(start_of(WindowUnit::minute, zone, utc(2026, 11, 24, 8, 10, 30)) == "2026-11-24T08:10:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 11, 24, 8, 10)) == "2026-11-23T18:30:00Z");
  // Window 0 holds the epoch (05:30 local) and started at 05:00 local, 1969-12-31T23:30:00Z.
  CHECK(iso(window_start(WindowUnit::hour, zone, 0)) == "1969-12-31T23:30:00Z");
  CHECK(iso(window_start(WindowUnit::hour, zone, 1)) == "1970-01-01T00:30:00Z");
}

TEST_CASE("hour windows in Pacific time stay on the standard offset and last an hour across DST changes",
          "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  for (const sys_seconds t : {utc(2026, 3, 8, 9, 30), utc(2026, 3, 8, 10), utc(2026, 3, 8, 10, 30),
                              utc(2026, 11, 1, 8, 30), utc(2026, 11, 1, 9, 30)}) {
    INFO(iso(t));
    CHECK(length_of(WindowUnit::hour, zone, t) == 1h);
    CHECK(window_start(WindowUnit::hour, zone, window_index(WindowUnit::hour, zone, t)) ==
          std::chrono::floor<hours>(t));
  }
  CHECK(start_of(WindowUnit::hour, zone, utc(2026, 3, 8, 10)) == "2026-03-08T10:00:00Z");
  CHECK(start_of(WindowUnit::hour, zone, utc(2026, 3, 8, 9, 59, 59)) == "2026-03-08T09:00:00Z");
}

TEST_CASE("day windows in UTC start at midnight UTC and count days since 1970-01-01", "[calendar]") {
  const kp::Zone zone = kp::Zone::utc();
  const sys_seconds t = utc(2026, 11, 24, 13);
  CHECK(window_index(WindowUnit::day, zone, t) ==
        std::chrono::floor<std::chrono::days>(t).time_since_epoch().count());
  CHECK(start_of(WindowUnit::day, zone, t) == "2026-11-24T00:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, t) == "2026-11-25T00:00:00Z");
  CHECK(window_index(WindowUnit::day, zone, utc(2026, 11, 24, 23, 59, 59)) + 1 ==
        window_index(WindowUnit::day, zone, utc(2026, 11, 25)));
  CHECK(iso(window_start(WindowUnit::day, zone, 0)) == "1970-01-01T00:00:00Z");
}

TEST_CASE("midnight Pacific is 07:00 UTC in summer and 08:00 UTC in winter", "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 7, 15, 12)) == "2026-07-15T07:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, utc(2026, 7, 15, 12)) == "2026-07-16T07:00:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 7, 15, 6, 59, 59)) == "2026-07-14T07:00:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 1, 15, 12)) == "2026-01-15T08:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, utc(2026, 1, 15, 12)) == "2026-01-16T08:00:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 1, 15, 7, 59, 59)) == "2026-01-14T08:00:00Z");
}

TEST_CASE("the Pacific spring-forward day of 2026-03-08 lasts 23 hours and the fall-back day of 2026-11-01 25",
          "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  const sys_seconds spring_change = utc(2026, 3, 8, 10);
  CHECK(start_of(WindowUnit::day, zone, spring_change) == "2026-03-08T08:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, spring_change) == "2026-03-09T07:00:00Z");
  CHECK(length_of(WindowUnit::day, zone, spring_change) == 23h);
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 3, 7, 12)) == 24h);

  const sys_seconds fall_change = utc(2026, 11, 1, 9);
  CHECK(start_of(WindowUnit::day, zone, fall_change) == "2026-11-01T07:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, fall_change) == "2026-11-02T08:00:00Z");
  CHECK(length_of(WindowUnit::day, zone, fall_change) == 25h);
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 11, 2, 12)) == 24h);
  // The repeated hour 01:00-02:00 local belongs to the same day both times.
  CHECK(window_index(WindowUnit::day, zone, utc(2026, 11, 1, 8, 30)) ==
        window_index(WindowUnit::day, zone, utc(2026, 11, 1, 9, 30)));
}

TEST_CASE("midnight in Central Europe is 23:00 UTC in winter and 22:00 UTC in summer; 2026-03-29 lasts 23 hours "
          "and 2026-10-25 25 hours",
          "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("CET-1CEST,M3.5.0,M10.5.0/3");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 1, 15, 12)) == "2026-01-14T23:00:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 7, 15, 12)) == "2026-07-14T22:00:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 3, 29, 1)) == "2026-03-28T23:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, utc(2026, 3, 29, 1)) == "2026-03-29T22:00:00Z");
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 3, 29, 1)) == 23h);
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 10, 25, 1)) == "2026-10-24T22:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, utc(2026, 10, 25, 1)) == "2026-10-25T23:00:00Z");
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 10, 25, 1)) == 25h);
}

TEST_CASE("in Sydney the short day is in October and the long day in April", "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 1, 15, 12)) == "2026-01-14T13:00:00Z");  // AEDT, +11
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 7, 15, 12)) == "2026-07-14T14:00:00Z");  // AEST, +10
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 4, 4, 16)) == "2026-04-04T13:00:00Z");  // Sunday April 5
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 4, 4, 16)) == 25h);
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 10, 3, 16)) == "2026-10-03T14:00:00Z");  // Sunday October 4
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 10, 3, 16)) == 23h);
  // The new year arrives in summer time.
  CHECK(start_of(WindowUnit::month, zone, utc(2026, 12, 31, 13)) == "2026-12-31T13:00:00Z");
  CHECK(start_of(WindowUnit::month, zone, utc(2026, 12, 31, 12, 59, 59)) == "2026-11-30T13:00:00Z");
}

TEST_CASE("when DST starts at local midnight, that day starts at the change and lasts 23 hours", "[calendar]") {
  // Clocks go from 00:00 -03 to 01:00 -02 on Sunday 2026-03-29: local midnight never happens.
  const kp::Zone zone = kp::Zone::posix("<-03>3<-02>,M3.5.0/0,M10.5.0/0");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 3, 29, 3)) == "2026-03-29T03:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, utc(2026, 3, 29, 3)) == "2026-03-30T02:00:00Z");
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 3, 29, 2, 59, 59)) == "2026-03-28T03:00:00Z");
  CHECK(length_of(WindowUnit::day, zone, utc(2026, 3, 28, 12)) == 24h);
  // Clocks go from 00:00 -02 back to 23:00 -03 on 2026-10-25: Saturday runs on for 25 hours.
  CHECK(start_of(WindowUnit::day, zone, utc(2026, 10, 25, 2, 30)) == "2026-10-24T02:00:00Z");
  CHECK(end_of(WindowUnit::day, zone, utc(2026, 10, 25, 2, 30)) == "2026-10-25T03:00:00Z");
}

TEST_CASE("when DST starts at 24:00 or at -1:00, the day after the change starts at the change", "[calendar]") {
  // 24:00 on Sunday 2026-03-08 is Monday 00:00 EST, which becomes 01:00 EDT.
  const kp::Zone at_24 = kp::Zone::posix("EST5EDT,M3.2.0/24,M11.1.0/24");
  CHECK(start_of(WindowUnit::day, at_24, utc(2026, 3, 9, 5)) == "2026-03-09T05:00:00Z");
  CHECK(length_of(WindowUnit::day, at_24, utc(2026, 3, 9, 5)) == 23h);
  // 24:00 EDT on Sunday 2026-11-01 becomes 23:00 EST again: Monday starts an hour later.
  CHECK(start_of(WindowUnit::day, at_24, utc(2026, 11, 2, 4, 30)) == "2026-11-01T04:00:00Z");
  CHECK(start_of(WindowUnit::day, at_24, utc(2026, 11, 2, 5)) == "2026-11-02T05:00:00Z");

  // -1:00 on Sunday 2026-03-08 is Saturday 23:00 EST, which becomes Sunday 00:00 EDT.
  const kp::Zone at_minus_1 = kp::Zone::posix("EST5EDT,M3.2.0/-1,M11.1.0/-1");
  CHECK(start_of(WindowUnit::day, at_minus_1, utc(2026, 3, 8, 4)) == "2026-03-08T04:00:00Z");
  CHECK(start_of(WindowUnit::day, at_minus_1, utc(2026, 3, 8, 3, 59, 59)) == "2026-03-07T05:00:00Z");
  CHECK(length_of(WindowUnit::day, at_minus_1, utc(2026, 3, 7, 12)) == 23h);
}

TEST_CASE("when the clock falls back across midnight, the repeated evening belongs to the new day",
          "[calendar]") {
  // At 00:30 -02 on Sunday 2026-10-25 (02:30 UTC) clocks go back to Saturday 23:30 -03. Sunday
  // began at its first midnight, 02:00 UTC; the half hour of Saturday shown again stays in Sunday's
  // window so that windows never go backwards.
  const kp::Zone zone = kp::Zone::posix("<-03>3<-02>,M3.5.0/0,M10.5.0/0:30");
  const std::int64_t saturday = window_index(WindowUnit::day, zone, utc(2026, 10, 24, 12));
  CHECK(window_index(WindowUnit::day, zone, utc(2026, 10, 25, 1, 59, 59)) == saturday);
  CHECK(window_index(WindowUnit::day, zone, utc(2026, 10, 25, 2)) == saturday + 1);
  CHECK(window_index(WindowUnit::day, zone, utc(2026, 10, 25, 2, 45)) == saturday + 1);  // 23:45 Saturday -03
  CHECK(window_index(WindowUnit::day, zone, utc(2026, 10, 25, 3, 15)) == saturday + 1);
  CHECK(iso(window_start(WindowUnit::day, zone, saturday + 1)) == "2026-10-25T02:00:00Z");
  CHECK(iso(window_start(WindowUnit::day, zone, saturday + 2)) == "2026-10-26T03:00:00Z");
  // A month window that starts on such a day starts at its first midnight too.
  const kp::Zone november_change = kp::Zone::posix("<-03>3<-02>,M3.5.0/0,M11.1.0/0:30");
  CHECK(start_of(WindowUnit::month, november_change, utc(2026, 11, 1, 2, 45)) == "2026-11-01T02:00:00Z");
}

TEST_CASE("month windows in UTC: January has 31 days, February 28 in 2027 and 29 in 2028, December runs into "
          "the next year",
          "[calendar]") {
  const kp::Zone zone = kp::Zone::utc();
  CHECK(window_index(WindowUnit::month, zone, utc(1970, 1, 31, 23, 59, 59)) == 0);
  CHECK(window_index(WindowUnit::month, zone, utc(2026, 11, 24)) == 56 * 12 + 10);
  CHECK(start_of(WindowUnit::month, zone, utc(2027, 1, 31, 23, 59, 59)) == "2027-01-01T00:00:00Z");
  CHECK(start_of(WindowUnit::month, zone, utc(2027, 2, 1)) == "2027-02-01T00:00:00Z");
  CHECK(length_of(WindowUnit::month, zone, utc(2027, 1, 15)) == std::chrono::days{31});
  CHECK(length_of(WindowUnit::month, zone, utc(2027, 2, 15)) == std::chrono::days{28});
  CHECK(length_of(WindowUnit::month, zone, utc(2028, 2, 15)) == std::chrono::days{29});
  CHECK(end_of(WindowUnit::month, zone, utc(2028, 2, 28, 23)) == "2028-03-01T00:00:00Z");
  CHECK(end_of(WindowUnit::month, zone, utc(2028, 2, 29, 23)) == "2028-03-01T00:00:00Z");
  CHECK(end_of(WindowUnit::month, zone, utc(2027, 2, 28, 23)) == "2027-03-01T00:00:00Z");
  CHECK(length_of(WindowUnit::month, zone, utc(2026, 4, 15)) == std::chrono::days{30});
  CHECK(window_index(WindowUnit::month, zone, utc(2026, 12, 31, 23, 59, 59)) + 1 ==
        window_index(WindowUnit::month, zone, utc(2027, 1, 1)));
  CHECK(start_of(WindowUnit::month, zone, utc(2026, 12, 31, 23, 59, 59)) == "2026-12-01T00:00:00Z");
  CHECK(end_of(WindowUnit::month, zone, utc(2026, 12, 31, 23, 59, 59)) == "2027-01-01T00:00:00Z");
}

TEST_CASE("month windows in Pacific time start at local midnight of the 1st, in summer or winter time",
          "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  CHECK(start_of(WindowUnit::month, zone, utc(2027, 2, 1, 8)) == "2027-02-01T08:00:00Z");
  CHECK(start_of(WindowUnit::month, zone, utc(2027, 2, 1, 7, 59, 59)) == "2027-01-01T08:00:00Z");  // Jan 31 23:59:59
  CHECK(start_of(WindowUnit::month, zone, utc(2026, 4, 10)) == "2026-04-01T07:00:00Z");
  CHECK(start_of(WindowUnit::month, zone, utc(2026, 11, 1, 9)) == "2026-11-01T07:00:00Z");  // before fall-back
  CHECK(end_of(WindowUnit::month, zone, utc(2026, 11, 1, 9)) == "2026-12-01T08:00:00Z");
  CHECK(length_of(WindowUnit::month, zone, utc(2026, 3, 15)) == std::chrono::days{31} - 1h);
  CHECK(length_of(WindowUnit::month, zone, utc(2026, 11, 15)) == std::chrono::days{30} + 1h);
  CHECK(length_of(WindowUnit::month, zone, utc(2027, 2, 15)) == std::chrono::days{28});
  CHECK(length_of(WindowUnit::month, zone, utc(2028, 2, 15)) == std::chrono::days{29});
  // New Year's Eve afternoon in California is still December; 08:00 UTC on January 1 is not.
  CHECK(start_of(WindowUnit::month, zone, utc(2027, 1, 1, 7, 59, 59)) == "2026-12-01T08:00:00Z");
  CHECK(start_of(WindowUnit::month, zone, utc(2027, 1, 1, 8)) == "2027-01-01T08:00:00Z");
  CHECK(window_index(WindowUnit::month, zone, utc(2027, 1, 1, 8)) ==
        window_index(WindowUnit::month, zone, utc(2026, 12, 1, 8)) + 1);
}

TEST_CASE("window 0 holds the epoch and may start before 1970; earlier times clamp to it", "[calendar]") {
  const kp::Zone pacific = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  CHECK(iso(window_start(WindowUnit::day, pacific, 0)) == "1969-12-31T08:00:00Z");
  CHECK(iso(window_start(WindowUnit::day, pacific, 1)) == "1970-01-01T08:00:00Z");
  CHECK(window_index(WindowUnit::day, pacific, utc(1970, 1, 1, 7, 59, 59)) == 0);
  CHECK(window_index(WindowUnit::day, pacific, utc(1970, 1, 1, 8)) == 1);
  CHECK(iso(window_start(WindowUnit::month, pacific, 0)) == "1969-12-01T08:00:00Z");
  CHECK(iso(window_start(WindowUnit::month, pacific, 1)) == "1970-01-01T08:00:00Z");
  CHECK(iso(window_start(WindowUnit::day, pacific, -1)) == "1969-12-30T08:00:00Z");
  for (const WindowUnit unit : all_units) {
    INFO(unit_name(unit));
    CHECK(window_index(unit, pacific, utc(1969, 6, 1)) == 0);
    CHECK(window_index(unit, pacific, sys_seconds::min()) == 0);
    CHECK(window_index(unit, kp::Zone::utc(), utc(1970, 1, 1)) == 0);
    CHECK(iso(window_start(unit, kp::Zone::utc(), 0)) == "1970-01-01T00:00:00Z");
  }
}

TEST_CASE("far-future and extreme inputs neither overflow nor run backwards", "[calendar]") {
  const kp::Zone zone = kp::Zone::posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  for (const WindowUnit unit : all_units) {
    INFO(unit_name(unit));
    const std::int64_t in_2400 = window_index(unit, zone, utc(2400, 12, 31, 12));
    const std::int64_t far = window_index(unit, zone, sys_seconds::max());
    CHECK(far >= in_2400);
    CHECK(window_start(unit, zone, far) >= utc(2400, 12, 31, 12));
    CHECK(window_start(unit, zone, std::numeric_limits<std::int64_t>::max()) >= window_start(unit, zone, far));
    CHECK(window_start(unit, zone, std::numeric_limits<std::int64_t>::min()) < utc(1970, 1, 1));
  }
  CHECK(start_of(WindowUnit::day, zone, utc(2400, 2, 29, 12)) == "2400-02-28T13:00:00Z");  // AEDT
  CHECK(length_of(WindowUnit::month, zone, utc(2400, 2, 15)) == std::chrono::days{29});
  CHECK(length_of(WindowUnit::month, zone, utc(2100, 2, 15)) == std::chrono::days{28});
}

TEST_CASE("the window contract holds over a randomized sweep from 1970 to 2200 in zones without DST",
          "[calendar][sweep]") {
  for (const char* rule : {"UTC0", "<-08>8", "<+0545>-5:45"}) check_window_contract(rule);
}

TEST_CASE("the window contract holds over a randomized sweep from 1970 to 2200 in northern DST zones",
          "[calendar][sweep]") {
  for (const char* rule : {"PST8PDT,M3.2.0,M11.1.0", "CET-1CEST,M3.5.0,M10.5.0/3", "IST-1GMT0,M10.5.0,M3.5.0/1",
                           "<+0330>-3:30<+0430>,J79/24,J263/24"}) {
    check_window_contract(rule);
  }
}

TEST_CASE("the window contract holds over a randomized sweep from 1970 to 2200 in southern DST zones",
          "[calendar][sweep]") {
  for (const char* rule : {"AEST-10AEDT,M10.1.0,M4.1.0/3", "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45"}) {
    check_window_contract(rule);
  }
}

TEST_CASE("the window contract holds over a randomized sweep from 1970 to 2200 in zones that change at midnight",
          "[calendar][sweep]") {
  for (const char* rule : {"<-03>3<-02>,M3.5.0/0,M10.5.0/0", "<-03>3<-02>,M3.5.0/0,M10.5.0/0:30",
                           "EST5EDT,M3.2.0/24,M11.1.0/24", "EST5EDT,M3.2.0/-1,M11.1.0/-1"}) {
    check_window_contract(rule);
  }
}

TEST_CASE("day and month windows start exactly where glibc's local date first reaches the day", "[calendar][glibc]") {
  // For each window i: glibc's local date at window_start(i) is day (or 1st of month) i, and one
  // second earlier it was an earlier date.
  for (const std::string& rule : sweep_rules) {
    INFO("zone " << rule);
    const kp::Zone zone = kp::Zone::posix(rule);
    const GlibcZone glibc{rule};
    const std::int64_t epoch_day = glibc.local_day(utc(1970, 1, 1));
    const auto epoch_date = std::chrono::year_month_day{std::chrono::sys_days{std::chrono::days{epoch_day}}};

    std::mt19937_64 random{7};
    std::uniform_int_distribution<std::int64_t> any_day{0, 157'000};  // 1970 .. about 2400
    int failures = 0;
    for (int n = 0; n < 20'000; ++n) {
      const std::int64_t i = any_day(random);
      const sys_seconds start = window_start(WindowUnit::day, zone, i);
      if (glibc.local_day(start) != epoch_day + i || glibc.local_day(start - 1s) >= epoch_day + i) {
        if (++failures <= 5) FAIL_CHECK("day window " << i << " starts at " << iso(start));
      }
    }
    std::uniform_int_distribution<std::int64_t> any_month{0, 12 * 430};
    for (int n = 0; n < 5'000; ++n) {
      const std::int64_t i = any_month(random);
      const sys_seconds start = window_start(WindowUnit::month, zone, i);
      const auto first_of_month =
          std::chrono::year_month_day{epoch_date.year() / epoch_date.month() / 1} + std::chrono::months{i};
      const std::int64_t first_day = std::chrono::sys_days{first_of_month}.time_since_epoch().count();
      if (glibc.local_day(start) != first_day || glibc.local_day(start - 1s) >= first_day) {
        if (++failures <= 5) FAIL_CHECK("month window " << i << " starts at " << iso(start));
      }
    }
    CHECK(failures == 0);
  }
}
