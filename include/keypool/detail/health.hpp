// A key's health words (KeySlot::blocked_until, health, and the counters of successes and
// failures): the health gate of the hot path, cooldowns that are never shortened, disable and
// enable, and the circuit breaker's backoff. The pool decides when; these say how.
//
// Thread safety: every function is thread-safe and lock-free (relaxed atomics on the slot's words:
// a cooldown set concurrently may let one more request through, which the provider then refuses;
// quotas are never over-admitted by it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include <keypool/key_slot.hpp>
#include <keypool/options.hpp>
#include <keypool/outcome.hpp>
#include <keypool/time.hpp>

namespace keypool::detail::health {

/// The health gate: one relaxed load. True when the key may be tried at `now_ns`.
[[nodiscard, gnu::always_inline]] inline bool open(KeySlot& slot, std::uint64_t now_ns) noexcept {
  return word(slot.blocked_until).load(std::memory_order_relaxed) <= now_ns;
}

/// The blocked_until word: 0 (never blocked), ns since the epoch, or `disabled_until`.
[[nodiscard]] inline std::uint64_t blocked(KeySlot& slot) noexcept {
  return word(slot.blocked_until).load(std::memory_order_relaxed);
}

/// Raises blocked_until to `until_ns` unless it is already later (a longer deadline is never
/// shortened; a disabled key stays disabled). Returns true when it moved.
inline bool block_until(KeySlot& slot, std::uint64_t until_ns) noexcept {
  auto word_ = word(slot.blocked_until);
  std::uint64_t current = word_.load(std::memory_order_relaxed);
  while (current < until_ns) {
    if (word_.compare_exchange_weak(current, until_ns, std::memory_order_relaxed)) return true;
  }
  return false;
}

/// Disables the key until `enable`. Returns true when it was not disabled before.
inline bool disable(KeySlot& slot) noexcept {
  return word(slot.blocked_until).exchange(disabled_until, std::memory_order_relaxed) != disabled_until;
}

/// Lets the key serve again (clears a disable, a cooldown and the circuit). Returns true when it
/// was disabled.
inline bool enable(KeySlot& slot) noexcept {
  const bool was_disabled = word(slot.blocked_until).exchange(0, std::memory_order_relaxed) == disabled_until;
  word(slot.health).store(0, std::memory_order_relaxed);
  return was_disabled;
}

/// Clears a cooldown and the circuit, never a disable (a reset).
inline void clear_cooldown(KeySlot& slot) noexcept {
  auto blocked_word = word(slot.blocked_until);
  std::uint64_t current = blocked_word.load(std::memory_order_relaxed);
  while (current != disabled_until && current != 0 &&
         !blocked_word.compare_exchange_weak(current, 0, std::memory_order_relaxed)) {
  }
  word(slot.health).store(0, std::memory_order_relaxed);
}

/// A success: counted, and the circuit closes.
inline void record_success(KeySlot& slot) noexcept {
  word(slot.successes).fetch_add(1, std::memory_order_relaxed);
  auto circuit = word(slot.health);
  if (circuit.load(std::memory_order_relaxed) != 0) circuit.store(0, std::memory_order_relaxed);
}

/// A failure: counted in the key's health counters and remembered as the last error.
inline void record_failure(KeySlot& slot, const Outcome& outcome, TimePoint now) noexcept {
  word(slot.failures).fetch_add(1, std::memory_order_relaxed);
  if (outcome.kind() == Outcome::Kind::rate_limited || outcome.kind() == Outcome::Kind::quota_exhausted)
    word(slot.rate_limited).fetch_add(1, std::memory_order_relaxed);
  const auto status = static_cast<std::uint64_t>(std::clamp(outcome.status(), 0, 0xffff));
  const auto seconds = static_cast<std::uint64_t>(to_seconds(now)) & ((std::uint64_t{1} << 40) - 1);
  word(slot.last_error).store((seconds << 24) | (status << 8) | static_cast<std::uint64_t>(outcome.kind()), std::memory_order_relaxed);
}

/// A transient failure. Returns how long the circuit opens for: nothing while fewer than
/// `circuit_threshold` failures came in a row; then base × 2^(failures − threshold), capped, with
/// ±25% jitter (seeded by the time and the key) so keys that failed together do not come back
/// together.
[[nodiscard]] inline std::optional<Duration> transient_failure(KeySlot& slot, const HealthOptions& options, std::uint64_t now_ns,
                                                std::uint32_t key_id) noexcept {
  const std::uint64_t failures = word(slot.health).fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < options.circuit_threshold) return std::nullopt;
  const std::uint64_t doublings = std::min<std::uint64_t>(failures - options.circuit_threshold, 30);
  const auto base = static_cast<std::uint64_t>(options.circuit_base.count());
  const auto max = static_cast<std::uint64_t>(options.circuit_max.count());
  std::uint64_t cooldown = std::min(max, base << doublings);
  std::uint64_t mix = (now_ns ^ (std::uint64_t{key_id} * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
  mix ^= mix >> 31;
  cooldown = std::min(max, cooldown - cooldown / 4 + (cooldown / 2 == 0 ? 0 : mix % (cooldown / 2 + 1)));
  return Duration{static_cast<std::int64_t>(cooldown)};
}

/// Another instance's view (a leasing store): follow a cooldown unless disabled.
inline void follow_cooldown(KeySlot& slot, std::uint64_t until_ns) noexcept {
  auto blocked_word = word(slot.blocked_until);
  std::uint64_t seen = blocked_word.load(std::memory_order_relaxed);
  while (seen < until_ns && seen != disabled_until &&
         !blocked_word.compare_exchange_weak(seen, until_ns, std::memory_order_relaxed)) {
  }
}

/// Another instance's view (a leasing store): follow a disable or an enable, without the circuit.
inline void follow_disabled(KeySlot& slot, bool disabled) noexcept {
  word(slot.blocked_until).store(disabled ? disabled_until : 0, std::memory_order_relaxed);
}

}  // namespace keypool::detail::health
