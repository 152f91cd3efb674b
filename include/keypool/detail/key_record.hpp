// What the pool keeps in process memory about each key and provider: never in shared storage,
// because it holds the secret and pointers.
#pragma once

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
  const ProviderRecord* provider_record = nullptr;
  std::string label;
  Secret secret;
};

}  // namespace keypool::detail
