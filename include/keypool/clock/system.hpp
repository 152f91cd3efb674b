// keypool::clock::System: the wall clock, std::chrono::system_clock (a vDSO call, ~20 ns).
#pragma once

#include <chrono>

#include <keypool/time.hpp>

namespace keypool::clock {

/// The precise wall clock. Thread-safe. Steps with the system's time (NTP, an operator): keypool
/// never resets usage early when it steps backwards.
struct System {
  [[nodiscard]] TimePoint now() const noexcept {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

}  // namespace keypool::clock
