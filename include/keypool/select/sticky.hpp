// keypool::select::Sticky<Inner>: one affinity value, one key (multi-probe consistent hashing).
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include <keypool/detail/thread_ordinal.hpp>
#include <keypool/select/round_robin.hpp>

namespace keypool::select {

/// Sends every request with the same non-zero `Request::affinity` (a conversation, a user, a
/// document: whatever keeps a provider-side prompt cache warm) to the same key, chosen by
/// multi-probe consistent hashing over the keys' label hashes: each key is one point on a 64-bit
/// ring (its label hash), the affinity is hashed `probes` times, and the key whose point follows
/// one of those probes most closely wins. Adding a key moves only the affinities the new key wins
/// (about 1/n of them, all to the new key), and the choice is the same in every process and run
/// (labels, not indices, are hashed).
///
/// Balance: with 21 probes the busiest key holds at most about 1.2× the mean share of affinities
/// (measured 1.07 to 1.17 from 10 to 10,000 keys; tested ≤ 1.3× on 300 keys); a key's share has a
/// spread of about 15% and the least loaded key may get far less than the mean (a key whose point
/// closely follows another's is rarely nearest). Plain traffic without an affinity is `Inner`'s.
///
/// When that key cannot serve, or the affinity is 0, `Inner` chooses (the affinity is then not
/// kept: the next request tries its own key again first). A removed key keeps its affinities,
/// which then go to `Inner`; after `set_limits`, the key's new record (same label) takes them.
///
/// Cost: an index of the key points, sorted, with a table of where each slice of the ring starts:
/// O(probes) expected per sticky request, whatever the pool size. The index is built by the first
/// sticky acquire that finds the pool larger than the index (a merge, O(keys), with allocation; a
/// failed allocation leaves the scan of the keys the index lacks, so the answer never changes).
/// Meanwhile keys beyond the index are compared one by one, so the answer is always exactly the
/// full mapping (home_of). Superseded indexes are freed once no reader can hold them (each reader
/// announces itself in its own thread's slot: no word is written by every acquire). One instance
/// serves one context lineage: inside Priority, tiers sharing an instance (beyond Priority's
/// slots) use the index of the first one to build it, the other compares its keys one by one.
/// The index is the one allocation `select` may make, and only after the pool grew.
/// Thread-safe and lock-free if Inner is. Movable; copyable if Inner is (a copy starts unindexed).
template <class Inner = RoundRobin>
class Sticky {
 public:
  /// Probes per affinity (21: the multi-probe paper's choice for a peak-to-mean near 1.05).
  static constexpr std::size_t probes = 21;

  Sticky() : index_(std::make_unique<IndexState>()) {}
  explicit Sticky(Inner inner) : inner_(std::move(inner)), index_(std::make_unique<IndexState>()) {}
  Sticky(const Sticky& other)
    requires std::copy_constructible<Inner>
      : inner_(other.inner_), index_(std::make_unique<IndexState>()) {}
  Sticky(Sticky&&) noexcept = default;
  Sticky& operator=(const Sticky& other)
    requires std::copy_constructible<Inner>
  {
    if (this != &other) {
      inner_ = other.inner_;
      index_ = std::make_unique<IndexState>();
    }
    return *this;
  }
  Sticky& operator=(Sticky&&) noexcept = default;
  ~Sticky() = default;

  template <class Context>
  bool select(Context& ctx) noexcept {
    const std::size_t n = ctx.size();
    const std::uint64_t affinity = ctx.request().affinity;
    if (affinity != 0 && n != 0) {
      const std::size_t home = n == 1 ? 0 : index_ ? indexed_home(ctx, affinity) : home_of(ctx, affinity);
      if (ctx.try_key(home)) return true;
    }
    return inner_.select(ctx);
  }

  /// The key an affinity value maps to (what select tries first): the reference mapping,
  /// computed by scanning every key (probes × keys). Needs only `size()` and `key_hash(i)`.
  template <class Context>
  [[nodiscard]] static std::size_t home_of(const Context& ctx, std::uint64_t affinity) noexcept {
    Probes probe{affinity};
    Best best;
    scan(ctx, probe, 0, ctx.size(), best);
    return best.key;
  }

