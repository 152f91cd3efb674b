// A calendar window's counter in one 64-bit word: the window's index (epoch) in the high bits,
// the amount used in it in the low bits. A stale epoch reads as an empty window, so a new window
// needs no reset job.
#pragma once

#include <cmath>
#include <cstdint>

#include <keypool/detail/calendar.hpp>

namespace keypool::detail {

/// How many low bits hold the amount used, per window unit. The rest hold the window index
/// counted from 1970, with room for centuries: 34 bits of seconds (544 years), 28 of minutes
/// (510 years), 22 of hours (478 years), 18 of days (717 years), 14 of months (1365 years).
[[nodiscard]] constexpr unsigned used_bits(WindowUnit unit) noexcept {
  switch (unit) {
    case WindowUnit::second: return 30;
    case WindowUnit::minute: return 36;
    case WindowUnit::hour: return 42;
    case WindowUnit::day: return 46;
    case WindowUnit::month: return 50;
  }
  return 30;
}

/// The largest amount a limit of this unit may have: a quarter of the field, so that commits
/// larger than their estimate have room before the field saturates.
[[nodiscard]] constexpr std::uint64_t max_window_amount(WindowUnit unit) noexcept {
  return std::uint64_t{1} << (used_bits(unit) - 2);
}

/// floor(amount × fraction) and ceil(amount × fraction), where a product within a hair of a whole
/// number counts as that number: 10'000 × 0.95 is 9'500, not 9'499.999….
[[nodiscard]] inline std::uint64_t scale_floor(std::uint64_t amount, double fraction) noexcept {
  const long double product = static_cast<long double>(amount) * static_cast<long double>(fraction);
  const long double nearest = std::round(product);
  if (std::fabs(product - nearest) <= 1e-9L * (product < 1.0L ? 1.0L : product)) return static_cast<std::uint64_t>(nearest);
  return static_cast<std::uint64_t>(std::floor(product));
}
[[nodiscard]] inline std::uint64_t scale_ceil(std::uint64_t amount, double fraction) noexcept {
  const long double product = static_cast<long double>(amount) * static_cast<long double>(fraction);
  const long double nearest = std::round(product);
  if (std::fabs(product - nearest) <= 1e-9L * (product < 1.0L ? 1.0L : product)) return static_cast<std::uint64_t>(nearest);
  return static_cast<std::uint64_t>(std::ceil(product));
}

/// Decodes and encodes one packed window word for a given unit.
struct PackedWindow {
  unsigned shift;        // == used_bits(unit)
  std::uint64_t mask;    // low `shift` bits

  constexpr explicit PackedWindow(WindowUnit unit) noexcept
      : shift(used_bits(unit)), mask((std::uint64_t{1} << used_bits(unit)) - 1) {}

  [[nodiscard]] constexpr std::uint64_t epoch(std::uint64_t word) const noexcept { return word >> shift; }
  [[nodiscard]] constexpr std::uint64_t used(std::uint64_t word) const noexcept { return word & mask; }
  [[nodiscard]] constexpr std::uint64_t pack(std::uint64_t epoch, std::uint64_t used) const noexcept {
    return (epoch << shift) | (used > mask ? mask : used);  // saturates instead of spilling into the epoch
  }
  /// The largest epoch the word can hold.
  [[nodiscard]] constexpr std::uint64_t max_epoch() const noexcept { return ~std::uint64_t{0} >> shift; }
};

/// The cached end of the window a counter word refers to: the low 30 bits of that window's epoch
/// and its end in whole UTC seconds (34 bits, good to the year 2514). Lets the hot path see that
/// the stored window is still current with two loads and no calendar math.
struct WindowEnd {
  static constexpr unsigned end_bits = 34;
  static constexpr std::uint64_t end_mask = (std::uint64_t{1} << end_bits) - 1;

  [[nodiscard]] static constexpr std::uint64_t pack(std::uint64_t epoch, std::int64_t end_seconds) noexcept {
    const auto end = end_seconds < 0 ? 0 : static_cast<std::uint64_t>(end_seconds);
    return (epoch << end_bits) | (end > end_mask ? end_mask : end);
  }
  [[nodiscard]] static constexpr bool matches(std::uint64_t word, std::uint64_t epoch) noexcept {
    return (word >> end_bits) == (epoch & (~std::uint64_t{0} >> end_bits));
  }
  [[nodiscard]] static constexpr std::int64_t end_seconds(std::uint64_t word) noexcept {
    return static_cast<std::int64_t>(word & end_mask);
  }
};

}  // namespace keypool::detail
