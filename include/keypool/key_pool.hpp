// keypool::KeyPool<Policies...>: the pool of API keys. For every outgoing call it answers, without
// a lock, which key to use and whether there is quota left on it, and it keeps the counts.
//
// The pool orchestrates; the work is elsewhere (docs/architecture.md follows one acquire and one
// commit through the files): counting in accounting/ (as the store's accounting says), health in
// detail/health.hpp, events in detail/event_reporter.hpp, forecasts in detail/forecaster.hpp,
// snapshots in detail/snapshot_builder.hpp, the selection context and tiers in
// detail/selection_context.hpp and detail/tier_index.hpp.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <keypool/accounting/accounting.hpp>
#include <keypool/alert/null.hpp>
#include <keypool/clock/coarse.hpp>
#include <keypool/concepts.hpp>
#include <keypool/detail/answers.hpp>
#include <keypool/detail/event_reporter.hpp>
#include <keypool/detail/exhaustion.hpp>
#include <keypool/detail/forecaster.hpp>
#include <keypool/detail/health.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/key_table.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/metering.hpp>
#include <keypool/detail/policy_pack.hpp>
#include <keypool/detail/prober.hpp>
#include <keypool/detail/provider_reports.hpp>
#include <keypool/detail/selection_context.hpp>
#include <keypool/detail/snapshot_builder.hpp>
#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/detail/tier_index.hpp>
#include <keypool/detail/wait_queue.hpp>
#include <keypool/dialect.hpp>
#include <keypool/error.hpp>
#include <keypool/events.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/lease.hpp>
#include <keypool/limit.hpp>
#include <keypool/options.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/secret.hpp>
#include <keypool/select/round_robin.hpp>
#include <keypool/snapshot.hpp>
#include <keypool/store/memory.hpp>
#include <keypool/time.hpp>

namespace keypool {

namespace detail {
/// Whether store S gives each bind a slot of its own whatever the label (`static constexpr bool
/// fresh_slots = true`, as store::Memory): a key whose limits change may then count afresh.
template <class S>
inline constexpr bool fresh_slots = requires { requires S::fresh_slots; };
}  // namespace detail

/// The pool, with its four policies resolved. Name it through `KeyPool<Policies...>`.
///
/// Thread safety: `acquire`, `acquire_for`, lease settlement, `snapshot`, `disable`, `enable`,
/// `reset*` and `poll` are thread-safe and may run concurrently with each other and with
/// `add_provider`/`add_key` (which serialize among themselves on an admin mutex that the hot path
/// never takes). The pool is neither copyable nor movable: leases point to it.
template <class Select, class Store, class Alerts, class Clock>
class BasicKeyPool final : private detail::LeaseOwner, private accounting::LeaseHost {
  static_assert(SelectionPolicy<Select>, "BasicKeyPool: Select must satisfy keypool::SelectionPolicy");
  static_assert(StoragePolicy<Store>, "BasicKeyPool: Store must satisfy keypool::StoragePolicy");
  static_assert(AlertSink<Alerts>, "BasicKeyPool: Alerts must satisfy keypool::AlertSink");
  static_assert(ClockPolicy<Clock>, "BasicKeyPool: Clock must satisfy keypool::ClockPolicy");

  /// How usage is counted: what the store declares (see accounting/accounting.hpp).
  using Accounting = accounting::of<Store>;
  static_assert(accounting::AccountingFor<Accounting, Store>,
                "BasicKeyPool: the store declares accounting::Leased but lacks a hook it calls "
                "(attach, detach, lease_sync, fleet_used, publish_*): see keypool::accounting::LeasingStore");

  using Events = detail::EventReporter<Alerts>;
  using Metering = detail::Metering<Accounting>;
  static constexpr bool events_enabled = Events::enabled;
  /// Threshold and exhaustion events judged on the counter words (else the store reports them).
  static constexpr bool counter_events = events_enabled && Accounting::events_from_counters;
  using Answers = detail::Answers<Accounting, Store, Events, counter_events>;

  template <class Pool>
  friend class detail::SelectionContext;
  using Context = detail::SelectionContext<BasicKeyPool>;

 public:
  using selection_type = Select;
  using storage_type = Store;
  using alert_type = Alerts;
  using clock_type = Clock;

  /// The most providers one pool may have.
  static constexpr std::size_t max_providers = detail::KeyTable::max_providers;

