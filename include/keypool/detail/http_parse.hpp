// Parsers for what providers put in their answers: Go-style durations ("1m26.4s"), decimal
// seconds, HTTP-dates, RFC 3339 timestamps, and a tolerant scanner of JSON fields. Used by classify.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <keypool/detail/civil_date.hpp>
#include <keypool/time.hpp>

namespace keypool::detail::http {

// Every function here is noexcept, allocation-free and total: any input (truncated, NUL bytes,
// non-UTF-8, absurd numbers) gives an answer, never undefined behaviour. "Rejected" means
// std::nullopt.

/// The longest wait a provider is believed: 366 days. A duration or retry time further away is
/// a corrupt value and is rejected, so it degrades to "no hint" instead of parking a key for years.
inline constexpr Duration max_wait = std::chrono::hours{24 * 366};

// ---------------------------------------------------------------------------------------------
// ASCII helpers (bytes >= 0x80 are never letters, digits or spaces)

[[nodiscard]] constexpr char to_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }
[[nodiscard]] constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
[[nodiscard]] constexpr bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
[[nodiscard]] constexpr bool is_alnum(char c) noexcept { return is_alpha(c) || is_digit(c); }

/// ASCII case-insensitive equality (HTTP header names, month and day names).
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  return true;
}

/// True when `text` starts with `prefix`, ignoring ASCII case.
[[nodiscard]] constexpr bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

/// True when `text` contains `needle`, ignoring ASCII case. O(|text| × |needle|).
[[nodiscard]] constexpr bool icontains(std::string_view text, std::string_view needle) noexcept {
  if (needle.empty()) return true;
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i)
    if (iequals(text.substr(i, needle.size()), needle)) return true;
  return false;
}

/// `text` without leading and trailing spaces and tabs (HTTP's optional whitespace).
[[nodiscard]] constexpr std::string_view trim(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Numbers and durations

/// A non-negative decimal integer: one or more digits, nothing else (no sign, no spaces).
/// Rejects values above 2^64 - 1.
[[nodiscard]] constexpr std::optional<std::uint64_t> parse_uint(std::string_view text) noexcept {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (!is_digit(c)) return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

namespace duration_detail {

// A unit of time as coefficient × 10^exponent nanoseconds, so that a decimal fraction of it is
// computed exactly in integers: 1 h = 36 × 10^11 ns.
struct Unit {
  std::uint64_t coefficient;
  int exponent;
  [[nodiscard]] constexpr std::uint64_t ns() const noexcept {
    std::uint64_t n = coefficient;
    for (int i = 0; i < exponent; ++i) n *= 10;
    return n;
  }
};

inline constexpr Unit nanosecond{1, 0}, microsecond{1, 3}, millisecond{1, 6}, second{1, 9}, minute{6, 10}, hour{36, 11};

// Go's unit names; "µs" is U+00B5 and "μs" U+03BC, both UTF-8 encoded.
[[nodiscard]] constexpr std::optional<Unit> go_unit(std::string_view name) noexcept {
  if (name == "ns") return nanosecond;
  if (name == "us" || name == "\xC2\xB5s" || name == "\xCE\xBCs") return microsecond;
  if (name == "ms") return millisecond;
  if (name == "s") return second;
  if (name == "m") return minute;
  if (name == "h") return hour;
  return std::nullopt;
}

// The fraction 0.f (f has `digits` digits, at most 17) of `unit`, in nanoseconds, rounded down.
[[nodiscard]] constexpr std::uint64_t fraction_ns(std::uint64_t f, int digits, Unit unit) noexcept {
  std::uint64_t value = unit.coefficient * f;  // < 36 × 10^17: fits
  if (unit.exponent >= digits) {
    for (int i = digits; i < unit.exponent; ++i) value *= 10;  // < unit.ns(): fits
  } else {
    for (int i = unit.exponent; i < digits; ++i) value /= 10;
  }
  return value;
}

inline constexpr int max_fraction_digits = 17;
inline constexpr auto max_wait_ns = static_cast<std::uint64_t>(max_wait.count());

// One number "123", "1.5", ".5" or "5." at the start of `text`: how many characters it takes
// (0: no number here), its integer part (saturated above max_wait_ns) and its fraction.
struct Number {
  std::size_t length = 0;
  std::uint64_t integer = 0;
  std::uint64_t fraction = 0;
  int fraction_digits = 0;
};

[[nodiscard]] constexpr Number read_number(std::string_view text) noexcept {
  Number n;
  std::size_t i = 0;
  bool any_digit = false;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    any_digit = true;
    if (n.integer <= max_wait_ns) n.integer = n.integer * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      any_digit = true;
      if (n.fraction_digits < max_fraction_digits) {  // further digits are below a nanosecond
        n.fraction = n.fraction * 10 + static_cast<std::uint64_t>(text[i] - '0');
        ++n.fraction_digits;
      }
    }
  }
  n.length = any_digit ? i : 0;
  return n;
}

// number × unit in nanoseconds, or nullopt above max_wait.
[[nodiscard]] constexpr std::optional<std::uint64_t> scale(const Number& n, Unit unit) noexcept {
  const std::uint64_t unit_ns = unit.ns();
  if (n.integer > max_wait_ns / unit_ns) return std::nullopt;
  const std::uint64_t total = n.integer * unit_ns + fraction_ns(n.fraction, n.fraction_digits, unit);
  if (total > max_wait_ns) return std::nullopt;
  return total;
}

}  // namespace duration_detail

