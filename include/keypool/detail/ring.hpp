// A bounded lock-free multi-producer multi-consumer ring (Dmitry Vyukov's bounded MPMC queue,
// one sequence number per cell). alert::Queued moves events through it to its drainer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace keypool::detail {

/// A fixed-capacity FIFO of trivially copyable T, written in place and read by copy.
///
/// Each cell carries a sequence number that says whose turn it is: `position` (free for the
/// producer that claims `position`), `position + 1` (published, for the consumer at `position`),
/// `position + capacity` (consumed, free for the producer one lap later). A producer claims a
/// position with one CAS on the shared enqueue counter, writes the cell, and publishes it with a
/// release store of its sequence; a consumer does the same on the dequeue side. Neither side
/// ever waits for the other: a full ring refuses the push, an empty one the pop.
///
/// Guarantees: lock-free (a producer stalled between its claim and its publish holds up
/// consumers at that cell only, never producers); no allocation after construction; FIFO in the
/// order of claims (so one thread's pushes come out in its order). Not linearizable across
/// threads: a pop may fail while a push claimed earlier is still being written.
template <class T>
class BoundedRing {
  static_assert(std::is_trivially_copyable_v<T>, "detail::BoundedRing: T must be trivially copyable");

 public:
  /// `capacity` must be a power of two, at least 2 (the caller rounds; see round_capacity).
  /// Throws std::bad_alloc.
  explicit BoundedRing(std::size_t capacity) : mask_(capacity - 1), cells_(new Cell[capacity]) {
    for (std::size_t i = 0; i < capacity; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }

  /// The smallest power of two that is at least max(capacity, 2). `capacity` must be at most 2^62.
  [[nodiscard]] static constexpr std::size_t round_capacity(std::size_t capacity) noexcept {
    std::size_t rounded = 2;
    while (rounded < capacity) rounded <<= 1;
    return rounded;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  /// Claims the next free cell, calls `fill(T&)` on it (which must not throw), and publishes it.
  /// Returns false, without calling `fill`, when the ring is full. Thread-safe; lock-free; O(1).
  template <class Fill>
  bool try_push(Fill&& fill) noexcept {
    std::uint64_t position = enqueue_.position.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[position & mask_];
      // Acquire: pairs with the consumer's release in try_pop, so our writes to the cell come
      // after its read of the previous lap's value.
      const std::uint64_t sequence = cell->sequence.load(std::memory_order_acquire);
      const auto lag = static_cast<std::int64_t>(sequence - position);
      if (lag == 0) {
        // Relaxed: the cell's sequence, not this counter, orders the data.
        if (enqueue_.position.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) break;
      } else if (lag < 0) {
        return false;  // the cell still holds the value from one lap ago: full
      } else {
        position = enqueue_.position.load(std::memory_order_relaxed);  // another producer took it
      }
    }
    fill(cell->value);
    // Publishes the value to the consumer's acquire load in try_pop. Sequentially consistent
    // rather than release, for owners that let a consumer sleep: a consumer that announces its
    // sleep with a seq_cst store and then checks front_ready() (a seq_cst load), against a
    // producer that pushes and then reads the announcement with a seq_cst load, cannot both
    // miss each other (Dekker). On x86 this is one xchg instead of a mov.
    cell->sequence.store(position + 1, std::memory_order_seq_cst);
    return true;
  }

  /// Copies the oldest published value into `out` and frees its cell. Returns false when the
  /// ring is empty or the oldest claimed cell is still being written. Thread-safe; lock-free; O(1).
  bool try_pop(T& out) noexcept {
    std::uint64_t position = dequeue_.position.load(std::memory_order_relaxed);
    Cell* cell;
    for (;;) {
      cell = &cells_[position & mask_];
      // Acquire: pairs with the producer's release in try_push (the value is complete).
      const std::uint64_t sequence = cell->sequence.load(std::memory_order_acquire);
      const auto lag = static_cast<std::int64_t>(sequence - (position + 1));
      if (lag == 0) {
        if (dequeue_.position.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) break;
      } else if (lag < 0) {
        return false;  // not yet published (empty, or a producer is mid-write)
      } else {
        position = dequeue_.position.load(std::memory_order_relaxed);
      }
    }
    out = cell->value;
    // Release: our read of the value happens before the next lap's producer writes it.
    cell->sequence.store(position + mask_ + 1, std::memory_order_release);
    return true;
  }

  /// True if the oldest claimed cell is published (a pop would succeed now). Thread-safe. The
  /// sequence is read seq_cst: see the publishing store in try_push.
  [[nodiscard]] bool front_ready() const noexcept {
    const std::uint64_t position = dequeue_.position.load(std::memory_order_relaxed);
    return cells_[position & mask_].sequence.load(std::memory_order_seq_cst) == position + 1;
  }

  /// Pushes claimed so far (including ones still being written). Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t pushed() const noexcept { return enqueue_.position.load(std::memory_order_acquire); }
  /// Pops completed so far. Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t popped() const noexcept { return dequeue_.position.load(std::memory_order_acquire); }

 private:
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> sequence{0};
    T value{};
  };
  // 128 bytes: CPUs that prefetch cache lines in pairs would otherwise couple producers and consumer.
  struct alignas(128) Counter {
    std::atomic<std::uint64_t> position{0};
  };

  std::size_t mask_;
  std::unique_ptr<Cell[]> cells_;
  Counter enqueue_;
  Counter dequeue_;
};

}  // namespace keypool::detail
