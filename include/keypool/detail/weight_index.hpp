// The keys' cumulative weights in one compact array beside the key records, with a guide table
// over them, so select::Weighted maps a point of the total weight to its key in O(1) expected
// loads (one guide entry, one or two lines of the array) instead of a binary search that reads a
// field of a large record per step. Append-only and lock-free to read, like the records.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include <keypool/detail/segmented.hpp>

namespace keypool::detail {

/// Entry i is the sum of the weights of records 0 … i (every record the key table appended,
/// closed ones included: their share goes to the keys after them). Values never change once
/// written, so a guide built from any prefix stays true for it.
///
/// The guide (Chen and Asau's method for inverse-CDF lookup) cuts the weight axis into buckets of
/// 2^shift units; entry b is the first record whose cumulative weight exceeds b·2^shift, marked
/// `whole` when the bucket lies within that record. A point p lies in bucket p >> shift: in a
/// whole bucket its key is the entry, one load in all; otherwise it lies between that bucket's
/// entry and the next one's, found by a binary search over that range of the sums. With weights
/// of like size most buckets are whole (with weights up to 4 all are) and the others span two or
/// three keys; with a few keys far heavier than the rest, the light keys crowd into few buckets and
/// the search is O(log keys), as without a guide. Buckets are kept at most 4·records + 64, so the
/// guide costs at most 16 bytes a record plus 256. Appending a key only appends buckets (earlier
/// ones never change); when the average weight grows so that the buckets would pass that bound,
/// the guide is rebuilt with a wider bucket (at least twice as wide: 64 rebuilds at most, ever;
/// keys of like weight never cause one). Old guides stay allocated until the index dies, so a
/// reader holding one is never left dangling: each costs what it held when it was replaced.
class WeightIndex {
 public:
  /// Room for `base` records before the first growth (the pool's Capacity).
  explicit WeightIndex(std::size_t base) : sums_(base) { install(0, bucket_bound(base)); }
  WeightIndex(const WeightIndex&) = delete;
  WeightIndex& operator=(const WeightIndex&) = delete;

  /// Appends record `count()`, of weight `weight` (at least 1). Writers are serialized by the
  /// caller (the admin lock); call it before publishing the record (the release store of the
  /// record count), which makes the new entry readable. Throws std::bad_alloc.
  void append(std::uint32_t weight) {
    const std::size_t index = count_;
    sums_.grow_to(index + 1);
    total_ += weight;
    sums_[index] = total_;
    ++count_;
    Guide* guide = guides_.back().get();
    if (buckets_for(total_, guide->shift) > bucket_bound(count_)) {
      rebuild();
    } else {
      const std::size_t from = guide->buckets.load(std::memory_order_relaxed);
      const std::size_t to = buckets_for(total_, guide->shift);
      guide->first.grow_to(to);
      // Every bucket new to this total starts within the new record (the ones before it start
      // below the previous total); whole when it also ends within it.
      for (std::size_t b = from; b < to; ++b) guide->first[b] = entry(index, b, guide->shift);
      guide->buckets.store(to, std::memory_order_release);  // pairs with the acquire load in key_at
    }
  }

  /// Records appended so far. Writer only.
  [[nodiscard]] std::size_t count() const noexcept { return count_; }

  /// The sum of the weights of records 0 … i. Lock-free; i must be below a record count loaded
  /// with acquire (the key table's).
  [[nodiscard, gnu::always_inline]] std::uint64_t cumulative(std::size_t i) const noexcept { return sums_[i]; }

