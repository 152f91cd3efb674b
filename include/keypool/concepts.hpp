// The four policy families of a KeyPool, one concept each: SelectionPolicy, StoragePolicy,
// AlertSink, ClockPolicy. A user's own type that satisfies one plugs in like ours.
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <keypool/events.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/options.hpp>
#include <keypool/request.hpp>
#include <keypool/store/binding.hpp>
#include <keypool/time.hpp>

namespace keypool {
namespace detail {

/// The interface a selection policy sees during one acquire (the pool's real context has exactly
/// these members). Declared only: it exists so the concept can be checked without a pool.
struct SelectionContextArchetype {
  /// Number of keys in the pool (keys are indexed 0 … size()-1 in the order they were added).
  [[nodiscard]] std::size_t size() const noexcept;
  /// Tries key `index`: health gate, then a reservation on every limit. True: the key is granted
  /// and `select` must return true at once. False: the key's refusal is folded into the answer.
  [[nodiscard]] bool try_key(std::size_t index) noexcept;
  [[nodiscard]] ProviderId provider(std::size_t index) const noexcept;
  [[nodiscard]] std::uint32_t tier(std::size_t index) const noexcept;
  [[nodiscard]] std::uint32_t weight(std::size_t index) const noexcept;
  [[nodiscard]] std::string_view label(std::size_t index) const noexcept;
  [[nodiscard]] const Request& request() const noexcept;
  [[nodiscard]] TimePoint now() const noexcept;
  /// A hash of key `index`'s label, the same in every process and run (consistent hashing: select::Sticky).
  [[nodiscard]] std::uint64_t key_hash(std::size_t index) const noexcept;
  /// Sum of the weights of keys 0 … index, inclusive.
  [[nodiscard]] std::uint64_t cumulative_weight(std::size_t index) const noexcept;
  /// Sum of every key's weight (cumulative_weight(size() - 1); 0 with no keys).
  [[nodiscard]] std::uint64_t total_weight() const noexcept;
  /// The first key whose cumulative weight exceeds `point`, for a point below total_weight():
  /// where a point of the weight axis falls (O(1) expected on a pool's context).
  [[nodiscard]] std::size_t key_at_weight(std::uint64_t point) const noexcept;
  /// Consecutive transient failures of key `index`.
  [[nodiscard]] std::uint64_t failures(std::size_t index) const noexcept;
  /// Fraction left of key `index`'s tightest limit for this request's priority (0 when blocked).
  [[nodiscard]] double headroom(std::size_t index) const noexcept;
  /// Time until key `index` could admit this request (zero: now).
  [[nodiscard]] Duration wait(std::size_t index) const noexcept;
  /// Number of distinct provider tiers, and a context of the same shape over the keys of the
  /// t-th lowest tier (indices 0 … size()-1 of the view map to that tier's keys).
  [[nodiscard]] std::size_t tier_count() const noexcept;
  [[nodiscard]] SelectionContextArchetype tier_view(std::size_t t) noexcept;
  /// Reports that traffic moved from one provider to another (emits EventKind::failover).
  void failover(ProviderId from, ProviderId to) noexcept;
};

}  // namespace detail

/// Which key to try, in what order.
/// Requirements on a type S:
///  1. S is move-constructible (the pool owns its instance).
///  2. `s.select(ctx)` is valid for any selection context `ctx` (see
///     detail::SelectionContextArchetype; write `template <class Context> bool select(Context&)`)
///     and returns bool: true once `ctx.try_key(i)` returned true, false when every key it tried
///     refused. To keep the pool's promise that it refuses only when no key can serve, a policy
///     returns false only after trying every key.
///  3. `select` is called concurrently from every thread that acquires: it must be thread-safe,
///     should be lock-free, and must not allocate.
template <class S>
concept SelectionPolicy = std::move_constructible<S> && requires(S& s, detail::SelectionContextArchetype& ctx) {
  { s.select(ctx) } -> std::same_as<bool>;
};

/// Where the counter words live.
/// Requirements on a type S:
///  1. S is move-constructible.
///  2. `s.reserve(capacity)` prepares room for `capacity` slots (Capacity::keys + Capacity::meters:
///     a meter, the limits of a key's model or of a group, is bound like a key); called once, by
///     the pool's constructor, before any other call. May throw keypool::Error.
///  3. `s.bind(binding)` returns the KeySlot for the key or meter described by `binding` (a KeyBinding):
///     zero-filled for a key it has never seen, or the slot it kept for that label (a persistent
///     store), valid and stable until S is destroyed. Called under the pool's admin lock. May throw.
///  4. Slot memory must support lock-free, address-free 64-bit atomics (any normal mapping does).
///  5. `s.flush()` makes recorded usage durable as far as the store can; called by poll() and the
///     pool's destructor, never on the hot path. Must not throw.
///  6. Optional: `using accounting = keypool::accounting::Leased;` declares that the slot's counter
///     words hold quota leased from a shared backend rather than the usage itself; S must then
///     also satisfy keypool::accounting::LeasingStore (every hook the pool calls: attach, detach,
///     lease_sync, fleet_used, publish_*), or the pool refuses it at compile time. Without it the
///     pool counts with keypool::accounting::Local. See <keypool/accounting/accounting.hpp>.
template <class S>
concept StoragePolicy = std::move_constructible<S> &&
    requires(S& s, std::size_t capacity, const KeyBinding& binding) {
      s.reserve(capacity);
      { s.bind(binding) } -> std::same_as<KeySlot*>;
      s.flush();
    };

/// Where events go.
/// Requirements on a type S:
///  1. S is move-constructible.
///  2. `s.emit(event)` accepts a `const Event&`. It is called on the thread that raised the event
///     (an acquire, a commit, a poll), possibly from several threads at once, so it must be
///     thread-safe; it should be quick (put slow sinks behind alert::Queued). If it throws, the
///     pool swallows the exception.
///  3. Optional: `static constexpr bool discards_events = true` tells the pool to skip event work.
template <class S>
concept AlertSink = std::move_constructible<S> && requires(S& s, const Event& event) { s.emit(event); };

/// What time it is.
/// Requirements on a type C:
///  1. C is copy-constructible.
///  2. `c.now()` on a const C returns keypool::TimePoint (UTC, ns), thread-safe and cheap: it is
///     read once per acquire.
///  3. Optional: `c.sleep_until(target, deadline)` blocks until the clock reads `target` or the
///     steady-clock `deadline` passes; acquire_for uses it (default: sleep for the difference).
template <class C>
concept ClockPolicy = std::copy_constructible<C> && requires(const C& c) {
  { c.now() } -> std::same_as<TimePoint>;
};

}  // namespace keypool
