// Specification of keypool::Zone: UTC, fixed offsets and POSIX TZ rules, their offsets at and
// around DST changes, their errors, and a cross-check against glibc reading the same rules.
#include "support/glibc_zone.hpp"
#include "support/instants.hpp"
#include <keypool/zone.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace {

namespace kp = keypool;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::sys_seconds;
using namespace std::chrono_literals;


}  // namespace

TEST_CASE("UTC has offset zero at every instant, no DST, and is named UTC", "[zone]") {
  const kp::Zone zone = kp::Zone::utc();
  CHECK(zone.name() == "UTC");
  CHECK_FALSE(zone.has_dst());
  CHECK(zone.standard_offset() == 0s);
  CHECK(zone.daylight_offset() == 0s);
  for (const sys_seconds t : {utc(1970, 1, 1), utc(2026, 3, 8, 10), utc(2026, 7, 1), utc(2400, 12, 31, 23, 59, 59)}) {
    CHECK(zone.offset_at(t) == 0s);
  }
  const kp::Zone::Period period = zone.period_at(utc(2026, 7, 1));
  CHECK(period.begin == sys_seconds::min());
  CHECK(period.end == sys_seconds::max());
  CHECK_FALSE(period.is_dst);
}

TEST_CASE("a default-constructed zone is UTC", "[zone]") {
  const kp::Zone zone;
  CHECK(zone == kp::Zone::utc());
  CHECK(zone.name() == "UTC");
}

TEST_CASE("a fixed zone counts minutes east of UTC and is named UTC+hh:mm", "[zone]") {
  const kp::Zone pacific = kp::Zone::fixed(minutes{-480});
  CHECK(pacific.name() == "UTC-08:00");
  CHECK(pacific.offset_at(utc(2026, 7, 1)) == -8h);
  CHECK(pacific.standard_offset() == -8h);
  CHECK_FALSE(pacific.has_dst());

  const kp::Zone india = kp::Zone::fixed(minutes{330});
  CHECK(india.name() == "UTC+05:30");
  CHECK(india.offset_at(utc(2026, 1, 1)) == 5h + 30min);

  CHECK(kp::Zone::fixed(minutes{-570}).name() == "UTC-09:30");
  CHECK(kp::Zone::fixed(minutes{0}).name() == "UTC");
  CHECK(kp::Zone::fixed(minutes{0}) == kp::Zone::utc());
}

TEST_CASE("a fixed offset of more than 26 hours is rejected with the valid range", "[zone]") {
  CHECK(kp::Zone::fixed(26h).name() == "UTC+26:00");
  CHECK(kp::Zone::fixed(-26h).name() == "UTC-26:00");
  CHECK_THROWS_AS(kp::Zone::fixed(26h + 1min), kp::Error);
  CHECK_THROWS_WITH(kp::Zone::fixed(minutes{-1561}),
                    Catch::Matchers::StartsWith("keypool: fixed zone offset of -1561 minutes is out of range") &&
                        Catch::Matchers::Contains("Zone::fixed(std::chrono::minutes{-480}) for UTC-08:00"));
}

TEST_CASE("PST8PDT springs forward at 10:00 UTC on 2026-03-08 and falls back at 09:00 UTC on 2026-11-01",
          "[zone]") {
  const kp::Zone zone = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  CHECK(zone.name() == "PST8PDT,M3.2.0,M11.1.0");
  CHECK(zone.has_dst());
  CHECK(zone.standard_offset() == -8h);
  CHECK(zone.daylight_offset() == -7h);

  CHECK(zone.offset_at(utc(2026, 3, 8, 9, 59, 59)) == -8h);  // 01:59:59 PST
  CHECK(zone.offset_at(utc(2026, 3, 8, 10)) == -7h);         // 02:00 PST is 03:00 PDT
  CHECK(zone.offset_at(utc(2026, 11, 1, 8, 59, 59)) == -7h);  // 01:59:59 PDT
  CHECK(zone.offset_at(utc(2026, 11, 1, 9)) == -8h);          // 02:00 PDT is 01:00 PST

  const kp::Zone::Period summer = zone.period_at(utc(2026, 7, 4, 12));
  CHECK(iso(summer.begin) == "2026-03-08T10:00:00Z");
  CHECK(iso(summer.end) == "2026-11-01T09:00:00Z");
  CHECK(summer.offset == -7h);
  CHECK(summer.is_dst);

  const kp::Zone::Period winter = zone.period_at(utc(2026, 11, 1, 9));
  CHECK(iso(winter.begin) == "2026-11-01T09:00:00Z");
  CHECK(iso(winter.end) == "2027-03-14T10:00:00Z");
  CHECK(winter.offset == -8h);
  CHECK_FALSE(winter.is_dst);
}

