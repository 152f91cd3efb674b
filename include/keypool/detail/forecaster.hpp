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
    if (!(options_.refire_ratio > 0.0 && options_.refire_ratio < 1.0))
      throw Error("ForecastOptions: refire_ratio must be between 0 and 1 (exclusive)");
    if (options_.refire_margin < Duration::zero()) throw Error("ForecastOptions: refire_margin must not be negative");
    if (!(options_.spike_factor > 1.0) || !std::isfinite(options_.spike_factor) || !(options_.spike_min_per_minute >= 0.0) ||
        !std::isfinite(options_.spike_min_per_minute))
      throw Error("ForecastOptions: spike_factor must be above 1 and spike_min_per_minute a finite number, not negative");
  }

  /// One poll at `now` over keys 0 … count-1 and providers 0 … provider_count-1: measures rates,
  /// raises key_recovered and exhaustion_forecast through `events` (an EventReporter).
  /// `snapshot_of(record)` is the key's snapshot at `now`; `each_provider(p)` runs before provider
  /// p's forecasts (the pool's provider recovery). Allocates when keys were added.
  template <class Records, class Events, class SnapshotOf, class EachProvider>
  void poll(const Records& records, std::size_t count, const ProviderRecord* providers, std::size_t provider_count,
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
    // Per provider: keys, keys out, calls settled (for provider_keys_out and traffic_spike).
    struct ProviderTotals {
      std::uint32_t keys = 0, out = 0;
      std::uint64_t calls = 0;
    };
    std::vector<ProviderTotals> totals(provider_count);

    for (std::size_t k = 0; k < count; ++k) {
      const KeyRecord& key = records[k];
      KeyWatch& watch = watches_[k];
      if (key.is_removed()) {  // not in the pool any more: no forecast, not counted with its provider
        watch = {};
        continue;
      }
      const KeySnapshot snap = snapshot_of(key);
      const bool first_poll = !watch.seen;
      if (first_poll) {
        watch.seen = true;
        watch.last = now;
      }
      const double dt = std::chrono::duration<double>(now - watch.last).count();
      // Recovery of a key that could not serve at the last poll: cooling down, a limit full, or
      // a limit that reported key_exhausted in its current window (a request refused at the full
      // amount while below 100%: its key_exhausted is answered by key_recovered at the reset).
      const bool unavailable =
          snap.status == KeyStatus::exhausted || snap.status == KeyStatus::cooling_down || exhausted_reported(key, now_sec);
      if (watch.unavailable && !unavailable && snap.status != KeyStatus::disabled)
        events.key(EventKind::key_recovered, key, now, now);
      watch.unavailable = unavailable;
      if (key.provider.value < provider_count) {
        ProviderTotals& total = totals[key.provider.value];
        ++total.keys;
        if (unavailable || snap.status == KeyStatus::disabled) ++total.out;
        total.calls += word(key.slot->successes).load(std::memory_order_relaxed) + word(key.slot->failures).load(std::memory_order_relaxed);
      }

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
          if (delta > 0.0) {
            if (!lw.first_use) lw.first_use = now;
            if (lw.growing < options_.samples) ++lw.growing;
          }
        } else if (first_poll && used > 0) {
          lw.first_use = now;
          lw.growing = 1;
        }
        lw.epoch = current.epoch;
        lw.used = used;
        lw.exhausts_at.reset();
        const std::uint64_t remaining = snap.limits[i].remaining;
        const bool warm = lw.first_use && now - *lw.first_use >= options_.warmup && lw.growing >= options_.samples;
        if (warm && lw.rate > 0.0 && remaining > 0) {
          const double seconds = static_cast<double>(remaining) / lw.rate;
          if (seconds < static_cast<double>(current.end - now_sec)) {
            lw.exhausts_at = now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
            if (fires_again(lw.forecast_epoch, lw.reported_at, current.epoch, *lw.exhausts_at, now)) {
              if constexpr (Events::enabled) {
                Event event = Events::limit_event(EventKind::exhaustion_forecast, key, plan, current.epoch, used, now);
                event.eta = *lw.exhausts_at - now;
                events.deliver(event);
              }
            }
          }
        }
        if (plan.limit.unit() == WindowUnit::day && key.provider.value < provider_count) {
          DayTotals& day = days[key.provider.value][static_cast<std::size_t>(plan.metric)];
          day.any = true;
          day.warm = day.warm && (warm || lw.rate == 0.0);  // an unused key does not hold the provider's back
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
        const TimePoint exhausts_at = now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
        ProviderWatch& pw = provider_watches_[p];
        if (!fires_again(pw.forecast_day[m], pw.reported_at[m], day.epoch, exhausts_at, now)) continue;
        if constexpr (Events::enabled) {
          Event event = provider_event(EventKind::exhaustion_forecast, p, providers[p], now);
          event.metric = static_cast<Metric>(m);
          event.window = "day";
          event.limit = 0;
          event.eta = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
          event.resets_at = from_seconds(day.resets);
          events.deliver(event);
        }
      }
      keys_out_and_spikes(p, totals[p].keys, totals[p].out, totals[p].calls, providers[p], now, events);
    }
  }

  /// An event of provider p, no key.
  static Event provider_event(EventKind kind, std::size_t p, const ProviderRecord& provider, TimePoint now) noexcept {
    Event event;
    event.kind = kind;
    event.at = now;
    event.provider = ProviderId{static_cast<std::uint32_t>(p)};
    event.provider_name = provider.name;
    return event;
  }

  /// Whether a forecast of the window `epoch` predicting exhaustion at `exhausts_at` fires, given
  /// the window and time last reported (`reported_epoch`, `reported_at`); records it when it does.
  /// Once per window, and again when the predicted time to exhaustion has fallen to at most
  /// refire_ratio of what was left of the last reported one, and by at least refire_margin.
  bool fires_again(std::uint64_t& reported_epoch, TimePoint& reported_at, std::uint64_t epoch, TimePoint exhausts_at,
                   TimePoint now) const noexcept {
    if (reported_epoch == epoch) {
      const double left = std::chrono::duration<double>(reported_at - now).count();
      const double eta = std::chrono::duration<double>(exhausts_at - now).count();
      if (!(eta <= left * options_.refire_ratio) || !(left - eta >= std::chrono::duration<double>(options_.refire_margin).count()))
        return false;
    }
    reported_epoch = epoch;
    reported_at = exhausts_at;
    return true;
  }

  /// Whether limit i of `key` reported key_exhausted in its current window (loads only).
  static bool exhausted_reported(const KeyRecord& key, std::int64_t now_sec) noexcept {
    for (std::size_t i = 0; i < key.limit_count; ++i) {
      const LimitPlan& plan = key.plans[i];
      if (plan.kind != Limit::Kind::window) continue;
      const std::uint64_t alerted = word(key.slot->alerted[i]).load(std::memory_order_relaxed);
      if ((alerted & exhausted_bit) != 0 && (alerted >> 8) == accounting::current_window_of(plan.limit, now_sec).epoch) return true;
    }
    return false;
  }

  /// provider_keys_out when the count of a provider's keys out rises (while some still serve),
  /// and traffic_spike when its settled calls per minute jump above its baseline.
  template <class Events>
  void keys_out_and_spikes(std::size_t p, std::uint32_t keys, std::uint32_t out, std::uint64_t calls, const ProviderRecord& provider,
                           TimePoint now, Events& events) {
    ProviderWatch& pw = provider_watches_[p];
    if (out > pw.keys_out && out < keys) {
      if constexpr (Events::enabled) {
        Event event = provider_event(EventKind::provider_keys_out, p, provider, now);
        event.count = out;
        event.keys = keys;
        events.deliver(event);
      }
    }
    pw.keys_out = out;

    if (!pw.seen) {
      pw.seen = true;
      pw.first = now;
    } else if (now > pw.last) {
      const double dt = std::chrono::duration<double>(now - pw.last).count();
      const double per_minute = static_cast<double>(calls >= pw.calls ? calls - pw.calls : 0) / dt * 60.0;
      const bool warm = now - pw.first >= options_.warmup;
      // The weighted average of the rates measured so far: the moving average divided by the
      // weight its samples have (it starts from 0, so a young baseline would read low).
      const double tau = std::chrono::duration<double>(options_.smoothing).count();
      const double weight = 1.0 - std::exp(-std::chrono::duration<double>(pw.last - pw.first).count() / tau);
      const double baseline = weight > 0.0 ? pw.baseline / weight : 0.0;
      const double threshold = options_.spike_factor * baseline;
      if (warm && !pw.spiking && per_minute >= threshold && per_minute >= options_.spike_min_per_minute) {
        pw.spiking = true;
        if constexpr (Events::enabled) {
          Event event = provider_event(EventKind::traffic_spike, p, provider, now);
          event.count = static_cast<std::uint64_t>(per_minute + 0.5);
          event.level = baseline > 0.0 ? per_minute / baseline : std::numeric_limits<double>::infinity();
          events.deliver(event);
        }
      } else if (pw.spiking && per_minute < threshold / 2.0) {
        pw.spiking = false;
      }
      pw.baseline += (1.0 - std::exp(-dt / tau)) * (per_minute - pw.baseline);
    }
    pw.calls = calls;
    pw.last = now;
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
    TimePoint reported_at{};                           // the exhaustion time it reported
    std::optional<TimePoint> first_use{};              // the first poll that saw usage
    std::uint32_t growing = 0;                         // polls that saw usage grow (up to samples)
    std::optional<TimePoint> exhausts_at{};
  };
  struct KeyWatch {
    bool seen = false;
    bool unavailable = false;  // could not serve at the last poll (cooling down or exhausted)
    TimePoint last{};          // last poll
    std::array<LimitWatch, max_limits_per_key> limits{};
  };
  struct ProviderWatch {
    std::array<std::uint64_t, metric_count> forecast_day;  // day window whose forecast was reported
    std::array<TimePoint, metric_count> reported_at{};      // the exhaustion time it reported
    std::uint32_t keys_out = 0;                             // keys out at the last poll
    bool seen = false, spiking = false;
    TimePoint first{}, last{};
    std::uint64_t calls = 0;                                // calls settled on its keys at the last poll
    double baseline = 0.0;                                  // calls per minute, exponentially weighted from 0
    ProviderWatch() { forecast_day.fill(~std::uint64_t{0}); }
  };

  ForecastOptions options_;
  std::vector<KeyWatch> watches_;  // per key
  std::vector<ProviderWatch> provider_watches_;
};

}  // namespace keypool::detail
