// What the pool keeps in process memory about each key and provider: never in shared storage,
// because it holds the secret and pointers.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <keypool/detail/limit_plan.hpp>
#include <keypool/key_slot.hpp>
#include <keypool/options.hpp>
#include <keypool/secret.hpp>

namespace keypool::detail {

struct ProviderRecord {
  std::string name;
  std::uint32_t tier = 0;
  /// Nanoseconds since the epoch until which provider_exhausted has been reported (0: not
  /// exhausted); cleared by poll() when the provider can serve again, with provider_recovered.
  std::atomic<std::uint64_t> exhausted_until{0};
  std::atomic<std::uint32_t> key_count{0};
};

/// One key. The first members are what the hot path reads.
struct KeyRecord {
  KeySlot* slot = nullptr;            // the counters, in the storage policy's memory
  const LimitPlan* plans = nullptr;   // == limits->plans.data(), shared and immutable
  std::size_t limit_count = 0;        // == limits->plans.size()
  const LimitSet* limits = nullptr;
  ProviderId provider{};
  std::uint32_t tier = 0;
  std::uint32_t weight = 1;
  KeyId id{};
  std::uint64_t hash = 0;               // of the label: stable across processes and runs
  std::uint64_t cumulative_weight = 0;  // weights of keys 0 … id, inclusive
  ProviderRecord* provider_record = nullptr;
  std::string label;
  Secret secret;
};

}  // namespace keypool::detail