  /// Builds a pool. Arguments, in any order, each at most once: `Capacity` (default 64 keys),
  /// `Thresholds` (default 80/90/100%), `HealthOptions`, `ForecastOptions`, and instances of the
  /// pool's policies (those not given are default-constructed). Throws keypool::Error on a zero
  /// capacity, bad options, or when the storage cannot reserve room.
  template <class... Args>
  explicit BasicKeyPool(Args&&... args)
      : select_(detail::pick_arg<Select>(std::forward<Args>(args)...)),
        store_(detail::pick_arg<Store>(std::forward<Args>(args)...)),
        events_(detail::pick_arg<Alerts>(std::forward<Args>(args)...)),
        clock_(detail::pick_arg<Clock>(std::forward<Args>(args)...)),
        table_(detail::pick_arg<Capacity>(std::forward<Args>(args)...), detail::pick_arg<Thresholds>(std::forward<Args>(args)...)),
        health_(detail::pick_arg<HealthOptions>(std::forward<Args>(args)...)),
        forecaster_(detail::pick_arg<ForecastOptions>(std::forward<Args>(args)...)) {
    static_assert(((detail::count_of<std::remove_cvref_t<Args>, Args...>() == 1) && ...),
                  "keypool::KeyPool constructor: each option or policy may be passed at most once");
    static_assert(std::is_default_constructible_v<Store> || detail::count_of<Store, Args...>() == 1,
                  "keypool::KeyPool constructor: this storage policy has no default: pass one, e.g. "
                  "KeyPool<store::MappedFile> pool{store::MappedFile{\"quota.kp\"}}");
    static_assert((detail::is_one_of<std::remove_cvref_t<Args>, Capacity, Thresholds, HealthOptions, ForecastOptions, Select, Store, Alerts, Clock> && ...),
                  "keypool::KeyPool constructor: an argument is neither Capacity, Thresholds, HealthOptions, "
                  "nor one of this pool's policy types");
    if (health_.circuit_threshold == 0) throw Error("HealthOptions: circuit_threshold must be at least 1");
    store_.reserve(table_.slot_capacity());
    Accounting::attach(store_, static_cast<accounting::LeaseHost&>(*this));
  }

  BasicKeyPool(const BasicKeyPool&) = delete;
  BasicKeyPool& operator=(const BasicKeyPool&) = delete;

