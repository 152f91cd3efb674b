// Hand-built snapshots for the exporter tests (to_json, to_prometheus): the instants they use, one
// limit's usage, a snapshot of many keys, and a real pool driven until it refuses.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <keypool/keypool.hpp>

/// 2026-11-24T10:42:07Z (unix 1795516927): the `at` of the hand-built snapshots.
inline const keypool::TimePoint at{std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 24} +
                                   std::chrono::hours{10} + std::chrono::minutes{42} + std::chrono::seconds{7}};
/// 2026-11-25T00:00:00Z (unix 1795564800): the next midnight, where daily limits reset.
inline const keypool::TimePoint midnight{std::chrono::sys_days{std::chrono::year{2026} / std::chrono::November / 25}};

/// One limit's usage: `used` of `amount`, with the remaining amount and the fraction that follow.
inline keypool::LimitUsage limit(keypool::Metric metric, std::string window, std::string description, std::uint64_t used,
                                 std::uint64_t amount, keypool::TimePoint resets_at) {
  keypool::LimitUsage usage;
  usage.metric = metric;
  usage.window = std::move(window);
  usage.description = std::move(description);
  usage.used = used;
  usage.limit = amount;
  usage.remaining = amount > used ? amount - used : 0;
  usage.fraction = static_cast<double>(used) / static_cast<double>(amount);
  usage.resets_at = resets_at;
  return usage;
}

/// A snapshot at `at` of `count` keys: key i has id i, provider "provider-<i % 7>", label
/// "key-<i>", i * successes_per_index successes, and two limits: requests (i % 30) of 30 a minute,
/// tokens i * 10 of 14,400 a day.
inline keypool::Snapshot many_keys(std::uint32_t count, std::uint64_t successes_per_index) {
  keypool::Snapshot snap;
  snap.at = at;
  for (std::uint32_t i = 0; i < count; ++i) {
    keypool::KeySnapshot key;
    key.id = keypool::KeyId{i};
    key.provider_name = "provider-" + std::to_string(i % 7);
    key.label = "key-" + std::to_string(i);
    key.successes = i * successes_per_index;
    key.limits.push_back(limit(keypool::Metric::requests, "minute", "requests 30 per minute", i % 30, 30,
                               at + std::chrono::seconds{53}));
    key.limits.push_back(limit(keypool::Metric::tokens, "day", "tokens 14400 per day", i * 10, 14'400, midnight));
    snap.keys.push_back(std::move(key));
  }
  return snap;
}

/// Acquires leases of `tokens` tokens on `pool` and commits each with exactly those tokens, until
/// the pool refuses or `at_most` were granted; the number granted.
template <class Pool>
int commit_tokens_until_refused(Pool& pool, std::uint64_t tokens, int at_most) {
  int granted = 0;
  for (int i = 0; i < at_most; ++i) {
    keypool::Lease lease = pool.acquire({.tokens = tokens});
    if (!lease) break;
    lease.commit({.tokens = tokens});
    ++granted;
  }
  return granted;
}
