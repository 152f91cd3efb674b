// The calendar-window counter: a limit per second/minute/hour/day/month, aligned to its reset
// zone, kept in one 64-bit word (window index and amount used, see detail/packed_window.hpp) that
// every operation advances with one CAS. Two meanings of the word share the code:
//   CalendarWindow  the word counts usage (store::Memory, store::MappedFile): a stale window
//                   reads as empty, so a new window needs no reset job;
//   LeasedWindow    the word is "limit minus what is in hand" (store::Redis leases quota from the
//                   fleet): a stale window reads as full until a lease for it lands.
//
// Thread safety: every function is thread-safe and lock-free. All counter words are independent:
// each limit's invariant (admitted usage ≤ cap) holds on its own word through its CAS, so relaxed
// ordering suffices; no other memory is published through them.
#pragma once

#include <algorithm>
#include <cstdint>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/packed_window.hpp>
#include <keypool/key_slot.hpp>

namespace keypool::accounting {

/// What the word of a calendar limit means.
enum class WindowWord : std::uint8_t {
  usage,        ///< the amount used in the window
  not_in_hand,  ///< the limit minus what this instance holds in hand (leased quota)
};

template <WindowWord Meaning>
struct BasicCalendarWindow {
  static constexpr bool leased = Meaning == WindowWord::not_in_hand;

  /// What a word whose window has passed reads as in the current window.
  [[nodiscard]] static constexpr std::uint64_t stale_used(const detail::LimitPlan& plan) noexcept {
    return leased ? plan.amount : 0;
  }

  /// The last second a TimePoint (ns since the epoch, 64 bits) reaches: in the year 2262.
  static constexpr std::int64_t last_second = 9'223'372'035;
  /// The longest window (a month, with a daylight-saving hour): a cached end further ahead of now
  /// was never written by a pool (a damaged word) and does not count as current.
  static constexpr std::int64_t longest_window_seconds = 32 * 86'400;

  /// The end of the stored window when the cache shows it current at `now_sec`, else -1.
  [[nodiscard]] static constexpr std::int64_t cached_end(std::uint64_t cached, std::uint64_t stored, std::int64_t now_sec) noexcept {
    if (!detail::WindowEnd::matches(cached, stored)) return -1;
    const std::int64_t end = detail::WindowEnd::end_seconds(cached);
    return now_sec < end && end - now_sec <= longest_window_seconds ? end : -1;
  }

  /// True when the cache shows the stored window ended by `now_sec`: the current window is a later,
  /// fresh one. (A damaged cache that claims so of the current window is rewritten by the first
  /// reserve that finds the window full: see `reserve`.)
  [[nodiscard]] static constexpr bool ended(std::uint64_t cached, std::uint64_t stored, std::int64_t now_sec) noexcept {
    return detail::WindowEnd::matches(cached, stored) && now_sec >= detail::WindowEnd::end_seconds(cached);
  }

  /// How far ahead of now a stored window may end and still be one a clock stood in before it
  /// stepped back (NTP steps are seconds; a clock set back by hand, days).
  static constexpr std::int64_t farthest_ahead_seconds = 400 * 86'400;

  /// True when a stored window after the current one ends more than `farthest_ahead_seconds` after
  /// now, or past what a TimePoint reaches: no clock stood there, so the word is damaged. Readers
  /// then take it as the current window, spent (a pool that reserves rewrites it so): the key
  /// recovers when the current window ends. Calendar math only for a word ahead of now (rare).
  [[nodiscard]] static bool impossible(const Limit& limit, std::uint64_t stored, const WindowNow& current, std::int64_t now_sec) noexcept {
    if (stored <= current.epoch) return false;
    if (stored > detail::PackedWindow{limit.unit()}.max_epoch()) return true;
    const std::int64_t end = window_end_of(limit, stored);
    return end > last_second || end - now_sec > farthest_ahead_seconds + longest_window_seconds;
  }

