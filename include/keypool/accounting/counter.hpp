// What the counting algorithms of keypool::accounting have in common: the instant they count at,
// what a reservation and a change of usage report back, a limit's usage, and a refusal's verdict.
#pragma once

#include <chrono>
#include <cstdint>

#include <keypool/detail/calendar.hpp>
#include <keypool/lease.hpp>
#include <keypool/limit.hpp>
#include <keypool/time.hpp>

namespace keypool::accounting {

/// The time of one operation in the three forms the counters need, computed once (an acquire
/// reads the clock once and reserves on every limit at the same instant).
struct Instant {
  TimePoint at;
  std::uint64_t ns;  ///< nanoseconds since the epoch (0 before it): the unit of time words
  std::int64_t sec;  ///< whole seconds since the epoch: the unit of calendar math

  explicit Instant(TimePoint t) noexcept : at(t), ns(detail::to_ns(t)), sec(detail::to_seconds(t)) {}
};

/// The answer of a reserve.
enum class Admission : std::uint8_t {
  granted,    ///< reserved; `Reserved` says where
  over_cap,   ///< the limit has no room for the amount now (`Reserved` says the window and its usage)
  too_large,  ///< the amount exceeds what the limit could ever admit at this priority
};

/// Where a reservation landed: the calendar window it was counted in, or for a rolling limit the
/// theoretical arrival time it ended at (what a refund may still give back); and the usage before
/// it (calendar: for threshold crossings).
struct Reserved {
  std::uint64_t epoch = 0;
  std::uint64_t before = 0;
};

/// A change of a calendar window's usage from `before` to `after` in window `epoch`; `changed`
/// is false when nothing was written.
struct Change {
  bool changed = false;
  std::uint64_t epoch = 0;
  std::uint64_t before = 0;
  std::uint64_t after = 0;
};

/// A limit's usage as a snapshot shows it.
struct Usage {
  std::uint64_t used = 0;
  TimePoint resets_at{};
};

/// Why a key cannot serve a request, and for how long. A counter that could admit answers a zero
/// wait (its reason is then meaningless).
struct Verdict {
  Reason reason = Reason::rate_limited;
  Duration wait = Duration::zero();
};

/// The calendar window a window limit is in at `now_sec`: its index (the epoch of the counter
/// word) and its end in UTC seconds.
struct WindowNow {
  std::uint64_t epoch;
  std::int64_t end;
};

[[nodiscard]] inline WindowNow current_window_of(const Limit& limit, std::int64_t now_sec) noexcept {
  const auto unit = limit.unit();
  const auto& zone = limit.zone();
  const std::int64_t index = detail::window_index(unit, zone, std::chrono::sys_seconds{std::chrono::seconds{now_sec}});
  const std::int64_t end = detail::window_start(unit, zone, index + 1).time_since_epoch().count();
  return {static_cast<std::uint64_t>(index < 0 ? 0 : index), end};
}

/// The end, in UTC seconds, of window `epoch` of a calendar limit.
[[nodiscard]] inline std::int64_t window_end_of(const Limit& limit, std::uint64_t epoch) noexcept {
  return detail::window_start(limit.unit(), limit.zone(), static_cast<std::int64_t>(epoch) + 1).time_since_epoch().count();
}

/// The start, in UTC seconds, of window `epoch` of a calendar limit.
[[nodiscard]] inline std::int64_t window_start_of(const Limit& limit, std::uint64_t epoch) noexcept {
  return detail::window_start(limit.unit(), limit.zone(), static_cast<std::int64_t>(epoch)).time_since_epoch().count();
}

/// The larger of two waits (a key serves only once every limit can).
inline void consider(Verdict& verdict, Reason reason, Duration wait) noexcept {
  if (wait > verdict.wait || (wait == verdict.wait && wait == Duration::max())) verdict = {reason, wait};
}

/// Whether a key whose verdict so far is `partial` could still be a better refusal than `rival`
/// (a shorter wait; at an equal wait, only over "too large"). Waits only grow as limits are
/// considered, so once it cannot, the rest of its verdict does not matter.
[[nodiscard]] inline bool can_beat(const Verdict& partial, const Verdict& rival) noexcept {
  return partial.wait < rival.wait || (partial.wait == rival.wait && rival.reason == Reason::too_large);
}

}  // namespace keypool::accounting
