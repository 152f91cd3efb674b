// An array that grows without moving what it holds, read without a lock: the first `base`
// elements live in one block allocated at construction (an index below `base` costs one compare
// more than a plain array), the rest in blocks of doubling size (base, 2·base, 4·base, …) behind
// a fixed table of atomic pointers. Growth is serialized by the owner (the pool's admin mutex);
// a block is published with a release store before the count that makes its elements visible,
// and freed only when the array is destroyed, so a reader never holds a dangling element.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>

#include <keypool/error.hpp>

namespace keypool::detail {

template <class T>
class SegmentedArray {
 public:
  /// Enough blocks for 2^32 · base elements: more than any pool may hold.
  static constexpr std::size_t max_blocks = 33;

  /// Allocates the first block of `base` elements (at least 1), value-initialized.
  explicit SegmentedArray(std::size_t base) : base_(base == 0 ? 1 : base), first_(new T[base_]()) {
    blocks_[0].store(first_.get(), std::memory_order_relaxed);
  }
  SegmentedArray(const SegmentedArray&) = delete;
  SegmentedArray& operator=(const SegmentedArray&) = delete;
  ~SegmentedArray() {
    for (std::size_t b = 1; b < max_blocks; ++b) delete[] blocks_[b].load(std::memory_order_relaxed);
  }

  /// Element i. Lock-free. The caller knows i was published (below a count it loaded with acquire).
  [[nodiscard, gnu::always_inline]] T& operator[](std::size_t i) const noexcept {
    if (i < base_) [[likely]] return first_[i];
    return beyond(i);
  }

  /// Elements that exist now (published blocks only). Owner only.
  [[nodiscard]] std::size_t room() const noexcept { return base_ << (blocks_used_ - 1); }
  [[nodiscard]] std::size_t base() const noexcept { return base_; }

  /// Makes room for `count` elements (allocating the blocks missing, each published with a release
  /// store). Owner only (serialized by its lock). Throws std::bad_alloc.
  void grow_to(std::size_t count) {
    while (room() < count) {
      if (blocks_used_ == max_blocks) throw Error("SegmentedArray: too many elements");
      T* block = new T[base_ << (blocks_used_ - 1)]();
      blocks_[blocks_used_].store(block, std::memory_order_release);
      ++blocks_used_;
    }
  }

 private:
  [[gnu::noinline]] T& beyond(std::size_t i) const noexcept {
    // Block b ≥ 1 holds [base·2^(b-1), base·2^b).
    const std::size_t q = i / base_;
    const std::size_t b = static_cast<std::size_t>(std::bit_width(q));
    const std::size_t start = base_ << (b - 1);
    return blocks_[b].load(std::memory_order_acquire)[i - start];
  }

  std::size_t base_;
  std::unique_ptr<T[]> first_;
  std::array<std::atomic<T*>, max_blocks> blocks_{};
  std::size_t blocks_used_ = 1;  // owner only
};

}  // namespace keypool::detail
