// keypool::Zone: the time zone a calendar limit resets in, as UTC, a fixed offset, or a POSIX TZ
// rule with daylight saving time ("PST8PDT,M3.2.0,M11.1.0"), evaluated without a tz database.
#pragma once

#include <keypool/detail/civil_date.hpp>
#include <keypool/error.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

namespace keypool {

/// A time zone for calendar windows: UTC, a fixed offset, or a POSIX TZ rule with daylight saving
/// time. A Zone is a small immutable value: copy it freely; every const member is thread-safe.
///
/// Offsets are east of UTC (local time = UTC + offset), as in ISO 8601. Note that POSIX rule text
/// counts the other way: "PST8PDT" means 8 hours *west* of UTC, so its standard offset is -8 h.
///
/// A default-constructed Zone is UTC.
class Zone {
 public:
  /// A stretch of time with one offset: [begin, end) around the instant that was asked about.
  /// begin and end are the rule transitions around it (sys_seconds::min()/max() when the zone has
  /// no DST); the offset may be the same on both sides of a transition (e.g. DST all year).
  struct Period {
    std::chrono::sys_seconds begin;
    std::chrono::sys_seconds end;
    std::chrono::seconds offset;  ///< east of UTC
    bool is_dst;
  };

  /// UTC. Thread-safe. Throws nothing. O(1).
  Zone() noexcept = default;

  /// UTC: offset zero, no DST, named "UTC". Thread-safe. Throws nothing. O(1).
  [[nodiscard]] static Zone utc() noexcept { return Zone{}; }

  /// A fixed offset east of UTC without DST, e.g. minutes{-480} for UTC-08:00, named "UTC-08:00"
  /// ("UTC" for a zero offset). Thread-safe. O(1).
  /// Throws keypool::Error if |offset| exceeds 26 hours.
  [[nodiscard]] static Zone fixed(std::chrono::minutes offset);

  /// A POSIX TZ rule, as glibc reads the TZ variable: "std offset [dst [offset] [,start[/time],end[/time]]]".
  ///   - names: 3 or more letters, or <...> quoted (letters, digits, '+', '-'), e.g. <+0330>;
  ///   - offsets: [+|-]hh[:mm[:ss]], hours 0..24, counted WEST of UTC ("CET-1" is UTC+1);
  ///     the DST offset defaults to one hour east of standard time;
  ///   - start/end dates: Mm.w.d (month 1..12, week 1..5 where 5 is the last, weekday 0..6 with
  ///     0 = Sunday), Jn (1..365, Feb 29 never counted) or n (0..365, Feb 29 counted);
  ///   - /time: local time of the change, [+|-]hh[:mm[:ss]] with hours -167..167 (default 02:00);
  ///     the start time is read in standard time, the end time in DST;
  ///   - a DST name without dates uses the US rule ",M3.2.0,M11.1.0".
  /// The DST period may wrap the year end (southern hemisphere: "AEST-10AEDT,M10.1.0,M4.1.0/3").
  /// The zone's name() is the rule text. Thread-safe. O(length of rule).
  /// Throws keypool::Error quoting the rule, naming the part that is wrong and giving a valid
  /// example, for anything else (empty text, short or missing names, missing or out-of-range
  /// fields, trailing text, tz database names such as "America/Los_Angeles").
  [[nodiscard]] static Zone posix(std::string_view rule);

  /// The offset east of UTC in effect at `utc` (local time = utc + offset). At a transition instant
  /// the new offset applies. Thread-safe. Throws nothing. O(1): one comparison without DST; with
  /// DST it evaluates the rule for a few years (roughly 50-100 ns), no allocation.
  [[nodiscard]] std::chrono::seconds offset_at(std::chrono::sys_seconds utc) const noexcept {
    return period_at(utc).offset;
  }

  /// The offset in effect at `utc` and the rule transitions around it. Rules are applied within
  /// ±142 million years of 1970; beyond that the standard offset is held. Thread-safe. Throws
  /// nothing. O(1): evaluates the rule for two years (five for rules that change within 9 days of
  /// New Year), no allocation.
  [[nodiscard]] Period period_at(std::chrono::sys_seconds utc) const noexcept;

