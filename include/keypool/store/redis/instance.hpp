// One store::Redis instance's state and its three kinds of round trip: the background tick, a
// refused acquire's synchronous lease, and the give-back at detach; and how replies are applied.
//
// The seam to the pool holds here: counter words change only through LeasedWindow's and
// LeasedRolling's hand operations, a key's health only through accounting::LeaseHost.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <keypool/accounting/leased.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/segmented.hpp>
#include <keypool/error.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/options.hpp>
#include <keypool/request.hpp>
#include <keypool/store/binding.hpp>
#include <keypool/store/redis/connection.hpp>
#include <keypool/store/redis/control.hpp>
#include <keypool/store/redis/lease_planner.hpp>
#include <keypool/store/redis/options.hpp>
#include <keypool/store/redis/scripts.hpp>
#include <keypool/time.hpp>

namespace keypool::detail::redis {

/// One limit of a key.
struct LimitLease {
  // Set by bind, for a calendar or a rolling limit (a per-request cap is checked locally).
  std::optional<LeasePlanner> planner;
  std::string counter;  // calendar: the counters' prefix (the window index follows); rolling: the counter
  // For snapshots (any thread), one word each: calendar, (window index mod 2^24) << 40 | the
  // fleet's count (saturating at 2^40 − 1); rolling, the fleet's TAT in microseconds.
  std::atomic<std::uint64_t> fleet{0};
  std::atomic<std::uint64_t> fleet_tat{0};

  static constexpr unsigned fleet_count_bits = 40;
  static constexpr std::uint64_t fleet_count_mask = (std::uint64_t{1} << fleet_count_bits) - 1;
  static constexpr std::uint64_t fleet_epoch_mask = (std::uint64_t{1} << 24) - 1;

  [[nodiscard]] std::string counter_name(std::uint64_t epoch) const {
    return planner->rolling() ? counter : counter + std::to_string(epoch);
  }
};

/// One key.
struct KeyLease {
  KeySlot* slot = nullptr;  // null until bound
  std::string label;
  std::string control_key;
  std::size_t limit_count = 0;
  std::array<LimitLease, max_limits_per_key> limits;
  KeyControl control;
};

/// What the store has counted itself (the connection counts the rest).
struct LeaseCounters {
  std::atomic<std::uint64_t> sync_round_trips{0}, leases{0}, leased{0}, returned{0}, debited_late{0}, local_grants{0},
      dropped{0};
};

/// One command of a round trip and what its reply is for.
struct Planned {
  enum class What : std::uint8_t { lease, control } what = What::lease;
  std::size_t key = 0;
  std::size_t limit = 0;
  std::uint64_t epoch = 0;
  std::uint64_t want = 0;
  std::uint64_t debt = 0;        // units of debt this command debits (settled locally on success)
  std::uint64_t giving = 0;      // units this command gives back (already taken from the hand)
  std::uint64_t owed = 0;        // outage grants this command debits
  std::uint64_t generation = 0;  // the key's reset generation when planned: a grant after a reset is void
  ControlAction action{};        // published again if the command is not answered
};

/// The commands of one pipeline, each with what its reply is for.
struct RoundTrip {
  std::vector<Planned> planned;
  std::vector<Command> commands;

  void add(const Planned& p, Command command) {
    commands.push_back(std::move(command));
    try {
      planned.push_back(p);
    } catch (...) {
      commands.pop_back();
      throw;
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return planned.size(); }
  [[nodiscard]] bool empty() const noexcept { return planned.empty(); }
  /// Drops the commands from the `n`th on.
  void truncate(std::size_t n) noexcept {
    if (n >= planned.size()) return;
    planned.erase(planned.begin() + static_cast<std::ptrdiff_t>(n), planned.end());
    commands.erase(commands.begin() + static_cast<std::ptrdiff_t>(n), commands.end());
  }
};

class Instance {
 public:
  /// Takes options already validated.
  explicit Instance(store::RedisOptions options)
      : options_(std::move(options)),
        prefix_(key_prefix(options_.pool)),
        share_permille_(static_cast<std::uint64_t>(std::llround(options_.max_share * 1000.0))),
        connection_(options_) {}
  ~Instance() { stop_thread(); }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  [[nodiscard]] const store::RedisOptions& options() const noexcept { return options_; }

  // --- Keys (store::Redis's StoragePolicy) -----------------------------------------------------------

  void reserve(std::size_t n) {
    slots_ = std::make_unique<detail::SegmentedArray<KeySlot>>(n);
    keys_ = std::make_unique<detail::SegmentedArray<KeyLease>>(n);
    capacity_.store(n, std::memory_order_release);
  }
  /// Room for `n` keys in all, keeping those bound where they are (the pool grew past its Capacity).
  void grow(std::size_t n) {
    slots_->grow_to(n);
    keys_->grow_to(n);
    capacity_.store(slots_->room(), std::memory_order_release);
  }

