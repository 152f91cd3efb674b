// keypool::to_prometheus: a Snapshot in the Prometheus text exposition format 0.0.4, for a
// /metrics endpoint. docs/observability.md lists every metric family.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <keypool/detail/text.hpp>  // UTF-8, seconds and integer formatting
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/snapshot.hpp>
#include <keypool/time.hpp>

namespace keypool {
namespace detail::prometheus {

/// A label value between its quotes: backslash, double quote and line feed escaped as \\, \" and
/// \n; ill-formed UTF-8 replaced by U+FFFD (Prometheus refuses it).
inline void append_label_value(std::string& out, std::string_view value) {
  text::append_utf8(out, value, [&out](char c) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  });
}

/// A sample value as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it, which Prometheus reads
/// back exactly: shortest round-trip digits ("0.8", "1e+21"), "NaN", "+Inf", "-Inf".
inline void append_float(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (value == 0) {
    out += '0';  // also -0
  } else {
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
  }
}

/// The names to use for the `key` (or `provider`) label: `names` made valid UTF-8, and made unique
/// when two are equal (the second "x" becomes "x#2", as the pool names keys whose secrets redact
/// alike). Equal names are impossible in a pool's snapshot except for labels that differ only in
/// ill-formed UTF-8 bytes; they would make duplicate series, and Prometheus drops a whole scrape
/// that has one.
inline std::vector<std::string> unique_names(std::vector<std::string> names) {
  std::vector<std::string_view> sorted(names.begin(), names.end());
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end()) return names;
  std::unordered_set<std::string> taken(names.begin(), names.end());
  std::unordered_set<std::string> kept;
  for (std::string& name : names) {
    if (kept.insert(name).second) continue;  // the first of its name keeps it
    for (std::size_t n = 2;; ++n) {
      std::string candidate = name + "#" + std::to_string(n);
      if (taken.insert(candidate).second) {
        kept.insert(candidate);
        name = std::move(candidate);
        break;
      }
    }
  }
  return names;
}

struct Label {
  std::string_view name;
  std::string_view value;
};

/// A view of labels, from a braced list (which lives until the end of the call) or an array.
class Labels {
 public:
  Labels() = default;
  Labels(std::initializer_list<Label> labels) noexcept : labels_(labels.begin(), labels.size()) {}
  Labels(std::span<const Label> labels) noexcept : labels_(labels) {}
  [[nodiscard]] auto begin() const noexcept { return labels_.begin(); }
  [[nodiscard]] auto end() const noexcept { return labels_.end(); }
  [[nodiscard]] bool empty() const noexcept { return labels_.empty(); }

 private:
  std::span<const Label> labels_{};
};

/// Writes families and samples; each sample line is `name{labels} value`.
class Writer {
 public:
  explicit Writer(std::string& out) noexcept : out_(out) {}

  /// `# HELP` and `# TYPE` of a family; its samples must follow before the next family.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    for (const char c : help) {  // HELP text escapes only backslash and line feed
      if (c == '\\') out_ += "\\\\";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  /// A sample of a count: the integer exactly.
  void sample(std::string_view name, std::string_view prefix, Labels labels, std::uint64_t value) {
    begin(name, prefix, labels);
    text::append_uint(out_, value);
    out_ += '\n';
  }
  /// A sample of a measure: a Go-style float.
  void sample_float(std::string_view name, std::string_view prefix, Labels labels, double value) {
    begin(name, prefix, labels);
    append_float(out_, value);
    out_ += '\n';
  }
  /// A sample of a time: unix seconds, exact to the nanosecond.
  void sample_time(std::string_view name, std::string_view prefix, Labels labels, TimePoint t) {
    begin(name, prefix, labels);
    text::append_unix_seconds(out_, t);
    out_ += '\n';
  }