  /// The hot path: admits `amount` when the stored window is current (its cached end is ahead)
  /// and has room under `cap`, with two loads and one CAS. False: take the slow path (`reserve`).
  [[nodiscard, gnu::always_inline]] static inline bool reserve_current(const detail::LimitPlan& plan, KeySlot::Counter& counter,
                                                                      std::uint64_t amount, std::uint64_t cap,
                                                                      std::int64_t now_sec, Reserved& out) noexcept {
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
    const std::uint64_t used = plan.packing.used(seen);
    // used + amount ≤ cap ≤ mask/4, so the addition never spills into the epoch.
    if (detail::WindowEnd::matches(cached, plan.packing.epoch(seen)) && now_sec < detail::WindowEnd::end_seconds(cached) &&
        amount <= cap && used + amount <= cap &&
        state.compare_exchange_strong(seen, seen + amount, std::memory_order_relaxed)) {
      out.epoch = plan.packing.epoch(seen);
      out.before = used;
      return true;
    }
    return false;
  }

  /// True (and `out` set) when the stored window is current by its cache and has no room for
  /// `amount`: the usual state of a key that is out for its window, answered with two loads.
  [[nodiscard, gnu::always_inline]] static inline bool full_current(const detail::LimitPlan& plan, KeySlot::Counter& counter,
                                                                   std::uint64_t amount, std::uint64_t cap, std::int64_t now_sec,
                                                                   Reserved& out) noexcept {
    const std::uint64_t seen = detail::word(counter.state).load(std::memory_order_relaxed);
    const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
    const std::uint64_t used = plan.packing.used(seen);
    if (amount > cap || used + amount <= cap || cached_end(cached, plan.packing.epoch(seen), now_sec) < 0) return false;
    out.epoch = plan.packing.epoch(seen);
    out.before = used;
    return true;
  }

