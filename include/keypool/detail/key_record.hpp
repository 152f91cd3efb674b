// What the pool keeps in process memory about each key and provider: never in shared storage,
// because it holds the secret and pointers.
#pragma once

#include <array>
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <keypool/detail/limit_plan.hpp>
#include <keypool/dialect.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/options.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/secret.hpp>

namespace keypool::detail {

/// A request remembered on the refusal path (relaxed atomics: written rarely, read by poll), so
/// poll can tell when such a request could be served again.
struct RequestProbe {
  std::atomic<std::uint64_t> tokens{0}, characters{0}, units{0}, spend{0};
  std::atomic<std::uint8_t> priority{static_cast<std::uint8_t>(Priority::normal)};
  std::atomic<std::uint32_t> model{0};

  void store(const Request& r) noexcept {
    tokens.store(r.tokens, std::memory_order_relaxed);
    characters.store(r.characters, std::memory_order_relaxed);
    units.store(r.units, std::memory_order_relaxed);
    spend.store(r.spend, std::memory_order_relaxed);
    priority.store(static_cast<std::uint8_t>(r.priority), std::memory_order_relaxed);
    model.store(r.model.value, std::memory_order_relaxed);
  }
  [[nodiscard]] Request load() const noexcept {
    return Request{.tokens = tokens.load(std::memory_order_relaxed),
                   .characters = characters.load(std::memory_order_relaxed),
                   .units = units.load(std::memory_order_relaxed),
                   .spend = spend.load(std::memory_order_relaxed),
                   .priority = static_cast<Priority>(priority.load(std::memory_order_relaxed)),
                   .model = ModelId{model.load(std::memory_order_relaxed)}};
  }
};

struct ProviderRecord {
  std::string name;
  std::uint32_t tier = 0;
  Dialect dialect = Dialect::generic;  // how its answers are read (Lease::classify)
  /// Nanoseconds since the epoch until which provider_exhausted has been reported (0: not
  /// exhausted); cleared by poll() when the provider can serve again, with provider_recovered.
  std::atomic<std::uint64_t> exhausted_until{0};
  RequestProbe probe;  // the request it was reported exhausted for
  std::atomic<std::uint32_t> key_count{0};
};

struct KeyMeters;

/// One key, or one meter (the limits of a key's model, of a group, or of a group's model: counted
/// like a key's, in a slot of their own, never selected). The first members are what the hot
/// path reads.
struct KeyRecord {
  KeySlot* slot = nullptr;            // the counters, in the storage policy's memory
  const LimitPlan* plans = nullptr;   // == limits->plans.data(), shared and immutable
  std::size_t limit_count = 0;        // == limits->plans.size()
  /// A key's meters (nullptr: no group, no models: the key serves every request with its own
  /// limits alone; the hot path's one extra load and compare). Atomic (relaxed: what it points to
  /// is immutable once published) because a key whose limits change is closed by pointing it at
  /// KeyMeters::none: it then serves no request.
  std::atomic<const KeyMeters*> meters{nullptr};
  /// What `meters` held when the key was published (it stays, after a close points `meters` at
  /// KeyMeters::none()): whether the key had models or a group.
  const KeyMeters* opened = nullptr;
  const LimitSet* limits = nullptr;
  ProviderId provider{};
  std::uint32_t tier = 0;
  std::uint32_t weight = 1;
  bool adopt_reported = false;          // KeyOptions::adopt_reported_limits: poll() adopts reported limits
  KeyId id{};
  std::uint64_t hash = 0;               // of the label: stable across processes and runs
  ProviderRecord* provider_record = nullptr;
  std::uint32_t slot_index = 0;         // the slot's number in the store (KeyBinding::index)
  /// Per limit: what a provider's answer added to the usage in one window (not requests counted
  /// here): (amount << 24) | (window index & 0xffffff). In this process only (see MarkedUsage).
  mutable std::array<std::atomic<std::uint64_t>, max_limits_per_key> marked{};
  /// Per limit: the last figures a provider reported for it (x-ratelimit-limit-*, -remaining-*)
  /// and when (ns; 0: never). Each word is read atomically, not the three together.
  mutable std::array<std::atomic<std::uint64_t>, max_limits_per_key> reported_limit{};
  mutable std::array<std::atomic<std::uint64_t>, max_limits_per_key> reported_remaining{};
  mutable std::array<std::atomic<std::uint64_t>, max_limits_per_key> reported_at{};
  /// What a provider reported of windows none of the record's limits count (Groq's tokens per
  /// minute on a key that counts tokens per day): see ObservedReports.
  mutable std::array<std::atomic<std::uint64_t>, 12> observed{};
  std::string label;                    // a key's label, a model meter's key's label; empty for a group
  std::string model;                    // a meter's model ("" for a key or a group's shared limits)
  std::string group;                    // a group meter's group name
  /// The key's secret: replaced whole by rotate_secret (the table keeps every secret it ever held
  /// until the pool ends, so a reference a lease handed out stays valid). Never null for a key.
  std::atomic<const Secret*> secret_ptr{nullptr};
  /// Removed by remove_key: never granted again, not listed, its label and secret free for another
  /// key. Its slot stays bound (leases in flight settle there) until the pool ends.
  mutable std::atomic<bool> removed{false};
  /// set_limits: 1 + the index of the record that took this one's place (0: none). Weighted
  /// selection lands on this record's share of the weight axis and follows it to the successor.
  mutable std::atomic<std::uint32_t> successor{0};
  /// Disabled by a provider's answer (a refused credential, a billing stop), not by an operator:
  /// a probe may enable it (detail::Prober). Cleared by disable(k) and enable(k).
  mutable std::atomic<bool> answer_disabled{false};

