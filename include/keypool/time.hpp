// The time types every keypool interface speaks: UTC wall time in nanoseconds, and durations.
#pragma once

#include <chrono>
#include <cstdint>

namespace keypool {

/// Durations are nanoseconds everywhere in the public API.
using Duration = std::chrono::nanoseconds;
/// Time points are UTC wall time (quotas reset on calendar boundaries), in nanoseconds.
using TimePoint = std::chrono::sys_time<Duration>;

namespace detail {

/// Nanoseconds since the Unix epoch (0 before it): the unit of the slots' time words.
[[nodiscard]] inline std::uint64_t to_ns(TimePoint t) noexcept {
  const auto count = t.time_since_epoch().count();
  return count < 0 ? 0 : static_cast<std::uint64_t>(count);
}
/// Whole seconds since the Unix epoch (0 before it): the unit of calendar math.
[[nodiscard]] inline std::int64_t to_seconds(TimePoint t) noexcept {
  const auto count = t.time_since_epoch().count();
  return count < 0 ? 0 : count / 1'000'000'000;
}
[[nodiscard]] inline TimePoint from_seconds(std::int64_t seconds) noexcept {
  return TimePoint{std::chrono::seconds{seconds}};
}

/// `t + d`, saturated at TimePoint::max() and TimePoint::min() instead of overflowing (a
/// provider's or a caller's `Duration::max()` means "forever", not a wrapped time in 1677).
[[nodiscard]] constexpr TimePoint saturating_add(TimePoint t, Duration d) noexcept {
  const auto a = t.time_since_epoch().count();
  const auto b = d.count();
  if (b > 0 && a > TimePoint::max().time_since_epoch().count() - b) return TimePoint::max();
  if (b < 0 && a < TimePoint::min().time_since_epoch().count() - b) return TimePoint::min();
  return t + d;
}

/// `d` in nanoseconds, saturated at Duration::max() (and min) instead of wrapping: a rolling
/// period of hours{5'124'096} is longer than 292 years of nanoseconds, not 1,526 s.
template <class Rep, class Period>
[[nodiscard]] constexpr Duration saturating_ns(std::chrono::duration<Rep, Period> d) noexcept {
  using Wide = std::chrono::duration<long double, std::nano>;
  const Wide wide = std::chrono::duration_cast<Wide>(d);
  if (wide >= Wide{static_cast<long double>(Duration::max().count())}) return Duration::max();
  if (wide <= Wide{static_cast<long double>(Duration::min().count())}) return Duration::min();
  return std::chrono::duration_cast<Duration>(d);
}

}  // namespace detail
}  // namespace keypool
