// store::Redis's options (RedisOptions, RedisOnOutage) and their validation. Part of
// <keypool/store/redis.hpp>, which is what users include.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <keypool/error.hpp>
#include <keypool/time.hpp>

namespace keypool::store {

/// What an instance of store::Redis does while Redis cannot be reached.
enum class RedisOnOutage : std::uint8_t {
  /// Spend only the leases in hand; refuse the rest. The fleet never over-admits. (Default.)
  refuse,
  /// Also grant locally up to limit ÷ `expected_instances` per window (counting what was leased
  /// this window), and debit it in Redis when it returns. Keeps serving; the fleet may
  /// over-admit by what instances grant themselves during the outage (docs/scale-out.md).
  local_share,
};

/// store::Redis's options (also store::Redis::Options).
struct RedisOptions {
  std::string host = "127.0.0.1";  ///< Redis' address (TCP)
  int port = 6379;                 ///< Redis' port, 1..65535
  std::string unix_socket{};       ///< when set, used instead of host and port
  std::string user{};              ///< ACL user (Redis 6+); empty: AUTH with the password only
  std::string password{};          ///< empty: no AUTH
  int database = 0;                ///< SELECTed after connecting when not 0
  /// Namespace: every Redis key is "keypool:{pool}:…". Instances sharing quota use one name.
  std::string pool = "default";
  /// Bound on every Redis call (connect, and each round trip). A stuck Redis never blocks an
  /// acquire for longer.
  Duration timeout = std::chrono::milliseconds{50};
  /// How often the background thread looks at what is in hand. Zero: no background thread
  /// (leases are taken only by refused acquires, synchronously).
  Duration refill_interval = std::chrono::milliseconds{5};
  /// A lease aims to last this long at the instance's current rate.
  Duration lease_horizon = std::chrono::milliseconds{200};
  /// Lease size bounds, in the limit's units; 0: limit ÷ 1000 (at least 1) and limit ÷ 16.
  std::uint64_t min_lease = 0;
  std::uint64_t max_lease = 0;  ///< see min_lease
  /// One lease takes at most this fraction of what the fleet has left in the window (but at
  /// least `min_lease`), so near the end of a window no instance hoards the last units.
  double max_share = 0.125;
  /// After Redis had nothing left for a limit, ask again no sooner than this.
  Duration dry_recheck = std::chrono::milliseconds{250};
  /// Rolling limits: units in hand longer than this are given back (so an instance cannot burst
  /// past the fleet's rate with units leased long ago).
  Duration rolling_hold = std::chrono::seconds{1};
  /// How often operator actions of other instances (disable, enable, reset) are read.
  Duration control_interval = std::chrono::milliseconds{100};
  /// Between attempts to reconnect.
  Duration reconnect_interval = std::chrono::milliseconds{250};
  /// Redis keys outlive their window by this much.
  Duration grace = std::chrono::minutes{5};
  RedisOnOutage on_outage = RedisOnOutage::refuse;  ///< what to do while Redis cannot be reached
  /// For RedisOnOutage::local_share: how many instances share each limit.
  std::uint32_t expected_instances = 1;
};

}  // namespace keypool::store

namespace keypool::detail::redis {

/// Throws keypool::Error naming the first bad option of `o`.
inline void validate(const store::RedisOptions& o) {
  if (o.unix_socket.empty() && (o.host.empty() || o.port <= 0 || o.port > 65535))
    throw Error("store::Redis: needs a host and a port in 1..65535, or a unix_socket");
  if (o.pool.empty()) throw Error("store::Redis: the pool name (namespace) is empty");
  if (o.pool.find_first_of("{}") != std::string::npos)
    throw Error("store::Redis: the pool name may not contain '{' or '}' (it is the keys' hash tag)");
  if (o.timeout <= Duration::zero()) throw Error("store::Redis: timeout must be positive");
  if (o.refill_interval < Duration::zero()) throw Error("store::Redis: refill_interval must not be negative");
  if (o.lease_horizon <= Duration::zero()) throw Error("store::Redis: lease_horizon must be positive");
  if (o.reconnect_interval <= Duration::zero() || o.control_interval <= Duration::zero())
    throw Error("store::Redis: reconnect_interval and control_interval must be positive");
  if (o.rolling_hold <= Duration::zero()) throw Error("store::Redis: rolling_hold must be positive");
  if (o.dry_recheck < Duration::zero() || o.grace < Duration::zero())
    throw Error("store::Redis: dry_recheck and grace must not be negative");
  if (!(o.max_share > 0.0 && o.max_share <= 1.0)) throw Error("store::Redis: max_share must be in (0, 1]");
  if (o.max_lease != 0 && o.min_lease > o.max_lease) throw Error("store::Redis: min_lease is above max_lease");
  if (o.on_outage == store::RedisOnOutage::local_share && o.expected_instances == 0)
    throw Error("store::Redis: OnOutage::local_share needs expected_instances of at least 1");
  if (o.database < 0) throw Error("store::Redis: database must not be negative");
}

}  // namespace keypool::detail::redis
