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

#include <keypool/detail/text.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/snapshot.hpp>
#include <keypool/time.hpp>

namespace keypool {

namespace detail::json {

inline void append_string(std::string& out, std::string_view text) {
  out += '"';
  text::append_utf8(out, text, [&out](char c) {
    if (const std::string_view escape = text::short_escape(c); !escape.empty()) {
      out += escape;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      text::append_hex_byte(out, static_cast<unsigned char>(c));
    } else {
      out += c;
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
  out += ",\"marked\":";
  text::append_uint(out, limit.marked);
  out += ",\"reported\":";
  if (limit.reported_at) {
    out += "{\"limit\":";
    if (limit.reported_limit) text::append_uint(out, *limit.reported_limit);
    else out += "null";
    out += ",\"remaining\":";
    text::append_uint(out, limit.reported_remaining.value_or(0));
    out += ",\"at\":";
    append_time(out, *limit.reported_at);
    out += '}';
  } else {
    out += "null";
  }
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

/// `[a,b,…]`: `append(out, item)` for each item, comma-separated.
template <class Items, class Append>
void append_array(std::string& out, const Items& items, Append&& append) {
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    append(out, item);
  }
  out += ']';
}

inline void append_limits(std::string& out, const std::vector<LimitUsage>& limits, TimePoint now) {
  append_array(out, limits, [now](std::string& o, const LimitUsage& limit) { append_limit(o, limit, now); });
}

inline void append_report(std::string& out, const ProviderRemaining& report, TimePoint now) {
  out += "{\"metric\":";
  append_string(out, to_string(report.metric));
  out += ",\"window\":";
  append_string(out, to_string(report.window));
  out += ",\"limit\":";
  if (report.limit != 0) text::append_uint(out, report.limit);
  else out += "null";
  out += ",\"remaining\":";
  text::append_uint(out, report.remaining);
  const std::optional<TimePoint> resets =
      report.resets_at > TimePoint{} ? std::optional<TimePoint>{report.resets_at} : std::nullopt;
  append_time_pair(out, "resets_at", "resets_in_s", resets, now);
  out += '}';
}

inline void append_observed(std::string& out, const std::vector<ProviderRemaining>& observed, TimePoint now) {
  append_array(out, observed, [now](std::string& o, const ProviderRemaining& report) { append_report(o, report, now); });
}

inline void append_meter(std::string& out, const MeterSnapshot& meter, TimePoint now) {
  out += "{\"model\":";
  append_string(out, meter.model);
  out += ",\"status\":";
  append_string(out, to_string(meter.status));
  append_time_pair(out, "available_at", "available_in_s", meter.available_at, now);
  out += ",\"limits\":";
  append_limits(out, meter.limits, now);
  out += ",\"observed\":";
  append_observed(out, meter.observed, now);
  out += '}';
}

inline void append_meters(std::string& out, const std::vector<MeterSnapshot>& meters, TimePoint now) {
  append_array(out, meters, [now](std::string& o, const MeterSnapshot& meter) { append_meter(o, meter, now); });
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
  out += ",\"limits\":";
  append_limits(out, key.limits, now);
  out += ",\"group\":";
  if (key.group.empty()) out += "null";
  else append_string(out, key.group);
  out += ",\"models\":";
  append_meters(out, key.models, now);
  out += ",\"observed\":";
  append_observed(out, key.observed, now);
  out += '}';
}

inline void append_group(std::string& out, const GroupSnapshot& group, TimePoint now) {
  out += "{\"id\":";
  text::append_uint(out, group.id.value);
  out += ",\"name\":";
  append_string(out, group.name);
  out += ",\"provider\":";
  append_string(out, group.provider_name);
  out += ",\"shared\":";
  if (group.shared) append_meter(out, *group.shared, now);
  else out += "null";
  out += ",\"models\":";
  append_meters(out, group.models, now);
  out += ",\"keys\":";
  append_array(out, group.keys, [](std::string& o, KeyId key) { text::append_uint(o, key.value); });
  out += '}';
}

}  // namespace detail::json

/// The snapshot as one line of JSON (RFC 8259, valid UTF-8, no trailing newline):
///
///   {"at":"2026-11-24T10:42:07Z","totals":{…},"providers":[{"id","name","tier","dialect","totals"}…],
///    "keys":[{"id","label","provider","tier","weight","status","available_at",…,"limits":[…],
///             "group","models":[{"model","status","available_at","limits":[…]}…]}…],
///    "groups":[{"id","name","provider","shared","models","keys"}…],
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
    out += ",\"dialect\":";
    detail::json::append_string(out, to_string(provider.dialect));
    out += ",\"totals\":";
    detail::json::append_totals(out, provider.totals, snapshot.at);
    out += '}';
  }
  out += "],\"keys\":";
  detail::json::append_array(out, snapshot.keys,
                             [&](std::string& o, const KeySnapshot& key) { detail::json::append_key(o, key, snapshot.at); });
  out += ",\"groups\":";
  detail::json::append_array(out, snapshot.groups,
                             [&](std::string& o, const GroupSnapshot& group) { detail::json::append_group(o, group, snapshot.at); });
  out += ",\"events_dropped\":";
  detail::text::append_uint(out, snapshot.events_dropped);
  out += ",\"sink_failures\":";
  detail::text::append_uint(out, snapshot.sink_failures);
  out += '}';
  return out;
}

}  // namespace keypool
