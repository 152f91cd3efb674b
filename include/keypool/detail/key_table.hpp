// The pool's tables of providers and keys: append-only, growing without moving a record (the
// first Capacity keys in one block, the rest in doubling blocks: detail::SegmentedArray). Readers
// never lock (a key is published with a release store of the count); writers (add_provider,
// add_key, remove_key, rotate_secret) serialize on the admin mutex, which the hot path never takes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <keypool/detail/key_record.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/segmented.hpp>
#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/detail/tier_index.hpp>
#include <keypool/detail/weight_index.hpp>
#include <keypool/error.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/limit.hpp>
#include <keypool/options.hpp>
#include <keypool/secret.hpp>
#include <keypool/store/binding.hpp>

namespace keypool::detail {

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

/// A group of keys sharing limits: its shared meter (nullptr without shared limits) and per
/// model meters. Written once under the admin mutex, published by the group count.
struct GroupRecord {
  std::string name;
  ProviderId provider{};
  const KeyRecord* shared = nullptr;
  std::vector<std::pair<std::uint32_t, const KeyRecord*>> models;  // (ModelId value, meter)
  std::vector<KeyRecord*> meters;                                  // all of them, shared first
};

class KeyTable {
 public:
  /// The most providers one pool may have.
  static constexpr std::size_t max_providers = 256;

  /// The most models one pool may name (pool.model), and the most groups.
  static constexpr std::size_t max_models = 1024;
  static constexpr std::size_t max_groups = 1024;
  /// The most limits one request may count on one key: the key's, its group's and their model's.
  static constexpr std::size_t max_limits_per_request = 16;

  /// The most keys, and the most meters, one pool may hold (initially or grown).
  static constexpr std::size_t max_keys = std::size_t{1} << 24;

  KeyTable(Capacity capacity, Thresholds thresholds)
      : capacity_(checked_capacity(capacity)), meter_capacity_(capacity.meters), thresholds_(std::move(thresholds)),
        records_(capacity_), weights_(capacity_), meters_(meter_capacity_), by_slot_(capacity_ + meter_capacity_), capacity_room_(capacity_) {
    providers_ = std::make_unique<ProviderRecord[]>(max_providers);
    model_names_ = std::make_unique<std::string[]>(max_models + 1);
    groups_ = std::make_unique<GroupRecord[]>(max_groups);
  }

  /// The store slots a pool reserves at construction: one per key and one per meter of its
  /// Capacity. Keys and meters beyond it bind slots at indices past it (the store grows).
  [[nodiscard]] std::size_t slot_capacity() const noexcept { return capacity_ + meter_capacity_; }

  ProviderId add_provider(std::string_view name, std::uint32_t tier, Dialect dialect = Dialect::generic) {
    std::lock_guard lock{admin_};
    if (name.empty()) throw Error("add_provider: the provider name is empty; name it, e.g. \"groq\"");
    const std::size_t count = provider_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < count; ++i)
      if (providers_[i].name == name)
        throw Error("add_provider: provider '" + std::string{name} + "' already exists; use the ProviderId it returned");
    if (count == max_providers) throw Error("add_provider: at most 256 providers per pool");
    providers_[count].name = std::string{name};
    providers_[count].tier = tier;
    providers_[count].dialect = dialect;
    tiers_.add_tier(tier);
    provider_count_.store(count + 1, std::memory_order_release);
    return ProviderId{static_cast<std::uint32_t>(count)};
  }

  /// The id of model `name`, interned (the same name gives the same id). Throws keypool::Error
  /// on an empty name or when 1,024 models exist.
  ModelId model(std::string_view name) {
    std::lock_guard lock{admin_};
    return intern_model(name, "model");
  }
  /// Model `model`'s name ("" for none or an unknown id). Thread-safe.
  [[nodiscard]] std::string_view model_name(ModelId model) const noexcept {
    return model.value <= model_count_.load(std::memory_order_acquire) && model.value != 0 ? std::string_view{model_names_[model.value]}
                                                                                           : std::string_view{};
  }
  [[nodiscard]] std::size_t model_count() const noexcept { return model_count_.load(std::memory_order_acquire); }

