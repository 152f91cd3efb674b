// keypool::to_json: a Snapshot as one line of JSON (RFC 8259) with stable snake_case field names,
// for dashboards, status endpoints and logs. docs/observability.md lists every field.
#pragma once

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/snapshot.hpp>
#include <keypool/time.hpp>

namespace keypool {

// Text helpers shared by the exporters (json.hpp, prometheus.hpp). Not part of the API.
namespace detail::text {

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

/// RFC 3339 in UTC, "2026-11-24T10:42:07Z", with a fraction of a second only when it is not
/// zero ("…07.25Z", at most 9 digits, trailing zeros dropped). Every TimePoint (years 1677 to
/// 2262) has four year digits.
inline void append_rfc3339(std::string& out, TimePoint t) {
  const Seconds s = split_seconds(t.time_since_epoch());
  std::int64_t days = s.whole / 86'400;
  std::int64_t second_of_day = s.whole % 86'400;
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
  append_fraction(out, s.nanos);
  out += 'Z';
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

}  // namespace detail::text

namespace detail::json {

inline void append_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  text::append_utf8(out, text, [&out](char c) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
          out += hex[static_cast<unsigned char>(c) & 0xf];
        } else {
          out += c;
        }
    }
  });
  out += '"';
}

/// A double rounded to 6 decimal places, trailing zeros dropped ("0.8", "1", "12.345679");
/// magnitudes of 1e15 and more in shortest form ("1e+20"); NaN and infinities as null.
inline void append_double(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buffer[64];
  std::to_chars_result result{};
  if (std::fabs(value) < 1e15) {
    result = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, 6);
    char* end = result.ptr;
    while (end[-1] == '0') --end;
    if (end[-1] == '.') --end;
    const std::string_view digits{buffer, static_cast<std::size_t>(end - buffer)};
    out += digits == "-0" ? std::string_view{"0"} : digits;  // -0.0000001 rounds to 0
    return;
  }
  result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

inline void append_time(std::string& out, TimePoint t) {
  out += '"';
  text::append_rfc3339(out, t);
  out += '"';
}

/// `,"<at_name>":"<RFC 3339>","<in_name>":<seconds from now>`, or the two as null.
inline void append_time_pair(std::string& out, std::string_view at_name, std::string_view in_name,
                             const std::optional<TimePoint>& t, TimePoint now) {
  out += ",\"";
  out += at_name;
  out += "\":";
  if (t) append_time(out, *t);
  else out += "null";
  out += ",\"";
  out += in_name;
  out += "\":";
  if (t) text::append_seconds(out, text::seconds_between(now, *t));
  else out += "null";
}

inline void append_per_metric(std::string& out, const std::array<std::uint64_t, metric_count>& amounts) {
  out += '{';
  for (std::size_t m = 0; m < metric_count; ++m) {
    if (m != 0) out += ',';
    out += '"';
    out += to_string(static_cast<Metric>(m));
    out += "\":";
    text::append_uint(out, amounts[m]);
  }
  out += '}';
}

inline void append_totals(std::string& out, const Totals& totals, TimePoint now) {
  out += "{\"keys\":";
  text::append_uint(out, totals.keys);
  out += ",\"available\":";
  text::append_uint(out, totals.available);
  out += ",\"cooling_down\":";
  text::append_uint(out, totals.cooling_down);
  out += ",\"exhausted\":";
  text::append_uint(out, totals.exhausted);
  out += ",\"disabled\":";
  text::append_uint(out, totals.disabled);
  out += ",\"successes\":";
  text::append_uint(out, totals.successes);
  out += ",\"failures\":";
  text::append_uint(out, totals.failures);
  out += ",\"rate_limited\":";
  text::append_uint(out, totals.rate_limited);
  out += ",\"daily_capacity\":";
  append_per_metric(out, totals.daily_capacity);
  out += ",\"daily_used\":";
  append_per_metric(out, totals.daily_used);
  append_time_pair(out, "next_recovery", "next_recovery_in_s", totals.next_recovery, now);
  append_time_pair(out, "exhausts_at", "exhausts_in_s", totals.exhausts_at, now);
  out += '}';
}

inline void append_limit(std::string& out, const LimitUsage& limit, TimePoint now) {
  out += "{\"metric\":";
  append_string(out, to_string(limit.metric));
  out += ",\"window\":";
  append_string(out, limit.window);
  out += ",\"description\":";
  append_string(out, limit.description);
  out += ",\"used\":";
  text::append_uint(out, limit.used);
  out += ",\"limit\":";
  text::append_uint(out, limit.limit);
  out += ",\"remaining\":";
  text::append_uint(out, limit.remaining);
  out += ",\"fraction\":";
  append_double(out, limit.fraction);
  append_time_pair(out, "resets_at", "resets_in_s", limit.resets_at, now);
  out += ",\"rate_per_second\":";
  append_double(out, limit.rate_per_second);
  append_time_pair(out, "exhausts_at", "exhausts_in_s", limit.exhausts_at, now);
  out += '}';
}

