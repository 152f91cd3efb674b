// keypool::KeySlot: the words one key's counters and health live in. A storage policy provides
// the memory for them (process memory, a shared mapped file, …); the pool does every access
// through std::atomic_ref, so the same code runs on any of them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace keypool {

/// The most limits one key may have.
inline constexpr std::size_t max_limits_per_key = 8;

/// `blocked_until` value of a disabled key: it stays disabled until `enable`.
inline constexpr std::uint64_t disabled_until = ~std::uint64_t{0};

/// One key's words, 256 bytes on their own cache lines so two keys never share a line. A storage
/// policy hands out zero-filled slots and keeps them stable for the pool's life; their layout is
/// part of the state-file format, so fields are only ever appended into `reserved`.
/// Treat the contents as opaque: only the pool reads and writes them, always atomically.
struct alignas(64) KeySlot {
  /// Nanoseconds since the Unix epoch before which the key is not tried (cooldown, open circuit);
  /// `disabled_until` when disabled. Loaded once per try: the health gate.
  std::uint64_t blocked_until;
  /// Consecutive transient failures (circuit breaker).
  std::uint64_t health;
  /// Per limit, in the order the key's limits were given.
  /// 16-byte aligned (as its place in the slot already was): a rolling limit swaps both words at once.
  struct alignas(16) Counter {
    /// Calendar window: (window index << used_bits) | used. Rolling: theoretical arrival time,
    /// whole ns.
    std::uint64_t state;
    /// Calendar window: cached end of the window `state` refers to (see detail::WindowEnd).
    /// Rolling: the theoretical arrival time's part below one ns, in units of 1/den ns of the
    /// limit's exact rate (0 when a unit lasts whole ns).
    std::uint64_t window_end;
  } counters[max_limits_per_key];
  /// Per limit: (window index << 8) | bit mask of the threshold levels and exhaustion already
  /// reported in that window, so each fires once.
  std::uint64_t alerted[max_limits_per_key];
  /// Bumped by every reset: a lease reserved before a reset settles nothing against the counts
  /// that follow it.
  std::uint64_t generation;
  /// Health counters: leases committed, leases failed (any outcome but success and bad_request),
  /// of which rate_limited or quota_exhausted.
  std::uint64_t successes;
  std::uint64_t failures;
  std::uint64_t rate_limited;
  /// The last failure: (seconds since the epoch << 24) | (HTTP status << 8) | Outcome::Kind.
  std::uint64_t last_error;
  std::uint64_t reserved[1];
};

/// The version of the KeySlot layout and of what its words mean. A persistent store records it
/// and refuses a file written with another.
inline constexpr std::uint32_t key_slot_version = 3;

static_assert(sizeof(KeySlot) == 256, "KeySlot is part of the state-file format: 256 bytes");
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "keypool needs lock-free 64-bit atomics (address-free, so they work in shared memory)");

namespace detail {

/// The one way the pool touches a slot word.
[[nodiscard]] inline std::atomic_ref<std::uint64_t> word(std::uint64_t& w) noexcept {
  return std::atomic_ref<std::uint64_t>{w};
}

}  // namespace detail
}  // namespace keypool
