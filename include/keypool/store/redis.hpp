// keypool::store::Redis: a fleet of instances sharing each key's quota through Redis, at memory
// speed. Needs hiredis (libhiredis-dev; link hiredis); not included by <keypool/keypool.hpp>.
//
// Each instance leases chunks of a key's calendar quota for the current window from Redis, one
// atomic Lua script per lease (debited in Redis first, spent locally after), and spends them on the
// same lock-free hot path as store::Memory. A background thread tops a lease up before it runs
// out, so steady traffic never waits on Redis; an acquire that finds nothing in hand takes one
// synchronous round trip, never more. docs/scale-out.md explains the protocol, its bounds and its
// failure modes.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <keypool/accounting/leased.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/packed_window.hpp>
#include <keypool/error.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/options.hpp>
#include <keypool/request.hpp>
#include <keypool/store/binding.hpp>
#include <keypool/store/redis/connection.hpp>
#include <keypool/store/redis/control.hpp>
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
  explicit Redis(Options options = {}) : state_(std::make_unique<State>(std::move(options))) {
    detail::redis::validate(state_->options);
  }

  /// Movable before `attach` (the pool moves it in); the state lives on the heap.
  Redis(Redis&&) noexcept = default;
  Redis& operator=(Redis&&) noexcept = default;  ///< as the move constructor
  ~Redis() {
    if (state_) state_->stop_thread();
  }

  // --- StoragePolicy -------------------------------------------------------------------------------

  /// Allocates `capacity` zeroed slots and their lease records. Called once, by the pool.
  void reserve(std::size_t capacity) {
    State& s = *state_;
    s.slots.reset(new KeySlot[capacity]);
    std::memset(static_cast<void*>(s.slots.get()), 0, capacity * sizeof(KeySlot));
    s.keys.reset(new KeyLease[capacity]);
    s.capacity = capacity;
  }

  /// The slot of a new key. Throws keypool::Error for per-priority headroom (not leased yet), an
  /// empty label, or an index beyond capacity.
  [[nodiscard]] KeySlot* bind(const KeyBinding& binding) {
    State& s = *state_;
    if (binding.index >= s.capacity) throw Error("store::Redis: key index beyond capacity");
    if (binding.label.empty()) throw Error("store::Redis: a key needs a label (its name in Redis)");
    KeyLease& key = s.keys[binding.index];
    key.label = std::string{binding.label};
    key.control_key = detail::redis::control_key(s.prefix, binding.label);
    key.limit_count = binding.limits.size();
    for (std::size_t i = 0; i < binding.limits.size(); ++i) {
      const Limit& limit = binding.limits[i];
      for (std::size_t p = 0; p < priority_count; ++p)
        if (limit.cap(static_cast<Priority>(p)) != limit.amount())
          throw Error("store::Redis: limit '" + limit.describe() + "' of key '" + key.label +
                      "' has per-priority headroom, which store::Redis does not lease yet");
      LimitLease& lease = key.limits[i];
      lease.leased = limit.kind() == Limit::Kind::window || limit.kind() == Limit::Kind::rolling;
      if (!lease.leased) continue;
      lease.rolling = limit.kind() == Limit::Kind::rolling;
      lease.plan = detail::LimitPlan{limit, Thresholds{}};  // the pool's own figures (packing, interval)
      lease.min_lease = s.options.min_lease != 0 ? s.options.min_lease : std::max<std::uint64_t>(1, lease.plan.amount / 1000);
      lease.max_lease = s.options.max_lease != 0 ? s.options.max_lease : std::max<std::uint64_t>(1, lease.plan.amount / 16);
      lease.min_lease = std::min(lease.min_lease, lease.plan.amount);
      lease.max_lease = std::clamp(lease.max_lease, lease.min_lease, lease.plan.amount);
      lease.size = lease.min_lease;
      lease.counter_prefix = lease.rolling ? detail::redis::rolling_counter(s.prefix, binding.label, i)
                                           : detail::redis::window_counter_prefix(s.prefix, binding.label, i);
    }
    key.slot = &s.slots[binding.index];
    s.key_count.store(binding.index + 1 > s.key_count.load(std::memory_order_relaxed) ? binding.index + 1
                                                                                      : s.key_count.load(std::memory_order_relaxed),
                      std::memory_order_release);
    return key.slot;
  }

  /// Nothing to make durable: Redis holds what was leased, and the in-hand part is given back at
  /// `detach`.
  /// Without a background thread (`refill_interval` zero), this is when operator actions,
  /// cooldowns, debts and outage grants are exchanged with Redis (`poll()` calls it); with one,
  /// nothing to do.
  void flush() noexcept {
    State& s = *state_;
    if (s.host == nullptr || s.thread.joinable()) return;
    {
      std::lock_guard lock{s.io};
      s.tick(s.host->lease_now());
    }
    s.deliver();
  }

  // --- Leasing (called by the pool) ----------------------------------------------------------------

  /// Connects (bounded by `timeout`; an unreachable Redis is an outage, not an error) and starts
  /// the background thread.
  void attach(keypool::accounting::LeaseHost& host) {
    State& s = *state_;
    s.host = &host;
    {
      std::lock_guard lock{s.io};
      s.connect(std::chrono::steady_clock::now());
    }
    s.deliver();
    if (s.options.refill_interval > Duration::zero()) s.thread = std::thread{[&s] { s.run(); }};
  }

  /// Stops the background thread and gives back what is in hand (one round trip, bounded by
  /// `timeout`), then disconnects.
  void detach() noexcept {
    State& s = *state_;
    s.stop_thread();
    {
      std::lock_guard lock{s.io};
      if (s.host != nullptr) s.give_back_all(s.host->lease_now());
      s.connection.disconnect();
    }
    s.deliver();
    std::lock_guard lock{s.io};
    s.host = nullptr;
  }

  /// Called by a refused acquire: leases, in one round trip, what `amounts` needs on every key
  /// whose hand is short and whose fleet quota is not known to be dry. Returns whether anything
  /// was granted. Waits at most `timeout` in total (for the connection and the round trip).
  /// A reset of this instance not yet published goes first in that round trip, so the leases
  /// after it come from the fresh count.
  bool lease_sync(const detail::Amounts& amounts, TimePoint now) noexcept {
    const bool granted = state_->lease_sync(amounts, now);
    state_->deliver();  // events of the round trip, outside the store's lock
    return granted;
  }

  /// Snapshot support: the fleet's usage of a limit, as last seen from Redis, less `in_hand`
  /// (what this instance leased and has not spent): for a calendar limit in window `epoch`, for a
  /// rolling one the units not yet replenished at `now`.
  [[nodiscard]] std::uint64_t fleet_used(std::size_t key, std::size_t limit, std::uint64_t epoch, std::uint64_t in_hand,
                                         TimePoint now) const noexcept {
    const State& s = *state_;
    if (key >= s.capacity || limit >= max_limits_per_key) return 0;
    const LimitLease& lease = s.keys[key].limits[limit];
    if (lease.rolling) {
      const std::uint64_t tat_us = lease.fleet_tat.load(std::memory_order_relaxed);
      if (tat_us == 0) return 0;  // never leased
      // The fleet's theoretical arrival time, in microseconds: what is not yet replenished.
      const double ahead_us = static_cast<double>(tat_us) - static_cast<double>(detail::to_ns(now)) / 1000.0;
      const double interval_us = static_cast<double>(lease.plan.interval_ns) / 1000.0;
      const auto used = ahead_us <= 0 ? std::uint64_t{0}
                                      : std::min(lease.plan.amount, static_cast<std::uint64_t>(std::ceil(ahead_us / interval_us)));
      return used - std::min(used, in_hand);
    }
    const std::uint64_t fleet = lease.fleet.load(std::memory_order_relaxed);
    if ((fleet >> fleet_count_bits) != (epoch & fleet_epoch_mask)) return 0;
    const std::uint64_t debited = fleet & fleet_count_mask;
    return debited - std::min(debited, in_hand);
  }

  /// Queued for the background thread (never blocks): every instance applies it.
  void publish_disabled(std::size_t key, bool disabled) noexcept {
    if (key < state_->capacity) state_->keys[key].control.publish_disabled(disabled);
    state_->wake();
  }
  /// The provider cooled key `key` down until `until_ns` (a 429): every instance rests it.
  void publish_cooldown(std::size_t key, std::uint64_t until_ns) noexcept {
    if (key >= state_->capacity || until_ns == disabled_until) return;
    state_->keys[key].control.publish_cooldown(until_ns);
    state_->wake();
  }
  /// The provider said limit `limit` of key `key` is spent for its window: the fleet's count is
  /// raised to the limit, so no instance leases more of it.
  void publish_exhausted(std::size_t key, std::size_t limit) noexcept {
    if (key >= state_->capacity || limit >= max_limits_per_key) return;
    state_->keys[key].control.publish_spent(limit);
    state_->wake();
  }
  /// A reset of key `key`'s limits whose bit is set in `limits`: every instance forgets them, and
  /// the fleet's counts are deleted.
  void publish_reset(std::size_t key, std::uint32_t limits) noexcept {
    if (key < state_->capacity) state_->keys[key].control.publish_reset(limits);
    state_->wake();
  }

  // --- Inspection ----------------------------------------------------------------------------------

  /// What the store has done so far (each figure read atomically; not a consistent cut).
  [[nodiscard]] Stats stats() const noexcept {
    const State& s = *state_;
    Stats out;
    const auto& link = s.connection.counters();
    out.round_trips = link.round_trips.load(std::memory_order_relaxed);
    out.commands = link.commands.load(std::memory_order_relaxed);
    out.sync_round_trips = s.stats.sync_round_trips.load(std::memory_order_relaxed);
    out.leases = s.stats.leases.load(std::memory_order_relaxed);
    out.leased = s.stats.leased.load(std::memory_order_relaxed);
    out.returned = s.stats.returned.load(std::memory_order_relaxed);
    out.debited_late = s.stats.debited_late.load(std::memory_order_relaxed);
    out.local_grants = s.stats.local_grants.load(std::memory_order_relaxed);
    out.dropped = s.stats.dropped.load(std::memory_order_relaxed);
    out.outages = link.outages.load(std::memory_order_relaxed);
    out.errors = link.errors.load(std::memory_order_relaxed);
    out.available = link.available.load(std::memory_order_relaxed);
    return out;
  }
  /// The options it was built with.
  [[nodiscard]] const Options& options() const noexcept { return state_->options; }

  /// The Redis key holding the fleet's count of a window (for tools and tests):
  /// "keypool:{pool}:w:<label>:<limit index>:<window index>", with ':' '%' '{' '}' in the label
  /// percent-encoded.
  [[nodiscard]] static std::string counter_key(std::string_view pool, std::string_view label, std::size_t limit,
                                               std::uint64_t epoch) {
    return detail::redis::counter_key(pool, label, limit, epoch);
  }

 private:
  static constexpr unsigned fleet_count_bits = 40;
  static constexpr std::uint64_t fleet_count_mask = (std::uint64_t{1} << fleet_count_bits) - 1;
  static constexpr std::uint64_t fleet_epoch_mask = (std::uint64_t{1} << 24) - 1;

  struct LimitLease {
    // Set by bind, then read-only.
    bool leased = false;
    bool rolling = false;              // a rolling (GCRA) limit: the word is the signed hand
    detail::LimitPlan plan{Limit::requests(1).per_day(), Thresholds{}};  // the limit, as the pool counts it
    std::uint64_t min_lease = 1;
    std::uint64_t max_lease = 1;
    std::string counter_prefix;
    // The background thread's and lease_sync's (under State::io).
    std::uint64_t size = 1;            // current lease size
    std::uint64_t epoch = 0;           // window the figures below are about
    std::uint64_t granted = 0;         // leased this window (from Redis or, in an outage, locally)
    std::uint64_t consumed_mark = 0;   // granted − in hand at the last rate sample
    double rate = 0.0;                 // units per second, smoothed
    std::uint64_t dry_epoch = ~std::uint64_t{0};
    std::chrono::steady_clock::time_point dry_until{};
    std::chrono::steady_clock::time_point leased_at{};  // rolling: the last grant
    std::uint64_t owed = 0;            // granted locally in an outage, not yet debited in Redis
    std::uint64_t owed_epoch = 0;
    // For snapshots (any thread), one word each: calendar, (window index mod 2^24) << 40 | the
    // fleet's count (saturating at 2^40 − 1); rolling, the fleet's TAT in microseconds.
    std::atomic<std::uint64_t> fleet{0};
    std::atomic<std::uint64_t> fleet_tat{0};
  };

  struct KeyLease {
    KeySlot* slot = nullptr;
    std::string label;
    std::string control_key;
    std::size_t limit_count = 0;
    std::array<LimitLease, max_limits_per_key> limits;
    detail::redis::KeyControl control;  // operator actions on their way to Redis, and what was read back
  };

  struct Counters {
    std::atomic<std::uint64_t> sync_round_trips{0}, leases{0}, leased{0}, returned{0}, debited_late{0}, local_grants{0},
        dropped{0};
  };

  // One planned command and where its reply goes.
  struct Planned {
    enum class What : std::uint8_t { lease, control } what;
    std::size_t key;
    std::size_t limit;
    std::uint64_t epoch;
    std::uint64_t want;
    std::uint64_t debt;       // units of debt this command debits (settled locally on success)
    std::uint64_t giving;     // units this command gives back (already taken from the hand)
    std::uint64_t owed;       // outage grants this command debits
    std::vector<std::string> args;
    detail::redis::ControlAction action{};  // published again if the command is not answered
    std::uint64_t generation = 0;  // the key's reset generation when planned: a grant after a reset is void
  };

  struct State {
    explicit State(Options o) : options(std::move(o)), prefix(detail::redis::key_prefix(options.pool)) {}

    Options options;
    std::string prefix;
    std::unique_ptr<KeySlot[]> slots;
    std::unique_ptr<KeyLease[]> keys;
    std::size_t capacity = 0;
    std::atomic<std::size_t> key_count{0};
    keypool::accounting::LeaseHost* host = nullptr;
    Counters stats;

    // The connection and everything planned with it.
    std::mutex io;
    detail::redis::Connection connection{options};

    // Events to deliver once `io` is released: a sink may call back into the pool.
    struct Deferred {
      bool outage;
      std::size_t key, limit;
      std::uint64_t epoch, before, after;
      TimePoint at, retry_at;
    };
    std::vector<Deferred> deferred;
    std::vector<Deferred> delivering;  // the thread delivering takes turns through `deliver_mutex`
    std::mutex deliver_mutex;

    std::atomic<bool> events_waiting{false};

    void deliver() noexcept {
      if (!events_waiting.load(std::memory_order_acquire)) return;  // the common case: nothing, no lock
      std::lock_guard turn{deliver_mutex};
      {
        std::lock_guard lock{io};
        delivering.swap(deferred);
        events_waiting.store(false, std::memory_order_release);
      }
      for (const Deferred& d : delivering) {
        if (host == nullptr) break;
        if (d.outage) host->lease_backend_unavailable(d.at, d.retry_at);
        else host->lease_fleet_usage(d.key, d.limit, d.epoch, d.before, d.after, d.at);
      }
      delivering.clear();
    }

    std::thread thread;
    std::mutex wake_mutex;
    std::condition_variable wake_cv;
    bool stopping = false;
    bool woken = false;

    // --- Thread ------------------------------------------------------------------------------------

    void run() noexcept {
      for (;;) {
        {
          std::unique_lock lock{wake_mutex};
          wake_cv.wait_for(lock, options.refill_interval, [this] { return stopping || woken; });
          if (stopping) return;
          woken = false;
        }
        {
          std::lock_guard lock{io};
          tick(host->lease_now());
        }
        deliver();
      }
    }
    void wake() noexcept {
      {
        std::lock_guard lock{wake_mutex};
        woken = true;
      }
      wake_cv.notify_one();
    }
    void stop_thread() noexcept {
      {
        std::lock_guard lock{wake_mutex};
        stopping = true;
      }
      wake_cv.notify_all();
      if (thread.joinable()) thread.join();
    }

    // --- Connection --------------------------------------------------------------------------------

    // An outage the connection just found: announced once, with the next reconnect attempt.
    void note_outage() noexcept {
      if (!connection.take_outage() || host == nullptr) return;
      const TimePoint now = host->lease_now();
      deferred.push_back(Deferred{true, 0, 0, 0, 0, 0, now, now + options.reconnect_interval});
      events_waiting.store(true, std::memory_order_release);
    }

    bool connect(std::chrono::steady_clock::time_point steady_now) noexcept {
      const bool ok = connection.ensure_connected(steady_now);
      note_outage();
      return ok;
    }

    // --- Local words -------------------------------------------------------------------------------

    // What is in hand for a limit, through the leased accounting's operations (the store never
    // writes a counter word itself).
    using Hand = keypool::accounting::LeasedWindow::Hand;
    static Hand hand(KeyLease& key, std::size_t i, std::uint64_t current) noexcept {
      const LimitLease& l = key.limits[i];
      if (l.rolling) return Hand{0, 0, keypool::accounting::LeasedRolling::hand(key.slot->counters[i])};
      return keypool::accounting::LeasedWindow::hand(l.plan, key.slot->counters[i], current);
    }

    // Adds `units` to what is in hand for window `epoch` (and settles `debt`). Returns false when
    // the local word has moved on to a later window (the units are then worthless).
    static bool give_hand(KeyLease& key, std::size_t i, std::uint64_t epoch, std::int64_t window_end, std::uint64_t units,
                          std::uint64_t debt) noexcept {
      const LimitLease& l = key.limits[i];
      if (!l.rolling) return keypool::accounting::LeasedWindow::give(l.plan, key.slot->counters[i], epoch, window_end, units, debt);
      keypool::accounting::LeasedRolling::give(key.slot->counters[i], units, debt);
      return true;
    }

    // Takes back everything in hand for window `epoch`: returns the units taken.
    static std::uint64_t take_hand(KeyLease& key, std::size_t i, std::uint64_t epoch) noexcept {
      const LimitLease& l = key.limits[i];
      if (l.rolling) return keypool::accounting::LeasedRolling::take(key.slot->counters[i]);
      return keypool::accounting::LeasedWindow::take(l.plan, key.slot->counters[i], epoch);
    }

    static std::uint64_t generation(const KeyLease& key) noexcept { return keypool::accounting::Leased::generation(*key.slot); }

    // --- Planning ------------------------------------------------------------------------------------

    // The lease command of limit `l` for window `epoch` (ending at `window_end`).
    detail::redis::Command lease_args(const LimitLease& l, std::uint64_t epoch, std::int64_t window_end, std::int64_t now_sec,
                                      const detail::redis::LeaseAsk& ask) const {
      const auto share = static_cast<std::uint64_t>(std::llround(options.max_share * 1000.0));
      if (l.rolling)
        return detail::redis::rolling_lease(connection.sha(detail::redis::Script::rolling), l.counter_prefix, l.plan.amount, l.plan.interval_ns, current_time,
                                            options.grace, share, ask);
      return detail::redis::window_lease(connection.sha(detail::redis::Script::lease), counter_name(l, epoch), l.plan.amount, window_end, now_sec, options.grace,
                                         share, ask);
    }

    // A calendar limit's current window; a rolling limit has one endless "window", epoch 0.
    static keypool::accounting::WindowNow window_of(const LimitLease& l, std::int64_t now_sec) noexcept {
      if (l.rolling) return {0, now_sec + 1};
      return keypool::accounting::current_window_of(l.plan.limit, now_sec);
    }
    static std::string counter_name(const LimitLease& l, std::uint64_t epoch) {
      return l.rolling ? l.counter_prefix : l.counter_prefix + std::to_string(epoch);
    }

    void start_window(LimitLease& l, std::uint64_t epoch) noexcept {
      if (l.epoch == epoch) return;
      l.epoch = epoch;
      l.granted = 0;
      l.consumed_mark = 0;
    }

    void sample_rate(LimitLease& l, const Hand& h, double dt) noexcept {
      const std::uint64_t in_hand = h.in_hand > 0 ? static_cast<std::uint64_t>(h.in_hand) : 0;
      const std::uint64_t consumed = l.granted - std::min(l.granted, in_hand) +
                                     (h.in_hand < 0 ? static_cast<std::uint64_t>(-h.in_hand) : 0);
      if (dt > 0.0) {
        const double delta = consumed >= l.consumed_mark ? static_cast<double>(consumed - l.consumed_mark) : 0.0;
        const double alpha = 1.0 - std::exp(-dt / 1.0);
        l.rate += alpha * (delta / dt - l.rate);
      }
      l.consumed_mark = consumed;
      // Sized to last lease_horizon at the smoothed rate; a size grown by refusals (lease_sync
      // doubles it) decays by a tenth per tick rather than collapsing at once.
      const double horizon = std::chrono::duration<double>(options.lease_horizon).count();
      const double by_rate = std::ceil(l.rate * horizon);
      const double decayed = static_cast<double>(l.size) * 0.9;
      const double want = std::max(by_rate, decayed);
      l.size = want >= static_cast<double>(l.max_lease) ? l.max_lease
                                                        : std::max(l.min_lease, static_cast<std::uint64_t>(want));
    }

    // Plans the background work: top-ups, debts, operator actions, control reads.
    void plan_tick(TimePoint now, std::vector<Planned>& plan, double dt) {
      const std::int64_t now_sec = detail::to_seconds(now);
      const auto steady_now = std::chrono::steady_clock::now();
      const std::size_t count = key_count.load(std::memory_order_acquire);
      const auto hold = std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.rolling_hold);
      const bool read_controls = steady_now >= next_control;
      if (read_controls)
        next_control = steady_now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.control_interval);
      for (std::size_t k = 0; k < count; ++k) {
        KeyLease& key = keys[k];
        if (key.slot == nullptr) continue;
        plan_control(k, key, now_sec, read_controls, plan);
        const bool blocked = keypool::accounting::Leased::resting(*key.slot, detail::to_ns(now));
        for (std::size_t i = 0; i < key.limit_count; ++i) {
          LimitLease& l = key.limits[i];
          if (!l.leased) continue;
          const keypool::accounting::WindowNow current = window_of(l, now_sec);
          const Hand h = hand(key, i, current.epoch);
          if (h.word_epoch > current.epoch) continue;  // the clock stepped back: leave that window alone
          start_window(l, current.epoch);
          sample_rate(l, h, dt);
          // Debts: the current window's, and a past window's still in the local word.
          std::uint64_t debt = h.in_hand < 0 ? static_cast<std::uint64_t>(-h.in_hand) : 0;
          if (h.word_epoch < current.epoch && h.used > l.plan.amount) {
            Planned p{Planned::What::lease, k, i, h.word_epoch, 0, h.used - l.plan.amount, 0, 0, {}};
            p.generation = generation(key);
            p.args = lease_args(l, h.word_epoch, keypool::accounting::window_end_of(l.plan.limit, h.word_epoch), now_sec,
                                {.change = -static_cast<std::int64_t>(p.debt)});
            plan.push_back(std::move(p));
          }
          if (l.rolling && h.in_hand > 0 && steady_now - l.leased_at > hold) {
            // Rolling units are spent soon after they are leased, or given back: held longer, they
            // would let this instance burst past the rate the fleet granted them at.
            const std::uint64_t giving = take_hand(key, i, 0);
            if (giving != 0) {
              Planned p{Planned::What::lease, k, i, 0, 0, 0, giving, 0, {}};
              p.generation = generation(key);
              p.args = lease_args(l, 0, 0, now_sec, {.change = static_cast<std::int64_t>(giving)});
              plan.push_back(std::move(p));
              continue;
            }
          }
          std::uint64_t owed = l.owed_epoch == current.epoch ? l.owed : 0;
          if (l.owed_epoch != current.epoch) l.owed = 0;
          const std::uint64_t in_hand = h.in_hand > 0 ? static_cast<std::uint64_t>(h.in_hand) : 0;
          const bool dry = l.dry_epoch == current.epoch && steady_now < l.dry_until;
          std::uint64_t want = 0;
          if (!blocked && !dry && in_hand * 2 < l.size) want = l.size - in_hand;
          if (want == 0 && debt == 0 && owed == 0) continue;
          Planned p{Planned::What::lease, k, i, current.epoch, want, debt, 0, owed, {}};
          p.generation = generation(key);
          p.args = lease_args(l, current.epoch, current.end, now_sec,
                              {.want = want, .minimum = std::min(want, l.min_lease), .change = -static_cast<std::int64_t>(debt + owed)});
          plan.push_back(std::move(p));
        }
      }
    }

    // Plans this instance's pending reset of key `k`, if any, and returns its limits. Commands
    // planned after it in the same pipeline run against the fresh counts.
    std::uint32_t plan_reset(std::size_t k, KeyLease& key, std::int64_t now_sec, std::vector<Planned>& plan) {
      const std::uint32_t reset = key.control.take_reset();
      if (reset == 0) return 0;
      try {
        Planned p{Planned::What::control, k, 0, 0, 0, 0, 0, 0, {}};
        std::vector<std::string> counters;
        for (std::size_t i = 0; i < key.limit_count; ++i) {
          const LimitLease& l = key.limits[i];
          if ((reset & (1u << i)) != 0 && l.leased) counters.push_back(counter_name(l, window_of(l, now_sec).epoch));
        }
        p.args = detail::redis::control_reset(connection.sha(detail::redis::Script::control), key.control_key, std::move(counters), reset, key.limit_count);
        p.action.reset = reset;
        plan.push_back(std::move(p));
      } catch (...) {
        key.control.publish_again({.reset = reset});  // not planned: still to publish
        throw;
      }
      return reset;
    }

    void plan_control(std::size_t k, KeyLease& key, std::int64_t now_sec, bool read_controls, std::vector<Planned>& plan) {
      const int disable = key.control.take_disable();
      const std::uint32_t reset = plan_reset(k, key, now_sec, plan);
      if (const std::uint64_t cool = key.control.take_cooldown(); cool != 0) {
        Planned p{Planned::What::control, k, 0, 0, 0, 0, 0, 0, {}};
        p.args = detail::redis::control_cooldown(connection.sha(detail::redis::Script::control), key.control_key, cool);
        p.action.cool = cool;
        plan.push_back(std::move(p));
      }
      if (const std::uint32_t fill = key.control.take_spent(); fill != 0) {
        for (std::size_t i = 0; i < key.limit_count; ++i) {
          const LimitLease& l = key.limits[i];
          if (!l.leased || l.rolling || (fill & (1u << i)) == 0) continue;
          const keypool::accounting::WindowNow current = window_of(l, now_sec);
          Planned p{Planned::What::lease, k, i, current.epoch, 0, 0, 0, 0, {}};
          p.generation = generation(key);
          p.args = lease_args(l, current.epoch, current.end, now_sec, {.fill = true});
          p.action.spent = 1u << i;
          plan.push_back(std::move(p));
        }
      }
      if (disable >= 0) {
        Planned p{Planned::What::control, k, 0, 0, 0, 0, 0, 0, {}};
        p.args = detail::redis::control_action(connection.sha(detail::redis::Script::control), key.control_key, disable == 1 ? "disable" : "enable");
        p.action.disable = disable;
        plan.push_back(std::move(p));
      }
      if (reset == 0 && disable < 0 && read_controls) {
        Planned p{Planned::What::control, k, 0, 0, 0, 0, 0, 0, {}};
        p.args = detail::redis::control_action(connection.sha(detail::redis::Script::control), key.control_key, "read");
        plan.push_back(std::move(p));
      }
    }

    // --- Applying replies --------------------------------------------------------------------------

    void apply(const Planned& p, const detail::redis::ScriptReply& reply, TimePoint now, bool ok) noexcept {
      KeyLease& key = keys[p.key];
      if (!ok) key.control.publish_again(p.action);  // unanswered operator actions are published again on the next round trip
      if (p.what == Planned::What::control) {
        if (ok) apply_control(p.key, key, reply, p.action.reset);
        return;
      }
      LimitLease& l = key.limits[p.limit];
      if (!ok) {
        // Unanswered: nothing was granted as far as we know (a lost grant is waste, never excess);
        // units given back are lost too; debts stay in the word and are sent again.
        return;
      }
      const std::uint64_t granted = reply.count(detail::redis::ScriptReply::granted);
      const std::uint64_t after = reply.count(detail::redis::ScriptReply::count_after);
      const std::uint64_t before = reply.count(detail::redis::ScriptReply::count_before);
      const std::int64_t now_sec = detail::to_seconds(now);
      if (p.owed != 0 && l.owed_epoch == p.epoch) l.owed -= std::min(l.owed, p.owed);
      stats.debited_late.fetch_add(p.debt + p.owed, std::memory_order_relaxed);
      stats.returned.fetch_add(p.giving, std::memory_order_relaxed);
      // A reset since this was planned voids it: the counts it would adjust are gone (a grant is
      // wasted, never spent against the fresh count; a debt was forgiven with the reset).
      const bool void_by_reset = generation(key) != p.generation;
      if (void_by_reset) {
        stats.dropped.fetch_add(granted, std::memory_order_relaxed);
      } else if (granted != 0 || p.debt != 0) {
        const std::int64_t end = l.rolling ? 0 : keypool::accounting::window_end_of(l.plan.limit, p.epoch);
        if (give_hand(key, p.limit, p.epoch, end, granted, p.debt)) {
          if (l.epoch == p.epoch) l.granted += granted;
          if (granted != 0) l.leased_at = std::chrono::steady_clock::now();
        } else {
          stats.dropped.fetch_add(granted, std::memory_order_relaxed);
        }
      }
      if (granted != 0) {
        stats.leases.fetch_add(1, std::memory_order_relaxed);
        stats.leased.fetch_add(granted, std::memory_order_relaxed);
      }
      if (p.want != 0 && granted < p.want && after >= l.plan.amount) {
        l.dry_epoch = p.epoch;
        l.dry_until = std::chrono::steady_clock::now() +
                      std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.dry_recheck);
      } else if (granted != 0) {
        l.dry_epoch = ~std::uint64_t{0};
      }
      if (l.rolling) {
        if (reply.size > detail::redis::ScriptReply::fleet_tat)
          l.fleet_tat.store(reply.count(detail::redis::ScriptReply::fleet_tat), std::memory_order_relaxed);
      } else if (p.epoch == l.epoch) {
        l.fleet.store(((p.epoch & fleet_epoch_mask) << fleet_count_bits) | std::min(after, fleet_count_mask),
                      std::memory_order_relaxed);
      }
      if (!l.rolling && after > before) {
        deferred.push_back(Deferred{false, p.key, p.limit, p.epoch, before, after, now, {}});
        events_waiting.store(true, std::memory_order_release);
      }
      (void)now_sec;
    }

    void apply_control(std::size_t k, KeyLease& key, const detail::redis::ScriptReply& reply, std::uint32_t own_reset) noexcept {
      const detail::redis::ControlNews news = key.control.read(reply, own_reset);
      // Another instance's cooldown (a 429 it saw): rest the key here too, unless disabled.
      if (news.cool_until_ns != 0 && host != nullptr) host->lease_cooldown(k, news.cool_until_ns);
      // Joining: take over a disable in force. Later: follow every change, either way (an enable
      // also ends a cooldown, as `enable` does).
      if (news.follow_disabled && host != nullptr) host->lease_disabled(k, news.disabled);
      // Resets of another instance (this instance's own are applied already).
      if (news.reset != 0 && host != nullptr) host->lease_reset(k, news.reset);
    }

    // --- The three callers -------------------------------------------------------------------------

    std::chrono::steady_clock::time_point last_tick{};
    TimePoint current_time{};  // the pool's time for the work in progress (under io)
    std::chrono::steady_clock::time_point next_control{};

    void tick(TimePoint now) noexcept {
      current_time = now;
      const auto steady_now = std::chrono::steady_clock::now();
      const double dt = last_tick == std::chrono::steady_clock::time_point{} ? 0.0
                                                                             : std::chrono::duration<double>(steady_now - last_tick).count();
      last_tick = steady_now;
      if (!connect(steady_now)) {
        if (options.on_outage == OnOutage::local_share) share_locally(now, nullptr);
        return;
      }
      try {
        std::vector<Planned> plan;
        plan_tick(now, plan, dt);
        if (plan.empty()) return;
        run_plan(plan, now, std::chrono::steady_clock::now() +
                                std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.timeout));
      } catch (...) {
        // Allocation failure: skip this tick.
      }
    }

    void run_plan(std::vector<Planned>& plan, TimePoint now, std::chrono::steady_clock::time_point deadline) noexcept {
      std::vector<detail::redis::Command> commands;
      std::vector<detail::redis::ScriptReply> replies;
      for (Planned& p : plan) commands.push_back(std::move(p.args));
      const bool ok = connection.exchange(commands, replies, deadline);
      note_outage();
      for (std::size_t i = 0; i < plan.size(); ++i) {
        const detail::redis::ScriptReply& r = replies[i];
        const bool good = ok && r.array && (plan[i].what == Planned::What::control || r.size >= 3);
        apply(plan[i], r, now, good);
      }
    }

    bool lease_sync(const detail::Amounts& amounts, TimePoint now) noexcept {
      if (host == nullptr) return false;
      const auto start = std::chrono::steady_clock::now();
      const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.timeout);
      // Wait for the background thread's round trip, if one is in flight, until the deadline.
      // (A polling try_lock, not timed_mutex::try_lock_until: ThreadSanitizer cannot see the
      // latter's pthread_mutex_clocklock, and the wait is one round trip at most anyway.)
      std::unique_lock lock{io, std::try_to_lock};
      while (!lock.owns_lock()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::microseconds{20});
        lock.try_lock();
      }
      current_time = now;
      std::vector<Planned> plan;
      // Resets taken for this round trip go back to the background thread if it is not sent.
      auto unsent = [&] {
        for (const Planned& p : plan)
          keys[p.key].control.publish_again(p.action);
      };
      try {
        const std::int64_t now_sec = detail::to_seconds(now);
        const std::size_t count = key_count.load(std::memory_order_acquire);
        bool in_hand_now = false;
        for (std::size_t k = 0; k < count; ++k) {
          KeyLease& key = keys[k];
          if (key.slot == nullptr) continue;
          if (keypool::accounting::Leased::resting(*key.slot, detail::to_ns(now))) continue;
          // A reset not yet published goes first in this round trip: the leases planned after it
          // are debited from the fresh count, not from the one it deletes.
          plan_reset(k, key, now_sec, plan);
          std::size_t short_limits = 0;
          std::size_t first = plan.size();
          bool dry = false;
          for (std::size_t i = 0; i < key.limit_count; ++i) {
            LimitLease& l = key.limits[i];
            if (!l.leased) continue;
            const keypool::accounting::WindowNow current = window_of(l, now_sec);
            const Hand h = hand(key, i, current.epoch);
            if (h.word_epoch > current.epoch) continue;
            start_window(l, current.epoch);
            const std::uint64_t need = amounts[static_cast<std::size_t>(l.plan.limit.metric())];
            const std::int64_t have = h.in_hand;
            if (have >= static_cast<std::int64_t>(need)) continue;
            ++short_limits;
            if (l.dry_epoch == current.epoch && start < l.dry_until) {
              dry = true;
              break;
            }
            const std::uint64_t shortfall = static_cast<std::uint64_t>(static_cast<std::int64_t>(need) - have);
            // The hand ran dry: the lease was too small for this rate. Double it.
            l.size = std::min(l.max_lease, l.size * 2);
            const std::uint64_t want = std::max(shortfall, l.size);
            Planned p{Planned::What::lease, k, i, current.epoch, want, 0, 0, 0, {}};
            p.generation = generation(key);
            p.args = lease_args(l, current.epoch, current.end, now_sec, {.want = want, .minimum = shortfall});
            plan.push_back(std::move(p));
          }
          if (dry) plan.erase(plan.begin() + static_cast<std::ptrdiff_t>(first), plan.end());  // this key cannot serve
          if (short_limits == 0) in_hand_now = true;  // another thread's lease landed meanwhile
        }
        if (in_hand_now) {
          unsent();
          return true;
        }
        // Reconnecting (connect, AUTH, loading scripts) is the background thread's job: it could
        // take several timeouts, and an acquire waits for one at most.
        const bool reconnect_here = !thread.joinable() && connection.may_connect(std::chrono::steady_clock::now());
        if (!connection.connected() && !reconnect_here) {
          unsent();
          if (options.on_outage == OnOutage::local_share) return share_locally(now, &amounts);
          return false;
        }
        if (plan.empty()) return false;
        stats.sync_round_trips.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t before = stats.leased.load(std::memory_order_relaxed);
        run_plan(plan, now, deadline);  // an unanswered reset is queued again by apply()
        if (!connection.counters().available.load(std::memory_order_relaxed) && options.on_outage == OnOutage::local_share)
          return share_locally(now, &amounts);
        return stats.leased.load(std::memory_order_relaxed) != before;
      } catch (...) {
        unsent();
        return false;
      }
    }

    // OnOutage::local_share: grant locally up to limit ÷ expected_instances per window (counting
    // what was leased in it), remembered as owed to Redis. Returns whether anything was granted.
    bool share_locally(TimePoint now, const detail::Amounts* amounts) noexcept {
      const std::int64_t now_sec = detail::to_seconds(now);
      const std::size_t count = key_count.load(std::memory_order_acquire);
      bool any = false;
      for (std::size_t k = 0; k < count; ++k) {
        KeyLease& key = keys[k];
        if (key.slot == nullptr) continue;
        for (std::size_t i = 0; i < key.limit_count; ++i) {
          LimitLease& l = key.limits[i];
          if (!l.leased || l.rolling) continue;  // a rate has no window share to grant: refused in an outage
          const keypool::accounting::WindowNow current = window_of(l, now_sec);
          const Hand h = hand(key, i, current.epoch);
          if (h.word_epoch > current.epoch) continue;
          start_window(l, current.epoch);
          const std::uint64_t share = (l.plan.amount + options.expected_instances - 1) / options.expected_instances;
          const std::uint64_t budget = share - std::min(share, l.granted);
          const std::uint64_t in_hand = h.in_hand > 0 ? static_cast<std::uint64_t>(h.in_hand) : 0;
          std::uint64_t want = in_hand * 2 < l.size ? l.size - in_hand : 0;
          if (amounts != nullptr) {
            const std::uint64_t need = (*amounts)[static_cast<std::size_t>(l.plan.limit.metric())];
            if (need > in_hand) want = std::max(want, need - in_hand);
          }
          const std::uint64_t g = std::min(want, budget);
          if (g == 0) continue;
          if (!give_hand(key, i, current.epoch, current.end, g, 0)) continue;
          l.granted += g;
          if (l.owed_epoch != current.epoch) {
            l.owed_epoch = current.epoch;
            l.owed = 0;
          }
          l.owed += g;
          stats.local_grants.fetch_add(g, std::memory_order_relaxed);
          any = true;
        }
      }
      return any;
    }

    // At detach: give back every unspent lease, and send debts and outage grants, in one round trip.
    void give_back_all(TimePoint now) noexcept {
      current_time = now;
      try {
        const std::int64_t now_sec = detail::to_seconds(now);
        const std::size_t count = key_count.load(std::memory_order_acquire);
        std::vector<Planned> plan;
        for (std::size_t k = 0; k < count; ++k) {
          KeyLease& key = keys[k];
          if (key.slot == nullptr) continue;
          for (std::size_t i = 0; i < key.limit_count; ++i) {
            LimitLease& l = key.limits[i];
            if (!l.leased) continue;
            const keypool::accounting::WindowNow current = window_of(l, now_sec);
            const Hand h = hand(key, i, current.epoch);
            const std::uint64_t debt = h.in_hand < 0 ? static_cast<std::uint64_t>(-h.in_hand) : 0;
            const std::uint64_t giving = take_hand(key, i, current.epoch);
            const std::uint64_t owed = l.owed_epoch == current.epoch ? l.owed : 0;
            if (giving == 0 && debt == 0 && owed == 0) continue;
            Planned p{Planned::What::lease, k, i, current.epoch, 0, debt, giving, owed, {}};
            p.generation = generation(key);
            p.args = lease_args(l, current.epoch, current.end, now_sec,
                                {.change = static_cast<std::int64_t>(giving) - static_cast<std::int64_t>(debt + owed)});
            plan.push_back(std::move(p));
          }
        }
        if (plan.empty()) return;
        run_plan(plan, now, std::chrono::steady_clock::now() +
                                std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.timeout));
      } catch (...) {
      }
    }
  };

  std::unique_ptr<State> state_;
};

}  // namespace keypool::store