 private:
  /// `name{<prefix>,<labels>} `, where `prefix` is already escaped (`provider="groq",key="groq-1"`,
  /// or empty).
  void begin(std::string_view name, std::string_view prefix, Labels labels) {
    out_ += name;
    if (!prefix.empty() || !labels.empty()) {
      out_ += '{';
      out_ += prefix;
      bool first = prefix.empty();
      for (const Label& label : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label.name;
        out_ += "=\"";
        append_label_value(out_, label.value);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  std::string& out_;
};

/// `name="value"` pairs, escaped, joined by commas.
inline std::string label_prefix(Labels labels) {
  std::string out;
  for (const Label& label : labels) {
    if (!out.empty()) out += ',';
    out += label.name;
    out += "=\"";
    append_label_value(out, label.value);
    out += '"';
  }
  return out;
}

}  // namespace detail::prometheus

/// The snapshot in the Prometheus text exposition format 0.0.4 (serve it as
/// `text/plain; version=0.0.4; charset=utf-8`). One `# HELP` and one `# TYPE` line per family,
/// each family's samples right after them; every family is written even when it has no sample.
///
/// Families (all gauges except the `_total` counters; docs/observability.md has their meaning):
///   keypool_snapshot_timestamp_seconds, keypool_events_dropped_total, keypool_sink_failures_total;
///   per provider {provider}: keypool_provider_tier, keypool_provider_keys{state},
///     keypool_daily_capacity{metric}, keypool_daily_used{metric} (metrics with a daily capacity),
///     keypool_provider_next_recovery_at_seconds, keypool_provider_exhausts_at_seconds;
///   per key {provider, key}: keypool_key_status{status} (one series per status, 1 for the
///     current one), keypool_key_weight, keypool_key_successes_total, keypool_key_failures_total,
///     keypool_key_rate_limited_total, keypool_key_consecutive_failures,
///     keypool_key_available_at_seconds, keypool_key_exhausts_at_seconds,
///     keypool_key_last_error_at_seconds{kind, status};
///   per limit {provider, key, metric, window, limit_index}: keypool_quota_used,
///     keypool_quota_limit, keypool_quota_remaining, keypool_quota_usage_ratio,
///     keypool_quota_resets_at_seconds, keypool_quota_usage_rate_per_second,
///     keypool_quota_exhausts_at_seconds.
/// A time that is absent (no recovery pending, no forecast, no error yet) has no sample. Times
/// are unix seconds, exact to the nanosecond; counts are exact integers; other values are Go-style
/// floats. `limit_index` is the limit's position in the key's list (from 0), so two limits of one
/// metric and window never make duplicate series. Label values are escaped and made valid UTF-8;
/// a key label that still repeats another (only possible in a hand-built snapshot, or for labels
/// that differ only in ill-formed UTF-8) gets "#2", "#3", … appended, so a scrape never fails on
/// duplicate series. Secrets are never in a snapshot, so never in the output.
///
/// Thread-safe: reads `snapshot` only. O(size of the output), about 2.2 KB per key with two limits.
/// Throws only std::bad_alloc.
[[nodiscard]] inline std::string to_prometheus(const Snapshot& snapshot) {
  using detail::prometheus::Label;
  using detail::prometheus::Labels;
  std::string out;
  std::size_t limits = 0;
  for (const KeySnapshot& key : snapshot.keys) limits += key.limits.size();
  out.reserve(8'192 + 1'024 * snapshot.providers.size() + 800 * snapshot.keys.size() + 750 * limits);
  detail::prometheus::Writer w{out};

  // Escaped label prefixes, computed once: `provider="…"` per provider and `provider="…",key="…"`
  // per key.
  std::vector<std::string> names;
  names.reserve(std::max(snapshot.providers.size(), snapshot.keys.size()));
  for (const ProviderSnapshot& provider : snapshot.providers) names.push_back(detail::text::valid_utf8(provider.name));
  names = detail::prometheus::unique_names(std::move(names));
  std::vector<std::string> provider_labels;
  provider_labels.reserve(snapshot.providers.size());
  for (const std::string& name : names) provider_labels.push_back(detail::prometheus::label_prefix({{"provider", name}}));

  names.clear();
  for (const KeySnapshot& key : snapshot.keys) names.push_back(detail::text::valid_utf8(key.label));
  names = detail::prometheus::unique_names(std::move(names));
  std::vector<std::string> key_labels;
  key_labels.reserve(snapshot.keys.size());
  for (std::size_t i = 0; i < snapshot.keys.size(); ++i)
    key_labels.push_back(detail::prometheus::label_prefix({{"provider", snapshot.keys[i].provider_name}, {"key", names[i]}}));

  // Every counted list of limits, with its series prefix: each key's own limits
  // (`provider,key`), each of its models' (`provider,key,model`), each group's shared limits
  // (`provider,group`) and each group's models' (`provider,group,model`).
  std::vector<std::pair<std::string, const std::vector<LimitUsage>*>> counted;
  for (std::size_t k = 0; k < snapshot.keys.size(); ++k) {
    const KeySnapshot& key = snapshot.keys[k];
    counted.emplace_back(key_labels[k], &key.limits);
    for (const MeterSnapshot& model : key.models)
      counted.emplace_back(key_labels[k] + ',' + detail::prometheus::label_prefix({{"model", detail::text::valid_utf8(model.model)}}),
                           &model.limits);
  }
  for (const GroupSnapshot& group : snapshot.groups) {
    const std::string prefix =
        detail::prometheus::label_prefix({{"provider", group.provider_name}, {"group", detail::text::valid_utf8(group.name)}});
    if (group.shared) counted.emplace_back(prefix, &group.shared->limits);
    for (const MeterSnapshot& model : group.models)
      counted.emplace_back(prefix + ',' + detail::prometheus::label_prefix({{"model", detail::text::valid_utf8(model.model)}}), &model.limits);
  }

  // Calls f(prefix, limit, labels) for every limit counted, labels being its metric, window and
  // limit_index.
  const auto for_each_limit = [&](auto&& f) {
    char index[24];
    for (const auto& [prefix, limits] : counted) {
      for (std::size_t i = 0; i < limits->size(); ++i) {
        const LimitUsage& limit = (*limits)[i];
        const auto written = std::to_chars(index, index + sizeof index, i);
        const Label labels[] = {{"metric", to_string(limit.metric)},
                                {"window", limit.window},
                                {"limit_index", std::string_view{index, static_cast<std::size_t>(written.ptr - index)}}};
        f(std::string_view{prefix}, limit, Labels{std::span<const Label>{labels}});
      }
    }
  };

  // --- Pool --------------------------------------------------------------------------------------
  w.family("keypool_snapshot_timestamp_seconds", "gauge", "When the snapshot was taken, unix time in seconds.");
  w.sample_time("keypool_snapshot_timestamp_seconds", "", {}, snapshot.at);
  w.family("keypool_events_dropped_total", "counter", "Events the queued alert sink had to drop.");
  w.sample("keypool_events_dropped_total", "", {}, snapshot.events_dropped);
  w.family("keypool_sink_failures_total", "counter", "Exceptions thrown by the alert sink and swallowed by the pool.");
  w.sample("keypool_sink_failures_total", "", {}, snapshot.sink_failures);

  // --- Providers ---------------------------------------------------------------------------------
  const auto& providers = snapshot.providers;
  w.family("keypool_provider_tier", "gauge", "The provider's tier; lower tiers are preferred.");
  for (std::size_t p = 0; p < providers.size(); ++p)
    w.sample("keypool_provider_tier", provider_labels[p], {}, providers[p].tier);

  w.family("keypool_provider_keys", "gauge",
           "The provider's keys by state: available (includes warning and critical), cooling_down, exhausted, disabled.");
  for (std::size_t p = 0; p < providers.size(); ++p) {
    const Totals& t = providers[p].totals;
    w.sample("keypool_provider_keys", provider_labels[p], {{"state", "available"}}, t.available);
    w.sample("keypool_provider_keys", provider_labels[p], {{"state", "cooling_down"}}, t.cooling_down);
    w.sample("keypool_provider_keys", provider_labels[p], {{"state", "exhausted"}}, t.exhausted);
    w.sample("keypool_provider_keys", provider_labels[p], {{"state", "disabled"}}, t.disabled);
  }

  w.family("keypool_daily_capacity", "gauge",
           "Sum of the provider's keys' per-day limits of the metric (spend in micro-units of money).");
  for (std::size_t p = 0; p < providers.size(); ++p)
    for (std::size_t m = 0; m < metric_count; ++m)
      if (providers[p].totals.daily_capacity[m] != 0)
        w.sample("keypool_daily_capacity", provider_labels[p], {{"metric", to_string(static_cast<Metric>(m))}},
                 providers[p].totals.daily_capacity[m]);

  w.family("keypool_daily_used", "gauge", "What is used today of keypool_daily_capacity.");
  for (std::size_t p = 0; p < providers.size(); ++p)
    for (std::size_t m = 0; m < metric_count; ++m)
      if (providers[p].totals.daily_capacity[m] != 0)
        w.sample("keypool_daily_used", provider_labels[p], {{"metric", to_string(static_cast<Metric>(m))}},
                 providers[p].totals.daily_used[m]);

  w.family("keypool_provider_next_recovery_at_seconds", "gauge",
           "When the provider's first key that cannot serve now can serve again, unix time in seconds.");
  for (std::size_t p = 0; p < providers.size(); ++p)
    if (providers[p].totals.next_recovery)
      w.sample_time("keypool_provider_next_recovery_at_seconds", provider_labels[p], {}, *providers[p].totals.next_recovery);

  w.family("keypool_provider_exhausts_at_seconds", "gauge",
           "The earliest forecast exhaustion of the provider's keys, unix time in seconds.");
  for (std::size_t p = 0; p < providers.size(); ++p)
    if (providers[p].totals.exhausts_at)
      w.sample_time("keypool_provider_exhausts_at_seconds", provider_labels[p], {}, *providers[p].totals.exhausts_at);

  // --- Keys --------------------------------------------------------------------------------------
  const auto& keys = snapshot.keys;
  w.family("keypool_key_status", "gauge", "1 for the key's current status, 0 for the others.");
  static constexpr KeyStatus statuses[] = {KeyStatus::available, KeyStatus::warning,      KeyStatus::critical,
                                           KeyStatus::exhausted, KeyStatus::cooling_down, KeyStatus::disabled};
  for (std::size_t k = 0; k < keys.size(); ++k)
    for (const KeyStatus status : statuses)
      w.sample("keypool_key_status", key_labels[k], {{"status", to_string(status)}}, keys[k].status == status ? 1 : 0);

  w.family("keypool_key_weight", "gauge", "The key's weight for weighted selection.");
  for (std::size_t k = 0; k < keys.size(); ++k) w.sample("keypool_key_weight", key_labels[k], {}, keys[k].weight);

  w.family("keypool_key_successes_total", "counter", "Leases of the key committed.");
  for (std::size_t k = 0; k < keys.size(); ++k) w.sample("keypool_key_successes_total", key_labels[k], {}, keys[k].successes);

  w.family("keypool_key_failures_total", "counter", "Leases of the key failed, with any outcome but bad_request.");
  for (std::size_t k = 0; k < keys.size(); ++k) w.sample("keypool_key_failures_total", key_labels[k], {}, keys[k].failures);

  w.family("keypool_key_rate_limited_total", "counter", "Failures of the key that were rate_limited or quota_exhausted.");
  for (std::size_t k = 0; k < keys.size(); ++k)
    w.sample("keypool_key_rate_limited_total", key_labels[k], {}, keys[k].rate_limited);

  w.family("keypool_key_consecutive_failures", "gauge", "Transient failures of the key in a row (the circuit breaker's count).");
  for (std::size_t k = 0; k < keys.size(); ++k)
    w.sample("keypool_key_consecutive_failures", key_labels[k], {}, keys[k].consecutive_failures);

  w.family("keypool_key_available_at_seconds", "gauge",
           "When a key that cannot serve now can serve again, unix time in seconds (no sample when it can serve, or never will).");
  for (std::size_t k = 0; k < keys.size(); ++k)
    if (keys[k].available_at) w.sample_time("keypool_key_available_at_seconds", key_labels[k], {}, *keys[k].available_at);

  w.family("keypool_key_exhausts_at_seconds", "gauge",
           "The earliest forecast exhaustion of the key's limits at the current usage rate, unix time in seconds.");
  for (std::size_t k = 0; k < keys.size(); ++k)
    if (keys[k].exhausts_at) w.sample_time("keypool_key_exhausts_at_seconds", key_labels[k], {}, *keys[k].exhausts_at);

  w.family("keypool_key_last_error_at_seconds", "gauge",
           "When the key last failed, unix time in seconds; kind is the outcome, status the HTTP status (0: unknown).");
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (!keys[k].last_error) continue;
    char status[16];
    const auto written = std::to_chars(status, status + sizeof status, keys[k].last_error_status);
    w.sample_time("keypool_key_last_error_at_seconds", key_labels[k],
                  {{"kind", to_string(*keys[k].last_error)},
                   {"status", std::string_view{status, static_cast<std::size_t>(written.ptr - status)}}},
                  keys[k].last_error_at);
  }

  // --- Limits ------------------------------------------------------------------------------------
  w.family("keypool_quota_used", "gauge",
           "Amount of the limit's metric used in its current window (rolling limits: not yet replenished).");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample("keypool_quota_used", prefix, labels,
             limit.used);
  });
  w.family("keypool_quota_marked", "gauge",
           "Of keypool_quota_used, what a provider's answer marked used (a spent quota, a report of what is left), not calls counted here.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample("keypool_quota_marked", prefix, labels, limit.marked);
  });
  w.family("keypool_quota_reported_limit", "gauge",
           "The limit's amount as the provider last reported it (x-ratelimit-limit-*); absent before a report.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    if (limit.reported_limit) w.sample("keypool_quota_reported_limit", prefix, labels, *limit.reported_limit);
  });
  w.family("keypool_quota_limit", "gauge", "The limit's amount per window.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample("keypool_quota_limit", prefix, labels,
             limit.limit);
  });
  w.family("keypool_quota_remaining", "gauge", "What is left of the limit in its current window.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample("keypool_quota_remaining", prefix,
             labels, limit.remaining);
  });
  w.family("keypool_quota_usage_ratio", "gauge", "Used divided by limit: 0.8 is 80% used.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample_float("keypool_quota_usage_ratio", prefix,
                   labels, limit.fraction);
  });
  w.family("keypool_quota_resets_at_seconds", "gauge",
           "End of the limit's current window (rolling limits: when fully replenished), unix time in seconds.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample_time("keypool_quota_resets_at_seconds", prefix,
                  labels, limit.resets_at);
  });
  w.family("keypool_quota_usage_rate_per_second", "gauge",
           "The limit's usage rate measured between polls (exponentially weighted), per second.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    w.sample_float("keypool_quota_usage_rate_per_second", prefix,
                   labels,
                   limit.rate_per_second);
  });
  w.family("keypool_quota_exhausts_at_seconds", "gauge",
           "When the limit runs out at its usage rate, if before it resets, unix time in seconds.");
  for_each_limit([&](std::string_view prefix, const LimitUsage& limit, Labels labels) {
    if (limit.exhausts_at)
      w.sample_time("keypool_quota_exhausts_at_seconds", prefix,
                    labels, *limit.exhausts_at);
  });
  return out;
}

}  // namespace keypool
