// keypool::Error: the one exception type keypool throws, for configuration mistakes only.
// The hot path (acquire, commit, fail, cancel) never throws; it answers with a Refusal.
#pragma once

#include <stdexcept>
#include <string>

namespace keypool {

/// A configuration mistake: a bad limit, a malformed zone rule, a duplicate label, a full pool,
/// an incompatible state file. The message says what was wrong and what to do about it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error("keypool: " + what) {}
};

}  // namespace keypool
