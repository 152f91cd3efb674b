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

}  // namespace detail
}  // namespace keypool