TEST_CASE("CET-1CEST switches at 01:00 UTC on 2026-03-29 and 2026-10-25", "[zone]") {
  const kp::Zone zone = kp::Zone::posix("CET-1CEST,M3.5.0,M10.5.0/3");
  CHECK(zone.standard_offset() == 1h);
  CHECK(zone.daylight_offset() == 2h);
  CHECK(zone.offset_at(utc(2026, 3, 29, 0, 59, 59)) == 1h);
  CHECK(zone.offset_at(utc(2026, 3, 29, 1)) == 2h);  // 02:00 CET is 03:00 CEST
  CHECK(zone.offset_at(utc(2026, 10, 25, 0, 59, 59)) == 2h);
  CHECK(zone.offset_at(utc(2026, 10, 25, 1)) == 1h);  // 03:00 CEST is 02:00 CET
}

TEST_CASE("an explicit /2 transition time is the default 02:00", "[zone]") {
  const kp::Zone explicit_times = kp::Zone::posix("EST5EDT,M3.2.0/2,M11.1.0/2");
  CHECK(explicit_times == kp::Zone::posix("EST5EDT,M3.2.0,M11.1.0"));
  CHECK(explicit_times.offset_at(utc(2026, 3, 8, 6, 59, 59)) == -5h);
  CHECK(explicit_times.offset_at(utc(2026, 3, 8, 7)) == -4h);
  CHECK(explicit_times.offset_at(utc(2026, 11, 1, 6)) == -5h);
}