  /// The first of records 0 … n−1 whose cumulative weight exceeds `point`; `point` must be below
  /// cumulative(n − 1). Lock-free, loads only; O(1) expected (O(log n) at worst, when a bucket
  /// spans many light keys). Any guide, older or newer than the caller's n, answers right: entries
  /// never change, and a bucket that starts below `point` starts within records 0 … n−1.
  [[nodiscard]] std::size_t key_at(std::uint64_t point, std::size_t n) const noexcept {
    const Guide* guide = guide_.load(std::memory_order_acquire);
    const std::size_t buckets = guide->buckets.load(std::memory_order_acquire);
    const std::size_t b = static_cast<std::size_t>(point >> guide->shift);
    std::size_t low = 0, high = n - 1;
    if (b < buckets) {
      const std::uint32_t first = guide->first[b];
      if (first & whole) return first & ~whole;
      low = first;
      if (b + 1 < buckets) high = std::min<std::size_t>(high, guide->first[b + 1] & ~whole);
    } else if (buckets > 0) {
      low = guide->first[buckets - 1] & ~whole;  // an older guide: the point is past what it covers
    }
    while (low < high) {
      const std::size_t mid = low + (high - low) / 2;
      if (sums_[mid] > point) high = mid;
      else low = mid + 1;
    }
    return low;
  }

 private:
  struct Guide {
    Guide(unsigned bucket_shift, std::size_t base) : shift(bucket_shift), first(base) {}
    unsigned shift;
    SegmentedArray<std::uint32_t> first;  // bucket → first record whose cumulative weight exceeds its start
    std::atomic<std::size_t> buckets{0};  // entries readable
  };

  // An entry's mark: the bucket lies within its record (record indices stay below 2^26).
  static constexpr std::uint32_t whole = std::uint32_t{1} << 31;

  // At most four buckets per record (weights up to 4 keep buckets of one unit, every one whole),
  // and 64 more so small pools never rebuild for a few heavy keys.
  static std::size_t bucket_bound(std::size_t records) noexcept { return 4 * records + 64; }

  // Bucket b's entry when `record` is the first whose sum exceeds its start.
  std::uint32_t entry(std::size_t record, std::size_t b, unsigned shift) const noexcept {
    const std::uint64_t end = (static_cast<std::uint64_t>(b) + 1) << shift;
    return static_cast<std::uint32_t>(record) | (sums_[record] >= end ? whole : 0);
  }

  // The buckets that start below `total`: ceil(total / 2^shift).
  static std::size_t buckets_for(std::uint64_t total, unsigned shift) noexcept {
    return total == 0 ? 0 : static_cast<std::size_t>(((total - 1) >> shift) + 1);
  }

  Guide* install(unsigned shift, std::size_t base) {
    Guide* guide = guides_.emplace_back(std::make_unique<Guide>(shift, base)).get();
    guide_.store(guide, std::memory_order_release);
    return guide;
  }

  // A guide with the narrowest bucket that keeps the bound, filled for every record so far.
  void rebuild() {
    unsigned shift = guides_.back()->shift;
    while (buckets_for(total_, shift) > bucket_bound(count_)) ++shift;
    const std::size_t to = buckets_for(total_, shift);
    // Sized to the buckets of now (later ones go to its doubling blocks): a guide left behind by
    // the next rebuild holds no room it never used.
    auto guide = std::make_unique<Guide>(shift, to);
    guide->first.grow_to(to);
    std::size_t record = 0;
    for (std::size_t b = 0; b < to; ++b) {
      const std::uint64_t start = static_cast<std::uint64_t>(b) << shift;
      while (sums_[record] <= start) ++record;
      guide->first[b] = entry(record, b, shift);
    }
    guide->buckets.store(to, std::memory_order_relaxed);
    guide_.store(guides_.emplace_back(std::move(guide)).get(), std::memory_order_release);  // publishes the filled guide
  }

  SegmentedArray<std::uint64_t> sums_;
  std::deque<std::unique_ptr<Guide>> guides_;  // every guide made, the current one last; writer only
  std::atomic<const Guide*> guide_{nullptr};
  std::uint64_t total_ = 0;  // writer only
  std::size_t count_ = 0;    // writer only
};

}  // namespace keypool::detail