  /// The offset east of UTC outside DST. Thread-safe. Throws nothing. O(1).
  [[nodiscard]] std::chrono::seconds standard_offset() const noexcept { return std::chrono::seconds{standard_offset_}; }

  /// The offset east of UTC during DST; standard_offset() when the zone has no DST. It may be
  /// smaller than the standard offset ("negative DST", as in "IST-1GMT0,M10.5.0,M3.5.0/1").
  /// Thread-safe. Throws nothing. O(1).
  [[nodiscard]] std::chrono::seconds daylight_offset() const noexcept { return std::chrono::seconds{daylight_offset_}; }

  /// Whether the zone switches to daylight saving time at all. Thread-safe. Throws nothing. O(1).
  [[nodiscard]] bool has_dst() const noexcept { return has_dst_; }

  /// "UTC", "UTC-08:00" for a fixed zone, or the rule text for a POSIX zone. Valid as long as this
  /// Zone lives. Thread-safe. Throws nothing. O(1).
  [[nodiscard]] std::string_view name() const noexcept { return name_.empty() ? std::string_view{"UTC"} : name_; }

  /// Zones are equal when they apply the same offsets by the same rules; the name is not compared,
  /// so Zone::utc() == Zone::fixed(0min) == Zone::posix("UTC0"). The same rule written two ways
  /// ("J60" and "59" differ in leap years only) compares unequal. Thread-safe. Throws nothing. O(1).
  friend bool operator==(const Zone& a, const Zone& b) noexcept {
    return a.standard_offset_ == b.standard_offset_ && a.has_dst_ == b.has_dst_ &&
           a.daylight_offset_ == b.daylight_offset_ && a.dst_start_ == b.dst_start_ &&
           a.dst_end_ == b.dst_end_;
  }

 private:
  // One end of the DST period: a day of the year and the local time of the change on that day.
  struct Rule {
    enum class Kind : std::uint8_t { julian_no_leap, zero_based, month_week_day };
    Kind kind = Kind::month_week_day;
    std::uint8_t month = 0;    // Mm.w.d: 1..12
    std::uint8_t week = 0;     // Mm.w.d: 1..5, 5 = the last such weekday of the month
    std::uint8_t weekday = 0;  // Mm.w.d: 0 = Sunday .. 6
    std::uint16_t day = 0;     // Jn: 1..365; n: 0..365
    std::int32_t time = 0;     // seconds after local midnight, -167 h .. 167 h

    friend bool operator==(const Rule&, const Rule&) = default;

    static constexpr Rule month_week_day(unsigned month, unsigned week, unsigned weekday) noexcept {
      Rule rule;
      rule.month = static_cast<std::uint8_t>(month);
      rule.week = static_cast<std::uint8_t>(week);
      rule.weekday = static_cast<std::uint8_t>(weekday);
      rule.time = 2 * 3600;
      return rule;
    }

    // Day number of the local date on which this rule falls in `year`.
    std::int64_t local_day(std::int64_t year) const noexcept;

    // Whether the change always falls well inside its own UTC year: at least 9 days from either
    // end of the local date range, which no transition time (±167 h) plus offset (±25 h) can cross.
    constexpr bool inside_its_year() const noexcept {
      return kind == Kind::month_week_day ? month >= 2 && month <= 11 : day >= 10 && day <= 355;
    }
  };

  // A change of offset: when, and whether it starts DST or ends it.
  struct Transition {
    std::int64_t at;  // seconds since 1970, UTC
    bool to_dst;
  };

  class Parser;

  // Rules are evaluated within ±2^52 s (about 142 million years) of 1970, so no arithmetic overflows.
  static constexpr std::int64_t rule_horizon_ = std::int64_t{1} << 52;

  // UTC instant (seconds since 1970) at which DST starts (to_dst) or ends in `year`: the start time
  // is written in standard time, the end time in daylight time.
  std::int64_t transition_at(std::int64_t year, bool to_dst) const noexcept {
    const Rule& rule = to_dst ? dst_start_ : dst_end_;
    return rule.local_day(year) * detail::seconds_per_day + rule.time -
           (to_dst ? standard_offset_ : daylight_offset_);
  }

