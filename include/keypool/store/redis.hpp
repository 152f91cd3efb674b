// keypool::store::Redis: a fleet of instances sharing each key's quota through Redis, at memory
// speed. Needs hiredis (libhiredis-dev; link hiredis); not included by <keypool/keypool.hpp>.
//
// Each instance leases chunks of a key's calendar quota for the current window from Redis, one
// atomic Lua script per lease (debited in Redis first, spent locally after), and spends them on the
// same lock-free hot path as store::Memory. A background thread tops a lease up before it runs
// out, so steady traffic never waits on Redis; an acquire that finds nothing in hand takes one
// synchronous round trip, never more. docs/scale-out.md explains the protocol, its bounds and its
// failure modes.
//
// This header is the store's public face; its parts are in keypool/store/redis/:
//   options.hpp        RedisOptions, RedisOnOutage and their validation
//   scripts.hpp        the Lua scripts, the keys' names in Redis, each script's arguments and reply
//   connection.hpp     hiredis: connect, AUTH, SELECT, SCRIPT LOAD, one pipelined round trip, outages
//   lease_planner.hpp  lease sizing and what to ask for (pure: no I/O), the local share in an outage
//   control.hpp        operator actions and provider answers shared through Redis
//   instance.hpp       the round trips (background tick, refused acquire, detach), replies applied
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <keypool/accounting/leased.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/request.hpp>
#include <keypool/store/binding.hpp>
#include <keypool/store/redis/instance.hpp>
#include <keypool/store/redis/options.hpp>
#include <keypool/store/redis/scripts.hpp>
#include <keypool/time.hpp>

namespace keypool::store {

/// Counter slots in process memory whose quota is leased from Redis: calendar windows as chunks of
/// the window's amount, rolling limits as units of the fleet's GCRA. Limits per request are
/// checked locally; per-priority headroom is refused at `add_key` (not leased yet). Thread-safe
/// as the pool requires; its own thread runs between `attach` and `detach` (the pool calls both).
class Redis {
 public:
  using OnOutage = RedisOnOutage;  ///< see RedisOnOutage
  using Options = RedisOptions;    ///< see RedisOptions

  /// What the store has done since it was built. Read with `stats()`; thread-safe.
  struct Stats {
    std::uint64_t round_trips = 0;       ///< pipelines sent (each one network round trip)
    std::uint64_t commands = 0;          ///< Redis commands in them
    std::uint64_t sync_round_trips = 0;  ///< of which taken by a refused acquire
    std::uint64_t leases = 0;            ///< lease scripts that granted something
    std::uint64_t leased = 0;            ///< units granted by Redis
    std::uint64_t returned = 0;          ///< units given back to Redis
    std::uint64_t debited_late = 0;      ///< units spent beyond leases (commits above estimate, outage grants), debited after
    std::uint64_t local_grants = 0;      ///< units granted locally during outages (OnOutage::local_share)
    std::uint64_t dropped = 0;           ///< units granted but never spendable: their window had ended locally, or a reset came first
    std::uint64_t outages = 0;           ///< times Redis became unreachable
    std::uint64_t errors = 0;            ///< commands Redis answered with an error (a wrong-type key, NOPERM): no effect
    bool available = false;              ///< Redis reachable at the last attempt
  };

  /// Quota is leased: the pool keeps its windows as "limit minus what is in hand" and counts
  /// through accounting::Leased (see accounting/leased.hpp).
  using accounting = keypool::accounting::Leased;

  /// Checks the options (throws keypool::Error on a bad one). Connects in `attach`.
  explicit Redis(Options options = {}) {
    detail::redis::validate(options);
    state_ = std::make_unique<detail::redis::Instance>(std::move(options));
  }

  /// Movable before `attach` (the pool moves it in); the state lives on the heap.
  Redis(Redis&&) noexcept = default;
  Redis& operator=(Redis&&) noexcept = default;  ///< as the move constructor
  ~Redis() {
    if (state_) state_->stop_thread();
  }

  // --- StoragePolicy -------------------------------------------------------------------------------

  /// Allocates `capacity` zeroed slots and their lease records. Called once, by the pool.
  void reserve(std::size_t capacity) { state_->reserve(capacity); }
  /// Room for `capacity` keys in all (the pool grew past its Capacity); bound slots stay put.
  void grow(std::size_t capacity) { state_->grow(capacity); }

  /// The slot of a new key. Throws keypool::Error for per-priority headroom (not leased yet), an
  /// empty label, or an index beyond capacity.
  [[nodiscard]] KeySlot* bind(const KeyBinding& binding) { return state_->bind(binding); }

  /// Nothing to make durable: Redis holds what was leased, and the in-hand part is given back at
  /// `detach`.
  /// Without a background thread (`refill_interval` zero), this is when operator actions,
  /// cooldowns, debts and outage grants are exchanged with Redis (`poll()` calls it); with one,
  /// nothing to do.
  void flush() noexcept { state_->flush(); }

