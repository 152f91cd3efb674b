// keypool::KeyBinding: what a pool tells its storage policy about a key it adds, so the storage
// can give it a slot (and a persistent store can find the slot it had before).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <keypool/limit.hpp>

namespace keypool {

/// A key (or a meter: the limits of a key's model, of a group, of a group's model) being added to
/// a pool. Never holds key material.
struct KeyBinding {
  std::size_t index = 0;        ///< the slot's number, in the order bound, 0 ≤ index < the reserved capacity
  std::string_view label{};     ///< unique in the pool; a persistent store matches keys by it. A meter's is
                                ///< "<key label>@<model>", "group:<name>" or "group:<name>@<model>"
  std::uint64_t layout = 0;     ///< fingerprint of the key's limits: a stored slot with another is incompatible
  std::span<const Limit> limits{};  ///< the key's limits, in counter order (a persistent store may describe them)
  std::string_view provider{};  ///< the provider's name
};

}  // namespace keypool
