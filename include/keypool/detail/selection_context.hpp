// What a selection policy sees during one acquire (see detail::SelectionContextArchetype in
// concepts.hpp): the keys, their figures, and try_key, which reserves on a key or folds its
// refusal into the answer. SubsetContext narrows it to the keys of one tier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/tier_index.hpp>
#include <keypool/detail/weight_index.hpp>
#include <keypool/lease.hpp>
#include <keypool/options.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool::detail {

template <class Parent>
class SubsetContext;

/// One acquire's view of a pool. `Pool` offers (to this class, a friend): record(i), key_count(),
/// tiers(), weights(), try_reserve(key, route, amounts, priority, now, reservation), verdict(key, request, now),
/// headroom(key, request, now), refused(key, request, verdict, now), failover(from, to, now).
template <class Pool>
class SelectionContext {
 public:
  SelectionContext(Pool& pool, const Request& request, TimePoint now, Reservation& reservation) noexcept
      : pool_(pool), request_(request), amounts_(amounts_of(request)), now_(now), size_(pool.record_count()),
        reservation_(reservation) {}

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const Request& request() const noexcept { return request_; }
  [[nodiscard]] TimePoint now() const noexcept { return now_.at; }
  [[nodiscard]] ProviderId provider(std::size_t i) const noexcept { return pool_.record(i).provider; }
  [[nodiscard]] std::uint32_t tier(std::size_t i) const noexcept { return pool_.record(i).tier; }
  /// Key i's share of the weight axis: its KeyOptions::weight, or 0 for a record that took another
  /// record's place (set_limits), whose share stays at the place it took (see standing_for).
  [[nodiscard]] std::uint32_t weight(std::size_t i) const noexcept {
    const WeightIndex& weights = pool_.weights();
    return static_cast<std::uint32_t>(weights.cumulative(i) - (i == 0 ? 0 : weights.cumulative(i - 1)));
  }
  /// The record that stands for record i now: i, or the successor set_limits gave it (and that
  /// one's, in turn), when this acquire can see it.
  [[nodiscard]] std::size_t standing_for(std::size_t i) const noexcept {
    for (std::uint32_t next = pool_.record(i).successor.load(std::memory_order_acquire); next != 0 && next - 1 < size_;
         next = pool_.record(i).successor.load(std::memory_order_acquire))
      i = next - 1;
    return i;
  }
  [[nodiscard]] std::string_view label(std::size_t i) const noexcept { return pool_.record(i).label; }
  /// A hash of key i's label: the same in every process and run (for consistent hashing: select::Sticky).
  [[nodiscard]] std::uint64_t key_hash(std::size_t i) const noexcept { return pool_.record(i).hash; }
  /// The sum of the weights of keys 0 … i (inclusive); increasing in i. One load of a compact array.
  [[nodiscard]] std::uint64_t cumulative_weight(std::size_t i) const noexcept { return pool_.weights().cumulative(i); }
  /// The sum of every key's weight: cumulative_weight(size() - 1) (0 with no keys).
  [[nodiscard]] std::uint64_t total_weight() const noexcept { return size_ == 0 ? 0 : pool_.weights().cumulative(size_ - 1); }
  /// The first key whose cumulative weight exceeds `point` (point < total_weight()): the key a
  /// point of the weight axis falls on. O(1) expected (a guide table over the compact array).
  [[nodiscard]] std::size_t key_at_weight(std::uint64_t point) const noexcept {
    return standing_for(pool_.weights().key_at(point, size_));
  }
  /// Key i's consecutive transient failures (0 for a healthy key).
  [[nodiscard]] std::uint64_t failures(std::size_t i) const noexcept {
    return word(pool_.record(i).slot->health).load(std::memory_order_relaxed);
  }
  /// What is left of key i's tightest limit for this request's priority, as a fraction in
  /// [0, 1] (0 when the key is blocked). Loads only.
  [[nodiscard]] double headroom(std::size_t i) const noexcept { return pool_.headroom(pool_.record(i), request_, now_); }
  /// How long until key i could admit this request (zero: now). Loads only.
  [[nodiscard]] Duration wait(std::size_t i) const noexcept { return pool_.verdict(pool_.record(i), request_, now_).wait; }
  /// The number of distinct provider tiers, and a view of the keys of the t-th lowest tier
  /// (a context of the same shape whose indices 0 … size()-1 map to that tier's keys).
  [[nodiscard]] std::size_t tier_count() const noexcept { return pool_.tiers().count(); }
  [[nodiscard]] SubsetContext<SelectionContext> tier_view(std::size_t t) noexcept {
    const TierIndex::View view = pool_.tiers().view(t, size_);
    return SubsetContext<SelectionContext>{*this, view.members, view.count, view.tier};
  }
  /// Reports that traffic moved from provider `from` to provider `to` (select::Priority).
  void failover(ProviderId from, ProviderId to) noexcept { pool_.failover(from, to, now_.at); }