/// A Go duration at the start of `text` ("1.5s", "20ms", "1m26.4s", "2h30m", "6m0s", "0.5ms",
/// "100us", "100µs", "3ns", and "0"): the duration and the number of characters it takes, or
/// nullopt when `text` does not start with one. Reading stops before the first element that is
/// not part of a duration, so "7.66s. Visit…" reads as 7.66 s (7 characters). Unlike Go, a sign
/// is not accepted (a wait is never negative). Exact to the nanosecond: a fraction is computed
/// in integers, digits past the 17th after the point are ignored, and what is below a nanosecond
/// is rounded down (as Go does). A duration longer than `max_wait` is rejected as a whole.
struct DurationPrefix {
  Duration value;
  std::size_t length;
};
[[nodiscard]] constexpr std::optional<DurationPrefix> parse_go_duration_prefix(std::string_view text) noexcept {
  using namespace duration_detail;
  std::uint64_t total = 0;
  std::size_t consumed = 0;
  while (consumed < text.size()) {
    const std::string_view rest = text.substr(consumed);
    const Number number = read_number(rest);
    if (number.length == 0) break;
    std::size_t unit_end = number.length;
    // Unit names are ASCII letters, or the two-byte micro signs.
    while (unit_end < rest.size() && (is_alpha(rest[unit_end]) || static_cast<unsigned char>(rest[unit_end]) >= 0x80)) ++unit_end;
    const auto unit = go_unit(rest.substr(number.length, unit_end - number.length));
    if (!unit) break;
    const auto part = scale(number, *unit);
    if (!part || *part > max_wait_ns - total) return std::nullopt;
    total += *part;
    consumed += unit_end;
  }
  if (consumed == 0) {
    // Go's one unitless duration: a bare "0" (not followed by more digits or a point).
    if (!text.empty() && text[0] == '0' && (text.size() == 1 || !(is_digit(text[1]) || text[1] == '.')))
      return DurationPrefix{Duration::zero(), 1};
    return std::nullopt;
  }
  return DurationPrefix{Duration{static_cast<Duration::rep>(total)}, consumed};
}

/// A duration as people write it, at the start of `text`: a number, an optional space and a unit
/// word — "20 seconds", "1 minute", "1.5 hours", "500 ms", "2s" — as in "Please try again in 20
/// seconds." Units (case-insensitive): ms, millisecond(s); s, sec(s), second(s); m, min(s),
/// minute(s); h, hr(s), hour(s). The unit must end at a non-letter. Exact like
/// parse_go_duration_prefix; rejected above `max_wait`.
[[nodiscard]] constexpr std::optional<DurationPrefix> parse_worded_duration_prefix(std::string_view text) noexcept {
  using namespace duration_detail;
  const Number number = read_number(text);
  if (number.length == 0) return std::nullopt;
  std::size_t unit_begin = number.length;
  if (unit_begin < text.size() && text[unit_begin] == ' ') ++unit_begin;
  std::size_t unit_end = unit_begin;
  while (unit_end < text.size() && is_alpha(text[unit_end])) ++unit_end;
  const std::string_view word = text.substr(unit_begin, unit_end - unit_begin);
  struct Name {
    std::string_view name;
    Unit unit;
  };
  constexpr Name names[] = {
      {"ms", millisecond}, {"millisecond", millisecond}, {"milliseconds", millisecond},
      {"s", second},       {"sec", second},              {"secs", second},         {"second", second}, {"seconds", second},
      {"m", minute},       {"min", minute},              {"mins", minute},         {"minute", minute}, {"minutes", minute},
      {"h", hour},         {"hr", hour},                 {"hrs", hour},            {"hour", hour},     {"hours", hour},
  };
  for (const Name& candidate : names) {
    if (!iequals(word, candidate.name)) continue;
    const auto ns = scale(number, candidate.unit);
    if (!ns) return std::nullopt;
    return DurationPrefix{Duration{static_cast<Duration::rep>(*ns)}, unit_end};
  }
  return std::nullopt;
}

