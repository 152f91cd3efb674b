// The keys grouped by their provider's tier, for select::Priority. Append-only and lock-free to
// read: a group's member array is replaced by a larger copy when full (the old one stays alive
// until the index dies, so a reader holding it is never left dangling), and a reader loads the
// count before the array, so the array it sees holds at least that many.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace keypool::detail {

class TierIndex {
 public:
  /// The keys of one tier, as an acquire sees them.
  struct View {
    const std::uint32_t* members;
    std::uint32_t count;
    std::uint32_t tier;
  };

  explicit TierIndex(std::size_t max_groups) : groups_(std::make_unique<Group[]>(max_groups)) {}

  /// Adds a tier (a no-op if it exists). Writers are serialized by the caller (admin lock).
  void add_tier(std::uint32_t tier) {
    const std::size_t groups = count_.load(std::memory_order_relaxed);
    for (std::size_t g = 0; g < groups; ++g)
      if (groups_[g].tier == tier) return;
    groups_[groups].tier = tier;
    // A new order: group ids sorted by tier, published before the count that makes it readable.
    auto& order = orders_.emplace_back(std::make_unique<std::uint8_t[]>(groups + 1));
    for (std::size_t g = 0; g <= groups; ++g) order[g] = static_cast<std::uint8_t>(g);
    std::sort(order.get(), order.get() + groups + 1,
              [this](std::uint8_t a, std::uint8_t b) { return groups_[a].tier < groups_[b].tier; });
    order_.store(order.get(), std::memory_order_release);
    count_.store(groups + 1, std::memory_order_release);
  }

  /// Appends key `index` to its tier (keys come in increasing index order). Admin lock.
  void append(std::uint32_t tier, std::uint32_t index) {
    const std::size_t groups = count_.load(std::memory_order_relaxed);
    for (std::size_t g = 0; g < groups; ++g) {
      Group& group = groups_[g];
      if (group.tier != tier) continue;
      const std::uint32_t count = group.count.load(std::memory_order_relaxed);
      if (count == group.room) {
        const std::uint32_t room = std::max<std::uint32_t>(8, group.room * 2);
        auto& grown = arrays_.emplace_back(std::make_unique<std::uint32_t[]>(room));
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

  /// The number of distinct tiers. Thread-safe.
  [[nodiscard]] std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }

  /// The keys of the t-th lowest tier, leaving out keys at or beyond `visible_keys` (published
  /// after the reader began; members are appended in increasing key order, so only at the end).
  /// Thread-safe, lock-free.
  [[nodiscard]] View view(std::size_t t, std::size_t visible_keys) const noexcept {
    const std::uint8_t* order = order_.load(std::memory_order_acquire);
    const Group& group = groups_[order[t]];
    const std::uint32_t count = group.count.load(std::memory_order_acquire);
    const std::uint32_t* members = group.members.load(std::memory_order_acquire);
    std::uint32_t visible = count;
    while (visible > 0 && members[visible - 1] >= visible_keys) --visible;
    return {members, visible, group.tier};
  }

 private:
  struct Group {
    std::uint32_t tier = 0;
    std::atomic<const std::uint32_t*> members{nullptr};
    std::atomic<std::uint32_t> count{0};
    std::uint32_t room = 0;  // admin only
  };

  std::unique_ptr<Group[]> groups_;
  std::vector<std::unique_ptr<std::uint8_t[]>> orders_;   // every order ever published (admin only)
  std::vector<std::unique_ptr<std::uint32_t[]>> arrays_;  // every member array ever published
  std::atomic<const std::uint8_t*> order_{nullptr};
  std::atomic<std::size_t> count_{0};
};

}  // namespace keypool::detail