  [[nodiscard]] bool try_key(std::size_t i) noexcept {
    const KeyRecord& key = pool_.record(i);
    // A key with a group or models reserves on their meters too (out of line): the one load and
    // compare a key without them pays.
    if (const KeyMeters* meters = key.routes(); meters != nullptr) [[unlikely]] return try_metered_key(key, *meters);
    return try_reserve(key, nullptr);
  }

  /// The answer when no key was granted: the best verdict seen, or no_keys.
  [[nodiscard]] Refusal refusal() const noexcept {
    Refusal refusal;
    if (!any_verdict_) return refusal;
    refusal.reason = best_.reason;
    refusal.retry_after = best_.wait;
    refusal.resets_at = best_.wait == Duration::max() ? TimePoint::max() : saturating_add(now_.at, best_.wait);
    return refusal;
  }

 private:
  [[gnu::always_inline]] bool try_reserve(const KeyRecord& key, const MeterRoute* route) noexcept {
    // The generation is read before reserving: a reset racing with this acquire makes the lease
    // settle nothing, which can only over-count.
    const std::uint64_t generation = word(key.slot->generation).load(std::memory_order_relaxed);
    if (pool_.try_reserve(key, route, amounts_, request_.priority, now_, reservation_)) {
      reservation_.key = &key;
      reservation_.route = route;
      reservation_.generation = generation;
      reservation_.estimate = request_;
      return true;
    }
    if (key.is_removed()) [[unlikely]] return false;  // not in the pool: no verdict (all removed: no_keys)
    // Computed only as far as it could still beat the best refusal so far (a full pool: mostly
    // one limit per key). The shortest wait wins; among keys that can never serve, "too_large"
    // only when all are.
    const accounting::Verdict verdict = pool_.verdict(key, request_, now_, any_verdict_ ? &best_ : nullptr);
    if (!any_verdict_ || accounting::can_beat(verdict, best_)) best_ = verdict;
    any_verdict_ = true;
    pool_.refused(key, request_, verdict, now_.at);
    return false;
  }

  /// A key with a group or models: the meters this request counts on it, if it serves it at all
  /// (a key that does not serve the request's model is not a candidate: no verdict).
  [[gnu::noinline]] bool try_metered_key(const KeyRecord& key, const KeyMeters& meters) noexcept {
    const MeterRoute& route = meters.route(request_.model);
    return route.serves && try_reserve(key, &route);
  }

  Pool& pool_;
  const Request& request_;
  Amounts amounts_;
  accounting::Instant now_;
  std::size_t size_;
  Reservation& reservation_;
  accounting::Verdict best_{Reason::too_large, Duration::max()};
  bool any_verdict_ = false;
};

/// A context restricted to some of the keys (a tier): index j stands for key members[j].
template <class Parent>
class SubsetContext {
 public:
  SubsetContext(Parent& parent, const std::uint32_t* members, std::uint32_t count, std::uint32_t tier) noexcept
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
  /// O(size()).
  [[nodiscard]] std::uint64_t total_weight() const noexcept { return count_ == 0 ? 0 : cumulative_weight(count_ - 1); }
  /// The first of this subset's keys whose cumulative weight exceeds `point`. O(j): one pass.
  [[nodiscard]] std::size_t key_at_weight(std::uint64_t point) const noexcept {
    std::uint64_t sum = 0;
    std::size_t found = count_ == 0 ? 0 : count_ - 1;
    for (std::size_t j = 0; j + 1 < count_; ++j) {
      sum += parent_.weight(members_[j]);
      if (sum > point) {
        found = j;
        break;
      }
    }
    // A record set_limits replaced leads to its successor, a member of the same tier.
    if (const std::size_t now = count_ == 0 ? 0 : parent_.standing_for(members_[found]); count_ != 0 && now != members_[found])
      for (std::size_t j = 0; j < count_; ++j)
        if (members_[j] == now) return j;
    return found;
  }
  [[nodiscard]] std::uint64_t failures(std::size_t j) const noexcept { return parent_.failures(members_[j]); }
  [[nodiscard]] double headroom(std::size_t j) const noexcept { return parent_.headroom(members_[j]); }
  [[nodiscard]] Duration wait(std::size_t j) const noexcept { return parent_.wait(members_[j]); }
  [[nodiscard]] std::size_t tier_count() const noexcept { return 1; }
  [[nodiscard]] SubsetContext tier_view(std::size_t) noexcept { return *this; }
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

}  // namespace keypool::detail