/// A whole string that is a Go duration (see parse_go_duration_prefix), surrounding spaces
/// allowed; anything else is rejected.
[[nodiscard]] constexpr std::optional<Duration> parse_go_duration(std::string_view text) noexcept {
  text = trim(text);
  const auto prefix = parse_go_duration_prefix(text);
  if (!prefix || prefix->length != text.size()) return std::nullopt;
  return prefix->value;
}

/// A whole string that is a non-negative decimal number of `unit`s ("120", "1.5", "0.25"), as
/// Retry-After's delta-seconds (RFC 9110 allows only digits; a decimal point is accepted as the
/// OpenAI client libraries accept it) and retry-after-ms carry. Surrounding spaces allowed.
/// Exact to the nanosecond; rejected above `max_wait`.
[[nodiscard]] constexpr std::optional<Duration> parse_decimal(std::string_view text, Duration unit) noexcept {
  using namespace duration_detail;
  text = trim(text);
  const Number number = read_number(text);
  if (number.length == 0 || number.length != text.size()) return std::nullopt;
  Unit as_unit{};
  if (unit == std::chrono::seconds{1}) as_unit = second;
  else if (unit == std::chrono::milliseconds{1}) as_unit = millisecond;
  else if (unit == std::chrono::microseconds{1}) as_unit = microsecond;
  else if (unit == std::chrono::nanoseconds{1}) as_unit = nanosecond;
  else return std::nullopt;
  const auto ns = scale(number, as_unit);
  if (!ns) return std::nullopt;
  return Duration{static_cast<Duration::rep>(*ns)};
}

// ---------------------------------------------------------------------------------------------
// Dates

