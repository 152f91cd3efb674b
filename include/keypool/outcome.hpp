// keypool::Outcome: what the provider's answer to a call means for the key that made it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// The calendar window a provider's figure counts in: what classify reads from a provider's
/// dialect (Groq's `x-ratelimit-*-requests` count a day, its `-tokens` a minute), `unknown` when the
/// answer alone cannot tell (OpenAI and Groq send the same header names for different windows).
enum class Window : std::uint8_t { unknown, second, minute, hour, day, month };

[[nodiscard]] constexpr std::string_view to_string(Window window) noexcept {
  switch (window) {
    case Window::unknown: return "unknown";
    case Window::second: return "second";
    case Window::minute: return "minute";
    case Window::hour: return "hour";
    case Window::day: return "day";
    case Window::month: return "month";
  }
  return "unknown";
}

/// What a provider said is left on one of its limits for a key (from headers such as
/// `x-ratelimit-remaining-tokens`). The pool uses it to tighten its own count of the limit the
/// report describes, when the provider reports less left than the pool thinks (the key may be
/// shared with someone else); it never loosens a count, and never drains a longer window from a
/// report about a shorter one (see detail::report_target).
struct ProviderRemaining {
  Metric metric = Metric::requests;
  std::uint64_t remaining = 0;
  std::uint64_t limit = 0;     ///< the provider's limit, 0 when not reported
  TimePoint resets_at{};       ///< when the provider's window resets, {} when not reported
  Window window = Window::unknown;  ///< the window the figure counts in, when the provider's dialect says
  friend constexpr bool operator==(const ProviderRemaining&, const ProviderRemaining&) = default;
};

/// The meaning of a provider's answer, given to `Lease::fail` or `Lease::commit` (or built by
/// `classify`). Besides its kind it may carry the HTTP status it came from and up to four
/// `ProviderRemaining` reports.
class Outcome {
 public:
  static constexpr std::size_t max_reports = 4;

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
  /// The HTTP status the outcome was read from (0: not from an HTTP answer).
  [[nodiscard]] constexpr int status() const noexcept { return status_; }
  /// What the provider reported left on its limits (empty when it said nothing).
  [[nodiscard]] constexpr std::span<const ProviderRemaining> remaining() const noexcept {
    return {reports_.data(), report_count_};
  }

  /// A copy with the HTTP status recorded.
  [[nodiscard]] constexpr Outcome with_status(int status) const noexcept {
    Outcome o = *this;
    o.status_ = status;
    return o;
  }
  /// A copy with one more remaining-count report (a fifth and later ones are ignored; a report
  /// of a metric already reported with the same reset replaces it).
  [[nodiscard]] constexpr Outcome with_remaining(const ProviderRemaining& report) const noexcept {
    Outcome o = *this;
    for (std::size_t i = 0; i < o.report_count_; ++i) {
      if (o.reports_[i].metric == report.metric && o.reports_[i].resets_at == report.resets_at &&
          o.reports_[i].window == report.window) {
        o.reports_[i] = report;
        return o;
      }
    }
    if (o.report_count_ < max_reports) o.reports_[o.report_count_++] = report;
    return o;
  }

  friend constexpr bool operator==(const Outcome&, const Outcome&) = default;

 private:
  constexpr explicit Outcome(Kind kind) noexcept : kind_(kind) {}

  Kind kind_;
  Metric metric_ = Metric::requests;
  Duration retry_after_{0};
  TimePoint until_{};
  int status_ = 0;
  std::uint8_t report_count_ = 0;
  std::array<ProviderRemaining, max_reports> reports_{};
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
