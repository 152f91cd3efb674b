// The pool's tables of providers and keys: fixed capacity, allocated once, append-only. Readers
// never lock (a key is published with a release store of the count); writers (add_provider,
// add_key) serialize on the admin mutex, which the hot path never takes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keypool/detail/key_record.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/detail/tier_index.hpp>
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

class KeyTable {
 public:
  /// The most providers one pool may have.
  static constexpr std::size_t max_providers = 256;

  KeyTable(std::size_t capacity, Thresholds thresholds)
      : capacity_(capacity), thresholds_(std::move(thresholds)) {
    if (capacity_ == 0) throw Error("Capacity{0}: a pool needs room for at least one key");
    if (capacity_ > (std::size_t{1} << 24)) throw Error("Capacity: at most 16,777,216 keys per pool");
    records_ = std::make_unique<KeyRecord[]>(capacity_);
    providers_ = std::make_unique<ProviderRecord[]>(max_providers);
  }

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

  /// Checks and adds a key; `bind(binding)` asks the store for its slot. See BasicKeyPool::add_key.
  template <class Bind>
  KeyId add_key(ProviderId provider, Secret secret, std::vector<Limit> limits, KeyOptions options, Bind&& bind) {
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

    const LimitSet* set = intern_limits(std::move(limits));
    KeySlot* slot = bind(KeyBinding{count, label, set->fingerprint, set->source, providers_[provider.value].name});

    KeyRecord& record = records_[count];
    record.limits = set;
    record.plans = set->plans.data();
    record.limit_count = set->plans.size();
    record.slot = slot;
    record.provider = provider;
    record.tier = providers_[provider.value].tier;
    record.weight = options.weight;
    record.id = KeyId{static_cast<std::uint32_t>(count)};
    record.hash = hash_label(label.data(), label.size());
    record.cumulative_weight = (count == 0 ? 0 : records_[count - 1].cumulative_weight) + options.weight;
    record.provider_record = &providers_[provider.value];
    record.label = std::move(label);
    record.secret = std::move(secret);
    providers_[provider.value].key_count.fetch_add(1, std::memory_order_relaxed);
    tiers_.append(record.tier, static_cast<std::uint32_t>(count));
    // Publishes the record: pairs with the acquire load in key_count().
    key_count_.store(count + 1, std::memory_order_release);
    return record.id;
  }

  /// Keys published so far. Thread-safe (acquire load: pairs with add_key's release store).
  [[nodiscard]] std::size_t key_count() const noexcept { return key_count_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t provider_count() const noexcept { return provider_count_.load(std::memory_order_acquire); }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] const Thresholds& thresholds() const noexcept { return thresholds_; }
  [[nodiscard]] const KeyRecord& operator[](std::size_t i) const noexcept { return records_[i]; }
  [[nodiscard]] const KeyRecord* records() const noexcept { return records_.get(); }
  [[nodiscard]] ProviderRecord& provider(std::size_t p) const noexcept { return providers_[p]; }
  [[nodiscard]] const ProviderRecord* providers() const noexcept { return providers_.get(); }
  [[nodiscard]] const TierIndex& tiers() const noexcept { return tiers_; }

  /// Key `key`'s record; throws keypool::Error naming `what` for an unknown id.
  [[nodiscard]] const KeyRecord& checked(KeyId key, const char* what) const {
    if (key.value >= key_count()) throw Error(std::string{what} + ": unknown key id " + std::to_string(key.value));
    return records_[key.value];
  }

  /// Calls `visit(record)` for each key (of `provider`, when given) until it returns false.
  template <class Visit>
  void each(Visit&& visit, const ProviderId* provider = nullptr) const {
    const std::size_t count = key_count();
    for (std::size_t i = 0; i < count; ++i)
      if ((provider == nullptr || records_[i].provider == *provider) && !visit(records_[i])) return;
  }

 private:
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
  Thresholds thresholds_;
  std::unique_ptr<KeyRecord[]> records_;
  std::unique_ptr<ProviderRecord[]> providers_;
  std::deque<LimitSet> limit_sets_;  // stable addresses; grows under admin_ only
  TierIndex tiers_{max_providers};
  alignas(64) std::atomic<std::size_t> key_count_{0};
  std::atomic<std::size_t> provider_count_{0};
  std::mutex admin_;
};

}  // namespace keypool::detail