  [[nodiscard]] KeySlot* bind(const KeyBinding& binding) {
    if (binding.index >= capacity()) throw Error("store::Redis: key index beyond capacity");
    if (binding.label.empty()) throw Error("store::Redis: a key needs a label (its name in Redis)");
    KeyLease& key = (*keys_)[binding.index];
    key.label = std::string{binding.label};
    key.control_key = redis::control_key(prefix_, binding.label);
    key.limit_count = binding.limits.size();
    for (std::size_t i = 0; i < binding.limits.size(); ++i) {
      const Limit& limit = binding.limits[i];
      for (std::size_t p = 0; p < priority_count; ++p)
        if (limit.cap(static_cast<Priority>(p)) != limit.amount())
          throw Error("store::Redis: limit '" + limit.describe() + "' of key '" + key.label +
                      "' has per-priority headroom, which store::Redis does not lease yet");
      LimitLease& lease = key.limits[i];
      if (limit.kind() != Limit::Kind::window && limit.kind() != Limit::Kind::rolling) continue;
      // The pool's own figures (packing, interval).
      lease.planner.emplace(detail::LimitPlan{limit, Thresholds{}}, options_);
      lease.counter = lease.planner->rolling() ? rolling_counter(prefix_, binding.label, i)
                                               : window_counter_prefix(prefix_, binding.label, i);
    }
    key.slot = &(*slots_)[binding.index];
    const std::size_t count = key_count_.load(std::memory_order_relaxed);
    key_count_.store(std::max(count, binding.index + 1), std::memory_order_release);
    return key.slot;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_.load(std::memory_order_acquire); }
  [[nodiscard]] KeyLease& key(std::size_t k) noexcept { return (*keys_)[k]; }

  // --- The three callers -----------------------------------------------------------------------------

  /// Connects and starts the background thread (when refill_interval is not zero).
  void attach(accounting::LeaseHost& lease_host) {
    host_ = &lease_host;
    {
      std::lock_guard lock{io_};
      connect(std::chrono::steady_clock::now());
    }
    deliver();
    if (options_.refill_interval > Duration::zero()) thread_ = std::thread{[this] { background(); }};
  }

  /// Stops the thread, gives back what is in hand, disconnects.
  void detach() noexcept {
    stop_thread();
    {
      std::lock_guard lock{io_};
      if (host_ != nullptr) give_back_all(host_->lease_now());
      connection_.disconnect();
    }
    deliver();
    std::lock_guard lock{io_};
    host_ = nullptr;
  }

  /// Without a background thread: one tick now.
  void flush() noexcept {
    if (host_ == nullptr || thread_.joinable()) return;
    {
      std::lock_guard lock{io_};
      tick(host_->lease_now());
    }
    deliver();
  }

  /// A refused acquire: one round trip, at most `timeout`, for what `amounts` needs; `bound`: the
  /// longest wait a refusal for lack of quota may claim (see lease_for_refused).
  bool lease_sync(const Amounts& amounts, TimePoint now, Duration& bound) noexcept {
    const bool granted = lease_for_refused(amounts, now, bound);
    deliver();  // events of the round trip, outside the store's lock
    return granted;
  }

  void wake() noexcept {
    {
      std::lock_guard lock{wake_mutex_};
      woken_ = true;
    }
    wake_cv_.notify_one();
  }

