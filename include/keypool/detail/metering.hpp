// Counting one request on the records it touches: a key's own limits, then the meters of its
// group and model (detail::MeterRoute). Each record's limits are reserved in order and rolled back
// on the first refusal, as one key's always were; a request is admitted only when every record
// admits it. Threshold levels a reservation reaches are judged when its lease settles with the
// usage standing, on the counts then (`reached`). Static functions over the accounting a store
// declares (accounting::of<Store>).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/lease.hpp>
#include <keypool/request.hpp>

namespace keypool::detail {

/// The wait from `now_ns` to `until_ns` (later), saturated: a word gone bad at run time (a state
/// file's) must not turn into a negative wait.
[[nodiscard]] inline Duration until_ns(std::uint64_t until_ns, std::uint64_t now_ns) noexcept {
  const std::uint64_t wait = until_ns - now_ns;
  return wait >= static_cast<std::uint64_t>(Duration::max().count()) ? Duration::max() : Duration{static_cast<std::int64_t>(wait)};
}

template <class Accounting>
struct Metering {
  /// Reserves `amounts` on every limit of `record` (epochs written from `epochs`), or none:
  /// false on the first refusal, after giving back what it reserved. With `collect`,
  /// `on_reach(i)` is called for a calendar limit whose reservation reaches its first threshold
  /// level (judged when the usage stands: see `reached`), and `on_full(i, reserved)` for a limit
  /// refused at its full amount (an exhaustion event's cue).
  template <bool collect, class OnReach, class OnFull>
  [[gnu::always_inline]] static inline bool reserve(const KeyRecord& record, const Amounts& amounts, std::size_t level,
                                                    const accounting::Instant& now, std::uint64_t* epochs, OnReach&& on_reach,
                                                    OnFull&& on_full) noexcept {
    const LimitPlan* plans = record.plans;
    const std::size_t count = record.limit_count;
    for (std::size_t i = 0; i < count; ++i) {
      const LimitPlan& plan = plans[i];
      const std::uint64_t amount = amounts[static_cast<std::size_t>(plan.metric)];
      accounting::Reserved reserved;
      const accounting::Admission admission = Accounting::reserve(plan, record.slot->counters[i], amount, level, now, reserved);
      if (admission != accounting::Admission::granted) [[unlikely]] {
        if constexpr (collect) {
          if (admission == accounting::Admission::over_cap && plan.kind == Limit::Kind::window && plan.cap[level] == plan.amount)
            on_full(i, reserved);
        }
        release(record, amounts, epochs, now.ns, i);
        return false;
      }
      epochs[i] = reserved.epoch;
      if constexpr (collect) {
        if (plan.kind == Limit::Kind::window && reserved.before + amount >= plan.threshold_at[0]) [[unlikely]]
          on_reach(i);
      }
    }
    return true;
  }

  /// The limits of `record` (a bit each) that count `metric` (any, without one) and, with `unit`,
  /// are calendar windows of that unit.
  [[nodiscard]] static std::uint32_t limits_of(const KeyRecord& record, std::optional<Metric> metric,
                                               std::optional<WindowUnit> unit = std::nullopt) noexcept {
    std::uint32_t limits = 0;
    for (std::size_t i = 0; i < record.limit_count; ++i) {
      const LimitPlan& plan = record.plans[i];
      if (metric && plan.metric != *metric) continue;
      if (unit && (plan.kind != Limit::Kind::window || plan.limit.unit() != *unit)) continue;
      limits |= 1u << i;
    }
    return limits;
  }

  /// Gives back `amounts` on the first `count` limits of `record` (all of them by default).
  static void release(const KeyRecord& record, const Amounts& amounts, const std::uint64_t* epochs, std::uint64_t now_ns,
                      std::size_t count = max_limits_per_request) noexcept {
    count = std::min(count, record.limit_count);
    for (std::size_t j = 0; j < count; ++j)
      Accounting::release(record.plans[j], record.slot->counters[j], amounts[static_cast<std::size_t>(record.plans[j].metric)],
                          epochs[j], now_ns);
  }

