// How an operator's action or a provider's answer about a key reaches every instance through
// Redis: one key's actions waiting to be published, and what this instance last read back.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include <keypool/key_slot.hpp>
#include <keypool/store/redis/scripts.hpp>

namespace keypool::detail::redis {

/// The actions one command publishes: queued again when it goes unanswered, so none is lost.
struct ControlAction {
  std::uint32_t reset = 0;  ///< limits this instance reset (bit i: limit i)
  int disable = -1;         ///< 1: disable, 0: enable, -1: neither
  std::uint64_t cool = 0;   ///< a cooldown until then (ns since the epoch); 0: none
  std::uint32_t spent = 0;  ///< limits the provider reported spent for their window
};

/// What a read of a key's control hash asks this instance to apply (through the LeaseHost).
struct ControlNews {
  std::uint64_t cool_until_ns = 0;  ///< a cooldown another instance saw (0: none)
  bool follow_disabled = false;     ///< take over `disabled`: it changed, or a disable was in force when joining
  bool disabled = false;
  std::uint32_t reset = 0;          ///< limits another instance reset
};

/// One key's side of the control hash "keypool:{pool}:k:<label>". The publish_* members are
/// called by any thread and never block; the others run under the store's lock.
class KeyControl {
 public:
  // --- Any thread: queued for the next round trip ------------------------------------------------

  void publish_disabled(bool disabled) noexcept { pending_disable_.store(disabled ? 1 : 0, std::memory_order_release); }
  /// Keeps the latest cooldown when several are queued.
  void publish_cooldown(std::uint64_t until_ns) noexcept { raise(pending_cool_, until_ns); }
  void publish_spent(std::size_t limit) noexcept { pending_spent_.fetch_or(1u << limit, std::memory_order_acq_rel); }
  void publish_reset(std::uint32_t limits) noexcept { pending_reset_.fetch_or(limits, std::memory_order_acq_rel); }
  /// `action` was taken for a command that was never answered (or never sent): queued again. An
  /// enable or disable queued since is newer and wins.
  void publish_again(const ControlAction& action) noexcept {
    if (action.reset != 0) publish_reset(action.reset);
    if (action.disable >= 0) {
      int expected = -1;
      pending_disable_.compare_exchange_strong(expected, action.disable, std::memory_order_acq_rel);
    }
    if (action.cool != 0) raise(pending_cool_, action.cool);
    if (action.spent != 0) pending_spent_.fetch_or(action.spent, std::memory_order_acq_rel);
  }

  // --- The planning thread: what to publish now ------------------------------------------------------

  [[nodiscard]] std::uint32_t take_reset() noexcept { return pending_reset_.exchange(0, std::memory_order_acq_rel); }
  [[nodiscard]] int take_disable() noexcept { return pending_disable_.exchange(-1, std::memory_order_acq_rel); }
  [[nodiscard]] std::uint64_t take_cooldown() noexcept { return pending_cool_.exchange(0, std::memory_order_acq_rel); }
  [[nodiscard]] std::uint32_t take_spent() noexcept { return pending_spent_.exchange(0, std::memory_order_acq_rel); }

  // --- Reading back ------------------------------------------------------------------------------

  /// Whether the hash was read once: until then no lease of the key is planned without a read
  /// ahead of it in the same round trip, so every reset after the instance's first lease is
  /// reported as one (the first read only takes the generations in force).
  [[nodiscard]] bool seen() const noexcept { return seen_; }
  /// Whether a reset of limit `limit` waits to be published: Redis still holds the count it
  /// deletes, so a grant answered now came from that count.
  [[nodiscard]] bool reset_pending(std::size_t limit) const noexcept {
    return (pending_reset_.load(std::memory_order_acquire) & (1u << limit)) != 0;
  }

  /// The control script's reply (every action answers the hash's state): what changed since the
  /// last read. The first read only takes over a disable in force; later ones follow every change
  /// of the flag, and report the limits whose reset generation moved, except the resets this
  /// instance sent in the command read (`own_reset`), which it has applied already. A malformed
  /// reply changes nothing.
  [[nodiscard]] ControlNews read(const ScriptReply& reply, std::uint32_t own_reset) noexcept {
    ControlNews news;
    if (!reply.array || reply.size < ScriptReply::control_size) return news;
    news.cool_until_ns = reply.count(ScriptReply::cool_ms) * 1'000'000;
    news.disabled = reply.values[ScriptReply::disabled] != 0;
    const auto version = static_cast<std::uint64_t>(reply.values[ScriptReply::disabled_version]);
    if (!seen_ || version != seen_version_) {
      news.follow_disabled = news.disabled || seen_;
      seen_version_ = version;
    }
    for (std::size_t i = 0; i < max_limits_per_key; ++i) {
      const auto generation = static_cast<std::uint64_t>(reply.values[ScriptReply::first_generation + i]);
      if (seen_ && generation != seen_generation_[i] && (own_reset & (1u << i)) == 0) news.reset |= 1u << i;
      seen_generation_[i] = generation;
    }
    seen_ = true;
    return news;
  }

 private:
  static void raise(std::atomic<std::uint64_t>& word, std::uint64_t to) noexcept {
    std::uint64_t seen = word.load(std::memory_order_relaxed);
    while (seen < to && !word.compare_exchange_weak(seen, to, std::memory_order_acq_rel)) {
    }
  }

  // Queued by any thread.
  std::atomic<int> pending_disable_{-1};
  std::atomic<std::uint32_t> pending_reset_{0};
  std::atomic<std::uint64_t> pending_cool_{0};
  std::atomic<std::uint32_t> pending_spent_{0};
  // The last state read (under the store's lock).
  bool seen_ = false;
  std::uint64_t seen_version_ = 0;
  std::array<std::uint64_t, max_limits_per_key> seen_generation_{};
};

}  // namespace keypool::detail::redis
