// Helpers of the selection policies: a per-thread ordinal drawn once (to give each
// thread its own padded slot in a policy), a per-thread pseudo-random stream (no shared write), and
// the try-every-key fallback.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace keypool::detail {

/// This thread's ordinal among the threads that ever asked: 0, 1, 2, … drawn once per thread.
[[nodiscard]] inline std::uint32_t thread_ordinal() noexcept {
  thread_local std::uint32_t ordinal_plus_one = 0;  // constant-initialized: no guard per access
  if (ordinal_plus_one == 0) [[unlikely]] {
    static std::atomic<std::uint32_t> next{0};
    ordinal_plus_one = next.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  return ordinal_plus_one - 1;
}

/// SplitMix64's finalizer: a bijective 64-bit mix with good avalanche.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

/// The next number of this thread's pseudo-random stream (SplitMix64; each thread starts from its
/// ordinal, so streams differ and runs are reproducible for a given thread creation order).
[[nodiscard]] inline std::uint64_t thread_random() noexcept {
  thread_local std::uint64_t state = 0;
  thread_local bool seeded = false;
  if (!seeded) [[unlikely]] {
    state = mix64(0x9E3779B97F4A7C15ull * (std::uint64_t{thread_ordinal()} + 1));
    seeded = true;
  }
  state += 0x9E3779B97F4A7C15ull;
  return mix64(state);
}

/// A uniform index in [0, n) from a 64-bit random number: the top 32 bits times n (n < 2^32;
/// the bias is below n / 2^32, under 0.4% for the largest pool keypool allows).
[[nodiscard]] constexpr std::size_t bounded(std::uint64_t random, std::size_t n) noexcept {
  return static_cast<std::size_t>(((random >> 32) * static_cast<std::uint64_t>(n)) >> 32);
}

/// `Count` indices drawn uniformly and independently from [0, n) (repeats possible) from this
/// thread's random stream, two per random number: the sample of the sampling policies (Score,
/// ShortestWait), whose bound (1 - q)^Count on missing the best fraction q of the keys holds
/// exactly for independent draws.
template <std::size_t Count>
[[nodiscard]] std::array<std::size_t, Count> random_keys(std::size_t n) noexcept {
  std::array<std::size_t, Count> keys{};
  for (std::size_t k = 0; k < Count; k += 2) {
    const std::uint64_t random = thread_random();
    keys[k] = bounded(random, n);
    if (k + 1 < Count) keys[k + 1] = bounded(random << 32, n);
  }
  return keys;
}

/// FNV-1a of a string: a key's stable identity for hashing (same label, same hash, in every
/// process and run).
[[nodiscard]] constexpr std::uint64_t hash_label(const char* data, std::size_t size) noexcept {
  std::uint64_t hash = 1469598103934665603ull;
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= static_cast<unsigned char>(data[i]);
    hash *= 1099511628211ull;
  }
  return mix64(hash);
}

}  // namespace keypool::detail

namespace keypool::detail {

/// Calls visit(i) for the n indices of a ring from `start` (start, start + 1, …, n − 1, 0, …),
/// until one returns true; true when one did. The walk every selection policy's scan takes.
template <class Visit>
bool any_from(std::size_t n, std::size_t start, Visit&& visit) noexcept {
  for (std::size_t k = 0, i = start; k < n; ++k, i = i + 1 == n ? 0 : i + 1)
    if (visit(i)) return true;
  return false;
}

/// Tries every key of `ctx` once, from `start` round the ring, except `skip` (a key already
/// tried; pass ctx.size() to skip none): the fallback that keeps a selection policy's promise
/// to refuse only when no key can serve.
template <class Context>
[[nodiscard]] bool try_each_from(Context& ctx, std::size_t start, std::size_t skip) noexcept {
  return any_from(ctx.size(), start, [&](std::size_t i) { return i != skip && ctx.try_key(i); });
}

}  // namespace keypool::detail
