// What the pool tells its alert sink, and the claims that make each threshold event fire exactly
// once per (key, limit, level, window) even under contention: the slow path of events. Owns the
// sink and counts what it threw.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/events.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/time.hpp>

namespace keypool::detail {

template <class Sink>
inline constexpr bool discards_events_v = requires { requires Sink::discards_events; };

template <class Sink>
class EventReporter {
 public:
  /// False for a sink that declares `discards_events`: the pool then skips all event work.
  static constexpr bool enabled = !discards_events_v<Sink>;

  explicit EventReporter(Sink sink) : sink_(std::move(sink)) {}

  [[nodiscard]] Sink& sink() noexcept { return sink_; }
  [[nodiscard]] const Sink& sink() const noexcept { return sink_; }
  /// Exceptions thrown by the sink and swallowed.
  [[nodiscard]] std::uint64_t sink_failures() const noexcept { return sink_failures_.load(std::memory_order_relaxed); }

  /// Hands `event` to the sink; a failing sink must not break the pool. Thread-safe.
  void deliver(const Event& event) noexcept {
    try {
      sink_.emit(event);
    } catch (...) {
      sink_failures_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  /// key_added, key_removed, key_rotated or key_limits_changed for `key` (`count`: its provider's
  /// keys now; for key_limits_changed, its limits).
  void key_changed(EventKind kind, const KeyRecord& key, TimePoint now) noexcept {
    if constexpr (enabled) {
      Event event = key_event(kind, key, now, now);
      event.resets_at = TimePoint{};
      event.count = kind == EventKind::key_limits_changed ? key.limit_count : key.provider_record->key_count.load(std::memory_order_relaxed);
      deliver(event);
    }
  }

  [[nodiscard]] static Event key_event(EventKind kind, const KeyRecord& key, TimePoint now, TimePoint resets_at) noexcept {
    Event event;
    event.kind = kind;
    event.at = now;
    event.provider = key.provider;
    event.provider_name = key.provider_record->name;
    event.key = key.id;
    event.key_label = key.label;
    event.model = key.model;
    event.group = key.group;
    event.resets_at = resets_at;
    return event;
  }

  [[nodiscard]] static Event limit_event(EventKind kind, const KeyRecord& key, const LimitPlan& plan, std::uint64_t epoch,
                                         std::uint64_t used, TimePoint now) noexcept {
    Event event = key_event(kind, key, now, TimePoint{});
    event.metric = plan.metric;
    event.window = plan.limit.window_name();
    event.used = used;
    event.limit = plan.amount;
    event.resets_at = from_seconds(accounting::window_end_of(plan.limit, epoch));
    return event;
  }

  /// An event of the pool or of a provider, no key: what, when, and when it can serve again.
  void general(EventKind kind, TimePoint now, TimePoint resets_at, ProviderId provider = {},
               std::string_view provider_name = {}, std::optional<Reason> reason = {}) noexcept {
    if constexpr (enabled) {
      Event event;
      event.kind = kind;
      event.at = now;
      event.resets_at = resets_at;
      event.provider = provider;
      event.provider_name = provider_name;
      event.reason = reason;
      deliver(event);
    }
  }

  /// Traffic moved from provider `from` to provider `to` (select::Priority).
  void failover(ProviderId from, std::string_view from_name, ProviderId to, std::string_view to_name, TimePoint now) noexcept {
    if constexpr (enabled) {
      Event event;
      event.kind = EventKind::failover;
      event.at = now;
      event.provider = from;
      event.provider_name = from_name;
      event.to_provider = to;
      event.to_provider_name = to_name;
      deliver(event);
    }
  }

  /// A key's event (cooling down, disabled, recovered); the first two carry their horizon.
  void key(EventKind kind, const KeyRecord& key, TimePoint now, TimePoint resets_at) noexcept {
    if constexpr (enabled) {
      Event event = key_event(kind, key, now, resets_at);
      if (kind == EventKind::key_cooling_down) event.reason = Reason::cooling_down;
      if (kind == EventKind::key_disabled) event.reason = Reason::disabled;
      deliver(event);
    }
  }

  /// Usage of limit i went from `before` to `after` in window `epoch`: the levels crossed, and
  /// key_exhausted at 100%, each claimed once.
  [[gnu::noinline, gnu::cold]] void crossings(const KeyRecord& key, std::size_t i, const LimitPlan& plan, std::uint64_t epoch,
                                               std::uint64_t before, std::uint64_t after, TimePoint now) noexcept {
    if constexpr (enabled) {
      std::uint8_t bits = plan.levels_crossed(before, after);
      if (before < plan.amount && after >= plan.amount) bits = static_cast<std::uint8_t>(bits | exhausted_bit);
      if (bits == 0) return;
      const std::uint8_t fresh = claim(*key.slot, i, epoch, bits);
      if (fresh == 0) return;
      Event event = limit_event(EventKind::threshold_crossed, key, plan, epoch, after, now);
      for (std::uint8_t level = 0; level < plan.level_count; ++level) {
        if ((fresh & (1u << level)) == 0) continue;
        event.level = plan.levels[level];
        deliver(event);
      }
      if ((fresh & exhausted_bit) != 0) {
        event.kind = EventKind::key_exhausted;
        event.level = 1.0;
        event.reason = Reason::exhausted;
        deliver(event);
      }
    }
  }

  /// Limit i refused for lack of room in window `epoch`, or the provider said it is spent:
  /// key_exhausted, once per window. After the first report, refusals only load.
  [[gnu::noinline, gnu::cold]] void exhausted(const KeyRecord& key, std::size_t i, const LimitPlan& plan, std::uint64_t epoch,
                                               std::uint64_t used, TimePoint now) noexcept {
    if constexpr (enabled) {
      const std::uint64_t seen = word(key.slot->alerted[i]).load(std::memory_order_relaxed);
      if ((seen >> 8) == epoch && (seen & exhausted_bit) != 0) return;
      if (claim(*key.slot, i, epoch, exhausted_bit) == 0) return;
      Event event = limit_event(EventKind::key_exhausted, key, plan, epoch, used, now);
      event.level = 1.0;
      event.reason = Reason::exhausted;
      deliver(event);
    }
  }

  /// The provider reports `reported` as the amount of a limit (`plan`) configured otherwise.
  [[gnu::noinline, gnu::cold]] void mismatch(const KeyRecord& key, const LimitPlan& plan, std::uint64_t reported,
                                              TimePoint now) noexcept {
    if constexpr (enabled) {
      Event event = key_event(EventKind::limit_mismatch, key, now, TimePoint{});
      event.metric = plan.metric;
      event.window = plan.limit.window_name();
      event.limit = plan.amount;
      event.reported = reported;
      deliver(event);
    }
  }

  /// A commit's cost of `metric`, `real`, is above every limit of it (`plan`, the largest): not
  /// counted (the estimate was).
  [[gnu::noinline, gnu::cold]] void cost_rejected(const KeyRecord& key, const LimitPlan& plan, Metric metric, std::uint64_t real,
                                                   TimePoint now) noexcept {
    if constexpr (enabled) {
      Event event = key_event(EventKind::cost_rejected, key, now, TimePoint{});
      event.metric = metric;
      event.window = plan.limit.window_name();
      event.used = real;
      event.limit = plan.amount;
      deliver(event);
    }
  }

  /// Forgets what limit i reported (a reset: its levels may fire again).
  static void forget_claims(KeySlot& slot, std::size_t i) noexcept { word(slot.alerted[i]).store(0, std::memory_order_relaxed); }

 private:
  /// Marks `bits` as reported for window `epoch` of limit i; returns the bits this call set
  /// (each (key, limit, level, window) is reported by exactly one caller).
  static std::uint8_t claim(KeySlot& slot, std::size_t i, std::uint64_t epoch, std::uint8_t bits) noexcept {
    auto alerted = word(slot.alerted[i]);
    std::uint64_t seen = alerted.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored_epoch = seen >> 8;
      if (stored_epoch > epoch) return 0;  // a later window already reports
      const std::uint8_t already = stored_epoch == epoch ? static_cast<std::uint8_t>(seen & 0xff) : 0;
      const std::uint8_t fresh = static_cast<std::uint8_t>(bits & ~already);
      if (fresh == 0) return 0;
      if (alerted.compare_exchange_weak(seen, (epoch << 8) | (already | fresh), std::memory_order_relaxed)) return fresh;
    }
  }

  Sink sink_;
  std::atomic<std::uint64_t> sink_failures_{0};
};

}  // namespace keypool::detail
