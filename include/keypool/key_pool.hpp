// keypool::KeyPool<Policies...>: the pool of API keys. For every outgoing call it answers, without
// a lock, which key to use and whether there is quota left on it, and it keeps the counts.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <keypool/alert/null.hpp>
#include <keypool/clock/coarse.hpp>
#include <keypool/concepts.hpp>
#include <keypool/detail/calendar.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/packed_window.hpp>
#include <keypool/detail/policy_pack.hpp>
#include <keypool/detail/thread_ordinal.hpp>
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
#include <keypool/store/leasing.hpp>
#include <keypool/store/memory.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// How the pool treats a key's health. Passed to the constructor like Capacity (optional).
struct HealthOptions {
  /// Cooldown after `Outcome::rate_limited()` with no retry time, or `quota_exhausted` of a
  /// metric the key has no calendar limit for.
  Duration default_cooldown = std::chrono::seconds{60};
  /// Consecutive transient failures that open the circuit.
  std::uint32_t circuit_threshold = 3;
  /// First open-circuit cooldown; doubles with each further failure, ±25% jitter, never more
  /// than `circuit_max`.
  Duration circuit_base = std::chrono::seconds{1};
  Duration circuit_max = std::chrono::minutes{5};
};

/// How poll() measures usage rates and forecasts exhaustion. Passed to the constructor like
/// Capacity (optional).
struct ForecastOptions {
  /// Time constant of the exponentially weighted usage rate: a rate change is half absorbed
  /// after about 0.7 × smoothing of polls.
  Duration smoothing = std::chrono::minutes{10};
  /// No forecast until the rate has been measured over at least this long (since the first poll
  /// that saw the key), so one burst does not predict the day.
  Duration warmup = std::chrono::minutes{5};
};

namespace detail {

template <class Sink>
inline constexpr bool discards_events_v = requires { requires Sink::discards_events; };

/// What one key answers when it cannot serve a request: why, and how long until it could.
struct KeyVerdict {
  Reason reason = Reason::too_large;
  Duration wait = Duration::max();
};

/// FNV-1a over the bytes that define a limit list's counter layout.
[[nodiscard]] inline std::uint64_t layout_fingerprint(const std::vector<Limit>& limits) noexcept {
  std::uint64_t hash = 1469598103934665603ull;
  auto mix = [&hash](std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (value >> (8 * i)) & 0xff;
      hash *= 1099511628211ull;
    }
  };
  mix(limits.size());
  for (const Limit& limit : limits) {
    mix(static_cast<std::uint64_t>(limit.kind()));
    mix(static_cast<std::uint64_t>(limit.metric()));
    mix(static_cast<std::uint64_t>(limit.unit()));
    mix(static_cast<std::uint64_t>(limit.period().count()));
  }
  return hash;
}

}  // namespace detail

/// The pool, with its four policies resolved. Name it through `KeyPool<Policies...>`.
///
/// Thread safety: `acquire`, `acquire_for`, lease settlement, `snapshot`, `disable`, `enable`,
/// `reset*` and `poll` are thread-safe and may run concurrently with each other and with
/// `add_provider`/`add_key` (which serialize among themselves on an admin mutex that the hot path
/// never takes). The pool is neither copyable nor movable: leases point to it.
template <class Select, class Store, class Alerts, class Clock>
class BasicKeyPool final : private detail::LeaseOwner, private detail::LeaseHost {
  static_assert(SelectionPolicy<Select>, "BasicKeyPool: Select must satisfy keypool::SelectionPolicy");
  static_assert(StoragePolicy<Store>, "BasicKeyPool: Store must satisfy keypool::StoragePolicy");
  static_assert(AlertSink<Alerts>, "BasicKeyPool: Alerts must satisfy keypool::AlertSink");
  static_assert(ClockPolicy<Clock>, "BasicKeyPool: Clock must satisfy keypool::ClockPolicy");

  static constexpr bool events_enabled = !detail::discards_events_v<Alerts>;
  /// The store leases calendar quota from a shared backend (store::Redis): a window's local word
  /// holds the limit minus what is in hand, threshold events follow the fleet's usage (reported
  /// by the store), and a refused acquire may take one synchronous lease. See store/leasing.hpp.
  static constexpr bool leasing = detail::LeasingStore<Store>;

 public:
  using selection_type = Select;
  using storage_type = Store;
  using alert_type = Alerts;
  using clock_type = Clock;

  /// The most providers one pool may have.
  static constexpr std::size_t max_providers = 256;

  /// Builds a pool. Arguments, in any order, each at most once: `Capacity` (default 64 keys),
  /// `Thresholds` (default 80/90/100%), `HealthOptions`, and instances of the pool's policies
  /// (those not given are default-constructed). Throws keypool::Error on a zero capacity or when
  /// the storage cannot reserve room.
  template <class... Args>
  explicit BasicKeyPool(Args&&... args)
      : select_(pick_arg<Select>(std::forward<Args>(args)...)),
        store_(pick_arg<Store>(std::forward<Args>(args)...)),
        alerts_(pick_arg<Alerts>(std::forward<Args>(args)...)),
        clock_(pick_arg<Clock>(std::forward<Args>(args)...)),
        capacity_(pick_arg<Capacity>(std::forward<Args>(args)...).keys),
        thresholds_(pick_arg<Thresholds>(std::forward<Args>(args)...)),
        health_(pick_arg<HealthOptions>(std::forward<Args>(args)...)),
        forecast_(pick_arg<ForecastOptions>(std::forward<Args>(args)...)) {
    static_assert(((count_of<std::remove_cvref_t<Args>, Args...>() == 1) && ...),
                  "keypool::KeyPool constructor: each option or policy may be passed at most once");
    static_assert(std::is_default_constructible_v<Store> || count_of<Store, Args...>() == 1,
                  "keypool::KeyPool constructor: this storage policy has no default: pass one, e.g. "
                  "KeyPool<store::MappedFile> pool{store::MappedFile{\"quota.kp\"}}");
    static_assert((is_accepted_arg<std::remove_cvref_t<Args>>() && ...),
                  "keypool::KeyPool constructor: an argument is neither Capacity, Thresholds, HealthOptions, "
                  "nor one of this pool's policy types");
    if (capacity_ == 0) throw Error("Capacity{0}: a pool needs room for at least one key");
    if (capacity_ > (std::size_t{1} << 24)) throw Error("Capacity: at most 16,777,216 keys per pool");
    if (health_.circuit_threshold == 0) throw Error("HealthOptions: circuit_threshold must be at least 1");
    if (forecast_.smoothing <= Duration::zero() || forecast_.warmup < Duration::zero())
      throw Error("ForecastOptions: smoothing must be positive and warmup not negative");
    records_ = std::make_unique<detail::KeyRecord[]>(capacity_);
    providers_ = std::make_unique<detail::ProviderRecord[]>(max_providers);
    store_.reserve(capacity_);
    if constexpr (leasing) store_.attach(static_cast<detail::LeaseHost&>(*this));
  }

  BasicKeyPool(const BasicKeyPool&) = delete;
  BasicKeyPool& operator=(const BasicKeyPool&) = delete;

  /// Flushes storage. Leases must not outlive the pool.
  ~BasicKeyPool() {
    if constexpr (leasing) store_.detach();  // stops the store's thread and gives back what is in hand
    store_.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Configuration (admin mutex; never on the hot path)

  /// Adds a provider; lower `tier` is preferred by select::Priority. Throws keypool::Error on an
  /// empty or duplicate name, or when 256 providers exist. Thread-safe. O(providers).
  ProviderId add_provider(std::string_view name, std::uint32_t tier = 0) {
    std::lock_guard lock{admin_};
    if (name.empty()) throw Error("add_provider: the provider name is empty; name it, e.g. \"groq\"");
    const std::size_t count = provider_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < count; ++i)
      if (providers_[i].name == name)
        throw Error("add_provider: provider '" + std::string{name} + "' already exists; use the ProviderId it returned");
    if (count == max_providers) throw Error("add_provider: at most 256 providers per pool");
    providers_[count].name = std::string{name};
    providers_[count].tier = tier;
    add_tier(tier);
    provider_count_.store(count + 1, std::memory_order_release);
    return ProviderId{static_cast<std::uint32_t>(count)};
  }

  /// Adds a key with its limits (at most 8) and options. The label defaults to the redacted
  /// secret ("gsk_…3456", with "#2" appended if another key redacts alike). Throws keypool::Error on an unknown
  /// provider, an empty secret, a secret or label already in the pool, a limit without a period,
  /// more than 8 limits, a zero weight, or a full pool (see Capacity). The key is published with
  /// a release store: concurrent acquires see it whole or not at all. Thread-safe. O(keys).
  KeyId add_key(ProviderId provider, Secret secret, std::vector<Limit> limits, KeyOptions options = {}) {
    std::lock_guard lock{admin_};
    const std::size_t providers = provider_count_.load(std::memory_order_relaxed);
    if (provider.value >= providers)
      throw Error("add_key: unknown provider id " + std::to_string(provider.value) + "; create it with add_provider first");
    if (secret.empty()) throw Error("add_key: the secret is empty (is the environment variable set?)");
    if (limits.size() > max_limits_per_key)
      throw Error("add_key: a key has at most 8 limits; this one has " + std::to_string(limits.size()));
    if (options.weight == 0) throw Error("add_key: weight must be at least 1");
    const std::size_t count = key_count_.load(std::memory_order_relaxed);
    std::string label = options.label.empty() ? default_label(secret, count) : std::move(options.label);
    for (std::size_t i = 0; i < count; ++i) {
      if (records_[i].label == label)
        throw Error("add_key: label '" + label + "' is already used by another key; labels must be unique (KeyOptions::label)");
      if (records_[i].secret == secret)
        throw Error("add_key: this secret is already in the pool as key '" + records_[i].label + "'; each key once");
    }
    if (count == capacity_)
      throw Error("add_key: the pool is full (" + std::to_string(capacity_) + " keys); construct it with a larger kp::Capacity");

    const detail::LimitSet* set = intern_limits(std::move(limits));
    KeySlot* slot = store_.bind(KeyBinding{count, label, set->fingerprint, set->source, providers_[provider.value].name});

    detail::KeyRecord& record = records_[count];
    record.limits = set;
    record.plans = set->plans.data();
    record.limit_count = set->plans.size();
    record.slot = slot;
    record.provider = provider;
    record.tier = providers_[provider.value].tier;
    record.weight = options.weight;
    record.id = KeyId{static_cast<std::uint32_t>(count)};
    record.hash = detail::hash_label(label.data(), label.size());
    record.cumulative_weight = (count == 0 ? 0 : records_[count - 1].cumulative_weight) + options.weight;
    record.provider_record = &providers_[provider.value];
    record.label = std::move(label);
    record.secret = std::move(secret);
    providers_[provider.value].key_count.fetch_add(1, std::memory_order_relaxed);
    append_to_tier(record.tier, static_cast<std::uint32_t>(count));
    // Publishes the record: pairs with the acquire load in key_count().
    key_count_.store(count + 1, std::memory_order_release);
    return record.id;
  }

  // ---------------------------------------------------------------------------------------------
  // The hot path

