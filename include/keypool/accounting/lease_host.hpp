// keypool::accounting::LeaseHost: what a pool offers a store whose quota is leased from a shared
// backend (accounting::Leased, e.g. store::Redis): its clock, and what the store reports back.
#pragma once

#include <cstddef>
#include <cstdint>

#include <keypool/time.hpp>

namespace keypool::accounting {

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
  /// Another instance disabled (true) or enabled (false) key `key`: follow it without publishing
  /// it again (an enable also ends a cooldown, as `enable` does).
  virtual void lease_disabled(std::size_t key, bool disabled) noexcept = 0;
  /// Another instance saw the provider cool key `key` down until `until_ns` (ns since the epoch):
  /// rest it here too, unless it is disabled.
  virtual void lease_cooldown(std::size_t key, std::uint64_t until_ns) noexcept = 0;

 protected:
  LeaseHost() = default;
  LeaseHost(const LeaseHost&) = default;
  LeaseHost& operator=(const LeaseHost&) = default;
  ~LeaseHost() = default;
};

}  // namespace keypool::accounting