TEST_CASE("a DST name without dates follows the US rule M3.2.0,M11.1.0", "[zone]") {
  const kp::Zone zone = kp::Zone::posix("PST8PDT");
  CHECK(zone == kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0"));
  CHECK(zone.name() == "PST8PDT");
  CHECK(zone.offset_at(utc(2026, 3, 8, 10)) == -7h);
  CHECK(zone.offset_at(utc(2026, 11, 1, 9)) == -8h);
}

TEST_CASE("a zone without a DST name keeps its standard offset all year", "[zone]") {
  const kp::Zone japan = kp::Zone::posix("JST-9");
  CHECK_FALSE(japan.has_dst());
  CHECK(japan.offset_at(utc(2026, 7, 1)) == 9h);
  CHECK(japan.name() == "JST-9");

  const kp::Zone iran = kp::Zone::posix("<+0330>-3:30");
  CHECK_FALSE(iran.has_dst());
  CHECK(iran.offset_at(utc(2026, 1, 1)) == 3h + 30min);
  CHECK(iran.name() == "<+0330>-3:30");

  const kp::Zone utc0 = kp::Zone::posix("UTC0");
  CHECK(utc0.offset_at(utc(2026, 1, 1)) == 0s);
  CHECK(utc0 == kp::Zone::utc());
  CHECK(utc0.name() == "UTC0");
}

TEST_CASE("the DST offset defaults to one hour east of standard time and may be given", "[zone]") {
  CHECK(kp::Zone::posix("PST8PDT").daylight_offset() == -7h);
  CHECK(kp::Zone::posix("NZST-12NZDT,M9.5.0,M4.1.0/3").daylight_offset() == 13h);

  // Iran until 2022: +03:30, and +04:30 from March 21 00:00 to September 21 00:00 local time.
  const kp::Zone iran = kp::Zone::posix("<+0330>-3:30<+0430>,J79/24,J263/24");
  CHECK(iran.daylight_offset() == 4h + 30min);
  CHECK(iran.offset_at(utc(2026, 3, 20, 20, 29, 59)) == 3h + 30min);
  CHECK(iran.offset_at(utc(2026, 3, 20, 20, 30)) == 4h + 30min);  // 2026-03-21 00:00 +03:30
  CHECK(iran.offset_at(utc(2026, 9, 20, 19, 29, 59)) == 4h + 30min);
  CHECK(iran.offset_at(utc(2026, 9, 20, 19, 30)) == 3h + 30min);  // 2026-09-21 00:00 +04:30

  const kp::Zone seconds_written = kp::Zone::posix("NZST-12:00:00NZDT-13:00:00,M9.5.0,M4.1.0/3");
  CHECK(seconds_written == kp::Zone::posix("NZST-12NZDT,M9.5.0,M4.1.0/3"));
}

TEST_CASE("a southern-hemisphere rule keeps DST across the new year", "[zone]") {
  const kp::Zone sydney = kp::Zone::posix("AEST-10AEDT,M10.1.0,M4.1.0/3");
  CHECK(sydney.offset_at(utc(2026, 1, 15)) == 11h);
  CHECK(sydney.offset_at(utc(2026, 7, 15)) == 10h);
  CHECK(sydney.offset_at(utc(2026, 12, 31, 23)) == 11h);
  // DST ends 2026-04-05 03:00 AEDT and starts 2026-10-04 02:00 AEST.
  CHECK(sydney.offset_at(utc(2026, 4, 4, 15, 59, 59)) == 11h);
  CHECK(sydney.offset_at(utc(2026, 4, 4, 16)) == 10h);
  CHECK(sydney.offset_at(utc(2026, 10, 3, 15, 59, 59)) == 10h);
  CHECK(sydney.offset_at(utc(2026, 10, 3, 16)) == 11h);

  const kp::Zone::Period summer = sydney.period_at(utc(2027, 1, 1));
  CHECK(iso(summer.begin) == "2026-10-03T16:00:00Z");
  CHECK(iso(summer.end) == "2027-04-03T16:00:00Z");
  CHECK(summer.is_dst);
}

TEST_CASE("Jn never counts February 29 while n does", "[zone]") {
  // Both zones start DST at 00:00 local (UTC-3) on day J60 / 59: March 1, except that day 59 is
  // February 29 in a leap year.
  const kp::Zone julian = kp::Zone::posix("AAA3BBB,J60/0,J300/0");
  const kp::Zone zero_based = kp::Zone::posix("AAA3BBB,59/0,J300/0");
  CHECK(julian.offset_at(utc(2027, 3, 1, 2, 59, 59)) == -3h);
  CHECK(julian.offset_at(utc(2027, 3, 1, 3)) == -2h);
  CHECK(zero_based.offset_at(utc(2027, 3, 1, 2, 59, 59)) == -3h);
  CHECK(zero_based.offset_at(utc(2027, 3, 1, 3)) == -2h);

  CHECK(julian.offset_at(utc(2028, 2, 29, 12)) == -3h);
  CHECK(julian.offset_at(utc(2028, 3, 1, 3)) == -2h);
  CHECK(zero_based.offset_at(utc(2028, 2, 29, 2, 59, 59)) == -3h);
  CHECK(zero_based.offset_at(utc(2028, 2, 29, 3)) == -2h);
}

TEST_CASE("a transition time may be negative or beyond 24 hours", "[zone]") {
  // Starts at -1:00 on Sunday March 8 2026 (Saturday 23:00 EST), ends at 25:00 on Sunday
  // November 1 (Monday 01:00 EDT).
  const kp::Zone zone = kp::Zone::posix("EST5EDT,M3.2.0/-1,M11.1.0/25");
  CHECK(zone.offset_at(utc(2026, 3, 8, 3, 59, 59)) == -5h);
  CHECK(zone.offset_at(utc(2026, 3, 8, 4)) == -4h);
  CHECK(zone.offset_at(utc(2026, 11, 2, 4, 59, 59)) == -4h);
  CHECK(zone.offset_at(utc(2026, 11, 2, 5)) == -5h);

  const kp::Zone week_long = kp::Zone::posix("EST5EDT,M3.2.0/167,M11.1.0/-167");
  CHECK(week_long.offset_at(utc(2026, 3, 15, 3, 59, 59)) == -5h);  // Sunday March 8 + 167 h
  CHECK(week_long.offset_at(utc(2026, 3, 15, 4)) == -4h);
}

TEST_CASE("DST may be negative: IST-1GMT0 is UTC+1 in summer and UTC in winter", "[zone]") {
  const kp::Zone ireland = kp::Zone::posix("IST-1GMT0,M10.5.0,M3.5.0/1");
  CHECK(ireland.standard_offset() == 1h);
  CHECK(ireland.daylight_offset() == 0s);
  CHECK(ireland.offset_at(utc(2026, 1, 15)) == 0s);
  CHECK(ireland.period_at(utc(2026, 1, 15)).is_dst);
  CHECK(ireland.offset_at(utc(2026, 7, 15)) == 1h);
  CHECK(ireland.offset_at(utc(2026, 3, 29, 0, 59, 59)) == 0s);
  CHECK(ireland.offset_at(utc(2026, 3, 29, 1)) == 1h);
  CHECK(ireland.offset_at(utc(2026, 10, 25, 0, 59, 59)) == 1h);
  CHECK(ireland.offset_at(utc(2026, 10, 25, 1)) == 0s);
}

TEST_CASE("DST that ends exactly when next year's begins lasts all year", "[zone]") {
  // The tzcode idiom for permanent DST. (glibc 2.36 gets the hours after New Year wrong: it looks
  // only at the current UTC year's transitions.)
  const kp::Zone zone = kp::Zone::posix("EST5EDT,0/0,J365/25");
  for (const sys_seconds t : {utc(2026, 1, 1), utc(2026, 1, 1, 4, 59, 59), utc(2026, 1, 1, 5),
                              utc(2026, 7, 1), utc(2026, 12, 31, 23, 59, 59), utc(2028, 2, 29, 12)}) {
    INFO(iso(t));
    CHECK(zone.offset_at(t) == -4h);
  }
}

TEST_CASE("zones are equal when their rules are; names are not compared", "[zone]") {
  CHECK(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0") == kp::Zone::posix("<PST>8<PDT>7,M3.2.0/2,M11.1.0/02:00"));
  CHECK(kp::Zone::posix("JST-9") == kp::Zone::fixed(9h));
  CHECK_FALSE(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0") == kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0/3"));
  CHECK_FALSE(kp::Zone::posix("PST8PDT") == kp::Zone::fixed(-8h));
  CHECK(kp::Zone::posix("PST8") != kp::Zone::posix("PST8PDT"));
}

TEST_CASE("a zone is a cheap value: copies compare equal and keep the name", "[zone]") {
  const kp::Zone original = kp::Zone::posix("CET-1CEST,M3.5.0,M10.5.0/3");
  kp::Zone copy = original;
  CHECK(copy == original);
  CHECK(copy.name() == original.name());
  copy = kp::Zone::utc();
  CHECK(original.name() == "CET-1CEST,M3.5.0,M10.5.0/3");
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<kp::Zone>);
}