  void stop_thread() noexcept {
    {
      std::lock_guard lock{wake_mutex_};
      stopping_ = true;
    }
    wake_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  // --- Inspection ------------------------------------------------------------------------------------

  /// The fleet's usage of a limit as last seen, less `in_hand` (see store::Redis::fleet_used).
  [[nodiscard]] std::uint64_t fleet_used(std::size_t k, std::size_t limit, std::uint64_t epoch, std::uint64_t in_hand,
                                         TimePoint now) const noexcept {
    if (k >= capacity() || limit >= max_limits_per_key) return 0;
    const LimitLease& lease = (*keys_)[k].limits[limit];
    if (!lease.planner) return 0;
    const detail::LimitPlan& plan = lease.planner->plan();
    if (lease.planner->rolling()) {
      const std::uint64_t tat_us = lease.fleet_tat.load(std::memory_order_relaxed);
      if (tat_us == 0) return 0;  // never leased
      // The fleet's theoretical arrival time, in microseconds: what is not yet replenished.
      const double ahead_us = static_cast<double>(tat_us) - static_cast<double>(detail::to_ns(now)) / 1000.0;
      const double interval_us = static_cast<double>(plan.interval_ns) / 1000.0;
      const auto used =
          ahead_us <= 0 ? std::uint64_t{0} : std::min(plan.amount, static_cast<std::uint64_t>(std::ceil(ahead_us / interval_us)));
      return used - std::min(used, in_hand);
    }
    const std::uint64_t fleet = lease.fleet.load(std::memory_order_relaxed);
    if ((fleet >> LimitLease::fleet_count_bits) != (epoch & LimitLease::fleet_epoch_mask)) return 0;
    const std::uint64_t debited = fleet & LimitLease::fleet_count_mask;
    return debited - std::min(debited, in_hand);
  }

  [[nodiscard]] const LeaseCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const Connection::Counters& connection_counters() const noexcept { return connection_.counters(); }

 private:
  const store::RedisOptions options_;
  const std::string prefix_;
  const std::uint64_t share_permille_;

  std::unique_ptr<detail::SegmentedArray<KeySlot>> slots_;   // never moves a slot: grows in blocks
  std::unique_ptr<detail::SegmentedArray<KeyLease>> keys_;
  std::atomic<std::size_t> capacity_{0};
  std::atomic<std::size_t> key_count_{0};
  accounting::LeaseHost* host_ = nullptr;
  LeaseCounters counters_;

  // The connection and everything planned with it.
  std::mutex io_;
  Connection connection_;
  SteadyTime last_tick_{};
  SteadyTime next_control_{};

  // --- Events, delivered once `io_` is released: a sink may call back into the pool ------------------

  struct Deferred {
    bool outage;
    std::size_t key, limit;
    std::uint64_t epoch, before, after;
    TimePoint at, retry_at;
  };
  std::vector<Deferred> deferred_;
  std::vector<Deferred> delivering_;  // the thread delivering takes turns through `deliver_mutex_`
  std::mutex deliver_mutex_;
  std::atomic<bool> events_waiting_{false};

  void defer(const Deferred& d) noexcept {
    try {
      deferred_.push_back(d);
      events_waiting_.store(true, std::memory_order_release);
    } catch (...) {
      // No memory for the event: it is lost, the accounting is not.
    }
  }

  void deliver() noexcept {
    if (!events_waiting_.load(std::memory_order_acquire)) return;  // the common case: nothing, no lock
    std::lock_guard turn{deliver_mutex_};
    {
      std::lock_guard lock{io_};
      delivering_.swap(deferred_);
      events_waiting_.store(false, std::memory_order_release);
    }
    for (const Deferred& d : delivering_) {
      if (host_ == nullptr) break;
      if (d.outage) host_->lease_backend_unavailable(d.at, d.retry_at);
      else host_->lease_fleet_usage(d.key, d.limit, d.epoch, d.before, d.after, d.at);
    }
    delivering_.clear();
  }

  // An outage the connection just found: announced once, with the next reconnect attempt.
  void note_outage() noexcept {
    if (!connection_.take_outage() || host_ == nullptr) return;
    const TimePoint now = host_->lease_now();
    defer(Deferred{true, 0, 0, 0, 0, 0, now, now + options_.reconnect_interval});
  }

  bool connect(SteadyTime steady_now) noexcept {
    const bool ok = connection_.ensure_connected(steady_now);
    note_outage();
    return ok;
  }

  // --- The background thread -------------------------------------------------------------------------

  std::thread thread_;
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
  bool stopping_ = false;
  bool woken_ = false;

  void background() noexcept {
    for (;;) {
      {
        std::unique_lock lock{wake_mutex_};
        wake_cv_.wait_for(lock, options_.refill_interval, [this] { return stopping_ || woken_; });
        if (stopping_) return;
        woken_ = false;
      }
      {
        std::lock_guard lock{io_};
        tick(host_->lease_now());
      }
      deliver();
    }
  }

  // --- Local words: the leased accounting's hand operations only -------------------------------------

  static Hand hand(KeyLease& key, std::size_t i, std::uint64_t current) noexcept {
    const LeasePlanner& planner = *key.limits[i].planner;
    if (planner.rolling()) return Hand{0, 0, accounting::LeasedRolling::hand(key.slot->counters[i])};
    return accounting::LeasedWindow::hand(planner.plan(), key.slot->counters[i], current);
  }

  // Adds `units` to what is in hand for window `epoch` (and settles `debt`). False when the local
  // word has moved on to a later window (the units are then worthless).
  static bool give_hand(KeyLease& key, std::size_t i, std::uint64_t epoch, std::int64_t window_end, std::uint64_t units,
                        std::uint64_t debt) noexcept {
    const LeasePlanner& planner = *key.limits[i].planner;
    if (!planner.rolling())
      return accounting::LeasedWindow::give(planner.plan(), key.slot->counters[i], epoch, window_end, units, debt);
    accounting::LeasedRolling::give(key.slot->counters[i], units, debt);
    return true;
  }

  // Takes back everything in hand for window `epoch`: returns the units taken.
  static std::uint64_t take_hand(KeyLease& key, std::size_t i, std::uint64_t epoch) noexcept {
    const LeasePlanner& planner = *key.limits[i].planner;
    if (planner.rolling()) return accounting::LeasedRolling::take(key.slot->counters[i]);
    return accounting::LeasedWindow::take(planner.plan(), key.slot->counters[i], epoch);
  }

  static std::uint64_t generation(const KeyLease& key) noexcept { return accounting::Leased::generation(*key.slot); }

  // --- Walking the keys ------------------------------------------------------------------------------

  // One leased limit of one key, as a walk finds it: its window now and what its word holds.
  struct LimitAt {
    std::size_t key_index;
    KeyLease& key;
    std::size_t index;
    LimitLease& limit;
    LeasePlanner& planner;
    accounting::WindowNow current;
    Hand hand;
    // The word is in a later window than the clock's (the clock stepped back): left alone.
    [[nodiscard]] bool later_window() const noexcept { return hand.word_epoch > current.epoch; }
  };
  enum class Windows : std::uint8_t { current_only, any };

  // Calls `visit(k, key)` for every bound key, in order.
  template <class Visit>
  void for_each_key(Visit&& visit) {
    const std::size_t count = key_count_.load(std::memory_order_acquire);
    for (std::size_t k = 0; k < count; ++k)
      if ((*keys_)[k].slot != nullptr) visit(k, (*keys_)[k]);
  }

  // Calls `visit(LimitAt&)` for every leased limit of key `k` at `now_sec`, its planner moved to
  // the current window; with Windows::current_only, not for a word in a later window. `visit`
  // returns false to leave the key's other limits.
  template <class Visit>
  void for_each_limit(std::size_t k, KeyLease& key, std::int64_t now_sec, Windows windows, Visit&& visit) {
    for (std::size_t i = 0; i < key.limit_count; ++i) {
      LimitLease& limit = key.limits[i];
      if (!limit.planner) continue;
      const accounting::WindowNow current = limit.planner->window(now_sec);
      LimitAt at{k, key, i, limit, *limit.planner, current, hand(key, i, current.epoch)};
      if (at.later_window()) {
        if (windows == Windows::current_only) continue;
      } else {
        at.planner.start_window(current.epoch);
      }
      if (!visit(at)) return;
    }
  }

  // Every leased limit of every bound key.
  template <class Visit>
  void for_each_limit(std::int64_t now_sec, Windows windows, Visit&& visit) {
    for_each_key([&](std::size_t k, KeyLease& key) { for_each_limit(k, key, now_sec, windows, visit); });
  }

  // --- Planning ----------------------------------------------------------------------------------------

  Command lease_command(const LimitAt& at, std::uint64_t epoch, std::int64_t window_end, TimePoint now, const LeaseAsk& ask) const {
    const detail::LimitPlan& plan = at.planner.plan();
    if (at.planner.rolling())
      return rolling_lease(connection_.sha(Script::rolling), at.limit.counter, plan.amount, plan.interval_ns, now, options_.grace,
                           share_permille_, ask);
    return window_lease(connection_.sha(Script::lease), at.limit.counter_name(epoch), plan.amount, window_end,
                        detail::to_seconds(now), options_.grace, share_permille_, ask);
  }

  // A lease command of `at` for window `epoch`, at the key's reset generation now (after its
  // pending reset was taken: see plan_reset).
  static Planned lease_for(const LimitAt& at, std::uint64_t epoch) noexcept {
    Planned p;
    p.key = at.key_index;
    p.limit = at.index;
    p.epoch = epoch;
    p.generation = generation(at.key);
    return p;
  }

  // Plans this instance's pending reset of key `k`, if any, and returns its limits. Commands
  // planned after it in the same round trip run against the fresh counts; so does the planner,
  // which forgets that Redis had nothing left for them.
  //
  // The pool bumps the key's generation and clears its words before it queues the reset here.
  // A lease sent before this reset's round trip was debited from the count it deletes: its grant
  // is void when it lands after the generation moved or while the reset waits here (apply). One
  // that landed in between (the pool paused after bumping, longer than a round trip, before
  // queueing) is taken back from the hand now, unspent or not: what is in hand for these limits
  // when their reset is taken came from the count the reset deletes.
  std::uint32_t plan_reset(std::size_t k, KeyLease& key, std::int64_t now_sec, RoundTrip& trip) {
    const std::uint32_t reset = key.control.take_reset();
    if (reset == 0) return 0;
    try {
      std::vector<std::string> counters;
      for (std::size_t i = 0; i < key.limit_count; ++i) {
        LimitLease& l = key.limits[i];
        if ((reset & (1u << i)) == 0 || !l.planner) continue;
        const std::uint64_t epoch = l.planner->window(now_sec).epoch;
        counters.push_back(l.counter_name(epoch));
        l.planner->forget_dry();
        l.fleet.store(0, std::memory_order_relaxed);
        counters_.dropped.fetch_add(take_hand(key, i, epoch), std::memory_order_relaxed);
      }
      Planned p;
      p.what = Planned::What::control;
      p.key = k;
      p.action.reset = reset;
      trip.add(p, control_reset(connection_.sha(Script::control), key.control_key, std::move(counters), reset, key.limit_count));
    } catch (...) {
      key.control.publish_again(ControlAction{.reset = reset});  // not planned: still to publish
      throw;
    }
    return reset;
  }

  // Plans key `k`'s pending operator actions and provider answers, and a read of its control hash
  // when `read_controls` and no action reads it anyway.
  void plan_control(std::size_t k, KeyLease& key, TimePoint now, bool read_controls, RoundTrip& trip) {
    const std::int64_t now_sec = detail::to_seconds(now);
    const std::uint32_t reset = plan_reset(k, key, now_sec, trip);
    // Taken now; what is not planned when an allocation fails is published again.
    ControlAction left{.disable = key.control.take_disable(), .cool = key.control.take_cooldown(),
                       .spent = key.control.take_spent()};
    const bool disable_or_enable = left.disable >= 0;
    try {
      const std::string& sha = connection_.sha(Script::control);
      Planned control;
      control.what = Planned::What::control;
      control.key = k;
      if (left.cool != 0) {
        Planned p = control;
        p.action.cool = left.cool;
        trip.add(p, control_cooldown(sha, key.control_key, left.cool));
        left.cool = 0;
      }
      if (left.spent != 0) {
        // The provider said these windows are spent: the fleet's count is raised to the limit.
        for_each_limit(k, key, now_sec, Windows::any, [&](LimitAt& at) {
          const std::uint32_t bit = 1u << at.index;
          if (at.planner.rolling() || (left.spent & bit) == 0) return true;
          Planned p = lease_for(at, at.current.epoch);
          p.action.spent = bit;
          trip.add(p, lease_command(at, at.current.epoch, at.current.end, now, LeaseAsk{.fill = true}));
          left.spent &= ~bit;
          return true;
        });
        left.spent = 0;  // the others are not leased calendar limits: nothing to raise
      }
      if (disable_or_enable) {
        Planned p = control;
        p.action.disable = left.disable;
        trip.add(p, control_action(sha, key.control_key, left.disable == 1 ? "disable" : "enable"));
        left.disable = -1;
      }
      if (reset == 0 && !disable_or_enable && read_controls) trip.add(control, control_action(sha, key.control_key, "read"));
    } catch (...) {
      key.control.publish_again(left);
      throw;
    }
  }

  // The background's work: operator actions, control reads, and what each limit's planner asks
  // for (top-ups, debts, give-backs, outage grants to debit).
  void plan_tick(TimePoint now, double dt, RoundTrip& trip) {
    const std::int64_t now_sec = detail::to_seconds(now);
    const auto steady_now = std::chrono::steady_clock::now();
    const bool read_controls = steady_now >= next_control_;
    if (read_controls)
      next_control_ = steady_now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.control_interval);
    for_each_key([&](std::size_t k, KeyLease& key) {
      // A key's first round trip reads its control hash ahead of its leases (KeyControl::seen).
      plan_control(k, key, now, read_controls || !key.control.seen(), trip);
      const bool resting = accounting::Leased::resting(*key.slot, detail::to_ns(now));
      for_each_limit(k, key, now_sec, Windows::current_only, [&](LimitAt& at) {
        const TickAsk ask = at.planner.tick(at.hand, at.current.epoch, steady_now, dt, resting);
        if (ask.past_debt != 0) {
          Planned p = lease_for(at, at.hand.word_epoch);
          p.debt = ask.past_debt;
          trip.add(p, lease_command(at, p.epoch, at.planner.window_end(p.epoch), now,
                                    LeaseAsk{.change = -static_cast<std::int64_t>(p.debt)}));
        }
        if (ask.give_back) {
          if (const std::uint64_t giving = take_hand(at.key, at.index, at.current.epoch); giving != 0) {
            at.planner.gave_back(giving);
            Planned p = lease_for(at, at.current.epoch);
            p.giving = giving;
            trip.add(p, lease_command(at, p.epoch, at.current.end, now, LeaseAsk{.change = static_cast<std::int64_t>(giving)}));
            return true;
          }
        }
        if (ask.want == 0 && ask.debt == 0 && ask.owed == 0) return true;
        Planned p = lease_for(at, at.current.epoch);
        p.want = ask.want;
        p.debt = ask.debt;
        p.owed = ask.owed;
        trip.add(p, lease_command(at, p.epoch, at.current.end, now,
                                  LeaseAsk{.want = ask.want, .minimum = ask.minimum,
                                           .change = -static_cast<std::int64_t>(ask.debt + ask.owed)}));
        return true;
      });
    });
  }