  /// Folds into `result` why `record` cannot serve `request` now and for how long: its limits,
  /// then (for a meter) its cooldown. Loads only.
  /// With `rival`, stops as soon as `result` can no longer beat it (returns false then).
  static bool verdict(const KeyRecord& record, const Request& request, const accounting::Instant& now,
                      accounting::Verdict& result, const accounting::Verdict* rival = nullptr) noexcept {
    const std::size_t level = static_cast<std::size_t>(request.priority);
    for (std::size_t i = 0; i < record.limit_count; ++i) {
      const LimitPlan& plan = record.plans[i];
      const accounting::Verdict limit = Accounting::wait(plan, record.slot->counters[i], amount_of(plan.metric, request), level, now);
      accounting::consider(result, limit.reason, limit.wait);
      if (rival != nullptr && !accounting::can_beat(result, *rival)) return false;
    }
    return true;
  }

  /// With `rival` (the best refusal of this acquire so far), the verdict may stop early once it
  /// cannot beat it: its wait is then a lower bound, and its reason that of its longest limit so far.
  static accounting::Verdict key_verdict(const KeyRecord& key, const Request& request, const accounting::Instant& now,
                                         const accounting::Verdict* rival = nullptr) noexcept {
    const KeyMeters* meters = key.routes();
    const MeterRoute* route = meters != nullptr ? &meters->route(request.model) : nullptr;
    if (route != nullptr && !route->serves) return {Reason::no_keys, Duration::max()};
    accounting::Verdict result;
    if (!verdict(key, request, now, result, rival)) return result;
    if (route != nullptr)
      for (std::size_t k = 0; k < route->count; ++k) verdict(*route->records[k], request, now, result);
    // Too large beats everything: a health gate does not make a request smaller.
    if (result.reason == Reason::too_large && result.wait == Duration::max()) return result;
    const std::uint64_t blocked = health::blocked(*key.slot);
    if (blocked == disabled_until) return {Reason::disabled, Duration::max()};
    if (blocked > now.ns) accounting::consider(result, Reason::cooling_down, until_ns(blocked, now.ns));
    if (route != nullptr)
      for (std::size_t k = 0; k < route->count; ++k)
        if (const std::uint64_t rests = health::blocked(*route->records[k]->slot); rests > now.ns)
          accounting::consider(result, Reason::cooling_down, until_ns(rests, now.ns));
    return result;
  }

  /// What is left of the key's tightest limit for `request` (its model's too), as a fraction (0
  /// when it rests or does not serve the request's model).
  static double key_headroom(const KeyRecord& key, const Request& request, const accounting::Instant& now) noexcept {
    const std::size_t level = static_cast<std::size_t>(request.priority);
    double least = headroom(key, level, now);
    if (const KeyMeters* meters = key.routes()) {
      const MeterRoute& route = meters->route(request.model);
      if (!route.serves) return 0.0;
      for (std::size_t k = 0; k < route.count; ++k) least = std::min(least, headroom(*route.records[k], level, now));
    }
    return least;
  }

  /// What is left of `record`'s tightest limit for `priority` (0 when it rests).
  static double headroom(const KeyRecord& record, std::size_t level, const accounting::Instant& now) noexcept {
    if (!health::open(*record.slot, now.ns)) return 0.0;
    double least = 1.0;
    for (std::size_t i = 0; i < record.limit_count; ++i)
      least = std::min(least, Accounting::headroom(record.plans[i], record.slot->counters[i], level, now));
    return least;
  }