  /// Reserves `amount` under `cap` in the window of `now_sec`: a new window, a full one, a lost
  /// race. A clock that stepped back keeps counting in the stored (later) window, so usage is never
  /// reset early. Refuses without a write. O(1); calendar math once per window boundary.
  [[gnu::noinline]] static Admission reserve(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                             std::uint64_t cap, std::int64_t now_sec, Reserved& out) noexcept {
    if (amount > cap) return Admission::too_large;
    if (full_current(plan, counter, amount, cap, now_sec, out)) return Admission::over_cap;  // the usual refusal, first
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored_epoch = plan.packing.epoch(seen);
      const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
      std::uint64_t epoch = stored_epoch;
      std::uint64_t used = plan.packing.used(seen);
      std::int64_t new_end = -1;  // set when the window cache must be (re)published
      if (cached_end(cached, stored_epoch, now_sec) < 0) {
        const WindowNow current = current_window_of(plan.limit, now_sec);
        if (impossible(plan.limit, stored_epoch, current, now_sec)) {
          // A damaged word: the current window, spent (written so, then tried again).
          if (state.compare_exchange_weak(seen, plan.packing.pack(current.epoch, plan.amount), std::memory_order_relaxed))
            detail::word(counter.window_end).store(detail::WindowEnd::pack(current.epoch, current.end), std::memory_order_relaxed);
          continue;
        }
        if (current.epoch > stored_epoch) {
          epoch = current.epoch;  // a stale window
          used = stale_used(plan);
          new_end = current.end;
        } else {
          new_end = current.epoch == stored_epoch ? current.end : window_end_of(plan.limit, stored_epoch);
        }
      }
      if (used + amount > cap) {
        // The window's end, published even without a write: `wait` and `used_now` trust the cache.
        if (new_end >= 0 && epoch == stored_epoch)
          detail::word(counter.window_end).store(detail::WindowEnd::pack(epoch, new_end), std::memory_order_relaxed);
        out.epoch = epoch;
        out.before = used;
        return Admission::over_cap;
      }
      if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, used + amount), std::memory_order_relaxed)) {
        if (new_end >= 0)
          detail::word(counter.window_end).store(detail::WindowEnd::pack(epoch, new_end), std::memory_order_relaxed);
        out.epoch = epoch;
        out.before = used;
        return Admission::granted;
      }
    }
  }

  /// Gives back `amount` reserved in window `epoch`. A window that has ended keeps what it
  /// counted: there is nothing left to refund.
  static void release(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                      std::uint64_t epoch) noexcept {
    if (amount == 0) return;
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      if (plan.packing.epoch(seen) != epoch) return;
      const std::uint64_t used = plan.packing.used(seen);
      if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, used - std::min(used, amount)), std::memory_order_relaxed))
        return;
    }
  }

  /// Adds `amount` more usage in window `epoch` (a commit above its estimate: the call already
  /// happened, so unconditionally), saturating. A window that has ended is not charged.
  static Change charge(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                       std::uint64_t epoch) noexcept {
    if (amount == 0) return {};
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      if (plan.packing.epoch(seen) != epoch) return {};
      const std::uint64_t used = plan.packing.used(seen);
      const std::uint64_t after = std::min(used + std::min(amount, plan.packing.mask), plan.packing.mask);
      if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, after), std::memory_order_relaxed))
        return {true, epoch, used, after};
    }
  }

  /// Raises the current window's usage to at least `floor` (never lowers it): a provider's report
  /// of what is left. A leased stale window holds nothing in hand, so a report only ever lowers the
  /// hand; it never hands out quota the backend did not debit. Leaves a later window (the clock
  /// stepped back) alone.
  static Change raise_to(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t floor,
                         std::int64_t now_sec) noexcept {
    auto state = detail::word(counter.state);
    const WindowNow current = current_window_of(plan.limit, now_sec);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored = plan.packing.epoch(seen);
      if (stored > current.epoch) return {};
      const std::uint64_t used = stored == current.epoch ? plan.packing.used(seen) : stale_used(plan);
      if (used >= floor) return {};
      if (state.compare_exchange_weak(seen, plan.packing.pack(current.epoch, floor), std::memory_order_relaxed)) {
        detail::word(counter.window_end).store(detail::WindowEnd::pack(current.epoch, current.end), std::memory_order_relaxed);
        return {true, current.epoch, used, floor};
      }
    }
  }

  /// Marks the window of `now_sec` spent (usage at least the limit): the provider said so.
  /// Returns what changed (nothing when it was full already).
  static Change fill(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::int64_t now_sec) noexcept {
    auto state = detail::word(counter.state);
    const WindowNow current = current_window_of(plan.limit, now_sec);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored = plan.packing.epoch(seen);
      const std::uint64_t epoch = std::max(stored, current.epoch);
      const std::uint64_t used = epoch == stored ? plan.packing.used(seen) : 0;
      if (used >= plan.amount) return {};
      if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, plan.amount), std::memory_order_relaxed)) {
        if (epoch == current.epoch)
          detail::word(counter.window_end).store(detail::WindowEnd::pack(epoch, current.end), std::memory_order_relaxed);
        return {true, epoch, used, plan.amount};
      }
    }
  }

  /// Forgets the usage (and, leased, what is in hand: the backend's count is reset with it). Keeps
  /// the window, so a clock that later steps back still cannot reopen it.
  static void reset(const detail::LimitPlan& plan, KeySlot::Counter& counter) noexcept {
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    while (!state.compare_exchange_weak(seen, plan.packing.pack(plan.packing.epoch(seen), stale_used(plan)),
                                        std::memory_order_relaxed)) {
    }
  }

  /// Why `amount` cannot be admitted under `cap` now, and until when (loads only).
  [[nodiscard]] static Verdict wait(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t amount,
                                    std::uint64_t cap, const Instant& now) noexcept {
    if (amount > cap) return {Reason::too_large, Duration::max()};
    const std::uint64_t seen = detail::word(counter.state).load(std::memory_order_relaxed);
    const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
    const std::uint64_t stored = plan.packing.epoch(seen);
    const std::uint64_t used = plan.packing.used(seen);
    if (!leased && ended(cached, stored, now.sec)) return {};  // a fresh window has room: no calendar math
    std::int64_t end;
    if (const std::int64_t cached_until = cached_end(cached, stored, now.sec); cached_until >= 0) {
      // The stored window is current and its end is cached (as on the hot path): no calendar math.
      if (used + amount <= cap) return {};
      end = cached_until;
    } else {
      const WindowNow current = current_window_of(plan.limit, now.sec);
      if (impossible(plan.limit, stored, current, now.sec))
        return {Reason::exhausted, std::max(Duration::zero(), detail::from_seconds(current.end) - now.at)};
      if (stored < current.epoch) {
        // A fresh window has room, unless it is leased: nothing in hand, and the fleet had none.
        if (!leased) return {};
        return {Reason::exhausted, std::max(Duration::zero(), detail::from_seconds(current.end) - now.at)};
      }
      if (used + amount <= cap) return {};
      end = stored == current.epoch ? current.end : window_end_of(plan.limit, stored);
    }
    return {Reason::exhausted, std::max(Duration::zero(), detail::from_seconds(end) - now.at)};
  }

  /// Usage in the window of `now_sec` as this word holds it (0 for a stale window, whatever the
  /// meaning: selection heuristics only), for headroom.
  [[nodiscard]] static std::uint64_t used_now(const detail::LimitPlan& plan, KeySlot::Counter& counter,
                                              std::int64_t now_sec) noexcept {
    const std::uint64_t seen = detail::word(counter.state).load(std::memory_order_relaxed);
    const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
    const std::uint64_t stored = plan.packing.epoch(seen);
    if (cached_end(cached, stored, now_sec) >= 0) return plan.packing.used(seen);
    if (ended(cached, stored, now_sec)) return 0;
    const WindowNow current = current_window_of(plan.limit, now_sec);
    if (impossible(plan.limit, stored, current, now_sec)) return plan.amount;
    return stored >= current.epoch ? plan.packing.used(seen) : 0;
  }

  /// The word's figure in the current window (stale: `stale_used`), the current window, and the
  /// end of the window the word refers to (a later one when the clock stepped back).
  struct Reading {
    std::uint64_t word_used;
    WindowNow current;
    std::int64_t resets_at;
  };
  [[nodiscard]] static Reading read(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::int64_t now_sec) noexcept {
    const std::uint64_t seen = detail::word(counter.state).load(std::memory_order_relaxed);
    const WindowNow current = current_window_of(plan.limit, now_sec);
    const std::uint64_t stored = plan.packing.epoch(seen);
    if (impossible(plan.limit, stored, current, now_sec)) return {plan.amount, current, current.end};
    return {stored >= current.epoch ? plan.packing.used(seen) : stale_used(plan), current,
            stored > current.epoch ? window_end_of(plan.limit, stored) : current.end};
  }

  // --- Leased hands (store::Redis): what the store may do to a word ------------------------------

  /// What a leased word holds for window `current`: the word's window and figure, and the units in
  /// hand for `current` (negative: spent beyond leases, a debt; zero for another window).
  struct Hand {
    std::uint64_t word_epoch;
    std::uint64_t used;
    std::int64_t in_hand;
  };
  [[nodiscard]] static Hand hand(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t current) noexcept
    requires leased
  {
    const std::uint64_t w = detail::word(counter.state).load(std::memory_order_relaxed);
    Hand h{plan.packing.epoch(w), plan.packing.used(w), 0};
    if (h.word_epoch == current) h.in_hand = static_cast<std::int64_t>(plan.amount) - static_cast<std::int64_t>(h.used);
    return h;
  }

  /// Puts `units` leased for window `epoch` (ending at `window_end`) in hand, and settles `debt`.
  /// False when the word has moved on to a later window: the units are then worthless.
  static bool give(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t epoch, std::int64_t window_end,
                   std::uint64_t units, std::uint64_t debt) noexcept
    requires leased
  {
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored = plan.packing.epoch(seen);
      std::uint64_t desired;
      if (stored == epoch) {
        const std::uint64_t used = plan.packing.used(seen);
        desired = plan.packing.pack(epoch, used - std::min(used, units + debt));
      } else if (stored < epoch) {
        desired = plan.packing.pack(epoch, plan.amount - std::min(plan.amount, units));
      } else {
        return false;
      }
      if (state.compare_exchange_weak(seen, desired, std::memory_order_relaxed)) {
        if (stored != epoch)
          detail::word(counter.window_end).store(detail::WindowEnd::pack(epoch, window_end), std::memory_order_relaxed);
        return true;
      }
    }
  }

  /// Takes back everything in hand for window `epoch`; returns the units taken.
  static std::uint64_t take(const detail::LimitPlan& plan, KeySlot::Counter& counter, std::uint64_t epoch) noexcept
    requires leased
  {
    auto state = detail::word(counter.state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      if (plan.packing.epoch(seen) != epoch) return 0;
      const std::uint64_t used = plan.packing.used(seen);
      if (used >= plan.amount) return 0;
      if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, plan.amount), std::memory_order_relaxed))
        return plan.amount - used;
    }
  }
};

/// A calendar window whose word counts usage.
using CalendarWindow = BasicCalendarWindow<WindowWord::usage>;
/// A calendar window whose word is the limit minus what is in hand (leased quota).
using LeasedWindow = BasicCalendarWindow<WindowWord::not_in_hand>;

}  // namespace keypool::accounting
