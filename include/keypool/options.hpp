// Identifiers and construction options of a pool: Capacity, Thresholds, HealthOptions,
// ForecastOptions, KeyOptions, ModelLimits, KeyId, ProviderId, GroupId.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <chrono>

#include <keypool/error.hpp>
#include <keypool/limit.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// A key's handle, as returned by `add_key`. Stable for the life of the pool.
struct KeyId {
  std::uint32_t value = ~std::uint32_t{0};
  friend constexpr auto operator<=>(KeyId, KeyId) = default;
};
/// A provider's handle, as returned by `add_provider`.
struct ProviderId {
  std::uint32_t value = ~std::uint32_t{0};
  friend constexpr auto operator<=>(ProviderId, ProviderId) = default;
};

/// A group's handle (keys that share limits, e.g. the keys of one organization), as returned by
/// `add_group`.
struct GroupId {
  std::uint32_t value = ~std::uint32_t{0};
  friend constexpr auto operator<=>(GroupId, GroupId) = default;
};

/// How many keys the pool can hold, and how many meters besides: a meter counts the limits of
/// one model of a key (KeyOptions::models), of a group, or of one model of a group. The tables
/// are allocated once, at construction, so that readers never lock and never see them move.
struct Capacity {
  std::size_t keys = 64;
  std::size_t meters = 256;
};

/// The limits of one model (per key: `KeyOptions::models`; per group: `add_group`). An empty
/// list means the model is served with no limits of its own (only the shared ones).
struct ModelLimits {
  std::string model;
  std::vector<Limit> limits{};
};

/// The usage fractions at which `threshold_crossed` fires for each calendar limit (default 80%,
/// 90%, 100%). At most 7 levels, each in (0, 1], strictly increasing.
class Thresholds {
 public:
  static constexpr std::size_t max_levels = 7;

  Thresholds() : Thresholds({0.80, 0.90, 1.00}) {}
  Thresholds(std::initializer_list<double> levels) {
    if (levels.size() > max_levels)
      throw Error("Thresholds: at most 7 levels, e.g. Thresholds{0.5, 0.8, 0.9, 1.0}");
    double previous = 0.0;
    for (const double level : levels) {
      if (!(level > previous && level <= 1.0))
        throw Error("Thresholds: levels must be fractions in (0, 1] in increasing order, e.g. Thresholds{0.8, 0.9, 1.0}");
      levels_[count_++] = level;
      previous = level;
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] double operator[](std::size_t i) const noexcept { return levels_[i]; }
  [[nodiscard]] const double* begin() const noexcept { return levels_.data(); }
  [[nodiscard]] const double* end() const noexcept { return levels_.data() + count_; }

 private:
  std::array<double, max_levels> levels_{};
  std::size_t count_ = 0;
};

/// How the pool treats a key's health. Passed to the constructor like Capacity (optional).
struct HealthOptions {
  /// Cooldown after `Outcome::rate_limited()` with no retry time, or `quota_exhausted` of a
  /// metric the key has no calendar limit for.
  Duration default_cooldown = std::chrono::seconds{60};
  /// Consecutive transient failures that open the circuit.
  std::uint32_t circuit_threshold = 3;
  /// First open-circuit cooldown; doubles with each further failure, ±25% jitter, never more
  /// than `circuit_max`.
  Duration circuit_base = std::chrono::seconds{1};
  Duration circuit_max = std::chrono::minutes{5};
};

/// How poll() measures usage rates and forecasts exhaustion. Passed to the constructor like
/// Capacity (optional).
struct ForecastOptions {
  /// Time constant of the exponentially weighted usage rate: a rate change is half absorbed
  /// after about 0.7 × smoothing of polls.
  Duration smoothing = std::chrono::minutes{10};
  /// No forecast for a limit until its rate has been measured over at least this long since its
  /// first use (the first poll that saw usage in it), so one burst does not predict the day.
  Duration warmup = std::chrono::minutes{5};
  /// Nor until this many polls saw the limit's usage grow: one request is not a rate.
  std::uint32_t samples = 3;
  /// A limit's forecast fires once per window, and again in the same window when the predicted
  /// time to exhaustion falls to at most this fraction of what was left, at this poll, of the
  /// last reported one (0.5: "in 8 h" is followed by "in 4 h" or sooner, not by "in 7 h 50 min").
  double refire_ratio = 0.5;
  /// ... and only when it moved earlier by at least this much (no chatter in a window's last
  /// minutes, where every poll halves what is left).
  Duration refire_margin = std::chrono::minutes{15};
  /// traffic_spike: a provider's settled calls per minute over the last poll interval reach this
  /// many times its baseline (their exponentially weighted rate over `smoothing`) ...
  double spike_factor = 3.0;
  /// ... and at least this many per minute (a quiet provider's first calls are no spike). The
  /// spike re-arms when the rate falls below half of `spike_factor` × baseline.
  double spike_min_per_minute = 30.0;
};

/// Per-key options for `add_key`. `label` names the key everywhere a person reads (events,
/// snapshots, state files); it defaults to the secret's redacted form and must be unique in a
/// pool. `weight` is used by `select::Weighted` (must be at least 1). `models` lists the models
/// the key serves, each with its own limits beside the key's (which all its models share); a key
/// that lists no models, in a group that lists none, serves every request. `group` puts the key
/// in a group made by `add_group`: the group's limits are counted with the key's, atomically.
struct KeyOptions {
  std::string label{};
  std::uint32_t weight = 1;
  std::vector<ModelLimits> models{};
  GroupId group{};
  /// Take the limit a provider reports for one of the key's limits (x-ratelimit-limit-*, read
  /// by Lease::classify) as the key's new amount of that limit, at the next poll(), keeping its
  /// usage (KeyPool::set_limits, key_limits_changed). For limits that are guesses (a free tier
  /// whose figures change); leave it off for a budget of your own below the provider's. Needs a
  /// store that counts locally (store::Memory, store::MappedFile); store::Redis ignores it.
  bool adopt_reported_limits = false;
};

}  // namespace keypool