  // `year`'s two transitions in the order they apply: by time, the start first when they coincide
  // (so that a DST period that ends as it starts is empty).
  std::pair<Transition, Transition> transitions_in_order(std::int64_t year) const noexcept {
    const Transition start{transition_at(year, true), true};
    const Transition end{transition_at(year, false), false};
    if (end.at < start.at) return {end, start};
    return {start, end};
  }

  Period period_between(const Transition& last, std::int64_t next_at) const noexcept {
    using std::chrono::seconds;
    return {std::chrono::sys_seconds{seconds{last.at}}, std::chrono::sys_seconds{seconds{next_at}},
            seconds{last.to_dst ? daylight_offset_ : standard_offset_}, last.to_dst};
  }

  std::string name_;  // empty for UTC, so that a default Zone allocates nothing and cannot throw
  std::int32_t standard_offset_ = 0;  // seconds east of UTC
  std::int32_t daylight_offset_ = 0;  // seconds east of UTC; == standard_offset_ without DST
  bool has_dst_ = false;
  bool rules_inside_their_year_ = false;  // both rules inside_its_year(): period_at's fast path
  Rule dst_start_{};  // both default-valued without DST, so that operator== can compare them
  Rule dst_end_{};
};

// ---------------------------------------------------------------------------------------------
// Implementation.

inline std::int64_t Zone::Rule::local_day(std::int64_t year) const noexcept {
  switch (kind) {
    case Kind::julian_no_leap:  // J60 is March 1st even in a leap year
      return detail::days_from_civil(year, 1, 1) + day - 1 +
             (day >= 60 && detail::is_leap_year(year) ? 1 : 0);
    case Kind::zero_based:  // 59 is Feb 29 in a leap year; 365 runs into next January in other years
      return detail::days_from_civil(year, 1, 1) + day;
    case Kind::month_week_day:
      break;
  }
  // The week-th `weekday` of the month; week 5 means the last one (the 4th when there is no 5th).
  const std::int64_t first = detail::days_from_civil(year, month, 1);
  const unsigned first_weekday = detail::weekday_from_days(first);
  std::int64_t result = first + (weekday + 7 - first_weekday) % 7 + 7 * (week - 1);
  if (result >= first + detail::days_in_month(year, month)) result -= 7;
  return result;
}

inline Zone::Period Zone::period_at(std::chrono::sys_seconds utc) const noexcept {
  using std::chrono::seconds;
  using std::chrono::sys_seconds;
  const seconds standard{standard_offset_};
  if (!has_dst_) return {sys_seconds::min(), sys_seconds::max(), standard, false};
  const std::int64_t now = utc.time_since_epoch().count();
  if (now >= rule_horizon_) {
    return {sys_seconds{seconds{rule_horizon_}}, sys_seconds::max(), standard, false};
  }
  if (now < -rule_horizon_) {
    return {sys_seconds::min(), sys_seconds{seconds{-rule_horizon_}}, standard, false};
  }

  const std::int64_t year = detail::civil_from_days(detail::floor_div(now, detail::seconds_per_day)).year;
  if (rules_inside_their_year_) {
    // Every year's transitions lie inside that UTC year, so the ones around `now` are this year's,
    // last year's later one or next year's earlier one.
    const auto [first, second] = transitions_in_order(year);
    if (now < first.at) return period_between(transitions_in_order(year - 1).second, first.at);
    if (now < second.at) return period_between(first, second.at);
    return period_between(second, transitions_in_order(year + 1).first.at);
  }

  // In general a transition of year Y happens within 9 days of year Y (a rule time may be ±167 h
  // and an offset about ±25 h), so for `now` in UTC year Y the last transition at or before it
  // belongs to years Y-2..Y (Y-2 matters only when Y-1's fall in early January of Y), and the first
  // one after it to Y..Y+2. When transitions coincide, later years apply later, and within a year
  // the end applies after the start: a DST period that ends exactly when next year's begins runs
  // on (DST all year, "EST5EDT,0/0,J365/25"), and one that ends as it starts is empty.
  bool found = false;
  Transition last{std::numeric_limits<std::int64_t>::min(), false};
  std::int64_t next_at = std::numeric_limits<std::int64_t>::max();
  for (std::int64_t y = year - 2; y <= year + 2; ++y) {
    for (const bool to_dst : {true, false}) {  // visited in application order for equal instants
      const std::int64_t at = transition_at(y, to_dst);
      if (at > now) {
        next_at = std::min(next_at, at);
      } else if (!found || at >= last.at) {
        found = true;
        last = {at, to_dst};
      }
    }
  }
  // `found` always holds (see above); without it the period would start at min() in standard time.
  return period_between(last, next_at);
}

inline Zone Zone::fixed(std::chrono::minutes offset) {
  constexpr std::chrono::minutes limit{26 * 60};
  if (offset < -limit || offset > limit) {
    throw Error("fixed zone offset of " + std::to_string(offset.count()) +
                " minutes is out of range: offsets are minutes east of UTC between -1560 (UTC-26:00) "
                "and 1560 (UTC+26:00), e.g. Zone::fixed(std::chrono::minutes{-480}) for UTC-08:00");
  }
  Zone zone;
  const auto total_minutes = static_cast<std::int32_t>(offset.count());
  zone.standard_offset_ = zone.daylight_offset_ = total_minutes * 60;
  if (total_minutes != 0) {
    const std::int32_t magnitude = total_minutes < 0 ? -total_minutes : total_minutes;
    const auto two_digits = [](std::int32_t value) {
      return std::string{static_cast<char>('0' + value / 10), static_cast<char>('0' + value % 10)};
    };
    zone.name_ = std::string{"UTC"} + (total_minutes < 0 ? '-' : '+') + two_digits(magnitude / 60) + ':' +
                 two_digits(magnitude % 60);
  }
  return zone;
}

// Reads a POSIX TZ rule left to right; every failure names the part being read.
class Zone::Parser {
 public:
  explicit Parser(std::string_view rule) noexcept : rule_{rule} {}