  /// The largest amount of a calendar or rolling limit of `metric` on the reservation's records,
  /// and where it is (0: none counts the metric).
  struct Largest {
    std::uint64_t amount = 0;
    const KeyRecord* record = nullptr;
    std::size_t limit = 0;
  };
  static Largest largest(Reservation& reservation, Metric metric) noexcept {
    Largest most;
    each_reserved(reservation, [&](const KeyRecord& record, const std::uint64_t*, bool) {
      for (std::size_t i = 0; i < record.limit_count; ++i)
        if (record.plans[i].metric == metric && record.plans[i].kind != Limit::Kind::per_request && record.plans[i].amount > most.amount)
          most = {record.plans[i].amount, &record, i};
    });
    return most;
  }

  /// Reconciles a reservation's counts with how it was settled: a commit charges what the call
  /// cost above the estimate (`on_charge(record, i, change)` for each charge) and gives back what
  /// it cost below; a cancel gives everything back; a fail gives back all but the request. A real
  /// cost of a metric above the largest limit of it on the key and its meters can never have been
  /// admitted (a wrapped `after - before`, a unit mix-up): the estimate stands for that metric and
  /// `on_rejected(metric, real, record, i)` names the limit it is over. Records reset since the
  /// reservation settle nothing.
  template <class OnCharge, class OnRejected>
  static void settle(Reservation& reservation, Settlement how, const Cost* actual, std::uint64_t now_ns, OnCharge&& on_charge,
                     OnRejected&& on_rejected) noexcept {
    const Amounts estimate = amounts_of(reservation.estimate);
    Amounts real_cost = estimate;
    if (how == Settlement::commit && actual != nullptr && !same_cost(*actual, reservation.estimate)) {
      real_cost = amounts_of(*actual);
      for (std::size_t m = 1; m < metric_count; ++m) {
        if (real_cost[m] <= estimate[m]) continue;
        const Largest most = largest(reservation, static_cast<Metric>(m));
        if (most.record == nullptr || real_cost[m] <= most.amount) continue;
        on_rejected(static_cast<Metric>(m), real_cost[m], *most.record, most.limit);
        real_cost[m] = estimate[m];
      }
    }
    each_reserved(reservation, [&](const KeyRecord& record, const std::uint64_t* epochs, bool current) {
      if (!current) return;
      const LimitPlan* plans = record.plans;
      for (std::size_t i = 0; i < record.limit_count; ++i) {
        const auto metric = static_cast<std::size_t>(plans[i].metric);
        const std::uint64_t estimated = estimate[metric];
        std::uint64_t real = real_cost[metric];
        if (how == Settlement::cancel) real = 0;
        // A failed call: what it would have cost is refunded, but the request itself was made and
        // stays counted (providers count refused requests too).
        if (how == Settlement::fail) real = plans[i].metric == Metric::requests ? estimated : 0;
        if (real > estimated)
          on_charge(record, i, Accounting::charge(plans[i], record.slot->counters[i], real - estimated, epochs[i], now_ns));
        else if (real < estimated)
          Accounting::release(plans[i], record.slot->counters[i], estimated - real, epochs[i], now_ns);
      }
    });
  }

  /// The calendar limits a reservation brought to a threshold level (`Reservation::reached`)
  /// whose usage stands after settling it `how` (all of them for a commit, those counting requests
  /// for a fail, none for a cancel): `visit(record, i, epoch, used)` with the limit's usage now in
  /// the window the reservation counted in (skipped when that window is over or the record was
  /// reset since). Loads only.
  template <class Visit>
  static void reached(Reservation& reservation, Settlement how, Visit&& visit) noexcept {
    if (how == Settlement::cancel) return;
    std::size_t flat = 0;
    each_reserved(reservation, [&](const KeyRecord& record, const std::uint64_t* epochs, bool current) {
      const std::uint32_t mine = (reservation.reached >> flat) & ((1u << record.limit_count) - 1u);
      flat += record.limit_count;
      if (!current || mine == 0) return;
      for (std::size_t i = 0; i < record.limit_count; ++i) {
        if ((mine & (1u << i)) == 0) continue;
        const LimitPlan& plan = record.plans[i];
        if (how == Settlement::fail && plan.metric != Metric::requests) continue;
        const std::uint64_t seen = word(record.slot->counters[i].state).load(std::memory_order_relaxed);
        if (plan.packing.epoch(seen) != epochs[i]) continue;
        visit(record, i, epochs[i], plan.packing.used(seen));
      }
    });
  }

