// Building a Snapshot's figures: one key's status, health counters and per-limit usage (as its
// accounting reads them), and the totals of a provider or the pool. Loads only; allocates.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/forecaster.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/key_table.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/options.hpp>
#include <keypool/snapshot.hpp>

namespace keypool::detail {

/// The largest whole number of seconds a TimePoint holds.
inline constexpr std::uint64_t max_seconds = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / 1'000'000'000;

/// `ns` since the epoch as a TimePoint; TimePoint::max() for a word beyond its range.
[[nodiscard]] inline TimePoint saturating_time(std::uint64_t ns) noexcept {
  return ns > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ? TimePoint::max()
                                                                                    : TimePoint{Duration{static_cast<std::int64_t>(ns)}};
}

/// Key `key` at `now`, its limits read through `Accounting` (which may ask `store`, e.g. for the
/// fleet's usage). Not atomic across limits. Thread-safe.
template <class Accounting, class Store>
[[nodiscard]] KeySnapshot key_snapshot(const KeyRecord& key, const Store& store, const Thresholds& thresholds, TimePoint now) {
  KeySnapshot snap;
  snap.id = key.id;
  snap.provider = key.provider;
  snap.provider_name = key.provider_record->name;
  snap.label = key.label;
  snap.tier = key.tier;
  const accounting::Instant instant{now};
  // Words are read as they are: one another process (or a damaged file) wrote may hold anything,
  // so every conversion saturates instead of overflowing (see docs/storage.md).
  const std::uint64_t blocked = health::blocked(*key.slot);
  snap.blocked_until = blocked == disabled_until ? TimePoint::max() : saturating_time(blocked);
  snap.weight = key.weight;
  snap.consecutive_failures = word(key.slot->health).load(std::memory_order_relaxed);
  snap.successes = word(key.slot->successes).load(std::memory_order_relaxed);
  snap.failures = word(key.slot->failures).load(std::memory_order_relaxed);
  snap.rate_limited = word(key.slot->rate_limited).load(std::memory_order_relaxed);
  if (const std::uint64_t last = word(key.slot->last_error).load(std::memory_order_relaxed); last != 0) {
    if ((last & 0xff) <= static_cast<std::uint64_t>(Outcome::Kind::bad_request)) {
      snap.last_error = static_cast<Outcome::Kind>(last & 0xff);
      snap.last_error_status = static_cast<int>((last >> 8) & 0xffff);
      // 40 bits of seconds: up to the year 36812, beyond what nanoseconds reach (2262).
      snap.last_error_at = saturating_time(std::min<std::uint64_t>(last >> 24, max_seconds) * 1'000'000'000);
    }
  }
  bool warning = false, critical = false, full = false;
  TimePoint full_until = TimePoint::min();
  for (std::size_t i = 0; i < key.limit_count; ++i) {
    const LimitPlan& plan = key.plans[i];
    LimitUsage usage;
    usage.metric = plan.metric;
    usage.window = std::string{plan.limit.window_name()};
    usage.description = plan.limit.describe();
    usage.limit = plan.amount;
    const accounting::Usage read = Accounting::usage(store, key.slot_index, i, plan, key.slot->counters[i], instant);
    usage.used = read.used;
    // A reset before the epoch can only come from a word past 2^63 ns: no reset is known.
    usage.resets_at = read.resets_at < TimePoint{} ? TimePoint::max() : read.resets_at;
    if (const std::uint64_t at = key.reported_at[i].load(std::memory_order_relaxed); at != 0) {
      usage.reported_at = TimePoint{Duration{static_cast<std::int64_t>(at)}};
      usage.reported_remaining = key.reported_remaining[i].load(std::memory_order_relaxed);
      if (const std::uint64_t reported = key.reported_limit[i].load(std::memory_order_relaxed); reported != 0)
        usage.reported_limit = reported;
    }
    if (plan.kind == Limit::Kind::window)
      usage.marked = std::min(usage.used, MarkedUsage::in(key, i, accounting::current_window_of(plan.limit, instant.sec).epoch));
    if (plan.kind == Limit::Kind::window && usage.used >= plan.amount) {
      full = true;
      full_until = std::max(full_until, usage.resets_at);
    }
    usage.remaining = usage.limit - std::min(usage.limit, usage.used);
    usage.fraction = static_cast<double>(usage.used) / static_cast<double>(usage.limit);
    if (plan.kind != Limit::Kind::per_request) {
      // Levels compare in integers, as threshold events do: at level L when used ≥ ⌈amount × L⌉.
      auto at_level = [&](double level) { return usage.used >= std::max<std::uint64_t>(1, scale_ceil(plan.amount, level)); };
      warning = warning || at_level(thresholds[0]);
      critical = critical || (thresholds.size() > 1 && thresholds[1] < 1.0 && at_level(thresholds[1]));
    }
    snap.limits.push_back(std::move(usage));
  }
  snap.observed = ObservedReports::read(key);
  if (blocked == disabled_until) snap.status = KeyStatus::disabled;
  else if (blocked > instant.ns) snap.status = KeyStatus::cooling_down;
  else if (full) snap.status = KeyStatus::exhausted;
  else if (critical) snap.status = KeyStatus::critical;
  else if (warning) snap.status = KeyStatus::warning;
  else snap.status = KeyStatus::available;
  if (blocked != disabled_until && (blocked > instant.ns || full)) {
    TimePoint at = full ? full_until : now;
    if (blocked > instant.ns) at = std::max(at, saturating_time(blocked));
    snap.available_at = at;
  }
  return snap;
}

/// A meter at `now` (its limits, status and cooldown), read like a key.
template <class Accounting, class Store>
[[nodiscard]] MeterSnapshot meter_snapshot(const KeyRecord& meter, const Store& store, const Thresholds& thresholds, TimePoint now) {
  KeySnapshot as_key = key_snapshot<Accounting>(meter, store, thresholds, now);
  return MeterSnapshot{.model = meter.model,
                       .status = as_key.status,
                       .blocked_until = as_key.blocked_until,
                       .available_at = as_key.available_at,
                       .limits = std::move(as_key.limits),
                       .observed = std::move(as_key.observed)};
}

/// Adds one key's figures to a group's totals.
inline void add_to(Totals& totals, const KeySnapshot& key, const KeyRecord& record) noexcept {
  ++totals.keys;
  switch (key.status) {
    case KeyStatus::available:
    case KeyStatus::warning:
    case KeyStatus::critical: ++totals.available; break;
    case KeyStatus::exhausted: ++totals.exhausted; break;
    case KeyStatus::cooling_down: ++totals.cooling_down; break;
    case KeyStatus::disabled: ++totals.disabled; break;
  }
  totals.successes += key.successes;
  totals.failures += key.failures;
  totals.rate_limited += key.rate_limited;
  for (std::size_t i = 0; i < key.limits.size(); ++i) {
    const LimitPlan& plan = record.plans[i];
    if (plan.kind != Limit::Kind::window || plan.limit.unit() != WindowUnit::day) continue;
    totals.daily_capacity[static_cast<std::size_t>(plan.metric)] += plan.amount;
    totals.daily_used[static_cast<std::size_t>(plan.metric)] += key.limits[i].used;
  }
  if (key.available_at && (!totals.next_recovery || *key.available_at < *totals.next_recovery))
    totals.next_recovery = key.available_at;
  if (key.exhausts_at && (!totals.exhausts_at || *key.exhausts_at < *totals.exhausts_at)) totals.exhausts_at = key.exhausts_at;
}

/// The pool at `now`: every key (with its models and forecasts), provider and group, and the
/// totals. The caller holds the forecaster's mutex.
template <class Accounting, class Store>
[[nodiscard]] Snapshot pool_snapshot(const KeyTable& table, const Store& store, const Forecaster& forecaster, TimePoint now) {
  Snapshot snap;
  snap.at = now;
  const std::size_t count = table.record_count();
  snap.keys.reserve(count);
  const std::size_t providers = table.provider_count();
  snap.providers.resize(providers);
  for (std::size_t p = 0; p < providers; ++p) {
    snap.providers[p].id = ProviderId{static_cast<std::uint32_t>(p)};
    snap.providers[p].name = table.provider(p).name;
    snap.providers[p].tier = table.provider(p).tier;
    snap.providers[p].dialect = table.provider(p).dialect;
  }
  const std::size_t groups = table.group_count();
  snap.groups.resize(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    const GroupRecord& group = table.group(g);
    GroupSnapshot& out = snap.groups[g];
    out.id = GroupId{static_cast<std::uint32_t>(g)};
    out.name = group.name;
    out.provider = group.provider;
    out.provider_name = table.provider(group.provider.value).name;
    if (group.shared != nullptr) out.shared = meter_snapshot<Accounting>(*group.shared, store, table.thresholds(), now);
    for (const auto& [model, meter] : group.models) out.models.push_back(meter_snapshot<Accounting>(*meter, store, table.thresholds(), now));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const KeyRecord& record = table[i];
    if (record.is_removed()) continue;  // not in the pool any more
    KeySnapshot& key = snap.keys.emplace_back(key_snapshot<Accounting>(record, store, table.thresholds(), now));
    forecaster.annotate(i, key);
    if (const KeyMeters* meters = record.routes()) {
      for (const KeyRecord* meter : meters->own_models) key.models.push_back(meter_snapshot<Accounting>(*meter, store, table.thresholds(), now));
      if (const std::uint32_t g = meters->group; g < groups) {
        key.group = table.group(g).name;
        snap.groups[g].keys.push_back(record.id);
      }
    }
    add_to(snap.totals, key, record);
    add_to(snap.providers[record.provider.value].totals, key, record);
  }
  return snap;
}

}  // namespace keypool::detail