  Zone parse() {
    if (rule_.empty()) fail("the rule is empty");
    if (rule_.front() == ':') {
      fail("\":name\" refers to a tz database file, which keypool does not read; give the POSIX rule itself");
    }
    Zone zone;
    zone.name_.assign(rule_);
    read_name("standard time");
    zone.standard_offset_ = zone.daylight_offset_ = -read_clock_time("the standard time offset", 24);
    if (at_end()) return zone;
    if (peek() == ',') fail("DST dates need a DST name before them, as in \"PST8PDT,M3.2.0,M11.1.0\"");
    if (!starts_name()) fail("unexpected text after the standard time offset");

    read_name("DST");
    zone.has_dst_ = true;
    const std::size_t daylight_offset_at = pos_;
    zone.daylight_offset_ = starts_clock_time() ? -read_clock_time("the DST offset", 24)
                                                : zone.standard_offset_ + 3600;
    const std::int32_t shift = zone.daylight_offset_ - zone.standard_offset_;
    if (shift <= -detail::seconds_per_day || shift >= detail::seconds_per_day) {
      fail_at(daylight_offset_at, "the DST offset is 24 hours or more away from the standard offset");
    }
    if (at_end()) {  // no dates: the US rule, as glibc without a posixrules file
      zone.dst_start_ = Rule::month_week_day(3, 2, 0);
      zone.dst_end_ = Rule::month_week_day(11, 1, 0);
      zone.rules_inside_their_year_ = true;
      return zone;
    }
    if (peek() != ',') fail("unexpected text after the DST name and offset; the DST dates start with ','");
    ++pos_;
    zone.dst_start_ = read_rule("DST start");
    if (at_end()) fail("the DST end date is missing: give both dates, as in \",M3.2.0,M11.1.0\"");
    if (peek() != ',') fail("unexpected text after the DST start date; expected ',' and the DST end date");
    ++pos_;
    zone.dst_end_ = read_rule("DST end");
    if (!at_end()) fail("unexpected text after the DST end date");
    zone.rules_inside_their_year_ = zone.dst_start_.inside_its_year() && zone.dst_end_.inside_its_year();
    return zone;
  }

