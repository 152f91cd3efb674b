// Text helpers shared by the exporters (export/json.hpp, export/prometheus.hpp) and the event
// lines of alert/ostream.hpp: integers, exact seconds, UTC times, escapes and UTF-8 repair.
// Not part of the API.
#pragma once

#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <keypool/time.hpp>

namespace keypool::detail::text {

inline void append_uint(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

inline void append_int(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

/// A time or a duration as whole seconds (rounded down) and nanoseconds in [0, 1e9).
struct Seconds {
  std::int64_t whole = 0;
  std::int64_t nanos = 0;
};

[[nodiscard]] constexpr Seconds split_seconds(Duration d) noexcept {
  Seconds s{d.count() / 1'000'000'000, d.count() % 1'000'000'000};
  if (s.nanos < 0) {
    s.nanos += 1'000'000'000;
    --s.whole;
  }
  return s;
}

/// `to - from` without overflow, whatever the two time points (each is at most ±9.3e9 s).
[[nodiscard]] constexpr Seconds seconds_between(TimePoint from, TimePoint to) noexcept {
  const Seconds a = split_seconds(from.time_since_epoch());
  const Seconds b = split_seconds(to.time_since_epoch());
  Seconds d{b.whole - a.whole, b.nanos - a.nanos};
  if (d.nanos < 0) {
    d.nanos += 1'000'000'000;
    --d.whole;
  }
  return d;
}

/// ".5", ".000000001": the nanoseconds as a decimal fraction without trailing zeros; nothing
/// when zero.
inline void append_fraction(std::string& out, std::int64_t nanos) {
  if (nanos == 0) return;
  char digits[9];
  for (int i = 8; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + nanos % 10);
    nanos /= 10;
  }
  std::size_t length = 9;
  while (digits[length - 1] == '0') --length;
  out += '.';
  out.append(digits, length);
}

/// Seconds as an exact decimal: "47873", "-3.5", "0.000000001", "1795000000.25".
inline void append_seconds(std::string& out, Seconds s) {
  if (s.whole < 0 && s.nanos != 0) {  // -4 s + 0.5 s is -3.5
    out += '-';
    append_uint(out, static_cast<std::uint64_t>(-(s.whole + 1)));
    append_fraction(out, 1'000'000'000 - s.nanos);
    return;
  }
  append_int(out, s.whole);
  append_fraction(out, s.nanos);
}

/// Unix time in seconds, exact: "1795516927", "1795516927.5".
inline void append_unix_seconds(std::string& out, TimePoint t) { append_seconds(out, split_seconds(t.time_since_epoch())); }

inline void append_padded(std::string& out, unsigned value, int width) {
  char digits[8];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits, static_cast<std::size_t>(width));
}

/// "2026-11-24T10:42:07": the UTC calendar date and time of day of the whole second
/// `unix_seconds` (seconds since 1970-01-01T00:00:00Z, negative before it), with four year digits
/// for every TimePoint (years 1677 to 2262). No fraction, no zone designator.
inline void append_utc_date_time(std::string& out, std::int64_t unix_seconds) {
  std::int64_t days = unix_seconds / 86'400;
  std::int64_t second_of_day = unix_seconds % 86'400;
  if (second_of_day < 0) {
    second_of_day += 86'400;
    --days;
  }
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{days}}};
  append_padded(out, static_cast<unsigned>(static_cast<int>(date.year())), 4);
  out += '-';
  append_padded(out, static_cast<unsigned>(date.month()), 2);
  out += '-';
  append_padded(out, static_cast<unsigned>(date.day()), 2);
  out += 'T';
  append_padded(out, static_cast<unsigned>(second_of_day / 3'600), 2);
  out += ':';
  append_padded(out, static_cast<unsigned>(second_of_day / 60 % 60), 2);
  out += ':';
  append_padded(out, static_cast<unsigned>(second_of_day % 60), 2);
}

/// RFC 3339 in UTC, "2026-11-24T10:42:07Z", with a fraction of a second only when it is not
/// zero ("…07.25Z", at most 9 digits, trailing zeros dropped). Every TimePoint (years 1677 to
/// 2262) has four year digits.
inline void append_rfc3339(std::string& out, TimePoint t) {
  const Seconds s = split_seconds(t.time_since_epoch());
  append_utc_date_time(out, s.whole);
  append_fraction(out, s.nanos);
  out += 'Z';
}

/// The escape that JSON strings and quoted log values share for `c`: \" \\ \n \r \t (two
/// characters each); empty for every other byte, which the caller escapes its own way or not.
[[nodiscard]] constexpr std::string_view short_escape(char c) noexcept {
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return {};
  }
}

/// `byte` as two lowercase hexadecimal digits ("1f", "7f").
inline void append_hex_byte(std::string& out, unsigned char byte) {
  constexpr std::string_view hex = "0123456789abcdef";
  out += hex[byte >> 4];
  out += hex[byte & 0xf];
}

/// One step of a UTF-8 scan: the sequence at a position is `length` bytes long and `valid`; an
/// invalid one is the maximal ill-formed subpart (Unicode 15, section 3.9), to be replaced by one
/// U+FFFD.
struct Utf8Step {
  std::size_t length = 1;
  bool valid = true;
};

/// Reads the UTF-8 sequence at `text[i]` (i < text.size()) by RFC 3629: no overlong forms, no
/// surrogates, nothing above U+10FFFF.
[[nodiscard]] constexpr Utf8Step utf8_step(std::string_view text, std::size_t i) noexcept {
  const auto lead = static_cast<unsigned char>(text[i]);
  if (lead < 0x80) return {1, true};
  std::size_t continuation = 0;
  unsigned char low = 0x80;   // range of the first continuation byte
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
  } else if (lead == 0xE0) {
    continuation = 2;
    low = 0xA0;  // no overlong three-byte forms
  } else if (lead == 0xED) {
    continuation = 2;
    high = 0x9F;  // no surrogates
  } else if (lead >= 0xE1 && lead <= 0xEF) {
    continuation = 2;
  } else if (lead == 0xF0) {
    continuation = 3;
    low = 0x90;  // no overlong four-byte forms
  } else if (lead >= 0xF1 && lead <= 0xF3) {
    continuation = 3;
  } else if (lead == 0xF4) {
    continuation = 3;
    high = 0x8F;  // nothing above U+10FFFF
  } else {
    return {1, false};  // a continuation byte, C0, C1 or F5..FF
  }
  for (std::size_t k = 1; k <= continuation; ++k) {
    if (i + k >= text.size()) return {k, false};
    const auto byte = static_cast<unsigned char>(text[i + k]);
    const bool in_range = k == 1 ? (byte >= low && byte <= high) : (byte >= 0x80 && byte <= 0xBF);
    if (!in_range) return {k, false};
  }
  return {continuation + 1, true};
}

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

/// Appends `text` as valid UTF-8: each ASCII byte through `ascii(char)` (the caller's escaping),
/// multi-byte characters as they are, each ill-formed subpart as U+FFFD.
template <class Ascii>
void append_utf8(std::string& out, std::string_view text, Ascii&& ascii) {
  std::size_t i = 0;
  while (i < text.size()) {
    const Utf8Step step = utf8_step(text, i);
    if (!step.valid) out += replacement_character;
    else if (step.length == 1) ascii(text[i]);
    else out.append(text.data() + i, step.length);
    i += step.length;
  }
}

/// `text` with every ill-formed UTF-8 subpart replaced by U+FFFD.
[[nodiscard]] inline std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_utf8(out, text, [&out](char c) { out += c; });
  return out;
}

}  // namespace keypool::detail::text
