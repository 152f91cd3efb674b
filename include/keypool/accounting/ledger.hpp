// keypool::accounting::Ledger: one limit's operations, whatever its kind — a calendar window, a
// rolling rate or a per-request cap — dispatched to the counting algorithm of an accounting
// (accounting::Local or accounting::Leased). The pool calls these; it never touches a word itself.
//
// Thread safety: as the counters (thread-safe, lock-free, relaxed CAS on the limit's own word).
#pragma once

#include <cstddef>
#include <cstdint>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>

namespace keypool::accounting {

template <class WindowCounter, class RollingCounter>
struct Ledger {
  using Window = WindowCounter;
  using Rolling = RollingCounter;

  /// Reserves `amount` for a request of priority `level` at `now`; `out` says where (for a
  /// release or a charge later) and, for a window, the usage before. A calendar window whose
  /// stored window is current takes the inlined fast path; everything else one call.
  [[nodiscard, gnu::always_inline]] static inline Admission reserve(const detail::LimitPlan& plan, KeySlot::Counter& counter,
                                                                   std::uint64_t amount, std::size_t level,
                                                                   const Instant& now, Reserved& out) noexcept {
    if (plan.kind == Limit::Kind::window) [[likely]] {
      if (Window::reserve_current(plan, counter, amount, plan.cap[level], now.sec, out)) [[likely]]
        return Admission::granted;
      return Window::reserve(plan, counter, amount, plan.cap[level], now.sec, out);
    }
    return reserve_other(plan, counter, amount, level, now, out);
  }

  /// A rolling limit or a cap per request (out of line: the hot path is the calendar window).
  [[gnu::noinline]] static Admission reserve_other(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                                   std::size_t level, const Instant& now, Reserved& out) noexcept {
    switch (plan.kind) {
      case Limit::Kind::rolling:
        return Rolling::reserve(plan, counter, amount, plan.cap[level], now.ns, out);
      case Limit::Kind::per_request:
        out = {};
        return amount <= plan.amount ? Admission::granted : Admission::too_large;
      case Limit::Kind::window:
      case Limit::Kind::unset:
        break;
    }
    return Admission::too_large;
  }

  /// Gives back `amount` of a reservation made at `reserved` (see Reserved::epoch).
  static void release(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t reserved,
                      std::uint64_t now_ns) noexcept {
    switch (plan.kind) {
      case Limit::Kind::window: Window::release(plan, counter, amount, reserved); return;
      case Limit::Kind::rolling: Rolling::release(plan, counter, amount, reserved, now_ns); return;
      case Limit::Kind::per_request:
      case Limit::Kind::unset: return;
    }
  }

  /// Adds `amount` of usage beyond a reservation made at `reserved` (a commit above the
  /// estimate). Returns the change of a calendar window's usage (for threshold crossings).
  static Change charge(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount, std::uint64_t reserved,
                       std::uint64_t now_ns) noexcept {
    switch (plan.kind) {
      case Limit::Kind::window: return Window::charge(plan, counter, amount, reserved);
      case Limit::Kind::rolling: Rolling::charge(plan, counter, amount, now_ns); return {};
      case Limit::Kind::per_request:
      case Limit::Kind::unset: return {};
    }
    return {};
  }

  /// Forgets the limit's usage.
  static void reset(const detail::LimitPlan& plan, KeySlot::Counter& counter) noexcept {
    if (plan.kind == Limit::Kind::window) Window::reset(plan, counter);
    else Rolling::reset(counter);
  }

  /// Why the limit cannot admit `amount` at priority `level` now, and for how long (loads only).
  [[nodiscard, gnu::always_inline]] static inline Verdict wait(const detail::LimitPlan& plan, KeySlot::Counter& counter,
                                                              std::uint64_t amount, std::size_t level, const Instant& now) noexcept {
    if (plan.kind == Limit::Kind::window) [[likely]] return Window::wait(plan, counter, amount, plan.cap[level], now);
    if (plan.kind == Limit::Kind::rolling) return Rolling::wait(plan, counter, amount, plan.cap[level], now.ns);
    if (plan.kind == Limit::Kind::per_request && amount > plan.amount) return {Reason::too_large, Duration::max()};
    return {};
  }

  /// What is left of the limit for priority `level`, as a fraction in [0, 1] (1 for a cap per
  /// request, which has no state). Loads only.
  [[nodiscard]] static double headroom(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::size_t level,
                                       const Instant& now) noexcept {
    std::uint64_t used;
    switch (plan.kind) {
      case Limit::Kind::window: used = Window::used_now(plan, counter, now.sec); break;
      case Limit::Kind::rolling: used = Rolling::used_ns(plan, counter, now.ns); break;
      default: return 1.0;
    }
    const std::uint64_t cap = plan.cap[level];
    return used >= cap ? 0.0 : static_cast<double>(cap - used) / static_cast<double>(cap);
  }
};

}  // namespace keypool::accounting