TEST_CASE("the spellings POSIX and glibc allow are accepted", "[zone]") {
  for (const char* rule : {"UTC0", "UTC+0", "GMT0BST,M3.5.0/1,M10.5.0", "EST+5EDT", "<-03>3<-02>,M3.5.0/0,M10.5.0/0",
                           "<+0545>-5:45", "<UTC+14>-14", "LMT0:17:30", "AAA24", "AAA-24:59:59",
                           "AAA3BBB,J1,J365", "AAA3BBB,0,365", "AAA3BBB,M1.1.0/+1:30,M12.5.6/-0:30:15",
                           "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1"}) {
    INFO(rule);
    CHECK_NOTHROW(kp::Zone::posix(rule));
  }
  CHECK(kp::Zone::posix("LMT0:17:30").standard_offset() == -(17min + 30s));
  CHECK(kp::Zone::posix("<UTC+14>-14").standard_offset() == 14h);
}

TEST_CASE("a malformed rule throws keypool::Error quoting it, naming the bad part and showing a valid one",
          "[zone]") {
  struct Case {
    std::string rule;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"", "the rule is empty"},
      {"PST", "the standard time offset is missing"},
      {"PST-", "the standard time offset is missing"},
      {"8PDT", "the standard time name is missing"},
      {" PST8PDT", "the standard time name is missing"},
      {"PS8PDT", "the standard time name \"PS\" is shorter than 3 letters"},
      {"PST8PD", "the DST name \"PD\" is shorter than 3 letters"},
      {"<+03-3", "the quoted standard time name is not closed by '>'"},
      {"<+3>-3", "the quoted standard time name is shorter than 3 characters"},
      {"PST25", "the standard time offset has 25 hours, out of range 0..24"},
      {"PST8PDT25", "the DST offset has 25 hours, out of range 0..24"},
      {"PST8:5", "the minutes of the standard time offset must be two digits"},
      {"PST8:60", "the minutes of the standard time offset are 60, out of range 00..59"},
      {"PST8:00:61", "the seconds of the standard time offset are 61, out of range 00..59"},
      {"PST8!", "unexpected text after the standard time offset"},
      {"PST8,M3.2.0,M11.1.0", "DST dates need a DST name"},
      {"AAA-12BBB+12", "the DST offset is 24 hours or more away from the standard offset"},
      {"PST8PDT;M3.2.0,M11.1.0", "unexpected text after the DST name and offset"},
      {"PST8PDT,", "the DST start date is missing"},
      {"PST8PDT,,M11.1.0", "the DST start date is missing"},
      {"PST8PDT,X3.2.0,M11.1.0", "the DST start date is malformed: expected Mm.w.d"},
      {"PST8PDT,M13.2.0,M11.1.0", "month 13 in the DST start date is out of range 1..12"},
      {"PST8PDT,M3.2.0,M0.1.0", "month 0 in the DST end date is out of range 1..12"},
      {"PST8PDT,M3.6.0,M11.1.0", "week 6 in the DST start date is out of range 1..5"},
      {"PST8PDT,M3.0.0,M11.1.0", "week 0 in the DST start date is out of range 1..5"},
      {"PST8PDT,M3.2.7,M11.1.0", "weekday 7 in the DST start date is out of range 0..6 (0 is Sunday)"},
      {"PST8PDT,M3.2,M11.1.0", "expected '.' after the week in the DST start date"},
      {"PST8PDT,M3,M11.1.0", "expected '.' after the month in the DST start date"},
      {"PST8PDT,M.2.0,M11.1.0", "the month number in the DST start date is missing"},
      {"PST8PDT,J0,M11.1.0", "day J0 in the DST start date is out of range 1..365"},
      {"PST8PDT,M3.2.0,J366", "day J366 in the DST end date is out of range 1..365"},
      {"PST8PDT,366,M11.1.0", "day 366 in the DST start date is out of range 0..365"},
      {"PST8PDT,M3.2.0/168,M11.1.0", "the DST start time has 168 hours, out of range -167..167"},
      {"PST8PDT,M3.2.0,M11.1.0/-168", "the DST end time has 168 hours, out of range -167..167"},
      {"PST8PDT,M3.2.0/,M11.1.0", "the DST start time is missing"},
      {"PST8PDT,M3.2.0", "the DST end date is missing"},
      {"PST8PDT,M3.2.0,", "the DST end date is missing"},
      {"PST8PDT,M3.2.0;M11.1.0", "unexpected text after the DST start date"},
      {"PST8PDT,M3.2.0,M11.1.0x", "unexpected text after the DST end date"},
      {"PST8PDT,M3.2.0,M11.1.0 ", "unexpected text after the DST end date"},
      {"PST8PDT,M3.2.0,M11.1.0,M12.1.0", "unexpected text after the DST end date"},
      {"America/Los_Angeles", "looks like a tz database name"},
      {":America/New_York", "refers to a tz database file"},
  };
  for (const Case& c : cases) {
    INFO("rule: \"" << c.rule << "\"");
    CHECK_THROWS_AS(kp::Zone::posix(c.rule), kp::Error);
    CHECK_THROWS_WITH(kp::Zone::posix(c.rule),
                      Catch::Matchers::StartsWith("keypool: malformed zone rule \"" + c.rule + "\": ") &&
                          Catch::Matchers::Contains(c.problem) &&
                          Catch::Matchers::Contains("A valid rule looks like \"PST8PDT,M3.2.0,M11.1.0\""));
  }
}