  // --- Applying replies --------------------------------------------------------------------------------

  void apply(const Planned& p, const ScriptReply& reply, TimePoint now, bool answered) noexcept {
    KeyLease& key = (*keys_)[p.key];
    if (!answered) key.control.publish_again(p.action);  // operator actions are never lost
    if (p.what == Planned::What::control) {
      if (answered) apply_control(p.key, key, reply, p.action.reset);
      return;
    }
    // Unanswered: nothing was granted as far as we know (a lost grant is waste, never excess);
    // units given back are lost too; debts stay in the word and are sent again.
    if (!answered) return;
    LimitLease& l = key.limits[p.limit];
    LeasePlanner& planner = *l.planner;
    const std::uint64_t granted = reply.count(ScriptReply::granted);
    const std::uint64_t after = reply.count(ScriptReply::count_after);
    const std::uint64_t before = reply.count(ScriptReply::count_before);
    const auto steady_now = std::chrono::steady_clock::now();
    planner.debited_owed(p.epoch, p.owed);
    counters_.debited_late.fetch_add(p.debt + p.owed, std::memory_order_relaxed);
    counters_.returned.fetch_add(p.giving, std::memory_order_relaxed);
    // A reset since this was planned voids it: the counts it would adjust are gone (a grant is
    // wasted, never spent against the fresh count; a debt was forgiven with the reset), and what
    // it says of the fleet's count (dry, the count for snapshots) is about the count before.
    const bool void_reply = generation(key) != p.generation || key.control.reset_pending(p.limit);
    if (void_reply) {
      counters_.dropped.fetch_add(granted, std::memory_order_relaxed);
    } else if (granted != 0 || p.debt != 0) {
      if (give_hand(key, p.limit, p.epoch, planner.window_end(p.epoch), granted, p.debt)) planner.landed(p.epoch, granted, steady_now);
      else counters_.dropped.fetch_add(granted, std::memory_order_relaxed);
    }
    if (granted != 0) {
      counters_.leases.fetch_add(1, std::memory_order_relaxed);
      counters_.leased.fetch_add(granted, std::memory_order_relaxed);
    }
    if (!void_reply) planner.answered(p.epoch, p.want, granted, after, steady_now);
    if (planner.rolling()) {
      if (reply.size > ScriptReply::fleet_tat) l.fleet_tat.store(reply.count(ScriptReply::fleet_tat), std::memory_order_relaxed);
      return;
    }
    if (!void_reply && planner.epoch() == p.epoch)
      l.fleet.store(((p.epoch & LimitLease::fleet_epoch_mask) << LimitLease::fleet_count_bits) |
                        std::min(after, LimitLease::fleet_count_mask),
                    std::memory_order_relaxed);
    if (after > before) defer(Deferred{false, p.key, p.limit, p.epoch, before, after, now, {}});
  }