  /// Flushes storage (a store that leases quota first stops its thread and gives back what is in hand).
  /// Leases must not outlive the pool.
  ~BasicKeyPool() {
    Accounting::detach(store_);
    store_.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Configuration (admin mutex; never on the hot path)

  /// Adds a provider; lower `tier` is preferred by select::Priority; `dialect` is how its answers
  /// are read (`Lease::classify`; see keypool::Dialect). Throws keypool::Error on an empty or
  /// duplicate name, or when 256 providers exist. Thread-safe. O(providers).
  ProviderId add_provider(std::string_view name, std::uint32_t tier = 0, Dialect dialect = dialects::generic) {
    return table_.add_provider(name, tier, dialect);
  }
  /// add_provider(name, 0, dialect): `pool.add_provider("groq", kp::dialects::groq)`.
  ProviderId add_provider(std::string_view name, Dialect dialect) { return table_.add_provider(name, 0, dialect); }

  /// Adds a key with its limits (at most 8) and options, at any time: past the Capacity the pool
  /// was built with, it grows (allocating a block of records and store slots, under the admin
  /// mutex; acquires never wait for it and keep their speed). The label defaults to the redacted
  /// secret ("gsk_…3456", with "#2" appended if another key redacts alike). A label removed
  /// earlier (remove_key) may be added again: with the same limit layout it counts on where it
  /// counted (the provider counted it too). Raises key_added once the pool has been polled (keys added
  /// while configuring it, before the first poll, raise nothing). Throws keypool::Error on an unknown
  /// provider, an empty secret, a secret or label already in the pool, a limit without a period,
  /// more than 8 limits, a zero weight, 16,777,216 keys, or a storage policy that cannot grow
  /// (no `grow(capacity)`) when the Capacity is used up. The key is published with a release
  /// store: concurrent acquires see it whole or not at all. Thread-safe. O(keys).
  KeyId add_key(ProviderId provider, Secret secret, std::vector<Limit> limits, KeyOptions options = {}) {
    const KeyId id = report_repairs(
        provider, table_.add_key(provider, std::move(secret), std::move(limits), std::move(options),
                                 [this](const KeyBinding& binding) { return bind_slot(binding); },
                                 [this](const detail::KeyRecord& revived) {
                                   detail::health::enable(*revived.slot);
                                   Accounting::share_disabled(store_, revived.slot_index, false);
                                 }));
    // A running pool (polled at least once) reports the key; keys added while it is configured
    // before that say nothing (a restart must not page anyone once per key).
    if (polled_.load(std::memory_order_relaxed)) events_.key_changed(EventKind::key_added, table_.checked(id, "add_key"), clock_.now());
    return id;
  }

  /// Removes `key` from the pool: it is never granted again (from the next acquire on), leaves
  /// snapshots, forecasts and its provider's key count, and its label and secret are free for
  /// another key. Leases already granted on it settle as usual (their counts stay where they
  /// were counted). With a shared store the key is disabled for every process or instance
  /// sharing it (as disable(k) is); they remove it from their own pools themselves (secrets are
  /// never shared). Its KeyId is never reused; calls naming it then throw. Raises key_removed.
  /// Throws keypool::Error for an unknown or removed key. Thread-safe; lock-free for acquires.
  void remove_key(KeyId key) { remove_key(key, clock_.now()); }
  void remove_key(KeyId key, TimePoint now) {
    const detail::KeyRecord& record = table_.checked(key, "remove_key");
    detail::health::disable(*record.slot);  // first: no acquire passes its gate from here on
    record.answer_disabled.store(false, std::memory_order_relaxed);
    Accounting::share_disabled(store_, record.slot_index, true);
    if (table_.remove_key(record)) events_.key_changed(EventKind::key_removed, record, now);
  }

  /// Replaces `key`'s secret, keeping its label, limits, counts and health: leases granted from
  /// now on hand out the new secret (a lease granted before and read after sees the new one too;
  /// a reference it returned stays valid: the pool keeps every secret until it is destroyed). The
  /// new secret lives in this process only: other processes or instances sharing the key's
  /// counts rotate their own. Raises key_rotated (never naming either secret). Throws
  /// keypool::Error on an unknown or removed key, an empty secret or one already in the pool.
  /// Thread-safe; lock-free for acquires.
  void rotate_secret(KeyId key, Secret secret) { rotate_secret(key, std::move(secret), clock_.now()); }
  void rotate_secret(KeyId key, Secret secret, TimePoint now) {
    const detail::KeyRecord& record = table_.checked(key, "rotate_secret");
    table_.rotate_secret(record, std::move(secret));
    events_.key_changed(EventKind::key_rotated, record, now);
  }

  /// Gives `key` new limits (at most 8), keeping its KeyId, label, secret, models, group, health
  /// and the usage of its current windows. Only amounts or headroom changed: the same counters,
  /// exact, with any store. Otherwise fresh counters start from the usage carried over (a lease in
  /// flight settles on the old ones); store::MappedFile and store::Redis refuse that. With
  /// store::Redis new amounts lease from the fleet's same counts. docs/concepts.md, "Keys at run
  /// time", has the details. Raises key_limits_changed. Throws keypool::Error on an unknown or
  /// removed key, bad limits, or a refused change (nothing changed then). Thread-safe; lock-free
  /// for acquires.
  void set_limits(KeyId key, std::vector<Limit> limits) { set_limits(key, std::move(limits), clock_.now()); }
  void set_limits(KeyId key, std::vector<Limit> limits, TimePoint now) {
    const detail::KeyRecord& record = table_.checked(key, "set_limits");
    using Relimit = detail::KeyTable::Relimit;
    constexpr bool local = std::is_same_v<Accounting, accounting::Local>;
    constexpr Relimit how = !local ? Relimit::leased : detail::fresh_slots<Store> ? Relimit::fresh : Relimit::by_label;
    const accounting::Instant instant{now};
    const detail::KeyRecord& successor = table_.set_limits(
        record, std::move(limits), how, [this](const KeyBinding& binding) { return bind_slot(binding); },
        [&](const detail::KeyRecord& from, const detail::KeyRecord& to) {
          if constexpr (local) Metering::carry(from, to, instant);
        });
    // Leased: the closed record's slot asks the backend for nothing more (its units in hand stay
    // unspent until the window ends; debts of its leases in flight are still settled).
    if constexpr (!local) detail::health::disable(*record.slot);
    events_.key_changed(EventKind::key_limits_changed, successor, now);
  }

  /// Adds a group of keys of `provider` that share limits (the keys of one organization or
  /// project): `limits`, shared by all its keys and models, and per model `models` (Groq counts
  /// per model per organization). A key joins with `KeyOptions::group`; a request on it is
  /// admitted only when the key's limits, the group's and their model's all admit it (atomically:
  /// rolled back on the first refusal). Throws keypool::Error on an unknown provider, an empty or
  /// duplicate name, more than 8 limits per list, a model listed twice, or no room (Capacity::meters).
  /// Thread-safe. O(groups + models).
  GroupId add_group(ProviderId provider, std::string_view name, std::vector<Limit> limits, std::vector<ModelLimits> models = {}) {
    return report_repairs(provider, table_.add_group(provider, name, std::move(limits), std::move(models),
                                                     [this](const KeyBinding& binding) { return store_.bind(binding); }));
  }

  /// The id of model `name` for `Request::model` (interned: the same name gives the same id;
  /// models named in KeyOptions::models and add_group are interned too). Throws keypool::Error on
  /// an empty name or when 1,024 models exist. Thread-safe; takes the admin mutex: intern once.
  ModelId model(std::string_view name) { return table_.model(name); }
  /// Model `model`'s name ("" for ModelId{} or an unknown id). Thread-safe.
  [[nodiscard]] std::string_view model_name(ModelId model) const noexcept { return table_.model_name(model); }

  // ---------------------------------------------------------------------------------------------
  // The hot path

  /// Grants a key for `request` now, or refuses with the reason and the exact time to wait.
  /// Reads the clock once. Lock-free, allocation-free, never throws, never blocks; writes only
  /// the counter words of the key it grants (and rolls back partial reservations on a key that
  /// refuses). Refusing costs one pass over the keys, with loads only where a load shows a
  /// limit full. Thread-safe.
  /// With a store that leases quota (store::Redis), a refusal for lack of quota in hand first takes one
  /// synchronous lease from the backend (one round trip, bounded by the store's timeout, and
  /// skipped while the backend is known to be dry or unreachable), then tries once more.
  [[nodiscard]] Lease acquire(const Request& request = {}) noexcept { return acquire(request, clock_.now()); }
  [[nodiscard]] Lease acquire(const Request& request, TimePoint now) noexcept {
    Lease lease;  // filled in place: one named return, no copies
    if (static_cast<std::size_t>(request.priority) >= priority_count) [[unlikely]] {
      detail::LeaseAccess::refuse(lease, Refusal{Reason::invalid, Duration::max(), TimePoint::max()});
      return lease;
    }
    Context ctx{*this, request, now, detail::LeaseAccess::reservation(lease)};
    if (select_.select(ctx)) [[likely]] {
      detail::LeaseAccess::grant(lease, this);
      return lease;
    }
    // Nothing in hand (a store that leases quota): one refill (never more), then one more try.
    Duration bound = Duration::max();  // what the refusal may claim: the store may know less
    if (Accounting::refill(store_, detail::amounts_of(request), now, bound)) [[unlikely]] {
      Context retry{*this, request, now, detail::LeaseAccess::reservation(lease)};
      if (select_.select(retry)) {
        detail::LeaseAccess::grant(lease, this);
        return lease;
      }
    }
    Refusal refusal = ctx.refusal();
    if (bound < refusal.retry_after && refusal.retry_after != Duration::max()) {
      refusal.retry_after = bound;
      refusal.resets_at = detail::saturating_add(now, bound);
    }
    detail::LeaseAccess::refuse(lease, refusal);
    if constexpr (events_enabled) {
      if (refusal.reason != Reason::too_large && refusal.reason != Reason::no_keys) exhaustion_.pool_refused(table_, request, now, events_);
    }
    return lease;
  }

  /// What `acquire(request)` would answer now, without reserving, writing or raising anything:
  /// the first key (in index order) that could admit the request, or the refusal acquire would
  /// give, with its reason and exact wait. Not a promise: another thread may take the room before
  /// an acquire that follows. With a store that leases quota (store::Redis) it answers from what
  /// this instance holds, without a round trip. Thread-safe; lock-free; O(keys × limits).
  [[nodiscard]] Check check(const Request& request = {}) const noexcept { return check(request, clock_.now()); }
  [[nodiscard]] Check check(const Request& request, TimePoint now) const noexcept {
    if (static_cast<std::size_t>(request.priority) >= priority_count)
      return Check{.refusal = Refusal{Reason::invalid, Duration::max(), TimePoint::max()}};
    const accounting::Instant instant{now};
    accounting::Verdict best{Reason::too_large, Duration::max()};
    bool any = false;
    const std::size_t count = record_count();
    for (std::size_t i = 0; i < count; ++i) {
      const detail::KeyRecord& key = table_[i];
      if (key.is_removed() || (key.routes() != nullptr && !key.routes()->route(request.model).serves)) continue;
      const accounting::Verdict verdict = this->verdict(key, request, instant);
      if (verdict.wait == Duration::zero()) return Check{.admitted = true, .key = key.id};
      // As acquire: the shortest wait wins; "too_large" only when every key is too small.
      if (!any || verdict.wait < best.wait || (verdict.wait == best.wait && best.reason == Reason::too_large)) best = verdict;
      any = true;
    }
    if (!any) return Check{};
    return Check{.refusal = Refusal{best.reason, best.wait, detail::saturating_add(now, best.wait)}};
  }

  /// Like acquire, but waits up to `timeout` (real time) for capacity, sleeping exactly until the
  /// refusal's retry time. Returns at once when waiting cannot help (too_large, disabled, no
  /// keys, invalid). A timeout past the clock's range (Duration::max()) waits as long as it takes.
  /// Waiters of one request class (priority, model) are served in arrival order (plain `acquire`
  /// does not queue). Thread-safe; blocks the calling thread. Throws only what the clock's sleep or
  /// the line's mutex throws (std::system_error), or std::bad_alloc.
  [[nodiscard]] Lease acquire_for(const Request& request, Duration timeout) {
    const std::uint64_t klass = (std::uint64_t{request.model.value} << 8) | static_cast<std::uint8_t>(request.priority);
    return detail::acquire_waiting(waiters_, klass, clock_, timeout, [&](TimePoint now) { return acquire(request, now); });
  }
  template <class Rep, class Period>
  [[nodiscard]] Lease acquire_for(const Request& request, std::chrono::duration<Rep, Period> timeout) {
    return acquire_for(request, detail::saturating_ns(timeout));
  }

  // ---------------------------------------------------------------------------------------------
  // Operations

  /// Stops granting `key` until `enable`. Emits key_disabled. Thread-safe; lock-free.
  void disable(KeyId key) { disable(key, clock_.now()); }
  void disable(KeyId key, TimePoint now) {
    const detail::KeyRecord& record = table_.checked(key, "disable");
    const bool newly = detail::health::disable(*record.slot);
    record.answer_disabled.store(false, std::memory_order_relaxed);  // the operator's: no probe enables it
    Accounting::share_disabled(store_, record.slot_index, true);
    if (newly) events_.key(EventKind::key_disabled, record, now, TimePoint::max());
  }
  /// Lets a disabled key be granted again (a cooldown in progress is cleared too). Emits
  /// key_recovered when the key was disabled. Thread-safe; lock-free.
  void enable(KeyId key) { enable(key, clock_.now()); }
  void enable(KeyId key, TimePoint now) {
    const detail::KeyRecord& record = table_.checked(key, "enable");
    const bool was_disabled = detail::health::enable(*record.slot);
    record.answer_disabled.store(false, std::memory_order_relaxed);
    Accounting::share_disabled(store_, record.slot_index, false);
    if (was_disabled) events_.key(EventKind::key_recovered, record, now, now);
  }
  /// Forgets all usage of `key` in its current windows, and of its models' limits, and clears
  /// its cooldowns (not a disable; not its group's limits: see reset(GroupId)). Use it when the
  /// provider confirms a reset. Leases reserved before the reset then settle nothing against the
  /// counts (their health outcome still applies).
  void reset(KeyId key) {
    const detail::KeyRecord& record = table_.checked(key, "reset");
    detail::each_own(record, [&](const detail::KeyRecord& r) { reset_meter(r, ~std::uint32_t{0}, true); });
  }
  /// Forgets the usage of `key`'s limits (and its models' limits) that count `metric`.
  void reset(KeyId key, Metric metric) {
    const detail::KeyRecord& record = table_.checked(key, "reset");
    detail::each_own(record, [&](const detail::KeyRecord& r) { reset_meter(r, Metering::limits_of(r, metric), false); });
  }
  /// Forgets the usage of `key`'s calendar limits (and its models') of one window, say the
  /// minute's or the day's, whatever they count; with `metric`, only those counting it. Throws
  /// keypool::Error for Window::unknown or an unknown key.
  void reset(KeyId key, Window window) { reset_window(key, window, std::nullopt); }
  void reset(KeyId key, Metric metric, Window window) { reset_window(key, window, metric); }
  /// Forgets all usage of the group's shared and per-model limits, and clears their cooldowns.
  void reset(GroupId group) {
    for (const detail::KeyRecord* meter : table_.checked(group, "reset").meters) reset_meter(*meter, ~std::uint32_t{0}, true);
  }
  /// reset(k) for every key and reset(g) for every group.
  void reset_all() {
    const std::size_t count = record_count();
    for (std::size_t i = 0; i < count; ++i)
      if (!table_[i].is_removed()) reset(table_[i].id);
    for (std::size_t g = 0; g < table_.group_count(); ++g) reset(GroupId{static_cast<std::uint32_t>(g)});
  }

  /// Periodic work; call it from a timer, or run a kp::Monitor. Measures each limit's usage rate
  /// since the last poll (exponentially weighted, see ForecastOptions) and raises
  /// exhaustion_forecast when a key's limit, or a provider's daily capacity, will run out before
  /// it resets at that rate; raises key_recovered for keys that could not serve at the last poll
  /// (cooling down, exhausted) and can now, and provider_recovered for providers reported
  /// exhausted that can serve again; then flushes storage. Thread-safe (polls are serialized on
  /// their own mutex, never taken by acquire). O(keys × limits). Allocates when keys were added.
  void poll() { poll(clock_.now()); }
  void poll(TimePoint now) {
    polled_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard lock{poll_mutex_};
      forecaster_.poll(
          table_.records(), record_count(), table_.providers(), provider_count(), now, events_,
          [&](const detail::KeyRecord& key) { return key_snapshot(key, now); },
          [&](std::size_t p) { exhaustion_.provider_poll(table_, p, now, events_); });
      exhaustion_.pool_poll(table_, now);  // the pool can serve again: re-arm all_exhausted
    }
    adopt_reported_limits(now);
    store_.flush();
  }