  /// Calls `visit(record, epochs, current)` for the key and each meter of a reservation, in
  /// reservation order; `current`: no reset since it was reserved (else it settles nothing).
  template <class Visit>
  static void each_reserved(Reservation& reservation, Visit&& visit) noexcept {
    const KeyRecord& key = *reservation.key;
    std::uint64_t* epochs = reservation.epochs.data();
    visit(key, epochs, word(key.slot->generation).load(std::memory_order_relaxed) == reservation.generation);
    if (reservation.route == nullptr) return;
    epochs += key.limit_count;
    for (std::size_t k = 0; k < reservation.route->count; ++k) {
      const KeyRecord& meter = *reservation.route->records[k];
      visit(meter, epochs, word(meter.slot->generation).load(std::memory_order_relaxed) == reservation.route_generations[k]);
      epochs += meter.limit_count;
    }
  }

  /// Carries the usage of `from`'s limits to `to`'s fresh counters (set_limits): each limit of
  /// `to` starts from the usage of the first limit of `from` that counts the same metric in the
  /// same window (calendar), or the same metric (rolling). Local accounting only.
  static void carry(const KeyRecord& from, const KeyRecord& to, const accounting::Instant& now) noexcept {
    for (std::size_t j = 0; j < to.limit_count; ++j) {
      const LimitPlan& plan = to.plans[j];
      for (std::size_t i = 0; i < from.limit_count; ++i) {
        const LimitPlan& old = from.plans[i];
        if (old.kind != plan.kind || old.metric != plan.metric) continue;
        if (plan.kind == Limit::Kind::window && old.limit.unit() != plan.limit.unit()) continue;
        if (plan.kind == Limit::Kind::window) {
          const std::uint64_t used = Accounting::Window::used_now(old, from.slot->counters[i], now.sec);
          if (used != 0) (void)Accounting::Window::raise_to(plan, to.slot->counters[j], used, now.sec);
        } else if (plan.kind == Limit::Kind::rolling) {
          const std::uint64_t used = Accounting::Rolling::usage(old, from.slot->counters[i], now.ns).used;
          if (used != 0) Accounting::Rolling::charge(plan, to.slot->counters[j], used, now.ns);
        } else {
          continue;
        }
        break;
      }
    }
  }

};

/// The records a provider's answer on a lease may be about, most specific first: the key's model
/// meter, the group's model meter, the key, the group's shared meter.
struct AnswerScope {
  std::array<const KeyRecord*, 4> records{};
  std::size_t count = 0;
  const KeyRecord* key;  // the key itself: what a refused credential or a circuit concerns

  AnswerScope(const KeyRecord& key, const MeterRoute* route) noexcept : key(&key) {
    const KeyRecord* key_model = nullptr;
    const KeyRecord* group_model = nullptr;
    const KeyRecord* group_shared = nullptr;
    if (route != nullptr) {
      for (std::size_t k = 0; k < route->count; ++k) {
        const KeyRecord* meter = route->records[k];
        if (meter->group.empty()) key_model = meter;
        else if (meter->model.empty()) group_shared = meter;
        else group_model = meter;
      }
    }
    for (const KeyRecord* record : {key_model, group_model, &key, group_shared})
      if (record != nullptr) records[count++] = record;
  }

  /// Where a rate limit on the call lands: the model's meter when the request named one the key
  /// or its group counts, else the key.
  [[nodiscard]] const KeyRecord& most_specific() const noexcept { return *records[0]; }
};

}  // namespace keypool::detail