  [[nodiscard]] const Secret& secret() const noexcept { return *secret_ptr.load(std::memory_order_acquire); }
  [[nodiscard, gnu::always_inline]] const KeyMeters* routes() const noexcept { return meters.load(std::memory_order_relaxed); }
  [[nodiscard]] bool is_removed() const noexcept { return removed.load(std::memory_order_acquire); }
};

/// What a provider's answer marked used of a limit, apart from what requests used: kept per
/// record and limit for the window it was marked in, so a snapshot can tell "spent because the
/// provider said so" from "used by calls". Cold path only (reports, quota answers, snapshots).
struct MarkedUsage {
  static constexpr std::uint64_t epoch_mask = (std::uint64_t{1} << 24) - 1;
  static constexpr std::uint64_t max_amount = (std::uint64_t{1} << 40) - 1;

  /// Adds `amount` marked in window `epoch` of limit i (a later window's mark replaces it).
  static void add(const KeyRecord& record, std::size_t i, std::uint64_t epoch, std::uint64_t amount) noexcept {
    auto& word = record.marked[i];
    std::uint64_t seen = word.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t base = (seen & epoch_mask) == (epoch & epoch_mask) ? seen >> 24 : 0;
      const std::uint64_t total = std::min(max_amount, base + std::min(amount, max_amount));
      if (word.compare_exchange_weak(seen, (total << 24) | (epoch & epoch_mask), std::memory_order_relaxed)) return;
    }
  }
  /// What was marked of limit i in window `epoch`.
  [[nodiscard]] static std::uint64_t in(const KeyRecord& record, std::size_t i, std::uint64_t epoch) noexcept {
    const std::uint64_t word = record.marked[i].load(std::memory_order_relaxed);
    return (word & epoch_mask) == (epoch & epoch_mask) ? word >> 24 : 0;
  }
  static void forget(const KeyRecord& record, std::size_t i) noexcept { record.marked[i].store(0, std::memory_order_relaxed); }
};

/// The record's limits with each calendar limit's amount replaced by the one its provider last
/// reported for it, when that differs (KeyOptions::adopt_reported_limits); empty when none
/// differs. Throws keypool::Error for a reported amount the limit cannot take. Cold path (poll).
[[nodiscard]] inline std::vector<Limit> reported_limits(const KeyRecord& record) {
  std::vector<Limit> limits;
  bool differs = false;
  for (std::size_t i = 0; i < record.limit_count; ++i) {
    const Limit& limit = record.limits->source[i];
    const std::uint64_t reported = record.reported_limit[i].load(std::memory_order_relaxed);
    const bool adopt = reported != 0 && reported != limit.amount() && limit.kind() == Limit::Kind::window;
    limits.push_back(adopt ? limit.with_amount(reported) : limit);
    differs = differs || adopt;
  }
  if (!differs) limits.clear();
  return limits;
}