  void apply_control(std::size_t k, KeyLease& key, const ScriptReply& reply, std::uint32_t own_reset) noexcept {
    const ControlNews news = key.control.read(reply, own_reset);
    // Another instance's cooldown (a 429 it saw): rest the key here too, unless disabled.
    if (news.cool_until_ns != 0 && host_ != nullptr) host_->lease_cooldown(k, news.cool_until_ns);
    // Joining: take over a disable in force. Later: follow every change, either way (an enable
    // also ends a cooldown, as `enable` does).
    if (news.follow_disabled && host_ != nullptr) host_->lease_disabled(k, news.disabled);
    if (news.reset == 0) return;
    for (std::size_t i = 0; i < key.limit_count; ++i)
      if ((news.reset & (1u << i)) != 0 && key.limits[i].planner) {
        key.limits[i].planner->forget_dry();
        key.limits[i].fleet.store(0, std::memory_order_relaxed);
      }
    if (host_ != nullptr) host_->lease_reset(k, news.reset);
  }

  // Sends `trip` and applies every reply (unanswered ones too: their actions are queued again).
  void send(const RoundTrip& trip, TimePoint now, SteadyTime deadline) noexcept {
    std::vector<ScriptReply> replies;
    const bool ok = connection_.exchange(trip.commands, replies, deadline);
    note_outage();
    for (std::size_t i = 0; i < trip.size(); ++i) {
      const Planned& p = trip.planned[i];
      const ScriptReply& r = replies[i];
      const bool answered = ok && r.array && (p.what == Planned::What::control || r.size >= 3);
      apply(p, r, now, answered);
    }
  }

