// keypool::accounting::Leased: the accounting of a store that leases quota from a shared backend
// instead of owning the counts (store::Redis). Each calendar limit's word is "limit minus what this
// instance holds in hand" (accounting::LeasedWindow): a fresh window starts full (nothing leased
// yet), a lease of g units lowers it by g, and the pool's hot path, unchanged, admits exactly what
// was leased; spending more than the estimate pushes it past the limit, a debt the store reports
// to the backend. A rolling limit's word is the signed units in hand (accounting::LeasedRolling).
// Threshold events follow the fleet's usage, which the store reports through LeaseHost.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include <keypool/accounting/calendar_window.hpp>
#include <keypool/accounting/counter.hpp>
#include <keypool/accounting/ledger.hpp>
#include <keypool/accounting/lease_host.hpp>
#include <keypool/accounting/rolling.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/request.hpp>

namespace keypool::accounting {

/// A store whose quota is leased (declares `using accounting = keypool::accounting::Leased;`).
/// Requirements on a type S, besides StoragePolicy:
///  1. `s.attach(host)` connects and starts whatever background work the store does; called once
///     by the pool's constructor with the pool as LeaseHost. `s.detach()` stops it and gives back
///     what is in hand; called once by the pool's destructor, noexcept.
///  2. `s.lease_sync(amounts, now, bound)` is called by an acquire that no key could serve: it may
///     bring quota in hand synchronously (bounded in time) and returns whether anything came;
///     noexcept. It lowers `bound` (a Duration, Duration::max() on entry) to the longest wait the
///     refusal that may follow can claim: a word with nothing in hand reads "exhausted until the
///     window's end", true only when the backend's count is known spent. A store may offer
///     `s.lease_sync(amounts, now)` instead: its refusals then claim what the words say.
///  3. `s.fleet_used(key, limit, epoch, in_hand, now)` answers the fleet's usage of a limit for a
///     snapshot, less `in_hand` (what this instance holds unspent); const, noexcept.
///  4. `s.publish_disabled(key, disabled)`, `s.publish_cooldown(key, until_ns)`,
///     `s.publish_exhausted(key, limit)` and `s.publish_reset(key, limits)` share an operator's
///     action or a provider's answer with every instance; noexcept, never blocking (they run on
///     the settling thread).
///  5. The store changes counter words only through LeasedWindow's and LeasedRolling's hand
///     operations (hand, give, take), and a key's health only through LeaseHost.
template <class S>
concept BoundingLeaseSync = requires(S& s, const detail::Amounts& amounts, TimePoint now, Duration& bound) {
  { s.lease_sync(amounts, now, bound) } noexcept -> std::same_as<bool>;
};
template <class S>
concept PlainLeaseSync = requires(S& s, const detail::Amounts& amounts, TimePoint now) {
  { s.lease_sync(amounts, now) } noexcept -> std::same_as<bool>;
};

template <class S>
concept LeasingStore = (BoundingLeaseSync<S> || PlainLeaseSync<S>) &&
                       requires(S& s, const S& cs, LeaseHost& host, TimePoint now, std::size_t key, std::size_t limit,
                                std::uint64_t number, std::uint32_t limits, bool flag) {
  s.attach(host);
  { s.detach() } noexcept;
  { cs.fleet_used(key, limit, number, number, now) } noexcept -> std::same_as<std::uint64_t>;
  { s.publish_disabled(key, flag) } noexcept;
  { s.publish_cooldown(key, number) } noexcept;
  { s.publish_exhausted(key, limit) } noexcept;
  { s.publish_reset(key, limits) } noexcept;
};

struct Leased : Ledger<LeasedWindow, LeasedRolling> {
  /// The words hold hands, not usage: the store reports the fleet's crossings (LeaseHost).
  static constexpr bool events_from_counters = false;

  template <class Store>
  static constexpr bool fits = LeasingStore<Store>;

  // --- The seam to the store -----------------------------------------------------------------------
  template <LeasingStore Store> static void attach(Store& store, LeaseHost& host) { store.attach(host); }
  template <LeasingStore Store> static void detach(Store& store) noexcept { store.detach(); }
  /// A refused acquire: one synchronous lease (never more) for what `amounts` needs. `bound`: the
  /// longest wait the refusal that may follow can claim for lack of quota (lowered, never raised).
  template <LeasingStore Store>
  [[nodiscard]] static bool refill(Store& store, const detail::Amounts& amounts, TimePoint now, Duration& bound) noexcept {
    if constexpr (BoundingLeaseSync<Store>) return store.lease_sync(amounts, now, bound);
    else return store.lease_sync(amounts, now);
  }
  template <LeasingStore Store> static void share_disabled(Store& store, std::size_t key, bool disabled) noexcept {
    store.publish_disabled(key, disabled);
  }
  template <LeasingStore Store> static void share_cooldown(Store& store, std::size_t key, std::uint64_t until_ns) noexcept {
    store.publish_cooldown(key, until_ns);
  }
  template <LeasingStore Store> static void share_spent(Store& store, std::size_t key, std::size_t limit) noexcept {
    store.publish_exhausted(key, limit);
  }
  template <LeasingStore Store> static void share_reset(Store& store, std::size_t key, std::uint32_t limits) noexcept {
    store.publish_reset(key, limits);
  }

  /// Limit `limit` of key `key` as a snapshot shows it: the fleet's usage as the store last saw it,
  /// less this instance's unspent part.
  template <LeasingStore Store>
  [[nodiscard]] static Usage usage(const Store& store, std::size_t key, std::size_t limit, const detail::LimitPlan& plan,
                                   KeySlot::Counter& counter, const Instant& now) noexcept {
    switch (plan.kind) {
      case Limit::Kind::window: {
        const auto reading = Window::read(plan, counter, now.sec);
        const std::uint64_t in_hand = plan.amount - std::min(plan.amount, reading.word_used);
        return {store.fleet_used(key, limit, reading.current.epoch, in_hand, now.at), detail::from_seconds(reading.resets_at)};
      }
      case Limit::Kind::rolling: {
        const std::uint64_t used = store.fleet_used(key, limit, 0, Rolling::in_hand(counter), now.at);
        return {used, now.at + Duration{static_cast<std::int64_t>(used * plan.interval_ns)}};
      }
      default: return {0, now.at};
    }
  }

  /// The key's reset generation: a grant planned before a reset is void after it.
  [[nodiscard]] static std::uint64_t generation(KeySlot& slot) noexcept {
    return detail::word(slot.generation).load(std::memory_order_relaxed);
  }
  /// Whether the key rests (cooling down or disabled) at `now_ns`: no lease is taken for it.
  [[nodiscard]] static bool resting(KeySlot& slot, std::uint64_t now_ns) noexcept { return !detail::health::open(slot, now_ns); }
};

}  // namespace keypool::accounting