  [[nodiscard]] Inner& inner() noexcept { return inner_; }

 private:
  // The affinity's probes: points on the ring, fixed by the affinity alone.
  struct Probes {
    explicit Probes(std::uint64_t affinity) noexcept {
      for (std::size_t j = 0; j < probes; ++j) at[j] = detail::mix64(affinity + 0x9E3779B97F4A7C15ull * (j + 1));
    }
    std::uint64_t at[probes];
  };

  // The nearest point after a probe so far. Order: the shorter distance (ring arithmetic, mod
  // 2^64), then the later record (a key whose limits changed has a successor record with the
  // same label: the live one is the newest).
  struct Best {
    std::uint64_t distance = ~std::uint64_t{0};
    std::size_t key = 0;
    bool any = false;
    void offer(std::uint64_t d, std::size_t i) noexcept {
      if (!any || d < distance || (d == distance && i > key)) {
        distance = d;
        key = i;
        any = true;
      }
    }
  };

  template <class Context>
  static void scan(const Context& ctx, const Probes& probe, std::size_t from, std::size_t to, Best& best) noexcept {
    for (std::size_t i = from; i < to; ++i) {
      const std::uint64_t point = ctx.key_hash(i);
      std::uint64_t nearest = ~std::uint64_t{0};
      for (std::size_t j = 0; j < probes; ++j) nearest = std::min(nearest, point - probe.at[j]);
      best.offer(nearest, i);
    }
  }

  // The points of keys 0 … size-1 sorted by (hash, newest record first), and where each of the
  // 2^bits equal slices of the ring begins in them. Immutable once published.
  struct Index {
    std::size_t size = 0;
    std::uint64_t first_hash = 0;  // key 0's hash: tells this context's keys from another's
    unsigned shift = 63;
    std::unique_ptr<std::uint64_t[]> hash;
    std::unique_ptr<std::uint32_t[]> key;
    std::unique_ptr<std::uint32_t[]> slice;  // 2^bits + 1 entries
    Index* retired_next = nullptr;

    // The first point at or after `at`, round the ring.
    [[nodiscard]] std::size_t successor(std::uint64_t at) const noexcept {
      std::size_t pos = slice[at >> shift];
      while (hash[pos] < at) ++pos;  // hash[size] is the largest value: a sentinel
      return pos == size ? 0 : pos;
    }
  };

  struct alignas(128) ReaderSlot {  // 128: CPUs that prefetch lines in pairs would otherwise couple two threads
    std::atomic<std::uint32_t> readers{0};
  };

  struct IndexState {
    std::atomic<const Index*> current{nullptr};
    std::atomic<bool> building{false};
    Index* retired = nullptr;  // superseded, not yet freed (only the builder touches it)
    ReaderSlot slots[RoundRobin::cursor_slots];

    IndexState() = default;
    IndexState(const IndexState&) = delete;
    IndexState& operator=(const IndexState&) = delete;
    ~IndexState() {
      delete current.load(std::memory_order_relaxed);
      free_retired();
    }
    void free_retired() noexcept {
      while (retired != nullptr) delete std::exchange(retired, retired->retired_next);
    }
  };

  template <class Context>
  std::size_t indexed_home(const Context& ctx, std::uint64_t affinity) noexcept {
    IndexState& state = *index_;
    std::atomic<std::uint32_t>& readers = state.slots[detail::thread_ordinal() % RoundRobin::cursor_slots].readers;
    // Announce before loading the pointer (both seq_cst): a builder that retires the index after
    // this load then sees the announcement and keeps it (see retire()).
    readers.fetch_add(1, std::memory_order_seq_cst);
    const Index* index = state.current.load(std::memory_order_seq_cst);
    const std::size_t n = ctx.size();
    const bool usable = index != nullptr && index->size <= n && ctx.key_hash(0) == index->first_hash;
    const std::size_t covered = usable ? index->size : 0;
    Probes probe{affinity};
    Best best;
    if (covered != 0) {
      // Equal distances from two probes mean one point: the nearest position alone decides.
      std::uint64_t nearest = ~std::uint64_t{0};
      std::size_t at = 0;
      for (std::size_t j = 0; j < probes; ++j) {
        const std::size_t pos = index->successor(probe.at[j]);
        const std::uint64_t distance = index->hash[pos] - probe.at[j];
        if (distance < nearest) {
          nearest = distance;
          at = pos;
        }
      }
      best.offer(nearest, index->key[at]);
    }
    readers.fetch_sub(1, std::memory_order_release);
    scan(ctx, probe, covered, n, best);  // keys the index lacks: the answer is the full mapping's
    if (covered < n && (index == nullptr || usable)) rebuild(ctx, state);
    return best.key;
  }

