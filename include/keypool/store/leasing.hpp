// keypool::detail::LeaseHost: what a pool offers a storage policy that leases quota from a shared
// backend (store::Redis) instead of owning the counts, and the calendar helpers both sides use.
//
// A leasing store keeps each calendar limit's local counter word in the pool's format, but with a
// different meaning: `used` is the limit minus what this instance holds in hand. A fresh window
// therefore starts full ("nothing leased yet"), a lease of g units lowers `used` by g, and the
// pool's hot path, unchanged, admits exactly what was leased. Spending more than the estimate
// (commit above it) pushes `used` past the limit: a debt the store reports to the backend.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <keypool/detail/calendar.hpp>
#include <keypool/limit.hpp>
#include <keypool/time.hpp>

namespace keypool::detail {

/// The calendar window a window limit is in at `now_sec`: its index (the epoch of the counter
/// word) and its end in UTC seconds.
struct WindowNow {
  std::uint64_t epoch;
  std::int64_t end;
};
[[nodiscard]] inline WindowNow current_window_of(const Limit& limit, std::int64_t now_sec) noexcept {
  const auto unit = limit.unit();
  const auto& zone = limit.zone();
  const std::int64_t index = window_index(unit, zone, std::chrono::sys_seconds{std::chrono::seconds{now_sec}});
  const std::int64_t end = window_start(unit, zone, index + 1).time_since_epoch().count();
  return {static_cast<std::uint64_t>(index < 0 ? 0 : index), end};
}
[[nodiscard]] inline std::int64_t window_end_of(const Limit& limit, std::uint64_t epoch) noexcept {
  return window_start(limit.unit(), limit.zone(), static_cast<std::int64_t>(epoch) + 1).time_since_epoch().count();
}

/// Implemented by the pool, called by a leasing store from its own thread (or from a refused
/// acquire). Every member is thread-safe and noexcept.
class LeaseHost {
 public:
  /// The pool's clock.
  [[nodiscard]] virtual TimePoint lease_now() const noexcept = 0;
  /// The fleet's usage of key `key`'s limit `limit` in window `epoch` went from `before` to
  /// `after` (as debited in the backend): report the threshold levels crossed, once per fleet.
  virtual void lease_fleet_usage(std::size_t key, std::size_t limit, std::uint64_t epoch, std::uint64_t before,
                                 std::uint64_t after, TimePoint now) noexcept = 0;
  /// The backend became unreachable; the store tries again from `retry_at`. Called once per outage.
  virtual void lease_backend_unavailable(TimePoint now, TimePoint retry_at) noexcept = 0;
  /// Another instance reset key `key` (limits whose bit is set in `limits`): forget the local
  /// usage and anything leased, as `reset` would, without publishing it again.
  virtual void lease_reset(std::size_t key, std::uint32_t limits) noexcept = 0;

 protected:
  LeaseHost() = default;
  LeaseHost(const LeaseHost&) = default;
  LeaseHost& operator=(const LeaseHost&) = default;
  ~LeaseHost() = default;
};

/// A storage policy that leases quota (declares `static constexpr bool leases_quota = true`).
template <class S>
concept LeasingStore = requires { S::leases_quota; } && S::leases_quota;

}  // namespace keypool::detail