  /// Probes the keys a provider's answer disabled (a refused credential, a billing stop; not the
  /// operator's `disable`) whose probe is due under `options`: `probe(const KeyProbe&)` returns a
  /// ProbeResult; `works` enables the key (key_recovered). Each probe raises key_probed. Run it
  /// from a timer, or give a kp::Monitor the probe. Returns the probes run. Serialized with poll.
  template <class Probe>
  std::size_t probe_disabled(Probe&& probe, const ProbeOptions& options = {}, std::optional<TimePoint> at = {}) {
    const TimePoint now = at ? *at : clock_.now();
    std::lock_guard lock{poll_mutex_};
    return prober_.run(table_.records(), record_count(), options, now, probe, events_,
                       [&](const detail::KeyRecord& key) { enable(key.id, now); });
  }

  /// Per key, model, group and limit figures at `now`. Not atomic across keys (see Snapshot).
  /// Allocates. Thread-safe. O((keys + meters) × limits).
  [[nodiscard]] Snapshot snapshot() const { return snapshot(clock_.now()); }
  [[nodiscard]] Snapshot snapshot(TimePoint now) const {
    std::unique_lock lock{poll_mutex_};
    Snapshot snap = detail::pool_snapshot<Accounting>(table_, store_, forecaster_, now);
    lock.unlock();
    snap.sink_failures = sink_failures();
    // A queued sink swallows its inner sink's exceptions on its drainer thread: count them too.
    if constexpr (requires(const Alerts& a) { { a.sink_failures() } -> std::convertible_to<std::uint64_t>; })
      snap.sink_failures += events_.sink().sink_failures();
    if constexpr (requires(const Alerts& a) { { a.dropped() } -> std::convertible_to<std::uint64_t>; })
      snap.events_dropped = events_.sink().dropped();
    return snap;
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection

  /// acquire_for calls waiting in line now (all request classes). Thread-safe.
  [[nodiscard]] std::size_t waiting() const noexcept { return waiters_.waiting(); }
  /// Keys added so far (KeyIds issued, removed keys included). Thread-safe.
  [[nodiscard]] std::size_t key_count() const noexcept { return table_.key_count(); }
  [[nodiscard]] std::size_t provider_count() const noexcept { return table_.provider_count(); }
  /// Keys the pool holds before it next grows (see add_key). Thread-safe.
  [[nodiscard]] std::size_t capacity() const noexcept { return table_.capacity(); }
  [[nodiscard]] std::string_view label(KeyId key) const { return table_.checked(key, "label").label; }
  [[nodiscard]] std::string_view provider_name(ProviderId provider) const {
    if (provider.value >= provider_count()) throw Error("provider_name: unknown provider id");
    return table_.provider(provider.value).name;
  }
  [[nodiscard]] const Thresholds& thresholds() const noexcept { return table_.thresholds(); }
  [[nodiscard]] const HealthOptions& health_options() const noexcept { return health_; }
  /// Exceptions thrown by the alert sink and swallowed by the pool.
  [[nodiscard]] std::uint64_t sink_failures() const noexcept { return events_.sink_failures(); }

  [[nodiscard]] Select& selection() noexcept { return select_; }
  [[nodiscard]] Store& storage() noexcept { return store_; }
  [[nodiscard]] Alerts& alerts() noexcept { return events_.sink(); }
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

 private:
  // ---------------------------------------------------------------------------------------------
  // What the selection context asks (detail::SelectionContext is a friend)

  [[nodiscard]] const detail::KeyRecord& record(std::size_t i) const noexcept { return table_[i]; }
  /// Key records to iterate (successors of keys whose limits changed included; closed ones refuse).
  [[nodiscard]] std::size_t record_count() const noexcept { return table_.record_count(); }
  [[nodiscard]] const detail::TierIndex& tiers() const noexcept { return table_.tiers(); }
  [[nodiscard]] const detail::WeightIndex& weights() const noexcept { return table_.weights(); }

  /// The health gate, then a reservation on every limit of the key (and of the meters of its
  /// group and model, `route`), rolled back on the first refusal. A limit the reservation brings
  /// to a threshold level is marked in `reservation.reached`; its levels are judged when the
  /// lease settles with the usage standing (a cancelled lease claims no level).
  [[gnu::always_inline]] bool try_reserve(const detail::KeyRecord& key, const detail::MeterRoute* route, const detail::Amounts& amounts,
                                          Priority priority, const accounting::Instant& now, detail::Reservation& reservation) noexcept {
    if (!detail::health::open(*key.slot, now.ns)) return false;
    const std::size_t level = static_cast<std::size_t>(priority);
    std::uint32_t reached = 0;
    std::uint64_t* epochs = reservation.epochs.data();
    const bool admitted = Metering::template reserve<counter_events>(
        key, amounts, level, now, epochs, [&](std::size_t i) { reached |= 1u << i; },
        [&](std::size_t i, const accounting::Reserved& reserved) {
          events_.exhausted(key, i, key.plans[i], reserved.epoch, reserved.before, now.at);
        });
    if (!admitted) return false;
    if (route != nullptr) [[unlikely]] {
      if (!reserve_route(key, *route, amounts, level, now, reservation, reached)) return false;
    }
    if constexpr (counter_events) reservation.reached = reached;
    return true;
  }

  /// The meters after the key's limits: each one's health gate (a model's or a group's
  /// cooldown) and limits; on a refusal, everything reserved for the request is given back.
  [[gnu::noinline]] bool reserve_route(const detail::KeyRecord& key, const detail::MeterRoute& route, const detail::Amounts& amounts,
                                       std::size_t level, const accounting::Instant& now, detail::Reservation& reservation,
                                       std::uint32_t& reached) noexcept {
    std::uint64_t* epochs = reservation.epochs.data() + key.limit_count;
    std::size_t flat = key.limit_count;
    for (std::size_t k = 0; k < route.count; ++k) {
      const detail::KeyRecord& meter = *route.records[k];
      reservation.route_generations[k] = detail::word(meter.slot->generation).load(std::memory_order_relaxed);
      auto on_reach = [&](std::size_t i) { reached |= 1u << (flat + i); };
      auto on_full = [&](std::size_t i, const accounting::Reserved& reserved) {
        events_.exhausted(meter, i, meter.plans[i], reserved.epoch, reserved.before, now.at);
      };
      if (!detail::health::open(*meter.slot, now.ns) ||
          !Metering::template reserve<counter_events>(meter, amounts, level, now, epochs, on_reach, on_full)) {
        std::uint64_t* back = epochs;
        for (std::size_t j = k; j-- > 0;) {
          back -= route.records[j]->limit_count;
          Metering::release(*route.records[j], amounts, back, now.ns);
        }
        Metering::release(key, amounts, reservation.epochs.data(), now.ns);
        return false;
      }
      epochs += meter.limit_count;
      flat += meter.limit_count;
    }
    return true;
  }

  /// Why a key cannot serve `request` at `now`, and for how long (loads only).
  accounting::Verdict verdict(const detail::KeyRecord& key, const Request& request, const accounting::Instant& now,
                              const accounting::Verdict* rival = nullptr) const noexcept {
    return Metering::key_verdict(key, request, now, rival);
  }
  double headroom(const detail::KeyRecord& key, const Request& request, const accounting::Instant& now) const noexcept {
    return Metering::key_headroom(key, request, now);
  }

  /// A key refused `request` with `verdict`: a quota refusal may mean its whole provider is out.
  void refused(const detail::KeyRecord& key, const Request& request, const accounting::Verdict& verdict, TimePoint now) noexcept {
    if constexpr (events_enabled) {
      if (verdict.reason == Reason::exhausted) exhaustion_.provider_refused(table_, key, request, now, events_);
    }
  }

  void failover(ProviderId from, ProviderId to, TimePoint now) noexcept {
    if (from.value < provider_count() && to.value < provider_count())
      events_.failover(from, table_.provider(from.value).name, to, table_.provider(to.value).name, now);
  }

  // ---------------------------------------------------------------------------------------------
  // Settlement (Lease → pool): counts reconciled, then the provider's answer applied

  void settle(detail::Reservation& reservation, detail::Settlement how, const Cost* actual, const Outcome* outcome,
              const TimePoint* now) noexcept override {
    answers().settle(reservation, how, actual, outcome, now != nullptr ? *now : clock_.now());
  }

  /// Forgets the usage of `limits` of a key or meter, here and on every instance sharing it; with
  /// `cooldown`, its cooldown too.
  void reset_meter(const detail::KeyRecord& record, std::uint32_t limits, bool cooldown) {
    reset_counters(record, limits);
    Accounting::share_reset(store_, record.slot_index, limits);
    if (cooldown) detail::health::clear_cooldown(*record.slot);
  }
  void reset_window(KeyId key, Window window, std::optional<Metric> metric) {
    const detail::KeyRecord& record = table_.checked(key, "reset");
    const std::optional<detail::WindowUnit> unit = detail::unit_of(window);
    if (!unit) throw Error("reset: name a calendar window (second, minute, hour, day, month), not Window::unknown");
    detail::each_own(record, [&](const detail::KeyRecord& r) {
      if (const std::uint32_t limits = Metering::limits_of(r, metric, unit); limits != 0) reset_meter(r, limits, false);
    });
  }

  /// Forgets the usage of the limits whose bit is set in `limits` and the levels they reported;
  /// bumps the generation so leases reserved before settle nothing against the new counts.
  void reset_counters(const detail::KeyRecord& key, std::uint32_t limits) noexcept {
    detail::word(key.slot->generation).fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < key.limit_count; ++i) {
      if ((limits & (1u << i)) == 0) continue;
      Accounting::reset(key.plans[i], key.slot->counters[i]);
      Events::forget_claims(*key.slot, i);
      detail::MarkedUsage::forget(key, i);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // LeaseHost: what a store that leases quota (store::Redis) calls back, from its own thread

  TimePoint lease_now() const noexcept override { return clock_.now(); }

  void lease_fleet_usage(std::size_t slot, std::size_t limit, std::uint64_t epoch, std::uint64_t before,
                         std::uint64_t after, TimePoint now) noexcept override {
    const detail::KeyRecord* record = table_.at_slot(slot);
    if (record == nullptr || limit >= record->limit_count || record->plans[limit].kind != Limit::Kind::window || after <= before) return;
    if (after >= record->plans[limit].threshold_at[0]) events_.crossings(*record, limit, record->plans[limit], epoch, before, after, now);
  }

  void lease_backend_unavailable(TimePoint now, TimePoint retry_at) noexcept override {
    events_.general(EventKind::backend_unavailable, now, retry_at);
  }

  void lease_reset(std::size_t slot, std::uint32_t limits) noexcept override {
    if (const detail::KeyRecord* record = table_.at_slot(slot)) reset_counters(*record, limits);
  }

  void lease_disabled(std::size_t slot, bool disabled) noexcept override {
    const detail::KeyRecord* record = table_.at_slot(slot);
    if (record != nullptr && !record->is_removed()) detail::health::follow_disabled(*record->slot, disabled);
  }

  void lease_cooldown(std::size_t slot, std::uint64_t until_ns) noexcept override {
    const detail::KeyRecord* record = table_.at_slot(slot);
    if (record != nullptr && !record->is_removed()) detail::health::follow_cooldown(*record->slot, until_ns);
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshots, and exhaustion of a provider or of the whole pool (refusal path, poll)

  /// What a provider's answer does to the counts and health (detail/answers.hpp).
  Answers answers() noexcept { return Answers{store_, events_, health_}; }

  KeySnapshot key_snapshot(const detail::KeyRecord& key, TimePoint now) const {
    return detail::key_snapshot<Accounting>(key, store_, table_.thresholds(), now);
  }

  /// The store slot of a key or meter being added: past the store's room, the store grows first
  /// (twice the room, at least), when it can. Under the table's admin mutex.
  KeySlot* bind_slot(const KeyBinding& binding) {
    if (binding.index >= store_room_) {
      if constexpr (requires(Store& s, std::size_t n) { s.grow(n); }) {
        const std::size_t room = std::max(binding.index + 1, store_room_ * 2);
        store_.grow(room);
        store_room_ = room;
      } else {
        throw Error("add_key: the pool is full (" + std::to_string(store_room_) +
                    " keys and meters) and its storage policy cannot grow (it has no grow(capacity)); construct the pool "
                    "with a larger kp::Capacity");
      }
    }
    return store_.bind(binding);
  }

  /// KeyOptions::adopt_reported_limits: each such key whose provider reported a limit other than
  /// the configured one gets it as the new amount (set_limits: the same counters, usage kept). A
  /// figure a limit cannot take was already reported by limit_mismatch. Local accounting only.
  void adopt_reported_limits(TimePoint now) {
    if constexpr (std::is_same_v<Accounting, accounting::Local>) {
      for (std::size_t r = 0, count = record_count(); r < count; ++r) {
        const detail::KeyRecord& key = table_[r];
        if (!key.adopt_reported || key.is_removed()) continue;
        try {
          if (std::vector<Limit> limits = detail::reported_limits(key); !limits.empty()) set_limits(key.id, std::move(limits), now);
        } catch (const Error&) {}  // left as configured: the mismatch event told the operator
      }
    }
  }

  /// Raises state_repaired for each word a checking store (MappedFile::repair_bound) repaired in the keys just bound.
  template <class Id> Id report_repairs(ProviderId provider, Id id) {
    if constexpr (requires(Store& s, TimePoint t) { s.repair_bound(t); }) {
      const TimePoint now = clock_.now();
      for (const auto* repair : store_.repair_bound(now)) {
        Event event = repair->event(now, provider);
        if constexpr (std::is_same_v<Id, KeyId>) event.key = repair->label == table_.checked(id, "add_key").label ? id : KeyId{};
        if constexpr (events_enabled) events_.deliver(event);
      }
    }
    return id;
  }

  // ---------------------------------------------------------------------------------------------
  // State. Policies first (the selection policy is read by every acquire), then the tables.

  Select select_;
  Store store_;
  Events events_;
  Clock clock_;
  detail::KeyTable table_;
  std::size_t store_room_ = table_.slot_capacity();  // slots the store holds; under the table's admin mutex
  HealthOptions health_;
  detail::ExhaustionWatch<Metering> exhaustion_;
  mutable std::mutex poll_mutex_;
  detail::Forecaster forecaster_;  // under poll_mutex_
  detail::WaitQueue waiters_;      // acquire_for's line
  detail::Prober prober_;          // under poll_mutex_
  std::atomic<bool> polled_{false};  // poll() ran: the pool is running (key_added is reported)
};

/// The pool: policies in any order, each at most once; missing ones default to
/// select::RoundRobin, store::Memory, alert::Null and clock::Coarse.
template <class... Policies>
using KeyPool = typename detail::resolve_pool<BasicKeyPool, select::RoundRobin, store::Memory, alert::Null,
                                              clock::Coarse, Policies...>::type;

}  // namespace keypool
