// store::Redis's Lua scripts, the names of its keys in Redis, and the arguments and replies of
// each script. Pure text: no connection (that is redis/connection.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/key_slot.hpp>
#include <keypool/time.hpp>

namespace keypool::detail::redis {

// --- The scripts -------------------------------------------------------------------------------

// Debit first, then spend: the fleet's count only ever includes what was handed out.
//   KEYS[1] the window's counter; ARGV: limit, want, minimum, share (‰), change, ttl (ms), fill
//   change > 0 gives units back, change < 0 debits units spent beyond leases; fill '1' raises
//   the count to the limit (the provider said the window is spent).
//   Returns {granted, count after, count before the grant}.
inline constexpr const char* lease_script = R"LUA(
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local minimum = tonumber(ARGV[3])
local share = tonumber(ARGV[4])
used = used - tonumber(ARGV[5])
if used < 0 then used = 0 end
if ARGV[7] == '1' and used < limit then used = limit end
local left = limit - used
if left < 0 then left = 0 end
local grant = math.min(want, math.max(math.ceil(left * share / 1000), minimum), left)
local before = used
used = used + grant
redis.call('SET', KEYS[1], string.format('%d', used), 'PX', ARGV[6])
return {grant, used, before}
)LUA";

// The fleet's GCRA for a rolling limit, in microseconds: a lease advances the theoretical arrival
// time (TAT) by the units granted; a give-back pulls it back, never behind now.
//   KEYS[1] the TAT; ARGV: now (us), interval (us), burst (us), want, minimum, share (per mille),
//   change (as in lease_script), ttl (ms).  Returns {granted, units unreplenished after, before, TAT}.
inline constexpr const char* rolling_script = R"LUA(
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = tat - tonumber(ARGV[7]) * interval
if tat < now then tat = now end
local before = math.ceil((tat - now) / interval)
local room = math.floor((now + burst - tat) / interval)
if room < 0 then room = 0 end
local grant = math.min(tonumber(ARGV[4]), math.max(math.ceil(room * tonumber(ARGV[6]) / 1000), tonumber(ARGV[5])), room)
tat = math.ceil(tat + grant * interval)
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', ARGV[8])
return {grant, math.ceil((tat - now) / interval), before, tat}
)LUA";

// Operator actions on a key: KEYS[1] the key's control hash; ARGV[1] the action
//   'disable' / 'enable': set the flag, bump 'dver';  'reset': bump 'gen<i>' for each limit
//   index in ARGV[2..], delete KEYS[2..];  'cool': raise 'cool' (ms since the epoch) to ARGV[2];
//   'read': nothing.  Returns {disabled, dver, cool, gen0, …, gen7}.
inline constexpr const char* control_script = R"LUA(
local action = ARGV[1]
if action == 'disable' then
  redis.call('HSET', KEYS[1], 'disabled', 1)
  redis.call('HINCRBY', KEYS[1], 'dver', 1)
elseif action == 'enable' then
  redis.call('HSET', KEYS[1], 'disabled', 0)
  redis.call('HINCRBY', KEYS[1], 'dver', 1)
  redis.call('HDEL', KEYS[1], 'cool')
elseif action == 'cool' then
  local until_ms = tonumber(ARGV[2])
  if until_ms > tonumber(redis.call('HGET', KEYS[1], 'cool') or '0') then
    redis.call('HSET', KEYS[1], 'cool', ARGV[2])
  end
elseif action == 'reset' then
  for i = 2, #ARGV do redis.call('HINCRBY', KEYS[1], 'gen' .. ARGV[i], 1) end
  redis.call('HDEL', KEYS[1], 'cool')
  for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
end
local v = redis.call('HMGET', KEYS[1], 'disabled', 'dver', 'cool', 'gen0', 'gen1', 'gen2', 'gen3', 'gen4', 'gen5', 'gen6', 'gen7')
local out = {}
for i = 1, 11 do out[i] = tonumber(v[i] or '0') end
return out
)LUA";

/// The three scripts, as loaded once per connection (their SHA1s are what commands name).
enum class Script : std::uint8_t { lease, rolling, control };
inline constexpr std::array<Script, 3> scripts{Script::lease, Script::rolling, Script::control};
[[nodiscard]] constexpr const char* source_of(Script s) noexcept {
  switch (s) {
    case Script::lease: return lease_script;
    case Script::rolling: return rolling_script;
    default: return control_script;
  }
}

// --- What the scripts answer -------------------------------------------------------------------

/// One script's reply, copied out of the connection: an array of integers.
struct ScriptReply {
  // Positions in a lease or rolling script's reply.
  static constexpr std::size_t granted = 0, count_after = 1, count_before = 2, fleet_tat = 3;
  // Positions in the control script's reply: the flag, its version, the cooldown (ms), then one
  // reset generation per limit.
  static constexpr std::size_t disabled = 0, disabled_version = 1, cool_ms = 2, first_generation = 3;
  static constexpr std::size_t control_size = first_generation + max_limits_per_key;

  bool array = false;   ///< an array (every script answers one); false: an error or another reply
  std::size_t size = 0; ///< its elements
  std::array<std::int64_t, control_size> values{};  ///< its first elements as integers (0: not an integer)

  /// Element `i` as a count (negative figures read as 0).
  [[nodiscard]] std::uint64_t count(std::size_t i) const noexcept {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, values[i]));
  }
};

// --- Key names -----------------------------------------------------------------------------------