  // A round trip planned but not sent: its actions are published again.
  void unsent(const RoundTrip& trip) noexcept {
    for (const Planned& p : trip.planned) (*keys_)[p.key].control.publish_again(p.action);
  }

  SteadyTime deadline_from(SteadyTime start) const noexcept {
    return start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.timeout);
  }

  // --- The three round trips ---------------------------------------------------------------------------

  void tick(TimePoint now) noexcept {
    const auto steady_now = std::chrono::steady_clock::now();
    const double dt = last_tick_ == SteadyTime{} ? 0.0 : std::chrono::duration<double>(steady_now - last_tick_).count();
    last_tick_ = steady_now;
    if (!connect(steady_now)) {
      if (options_.on_outage == store::RedisOnOutage::local_share) share_locally(now, nullptr);
      return;
    }
    RoundTrip trip;
    try {
      plan_tick(now, dt, trip);
    } catch (...) {
      unsent(trip);  // allocation failure: skip this tick
      return;
    }
    if (!trip.empty()) send(trip, now, deadline_from(std::chrono::steady_clock::now()));
  }

  // A refused acquire's round trip. `bound` is set to the longest wait a refusal may claim
  // (known_wait): left at Duration::max() only when every key is known spent or disabled.
  // Without an answer about the keys (the lock or the connection unavailable, a lease's units
  // taken by another thread before the retry) one control interval, by which the background has
  // leased again, read the fleet's operator actions, or found Redis back.
  bool lease_for_refused(const Amounts& amounts, TimePoint now, Duration& bound) noexcept {
    if (host_ == nullptr) return false;
    const auto start = std::chrono::steady_clock::now();
    const SteadyTime deadline = deadline_from(start);
    const Duration unknown = options_.control_interval;
    // Wait for the background thread's round trip, if one is in flight, until the deadline.
    // (A polling try_lock, not timed_mutex::try_lock_until: ThreadSanitizer cannot see the
    // latter's pthread_mutex_clocklock, and the wait is one round trip at most anyway.)
    std::unique_lock lock{io_, std::try_to_lock};
    while (!lock.owns_lock()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        bound = unknown;  // no answer: nothing known of the fleet's counts
        return false;
      }
      std::this_thread::sleep_for(std::chrono::microseconds{20});
      lock.try_lock();
    }
    RoundTrip trip;
    try {
      const std::int64_t now_sec = detail::to_seconds(now);
      bool in_hand_now = false;
      for_each_key([&](std::size_t k, KeyLease& key) {
        if (accounting::Leased::resting(*key.slot, detail::to_ns(now))) return;
        // A reset not yet published goes first in this round trip: the leases planned after it
        // are debited from the fresh count, not from the one it deletes.
        const std::uint32_t reset = plan_reset(k, key, now_sec, trip);
        // A key's first lease: its control hash is read ahead of it (KeyControl::seen).
        if (reset == 0 && !key.control.seen()) {
          Planned read;
          read.what = Planned::What::control;
          read.key = k;
          trip.add(read, control_action(connection_.sha(Script::control), key.control_key, "read"));
        }
        std::size_t short_limits = 0;
        const std::size_t first = trip.size();
        bool dry = false;
        for_each_limit(k, key, now_sec, Windows::current_only, [&](LimitAt& at) {
          const std::uint64_t need = amounts[static_cast<std::size_t>(at.planner.plan().limit.metric())];
          const RefusalAsk ask = at.planner.refused(at.hand, need, at.current.epoch, start);
          if (ask.what == RefusalAsk::What::enough) return true;
          ++short_limits;
          if (ask.what == RefusalAsk::What::dry) {
            dry = true;
            return false;
          }
          Planned p = lease_for(at, at.current.epoch);
          p.want = ask.want;
          trip.add(p, lease_command(at, p.epoch, at.current.end, now, LeaseAsk{.want = ask.want, .minimum = ask.minimum}));
          return true;
        });
        if (dry) trip.truncate(first);  // this key cannot serve
        if (short_limits == 0) in_hand_now = true;  // another thread's lease landed meanwhile
      });
      if (in_hand_now) {
        unsent(trip);
        bound = unknown;  // the retry may lose the units to another thread, not to the fleet
        return true;
      }
      // Reconnecting (connect, AUTH, loading scripts) is the background thread's job: it could
      // take several timeouts, and an acquire waits for one at most.
      const bool reconnect_here = !thread_.joinable() && connection_.may_connect(std::chrono::steady_clock::now());
      if (!connection_.connected() && !reconnect_here) {
        unsent(trip);
        bound = unknown;  // Redis away: nothing known of the fleet's counts
        if (options_.on_outage == store::RedisOnOutage::local_share) return share_locally(now, &amounts);
        return false;
      }
      bool granted = false;
      if (!trip.empty()) {
        counters_.sync_round_trips.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t before = counters_.leased.load(std::memory_order_relaxed);
        send(trip, now, deadline);  // an unanswered reset is queued again by apply()
        if (!connection_.counters().available.load(std::memory_order_relaxed) &&
            options_.on_outage == store::RedisOnOutage::local_share) {
          bound = unknown;
          return share_locally(now, &amounts);
        }
        granted = counters_.leased.load(std::memory_order_relaxed) != before;
      }
      bound = granted ? unknown : known_wait(amounts, now, start);
      return granted;
    } catch (...) {
      unsent(trip);
      bound = unknown;
      return false;
    }
  }