  // Builds the index for ctx's keys by merging the keys the current one lacks into it, and
  // publishes it. One builder at a time; the others go on with the old index and the scan.
  template <class Context>
  static void rebuild(const Context& ctx, IndexState& state) noexcept {
    if (state.building.load(std::memory_order_relaxed) || state.building.exchange(true, std::memory_order_acquire))
      return;
    const Index* old = state.current.load(std::memory_order_acquire);
    const std::size_t n = ctx.size();
    if (old == nullptr || (old->size < n && ctx.key_hash(0) == old->first_hash)) {
      if (Index* built = merged(ctx, old, n); built != nullptr) {
        state.current.store(built, std::memory_order_seq_cst);
        if (old != nullptr) retire(state, const_cast<Index*>(old));
      }
    }
    state.building.store(false, std::memory_order_release);
  }

  // Keeps `old` until no reader can hold it: a reader that loaded it announced itself first, so
  // once every slot reads zero after the new index was published, none holds an older one.
  static void retire(IndexState& state, Index* old) noexcept {
    old->retired_next = state.retired;
    state.retired = old;
    for (const ReaderSlot& slot : state.slots)
      if (slot.readers.load(std::memory_order_seq_cst) != 0) return;  // freed at a later rebuild
    state.free_retired();
  }

  template <class Context>
  static Index* merged(const Context& ctx, const Index* old, std::size_t n) noexcept {
    const std::size_t had = old == nullptr ? 0 : old->size;
    std::unique_ptr<Index> index{new (std::nothrow) Index};
    if (!index) return nullptr;
    unsigned bits = 1;  // n ≥ 2: at least two slices
    while (bits < 32 && (std::size_t{1} << bits) < 2 * n) ++bits;  // about half a point a slice
    index->hash.reset(new (std::nothrow) std::uint64_t[n + 1]);
    index->key.reset(new (std::nothrow) std::uint32_t[n]);
    index->slice.reset(new (std::nothrow) std::uint32_t[(std::size_t{1} << bits) + 1]);
    std::unique_ptr<std::uint32_t[]> added{new (std::nothrow) std::uint32_t[n - had]};
    if (!index->hash || !index->key || !index->slice || !added) return nullptr;
    // (hash ascending, newer record first): the successor search lands on the live record.
    const auto before = [&ctx](std::uint32_t a, std::uint32_t b) {
      const std::uint64_t ha = ctx.key_hash(a), hb = ctx.key_hash(b);
      return ha < hb || (ha == hb && a > b);
    };
    for (std::size_t i = had; i < n; ++i) added[i - had] = static_cast<std::uint32_t>(i);
    std::sort(added.get(), added.get() + (n - had), before);
    std::size_t a = 0, b = 0, out = 0;
    while (a < had || b < n - had) {
      const bool take_old = b == n - had || (a < had && before(old->key[a], added[b]));
      const std::uint32_t key = take_old ? old->key[a++] : added[b++];
      index->hash[out] = ctx.key_hash(key);
      index->key[out++] = key;
    }
    index->hash[n] = ~std::uint64_t{0};
    index->size = n;
    index->first_hash = ctx.key_hash(0);
    index->shift = 64 - bits;
    const std::size_t slices = std::size_t{1} << bits;
    std::size_t pos = 0;
    for (std::size_t s = 0; s < slices; ++s) {
      while (pos < n && (index->hash[pos] >> index->shift) < s) ++pos;
      index->slice[s] = static_cast<std::uint32_t>(pos);
    }
    index->slice[slices] = static_cast<std::uint32_t>(n);
    return index.release();
  }

  Inner inner_;
  std::unique_ptr<IndexState> index_;  // on the heap: stays put when the policy moves
};

}  // namespace keypool::select