/// `label` with ':' '%' '{' '}' percent-encoded, so no label can reach another's keys.
[[nodiscard]] inline std::string escape(std::string_view label) {
  std::string out;
  out.reserve(label.size());
  for (const char c : label) {
    if (c == ':' || c == '%' || c == '{' || c == '}') {
      static constexpr char hex[] = "0123456789ABCDEF";
      out += '%';
      out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += hex[static_cast<unsigned char>(c) & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

/// What every Redis key of pool `pool` starts with: "keypool:{pool}:" (the pool is the hash tag).
[[nodiscard]] inline std::string key_prefix(std::string_view pool) { return "keypool:{" + std::string{pool} + "}:"; }

/// A key's control hash (operator actions): "<prefix>k:<label>".
[[nodiscard]] inline std::string control_key(std::string_view prefix, std::string_view label) {
  return std::string{prefix} + "k:" + escape(label);
}

/// What a calendar limit's counters start with: "<prefix>w:<label>:<limit index>:"; the window
/// index follows.
[[nodiscard]] inline std::string window_counter_prefix(std::string_view prefix, std::string_view label, std::size_t limit) {
  return std::string{prefix} + "w:" + escape(label) + ":" + std::to_string(limit) + ":";
}

/// A rolling limit's one counter, the fleet's TAT: "<prefix>r:<label>:<limit index>".
[[nodiscard]] inline std::string rolling_counter(std::string_view prefix, std::string_view label, std::size_t limit) {
  return std::string{prefix} + "r:" + escape(label) + ":" + std::to_string(limit);
}

/// The fleet's count of window `epoch` of a calendar limit: "keypool:{pool}:w:<label>:<limit>:<epoch>".
[[nodiscard]] inline std::string counter_key(std::string_view pool, std::string_view label, std::size_t limit,
                                             std::uint64_t epoch) {
  return window_counter_prefix(key_prefix(pool), label, limit) + std::to_string(epoch);
}

// --- Commands --------------------------------------------------------------------------------------

/// One command's arguments, as sent.
using Command = std::vector<std::string>;

/// What a lease command asks: at most `want` (at least `minimum` if there is that much), after
/// applying `change` (> 0 gives units back, < 0 debits units spent beyond leases).
struct LeaseAsk {
  std::uint64_t want = 0;
  std::uint64_t minimum = 0;
  std::int64_t change = 0;
  bool fill = false;  ///< raise the count to the limit first (windows only: the provider said it is spent)
};

/// A calendar limit of `limit` units: the lease script on `counter`, the window ending at
/// `window_end` (seconds); the counter outlives it by `grace`.
[[nodiscard]] inline Command window_lease(std::string_view sha, std::string counter, std::uint64_t limit, std::int64_t window_end,
                                          std::int64_t now_sec, Duration grace, std::uint64_t share_permille, const LeaseAsk& ask) {
  const std::int64_t ttl_ms = std::max<std::int64_t>(1, (window_end - now_sec) * 1000) +
                              std::chrono::duration_cast<std::chrono::milliseconds>(grace).count();
  return {"EVALSHA", std::string{sha}, "1", std::move(counter), std::to_string(limit), std::to_string(ask.want),
          std::to_string(ask.minimum), std::to_string(share_permille), std::to_string(ask.change), std::to_string(ttl_ms),
          ask.fill ? "1" : "0"};
}

/// A rolling limit of `amount` units, one per `interval_ns`: the rolling script on `counter` at
/// `now`; the counter outlives a full burst by `grace`.
[[nodiscard]] inline Command rolling_lease(std::string_view sha, std::string counter, std::uint64_t amount, std::uint64_t interval_ns,
                                           TimePoint now, Duration grace, std::uint64_t share_permille, const LeaseAsk& ask) {
  // Times in microseconds: exact in a Lua number (a double) for centuries.
  const auto now_us = static_cast<std::int64_t>(detail::to_ns(now) / 1000);
  char interval[32];
  std::snprintf(interval, sizeof interval, "%.3f", static_cast<double>(interval_ns) / 1000.0);
  const std::uint64_t burst_us = amount * interval_ns / 1000;
  const std::int64_t ttl_ms = static_cast<std::int64_t>(burst_us / 1000) + 1 +
                              std::chrono::duration_cast<std::chrono::milliseconds>(grace).count();
  return {"EVALSHA", std::string{sha}, "1", std::move(counter), std::to_string(now_us), interval, std::to_string(burst_us),
          std::to_string(ask.want), std::to_string(ask.minimum), std::to_string(share_permille), std::to_string(ask.change),
          std::to_string(ttl_ms)};
}

/// The control script on key hash `control`: `action` ("disable", "enable", "read") with no argument.
[[nodiscard]] inline Command control_action(std::string_view sha, std::string_view control, std::string_view action) {
  return {"EVALSHA", std::string{sha}, "1", std::string{control}, std::string{action}};
}

/// The control script: a cooldown until `until_ns` (rounded up to the millisecond).
[[nodiscard]] inline Command control_cooldown(std::string_view sha, std::string_view control, std::uint64_t until_ns) {
  return {"EVALSHA", std::string{sha}, "1", std::string{control}, "cool", std::to_string((until_ns + 999'999) / 1'000'000)};
}

/// The control script: a reset of the limits whose bit is set in `limits` (indices below
/// `limit_count`), deleting `counters` (their current windows' counts).
[[nodiscard]] inline Command control_reset(std::string_view sha, std::string_view control, std::vector<std::string> counters,
                                           std::uint32_t limits, std::size_t limit_count) {
  // KEYS: the control hash, then the counters to delete; ARGV: "reset", the limit indices.
  Command args{"EVALSHA", std::string{sha}, std::to_string(1 + counters.size()), std::string{control}};
  for (std::string& c : counters) args.push_back(std::move(c));
  args.push_back("reset");
  for (std::size_t i = 0; i < limit_count; ++i)
    if ((limits & (1u << i)) != 0) args.push_back(std::to_string(i));
  return args;
}

}  // namespace keypool::detail::redis
