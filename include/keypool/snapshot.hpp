// keypool::Snapshot: what the pool looks like at one moment — per limit, per key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/dialect.hpp>
#include <keypool/options.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// A key's state as a person would name it.
enum class KeyStatus : std::uint8_t {
  available,     // every limit under the first warning level
  warning,       // some limit at the pool's first threshold level or more (default 80%)
  critical,      // some limit at its second level or more, if that is below 100% (default 90%)
  exhausted,     // some calendar limit full: no request can pass until it resets
  cooling_down,  // rate-limited by the provider, or circuit open
  disabled,      // disabled until enable()
};

[[nodiscard]] constexpr std::string_view to_string(KeyStatus status) noexcept {
  switch (status) {
    case KeyStatus::available: return "available";
    case KeyStatus::warning: return "warning";
    case KeyStatus::critical: return "critical";
    case KeyStatus::exhausted: return "exhausted";
    case KeyStatus::cooling_down: return "cooling_down";
    case KeyStatus::disabled: return "disabled";
  }
  return "unknown";
}

/// One limit of one key.
struct LimitUsage {
  Metric metric = Metric::requests;
  std::string window;          ///< "minute", "day", "rolling", "request", …
  std::string description;     ///< "tokens 14400 per day"
  std::uint64_t used = 0;      ///< in the current window (rolling: the amount not yet replenished)
  /// Of `used`, what a provider's answer marked used (a spent quota, a report of what is left)
  /// rather than what calls through this process counted: 1,495 of 1,500 after 5 calls and a
  /// "daily quota exceeded". As this process saw it (0 after a restart; other processes' marks
  /// count as used).
  std::uint64_t marked = 0;
  /// What the provider last reported of this limit (x-ratelimit-limit-*, -remaining-*), and when;
  /// absent before its first report. A `reported_limit` other than `limit` raised limit_mismatch.
  std::optional<std::uint64_t> reported_limit{};
  std::optional<std::uint64_t> reported_remaining{};
  std::optional<TimePoint> reported_at{};
  std::uint64_t limit = 0;
  std::uint64_t remaining = 0;
  double fraction = 0.0;       ///< used / limit
  TimePoint resets_at{};       ///< end of the current window (rolling: when fully replenished)
  /// Usage rate measured between polls (exponentially weighted), per second; 0 before two polls.
  double rate_per_second = 0.0;
  /// When the limit runs out at that rate, if before `resets_at` (calendar limits only).
  std::optional<TimePoint> exhausts_at{};
};

/// One meter: the limits of one model of a key, of a group, or of one model of a group.
struct MeterSnapshot {
  std::string model;           ///< "" for a group's shared limits
  KeyStatus status = KeyStatus::available;  ///< available … exhausted, or cooling_down (the provider rate-limited this model)
  TimePoint blocked_until{};   ///< cooldown end
  std::optional<TimePoint> available_at{};
  std::vector<LimitUsage> limits;
  std::vector<ProviderRemaining> observed;  ///< as KeySnapshot::observed, for this model
};

/// One key.
struct KeySnapshot {
  KeyId id{};
  ProviderId provider{};
  std::string provider_name;
  std::string label;
  std::uint32_t tier = 0;
  KeyStatus status = KeyStatus::available;
  std::uint32_t weight = 1;
  TimePoint blocked_until{};   ///< cooldown end (TimePoint::max() when disabled)
  /// When the key can serve again if it cannot now (cooldown end, earliest reset of a full
  /// limit); absent when it can serve, or never will (disabled).
  std::optional<TimePoint> available_at{};
  // Health counters, since the counters' storage was created (they persist with a persistent store).
  std::uint64_t successes = 0;             ///< leases committed
  std::uint64_t failures = 0;              ///< leases failed, any outcome but bad_request and success
  std::uint64_t rate_limited = 0;          ///< of which rate_limited or quota_exhausted
  std::uint64_t consecutive_failures = 0;  ///< transient failures in a row (the circuit breaker's count)
  /// The last failure: its kind, HTTP status (0 when unknown) and time.
  std::optional<Outcome::Kind> last_error{};
  int last_error_status = 0;
  TimePoint last_error_at{};
  /// The earliest `exhausts_at` of its limits.
  std::optional<TimePoint> exhausts_at{};
  std::vector<LimitUsage> limits;
  /// Its models (KeyOptions::models), each with its own limits and cooldown.
  std::vector<MeterSnapshot> models;
  /// What the provider last reported of windows none of its limits count (e.g. Groq's tokens per
  /// minute on a key configured with tokens per day), the latest per metric and window, at most
  /// 4; as this process saw them. A report of nothing left there rests the key until its reset.
  std::vector<ProviderRemaining> observed;
  /// The group it belongs to ("" for none): see Snapshot::groups.
  std::string group;
};

/// One group of keys that share limits (add_group).
struct GroupSnapshot {
  GroupId id{};
  std::string name;
  ProviderId provider{};
  std::string provider_name;
  /// Its shared limits (model ""; absent when it has none), then its models.
  std::optional<MeterSnapshot> shared;
  std::vector<MeterSnapshot> models;
  std::vector<KeyId> keys;  ///< its members
};

/// Figures summed over a group of keys (a provider, or the whole pool).
struct Totals {
  std::size_t keys = 0;
  std::size_t available = 0;     ///< status available, warning or critical: can serve now
  std::size_t cooling_down = 0;
  std::size_t exhausted = 0;
  std::size_t disabled = 0;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  std::uint64_t rate_limited = 0;
  /// Per metric (indexed by Metric): the sum of the keys' per-day limits, e.g. 10 keys with
  /// `requests(480).per_day()` = 4,800 requests a day; and what is used of it today.
  std::array<std::uint64_t, metric_count> daily_capacity{};
  std::array<std::uint64_t, metric_count> daily_used{};
  /// When the first key that cannot serve now can serve again; absent when every key can serve
  /// or none ever will.
  std::optional<TimePoint> next_recovery{};
  /// The earliest exhaustion forecast of the group's keys.
  std::optional<TimePoint> exhausts_at{};
};

/// One provider.
struct ProviderSnapshot {
  ProviderId id{};
  std::string name;
  std::uint32_t tier = 0;
  Dialect dialect = Dialect::generic;  ///< how its answers are read (add_provider)
  Totals totals;
};

/// The pool at one moment. Each key's figures are read atomically word by word, but the snapshot
/// is not atomic across keys or limits: under traffic, two figures may be microseconds apart.
struct Snapshot {
  TimePoint at{};
  std::vector<KeySnapshot> keys;
  std::vector<ProviderSnapshot> providers;
  std::vector<GroupSnapshot> groups;
  Totals totals;
  std::uint64_t events_dropped = 0;  ///< by a queued alert sink, when the pool's sink reports it
  std::uint64_t sink_failures = 0;   ///< exceptions thrown by the alert sink and swallowed
};

}  // namespace keypool