  // The longest wait a refusal of `amounts` at `now` may claim, from what this instance knows:
  // Duration::max() (no bound: the words' waits stand) when every key is disabled or has a limit
  // the request needs that Redis said is spent for its window (a dry mark, set only by an answer
  // after the last reset this instance knows of) or that can never admit it. A key not known
  // spent serves again after its cooldown, if it cools down, else within one control interval.
  Duration known_wait(const Amounts& amounts, TimePoint now, SteadyTime steady_now) noexcept {
    const std::int64_t now_sec = detail::to_seconds(now);
    const std::uint64_t now_ns = detail::to_ns(now);
    Duration bound = Duration::max();
    for_each_key([&](std::size_t k, KeyLease& key) {
      const std::uint64_t blocked = detail::health::blocked(*key.slot);
      if (blocked == disabled_until) return;
      bool spent = false;
      for_each_limit(k, key, now_sec, Windows::current_only, [&](LimitAt& at) {
        const std::uint64_t need = amounts[static_cast<std::size_t>(at.planner.plan().limit.metric())];
        spent = need > at.planner.plan().amount ||
                (at.hand.in_hand < static_cast<std::int64_t>(need) && at.planner.dry(at.current.epoch, steady_now));
        return !spent;
      });
      if (spent) return;
      const Duration rests = blocked > now_ns ? Duration{static_cast<std::int64_t>(blocked - now_ns)} : options_.control_interval;
      bound = std::min(bound, rests);
    });
    return bound;
  }