  /// Grants a key for `request` now, or refuses with the reason and the exact time to wait.
  /// Reads the clock once. Lock-free, allocation-free, never throws, never blocks; writes only
  /// the counter words of the key it grants (and rolls back partial reservations on a key that
  /// refuses). Refusing costs one pass over the keys, with loads only where a load shows a
  /// limit full. Thread-safe.
  /// With a leasing store (store::Redis), a refusal for lack of quota in hand first takes one
  /// synchronous lease from the backend (one round trip, bounded by the store's timeout, and
  /// skipped while the backend is known to be dry or unreachable), then tries once more.
  [[nodiscard]] Lease acquire(const Request& request = {}) noexcept { return acquire(request, clock_.now()); }
  [[nodiscard]] Lease acquire(const Request& request, TimePoint now) noexcept {
    Lease lease;  // filled in place: one named return, no copies
    Context ctx{*this, request, now, detail::LeaseAccess::reservation(lease)};
    bool granted = select_.select(ctx);
    if constexpr (leasing) {
      // Nothing in hand: one synchronous round trip for a lease (never more), then one more try.
      if (!granted && store_.lease_sync(detail::amounts_of(request), now)) [[unlikely]] {
        Context retry{*this, request, now, detail::LeaseAccess::reservation(lease)};
        if (select_.select(retry)) {
          detail::LeaseAccess::grant(lease, this);
          return lease;
        }
      }
    }
    if (granted) {
      detail::LeaseAccess::grant(lease, this);
    } else {
      const Refusal refusal = ctx.refusal();
      detail::LeaseAccess::refuse(lease, refusal);
      if constexpr (events_enabled) {
        if (refusal.reason != Reason::too_large && refusal.reason != Reason::no_keys) check_all_exhausted(request, now);
      }
    }
    return lease;
  }

