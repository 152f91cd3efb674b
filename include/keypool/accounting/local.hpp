// keypool::accounting::Local: the accounting of a store whose counter words are the usage itself
// (store::Memory, store::MappedFile, and any store that declares no accounting). Nothing is shared
// with anyone else, so every hook into the store is empty and compiles away.
#pragma once

#include <cstddef>
#include <cstdint>

#include <keypool/accounting/calendar_window.hpp>
#include <keypool/accounting/counter.hpp>
#include <keypool/accounting/ledger.hpp>
#include <keypool/accounting/lease_host.hpp>
#include <keypool/accounting/rolling.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/request.hpp>

namespace keypool::accounting {

struct Local : Ledger<CalendarWindow, Gcra> {
  /// Threshold and exhaustion events are judged on the counter words (they are the usage).
  static constexpr bool events_from_counters = true;

  /// Any store can be counted locally.
  template <class Store>
  static constexpr bool fits = true;

  // --- The seam to the store: nothing to share ----------------------------------------------------
  template <class Store> static void attach(Store&, LeaseHost&) noexcept {}
  template <class Store> static void detach(Store&) noexcept {}
  /// A refused acquire: nothing more can come in hand (and the words' waits are exact: no bound).
  template <class Store>
  [[nodiscard]] static bool refill(Store&, const detail::Amounts&, TimePoint, Duration&) noexcept {
    return false;
  }
  template <class Store> static void share_disabled(Store&, std::size_t, bool) noexcept {}
  template <class Store> static void share_cooldown(Store&, std::size_t, std::uint64_t) noexcept {}
  template <class Store> static void share_spent(Store&, std::size_t, std::size_t) noexcept {}
  template <class Store> static void share_reset(Store&, std::size_t, std::uint32_t) noexcept {}

  /// Limit `limit` of key `key` as a snapshot shows it: the word's usage.
  template <class Store>
  [[nodiscard]] static Usage usage(const Store&, std::size_t /*key*/, std::size_t /*limit*/, const detail::LimitPlan& plan,
                                   KeySlot::Counter& counter, const Instant& now) noexcept {
    switch (plan.kind) {
      case Limit::Kind::window: {
        const auto reading = Window::read(plan, counter, now.sec);
        return {reading.word_used, detail::from_seconds(reading.resets_at)};
      }
      case Limit::Kind::rolling: return Rolling::usage(plan, counter, now.ns);
      default: return {0, now.at};
    }
  }
};

}  // namespace keypool::accounting
