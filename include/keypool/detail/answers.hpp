// What a provider's answer does to a lease's key and meters: remaining-count reports tighten the
// window they describe, a 429 cools the model (or key) it concerns, a spent quota marks the windows
// of the most specific record that counts it, a refused credential disables the key, repeated
// transient failures open its circuit. Everything shared with other instances goes through the
// accounting's share_* hooks.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/metering.hpp>
#include <keypool/detail/provider_reports.hpp>
#include <keypool/events.hpp>
#include <keypool/options.hpp>
#include <keypool/outcome.hpp>
#include <keypool/time.hpp>

namespace keypool::detail {

/// One settlement's view of the pool's store, events and health options.
template <class Accounting, class Store, class Events, bool counter_events>
class Answers {
 public:
  Answers(Store& store, Events& events, const HealthOptions& health) noexcept : store_(store), events_(events), health_(health) {}

  /// A lease settled at `at` (Lease → pool): its counts reconciled (the levels it reached judged
  /// on the usage that stands), then the provider's answer applied.
  void settle(Reservation& reservation, Settlement how, const Cost* actual, const Outcome* outcome, TimePoint at) noexcept {
    using Metering = detail::Metering<Accounting>;
    const KeyRecord& key = *reservation.key;
    const std::uint64_t now_ns = to_ns(at);
    const TimePoint at_ns{Duration{static_cast<std::int64_t>(now_ns)}};
    const AnswerScope scope{key, reservation.route};
    if (how == Settlement::fail && outcome->kind() == Outcome::Kind::success) {
      // fail(success), e.g. fail(classify(200, …)): a commit at the estimate with the reports.
      how = Settlement::commit;
      actual = nullptr;
    }
    Metering::settle(reservation, how, actual, now_ns,
                     [&](const KeyRecord& record, std::size_t i, const accounting::Change& change) {
                       if constexpr (counter_events) {
                         if (change.changed && change.after >= record.plans[i].threshold_at[0])
                           events_.crossings(record, i, record.plans[i], change.epoch, 0, change.after, at);
                       }
                     },
                     [&](Metric metric, std::uint64_t real, const KeyRecord& record, std::size_t i) {
                       events_.cost_rejected(record, record.plans[i], metric, real, at);
                     });
    if constexpr (counter_events) {
      if (reservation.reached != 0) [[unlikely]]
        Metering::reached(reservation, how, [&](const KeyRecord& record, std::size_t i, std::uint64_t epoch, std::uint64_t used) {
          events_.crossings(record, i, record.plans[i], epoch, 0, used, at);
        });
    }
    switch (how) {
      case Settlement::commit:
        health::record_success(*key.slot);
        if (outcome != nullptr && !outcome->remaining().empty()) reports(scope, *outcome, at_ns);
        return;
      case Settlement::cancel: return;
      case Settlement::fail: this->outcome(scope, *outcome, at_ns); return;
    }
  }

  /// Tightens calendar counts to what the provider reported left: a limit's usage is raised
  /// (never lowered) so that at most the reported remainder is left. Which limit a report is
  /// about: report_target, on the records of the answer's scope, most specific first (the
  /// model's meters, the key, its group). A report of nothing left that describes none of them
  /// rests the most specific until the provider's reset (counts untouched).
  void reports(const AnswerScope& scope, const Outcome& outcome, TimePoint now) noexcept {
    for (const ProviderRemaining& report : outcome.remaining()) {
      bool applied = false;
      for (std::size_t r = 0; r < scope.count && !applied; ++r) {
        const KeyRecord& record = *scope.records[r];
        const std::size_t i = report_target(record, report, now);
        if (i == record.limit_count) continue;
        applied = true;
        const LimitPlan& plan = record.plans[i];
        learn(record, i, plan, report, now);
        const accounting::Change change = Accounting::Window::raise_to(plan, record.slot->counters[i],
                                                                       plan.amount - std::min(report.remaining, plan.amount),
                                                                       to_seconds(now));
        if (change.changed) MarkedUsage::add(record, i, change.epoch, change.after - change.before);
        if constexpr (counter_events) {
          if (change.changed && change.after >= plan.threshold_at[0])
            events_.crossings(record, i, plan, change.epoch, change.before, change.after, now);
        }
      }
      if (applied) continue;
      // A window no record counts: kept as observed, and waited out when it has nothing left.
      ObservedReports::note(scope.most_specific(), report);
      if (report.remaining == 0 && report.resets_at > now) cool_down(scope.most_specific(), report.resets_at, now);
    }
  }

