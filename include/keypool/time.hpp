// The time types every keypool interface speaks: UTC wall time in nanoseconds, and durations.
#pragma once

#include <chrono>

namespace keypool {

/// Durations are nanoseconds everywhere in the public API.
using Duration = std::chrono::nanoseconds;
/// Time points are UTC wall time (quotas reset on calendar boundaries), in nanoseconds.
using TimePoint = std::chrono::sys_time<Duration>;

}  // namespace keypool