  /// Like acquire, but waits up to `timeout` (real time) for capacity, sleeping exactly until the
  /// refusal's retry time. Returns at once when waiting cannot help (too_large, disabled, no
  /// keys). Thread-safe; blocks the calling thread. Throws only what the clock's sleep throws
  /// (std::system_error from a mutex, for clock::Manual).
  [[nodiscard]] Lease acquire_for(const Request& request, Duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const TimePoint now = clock_.now();
      Lease lease = acquire(request, now);
      if (lease || lease.refusal().permanent()) return lease;
      if (std::chrono::steady_clock::now() >= deadline) return lease;
      const Duration wait = lease.refusal().retry_after;
      if (wait <= Duration::zero()) {
        std::this_thread::yield();  // refused by a race that is already over: try again at once
      } else if constexpr (requires(const Clock& c) { c.sleep_until(now, deadline); }) {
        clock_.sleep_until(now + wait, deadline);
      } else {
        const auto left = deadline - std::chrono::steady_clock::now();
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait), left));
      }
    }
  }
  template <class Rep, class Period>
  [[nodiscard]] Lease acquire_for(const Request& request, std::chrono::duration<Rep, Period> timeout) {
    return acquire_for(request, std::chrono::duration_cast<Duration>(timeout));
  }

  // ---------------------------------------------------------------------------------------------
  // Operations

  /// Stops granting `key` until `enable`. Emits key_disabled. Thread-safe; lock-free.
  void disable(KeyId key) { disable(key, clock_.now()); }
  void disable(KeyId key, TimePoint now) {
    const detail::KeyRecord& record = checked(key, "disable");
    const auto previous = detail::word(record.slot->blocked_until).exchange(disabled_until, std::memory_order_relaxed);
    if constexpr (leasing) store_.publish_disabled(key.value, true);
    if (previous != disabled_until) emit_key_event(EventKind::key_disabled, record, now, TimePoint::max());
  }
  /// Lets a disabled key be granted again (a cooldown in progress is cleared too). Emits
  /// key_recovered when the key was disabled. Thread-safe; lock-free.
  void enable(KeyId key) { enable(key, clock_.now()); }
  void enable(KeyId key, TimePoint now) {
    const detail::KeyRecord& record = checked(key, "enable");
    const auto previous = detail::word(record.slot->blocked_until).exchange(0, std::memory_order_relaxed);
    detail::word(record.slot->health).store(0, std::memory_order_relaxed);
    if constexpr (leasing) store_.publish_disabled(key.value, false);
    if (previous == disabled_until) emit_key_event(EventKind::key_recovered, record, now, now);
  }
  /// Forgets all usage of `key` in its current windows and clears a cooldown (not a disable).
  /// Use it when the provider confirms a reset. Leases reserved before the reset then settle
  /// nothing against the counts (their health outcome still applies).
  void reset(KeyId key) {
    const detail::KeyRecord& record = checked(key, "reset");
    reset_counters(record, nullptr);
    if constexpr (leasing) store_.publish_reset(key.value, ~std::uint32_t{0});
    auto blocked = detail::word(record.slot->blocked_until);
    std::uint64_t current = blocked.load(std::memory_order_relaxed);
    while (current != disabled_until && current != 0 &&
           !blocked.compare_exchange_weak(current, 0, std::memory_order_relaxed)) {
    }
    detail::word(record.slot->health).store(0, std::memory_order_relaxed);
  }
  /// Forgets the usage of `key`'s limits that count `metric`.
  void reset(KeyId key, Metric metric) {
    const detail::KeyRecord& record = checked(key, "reset");
    reset_counters(record, &metric);
    if constexpr (leasing) {
      std::uint32_t limits = 0;
      for (std::size_t i = 0; i < record.limit_count; ++i)
        if (record.plans[i].metric == metric) limits |= 1u << i;
      store_.publish_reset(key.value, limits);
    }
  }
  /// reset(k) for every key.
  void reset_all() {
    const std::size_t count = key_count();
    for (std::size_t i = 0; i < count; ++i) reset(KeyId{static_cast<std::uint32_t>(i)});
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
    {
      std::lock_guard lock{poll_mutex_};
      poll_locked(now);
    }
    store_.flush();
  }

  /// Per key and per limit figures at `now`. Not atomic across keys (see Snapshot). Allocates.
  /// Thread-safe. O(keys × limits).
  [[nodiscard]] Snapshot snapshot() const { return snapshot(clock_.now()); }
  [[nodiscard]] Snapshot snapshot(TimePoint now) const {
    Snapshot snap;
    snap.at = now;
    const std::size_t count = key_count();
    snap.keys.reserve(count);
    const std::size_t providers = provider_count();
    snap.providers.resize(providers);
    for (std::size_t p = 0; p < providers; ++p) {
      snap.providers[p].id = ProviderId{static_cast<std::uint32_t>(p)};
      snap.providers[p].name = providers_[p].name;
      snap.providers[p].tier = providers_[p].tier;
    }
    std::lock_guard lock{poll_mutex_};
    for (std::size_t i = 0; i < count; ++i) {
      snap.keys.push_back(key_snapshot(records_[i], now));
      if (i < watches_.size() && watches_[i].seen) {
        KeySnapshot& key = snap.keys.back();
        for (std::size_t l = 0; l < key.limits.size(); ++l) {
          key.limits[l].rate_per_second = watches_[i].limits[l].rate;
          key.limits[l].exhausts_at = watches_[i].limits[l].exhausts_at;
          if (key.limits[l].exhausts_at && (!key.exhausts_at || *key.limits[l].exhausts_at < *key.exhausts_at))
            key.exhausts_at = key.limits[l].exhausts_at;
        }
      }
      add_to(snap.totals, snap.keys.back(), records_[i]);
      add_to(snap.providers[records_[i].provider.value].totals, snap.keys.back(), records_[i]);
    }
    snap.sink_failures = sink_failures();
    // A queued sink swallows its inner sink's exceptions on its drainer thread: count them too.
    if constexpr (requires(const Alerts& a) { { a.sink_failures() } -> std::convertible_to<std::uint64_t>; })
      snap.sink_failures += alerts_.sink_failures();
    if constexpr (requires(const Alerts& a) { { a.dropped() } -> std::convertible_to<std::uint64_t>; })
      snap.events_dropped = alerts_.dropped();
    return snap;
  }

  // ---------------------------------------------------------------------------------------------
  // Introspection

  /// Keys published so far. Thread-safe (acquire load: pairs with add_key's release store).
  [[nodiscard]] std::size_t key_count() const noexcept { return key_count_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t provider_count() const noexcept { return provider_count_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::string_view label(KeyId key) const { return checked(key, "label").label; }
  [[nodiscard]] std::string_view provider_name(ProviderId provider) const {
    if (provider.value >= provider_count()) throw Error("provider_name: unknown provider id");
    return providers_[provider.value].name;
  }
  [[nodiscard]] const Thresholds& thresholds() const noexcept { return thresholds_; }
  [[nodiscard]] const HealthOptions& health_options() const noexcept { return health_; }
  /// Exceptions thrown by the alert sink and swallowed by the pool.
  [[nodiscard]] std::uint64_t sink_failures() const noexcept { return sink_failures_.load(std::memory_order_relaxed); }

  [[nodiscard]] Select& selection() noexcept { return select_; }
  [[nodiscard]] Store& storage() noexcept { return store_; }
  [[nodiscard]] Alerts& alerts() noexcept { return alerts_; }
  [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

 private:
  // ---------------------------------------------------------------------------------------------
  // Construction helpers

  template <class T, class... Args>
  static constexpr int count_of() noexcept {
    return (int{std::is_same_v<T, std::remove_cvref_t<Args>>} + ... + 0);
  }
  template <class T>
  static constexpr bool is_accepted_arg() noexcept {
    return std::is_same_v<T, Capacity> || std::is_same_v<T, Thresholds> || std::is_same_v<T, HealthOptions> ||
           std::is_same_v<T, ForecastOptions> ||
           std::is_same_v<T, Select> || std::is_same_v<T, Store> || std::is_same_v<T, Alerts> ||
           std::is_same_v<T, Clock>;
  }
  template <class T, class First, class... Rest>
  static decltype(auto) find_arg(First&& first, Rest&&... rest) noexcept {
    if constexpr (std::is_same_v<T, std::remove_cvref_t<First>>) return std::forward<First>(first);
    else return find_arg<T>(std::forward<Rest>(rest)...);
  }
  /// The argument of type T (copied or moved as it was passed), or a default T. Each argument is
  /// forwarded to exactly one member, so moving from it is safe.
  template <class T, class... Args>
  static T pick_arg(Args&&... args) {
    if constexpr (count_of<T, Args...>() == 0) return T{};
    else return T(find_arg<T>(std::forward<Args>(args)...));
  }

  /// The redacted secret, made unique with "#2", "#3", … when two secrets redact alike.
  std::string default_label(const Secret& secret, std::size_t count) const {
    const std::string base = secret.redacted();
    std::string label = base;
    for (std::size_t n = 2;; ++n) {
      bool taken = false;
      for (std::size_t i = 0; i < count && !taken; ++i) taken = records_[i].label == label;
      if (!taken) return label;
      label = base + "#" + std::to_string(n);
    }
  }

  const detail::LimitSet* intern_limits(std::vector<Limit> limits) {
    for (const detail::LimitSet& set : limit_sets_)
      if (set.source == limits) return &set;
    detail::LimitSet& set = limit_sets_.emplace_back();
    set.plans.reserve(limits.size());
    for (const Limit& limit : limits) set.plans.emplace_back(limit, thresholds_);
    set.fingerprint = detail::layout_fingerprint(limits);
    set.source = std::move(limits);
    return &set;
  }

  const detail::KeyRecord& checked(KeyId key, const char* what) const {
    if (key.value >= key_count())
      throw Error(std::string{what} + ": unknown key id " + std::to_string(key.value));
    return records_[key.value];
  }

  // ---------------------------------------------------------------------------------------------
  // Tiers: the keys grouped by their provider's tier, for select::Priority. Append-only and
  // lock-free to read: a group's member array is replaced by a larger copy when full (the old
  // one stays alive until the pool dies, so a reader holding it is never left dangling), and a
  // reader loads the count before the array, so the array it sees holds at least that many.

  struct TierGroup {
    std::uint32_t tier = 0;
    std::atomic<const std::uint32_t*> members{nullptr};
    std::atomic<std::uint32_t> count{0};
    std::uint32_t room = 0;  // admin only
  };

  void add_tier(std::uint32_t tier) {
    const std::size_t groups = tier_count_.load(std::memory_order_relaxed);
    for (std::size_t g = 0; g < groups; ++g)
      if (tier_groups_[g].tier == tier) return;
    tier_groups_[groups].tier = tier;
    // A new order: group ids sorted by tier, published before the count that makes it readable.
    auto& order = tier_orders_.emplace_back(std::make_unique<std::uint8_t[]>(groups + 1));
    for (std::size_t g = 0; g <= groups; ++g) order[g] = static_cast<std::uint8_t>(g);
    std::sort(order.get(), order.get() + groups + 1,
              [this](std::uint8_t a, std::uint8_t b) { return tier_groups_[a].tier < tier_groups_[b].tier; });
    tier_order_.store(order.get(), std::memory_order_release);
    tier_count_.store(groups + 1, std::memory_order_release);
  }

  void append_to_tier(std::uint32_t tier, std::uint32_t index) {
    const std::size_t groups = tier_count_.load(std::memory_order_relaxed);
    for (std::size_t g = 0; g < groups; ++g) {
      TierGroup& group = tier_groups_[g];
      if (group.tier != tier) continue;
      const std::uint32_t count = group.count.load(std::memory_order_relaxed);
      if (count == group.room) {
        const std::uint32_t room = std::max<std::uint32_t>(8, group.room * 2);
        auto& grown = tier_arrays_.emplace_back(std::make_unique<std::uint32_t[]>(room));
        const std::uint32_t* old = group.members.load(std::memory_order_relaxed);
        if (old != nullptr) std::copy(old, old + count, grown.get());
        grown[count] = index;
        group.room = room;
        group.members.store(grown.get(), std::memory_order_release);
      } else {
        const_cast<std::uint32_t*>(group.members.load(std::memory_order_relaxed))[count] = index;
      }
      group.count.store(count + 1, std::memory_order_release);
      return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The selection context: what a selection policy sees during one acquire.

  class Context {
   public:
    Context(BasicKeyPool& pool, const Request& request, TimePoint now, detail::Reservation& reservation) noexcept
        : pool_(pool), request_(request), amounts_(detail::amounts_of(request)), now_(now),
          now_ns_(detail::to_ns(now)), now_sec_(detail::to_seconds(now)), size_(pool.key_count()),
          reservation_(reservation) {}

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] const Request& request() const noexcept { return request_; }
    [[nodiscard]] TimePoint now() const noexcept { return now_; }
    [[nodiscard]] ProviderId provider(std::size_t i) const noexcept { return pool_.records_[i].provider; }
    [[nodiscard]] std::uint32_t tier(std::size_t i) const noexcept { return pool_.records_[i].tier; }
    [[nodiscard]] std::uint32_t weight(std::size_t i) const noexcept { return pool_.records_[i].weight; }
    [[nodiscard]] std::string_view label(std::size_t i) const noexcept { return pool_.records_[i].label; }
    /// A hash of key i's label: the same in every process and run (for rendezvous hashing).
    [[nodiscard]] std::uint64_t key_hash(std::size_t i) const noexcept { return pool_.records_[i].hash; }
    /// The sum of the weights of keys 0 … i (inclusive); increasing in i.
    [[nodiscard]] std::uint64_t cumulative_weight(std::size_t i) const noexcept {
      return pool_.records_[i].cumulative_weight;
    }
    /// Key i's consecutive transient failures (0 for a healthy key).
    [[nodiscard]] std::uint64_t failures(std::size_t i) const noexcept {
      return detail::word(pool_.records_[i].slot->health).load(std::memory_order_relaxed);
    }
    /// What is left of key i's tightest limit for this request's priority, as a fraction in
    /// [0, 1] (0 when the key is blocked). Loads only.
    [[nodiscard]] double headroom(std::size_t i) const noexcept {
      return pool_.headroom(pool_.records_[i], request_.priority, now_ns_, now_sec_);
    }
    /// How long until key i could admit this request (zero: now). Loads only.
    [[nodiscard]] Duration wait(std::size_t i) const noexcept {
      return pool_.verdict(pool_.records_[i], request_, now_, now_ns_, now_sec_).wait;
    }
    /// The number of distinct provider tiers, and a view of the keys of the t-th lowest tier
    /// (a context of the same shape whose indices 0 … size()-1 map to that tier's keys).
    [[nodiscard]] std::size_t tier_count() const noexcept { return pool_.tier_count_.load(std::memory_order_acquire); }
    [[nodiscard]] auto tier_view(std::size_t t) noexcept {
      const std::uint8_t* order = pool_.tier_order_.load(std::memory_order_acquire);
      const TierGroup& group = pool_.tier_groups_[order[t]];
      const std::uint32_t count = group.count.load(std::memory_order_acquire);
      const std::uint32_t* members = group.members.load(std::memory_order_acquire);
      // Keys published after this acquire began are left out (size_ is this acquire's key count);
      // members are appended in increasing key order, so they can only be at the end.
      std::uint32_t visible = count;
      while (visible > 0 && members[visible - 1] >= size_) --visible;
      return Subset<Context>{*this, members, visible, group.tier};
    }
    /// Reports that traffic moved from provider `from` to provider `to` (select::Priority).
    void failover(ProviderId from, ProviderId to) noexcept { pool_.report_failover(from, to, now_); }

    [[nodiscard]] bool try_key(std::size_t i) noexcept {
      const detail::KeyRecord& key = pool_.records_[i];
      // The generation is read before reserving: a reset racing with this acquire makes the lease
      // settle nothing, which can only over-count.
      const std::uint64_t generation = detail::word(key.slot->generation).load(std::memory_order_relaxed);
      if (pool_.try_reserve(key, amounts_, request_.priority, now_, now_ns_, now_sec_, reservation_.epochs)) {
        reservation_.key = &key;
        reservation_.generation = generation;
        reservation_.estimate = request_;
        return true;
      }
      const detail::KeyVerdict verdict = pool_.verdict(key, request_, now_, now_ns_, now_sec_);
      note(verdict);
      if constexpr (events_enabled) {
        if (verdict.reason == Reason::exhausted) pool_.check_provider_exhausted(key, request_, now_);
      }
      return false;
    }

    [[nodiscard]] Refusal refusal() const noexcept {
      Refusal refusal;
      if (!any_verdict_) return refusal;  // no keys
      refusal.reason = best_.reason;
      refusal.retry_after = best_.wait;
      refusal.resets_at = best_.wait == Duration::max() ? TimePoint::max() : now_ + best_.wait;
      return refusal;
    }

   private:
    friend class BasicKeyPool;

    void note(const detail::KeyVerdict& verdict) noexcept {
      // The shortest wait wins; among keys that can never serve, "too_large" only when all are.
      if (!any_verdict_ || verdict.wait < best_.wait ||
          (verdict.wait == best_.wait && best_.reason == Reason::too_large)) {
        best_ = verdict;
      }
      any_verdict_ = true;
    }

    BasicKeyPool& pool_;
    const Request& request_;
    detail::Amounts amounts_;
    TimePoint now_;
    std::uint64_t now_ns_;
    std::int64_t now_sec_;
    std::size_t size_;
    detail::Reservation& reservation_;
    detail::KeyVerdict best_{};
    bool any_verdict_ = false;
  };

  /// A context restricted to some of the keys (a tier): index j stands for key members[j].
  template <class Parent>
  class Subset {
   public:
    Subset(Parent& parent, const std::uint32_t* members, std::uint32_t count, std::uint32_t tier) noexcept
        : parent_(parent), members_(members), count_(count), tier_(tier) {}

    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] const Request& request() const noexcept { return parent_.request(); }
    [[nodiscard]] TimePoint now() const noexcept { return parent_.now(); }
    [[nodiscard]] ProviderId provider(std::size_t j) const noexcept { return parent_.provider(members_[j]); }
    [[nodiscard]] std::uint32_t tier(std::size_t j) const noexcept { return parent_.tier(members_[j]); }
    [[nodiscard]] std::uint32_t weight(std::size_t j) const noexcept { return parent_.weight(members_[j]); }
    [[nodiscard]] std::string_view label(std::size_t j) const noexcept { return parent_.label(members_[j]); }
    [[nodiscard]] std::uint64_t key_hash(std::size_t j) const noexcept { return parent_.key_hash(members_[j]); }
    /// Cumulative over this subset's keys only. O(j): cheap for the small tiers it serves.
    [[nodiscard]] std::uint64_t cumulative_weight(std::size_t j) const noexcept {
      std::uint64_t sum = 0;
      for (std::size_t k = 0; k <= j; ++k) sum += parent_.weight(members_[k]);
      return sum;
    }
    [[nodiscard]] std::uint64_t failures(std::size_t j) const noexcept { return parent_.failures(members_[j]); }
    [[nodiscard]] double headroom(std::size_t j) const noexcept { return parent_.headroom(members_[j]); }
    [[nodiscard]] Duration wait(std::size_t j) const noexcept { return parent_.wait(members_[j]); }
    [[nodiscard]] std::size_t tier_count() const noexcept { return 1; }
    [[nodiscard]] Subset tier_view(std::size_t) noexcept { return *this; }
    void failover(ProviderId from, ProviderId to) noexcept { parent_.failover(from, to); }
    [[nodiscard]] bool try_key(std::size_t j) noexcept { return parent_.try_key(members_[j]); }
    /// The tier these keys share.
    [[nodiscard]] std::uint32_t tier_value() const noexcept { return tier_; }

   private:
    Parent& parent_;
    const std::uint32_t* members_;
    std::uint32_t count_;
    std::uint32_t tier_;
  };

  // ---------------------------------------------------------------------------------------------
  // Reservation: the gate, then every limit, rolling back on the first refusal.

  bool try_reserve(const detail::KeyRecord& key, const detail::Amounts& amounts, Priority priority, TimePoint now,
                   std::uint64_t now_ns, std::int64_t now_sec,
                   std::array<std::uint64_t, max_limits_per_key>& epochs) noexcept {
    // The health gate: one relaxed load. A cooldown set concurrently may let one more request
    // through, which the provider then refuses; quotas are never over-admitted by it.
    if (detail::word(key.slot->blocked_until).load(std::memory_order_relaxed) > now_ns) return false;
    const detail::LimitPlan* plans = key.plans;
    const std::size_t count = key.limit_count;
    const std::size_t level = static_cast<std::size_t>(priority);
    // Limits whose reservation reached a threshold: reported only once every limit has admitted
    // (a reservation rolled back by a later limit must not alert, nor claim the level).
    std::uint32_t crossing = 0;
    std::array<std::uint64_t, max_limits_per_key> used_before;
    for (std::size_t i = 0; i < count; ++i) {
      const detail::LimitPlan& plan = plans[i];
      const std::uint64_t amount = amounts[static_cast<std::size_t>(plan.metric)];
      if (plan.kind == Limit::Kind::window) [[likely]] {
        // Fast path: the stored window is current (its cached end is ahead) and one CAS adds
        // the amount. used + amount ≤ cap ≤ mask/4, so the addition never spills into the epoch.
        KeySlot::Counter& counter = key.slot->counters[i];
        std::uint64_t seen = detail::word(counter.state).load(std::memory_order_relaxed);
        const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
        const std::uint64_t used = plan.packing.used(seen);
        if (detail::WindowEnd::matches(cached, plan.packing.epoch(seen)) &&
            now_sec < detail::WindowEnd::end_seconds(cached) && amount <= plan.cap[level] &&
            used + amount <= plan.cap[level] &&
            detail::word(counter.state).compare_exchange_strong(seen, seen + amount, std::memory_order_relaxed)) {
          epochs[i] = plan.packing.epoch(seen);
          if constexpr (events_enabled && !leasing) {  // leased: the store reports the fleet's crossings
            if (used + amount >= plan.threshold_at[0]) [[unlikely]] {
              crossing |= 1u << i;
              used_before[i] = used;
            }
          }
          continue;
        }
      }
      // Everything else: a new window, a full one, a lost race, rolling and per-request limits.
      std::uint64_t before = 0;
      if (!reserve_one(key, i, plan, amount, priority, now, now_ns, now_sec, epochs[i], before)) {
        for (std::size_t j = 0; j < i; ++j)
          release(key, j, plans[j], amounts[static_cast<std::size_t>(plans[j].metric)], epochs[j], now_ns);
        return false;
      }
      if constexpr (events_enabled && !leasing) {
        if (plan.kind == Limit::Kind::window && before + amount >= plan.threshold_at[0]) {
          crossing |= 1u << i;
          used_before[i] = before;
        }
      }
    }
    if constexpr (events_enabled) {
      for (std::size_t i = 0; crossing != 0; ++i, crossing >>= 1)
        if ((crossing & 1u) != 0)
          report_crossings(key, i, plans[i], epochs[i], used_before[i],
                           used_before[i] + amounts[static_cast<std::size_t>(plans[i].metric)], now);
    }
    return true;
  }

  // All counter words are independent: each limit's invariant (admitted usage ≤ cap) holds on its
  // own word through its CAS, so relaxed ordering suffices; no other memory is published through
  // them. A lease that crosses threads is synchronized by whatever handed it over.
  [[gnu::noinline]] bool reserve_one(const detail::KeyRecord& key, std::size_t i, const detail::LimitPlan& plan, std::uint64_t amount,
                   Priority request_priority, TimePoint now, std::uint64_t now_ns, std::int64_t now_sec,
                   std::uint64_t& epoch_out, std::uint64_t& used_before) noexcept {
    const std::size_t priority = static_cast<std::size_t>(request_priority);
    switch (plan.kind) {
      case Limit::Kind::per_request:
        return amount <= plan.amount;

      case Limit::Kind::window: {
        const std::uint64_t cap = plan.cap[priority];
        if (amount > cap) return false;
        KeySlot::Counter& counter = key.slot->counters[i];
        auto state = detail::word(counter.state);
        std::uint64_t seen = state.load(std::memory_order_relaxed);
        for (;;) {
          const std::uint64_t stored_epoch = plan.packing.epoch(seen);
          const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
          std::uint64_t epoch = stored_epoch;
          std::uint64_t used = plan.packing.used(seen);
          std::int64_t new_end = -1;  // set when the window cache must be (re)published
          if (!(detail::WindowEnd::matches(cached, stored_epoch) && now_sec < detail::WindowEnd::end_seconds(cached))) {
            // Slow path, once per window boundary: calendar math.
            const auto current = current_window(plan, now_sec);
            if (current.epoch > stored_epoch) {
              epoch = current.epoch;  // a stale window reads as empty
              used = 0;
              // Leased: as "nothing in hand" (the limit), until the store's lease for it lands.
              if constexpr (leasing) used = plan.amount;
              new_end = current.end;
            } else {
              // Same window, or the clock stepped back: keep counting in the stored window, so
              // usage is never reset early.
              new_end = current.epoch == stored_epoch ? current.end : window_end_of(plan, stored_epoch);
            }
          }
          if (used + amount > cap) {
            if constexpr (events_enabled && !leasing) {  // leased: an empty hand is not the fleet's exhaustion
              if (cap == plan.amount) report_exhausted(key, i, plan, epoch, used, now);
            }
            return false;  // refused without a write
          }
          const std::uint64_t desired = plan.packing.pack(epoch, used + amount);
          if (state.compare_exchange_weak(seen, desired, std::memory_order_relaxed)) {
            if (new_end >= 0)
              detail::word(counter.window_end).store(detail::WindowEnd::pack(epoch, new_end), std::memory_order_relaxed);
            epoch_out = epoch;
            used_before = used;  // the caller reports crossings once the whole key has admitted
            return true;
          }
        }
      }

      case Limit::Kind::rolling: {
        if (amount > plan.amount) return false;  // also keeps amount × interval from overflowing
        if constexpr (leasing) {
          // Leased: the word is the units in hand, signed (below zero after commits above the
          // estimate, until the store debits the difference); the fleet's GCRA is in the backend.
          auto hand = detail::word(key.slot->counters[i].state);
          std::uint64_t seen = hand.load(std::memory_order_relaxed);
          for (;;) {
            if (static_cast<std::int64_t>(seen) < static_cast<std::int64_t>(amount)) return false;
            if (hand.compare_exchange_weak(seen, seen - amount, std::memory_order_relaxed)) {
              epoch_out = 0;
              return true;
            }
          }
        }
        // GCRA: admit when the theoretical arrival time after this request is at most one burst
        // ahead of now.
        const std::uint64_t increment = amount * plan.interval_ns;
        const std::uint64_t burst = plan.cap[priority];
        if (increment > burst) return false;
        auto state = detail::word(key.slot->counters[i].state);
        std::uint64_t tat = state.load(std::memory_order_relaxed);
        for (;;) {
          const std::uint64_t next = std::max(tat, now_ns) + increment;
          if (next - now_ns > burst) return false;  // refused without a write
          if (state.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
            epoch_out = next;  // a refund may give back only what is still ahead of the clock
            return true;
          }
        }
      }

      case Limit::Kind::unset:
        break;
    }
    return false;
  }

  /// Gives back `amount` reserved in window `epoch` (calendar), or as GCRA time (rolling) for a
  /// reservation whose theoretical arrival time ended at `epoch`: only the part of it still ahead
  /// of `now_ns` is given back, since the rest has already replenished. A calendar window that has
  /// ended keeps what it counted: there is nothing left to refund.
  void release(const detail::KeyRecord& key, std::size_t i, const detail::LimitPlan& plan, std::uint64_t amount,
               std::uint64_t epoch, std::uint64_t now_ns) noexcept {
    if (amount == 0) return;
    auto state = detail::word(key.slot->counters[i].state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    switch (plan.kind) {
      case Limit::Kind::window:
        for (;;) {
          if (plan.packing.epoch(seen) != epoch) return;
          const std::uint64_t used = plan.packing.used(seen);
          const std::uint64_t desired = plan.packing.pack(epoch, used - std::min(used, amount));
          if (state.compare_exchange_weak(seen, desired, std::memory_order_relaxed)) return;
        }
      case Limit::Kind::rolling: {
        if constexpr (leasing) {
          state.fetch_add(std::min(amount, plan.amount), std::memory_order_relaxed);  // back in hand
          return;
        }
        const std::uint64_t ahead = epoch > now_ns ? epoch - now_ns : 0;
        const std::uint64_t refund = std::min(std::min(amount, plan.amount) * plan.interval_ns, ahead);
        if (refund == 0) return;
        for (;;) {
          const std::uint64_t desired = seen - std::min(seen, refund);
          if (state.compare_exchange_weak(seen, desired, std::memory_order_relaxed)) return;
        }
      }
      case Limit::Kind::per_request:
      case Limit::Kind::unset:
        return;
    }
  }

  /// Adds `amount` more usage (a commit above the estimate) in window `epoch`; unconditional
  /// (the call already happened), saturating. A window that has ended is not charged.
  void charge(const detail::KeyRecord& key, std::size_t i, const detail::LimitPlan& plan, std::uint64_t amount,
              std::uint64_t epoch, const TimePoint* now) noexcept {
    if (amount == 0) return;
    auto state = detail::word(key.slot->counters[i].state);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    switch (plan.kind) {
      case Limit::Kind::window:
        for (;;) {
          if (plan.packing.epoch(seen) != epoch) return;
          const std::uint64_t used = plan.packing.used(seen);
          const std::uint64_t after = std::min(used + std::min(amount, plan.packing.mask), plan.packing.mask);
          if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, after), std::memory_order_relaxed)) {
            if constexpr (events_enabled && !leasing) {
              if (after >= plan.threshold_at[0]) report_crossings(key, i, plan, epoch, used, after, time_or_now(now));
            }
            return;
          }
        }
      case Limit::Kind::rolling: {
        if constexpr (leasing) {
          // Spent beyond the hand: a debt the store debits from the fleet's rate.
          state.fetch_sub(std::min(amount, plan.amount * 1024), std::memory_order_relaxed);
          return;
        }
        // The extra usage happened by now; charge it from now, saturating far in the future.
        const std::uint64_t now_ns = detail::to_ns(time_or_now(now));
        const std::uint64_t ceiling = std::numeric_limits<std::uint64_t>::max() / 2;
        const std::uint64_t increment = std::min(amount, ceiling / plan.interval_ns) * plan.interval_ns;
        for (;;) {
          const std::uint64_t base = std::max(seen, now_ns);
          const std::uint64_t desired = base > ceiling - increment ? ceiling : base + increment;
          if (state.compare_exchange_weak(seen, desired, std::memory_order_relaxed)) return;
        }
      }
      case Limit::Kind::per_request:
      case Limit::Kind::unset:
        return;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Settlement (Lease → pool)

  void settle(detail::Reservation& reservation, detail::Settlement how, const Cost* actual, const Outcome* outcome,
              const TimePoint* now) noexcept override {
    const detail::KeyRecord& key = *reservation.key;
    const detail::LimitPlan* plans = key.plans;
    // After a reset, the counts no longer hold this reservation: settle nothing against them.
    const std::size_t count =
        detail::word(key.slot->generation).load(std::memory_order_relaxed) == reservation.generation ? key.limit_count : 0;
    const std::uint64_t now_ns = detail::to_ns(time_or_now(now));
    if (how == detail::Settlement::fail && outcome->kind() == Outcome::Kind::success) {
      // fail(success), e.g. fail(classify(200, …)): a commit at the estimate with the reports.
      how = detail::Settlement::commit;
      actual = nullptr;
    }
    switch (how) {
      case detail::Settlement::commit:
        if (actual != nullptr && !detail::same_cost(*actual, reservation.estimate)) {
          const detail::Amounts estimate = detail::amounts_of(reservation.estimate);
          const detail::Amounts real_cost = detail::amounts_of(*actual);
          for (std::size_t i = 0; i < count; ++i) {
            if (plans[i].metric == Metric::requests) continue;
            const std::uint64_t estimated = estimate[static_cast<std::size_t>(plans[i].metric)];
            const std::uint64_t real = real_cost[static_cast<std::size_t>(plans[i].metric)];
            if (real > estimated) charge(key, i, plans[i], real - estimated, reservation.epochs[i], now);
            else release(key, i, plans[i], estimated - real, reservation.epochs[i], now_ns);
          }
        }
        record_success(key);
        if (outcome != nullptr && !outcome->remaining().empty())
          apply_reports(key, *outcome, TimePoint{Duration{static_cast<std::int64_t>(now_ns)}});
        return;
      case detail::Settlement::cancel:
        for (std::size_t i = 0; i < count; ++i)
          release(key, i, plans[i], amount_of(plans[i].metric, reservation.estimate), reservation.epochs[i], now_ns);
        return;
      case detail::Settlement::fail:
        // The provider refused the call: what it would have cost is refunded, but the request
        // itself was made and stays counted (providers count refused requests too).
        for (std::size_t i = 0; i < count; ++i)
          if (plans[i].metric != Metric::requests)
            release(key, i, plans[i], amount_of(plans[i].metric, reservation.estimate), reservation.epochs[i], now_ns);
        apply_outcome(key, *outcome, TimePoint{Duration{static_cast<std::int64_t>(now_ns)}});
        return;
    }
  }

  void record_success(const detail::KeyRecord& key) noexcept {
    detail::word(key.slot->successes).fetch_add(1, std::memory_order_relaxed);
    auto health = detail::word(key.slot->health);
    if (health.load(std::memory_order_relaxed) != 0) health.store(0, std::memory_order_relaxed);  // closes the circuit
  }

  /// Counts a failure in the key's health counters and remembers it as the last error.
  void record_failure(const detail::KeyRecord& key, const Outcome& outcome, TimePoint now) noexcept {
    detail::word(key.slot->failures).fetch_add(1, std::memory_order_relaxed);
    if (outcome.kind() == Outcome::Kind::rate_limited || outcome.kind() == Outcome::Kind::quota_exhausted)
      detail::word(key.slot->rate_limited).fetch_add(1, std::memory_order_relaxed);
    const auto status = static_cast<std::uint64_t>(std::clamp(outcome.status(), 0, 0xffff));
    const auto seconds = static_cast<std::uint64_t>(detail::to_seconds(now)) & ((std::uint64_t{1} << 40) - 1);
    detail::word(key.slot->last_error)
        .store((seconds << 24) | (status << 8) | static_cast<std::uint64_t>(outcome.kind()), std::memory_order_relaxed);
  }

  /// Tightens the key's calendar counts to what the provider reported left: a limit's usage is
  /// raised (never lowered) so that at most the reported remainder is left. Which limit a report is about: the one with the
  /// reported amount, else the shortest window that lasts until the reported reset, else the
  /// only calendar limit of that metric; otherwise the report is ignored.
  void apply_reports(const detail::KeyRecord& key, const Outcome& outcome, TimePoint now) noexcept {
    const detail::LimitPlan* plans = key.plans;
    const std::size_t count = key.limit_count;
    const std::int64_t now_sec = detail::to_seconds(now);
    for (const ProviderRemaining& report : outcome.remaining()) {
      std::size_t chosen = count;
      std::size_t candidates = 0;
      std::size_t only = count;
      for (std::size_t i = 0; i < count; ++i)
        if (plans[i].kind == Limit::Kind::window && plans[i].metric == report.metric) {
          ++candidates;
          only = i;
          if (report.limit != 0 && plans[i].amount == report.limit && chosen == count) chosen = i;
        }
      if (chosen == count && report.resets_at > now) {
        std::int64_t best_length = std::numeric_limits<std::int64_t>::max();
        const auto reset_in = std::chrono::duration_cast<std::chrono::seconds>(report.resets_at - now).count();
        for (std::size_t i = 0; i < count; ++i) {
          if (plans[i].kind != Limit::Kind::window || plans[i].metric != report.metric) continue;
          const auto window = current_window(plans[i], now_sec);
          const std::int64_t start = detail::window_start(plans[i].limit.unit(), plans[i].limit.zone(),
                                                          static_cast<std::int64_t>(window.epoch))
                                         .time_since_epoch()
                                         .count();
          const std::int64_t length = window.end - start;
          if (length + 1 >= reset_in && length < best_length) {
            best_length = length;
            chosen = i;
          }
        }
      }
      if (chosen == count && candidates == 1) chosen = only;
      if (chosen == count) continue;
      const detail::LimitPlan& plan = plans[chosen];
      raise_window(key, chosen, plan, now_sec, plan.amount - std::min(report.remaining, plan.amount), now);
    }
  }

  /// Raises a calendar limit's usage in the current window to at least `floor`.
  void raise_window(const detail::KeyRecord& key, std::size_t i, const detail::LimitPlan& plan, std::int64_t now_sec,
                    std::uint64_t floor, TimePoint now) noexcept {
    auto state = detail::word(key.slot->counters[i].state);
    const auto current = current_window(plan, now_sec);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored = plan.packing.epoch(seen);
      if (stored > current.epoch) return;  // the clock stepped back: leave the later window alone
      // Leased: a stale window holds nothing in hand (the limit), so a report only ever lowers
      // the hand; it never hands out quota the backend did not debit.
      const std::uint64_t used = stored == current.epoch ? plan.packing.used(seen) : (leasing ? plan.amount : 0);
      if (used >= floor) return;
      if (state.compare_exchange_weak(seen, plan.packing.pack(current.epoch, floor), std::memory_order_relaxed)) {
        detail::word(key.slot->counters[i].window_end)
            .store(detail::WindowEnd::pack(current.epoch, current.end), std::memory_order_relaxed);
        if constexpr (events_enabled && !leasing) {
          if (floor >= plan.threshold_at[0]) report_crossings(key, i, plan, current.epoch, used, floor, now);
        }
        return;
      }
    }
  }

  /// Raises blocked_until to `until` unless it is already later (a longer deadline is never
  /// shortened). Returns true when it moved.
  bool block_until(const detail::KeyRecord& key, std::uint64_t until) noexcept {
    // Leased: the provider's answer is about the key, for every instance: share the cooldown.
    if constexpr (leasing) store_.publish_cooldown(key.id.value, until);
    auto blocked = detail::word(key.slot->blocked_until);
    std::uint64_t current = blocked.load(std::memory_order_relaxed);
    while (current < until) {
      if (blocked.compare_exchange_weak(current, until, std::memory_order_relaxed)) return true;
    }
    return false;
  }

  void apply_outcome(const detail::KeyRecord& key, const Outcome& outcome, TimePoint now) noexcept {
    const std::uint64_t now_ns = detail::to_ns(now);
    if (outcome.kind() != Outcome::Kind::success && outcome.kind() != Outcome::Kind::bad_request)
      record_failure(key, outcome, now);
    if (!outcome.remaining().empty()) apply_reports(key, outcome, now);
    switch (outcome.kind()) {
      case Outcome::Kind::success:
        record_success(key);
        return;
      case Outcome::Kind::bad_request:
        return;  // not the key's fault
      case Outcome::Kind::rate_limited: {
        const Duration wait = outcome.retry_after() > Duration::zero() ? outcome.retry_after() : health_.default_cooldown;
        const TimePoint until = now + wait;
        if (block_until(key, detail::to_ns(until))) emit_key_event(EventKind::key_cooling_down, key, now, until);
        return;
      }
      case Outcome::Kind::quota_exhausted: {
        if (outcome.until() == TimePoint::max()) {
          // Out until someone acts (billing: OpenAI's insufficient_quota, HTTP 402): disabled.
          const auto previous = detail::word(key.slot->blocked_until).exchange(disabled_until, std::memory_order_relaxed);
          if constexpr (leasing) store_.publish_disabled(key.id.value, true);
          if (previous != disabled_until) emit_key_event(EventKind::key_disabled, key, now, TimePoint::max());
          return;
        }
        // Which limit is spent: with `until`, every calendar limit of the metric whose window
        // ends by then (a per-minute answer marks the minute, a per-day one the day too);
        // without it, the longest calendar window of the metric (a quota, not a rate).
        const detail::LimitPlan* plans = key.plans;
        const std::size_t count = key.limit_count;
        const std::int64_t now_sec = detail::to_seconds(now);
        const std::uint64_t until_ns = detail::to_ns(outcome.until());
        const bool has_until = until_ns > now_ns;
        std::int64_t longest_end = 0;
        for (std::size_t i = 0; i < count; ++i)
          if (plans[i].kind == Limit::Kind::window && plans[i].metric == outcome.metric())
            longest_end = std::max(longest_end, current_window(plans[i], now_sec).end);
        bool marked = false;
        std::int64_t latest_marked_end = 0;
        for (std::size_t i = 0; i < count; ++i) {
          if (plans[i].kind != Limit::Kind::window || plans[i].metric != outcome.metric()) continue;
          const auto window = current_window(plans[i], now_sec);
          const bool matches = has_until ? static_cast<std::uint64_t>(window.end) * 1'000'000'000ull <= until_ns + 1'000'000'000ull
                                         : window.end == longest_end;
          if (!matches) continue;
          fill_window(key, i, plans[i], now_sec);
          if constexpr (leasing) store_.publish_exhausted(key.id.value, i);  // the fleet's window is spent too
          if constexpr (events_enabled) report_exhausted(key, i, plans[i], window.epoch, plans[i].amount, now);
          marked = true;
          latest_marked_end = std::max(latest_marked_end, window.end);
        }
        // Nothing matched, or the provider names a later time than our windows: cool the key.
        const bool later_than_windows = has_until && until_ns > static_cast<std::uint64_t>(latest_marked_end) * 1'000'000'000ull;
        if (!marked || later_than_windows) {
          const TimePoint until = has_until ? outcome.until() : now + health_.default_cooldown;
          if (block_until(key, detail::to_ns(until))) emit_key_event(EventKind::key_cooling_down, key, now, until);
        }
        return;
      }
      case Outcome::Kind::auth_failed: {
        const auto previous = detail::word(key.slot->blocked_until).exchange(disabled_until, std::memory_order_relaxed);
        if constexpr (leasing) store_.publish_disabled(key.id.value, true);  // a refused credential is refused everywhere
        if (previous != disabled_until) emit_key_event(EventKind::key_disabled, key, now, TimePoint::max());
        return;
      }
      case Outcome::Kind::transient: {
        const std::uint64_t failures = detail::word(key.slot->health).fetch_add(1, std::memory_order_relaxed) + 1;
        if (failures < health_.circuit_threshold) return;
        // Open the circuit: base × 2^(failures − threshold), capped, with ±25% jitter so keys
        // that failed together do not come back together.
        const std::uint64_t doublings = std::min<std::uint64_t>(failures - health_.circuit_threshold, 30);
        const auto base = static_cast<std::uint64_t>(health_.circuit_base.count());
        const auto max = static_cast<std::uint64_t>(health_.circuit_max.count());
        std::uint64_t cooldown = std::min(max, base << doublings);
        std::uint64_t mix = (now_ns ^ (std::uint64_t{key.id.value} * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
        mix ^= mix >> 31;
        cooldown = std::min(max, cooldown - cooldown / 4 + (cooldown / 2 == 0 ? 0 : mix % (cooldown / 2 + 1)));
        const TimePoint until = now + Duration{static_cast<std::int64_t>(cooldown)};
        if (block_until(key, detail::to_ns(until))) emit_key_event(EventKind::key_cooling_down, key, now, until);
        return;
      }
    }
  }

  /// Sets a calendar limit's usage to at least its amount in the window containing `now_sec`.
  void fill_window(const detail::KeyRecord& key, std::size_t i, const detail::LimitPlan& plan, std::int64_t now_sec) noexcept {
    auto state = detail::word(key.slot->counters[i].state);
    const auto current = current_window(plan, now_sec);
    std::uint64_t seen = state.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t stored = plan.packing.epoch(seen);
      const std::uint64_t epoch = std::max(stored, current.epoch);
      const std::uint64_t used = epoch == stored ? plan.packing.used(seen) : 0;
      if (used >= plan.amount) return;
      if (state.compare_exchange_weak(seen, plan.packing.pack(epoch, plan.amount), std::memory_order_relaxed)) {
        if (epoch == current.epoch)
          detail::word(key.slot->counters[i].window_end)
              .store(detail::WindowEnd::pack(epoch, current.end), std::memory_order_relaxed);
        return;
      }
    }
  }

  void reset_counters(const detail::KeyRecord& key, const Metric* only) noexcept {
    detail::word(key.slot->generation).fetch_add(1, std::memory_order_relaxed);
    const detail::LimitPlan* plans = key.plans;
    const std::size_t count = key.limit_count;
    for (std::size_t i = 0; i < count; ++i) {
      if (only != nullptr && plans[i].metric != *only) continue;
      auto state = detail::word(key.slot->counters[i].state);
      if (plans[i].kind == Limit::Kind::window) {
        // Keep the window, drop the usage: a clock that later steps back still cannot reopen it.
        // Leased: drop what is in hand too (the backend's count is reset with it).
        const std::uint64_t kept = leasing ? plans[i].amount : 0;
        std::uint64_t seen = state.load(std::memory_order_relaxed);
        while (!state.compare_exchange_weak(seen, plans[i].packing.pack(plans[i].packing.epoch(seen), kept),
                                            std::memory_order_relaxed)) {
        }
      } else {
        state.store(0, std::memory_order_relaxed);
      }
      detail::word(key.slot->alerted[i]).store(0, std::memory_order_relaxed);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Refusal: why a key cannot serve, and for how long (loads only)

  detail::KeyVerdict verdict(const detail::KeyRecord& key, const Request& request, TimePoint now, std::uint64_t now_ns,
                             std::int64_t now_sec) const noexcept {
    detail::KeyVerdict result{Reason::rate_limited, Duration::zero()};
    auto consider = [&result](Reason reason, Duration wait) {
      if (wait > result.wait || (wait == result.wait && wait == Duration::max())) result = {reason, wait};
    };
    const std::size_t priority = static_cast<std::size_t>(request.priority);
    const detail::LimitPlan* plans = key.plans;
    const std::size_t count = key.limit_count;
    for (std::size_t i = 0; i < count; ++i) {
      const detail::LimitPlan& plan = plans[i];
      const std::uint64_t amount = amount_of(plan.metric, request);
      switch (plan.kind) {
        case Limit::Kind::per_request:
          if (amount > plan.amount) consider(Reason::too_large, Duration::max());
          break;
        case Limit::Kind::window: {
          if (amount > plan.cap[priority]) {
            consider(Reason::too_large, Duration::max());
            break;
          }
          KeySlot::Counter& counter = key.slot->counters[i];
          const std::uint64_t seen = detail::word(counter.state).load(std::memory_order_relaxed);
          const std::uint64_t cached = detail::word(counter.window_end).load(std::memory_order_relaxed);
          const std::uint64_t stored = plan.packing.epoch(seen);
          const std::uint64_t used = plan.packing.used(seen);
          std::int64_t end;
          if (detail::WindowEnd::matches(cached, stored) && now_sec < detail::WindowEnd::end_seconds(cached)) {
            // The stored window is current and its end is cached (as on the hot path): no calendar math.
            if (used + amount <= plan.cap[priority]) break;
            end = detail::WindowEnd::end_seconds(cached);
          } else {
            const auto current = current_window(plan, now_sec);
            if (stored < current.epoch) {
              if constexpr (!leasing) break;  // a fresh window has room
              // Leased: nothing in hand for the new window, and the fleet had none to lease.
              consider(Reason::exhausted, std::max(Duration::zero(), detail::from_seconds(current.end) - now));
              break;
            }
            if (used + amount <= plan.cap[priority]) break;
            end = stored == current.epoch ? current.end : window_end_of(plan, stored);
          }
          consider(Reason::exhausted, std::max(Duration::zero(), detail::from_seconds(end) - now));
          break;
        }
        case Limit::Kind::rolling: {
          const std::uint64_t burst = plan.cap[priority];
          if (amount > plan.amount || amount * plan.interval_ns > burst) {
            consider(Reason::too_large, Duration::max());
            break;
          }
          const std::uint64_t tat = detail::word(key.slot->counters[i].state).load(std::memory_order_relaxed);
          if constexpr (leasing) {
            // Short in hand and the fleet had none to lease: the fleet's rate refills a unit per interval.
            const auto have = static_cast<std::int64_t>(tat);
            if (have < static_cast<std::int64_t>(amount))
              consider(Reason::rate_limited,
                       Duration{static_cast<std::int64_t>(static_cast<std::uint64_t>(static_cast<std::int64_t>(amount) -
                                                                                     std::max<std::int64_t>(0, have)) *
                                                          plan.interval_ns)});
            break;
          }
          const std::uint64_t next = std::max(tat, now_ns) + amount * plan.interval_ns;
          if (next - now_ns > burst)
            consider(Reason::rate_limited, Duration{static_cast<std::int64_t>(next - burst - now_ns)});
          break;
        }
        case Limit::Kind::unset:
          break;
      }
    }
    // Too large beats everything: a health gate does not make a request smaller.
    if (result.reason == Reason::too_large && result.wait == Duration::max()) return result;
    const std::uint64_t blocked = detail::word(key.slot->blocked_until).load(std::memory_order_relaxed);
    if (blocked == disabled_until) return {Reason::disabled, Duration::max()};
    if (blocked > now_ns) consider(Reason::cooling_down, Duration{static_cast<std::int64_t>(blocked - now_ns)});
    return result;
  }

  /// What is left of the key's tightest limit for `priority`, as a fraction (0 when blocked).
  double headroom(const detail::KeyRecord& key, Priority priority, std::uint64_t now_ns, std::int64_t now_sec) const noexcept {
    if (detail::word(key.slot->blocked_until).load(std::memory_order_relaxed) > now_ns) return 0.0;
    const std::size_t level = static_cast<std::size_t>(priority);
    double least = 1.0;
    const detail::LimitPlan* plans = key.plans;
    const std::size_t count = key.limit_count;
    for (std::size_t i = 0; i < count; ++i) {
      const detail::LimitPlan& plan = plans[i];
      std::uint64_t used = 0;
      std::uint64_t cap = plan.cap[level];
      if (plan.kind == Limit::Kind::window) {
        const std::uint64_t seen = detail::word(key.slot->counters[i].state).load(std::memory_order_relaxed);
        const std::uint64_t cached = detail::word(key.slot->counters[i].window_end).load(std::memory_order_relaxed);
        const std::uint64_t stored = plan.packing.epoch(seen);
        if (detail::WindowEnd::matches(cached, stored)) {
          if (now_sec < detail::WindowEnd::end_seconds(cached)) used = plan.packing.used(seen);
        } else if (stored >= current_window(plan, now_sec).epoch) {
          used = plan.packing.used(seen);
        }
      } else if (plan.kind == Limit::Kind::rolling) {
        const std::uint64_t tat = detail::word(key.slot->counters[i].state).load(std::memory_order_relaxed);
        used = tat > now_ns ? tat - now_ns : 0;
        if constexpr (leasing) {  // what is not in hand counts as used
          const auto have = static_cast<std::uint64_t>(std::max<std::int64_t>(0, static_cast<std::int64_t>(tat)));
          used = (plan.amount - std::min(plan.amount, have)) * plan.interval_ns;
        }
      } else {
        continue;
      }
      const double left = used >= cap ? 0.0 : static_cast<double>(cap - used) / static_cast<double>(cap);
      least = std::min(least, left);
    }
    return least;
  }

  void report_failover(ProviderId from, ProviderId to, TimePoint now) noexcept {
    if constexpr (events_enabled) {
      if (from.value >= provider_count() || to.value >= provider_count()) return;
      Event event;
      event.kind = EventKind::failover;
      event.at = now;
      event.provider = from;
      event.provider_name = providers_[from.value].name;
      event.to_provider = to;
      event.to_provider_name = providers_[to.value].name;
      deliver(event);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // LeaseHost: what a leasing store (store::Redis) calls back, from its own thread

  TimePoint lease_now() const noexcept override { return clock_.now(); }

  void lease_fleet_usage(std::size_t key, std::size_t limit, std::uint64_t epoch, std::uint64_t before,
                         std::uint64_t after, TimePoint now) noexcept override {
    if constexpr (events_enabled) {
      if (key >= key_count()) return;
      const detail::KeyRecord& record = records_[key];
      if (limit >= record.limit_count || record.plans[limit].kind != Limit::Kind::window || after <= before) return;
      if (after >= record.plans[limit].threshold_at[0])
        report_crossings(record, limit, record.plans[limit], epoch, before, after, now);
    }
  }

  void lease_backend_unavailable(TimePoint now, TimePoint retry_at) noexcept override {
    if constexpr (events_enabled) {
      Event event;
      event.kind = EventKind::backend_unavailable;
      event.at = now;
      event.resets_at = retry_at;
      deliver(event);
    }
  }

  void lease_reset(std::size_t key, std::uint32_t limits) noexcept override {
    if (key >= key_count()) return;
    const detail::KeyRecord& record = records_[key];
    for (std::size_t i = 0; i < record.limit_count; ++i) {
      if ((limits & (1u << i)) == 0) continue;
      const Metric metric = record.plans[i].metric;
      reset_counters(record, &metric);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Calendar helpers (slow path only)

  static detail::WindowNow current_window(const detail::LimitPlan& plan, std::int64_t now_sec) noexcept {
    return detail::current_window_of(plan.limit, now_sec);
  }
  static std::int64_t window_end_of(const detail::LimitPlan& plan, std::uint64_t epoch) noexcept {
    return detail::window_end_of(plan.limit, epoch);
  }

  TimePoint time_or_now(const TimePoint* now) const noexcept { return now != nullptr ? *now : clock_.now(); }

  // ---------------------------------------------------------------------------------------------
  // Events (slow path only: at crossings, first refusals, health changes)

  /// Marks `bits` as reported for window `epoch` of limit i; returns the bits this call set
  /// (each (key, limit, level, window) is reported by exactly one caller).
  std::uint8_t claim_alert(const detail::KeyRecord& key, std::size_t i, std::uint64_t epoch, std::uint8_t bits) noexcept {
    auto alerted = detail::word(key.slot->alerted[i]);
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

  [[gnu::noinline, gnu::cold]] void report_crossings(const detail::KeyRecord& key, std::size_t i,
                                                     const detail::LimitPlan& plan, std::uint64_t epoch,
                                                     std::uint64_t before, std::uint64_t after, TimePoint now) noexcept {
    std::uint8_t bits = plan.levels_crossed(before, after);
    if (before < plan.amount && after >= plan.amount) bits = static_cast<std::uint8_t>(bits | detail::exhausted_bit);
    if (bits == 0) return;
    const std::uint8_t fresh = claim_alert(key, i, epoch, bits);
    if (fresh == 0) return;
    Event event = limit_event(EventKind::threshold_crossed, key, plan, epoch, after, now);
    for (std::uint8_t level = 0; level < plan.level_count; ++level) {
      if ((fresh & (1u << level)) == 0) continue;
      event.level = plan.levels[level];
      deliver(event);
    }
    if ((fresh & detail::exhausted_bit) != 0) {
      event.kind = EventKind::key_exhausted;
      event.level = 1.0;
      deliver(event);
    }
  }

  [[gnu::noinline, gnu::cold]] void report_exhausted(const detail::KeyRecord& key, std::size_t i,
                                                     const detail::LimitPlan& plan, std::uint64_t epoch,
                                                     std::uint64_t used, TimePoint now) noexcept {
    // Cheap check first: after the first report of this window, refusals only load.
    const std::uint64_t seen = detail::word(key.slot->alerted[i]).load(std::memory_order_relaxed);
    if ((seen >> 8) == epoch && (seen & detail::exhausted_bit) != 0) return;
    if (claim_alert(key, i, epoch, detail::exhausted_bit) == 0) return;
    Event event = limit_event(EventKind::key_exhausted, key, plan, epoch, used, now);
    event.level = 1.0;
    deliver(event);
  }

  Event limit_event(EventKind kind, const detail::KeyRecord& key, const detail::LimitPlan& plan, std::uint64_t epoch,
                    std::uint64_t used, TimePoint now) const noexcept {
    Event event = key_event(kind, key, now, TimePoint{});
    event.metric = plan.metric;
    event.window = plan.limit.window_name();
    event.used = used;
    event.limit = plan.amount;
    event.resets_at = detail::from_seconds(window_end_of(plan, epoch));
    return event;
  }

  Event key_event(EventKind kind, const detail::KeyRecord& key, TimePoint now, TimePoint resets_at) const noexcept {
    Event event;
    event.kind = kind;
    event.at = now;
    event.provider = key.provider;
    event.provider_name = key.provider_record->name;
    event.key = key.id;
    event.key_label = key.label;
    event.resets_at = resets_at;
    return event;
  }

  void emit_key_event(EventKind kind, const detail::KeyRecord& key, TimePoint now, TimePoint resets_at) noexcept {
    if constexpr (events_enabled) deliver(key_event(kind, key, now, resets_at));
  }

  void deliver(const Event& event) noexcept {
    try {
      alerts_.emit(event);
    } catch (...) {
      sink_failures_.fetch_add(1, std::memory_order_relaxed);  // a failing sink must not break the pool
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Exhaustion of a provider or of the whole pool (refusal path), recovery and forecasts (poll)

  /// The soonest any of the given keys could serve `request` (zero: one can now).
  template <class Keys>
  Duration soonest(const Keys& keys, const Request& request, TimePoint now) const noexcept {
    const std::uint64_t now_ns = detail::to_ns(now);
    const std::int64_t now_sec = detail::to_seconds(now);
    Duration best = Duration::max();
    keys([&](const detail::KeyRecord& key) {
      best = std::min(best, verdict(key, request, now, now_ns, now_sec).wait);
      return best > Duration::zero();  // stop at the first key that can serve
    });
    return best;
  }

  auto provider_keys(ProviderId provider) const noexcept {
    return [this, provider](auto&& visit) {
      const std::size_t count = key_count();
      for (std::size_t i = 0; i < count; ++i)
        if (records_[i].provider == provider && !visit(records_[i])) return;
    };
  }
  auto all_keys() const noexcept {
    return [this](auto&& visit) {
      const std::size_t count = key_count();
      for (std::size_t i = 0; i < count; ++i)
        if (!visit(records_[i])) return;
    };
  }

  /// Called when a key refuses `request` for quota: reports provider_exhausted if no key of its
  /// provider can serve that request, once per occurrence (until the provider's earliest
  /// recovery, or a poll that sees it able to serve such a request again).
  [[gnu::noinline, gnu::cold]] void check_provider_exhausted(const detail::KeyRecord& key, const Request& request,
                                                             TimePoint now) noexcept {
    detail::ProviderRecord& provider = *key.provider_record;
    std::uint64_t seen = provider.exhausted_until.load(std::memory_order_relaxed);
    const std::uint64_t now_ns = detail::to_ns(now);
    if (seen > now_ns) return;  // reported already
    const Duration wait = soonest(provider_keys(key.provider), request, now);
    if (wait == Duration::zero()) return;
    const TimePoint until = wait == Duration::max() ? TimePoint::max() : now + wait;
    if (!provider.exhausted_until.compare_exchange_strong(seen, detail::to_ns(until), std::memory_order_relaxed)) return;
    provider.probe.store(request);
    Event event = key_event(EventKind::provider_exhausted, key, now, until);
    event.key = KeyId{};
    event.key_label = {};
    deliver(event);
  }

  /// Called when an acquire is refused: reports all_exhausted if no key at all can serve, once
  /// per occurrence.
  [[gnu::noinline, gnu::cold]] void check_all_exhausted(const Request& request, TimePoint now) noexcept {
    std::uint64_t seen = all_exhausted_until_.load(std::memory_order_relaxed);
    if (seen > detail::to_ns(now)) return;
    const Duration wait = soonest(all_keys(), request, now);
    if (wait == Duration::zero()) return;
    const TimePoint until = wait == Duration::max() ? TimePoint::max() : now + wait;
    if (!all_exhausted_until_.compare_exchange_strong(seen, detail::to_ns(until), std::memory_order_relaxed)) return;
    all_exhausted_probe_.store(request);
    Event event;
    event.kind = EventKind::all_exhausted;
    event.at = now;
    event.resets_at = until;
    deliver(event);
  }

  struct LimitWatch {
    std::uint64_t epoch = 0;
    std::uint64_t used = 0;
    double rate = 0.0;                  // per second, exponentially weighted
    std::uint64_t forecast_epoch = ~std::uint64_t{0};  // window whose forecast was reported
    std::optional<TimePoint> exhausts_at{};
  };
  struct KeyWatch {
    bool seen = false;
    bool unavailable = false;  // could not serve at the last poll (cooling down or exhausted)
    TimePoint first{};         // first poll that saw the key
    TimePoint last{};          // last poll
    std::array<LimitWatch, max_limits_per_key> limits{};
  };
  struct ProviderWatch {
    std::array<std::uint64_t, metric_count> forecast_day{};  // day window (index + 1) whose forecast was reported
  };

  void poll_locked(TimePoint now) {
    const std::size_t count = key_count();
    const std::size_t providers = provider_count();
    if (watches_.size() < count) watches_.resize(count);
    if (provider_watches_.size() < providers) provider_watches_.resize(providers);
    const std::int64_t now_sec = detail::to_seconds(now);
    const double tau = std::chrono::duration<double>(forecast_.smoothing).count();

    // Per provider and metric: daily remaining and rate, for the provider forecast.
    struct DayTotals {
      double remaining = 0, rate = 0;
      std::int64_t resets = std::numeric_limits<std::int64_t>::max();
      std::uint64_t epoch = 0;
      bool any = false, warm = true;
    };
    std::vector<std::array<DayTotals, metric_count>> days(providers);

    for (std::size_t k = 0; k < count; ++k) {
      const detail::KeyRecord& key = records_[k];
      KeyWatch& watch = watches_[k];
      const KeySnapshot snap = key_snapshot(key, now);
      const bool first_poll = !watch.seen;
      if (first_poll) {
        watch.seen = true;
        watch.first = now;
        watch.last = now;
      }
      const double dt = std::chrono::duration<double>(now - watch.last).count();
      const bool warm = now - watch.first >= forecast_.warmup;
      // Recovery of a key that could not serve at the last poll.
      const bool unavailable = snap.status == KeyStatus::exhausted || snap.status == KeyStatus::cooling_down;
      if (watch.unavailable && !unavailable && snap.status != KeyStatus::disabled)
        if constexpr (events_enabled) deliver(key_event(EventKind::key_recovered, key, now, now));
      watch.unavailable = unavailable;

      for (std::size_t i = 0; i < key.limit_count; ++i) {
        const detail::LimitPlan& plan = key.plans[i];
        LimitWatch& lw = watch.limits[i];
        if (plan.kind != Limit::Kind::window) continue;
        const auto current = current_window(plan, now_sec);
        const std::uint64_t used = snap.limits[i].used;
        if (!first_poll && dt > 0) {
          double delta;
          double span = dt;
          if (current.epoch == lw.epoch) {
            delta = used >= lw.used ? static_cast<double>(used - lw.used) : 0.0;
          } else {
            // A new window since the last poll: what it holds was used since it began.
            delta = static_cast<double>(used);
            const auto start = detail::window_start(plan.limit.unit(), plan.limit.zone(), static_cast<std::int64_t>(current.epoch));
            span = std::min(dt, std::max(1.0, static_cast<double>(now_sec - start.time_since_epoch().count())));
          }
          const double instant = delta / span;
          const double alpha = 1.0 - std::exp(-dt / tau);
          lw.rate += alpha * (instant - lw.rate);
        }
        lw.epoch = current.epoch;
        lw.used = used;
        lw.exhausts_at.reset();
        const std::uint64_t remaining = snap.limits[i].remaining;
        if (warm && lw.rate > 0.0 && remaining > 0) {
          const double seconds = static_cast<double>(remaining) / lw.rate;
          if (seconds < static_cast<double>(current.end - now_sec)) {
            lw.exhausts_at = now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
            if (lw.forecast_epoch != current.epoch) {
              lw.forecast_epoch = current.epoch;
              if constexpr (events_enabled) {
                Event event = limit_event(EventKind::exhaustion_forecast, key, plan, current.epoch, used, now);
                event.eta = *lw.exhausts_at - now;
                deliver(event);
              }
            }
          }
        }
        if (plan.limit.unit() == detail::WindowUnit::day) {
          DayTotals& day = days[key.provider.value][static_cast<std::size_t>(plan.metric)];
          day.any = true;
          day.warm = day.warm && warm;
          day.remaining += static_cast<double>(remaining);
          day.rate += lw.rate;
          if (current.end < day.resets) {
            day.resets = current.end;
            day.epoch = current.epoch;
          }
        }
      }
      watch.last = now;
    }

    for (std::size_t p = 0; p < providers; ++p) {
      // Provider recovery.
      detail::ProviderRecord& provider = providers_[p];
      const ProviderId id{static_cast<std::uint32_t>(p)};
      if (provider.exhausted_until.load(std::memory_order_relaxed) != 0 &&
          soonest(provider_keys(id), provider.probe.load(), now) == Duration::zero()) {
        provider.exhausted_until.store(0, std::memory_order_relaxed);
        if constexpr (events_enabled) {
          Event event;
          event.kind = EventKind::provider_recovered;
          event.at = now;
          event.provider = id;
          event.provider_name = provider.name;
          event.resets_at = now;
          deliver(event);
        }
      }
      // Provider forecast: the provider's daily capacity of a metric runs out before midnight.
      for (std::size_t m = 0; m < metric_count; ++m) {
        const DayTotals& day = days[p][m];
        if (!day.any || !day.warm || day.rate <= 0.0 || day.remaining <= 0.0) continue;
        const double seconds = day.remaining / day.rate;
        if (seconds >= static_cast<double>(day.resets - now_sec)) continue;
        std::uint64_t& reported = provider_watches_[p].forecast_day[m];
        if (reported == day.epoch + 1) continue;
        reported = day.epoch + 1;
        if constexpr (events_enabled) {
          Event event;
          event.kind = EventKind::exhaustion_forecast;
          event.at = now;
          event.provider = id;
          event.provider_name = provider.name;
          event.metric = static_cast<Metric>(m);
          event.window = "day";
          event.limit = 0;
          event.eta = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
          event.resets_at = detail::from_seconds(day.resets);
          deliver(event);
        }
      }
    }
    // The pool can serve again: re-arm all_exhausted.
    if (all_exhausted_until_.load(std::memory_order_relaxed) != 0 &&
        soonest(all_keys(), all_exhausted_probe_.load(), now) == Duration::zero())
      all_exhausted_until_.store(0, std::memory_order_relaxed);
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshot

  KeySnapshot key_snapshot(const detail::KeyRecord& key, TimePoint now) const {
    KeySnapshot snap;
    snap.id = key.id;
    snap.provider = key.provider;
    snap.provider_name = key.provider_record->name;
    snap.label = key.label;
    snap.tier = key.tier;
    const std::uint64_t now_ns = detail::to_ns(now);
    const std::int64_t now_sec = detail::to_seconds(now);
    const std::uint64_t blocked = detail::word(key.slot->blocked_until).load(std::memory_order_relaxed);
    snap.blocked_until = blocked == disabled_until ? TimePoint::max() : TimePoint{Duration{static_cast<std::int64_t>(blocked)}};
    snap.weight = key.weight;
    snap.consecutive_failures = detail::word(key.slot->health).load(std::memory_order_relaxed);
    snap.successes = detail::word(key.slot->successes).load(std::memory_order_relaxed);
    snap.failures = detail::word(key.slot->failures).load(std::memory_order_relaxed);
    snap.rate_limited = detail::word(key.slot->rate_limited).load(std::memory_order_relaxed);
    if (const std::uint64_t last = detail::word(key.slot->last_error).load(std::memory_order_relaxed); last != 0) {
      snap.last_error = static_cast<Outcome::Kind>(last & 0xff);
      snap.last_error_status = static_cast<int>((last >> 8) & 0xffff);
      snap.last_error_at = detail::from_seconds(static_cast<std::int64_t>(last >> 24));
    }
    bool warning = false, critical = false;
    bool full = false;
    TimePoint full_until = TimePoint::min();
    const detail::LimitPlan* plans = key.plans;
    const std::size_t count = key.limit_count;
    for (std::size_t i = 0; i < count; ++i) {
      const detail::LimitPlan& plan = plans[i];
      LimitUsage usage;
      usage.metric = plan.metric;
      usage.window = std::string{plan.limit.window_name()};
      usage.description = plan.limit.describe();
      usage.limit = plan.amount;
      const std::uint64_t seen = detail::word(key.slot->counters[i].state).load(std::memory_order_relaxed);
      if (plan.kind == Limit::Kind::window) {
        const auto current = current_window(plan, now_sec);
        const std::uint64_t stored = plan.packing.epoch(seen);
        usage.used = stored >= current.epoch ? plan.packing.used(seen) : 0;
        if constexpr (leasing) {
          // The local word says what is in hand; the fleet's usage is what the backend has
          // debited, less this instance's unspent part of it.
          const std::uint64_t local = stored >= current.epoch ? plan.packing.used(seen) : plan.amount;
          const std::uint64_t in_hand = plan.amount - std::min(plan.amount, local);
          usage.used = store_.fleet_used(key.id.value, i, current.epoch, in_hand, now);
        }
        usage.resets_at = detail::from_seconds(stored > current.epoch ? window_end_of(plan, stored) : current.end);
        if (usage.used >= plan.amount) {
          full = true;
          full_until = std::max(full_until, usage.resets_at);
        }
      } else if (plan.kind == Limit::Kind::rolling) {
        const std::uint64_t ahead = seen > now_ns ? seen - now_ns : 0;
        usage.used = std::min<std::uint64_t>(plan.amount, (ahead + plan.interval_ns - 1) / plan.interval_ns);
        usage.resets_at = TimePoint{Duration{static_cast<std::int64_t>(std::max(seen, now_ns))}};
        if constexpr (leasing) {
          const auto in_hand = static_cast<std::uint64_t>(std::max<std::int64_t>(0, static_cast<std::int64_t>(seen)));
          usage.used = store_.fleet_used(key.id.value, i, 0, in_hand, now);
          usage.resets_at = now + Duration{static_cast<std::int64_t>(usage.used * plan.interval_ns)};
        }
      } else {
        usage.resets_at = now;
      }
      usage.remaining = usage.limit - std::min(usage.limit, usage.used);
      usage.fraction = static_cast<double>(usage.used) / static_cast<double>(usage.limit);
      if (plan.kind != Limit::Kind::per_request) {
        // Levels compare in integers, as threshold events do: at level L when used ≥ ⌈amount × L⌉.
        auto at_level = [&](double level) {
          return usage.used >= std::max<std::uint64_t>(1, detail::scale_ceil(plan.amount, level));
        };
        warning = warning || at_level(thresholds_[0]);
        critical = critical || (thresholds_.size() > 1 && thresholds_[1] < 1.0 && at_level(thresholds_[1]));
      }
      snap.limits.push_back(std::move(usage));
    }
    if (blocked == disabled_until) snap.status = KeyStatus::disabled;
    else if (blocked > now_ns) snap.status = KeyStatus::cooling_down;
    else if (full) snap.status = KeyStatus::exhausted;
    else if (critical) snap.status = KeyStatus::critical;
    else if (warning) snap.status = KeyStatus::warning;
    else snap.status = KeyStatus::available;
    if (blocked != disabled_until && (blocked > now_ns || full)) {
      TimePoint at = full ? full_until : now;
      if (blocked > now_ns) at = std::max(at, TimePoint{Duration{static_cast<std::int64_t>(blocked)}});
      snap.available_at = at;
    }
    return snap;
  }

  /// Adds one key's figures to a group's totals.
  static void add_to(Totals& totals, const KeySnapshot& key, const detail::KeyRecord& record) noexcept {
    ++totals.keys;
    switch (key.status) {
      case KeyStatus::available:
      case KeyStatus::warning:
      case KeyStatus::critical: ++totals.available; break;
      case KeyStatus::exhausted: ++totals.exhausted; break;
      case KeyStatus::cooling_down: ++totals.cooling_down; break;
      case KeyStatus::disabled: ++totals.disabled; break;
    }
    totals.successes += key.successes;
    totals.failures += key.failures;
    totals.rate_limited += key.rate_limited;
    for (std::size_t i = 0; i < key.limits.size(); ++i) {
      const detail::LimitPlan& plan = record.plans[i];
      if (plan.kind != Limit::Kind::window || plan.limit.unit() != detail::WindowUnit::day) continue;
      totals.daily_capacity[static_cast<std::size_t>(plan.metric)] += plan.amount;
      totals.daily_used[static_cast<std::size_t>(plan.metric)] += key.limits[i].used;
    }
    if (key.available_at && (!totals.next_recovery || *key.available_at < *totals.next_recovery))
      totals.next_recovery = key.available_at;
    if (key.exhausts_at && (!totals.exhausts_at || *key.exhausts_at < *totals.exhausts_at)) totals.exhausts_at = key.exhausts_at;
  }

  // ---------------------------------------------------------------------------------------------
  // State. Policies first (the selection policy is read by every acquire), then the tables.

  Select select_;
  Store store_;
  Alerts alerts_;
  Clock clock_;
  std::size_t capacity_;
  Thresholds thresholds_;
  HealthOptions health_;
  std::unique_ptr<detail::KeyRecord[]> records_;
  std::unique_ptr<detail::ProviderRecord[]> providers_;
  std::deque<detail::LimitSet> limit_sets_;  // stable addresses; grows under admin_ only
  std::unique_ptr<TierGroup[]> tier_groups_ = std::make_unique<TierGroup[]>(max_providers);
  std::vector<std::unique_ptr<std::uint8_t[]>> tier_orders_;    // every order ever published (admin only)
  std::vector<std::unique_ptr<std::uint32_t[]>> tier_arrays_;   // every member array ever published
  std::atomic<const std::uint8_t*> tier_order_{nullptr};
  std::atomic<std::size_t> tier_count_{0};
  alignas(64) std::atomic<std::size_t> key_count_{0};
  std::atomic<std::size_t> provider_count_{0};
  std::atomic<std::uint64_t> sink_failures_{0};
  alignas(64) std::atomic<std::uint64_t> all_exhausted_until_{0};  // ns; 0: not reported
  detail::RequestProbe all_exhausted_probe_;                        // the request refused then
  ForecastOptions forecast_;
  mutable std::mutex poll_mutex_;
  std::vector<KeyWatch> watches_;          // per key, under poll_mutex_
  std::vector<ProviderWatch> provider_watches_;
  std::mutex admin_;
};

/// The pool: policies in any order, each at most once; missing ones default to
/// select::RoundRobin, store::Memory, alert::Null and clock::Coarse.
template <class... Policies>
using KeyPool = typename detail::resolve_pool<BasicKeyPool, select::RoundRobin, store::Memory, alert::Null,
                                              clock::Coarse, Policies...>::type;

}  // namespace keypool