 private:
  static constexpr std::string_view example_ =
      "A valid rule looks like \"PST8PDT,M3.2.0,M11.1.0\" or \"CET-1CEST,M3.5.0,M10.5.0/3\": a standard "
      "time name, its offset in hours WEST of UTC (UTC+1 is -1), then optionally a DST name, a DST "
      "offset and ,start[/time],end[/time] dates written Mm.w.d, Jn or n";

  static bool is_letter(char c) noexcept { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

  bool at_end() const noexcept { return pos_ >= rule_.size(); }
  char peek() const noexcept { return rule_[pos_]; }
  bool starts_name() const noexcept { return !at_end() && (is_letter(peek()) || peek() == '<'); }
  bool starts_clock_time() const noexcept {
    return !at_end() && (is_digit(peek()) || peek() == '+' || peek() == '-');
  }

  template <typename... Parts>
  static std::string cat(const Parts&... parts) {
    std::string text;
    (text.append(parts), ...);
    return text;
  }

  [[noreturn]] void fail(std::string_view problem) const { fail_at(pos_, problem); }

  [[noreturn]] void fail_at(std::size_t position, std::string_view problem) const {
    const std::string where =
        position < rule_.size()
            ? cat(" (at character ", std::to_string(position + 1), ": \"", rule_.substr(position), "\")")
            : std::string{rule_.empty() ? "" : " (at the end)"};
    throw Error(cat("malformed zone rule \"", rule_, "\": ", problem, where, ". ", example_));
  }

  // A run of decimal digits, saturated well above any valid field; fails if there is none.
  std::uint32_t read_number(std::string_view field) {
    if (at_end() || !is_digit(peek())) fail(cat(field, " is missing: expected a number"));
    std::uint32_t value = 0;
    while (!at_end() && is_digit(peek())) {
      value = value > 1'000'000 ? value : value * 10 + static_cast<std::uint32_t>(peek() - '0');
      ++pos_;
    }
    return value;
  }

  // A date field that must lie in [lowest, highest], reported as e.g. "month 13 in the DST start
  // date is out of range 1..12"; `label` is how the value is written ("month ", "day J").
  std::uint32_t read_field(std::string_view label, std::string_view which, std::uint32_t lowest,
                           std::uint32_t highest, std::string_view range) {
    const std::size_t start = pos_;
    const std::string_view name = label.substr(0, label.find_last_not_of(' ') + 1);  // "month", "day J"
    const std::uint32_t value = read_number(cat("the ", name, " number in the ", which, " date"));
    if (value < lowest || value > highest) {
      fail_at(start, cat(label, std::to_string(value), " in the ", which, " date is out of range ", range));
    }
    return value;
  }

  // std or dst: 3+ letters, or <...> with 3+ letters, digits, '+' or '-'.
  void read_name(std::string_view which) {
    const std::size_t start = pos_;
    if (!at_end() && peek() == '<') {
      ++pos_;
      while (!at_end() && (is_letter(peek()) || is_digit(peek()) || peek() == '+' || peek() == '-')) ++pos_;
      if (at_end() || peek() != '>') {
        fail(cat("the quoted ", which,
               " name is not closed by '>' (quoted names hold letters, digits, '+' and '-')"));
      }
      if (pos_ - start - 1 < 3) fail_at(start, cat("the quoted ", which, " name is shorter than 3 characters"));
      ++pos_;
      return;
    }
    while (!at_end() && is_letter(peek())) ++pos_;
    const std::string_view name = rule_.substr(start, pos_ - start);
    if (start == 0 && !at_end() && (peek() == '/' || peek() == '_')) {
      fail_at(0, "this looks like a tz database name; keypool needs the zone's POSIX rule instead, "
                 "e.g. \"PST8PDT,M3.2.0,M11.1.0\" for America/Los_Angeles (the last line of "
                 "`tail -1 /usr/share/zoneinfo/<name>` prints it)");
    }
    if (name.empty()) {
      fail(cat("the ", which, " name is missing: names are 3 or more letters (PST) or quoted (<+08>)"));
    }
    if (name.size() < 3) {
      fail_at(start, cat("the ", which, " name \"", name,
                         "\" is shorter than 3 letters (write PST, or quote it: <+08>)"));
    }
  }

  // [+|-]hh[:mm[:ss]] with hours 0..max_hours, as signed seconds exactly as written.
  std::int32_t read_clock_time(std::string_view field, std::uint32_t max_hours) {
    const std::size_t start = pos_;
    std::int32_t sign = 1;
    if (!at_end() && (peek() == '+' || peek() == '-')) {
      sign = peek() == '-' ? -1 : 1;
      ++pos_;
    }
    if (at_end() || !is_digit(peek())) fail(cat(field, " is missing: expected [+|-]hh[:mm[:ss]]"));
    const std::uint32_t hours = read_number(field);
    if (hours > max_hours) {
      fail_at(start, cat(field, " has ", std::to_string(hours), " hours, out of range ",
                         max_hours == 24 ? "0..24" : "-167..167"));
    }
    std::uint32_t minutes = 0;
    std::uint32_t seconds = 0;
    if (!at_end() && peek() == ':') {
      ++pos_;
      minutes = read_two_digits(field, "minutes");
      if (!at_end() && peek() == ':') {
        ++pos_;
        seconds = read_two_digits(field, "seconds");
      }
    }
    return sign * static_cast<std::int32_t>(hours * 3600 + minutes * 60 + seconds);
  }

  std::uint32_t read_two_digits(std::string_view field, std::string_view unit) {
    const std::size_t start = pos_;
    if (pos_ + 2 > rule_.size() || !is_digit(rule_[pos_]) || !is_digit(rule_[pos_ + 1]) ||
        (pos_ + 2 < rule_.size() && is_digit(rule_[pos_ + 2]))) {
      fail(cat("the ", unit, " of ", field, " must be two digits, as in 5:30"));
    }
    const auto value = static_cast<std::uint32_t>((rule_[pos_] - '0') * 10 + (rule_[pos_ + 1] - '0'));
    pos_ += 2;
    if (value > 59) {
      fail_at(start, cat("the ", unit, " of ", field, " are ", std::to_string(value), ", out of range 00..59"));
    }
    return value;
  }

  void expect_dot(std::string_view after, std::string_view which) {
    if (at_end() || peek() != '.') {
      fail(cat("expected '.' after the ", after, " in the ", which, " date Mm.w.d (e.g. M3.2.0)"));
    }
    ++pos_;
  }

  // date[/time] with date Mm.w.d, Jn or n.
  Rule read_rule(std::string_view which) {
    Rule rule;
    if (at_end() || peek() == ',') {
      fail(cat("the ", which,
               " date is missing: expected Mm.w.d (M3.2.0 is the second Sunday in March), Jn or n"));
    }
    if (peek() == 'M') {
      ++pos_;
      rule.kind = Rule::Kind::month_week_day;
      rule.month = static_cast<std::uint8_t>(read_field("month ", which, 1, 12, "1..12"));
      expect_dot("month", which);
      rule.week = static_cast<std::uint8_t>(
          read_field("week ", which, 1, 5, "1..5 (5 means the last)"));
      expect_dot("week", which);
      rule.weekday = static_cast<std::uint8_t>(
          read_field("weekday ", which, 0, 6, "0..6 (0 is Sunday)"));
    } else if (peek() == 'J') {
      ++pos_;
      rule.kind = Rule::Kind::julian_no_leap;
      rule.day = static_cast<std::uint16_t>(
          read_field("day J", which, 1, 365, "1..365 (Jn never counts Feb 29)"));
    } else if (is_digit(peek())) {
      rule.kind = Rule::Kind::zero_based;
      rule.day = static_cast<std::uint16_t>(
          read_field("day ", which, 0, 365, "0..365 (n counts Feb 29)"));
    } else {
      fail(cat("the ", which, " date is malformed: expected Mm.w.d (M3.2.0 is the second Sunday in March), "
               "Jn (1..365) or n (0..365)"));
    }
    rule.time = 2 * 3600;
    if (!at_end() && peek() == '/') {
      ++pos_;
      rule.time = read_clock_time(cat("the ", which, " time"), 167);
    }
    return rule;
  }

  std::string_view rule_;
  std::size_t pos_ = 0;
};

inline Zone Zone::posix(std::string_view rule) { return Parser{rule}.parse(); }

}  // namespace keypool
