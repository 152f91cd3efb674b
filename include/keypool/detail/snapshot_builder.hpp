// Building a Snapshot's figures: one key's status, health counters and per-limit usage (as its
// accounting reads them), and the totals of a provider or the pool. Loads only; allocates.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/options.hpp>
#include <keypool/snapshot.hpp>

namespace keypool::detail {

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
  const std::uint64_t blocked = health::blocked(*key.slot);
  snap.blocked_until = blocked == disabled_until ? TimePoint::max() : TimePoint{Duration{static_cast<std::int64_t>(blocked)}};
  snap.weight = key.weight;
  snap.consecutive_failures = word(key.slot->health).load(std::memory_order_relaxed);
  snap.successes = word(key.slot->successes).load(std::memory_order_relaxed);
  snap.failures = word(key.slot->failures).load(std::memory_order_relaxed);
  snap.rate_limited = word(key.slot->rate_limited).load(std::memory_order_relaxed);
  if (const std::uint64_t last = word(key.slot->last_error).load(std::memory_order_relaxed); last != 0) {
    snap.last_error = static_cast<Outcome::Kind>(last & 0xff);
    snap.last_error_status = static_cast<int>((last >> 8) & 0xffff);
    snap.last_error_at = from_seconds(static_cast<std::int64_t>(last >> 24));
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
    usage.resets_at = read.resets_at;
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
  if (blocked == disabled_until) snap.status = KeyStatus::disabled;
  else if (blocked > instant.ns) snap.status = KeyStatus::cooling_down;
  else if (full) snap.status = KeyStatus::exhausted;
  else if (critical) snap.status = KeyStatus::critical;
  else if (warning) snap.status = KeyStatus::warning;
  else snap.status = KeyStatus::available;
  if (blocked != disabled_until && (blocked > instant.ns || full)) {
    TimePoint at = full ? full_until : now;
    if (blocked > instant.ns) at = std::max(at, TimePoint{Duration{static_cast<std::int64_t>(blocked)}});
    snap.available_at = at;
  }
  return snap;
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

}  // namespace keypool::detail
