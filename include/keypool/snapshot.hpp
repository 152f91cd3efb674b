// keypool::Snapshot: what the pool looks like at one moment — per limit, per key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/options.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// A key's state as a person would name it.
enum class KeyStatus : std::uint8_t {
  available,     // every limit under the first warning level
  warning,       // some limit at 80% or more
  critical,      // some limit at 95% or more
  exhausted,     // some calendar limit full: no request can pass until it resets
  cooling_down,  // rate-limited by the provider, or circuit open
  disabled,      // disabled until enable()
};

[[nodiscard]] constexpr std::string_view to_string(KeyStatus status) noexcept {
  switch (status) {
    case KeyStatus::available: return "available";
    case KeyStatus::warning: return "warning";
    case KeyStatus::critical: return "critical";
    case KeyStatus::exhausted: return "exhausted";
    case KeyStatus::cooling_down: return "cooling_down";
    case KeyStatus::disabled: return "disabled";
  }
  return "unknown";
}

/// One limit of one key.
struct LimitUsage {
  Metric metric = Metric::requests;
  std::string window;          // "minute", "day", "rolling", "request", …
  std::string description;     // "tokens 14400 per day"
  std::uint64_t used = 0;      // in the current window (rolling: the amount not yet replenished)
  std::uint64_t limit = 0;
  std::uint64_t remaining = 0;
  double fraction = 0.0;       // used / limit
  TimePoint resets_at{};       // end of the current window (rolling: when fully replenished)
};

/// One key.
struct KeySnapshot {
  KeyId id{};
  ProviderId provider{};
  std::string provider_name;
  std::string label;
  std::uint32_t tier = 0;
  KeyStatus status = KeyStatus::available;
  TimePoint blocked_until{};   // cooldown end (TimePoint::max() when disabled)
  std::uint64_t consecutive_failures = 0;
  std::vector<LimitUsage> limits;
};

/// The pool at one moment. Each key's figures are read atomically word by word, but the snapshot
/// is not atomic across keys or limits: under traffic, two figures may be microseconds apart.
struct Snapshot {
  TimePoint at{};
  std::vector<KeySnapshot> keys;
};

}  // namespace keypool