inline void append_key(std::string& out, const KeySnapshot& key, TimePoint now) {
  out += "{\"id\":";
  text::append_uint(out, key.id.value);
  out += ",\"label\":";
  append_string(out, key.label);
  out += ",\"provider\":";
  append_string(out, key.provider_name);
  out += ",\"tier\":";
  text::append_uint(out, key.tier);
  out += ",\"weight\":";
  text::append_uint(out, key.weight);
  out += ",\"status\":";
  append_string(out, to_string(key.status));
  append_time_pair(out, "available_at", "available_in_s", key.available_at, now);
  out += ",\"successes\":";
  text::append_uint(out, key.successes);
  out += ",\"failures\":";
  text::append_uint(out, key.failures);
  out += ",\"rate_limited\":";
  text::append_uint(out, key.rate_limited);
  out += ",\"consecutive_failures\":";
  text::append_uint(out, key.consecutive_failures);
  out += ",\"last_error\":";
  if (key.last_error) {
    out += "{\"kind\":";
    append_string(out, to_string(*key.last_error));
    out += ",\"status\":";
    if (key.last_error_status != 0) text::append_int(out, key.last_error_status);
    else out += "null";
    out += ",\"at\":";
    append_time(out, key.last_error_at);
    out += '}';
  } else {
    out += "null";
  }
  append_time_pair(out, "exhausts_at", "exhausts_in_s", key.exhausts_at, now);
  out += ",\"limits\":[";
  for (std::size_t i = 0; i < key.limits.size(); ++i) {
    if (i != 0) out += ',';
    append_limit(out, key.limits[i], now);
  }
  out += "]}";
}

}  // namespace detail::json

/// The snapshot as one line of JSON (RFC 8259, valid UTF-8, no trailing newline):
///
///   {"at":"2026-11-24T10:42:07Z","totals":{…},"providers":[{"id","name","tier","totals"}…],
///    "keys":[{"id","label","provider","tier","weight","status","available_at",…,"limits":[…]}…],
///    "events_dropped":0,"sink_failures":0}
///
/// Every field is always present, in that order; a value that is absent is `null`. Times are RFC
/// 3339 UTC strings ("2026-11-25T00:00:00Z", a fraction of a second only when not zero); each time
/// that lies ahead (`resets_at`, `available_at`, `exhausts_at`, `next_recovery`) has a companion
/// `…_in_s`: exact seconds from the snapshot's `at` to it (negative when already past). Counts are
/// exact integers; `fraction` and `rate_per_second` are rounded to 6 decimal places (NaN or an
/// infinity, which a pool never produces, is written null). Strings are escaped (quote, backslash,
/// control characters) and ill-formed UTF-8 in labels is replaced by U+FFFD. Secrets are never in
/// a snapshot, so never in the output. docs/observability.md describes each field.
///
/// Thread-safe: reads `snapshot` only (concurrent calls on one snapshot are fine). O(size of the
/// output), about 900 bytes per key with two limits. Throws only std::bad_alloc.
[[nodiscard]] inline std::string to_json(const Snapshot& snapshot) {
  std::size_t limits = 0;
  for (const KeySnapshot& key : snapshot.keys) limits += key.limits.size();
  std::string out;
  out.reserve(1'024 + 512 * snapshot.providers.size() + 360 * snapshot.keys.size() + 260 * limits);

  out += "{\"at\":";
  detail::json::append_time(out, snapshot.at);
  out += ",\"totals\":";
  detail::json::append_totals(out, snapshot.totals, snapshot.at);
  out += ",\"providers\":[";
  for (std::size_t i = 0; i < snapshot.providers.size(); ++i) {
    const ProviderSnapshot& provider = snapshot.providers[i];
    if (i != 0) out += ',';
    out += "{\"id\":";
    detail::text::append_uint(out, provider.id.value);
    out += ",\"name\":";
    detail::json::append_string(out, provider.name);
    out += ",\"tier\":";
    detail::text::append_uint(out, provider.tier);
    out += ",\"totals\":";
    detail::json::append_totals(out, provider.totals, snapshot.at);
    out += '}';
  }
  out += "],\"keys\":[";
  for (std::size_t i = 0; i < snapshot.keys.size(); ++i) {
    if (i != 0) out += ',';
    detail::json::append_key(out, snapshot.keys[i], snapshot.at);
  }
  out += "],\"events_dropped\":";
  detail::text::append_uint(out, snapshot.events_dropped);
  out += ",\"sink_failures\":";
  detail::text::append_uint(out, snapshot.sink_failures);
  out += '}';
  return out;
}

}  // namespace keypool