TEST_CASE("a rule error points at the offending text", "[zone]") {
  CHECK_THROWS_WITH(kp::Zone::posix("PST8PDT,M13.2.0,M11.1.0"),
                    Catch::Matchers::Contains("(at character 10: \"13.2.0,M11.1.0\")"));
  CHECK_THROWS_WITH(kp::Zone::posix("PST8PDT,M3.2.0"), Catch::Matchers::Contains("(at the end)"));
  CHECK_THROWS_WITH(kp::Zone::posix("America/Los_Angeles"),
                    Catch::Matchers::Contains("tail -1 /usr/share/zoneinfo/<name>"));
}

TEST_CASE("offsets agree with glibc reading the same TZ rule, at and around every transition", "[zone][glibc]") {
  // None of these names a file under /usr/share/zoneinfo, so glibc parses them as POSIX rules.
  const std::vector<std::string> rules = {
      "PST8PDT,M3.2.0,M11.1.0",
      "CET-1CEST,M3.5.0,M10.5.0/3",
      "EST5EDT,M3.2.0/2,M11.1.0/2",
      "AEST-10AEDT,M10.1.0,M4.1.0/3",
      "NZST-12NZDT,M9.5.0,M4.1.0/3",
      "<-03>3<-02>,M3.5.0/0,M10.5.0/0",
      "<-03>3<-02>,M3.5.0/0,M10.5.0/0:30",
      "EST5EDT,M3.2.0/24,M11.1.0/24",
      "EST5EDT,M3.2.0/-1,M11.1.0/25",
      "EST5EDT,M3.2.0/167,M11.1.0/-167",
      "IST-1GMT0,M10.5.0,M3.5.0/1",
      "<+0330>-3:30<+0430>,J79/24,J263/24",
      "AAA3BBB,J60/0,59/0",
      "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
      "AAA-12BBB+11,M3.5.0/-167,M10.5.0/167",
      "JST-9",
      "<+0330>-3:30",
  };
  std::mt19937_64 random{20261124};
  const std::int64_t first = utc(1970, 1, 1).time_since_epoch().count();
  const std::int64_t last = utc(2400, 12, 31).time_since_epoch().count();
  std::uniform_int_distribution<std::int64_t> any_instant{first, last};
  for (const std::string& rule : rules) {
    INFO("rule: " << rule);
    const kp::Zone zone = kp::Zone::posix(rule);
    const GlibcZone glibc{rule};
    REQUIRE(glibc.standard_name() != "UTC");  // glibc understood the rule rather than falling back

    std::vector<sys_seconds> instants;
    for (int i = 0; i < 20'000; ++i) instants.push_back(sys_seconds{seconds{any_instant(random)}});
    if (zone.has_dst()) {  // every transition from 1970 through 2400, and the seconds beside it
      for (sys_seconds t = zone.period_at(utc(1970, 1, 1)).end; t < utc(2401, 1, 1); t = zone.period_at(t).end) {
        instants.insert(instants.end(), {t - 1s, t, t + 1s});
      }
      CHECK(instants.size() >= 20'000 + 3 * 2 * 430);
    }
    int mismatches = 0;
    for (const sys_seconds t : instants) {
      if (zone.offset_at(t) != glibc.offset_at(t) && ++mismatches <= 5) {
        FAIL_CHECK("at " << iso(t) << " keypool says " << zone.offset_at(t).count() << " s, glibc "
                         << glibc.offset_at(t).count() << " s");
      }
    }
    CHECK(mismatches == 0);
  }
}
