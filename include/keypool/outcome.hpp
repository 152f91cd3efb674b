// keypool::Outcome: what the provider's answer to a call means for the key that made it.
#pragma once

#include <cstdint>
#include <string_view>

#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// The meaning of a provider's answer, given to `Lease::fail` (or built by `classify`).
class Outcome {
 public:
  enum class Kind : std::uint8_t { success, rate_limited, quota_exhausted, auth_failed, transient, bad_request };

  /// The call succeeded.
  [[nodiscard]] static constexpr Outcome success() noexcept { return Outcome{Kind::success}; }
  /// The key is rate limited: cool it down for `retry_after` (zero: a default cooldown).
  [[nodiscard]] static constexpr Outcome rate_limited(Duration retry_after = Duration::zero()) noexcept {
    Outcome o{Kind::rate_limited};
    o.retry_after_ = retry_after;
    return o;
  }
  /// A quota of `metric` is spent: its limits on the key read as full until their window resets,
  /// or until `until` when that is later (a zero `until` means: the window's reset).
  [[nodiscard]] static constexpr Outcome quota_exhausted(Metric metric, TimePoint until = TimePoint{}) noexcept {
    Outcome o{Kind::quota_exhausted};
    o.metric_ = metric;
    o.until_ = until;
    return o;
  }
  /// The credential was refused: the key is disabled until `enable`.
  [[nodiscard]] static constexpr Outcome auth_failed() noexcept { return Outcome{Kind::auth_failed}; }
  /// A server error or timeout: repeated ones open the key's circuit.
  [[nodiscard]] static constexpr Outcome transient() noexcept { return Outcome{Kind::transient}; }
  /// The request itself was wrong: the key is not blamed.
  [[nodiscard]] static constexpr Outcome bad_request() noexcept { return Outcome{Kind::bad_request}; }

  [[nodiscard]] constexpr Kind kind() const noexcept { return kind_; }
  [[nodiscard]] constexpr Duration retry_after() const noexcept { return retry_after_; }
  [[nodiscard]] constexpr Metric metric() const noexcept { return metric_; }
  [[nodiscard]] constexpr TimePoint until() const noexcept { return until_; }

  friend constexpr bool operator==(const Outcome&, const Outcome&) = default;

 private:
  constexpr explicit Outcome(Kind kind) noexcept : kind_(kind) {}

  Kind kind_;
  Metric metric_ = Metric::requests;
  Duration retry_after_{0};
  TimePoint until_{};
};

[[nodiscard]] constexpr std::string_view to_string(Outcome::Kind kind) noexcept {
  switch (kind) {
    case Outcome::Kind::success: return "success";
    case Outcome::Kind::rate_limited: return "rate_limited";
    case Outcome::Kind::quota_exhausted: return "quota_exhausted";
    case Outcome::Kind::auth_failed: return "auth_failed";
    case Outcome::Kind::transient: return "transient";
    case Outcome::Kind::bad_request: return "bad_request";
  }
  return "unknown";
}

}  // namespace keypool
