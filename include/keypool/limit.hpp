// keypool::Limit: one quota on a key, built fluently — a calendar window aligned to a reset zone,
// a rolling rate (GCRA), or a per-request cap — with optional per-priority headroom.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include <keypool/detail/calendar.hpp>
#include <keypool/detail/packed_window.hpp>
#include <keypool/error.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>
#include <keypool/zone.hpp>

namespace keypool {

/// One quota. Start with the metric and amount, then say over what:
///
///     Limit::requests(15).per_minute();
///     Limit::requests(1'500).per_day().reset_zone(Zone::posix("PST8PDT,M3.2.0,M11.1.0"));
///     Limit::tokens(32'000).per_request();
///     Limit::requests(30).per(std::chrono::seconds{60});         // rolling, not calendar-aligned
///     Limit::tokens(14'400).per_day().headroom(Priority::batch, 0.80);
///
/// Bad values throw keypool::Error where they are written: a zero amount, a zero or negative
/// period, an amount too large for its window's counter, a second period, headroom outside (0, 1].
/// A limit is a plain value; building one allocates only for its zone's name.
class Limit {
 public:
  enum class Kind : std::uint8_t { unset, window, rolling, per_request };

  [[nodiscard]] static Limit requests(std::uint64_t amount) { return Limit{Metric::requests, amount}; }
  [[nodiscard]] static Limit tokens(std::uint64_t amount) { return Limit{Metric::tokens, amount}; }
  [[nodiscard]] static Limit characters(std::uint64_t amount) { return Limit{Metric::characters, amount}; }
  [[nodiscard]] static Limit units(std::uint64_t amount) { return Limit{Metric::units, amount}; }
  /// `amount` in micro-units of money.
  [[nodiscard]] static Limit spend(std::uint64_t amount) { return Limit{Metric::spend, amount}; }
  [[nodiscard]] static Limit of(Metric metric, std::uint64_t amount) { return Limit{metric, amount}; }

  /// Calendar windows: usage resets at each boundary of the unit in the limit's reset zone (UTC
  /// unless `reset_zone` says otherwise).
  [[nodiscard]] Limit per_second() const { return with_window(detail::WindowUnit::second); }
  [[nodiscard]] Limit per_minute() const { return with_window(detail::WindowUnit::minute); }
  [[nodiscard]] Limit per_hour() const { return with_window(detail::WindowUnit::hour); }
  [[nodiscard]] Limit per_day() const { return with_window(detail::WindowUnit::day); }
  [[nodiscard]] Limit per_month() const { return with_window(detail::WindowUnit::month); }

  /// A rolling rate: `amount` per `period` sustained, with bursts of up to `amount` (GCRA, the
  /// way providers replenish token buckets). Not calendar-aligned and not a sliding-window count.
  [[nodiscard]] Limit per(Duration period) const {
    Limit copy = *this;
    copy.require_no_period("per(duration)");
    if (period <= Duration::zero())
      throw Error("limit '" + describe() + "': per(duration) needs a positive period, e.g. per(std::chrono::seconds{60})");
    if (period > std::chrono::hours{24 * 400})
      throw Error("limit '" + describe() + "': a rolling period longer than 400 days is not supported; use per_month()");
    if (amount_ > static_cast<std::uint64_t>(period.count()))
      throw Error("limit '" + describe() + "': more than one unit per nanosecond is not supported; use a longer period");
    copy.kind_ = Kind::rolling;
    copy.period_ = period;
    return copy;
  }
  template <class Rep, class Period>
  [[nodiscard]] Limit per(std::chrono::duration<Rep, Period> period) const {
    return per(detail::saturating_ns(period));  // past 292 years: "longer than 400 days", not a wrapped period
  }

  /// A cap on what one request may cost: no state, a comparison on the hot path.
  [[nodiscard]] Limit per_request() const {
    Limit copy = *this;
    copy.require_no_period("per_request()");
    for (const double fraction : headroom_)
      if (fraction < 1.0)
        throw Error("limit '" + describe() + "': headroom does not apply to a per-request cap");
    copy.kind_ = Kind::per_request;
    return copy;
  }

  /// The zone whose calendar the window follows (a day starts at local midnight). Calendar
  /// windows only.
  [[nodiscard]] Limit reset_zone(Zone zone) const {
    if (kind_ != Kind::window)
      throw Error("limit '" + describe() + "': reset_zone applies to calendar windows; call per_day() (or another per_…) first");
    Limit copy = *this;
    copy.zone_ = std::move(zone);
    return copy;
  }

  /// Requests of `priority` stop when usage would pass `fraction` of the amount (critical
  /// defaults to 1.0, the others too unless set). `fraction` must be in (0, 1].
  [[nodiscard]] Limit headroom(Priority priority, double fraction) const {
    if (static_cast<std::size_t>(priority) >= priority_count)
      throw Error("limit '" + describe() + "': headroom for Priority " + std::to_string(static_cast<unsigned>(priority)) +
                  ", which is not a Priority (batch, normal, critical)");
    if (!(fraction > 0.0 && fraction <= 1.0))
      throw Error("limit '" + describe() + "': headroom must be a fraction in (0, 1], e.g. headroom(Priority::batch, 0.80)");
    if (kind_ == Kind::per_request)
      throw Error("limit '" + describe() + "': headroom does not apply to a per-request cap");
    Limit copy = *this;
    copy.headroom_[static_cast<std::size_t>(priority)] = fraction;
    return copy;
  }

