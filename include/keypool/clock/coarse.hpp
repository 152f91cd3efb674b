// keypool::clock::Coarse: the wall clock at the kernel tick's resolution (CLOCK_REALTIME_COARSE,
// a few ns through the vDSO, 1–4 ms resolution). The default: quotas need no finer time.
#pragma once

#include <chrono>
#include <ctime>

#include <keypool/time.hpp>

namespace keypool::clock {

/// The cheap wall clock. Thread-safe. Resolution is the kernel tick (typically 1–4 ms), which is
/// far finer than any quota window; use clock::System for sub-millisecond rolling rates.
struct Coarse {
  [[nodiscard]] TimePoint now() const noexcept {
#if defined(CLOCK_REALTIME_COARSE)
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return TimePoint{Duration{static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec}};
#else
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
#endif
  }
};

}  // namespace keypool::clock