  /// Adds a group of `provider` with its shared limits and per-model limits (see
  /// BasicKeyPool::add_group).
  template <class Bind>
  GroupId add_group(ProviderId provider, std::string_view name, std::vector<Limit> limits, std::vector<ModelLimits> models, Bind&& bind) {
    std::lock_guard lock{admin_};
    check_provider(provider, "add_group");
    if (name.empty()) throw Error("add_group: the group name is empty; name it, e.g. \"groq-org\"");
    const std::size_t count = group_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < count; ++i)
      if (groups_[i].name == name) throw Error("add_group: group '" + std::string{name} + "' already exists; use the GroupId it returned");
    if (count == max_groups) throw Error("add_group: at most 1,024 groups per pool");
    check_limit_count(limits.size(), "add_group: group '" + std::string{name} + "'");
    std::vector<MeterPlan> plans;
    const std::string base = "group:" + std::string{name};
    if (!limits.empty()) plans.push_back({base, std::move(limits), {}});
    std::vector<std::uint32_t> model_ids = check_models(models, "add_group: group '" + std::string{name} + "'");
    for (std::size_t m = 0; m < models.size(); ++m)
      plans.push_back({base + "@" + models[m].model, std::move(models[m].limits), model_ids[m]});
    GroupRecord& group = groups_[count];
    const ProviderRecord& owner = providers_[provider.value];
    std::vector<KeyRecord*> meters = add_meters(plans, owner, provider, KeyId{}, "", std::string{name}, bind);
    group.name = std::string{name};
    group.provider = provider;
    group.shared = plans.empty() || plans.front().model != 0 ? nullptr : meters.front();
    for (std::size_t i = 0; i < plans.size(); ++i)
      if (plans[i].model != 0) group.models.emplace_back(plans[i].model, meters[i]);
    group.meters = std::move(meters);
    group_count_.store(count + 1, std::memory_order_release);
    return GroupId{static_cast<std::uint32_t>(count)};
  }

  /// Checks and adds a key; `bind(binding)` asks the store for its slot. See BasicKeyPool::add_key.
  /// `revive(record)` is called when a removed label is added again on its old slot (to enable it).
  template <class Bind, class Revive>
  KeyId add_key(ProviderId provider, Secret secret, std::vector<Limit> limits, KeyOptions options, Bind&& bind, Revive&& revive) {
    std::lock_guard lock{admin_};
    check_provider(provider, "add_key");
    if (secret.empty()) throw Error("add_key: the secret is empty (is the environment variable set?)");
    check_limit_count(limits.size(), "add_key: a key");
    if (options.weight == 0) throw Error("add_key: weight must be at least 1");
    const std::size_t count = record_count_.load(std::memory_order_relaxed);
    const std::size_t id = id_count_.load(std::memory_order_relaxed);
    std::string label = options.label.empty() ? default_label(secret, count) : std::move(options.label);
    const KeyRecord* former = nullptr;  // the last removed key of this label: its slot is the label's counts
    std::size_t former_index = 0;
    for (const std::size_t i : candidates(by_label_, label_hash(label), count)) {
      if (records_[i].label != label) continue;
      if (!records_[i].is_removed())
        throw Error("add_key: label '" + label + "' is already used by another key; labels must be unique (KeyOptions::label)");
      if (former == nullptr || i > former_index) {
        former = &records_[i];
        former_index = i;
      }
    }
    if (const KeyRecord* holder = holder_of(secret, count))
      throw Error("add_key: this secret is already in the pool as key '" + holder->label + "'; each key once");
    if (former == nullptr && store_labels_.contains(label))
      throw Error("add_key: label '" + label + "' is already the name of a meter (a key's model or a group); choose another");
    if (id == max_keys || count == 2 * max_keys) throw Error("add_key: the pool holds 16,777,216 keys, the most one pool may hold");
    const GroupRecord* group = nullptr;
    if (options.group != GroupId{}) {
      if (options.group.value >= group_count_.load(std::memory_order_relaxed))
        throw Error("add_key: unknown group id " + std::to_string(options.group.value) + "; create it with add_group first");
      group = &groups_[options.group.value];
      if (group->provider != provider)
        throw Error("add_key: key '" + label + "' is of provider '" + providers_[provider.value].name + "' but group '" + group->name +
                    "' is of provider '" + providers_[group->provider.value].name + "'; a group's keys share one provider");
    }
    std::vector<std::uint32_t> model_ids = check_models(options.models, "add_key: key '" + label + "'");
    std::vector<MeterPlan> plans;
    for (std::size_t m = 0; m < options.models.size(); ++m)
      plans.push_back({label + "@" + options.models[m].model, std::move(options.models[m].limits), model_ids[m]});
    check_request_limits(limits.size(), plans, group, label);

    const LimitSet* set = intern_limits(std::move(limits));
    // A label removed and added again counts on where it counted (as a persistent store would
    // across runs), when its limits keep the layout; with another layout, afresh.
    const bool reuse = former != nullptr && former->limits->fingerprint == set->fingerprint &&
                       (former->opened == nullptr || former->opened->own_models.empty());
    const std::size_t key_slot_index = reuse ? former->slot_index : slot_count_;
    KeySlot* slot = reuse ? former->slot : bind_slot(KeyBinding{key_slot_index, label, set->fingerprint, set->source, providers_[provider.value].name}, bind);
    records_.grow_to(count + 1);
    capacity_room_.store(records_.room(), std::memory_order_relaxed);
    KeyRecord& record = records_[count];
    std::vector<KeyRecord*> models = add_meters(plans, providers_[provider.value], provider, KeyId{static_cast<std::uint32_t>(id)},
                                                label, "", bind);
    record.limits = set;
    record.plans = set->plans.data();
    record.limit_count = set->plans.size();
    record.slot = slot;
    record.slot_index = static_cast<std::uint32_t>(key_slot_index);
    record.provider = provider;
    record.tier = providers_[provider.value].tier;
    record.weight = options.weight;
    record.adopt_reported = options.adopt_reported_limits;
    record.id = KeyId{static_cast<std::uint32_t>(id)};
    record.hash = hash_label(label.data(), label.size());
    record.provider_record = &providers_[provider.value];
    record.opened = route_meters(plans, models, group);
    record.meters.store(record.opened, std::memory_order_relaxed);
    store_labels_.insert(label);
    index(count, label, secret);
    record.label = std::move(label);
    record.secret_ptr.store(&secrets_.emplace_back(std::move(secret)), std::memory_order_relaxed);
    by_slot_[key_slot_index].store(&record, std::memory_order_release);
    slots_published_.store(slot_count_, std::memory_order_release);
    if (reuse) revive(record);
    providers_[provider.value].key_count.fetch_add(1, std::memory_order_relaxed);
    weights_.append(record.weight);
    tiers_.append(record.tier, static_cast<std::uint32_t>(count));
    ids_.grow_to(id + 1);
    ids_[id].store(&record, std::memory_order_release);
    // Publishes the record: pairs with the acquire load in record_count().
    record_count_.store(count + 1, std::memory_order_release);
    id_count_.store(id + 1, std::memory_order_release);
    return record.id;
  }

  /// Gives key `old` the limits `limits` (see BasicKeyPool::set_limits): a successor record with
  /// the same KeyId, label, secret, models and group takes its place and the old record closes
  /// (it serves no request; leases granted on it settle on it). When the new limits count like the
  /// old (same kinds, metrics, windows, zones, rolling rates, in the same order: only amounts of
  /// calendar limits or headroom differ) the successor counts on the same slot: nothing to carry,
  /// exact. Otherwise it binds a fresh slot (refused when `fresh_slots` is false: a store that
  /// matches slots by label keeps their layout) and `carry(old, successor)` carries the usage of
  /// the limits both count. Returns the successor. Admin mutex.
  /// How a store lets a key's limits change (see set_limits).
  enum class Relimit : std::uint8_t {
    fresh,     ///< any bind gets a slot of its own (store::Memory): alike → same slot, else fresh + carry
    by_label,  ///< slots matched by label, words of one meaning (store::MappedFile): alike → same slot, else refused
    leased,    ///< words whose meaning depends on the amounts (store::Redis): alike → fresh slot, no carry; else refused
  };

  template <class Bind, class Carry>
  const KeyRecord& set_limits(const KeyRecord& old, std::vector<Limit> limits, Relimit how, Bind&& bind, Carry&& carry) {
    std::lock_guard lock{admin_};
    if (old.is_removed()) throw Error("set_limits: key '" + old.label + "' was removed from the pool");
    check_limit_count(limits.size(), "set_limits: key '" + old.label + "'");
    const KeyMeters* meters = old.routes();
    if (meters != nullptr) {
      std::size_t most = 0;
      for (const MeterRoute& route : meters->by_model) {
        std::size_t n = 0;
        for (std::size_t r = 0; r < route.count; ++r) n += route.records[r]->limit_count;
        most = std::max(most, n);
      }
      if (limits.size() + most > max_limits_per_request)
        throw Error("set_limits: a request on key '" + old.label + "' would count " + std::to_string(limits.size() + most) +
                    " limits (the key's, its group's and a model's); at most " + std::to_string(max_limits_per_request));
    }
    const LimitSet* set = intern_limits(std::move(limits));
    const bool alike = counts_alike(*old.limits, *set);
    if (!alike && how != Relimit::fresh) {
      std::string before;
      for (const Limit& limit : old.limits->source) before += (before.empty() ? "" : ", ") + limit.describe();
      throw Error("set_limits: key '" + old.label + "': its store keeps a label's counters in the layout they were made with (" +
                  (before.empty() ? std::string{"no limits"} : before) +
                  "); change amounts or headroom only, or remove the key and add it under a new label");
    }
    const std::size_t count = record_count_.load(std::memory_order_relaxed);
    if (count == 2 * max_keys) throw Error("set_limits: the pool has changed keys too often (33,554,432 records)");
    // The same slot when the words keep their meaning; otherwise a fresh one.
    const bool same_counting = alike && how != Relimit::leased;
    const std::size_t slot_index = same_counting ? old.slot_index : slot_count_;
    KeySlot* slot = same_counting
                        ? old.slot
                        : bind_slot(KeyBinding{slot_index, old.label, set->fingerprint, set->source, old.provider_record->name}, bind);
    records_.grow_to(count + 1);
    capacity_room_.store(records_.room(), std::memory_order_relaxed);
    KeyRecord& record = records_[count];
    record.limits = set;
    record.plans = set->plans.data();
    record.limit_count = set->plans.size();
    record.slot = slot;
    record.slot_index = static_cast<std::uint32_t>(slot_index);
    record.provider = old.provider;
    record.tier = old.tier;
    record.weight = old.weight;
    record.adopt_reported = old.adopt_reported;
    record.id = old.id;
    record.hash = old.hash;
    record.provider_record = old.provider_record;
    record.meters.store(meters, std::memory_order_relaxed);
    record.opened = old.opened;
    record.label = old.label;
    record.secret_ptr.store(old.secret_ptr.load(std::memory_order_relaxed), std::memory_order_relaxed);
    index(count, old.label, old.secret());
    record.answer_disabled.store(old.answer_disabled.load(std::memory_order_relaxed), std::memory_order_relaxed);
    if (same_counting) {
      for (std::size_t i = 0; i < max_limits_per_key; ++i) {
        record.marked[i].store(old.marked[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
        record.reported_limit[i].store(old.reported_limit[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
        record.reported_remaining[i].store(old.reported_remaining[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
        record.reported_at[i].store(old.reported_at[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
      }
    }
    for (std::size_t i = 0; i < old.observed.size(); ++i)
      record.observed[i].store(old.observed[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    // Counting alike, the successor serves first (both count on one slot); otherwise the old
    // record closes first, its usage is carried, then the successor serves: never two counts of
    // one key serving at once.
    auto close_old = [&old] {
      old.removed.store(true, std::memory_order_release);
      const_cast<KeyRecord&>(old).meters.store(&KeyMeters::none(), std::memory_order_release);
    };
    if (!same_counting) {
      close_old();
      if (!alike) carry(old, record);  // leased and alike: the backend holds the counts
    }
    by_slot_[slot_index].store(&record, std::memory_order_release);
    slots_published_.store(std::max(slots_published_.load(std::memory_order_relaxed), slot_count_), std::memory_order_release);
    weights_.append(0);  // the key's share stays where it was: old's place on the weight axis leads here
    tiers_.append(record.tier, static_cast<std::uint32_t>(count));
    ids_[old.id.value].store(&record, std::memory_order_release);
    record_count_.store(count + 1, std::memory_order_release);
    old.successor.store(static_cast<std::uint32_t>(count + 1), std::memory_order_release);
    if (same_counting) close_old();
    return record;
  }

  /// Whether two limit lists count alike: the same layout (kinds, metrics, windows, periods, in
  /// order), calendar windows in the same zones, rolling limits at the same rate. Their counter
  /// words then mean the same under either.
  static bool counts_alike(const LimitSet& a, const LimitSet& b) {
    if (a.fingerprint != b.fingerprint || a.source.size() != b.source.size()) return false;
    for (std::size_t i = 0; i < a.source.size(); ++i) {
      const Limit& x = a.source[i];
      const Limit& y = b.source[i];
      if (x.kind() != y.kind() || x.metric() != y.metric() || x.unit() != y.unit() || x.period() != y.period()) return false;
      if (x.kind() == Limit::Kind::window && !(x.zone() == y.zone())) return false;
      if (x.kind() == Limit::Kind::rolling && x.amount() != y.amount()) return false;
    }
    return true;
  }


  /// Marks `key` removed (see BasicKeyPool::remove_key): frees its label and secret for another
  /// key; its provider counts one key less. Returns false when it already was. Admin mutex.
  bool remove_key(const KeyRecord& key) {
    std::lock_guard lock{admin_};
    if (key.removed.exchange(true, std::memory_order_acq_rel)) return false;
    // The gate of this process: whatever another process or instance later does to the shared
    // slot's health (an enable), this record serves no request again.
    const_cast<KeyRecord&>(key).meters.store(&KeyMeters::none(), std::memory_order_release);
    providers_[key.provider.value].key_count.fetch_sub(1, std::memory_order_relaxed);
    return true;
  }

  /// Replaces `key`'s secret (see BasicKeyPool::rotate_secret). Throws keypool::Error on an empty
  /// secret or one another key holds. Admin mutex.
  void rotate_secret(const KeyRecord& key, Secret secret) {
    std::lock_guard lock{admin_};
    if (secret.empty()) throw Error("rotate_secret: the new secret of key '" + key.label + "' is empty");
    const std::size_t count = record_count_.load(std::memory_order_relaxed);
    if (const KeyRecord* holder = holder_of(secret, count))
      throw Error(holder == &key ? "rotate_secret: key '" + key.label + "' already has this secret"
                                 : "rotate_secret: this secret is already in the pool as key '" + holder->label + "'");
    for (const std::size_t i : candidates(by_label_, label_hash(key.label), count))
      if (&records_[i] == &key) by_secret_.emplace(secret_hash(secret), i);
    const_cast<KeyRecord&>(key).secret_ptr.store(&secrets_.emplace_back(std::move(secret)), std::memory_order_release);
  }

  /// The key or meter that store slot `index` counts (nullptr: none yet). Thread-safe.
  [[nodiscard]] const KeyRecord* at_slot(std::size_t index) const noexcept {
    return index < slots_published_.load(std::memory_order_acquire) ? by_slot_[index].load(std::memory_order_acquire) : nullptr;
  }
  [[nodiscard]] std::size_t group_count() const noexcept { return group_count_.load(std::memory_order_acquire); }
  [[nodiscard]] const GroupRecord& group(std::size_t g) const noexcept { return groups_[g]; }
  [[nodiscard]] const GroupRecord& checked(GroupId group, const char* what) const {
    if (group.value >= group_count()) throw Error(std::string{what} + ": unknown group id " + std::to_string(group.value));
    return groups_[group.value];
  }

  /// Key records published so far (keys, and the successors set_limits made: iterate these).
  /// Thread-safe (acquire load: pairs with add_key's release store).
  [[nodiscard]] std::size_t record_count() const noexcept { return record_count_.load(std::memory_order_acquire); }
  /// KeyIds issued so far (removed keys included).
  [[nodiscard]] std::size_t key_count() const noexcept { return id_count_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t provider_count() const noexcept { return provider_count_.load(std::memory_order_acquire); }
  /// The keys the pool holds without allocating: the Capacity it was built with, or more once it grew.
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_room_.load(std::memory_order_relaxed); }
  [[nodiscard]] const Thresholds& thresholds() const noexcept { return thresholds_; }
  [[nodiscard]] const KeyRecord& operator[](std::size_t i) const noexcept { return records_[i]; }
  /// The key records, indexable by key index (for the forecaster and the prober).
  [[nodiscard]] const SegmentedArray<KeyRecord>& records() const noexcept { return records_; }
  [[nodiscard]] ProviderRecord& provider(std::size_t p) const noexcept { return providers_[p]; }
  [[nodiscard]] const ProviderRecord* providers() const noexcept { return providers_.get(); }
  [[nodiscard]] const TierIndex& tiers() const noexcept { return tiers_; }
  /// The records' cumulative weights, compact (for select::Weighted): entry i is readable for
  /// i below record_count().
  [[nodiscard]] const WeightIndex& weights() const noexcept { return weights_; }

  /// Key `key`'s record; throws keypool::Error naming `what` for an unknown or removed id.
  [[nodiscard]] const KeyRecord& checked(KeyId key, const char* what) const {
    if (key.value >= key_count()) throw Error(std::string{what} + ": unknown key id " + std::to_string(key.value));
    const KeyRecord& record = *ids_[key.value].load(std::memory_order_acquire);
    if (record.is_removed())
      throw Error(std::string{what} + ": key '" + record.label + "' (id " + std::to_string(key.value) + ") was removed from the pool");
    return record;
  }

  /// Calls `visit(record)` for each key in the pool (of `provider`, when given; removed keys
  /// skipped) until it returns false.
  template <class Visit>
  void each(Visit&& visit, const ProviderId* provider = nullptr) const {
    const std::size_t count = key_count();
    for (std::size_t i = 0; i < count; ++i)
      if ((provider == nullptr || records_[i].provider == *provider) && !records_[i].is_removed() && !visit(records_[i])) return;
  }

 private:
  /// One meter to make: its store label, limits, and model (0: a group's shared limits).
  struct MeterPlan {
    std::string label;
    std::vector<Limit> limits;
    std::uint32_t model = 0;
  };

  void check_provider(ProviderId provider, const char* what) const {
    if (provider.value >= provider_count_.load(std::memory_order_relaxed))
      throw Error(std::string{what} + ": unknown provider id " + std::to_string(provider.value) + "; create it with add_provider first");
  }

  static std::size_t checked_capacity(const Capacity& capacity) {
    if (capacity.keys == 0) throw Error("Capacity{0}: a pool needs room for at least one key");
    if (capacity.keys > max_keys) throw Error("Capacity: at most 16,777,216 keys per pool");
    if (capacity.meters > max_keys) throw Error("Capacity: at most 16,777,216 meters per pool");
    return capacity.keys;
  }

  /// Asks the store for the slot of the next index (`bind` grows the store past its reservation
  /// when needed) and records which record it counts for. Admin mutex.
  template <class Bind>
  KeySlot* bind_slot(const KeyBinding& binding, Bind& bind) {
    by_slot_.grow_to(binding.index + 1);
    KeySlot* slot = bind(binding);
    ++slot_count_;
    return slot;
  }

  static void check_limit_count(std::size_t count, const std::string& who) {
    if (count > max_limits_per_key)
      throw Error(who + " has at most 8 limits; this one has " + std::to_string(count));
  }

  ModelId intern_model(std::string_view name, const char* what) {
    if (name.empty()) throw Error(std::string{what} + ": a model name is empty");
    const std::size_t count = model_count_.load(std::memory_order_relaxed);
    for (std::size_t i = 1; i <= count; ++i)
      if (model_names_[i] == name) return ModelId{static_cast<std::uint32_t>(i)};
    if (count == max_models) throw Error(std::string{what} + ": at most 1,024 models per pool");
    model_names_[count + 1] = std::string{name};
    model_count_.store(count + 1, std::memory_order_release);
    return ModelId{static_cast<std::uint32_t>(count + 1)};
  }

  /// Interns the models' names; throws on an empty or repeated name, or too many limits.
  std::vector<std::uint32_t> check_models(const std::vector<ModelLimits>& models, const std::string& who) {
    std::vector<std::uint32_t> ids;
    for (const ModelLimits& m : models) {
      if (m.model.empty()) throw Error(who + ": a model name is empty");
      check_limit_count(m.limits.size(), who + ", model '" + m.model + "'");
      for (const ModelLimits& other : models)
        if (&other != &m && other.model == m.model) throw Error(who + ": model '" + m.model + "' is listed twice");
    }
    if (meter_count_.load(std::memory_order_relaxed) + models.size() > max_keys)
      throw Error(who + ": no room for " + std::to_string(models.size()) + " more meters (16,777,216 per pool)");
    for (const ModelLimits& m : models) ids.push_back(intern_model(m.model, "add_key").value);
    return ids;
  }

  /// Throws when a request on the key could count more than max_limits_per_request limits.
  static void check_request_limits(std::size_t own, const std::vector<MeterPlan>& models, const GroupRecord* group,
                                   const std::string& label) {
    const std::size_t shared = own + (group != nullptr && group->shared != nullptr ? group->shared->limit_count : 0);
    std::size_t most = 0;
    for (const MeterPlan& m : models) most = std::max(most, m.limits.size());
    std::size_t group_most = 0;
    if (group != nullptr)
      for (const auto& [model, meter] : group->models) group_most = std::max(group_most, meter->limit_count);
    if (shared + most + group_most > max_limits_per_request)
      throw Error("add_key: a request on key '" + label + "' would count " + std::to_string(shared + most + group_most) +
                  " limits (the key's, its group's and a model's); at most " + std::to_string(max_limits_per_request));
  }

  /// Binds and fills one meter record per plan, in order. Throws before changing anything the
  /// hot path reads when a label is taken or a store refuses.
  template <class Bind>
  std::vector<KeyRecord*> add_meters(const std::vector<MeterPlan>& plans, const ProviderRecord& provider_record, ProviderId provider,
                                     KeyId owner, const std::string& key_label, const std::string& group, Bind& bind) {
    for (const MeterPlan& plan : plans)
      if (store_labels_.contains(plan.label)) throw Error("meter '" + plan.label + "' already exists in the pool; choose another label");
    const std::size_t first = meter_count_.load(std::memory_order_relaxed);
    if (first + plans.size() > max_keys) throw Error("no room for " + std::to_string(plans.size()) + " more meters (16,777,216 per pool)");
    std::vector<KeyRecord*> made;
    for (std::size_t i = 0; i < plans.size(); ++i) {
      const LimitSet* set = intern_limits(plans[i].limits);
      const std::size_t index = slot_count_;
      KeySlot* slot = bind_slot(KeyBinding{index, plans[i].label, set->fingerprint, set->source, provider_record.name}, bind);
      meters_.grow_to(first + i + 1);
      KeyRecord& meter = meters_[first + i];
      meter.limits = set;
      meter.plans = set->plans.data();
      meter.limit_count = set->plans.size();
      meter.slot = slot;
      meter.slot_index = static_cast<std::uint32_t>(index);
      meter.provider = provider;
      meter.tier = provider_record.tier;
      meter.id = owner;
      meter.provider_record = &providers_[provider.value];
      meter.label = key_label;
      meter.model = plans[i].model == 0 ? std::string{} : model_names_[plans[i].model];
      meter.group = group;
      store_labels_.insert(plans[i].label);
      by_slot_[index].store(&meter, std::memory_order_release);
      slots_published_.store(slot_count_, std::memory_order_release);
      made.push_back(&meter);
    }
    meter_count_.store(first + plans.size(), std::memory_order_release);
    return made;
  }

  /// The routes of a key with a group or models (nullptr when it has neither).
  const KeyMeters* route_meters(const std::vector<MeterPlan>& plans, const std::vector<KeyRecord*>& models, const GroupRecord* group) {
    if (plans.empty() && group == nullptr) return nullptr;
    KeyMeters& meters = key_meters_.emplace_back();
    meters.own_models = {models.begin(), models.end()};
    if (group != nullptr) meters.group = static_cast<std::uint32_t>(group - groups_.get());
    const bool lists_models = !plans.empty() || (group != nullptr && !group->models.empty());
    auto base = [&] {
      MeterRoute route;
      if (group != nullptr && group->shared != nullptr) route.records[route.count++] = group->shared;
      return route;
    };
    meters.other = base();
    meters.other.serves = !lists_models;
    meters.by_model.assign(model_count_.load(std::memory_order_relaxed) + 1, meters.other);
    if (!lists_models) return &meters;
    for (MeterRoute& route : meters.by_model) route.serves = false;
    auto add = [&](std::uint32_t model, const KeyRecord* meter) {
      MeterRoute& route = meters.by_model[model];
      if (!route.serves) route = base();
      route.serves = true;
      route.records[route.count++] = meter;
    };
    // A model meter without limits is still reserved through: its health gate is the model's
    // cooldown on this key (or group).
    if (group != nullptr)
      for (const auto& [model, meter] : group->models) add(model, meter);
    for (std::size_t i = 0; i < plans.size(); ++i) add(plans[i].model, models[i]);
    return &meters;
  }

  /// The redacted secret, made unique with "#2", "#3", … when two secrets redact alike.
  std::string default_label(const Secret& secret, std::size_t count) const {
    const std::string base = secret.redacted();
    std::string label = base;
    for (std::size_t n = 2;; ++n) {
      bool taken = false;
      for (std::size_t i = 0; i < count && !taken; ++i) taken = records_[i].label == label && !records_[i].is_removed();
      if (!taken) return label;
      label = base + "#" + std::to_string(n);
    }
  }

  const LimitSet* intern_limits(std::vector<Limit> limits) {
    for (const LimitSet& set : limit_sets_)
      if (set.source == limits) return &set;
    LimitSet& set = limit_sets_.emplace_back();
    set.plans.reserve(limits.size());
    for (const Limit& limit : limits) set.plans.emplace_back(limit, thresholds_);
    set.fingerprint = layout_fingerprint(limits);
    set.source = std::move(limits);
    return &set;
  }

  std::size_t capacity_;
  std::size_t meter_capacity_;
  Thresholds thresholds_;
  SegmentedArray<KeyRecord> records_;
  WeightIndex weights_;  // beside records_, one entry per record, published by record_count_
  SegmentedArray<KeyRecord> meters_;
  SegmentedArray<std::atomic<const KeyRecord*>> by_slot_;  // store slot → key or meter
  std::atomic<std::size_t> slots_published_{0};            // by_slot_ entries readable
  std::atomic<std::size_t> capacity_room_{0};              // records_.room(), for capacity()
  std::deque<Secret> secrets_;                             // every secret ever held; stable; under admin_
  std::unique_ptr<ProviderRecord[]> providers_;
  std::unique_ptr<std::string[]> model_names_;  // [1 … model_count_]; written once under admin_
  std::unique_ptr<GroupRecord[]> groups_;
  std::deque<LimitSet> limit_sets_;  // stable addresses; grows under admin_ only
  std::deque<KeyMeters> key_meters_;  // stable addresses; grows under admin_ only
  std::unordered_set<std::string> store_labels_;  // every key's and meter's store label; under admin_
  // The duplicate checks' index, so adding n keys costs O(n), not O(n²): record indices by a hash
  // of their label and of every secret they held. Append-only and a superset (a stale or unpublished
  // entry is harmless): the checks still compare labels and secrets in full. Under admin_.
  std::unordered_multimap<std::uint64_t, std::size_t> by_label_;
  std::unordered_multimap<std::uint64_t, std::size_t> by_secret_;

  static std::uint64_t label_hash(std::string_view label) noexcept { return hash_label(label.data(), label.size()); }
  static std::uint64_t secret_hash(const Secret& secret) noexcept { return label_hash(secret.reveal()); }
  void index(std::size_t i, std::string_view label, const Secret& secret) {
    by_label_.emplace(label_hash(label), i);
    by_secret_.emplace(secret_hash(secret), i);
  }
  /// The published record indices under `hash` in `map`.
  static std::vector<std::size_t> candidates(const std::unordered_multimap<std::uint64_t, std::size_t>& map, std::uint64_t hash,
                                             std::size_t count) {
    std::vector<std::size_t> found;
    for (auto [it, end] = map.equal_range(hash); it != end; ++it)
      if (it->second < count) found.push_back(it->second);
    return found;
  }
  /// The key in the pool (not removed) that holds `secret` now, if any.
  const KeyRecord* holder_of(const Secret& secret, std::size_t count) const {
    for (const std::size_t i : candidates(by_secret_, secret_hash(secret), count))
      if (!records_[i].is_removed() && records_[i].secret() == secret) return &records_[i];
    return nullptr;
  }
  std::size_t slot_count_ = 0;                    // store slots bound; under admin_
  TierIndex tiers_{max_providers};
  alignas(64) std::atomic<std::size_t> record_count_{0};
  std::atomic<std::size_t> id_count_{0};
  SegmentedArray<std::atomic<const KeyRecord*>> ids_{64};  // KeyId → its record (the latest, after set_limits)
  std::atomic<std::size_t> provider_count_{0};
  std::atomic<std::size_t> meter_count_{0};
  std::atomic<std::size_t> model_count_{0};
  std::atomic<std::size_t> group_count_{0};
  std::mutex admin_;
};

}  // namespace keypool::detail