  // --- Leasing (called by the pool) ----------------------------------------------------------------

  /// Connects (bounded by `timeout`; an unreachable Redis is an outage, not an error) and starts
  /// the background thread.
  void attach(keypool::accounting::LeaseHost& host) { state_->attach(host); }

  /// Stops the background thread and gives back what is in hand (one round trip, bounded by
  /// `timeout`), then disconnects.
  void detach() noexcept { state_->detach(); }

  /// Called by a refused acquire: leases, in one round trip, what `amounts` needs on every key
  /// whose hand is short and whose fleet quota is not known to be dry. Returns whether anything
  /// was granted. Waits at most `timeout` in total (for the connection and the round trip).
  /// A reset of this instance not yet published goes first in that round trip, so the leases
  /// after it come from the fresh count. Sets `bound` to one control interval unless every key
  /// that does not rest is known spent (Redis said so since the last reset this instance knows
  /// of): a refusal then claims no more than that, as nothing longer is known.
  bool lease_sync(const detail::Amounts& amounts, TimePoint now, Duration& bound) noexcept {
    return state_->lease_sync(amounts, now, bound);
  }

  /// Snapshot support: the fleet's usage of a limit, as last seen from Redis, less `in_hand`
  /// (what this instance leased and has not spent): for a calendar limit in window `epoch`, for a
  /// rolling one the units not yet replenished at `now`.
  [[nodiscard]] std::uint64_t fleet_used(std::size_t key, std::size_t limit, std::uint64_t epoch, std::uint64_t in_hand,
                                         TimePoint now) const noexcept {
    return state_->fleet_used(key, limit, epoch, in_hand, now);
  }

  /// Queued for the background thread (never blocks): every instance applies it.
  void publish_disabled(std::size_t key, bool disabled) noexcept {
    if (key < state_->capacity()) state_->key(key).control.publish_disabled(disabled);
    state_->wake();
  }
  /// The provider cooled key `key` down until `until_ns` (a 429): every instance rests it.
  void publish_cooldown(std::size_t key, std::uint64_t until_ns) noexcept {
    if (key >= state_->capacity() || until_ns == disabled_until) return;
    state_->key(key).control.publish_cooldown(until_ns);
    state_->wake();
  }
  /// The provider said limit `limit` of key `key` is spent for its window: the fleet's count is
  /// raised to the limit, so no instance leases more of it.
  void publish_exhausted(std::size_t key, std::size_t limit) noexcept {
    if (key >= state_->capacity() || limit >= max_limits_per_key) return;
    state_->key(key).control.publish_spent(limit);
    state_->wake();
  }
  /// A reset of key `key`'s limits whose bit is set in `limits`: every instance forgets them, and
  /// the fleet's counts are deleted.
  void publish_reset(std::size_t key, std::uint32_t limits) noexcept {
    if (key < state_->capacity()) state_->key(key).control.publish_reset(limits);
    state_->wake();
  }

  // --- Inspection ----------------------------------------------------------------------------------

  /// What the store has done so far (each figure read atomically; not a consistent cut).
  [[nodiscard]] Stats stats() const noexcept {
    const auto& own = state_->counters();
    const auto& link = state_->connection_counters();
    Stats out;
    out.round_trips = link.round_trips.load(std::memory_order_relaxed);
    out.commands = link.commands.load(std::memory_order_relaxed);
    out.sync_round_trips = own.sync_round_trips.load(std::memory_order_relaxed);
    out.leases = own.leases.load(std::memory_order_relaxed);
    out.leased = own.leased.load(std::memory_order_relaxed);
    out.returned = own.returned.load(std::memory_order_relaxed);
    out.debited_late = own.debited_late.load(std::memory_order_relaxed);
    out.local_grants = own.local_grants.load(std::memory_order_relaxed);
    out.dropped = own.dropped.load(std::memory_order_relaxed);
    out.outages = link.outages.load(std::memory_order_relaxed);
    out.errors = link.errors.load(std::memory_order_relaxed);
    out.available = link.available.load(std::memory_order_relaxed);
    return out;
  }
  /// The options it was built with.
  [[nodiscard]] const Options& options() const noexcept { return state_->options(); }

  /// The Redis key holding the fleet's count of a window (for tools and tests):
  /// "keypool:{pool}:w:<label>:<limit index>:<window index>", with ':' '%' '{' '}' in the label
  /// percent-encoded.
  [[nodiscard]] static std::string counter_key(std::string_view pool, std::string_view label, std::size_t limit,
                                               std::uint64_t epoch) {
    return detail::redis::counter_key(pool, label, limit, epoch);
  }

 private:
  std::unique_ptr<detail::redis::Instance> state_;
};

}  // namespace keypool::store
