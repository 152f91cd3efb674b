// What poll() learns over time: each calendar limit's usage rate (exponentially weighted, see
// ForecastOptions), exhaustion forecasts for a key's limit and for a provider's daily capacity,
// and which keys could not serve at the last poll (for key_recovered). Not thread-safe: the pool
// calls it under its poll mutex.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/events.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/options.hpp>
#include <keypool/snapshot.hpp>

namespace keypool::detail {

class Forecaster {
 public:
  explicit Forecaster(ForecastOptions options) : options_(options) {
    if (options_.smoothing <= Duration::zero() || options_.warmup < Duration::zero())
      throw Error("ForecastOptions: smoothing must be positive and warmup not negative");
  }

  /// One poll at `now` over keys 0 … count-1 and providers 0 … provider_count-1: measures rates,
  /// raises key_recovered and exhaustion_forecast through `events` (an EventReporter).
  /// `snapshot_of(record)` is the key's snapshot at `now`; `each_provider(p)` runs before provider
  /// p's forecasts (the pool's provider recovery). Allocates when keys were added.
  template <class Events, class SnapshotOf, class EachProvider>
  void poll(const KeyRecord* records, std::size_t count, const ProviderRecord* providers, std::size_t provider_count,
            TimePoint now, Events& events, SnapshotOf&& snapshot_of, EachProvider&& each_provider) {
    if (watches_.size() < count) watches_.resize(count);
    if (provider_watches_.size() < provider_count) provider_watches_.resize(provider_count);
    const std::int64_t now_sec = to_seconds(now);
    const double tau = std::chrono::duration<double>(options_.smoothing).count();

    // Per provider and metric: daily remaining and rate, for the provider forecast.
    struct DayTotals {
      double remaining = 0, rate = 0;
      std::int64_t resets = std::numeric_limits<std::int64_t>::max();
      std::uint64_t epoch = 0;
      bool any = false, warm = true;
    };
    std::vector<std::array<DayTotals, metric_count>> days(provider_count);

    for (std::size_t k = 0; k < count; ++k) {
      const KeyRecord& key = records[k];
      KeyWatch& watch = watches_[k];
      const KeySnapshot snap = snapshot_of(key);
      const bool first_poll = !watch.seen;
      if (first_poll) {
        watch.seen = true;
        watch.first = now;
        watch.last = now;
      }
      const double dt = std::chrono::duration<double>(now - watch.last).count();
      const bool warm = now - watch.first >= options_.warmup;
      // Recovery of a key that could not serve at the last poll.
      const bool unavailable = snap.status == KeyStatus::exhausted || snap.status == KeyStatus::cooling_down;
      if (watch.unavailable && !unavailable && snap.status != KeyStatus::disabled)
        events.key(EventKind::key_recovered, key, now, now);
      watch.unavailable = unavailable;

      for (std::size_t i = 0; i < key.limit_count; ++i) {
        const LimitPlan& plan = key.plans[i];
        LimitWatch& lw = watch.limits[i];
        if (plan.kind != Limit::Kind::window) continue;
        const accounting::WindowNow current = accounting::current_window_of(plan.limit, now_sec);
        const std::uint64_t used = snap.limits[i].used;
        if (!first_poll && dt > 0) {
          double delta;
          double span = dt;
          if (current.epoch == lw.epoch) {
            delta = used >= lw.used ? static_cast<double>(used - lw.used) : 0.0;
          } else {
            // A new window since the last poll: what it holds was used since it began.
            delta = static_cast<double>(used);
            const std::int64_t start = accounting::window_start_of(plan.limit, current.epoch);
            span = std::min(dt, std::max(1.0, static_cast<double>(now_sec - start)));
          }
          const double instant = delta / span;
          const double alpha = 1.0 - std::exp(-dt / tau);
          lw.rate += alpha * (instant - lw.rate);
        }
        lw.epoch = current.epoch;
        lw.used = used;
        lw.exhausts_at.reset();
        const std::uint64_t remaining = snap.limits[i].remaining;
        if (warm && lw.rate > 0.0 && remaining > 0) {
          const double seconds = static_cast<double>(remaining) / lw.rate;
          if (seconds < static_cast<double>(current.end - now_sec)) {
            lw.exhausts_at = now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
            if (lw.forecast_epoch != current.epoch) {
              lw.forecast_epoch = current.epoch;
              if constexpr (Events::enabled) {
                Event event = Events::limit_event(EventKind::exhaustion_forecast, key, plan, current.epoch, used, now);
                event.eta = *lw.exhausts_at - now;
                events.deliver(event);
              }
            }
          }
        }
        if (plan.limit.unit() == WindowUnit::day) {
          DayTotals& day = days[key.provider.value][static_cast<std::size_t>(plan.metric)];
          day.any = true;
          day.warm = day.warm && warm;
          day.remaining += static_cast<double>(remaining);
          day.rate += lw.rate;
          if (current.end < day.resets) {
            day.resets = current.end;
            day.epoch = current.epoch;
          }
        }
      }
      watch.last = now;
    }

    // Provider forecast: the provider's daily capacity of a metric runs out before midnight.
    for (std::size_t p = 0; p < provider_count; ++p) {
      each_provider(p);
      for (std::size_t m = 0; m < metric_count; ++m) {
        const DayTotals& day = days[p][m];
        if (!day.any || !day.warm || day.rate <= 0.0 || day.remaining <= 0.0) continue;
        const double seconds = day.remaining / day.rate;
        if (seconds >= static_cast<double>(day.resets - now_sec)) continue;
        std::uint64_t& reported = provider_watches_[p].forecast_day[m];
        if (reported == day.epoch + 1) continue;
        reported = day.epoch + 1;
        if constexpr (Events::enabled) {
          Event event;
          event.kind = EventKind::exhaustion_forecast;
          event.at = now;
          event.provider = ProviderId{static_cast<std::uint32_t>(p)};
          event.provider_name = providers[p].name;
          event.metric = static_cast<Metric>(m);
          event.window = "day";
          event.limit = 0;
          event.eta = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
          event.resets_at = from_seconds(day.resets);
          events.deliver(event);
        }
      }
    }
  }

