// keypool::select::RoundRobin: keys in turn, evenly, with no word written by every acquire.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace keypool::select {

/// Each thread walks the keys in turn from its own cursor; a key that refuses is skipped, and the
/// walk goes on from the key after the one granted. Threads start spread around the ring (the
/// n-th thread at the bit-reversed fraction n: 0, ½, ¼, ¾, …), so concurrent threads mostly touch
/// different keys and no cursor word is shared: each thread's traffic is exactly even over the
/// keys it can use. Thread-safe, lock-free, O(1) per grant (O(n) only when keys refuse).
class RoundRobin {
 public:
  RoundRobin() noexcept : id_(next_id().fetch_add(1, std::memory_order_relaxed) + 1) {}

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    if (n == 0) return false;
    std::size_t& cursor = thread_cursor(n);
    std::size_t i = cursor < n ? cursor : cursor % n;
    const std::size_t start = i;
    for (std::size_t tried = 0; tried < n; ++tried) {
      if (ctx.try_key(i)) {
        cursor = i + 1 == n ? 0 : i + 1;
        return true;
      }
      if (++i == n) i = 0;
    }
    cursor = start + 1 == n ? 0 : start + 1;
    return false;
  }

 private:
  // A small per-thread table of cursors, one per pool the thread uses (direct-mapped by the
  // policy's id; two pools colliding in one thread just share a cursor, which stays correct).
  struct Entry {
    std::uint64_t owner = 0;
    std::size_t cursor = 0;
  };
  static constexpr std::size_t table_size = 8;

  std::size_t& thread_cursor(std::size_t n) noexcept {
    // Constant-initialized thread_locals: no guard or init call on each access.
    thread_local std::array<Entry, table_size> table{};
    Entry& entry = table[id_ % table_size];
    if (entry.owner != id_) [[unlikely]] {
      thread_local std::uint64_t spread = 0;  // 0: not drawn yet; else the fraction + 2^32
      if (spread == 0) spread = thread_spread() | (std::uint64_t{1} << 32);
      entry.owner = id_;
      entry.cursor = static_cast<std::size_t>(((spread & 0xffffffffu) * n) >> 32);
    }
    return entry.cursor;
  }

  // This thread's starting point as a 32-bit fraction of the ring: the bit reversal of its
  // ordinal, so any number of threads stays spread out.
  static std::uint32_t thread_spread() noexcept {
    static std::atomic<std::uint32_t> ordinal{0};
    std::uint32_t x = ordinal.fetch_add(1, std::memory_order_relaxed);
    std::uint32_t reversed = 0;
    for (int bit = 0; bit < 32; ++bit) {
      reversed = (reversed << 1) | (x & 1u);
      x >>= 1;
    }
    return reversed;
  }

  static std::atomic<std::uint64_t>& next_id() noexcept {
    static std::atomic<std::uint64_t> id{0};
    return id;
  }

  std::uint64_t id_;
};

}  // namespace keypool::select
