// keypool::Reason: why no key could serve a request (a refusal's reason, and the horizon of an
// exhaustion event: a spent quota or a short rest).
#pragma once

#include <cstdint>
#include <string_view>

namespace keypool {

/// Why no key could serve.
enum class Reason : std::uint8_t {
  exhausted,     // a calendar quota is spent until its window resets
  rate_limited,  // a rolling rate is spent for now
  cooling_down,  // the provider rate-limited the key (or its circuit is open)
  disabled,      // the key is disabled until `enable`
  too_large,     // the request costs more than any key could ever admit (at its priority)
  no_keys,       // the pool has no keys (or none that serves the request's model)
  invalid,       // the request is malformed (a Priority outside the enum): fix the caller
};

[[nodiscard]] constexpr std::string_view to_string(Reason reason) noexcept {
  switch (reason) {
    case Reason::exhausted: return "exhausted";
    case Reason::rate_limited: return "rate_limited";
    case Reason::cooling_down: return "cooling_down";
    case Reason::disabled: return "disabled";
    case Reason::too_large: return "too_large";
    case Reason::no_keys: return "no_keys";
    case Reason::invalid: return "invalid";
  }
  return "unknown";
}

}  // namespace keypool