/// A provider's reports about windows a record does not count, kept as observed (up to 4, one per
/// metric and window, the latest of each): per entry, (1 << 63 | metric << 56 | window << 48 |
/// limit), remaining, resets_at (ns). Cold path only; each word is read atomically, not an entry
/// together (a snapshot may pair figures of two consecutive reports).
struct ObservedReports {
  static constexpr std::size_t entries = 4;
  static constexpr std::uint64_t limit_mask = (std::uint64_t{1} << 48) - 1;

  static void note(const KeyRecord& record, const ProviderRemaining& report) noexcept {
    const std::uint64_t id = (std::uint64_t{1} << 63) | (std::uint64_t{static_cast<std::uint8_t>(report.metric)} << 56) |
                             (std::uint64_t{static_cast<std::uint8_t>(report.window)} << 48);
    std::size_t chosen = entries;
    for (std::size_t e = 0; e < entries && chosen == entries; ++e) {
      const std::uint64_t head = record.observed[3 * e].load(std::memory_order_relaxed);
      if (head == 0 || (head & ~limit_mask) == id) chosen = e;
    }
    if (chosen == entries) chosen = (id >> 48) % entries;  // full: the same metric and window's usual place
    const std::int64_t resets = report.resets_at.time_since_epoch().count();
    record.observed[3 * chosen + 1].store(report.remaining, std::memory_order_relaxed);
    record.observed[3 * chosen + 2].store(resets > 0 ? static_cast<std::uint64_t>(resets) : 0, std::memory_order_relaxed);
    record.observed[3 * chosen].store(id | std::min(report.limit, limit_mask), std::memory_order_relaxed);
  }

  [[nodiscard]] static std::vector<ProviderRemaining> read(const KeyRecord& record) {
    std::vector<ProviderRemaining> out;
    for (std::size_t e = 0; e < entries; ++e) {
      const std::uint64_t head = record.observed[3 * e].load(std::memory_order_relaxed);
      if (head == 0) continue;
      ProviderRemaining report;
      report.metric = static_cast<Metric>((head >> 56) & 0x7f);
      report.window = static_cast<Window>((head >> 48) & 0xff);
      report.limit = head & limit_mask;
      report.remaining = record.observed[3 * e + 1].load(std::memory_order_relaxed);
      report.resets_at = TimePoint{Duration{static_cast<std::int64_t>(record.observed[3 * e + 2].load(std::memory_order_relaxed))}};
      out.push_back(report);
    }
    return out;
  }
};

/// The meters a request on a key reserves besides the key's own limits, in order: the group's
/// shared limits, the group's limits of the model, the key's limits of the model (absent ones
/// are skipped). `serves`: whether the key serves such a request at all.
struct MeterRoute {
  std::array<const KeyRecord*, 3> records{};
  std::uint8_t count = 0;
  bool serves = false;
};

/// What a key with a group or models reserves, per model named by a request (index: ModelId).
/// Immutable once the key is published.
struct KeyMeters {
  std::vector<MeterRoute> by_model;  // [0]: requests that name no model
  MeterRoute other;                  // a model beyond by_model (interned after the key was added)
  std::vector<const KeyRecord*> own_models;  // the key's model meters, for reset and snapshots
  std::uint32_t group = ~std::uint32_t{0};   // the key's group (GroupId value), if any

  [[nodiscard]] const MeterRoute& route(ModelId model) const noexcept {
    return model.value < by_model.size() ? by_model[model.value] : other;
  }

  /// The routes of a key that serves nothing (a key closed when its limits changed: its successor
  /// serves from then on).
  static const KeyMeters& none() noexcept {
    static const KeyMeters closed{};
    return closed;
  }
};

/// Calls `visit` for the key and each of its own model meters (what reset(KeyId) forgets).
template <class Visit>
void each_own(const KeyRecord& key, Visit&& visit) {
  visit(key);
  if (const KeyMeters* meters = key.routes())
    for (const KeyRecord* meter : meters->own_models) visit(*meter);
}

}  // namespace keypool::detail
