// keypool::store::Memory: counters in this process's memory. The default storage: fastest, and
// forgotten when the process ends.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <keypool/error.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/store/binding.hpp>

namespace keypool::store {

/// Counter slots in process memory, one 256-byte cache-line-aligned slot per key, allocated once.
class Memory {
 public:
  /// Allocates `capacity` zeroed slots. Called once, by the pool's constructor.
  void reserve(std::size_t capacity) {
    slots_.reset(new KeySlot[capacity]);
    std::memset(static_cast<void*>(slots_.get()), 0, capacity * sizeof(KeySlot));
    capacity_ = capacity;
  }
  /// The slot of key `binding.index` (fresh keys only: memory does not outlive the pool).
  [[nodiscard]] KeySlot* bind(const KeyBinding& binding) {
    if (binding.index >= capacity_) throw Error("store::Memory: key index beyond capacity");
    return &slots_[binding.index];
  }
  /// Nothing to do: memory needs no flush.
  void flush() noexcept {}

 private:
  std::unique_ptr<KeySlot[]> slots_;
  std::size_t capacity_ = 0;
};

}  // namespace keypool::store