  /// Rests a key (or a meter: one model, a group) until `until` (a longer deadline is never
  /// shortened) and tells every instance that shares it; emits key_cooling_down when it moved.
  void cool_down(const KeyRecord& key, TimePoint until, TimePoint now) noexcept {
    const std::uint64_t until_ns = to_ns(until);
    Accounting::share_cooldown(store_, key.slot_index, until_ns);
    if (health::block_until(*key.slot, until_ns)) events_.key(EventKind::key_cooling_down, key, now, until);
  }

  void disable(const KeyRecord& key, TimePoint now) noexcept {
    const bool newly = health::disable(*key.slot);
    key.answer_disabled.store(true, std::memory_order_relaxed);  // a probe may find it works again
    Accounting::share_disabled(store_, key.slot_index, true);  // a refused credential is refused everywhere
    if (newly) events_.key(EventKind::key_disabled, key, now, TimePoint::max());
  }

  /// What the provider's answer does: a 429 cools the model the call named (on the key, or on its
  /// group when only the group counts that model), else the key; a spent quota marks the windows
  /// of the most specific record that counts them; a refused credential disables the key;
  /// repeated transient failures open the key's circuit.
  void outcome(const AnswerScope& scope, const Outcome& outcome, TimePoint now) noexcept {
    const KeyRecord& key = *scope.key;
    if (outcome.kind() != Outcome::Kind::success && outcome.kind() != Outcome::Kind::bad_request)
      health::record_failure(*key.slot, outcome, now);
    if (!outcome.remaining().empty()) reports(scope, outcome, now);
    switch (outcome.kind()) {
      case Outcome::Kind::success:
        health::record_success(*key.slot);
        return;
      case Outcome::Kind::bad_request:
        return;  // not the key's fault
      case Outcome::Kind::rate_limited:
        cool_down(scope.most_specific(),
                  saturating_add(now, outcome.retry_after() > Duration::zero() ? outcome.retry_after() : health_.default_cooldown), now);
        return;
      case Outcome::Kind::quota_exhausted: {
        // Out until someone acts (billing: OpenAI's insufficient_quota, HTTP 402): disabled.
        if (outcome.until() == TimePoint::max()) return disable(key, now);
        const std::int64_t now_sec = to_seconds(now);
        SpentLimits spent;
        std::int64_t longest = 0;
        for (std::size_t r = 0; r < scope.count && spent.mask == 0; ++r) {
          const KeyRecord& record = *scope.records[r];
          spent = spent_limits(record, outcome, now);
          longest = std::max(longest, longest_window_end(record, now));
          for (std::size_t i = 0; i < record.limit_count; ++i) {
            if ((spent.mask & (1u << i)) == 0) continue;
            const accounting::Change change = Accounting::Window::fill(record.plans[i], record.slot->counters[i], now_sec);
            if (change.changed) MarkedUsage::add(record, i, change.epoch, change.after - change.before);
            Accounting::share_spent(store_, record.slot_index, i);  // the fleet's window is spent too
            events_.exhausted(record, i, record.plans[i], accounting::current_window_of(record.plans[i].limit, now_sec).epoch,
                              record.plans[i].amount, now);
          }
        }
        // Nothing matched, or the provider names a later time than our windows: cool the model
        // (or key), until the provider's time, else (a quota no record counts) until the longest
        // window of its records resets, and at least for the default cooldown.
        const bool has_until = to_ns(outcome.until()) > to_ns(now);
        if (has_until && (spent.mask == 0 || to_ns(outcome.until()) > static_cast<std::uint64_t>(spent.latest_end) * 1'000'000'000ull))
          cool_down(scope.most_specific(), outcome.until(), now);
        else if (spent.mask == 0)
          cool_down(scope.most_specific(), std::max(saturating_add(now, health_.default_cooldown), TimePoint{std::chrono::seconds{longest}}), now);
        return;
      }
      case Outcome::Kind::auth_failed:
        return disable(key, now);
      case Outcome::Kind::transient:
        if (const auto open_for = health::transient_failure(*key.slot, health_, to_ns(now), key.id.value))
          cool_down(key, now + *open_for, now);
        return;
    }
  }

 private:
  /// Keeps the provider's figures for limit i; a reported limit other than the configured one
  /// raises limit_mismatch, once per figure (again only when the provider's figure changes).
  void learn(const KeyRecord& record, std::size_t i, const LimitPlan& plan, const ProviderRemaining& report, TimePoint now) noexcept {
    record.reported_remaining[i].store(report.remaining, std::memory_order_relaxed);
    record.reported_at[i].store(to_ns(now), std::memory_order_relaxed);
    if (report.limit == 0) return;  // the provider did not say
    const std::uint64_t before = record.reported_limit[i].exchange(report.limit, std::memory_order_relaxed);
    if (before != report.limit && report.limit != plan.amount) events_.mismatch(record, plan, report.limit, now);
  }

  Store& store_;
  Events& events_;
  const HealthOptions& health_;
};

}  // namespace keypool::detail