  /// Adds what the last poll measured of key `index` (rates, forecast times) to its snapshot.
  void annotate(std::size_t index, KeySnapshot& key) const {
    if (index >= watches_.size() || !watches_[index].seen) return;
    const KeyWatch& watch = watches_[index];
    for (std::size_t l = 0; l < key.limits.size(); ++l) {
      key.limits[l].rate_per_second = watch.limits[l].rate;
      key.limits[l].exhausts_at = watch.limits[l].exhausts_at;
      if (key.limits[l].exhausts_at && (!key.exhausts_at || *key.limits[l].exhausts_at < *key.exhausts_at))
        key.exhausts_at = key.limits[l].exhausts_at;
    }
  }

 private:
  struct LimitWatch {
    std::uint64_t epoch = 0;
    std::uint64_t used = 0;
    double rate = 0.0;                                 // per second, exponentially weighted
    std::uint64_t forecast_epoch = ~std::uint64_t{0};  // window whose forecast was reported
    std::optional<TimePoint> exhausts_at{};
  };
  struct KeyWatch {
    bool seen = false;
    bool unavailable = false;  // could not serve at the last poll (cooling down or exhausted)
    TimePoint first{};         // first poll that saw the key
    TimePoint last{};          // last poll
    std::array<LimitWatch, max_limits_per_key> limits{};
  };
  struct ProviderWatch {
    std::array<std::uint64_t, metric_count> forecast_day{};  // day window (index + 1) whose forecast was reported
  };

  ForecastOptions options_;
  std::vector<KeyWatch> watches_;  // per key
  std::vector<ProviderWatch> provider_watches_;
};

}  // namespace keypool::detail