namespace date_detail {

// The civil year of a time point (for RFC 850's two-digit years).
[[nodiscard]] constexpr std::int64_t year_of(TimePoint t) noexcept {
  constexpr std::int64_t ns_per_day = seconds_per_day * 1'000'000'000;
  return civil_from_days(floor_div(t.time_since_epoch().count(), ns_per_day)).year;
}

// Reads exactly `count` digits at text[pos]; advances pos.
[[nodiscard]] constexpr std::optional<unsigned> digits(std::string_view text, std::size_t& pos, std::size_t count) noexcept {
  if (pos + count > text.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = text[pos + i];
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  pos += count;
  return value;
}

[[nodiscard]] constexpr bool expect(std::string_view text, std::size_t& pos, char c) noexcept {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// "Jan" … "Dec", case-insensitive: 1 … 12.
[[nodiscard]] constexpr std::optional<unsigned> month_name(std::string_view text, std::size_t& pos) noexcept {
  constexpr std::string_view names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (pos + 3 > text.size()) return std::nullopt;
  for (unsigned m = 0; m < 12; ++m) {
    if (iequals(text.substr(pos, 3), names[m])) {
      pos += 3;
      return m + 1;
    }
  }
  return std::nullopt;
}

// A day name: "Mon" … "Sun" (short) or "Monday" … "Sunday" (long), case-insensitive. The
// weekday is not checked against the date (HTTP recipients commonly ignore it).
[[nodiscard]] constexpr bool day_name(std::string_view text, std::size_t& pos, bool long_form) noexcept {
  constexpr std::string_view names[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
  for (const std::string_view name : names) {
    const std::string_view wanted = long_form ? name : name.substr(0, 3);
    if (pos + wanted.size() <= text.size() && iequals(text.substr(pos, wanted.size()), wanted)) {
      pos += wanted.size();
      return true;
    }
  }
  return false;
}

// "hh:mm:ss" (second 60, a leap second, is accepted and counts as the next second).
[[nodiscard]] constexpr std::optional<std::int64_t> time_of_day(std::string_view text, std::size_t& pos) noexcept {
  const auto hh = digits(text, pos, 2);
  if (!hh || !expect(text, pos, ':')) return std::nullopt;
  const auto mm = digits(text, pos, 2);
  if (!mm || !expect(text, pos, ':')) return std::nullopt;
  const auto ss = digits(text, pos, 2);
  if (!ss || *hh > 23 || *mm > 59 || *ss > 60) return std::nullopt;
  return std::int64_t{*hh} * 3600 + std::int64_t{*mm} * 60 + std::int64_t{*ss};
}

[[nodiscard]] constexpr std::optional<TimePoint> make_time(std::int64_t y, unsigned m, unsigned d, std::int64_t second_of_day) noexcept {
  // 1678 … 2261: the years a nanosecond time point holds whole.
  if (y < 1678 || y > 2261 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return std::nullopt;
  const std::int64_t seconds = days_from_civil(y, m, d) * seconds_per_day + second_of_day;
  return TimePoint{std::chrono::seconds{seconds}};
}

// GMT, or UTC (not in the grammar, but sent by some servers and unambiguous).
[[nodiscard]] constexpr bool gmt(std::string_view text, std::size_t& pos) noexcept {
  if (pos + 3 > text.size()) return false;
  const std::string_view zone = text.substr(pos, 3);
  if (!iequals(zone, "GMT") && !iequals(zone, "UTC")) return false;
  pos += 3;
  return true;
}

}  // namespace date_detail

/// An HTTP-date (RFC 9110 §5.6.7) in any of its three forms, surrounding spaces allowed:
///   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"   (what servers must send)
///   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"  (obsolete; the two-digit year is read as
///                                                   the year within 50 years of `now`: more
///                                                   than 50 years ahead is the century before,
///                                                   as RFC 9110 requires, and 50 or more years
///                                                   back the century after)
///   asctime      "Sun Nov  6 08:49:37 1994"        (obsolete; the day may be space-padded)
/// RFC 9110 requires recipients to accept all three. Names are case-insensitive; "UTC" is
/// accepted for "GMT"; the weekday is not checked against the date; years outside 1678–2261
/// (what a nanosecond time point holds) are rejected, as is everything else.
[[nodiscard]] constexpr std::optional<TimePoint> parse_http_date(std::string_view text, TimePoint now) noexcept {
  using namespace date_detail;
  text = trim(text);
  std::size_t pos = 0;
  const std::size_t start = pos;
  // IMF-fixdate: short day name, comma.
  if (day_name(text, pos, false) && expect(text, pos, ',')) {
    if (!expect(text, pos, ' ')) return std::nullopt;
    const auto d = digits(text, pos, 2);
    if (!d || !expect(text, pos, ' ')) return std::nullopt;
    const auto m = month_name(text, pos);
    if (!m || !expect(text, pos, ' ')) return std::nullopt;
    const auto y = digits(text, pos, 4);
    if (!y || !expect(text, pos, ' ')) return std::nullopt;
    const auto t = time_of_day(text, pos);
    if (!t || !expect(text, pos, ' ') || !gmt(text, pos) || pos != text.size()) return std::nullopt;
    return make_time(*y, *m, *d, *t);
  }
  // RFC 850: long day name, comma, dd-Mon-yy.
  pos = start;
  if (day_name(text, pos, true) && expect(text, pos, ',')) {
    if (!expect(text, pos, ' ')) return std::nullopt;
    const auto d = digits(text, pos, 2);
    if (!d || !expect(text, pos, '-')) return std::nullopt;
    const auto m = month_name(text, pos);
    if (!m || !expect(text, pos, '-')) return std::nullopt;
    const auto yy = digits(text, pos, 2);
    if (!yy || !expect(text, pos, ' ')) return std::nullopt;
    const auto t = time_of_day(text, pos);
    if (!t || !expect(text, pos, ' ') || !gmt(text, pos) || pos != text.size()) return std::nullopt;
    const std::int64_t this_year = year_of(now);
    std::int64_t y = this_year - this_year % 100 + *yy;
    if (y > this_year + 50) y -= 100;
    else if (y <= this_year - 50) y += 100;
    return make_time(y, *m, *d, *t);
  }
  // asctime: short day name, space, Mon, day as 2 digits or space + 1 digit.
  pos = start;
  if (day_name(text, pos, false) && expect(text, pos, ' ')) {
    const auto m = month_name(text, pos);
    if (!m || !expect(text, pos, ' ')) return std::nullopt;
    std::optional<unsigned> d;
    if (pos < text.size() && text[pos] == ' ') {
      ++pos;
      d = digits(text, pos, 1);
    } else {
      d = digits(text, pos, 2);
    }
    if (!d || !expect(text, pos, ' ')) return std::nullopt;
    const auto t = time_of_day(text, pos);
    if (!t || !expect(text, pos, ' ')) return std::nullopt;
    const auto y = digits(text, pos, 4);
    if (!y || pos != text.size()) return std::nullopt;
    return make_time(*y, *m, *d, *t);
  }
  return std::nullopt;
}

/// An RFC 3339 timestamp, surrounding spaces allowed: "2026-11-24T08:00:00Z",
/// "2026-11-24T08:00:00.123456789Z", "2026-11-24T09:00:00+01:00"; 't', 'z' and a space for 'T'
/// are accepted (RFC 3339 §5.6 allows them). Fractions are exact to the nanosecond (further
/// digits are ignored); a leap second (":60") counts as the next second. Everything else is
/// rejected.
[[nodiscard]] constexpr std::optional<TimePoint> parse_rfc3339(std::string_view text) noexcept {
  using namespace date_detail;
  text = trim(text);
  std::size_t pos = 0;
  const auto y = digits(text, pos, 4);
  if (!y || !expect(text, pos, '-')) return std::nullopt;
  const auto m = digits(text, pos, 2);
  if (!m || !expect(text, pos, '-')) return std::nullopt;
  const auto d = digits(text, pos, 2);
  if (!d || pos >= text.size()) return std::nullopt;
  const char separator = text[pos++];
  if (separator != 'T' && separator != 't' && separator != ' ') return std::nullopt;
  const auto t = time_of_day(text, pos);
  if (!t) return std::nullopt;
  std::int64_t nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int count = 0;
    std::int64_t scale_ns = 100'000'000;
    while (pos < text.size() && is_digit(text[pos])) {
      if (count < 9) nanos += (text[pos] - '0') * scale_ns;
      scale_ns /= 10;
      ++count;
      ++pos;
    }
    if (count == 0) return std::nullopt;
  }
  if (pos >= text.size()) return std::nullopt;
  std::int64_t offset = 0;
  const char zone = text[pos++];
  if (zone == '+' || zone == '-') {
    const auto oh = digits(text, pos, 2);
    if (!oh || !expect(text, pos, ':')) return std::nullopt;
    const auto om = digits(text, pos, 2);
    if (!om || *oh > 23 || *om > 59) return std::nullopt;
    offset = (zone == '+' ? 1 : -1) * (std::int64_t{*oh} * 3600 + std::int64_t{*om} * 60);
  } else if (zone != 'Z' && zone != 'z') {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  const auto local = make_time(*y, *m, *d, *t);
  if (!local) return std::nullopt;
  return *local - std::chrono::seconds{offset} + Duration{nanos};
}

// ---------------------------------------------------------------------------------------------
// JSON fields

/// Calls `on_field(key, value, is_string)` for every `"key": value` pair in `text` whose value is
/// a string or a scalar (number, true, false, null), at any depth, in document order; `value` is
/// the raw text between the quotes (escape sequences left as they are) or the scalar's token.
/// Containers are entered, not reported. `on_field` returns false to stop early.
///
/// Tolerant by design: it is a lexer, not a validator. Strings are tracked exactly (so text
/// inside a string never reads as a key), everything else that is not JSON is skipped, an
/// unterminated string ends at the end of the text, and truncated or malformed documents yield
/// the pairs that were complete. No recursion (depth costs nothing), no allocation, O(|text|).
template <class OnField>
constexpr void for_each_json_field(std::string_view text, OnField&& on_field) noexcept(noexcept(on_field(text, text, true))) {
  std::string_view last_string;     // the string just read, a key if ':' follows
  bool have_string = false;
  std::string_view key;             // the key whose value comes next
  bool expecting_value = false;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const char c = text[i];
    if (c == '"') {
      std::size_t j = i + 1;
      while (j < n && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      const std::size_t end = j < n ? j : n;
      const std::string_view value = text.substr(i + 1, end - (i + 1));
      i = end + 1;
      if (expecting_value) {
        expecting_value = false;
        have_string = false;
        if (!on_field(key, value, true)) return;
      } else {
        last_string = value;
        have_string = true;
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (c == ':') {
      expecting_value = have_string;
      if (have_string) key = last_string;
      have_string = false;
      ++i;
      continue;
    }
    if (c == '{' || c == '[' || c == '}' || c == ']' || c == ',') {
      expecting_value = false;
      have_string = false;
      ++i;
      continue;
    }
    // A scalar token (or garbage): up to the next delimiter.
    std::size_t j = i;
    while (j < n) {
      const char d = text[j];
      if (d == '"' || d == ':' || d == ',' || d == '{' || d == '}' || d == '[' || d == ']' || d == ' ' ||
          d == '\t' || d == '\n' || d == '\r')
        break;
      ++j;
    }
    const std::string_view token = text.substr(i, j - i);
    i = j;
    have_string = false;
    if (expecting_value) {
      expecting_value = false;
      if (!on_field(key, token, false)) return;
    }
  }
}

}  // namespace keypool::detail::http
