// The contract classify keeps for any answer, checked by the mutational test
// (tests/fuzz/classify_fuzz_test.cpp) and the libFuzzer target (fuzz/classify.cpp).
#pragma once

#include <initializer_list>

#include <keypool/classify.hpp>

namespace classify_contract {

/// Why `o`, what classify made of an answer with HTTP `status` at `now`, breaks classify's
/// contract, or nullptr when it keeps it: the kind fits the status class, waits are not negative
/// nor past a year, `until` only on quota_exhausted (billing, a window, or a time within a year),
/// at most max_reports reports, none resetting in the past, only of requests or tokens.
[[nodiscard]] inline const char* classify_violation(int status, const keypool::Outcome& o, keypool::TimePoint now) {
  namespace kp = keypool;
  using Kind = kp::Outcome::Kind;
  const Kind kind = o.kind();
  const auto in = [kind](std::initializer_list<Kind> allowed) {
    for (const Kind k : allowed)
      if (k == kind) return true;
    return false;
  };
  if (o.status() != status) return "the status is not recorded";
  bool fits = true;
  if (status < 200 || status > 599) fits = kind == Kind::transient;
  else if (status < 300) fits = kind == Kind::success;
  else if (status < 400 || status == 404 || status == 413) fits = kind == Kind::bad_request;
  else if (status == 402) fits = kind == Kind::quota_exhausted && o.metric() == kp::Metric::spend && o.until() == kp::TimePoint::max();
  else if (status == 408) fits = kind == Kind::transient;
  else if (status == 429) fits = in({Kind::rate_limited, Kind::quota_exhausted});
  else if (status == 401 || status == 403) fits = in({Kind::auth_failed, Kind::quota_exhausted, Kind::rate_limited});
  else if (status >= 500) fits = in({Kind::transient, Kind::quota_exhausted, Kind::rate_limited});
  else fits = in({Kind::bad_request, Kind::auth_failed, Kind::quota_exhausted, Kind::rate_limited});
  if (!fits) return "the kind does not fit the status class";
  if (o.retry_after() < kp::Duration::zero()) return "negative retry_after";
  if (o.retry_after() > kp::detail::http::max_wait) return "retry_after longer than a year";
  if (kind != Kind::rate_limited && o.retry_after() != kp::Duration::zero()) return "retry_after on another kind";
  if (kind == Kind::quota_exhausted) {
    const kp::TimePoint until = o.until();
    const bool billing = until == kp::TimePoint::max() && o.metric() == kp::Metric::spend;
    const bool window = until == kp::TimePoint{};
    const bool later = until == kp::TimePoint::max() || (until >= now && until - now <= kp::detail::http::max_wait);
    if (!billing && !window && !later) return "quota_exhausted until a time before now or past a year";
  } else if (o.until() != kp::TimePoint{}) {
    return "until on another kind";
  }
  if (o.remaining().size() > kp::Outcome::max_reports) return "too many reports";
  for (const auto& report : o.remaining()) {
    if (report.resets_at != kp::TimePoint{} && report.resets_at < now) return "a report resets in the past";
    if (report.metric != kp::Metric::requests && report.metric != kp::Metric::tokens) return "a report of an unexpected metric";
  }
  return nullptr;
}

}  // namespace classify_contract
