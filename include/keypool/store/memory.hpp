// keypool::store::Memory: counters in this process's memory. The default storage: fastest, and
// forgotten when the process ends.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <keypool/detail/segmented.hpp>
#include <keypool/error.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/store/binding.hpp>

namespace keypool::store {

/// Counter slots in process memory, one 256-byte cache-line-aligned slot per key: the reserved
/// ones allocated at once, more in doubling blocks when the pool grows (a slot never moves).
class Memory {
 public:
  /// Each bind gets a slot of its own, whatever its label: a key whose limits change may count
  /// on fresh counters (KeyPool::set_limits).
  static constexpr bool fresh_slots = true;

  /// Allocates `capacity` zeroed slots. Called once, by the pool's constructor.
  void reserve(std::size_t capacity) { slots_ = std::make_unique<detail::SegmentedArray<KeySlot>>(capacity); }
  /// Makes room for `capacity` slots in all, keeping those bound where they are. Called by the pool,
  /// under its admin lock, when keys are added past its Capacity.
  void grow(std::size_t capacity) {
    if (!slots_) throw Error("store::Memory: grow before reserve");
    slots_->grow_to(capacity);
  }
  /// The slot of key `binding.index` (fresh keys only: memory does not outlive the pool).
  [[nodiscard]] KeySlot* bind(const KeyBinding& binding) {
    if (!slots_ || binding.index >= slots_->room()) throw Error("store::Memory: key index beyond capacity");
    return &(*slots_)[binding.index];
  }
  /// Nothing to do: memory needs no flush.
  void flush() noexcept {}

 private:
  std::unique_ptr<detail::SegmentedArray<KeySlot>> slots_;
};

}  // namespace keypool::store