  // RedisOnOutage::local_share: grants locally what each limit's planner allows (its share of the
  // window, counting what was leased in it), remembered as owed to Redis. Returns whether
  // anything was granted.
  bool share_locally(TimePoint now, const Amounts* amounts) noexcept {
    bool any = false;
    for_each_limit(detail::to_seconds(now), Windows::current_only, [&](LimitAt& at) {
      const std::uint64_t need = amounts != nullptr ? (*amounts)[static_cast<std::size_t>(at.planner.plan().limit.metric())] : 0;
      const std::uint64_t g = at.planner.outage_grant(at.hand, need);
      if (g == 0 || !give_hand(at.key, at.index, at.current.epoch, at.current.end, g, 0)) return true;
      at.planner.granted_locally(at.current.epoch, g);
      counters_.local_grants.fetch_add(g, std::memory_order_relaxed);
      any = true;
      return true;
    });
    return any;
  }

  // At detach: gives back every unspent lease, and sends debts and outage grants, in one round trip.
  void give_back_all(TimePoint now) noexcept {
    RoundTrip trip;
    try {
      for_each_limit(detail::to_seconds(now), Windows::any, [&](LimitAt& at) {
        const std::uint64_t debt = LeasePlanner::debt_of(at.hand);
        const std::uint64_t giving = take_hand(at.key, at.index, at.current.epoch);
        const std::uint64_t owed = at.planner.owed(at.current.epoch);
        if (giving == 0 && debt == 0 && owed == 0) return true;
        Planned p = lease_for(at, at.current.epoch);
        p.debt = debt;
        p.giving = giving;
        p.owed = owed;
        trip.add(p, lease_command(at, p.epoch, at.current.end, now,
                                  LeaseAsk{.change = static_cast<std::int64_t>(giving) - static_cast<std::int64_t>(debt + owed)}));
        return true;
      });
    } catch (...) {
      return;
    }
    if (!trip.empty()) send(trip, now, deadline_from(std::chrono::steady_clock::now()));
  }
};

}  // namespace keypool::detail::redis