  /// The same limit with another amount (kind, period, zone and headroom kept), checked as the
  /// builders check it: throws keypool::Error for 0, an amount that overflows a calendar window's
  /// counter, or a rolling limit of more than one unit per nanosecond. What adopting a provider's
  /// reported limit uses (KeyOptions::adopt_reported_limits).
  [[nodiscard]] Limit with_amount(std::uint64_t amount) const {
    Limit copy{metric_, amount};
    copy.kind_ = kind_;
    copy.unit_ = unit_;
    copy.period_ = period_;
    copy.zone_ = zone_;
    copy.headroom_ = headroom_;
    if (kind_ == Kind::window && amount > detail::max_window_amount(unit_))
      throw Error("limit '" + copy.describe() + "': the amount overflows the window counter (at most " +
                  std::to_string(detail::max_window_amount(unit_)) + " per " + std::string{copy.window_name()} + ")");
    if (kind_ == Kind::rolling && amount > static_cast<std::uint64_t>(period_.count()))
      throw Error("limit '" + copy.describe() + "': more than one unit per nanosecond is not supported; use a longer period");
    return copy;
  }

  [[nodiscard]] Metric metric() const noexcept { return metric_; }
  [[nodiscard]] std::uint64_t amount() const noexcept { return amount_; }
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] detail::WindowUnit unit() const noexcept { return unit_; }
  [[nodiscard]] Duration period() const noexcept { return period_; }
  [[nodiscard]] const Zone& zone() const noexcept { return zone_; }
  /// The headroom of `priority` (1.0 for a value outside the enum).
  [[nodiscard]] double headroom(Priority priority) const noexcept {
    const auto level = static_cast<std::size_t>(priority);
    return level < priority_count ? headroom_[level] : 1.0;
  }
  /// The most a request of `priority` may bring usage to: floor(amount × headroom).
  [[nodiscard]] std::uint64_t cap(Priority priority) const noexcept {
    const double fraction = headroom(priority);
    if (fraction >= 1.0) return amount_;
    return detail::scale_floor(amount_, fraction);
  }

  /// "requests 15 per minute", "tokens 14400 per day (PST8PDT,M3.2.0,M11.1.0)", "requests 30 per 60s rolling".
  [[nodiscard]] std::string describe() const {
    std::string text{to_string(metric_)};
    text += ' ';
    text += std::to_string(amount_);
    switch (kind_) {
      case Kind::unset: text += " (no period yet)"; break;
      case Kind::per_request: text += " per request"; break;
      case Kind::rolling:
        text += " per " + std::to_string(std::chrono::duration<double>(period_).count()) + "s rolling";
        break;
      case Kind::window:
        text += " per ";
        text += window_name();
        if (zone_.name() != "UTC") {
          text += " (";
          text += zone_.name();
          text += ')';
        }
        break;
    }
    return text;
  }

  /// "second", "minute", "hour", "day", "month", "rolling", "request" or "unset".
  [[nodiscard]] std::string_view window_name() const noexcept {
    switch (kind_) {
      case Kind::unset: return "unset";
      case Kind::per_request: return "request";
      case Kind::rolling: return "rolling";
      case Kind::window: break;
    }
    switch (unit_) {
      case detail::WindowUnit::second: return "second";
      case detail::WindowUnit::minute: return "minute";
      case detail::WindowUnit::hour: return "hour";
      case detail::WindowUnit::day: return "day";
      case detail::WindowUnit::month: return "month";
    }
    return "unknown";
  }

  friend bool operator==(const Limit& a, const Limit& b) noexcept {
    return a.metric_ == b.metric_ && a.amount_ == b.amount_ && a.kind_ == b.kind_ &&
           a.unit_ == b.unit_ && a.period_ == b.period_ && a.zone_ == b.zone_ &&
           a.headroom_ == b.headroom_;
  }

 private:
  Limit(Metric metric, std::uint64_t amount) : metric_(metric), amount_(amount) {
    if (static_cast<std::size_t>(metric) >= metric_count)
      throw Error("Limit::of: metric " + std::to_string(static_cast<unsigned>(metric)) +
                  " is not a Metric (requests, tokens, characters, units, spend)");
    if (amount == 0)
      throw Error(std::string{"a limit of 0 "} + std::string{to_string(metric)} +
                  " admits nothing; use pool.disable(key) to stop a key, or give a positive amount");
  }

  void require_no_period(const char* what) const {
    if (kind_ != Kind::unset)
      throw Error("limit '" + describe() + "': " + what + " given after a period was already set; a limit has one period");
  }

  [[nodiscard]] Limit with_window(detail::WindowUnit unit) const {
    Limit copy = *this;
    copy.require_no_period("per_…()");
    copy.kind_ = Kind::window;
    copy.unit_ = unit;
    if (amount_ > detail::max_window_amount(unit))
      throw Error("limit '" + copy.describe() + "': the amount overflows the window counter (at most " +
                  std::to_string(detail::max_window_amount(unit)) + " per " + std::string{copy.window_name()} +
                  "); use a longer window or a coarser metric");
    return copy;
  }

  Metric metric_;
  std::uint64_t amount_;
  Kind kind_ = Kind::unset;
  detail::WindowUnit unit_ = detail::WindowUnit::day;
  Duration period_{0};
  Zone zone_ = Zone::utc();
  std::array<double, priority_count> headroom_{1.0, 1.0, 1.0};
};

}  // namespace keypool
