// A comparison of a presented credential with the expected one whose running time does not
// depend on where they differ, so an attacker cannot guess the admin token byte by byte.
#pragma once

#include <cstddef>
#include <string_view>

namespace gateway {

/// True when `presented` equals `expected`. Always reads every byte of `expected` (and as many
/// of `presented`, cycling over it when it is shorter): the time depends on the length of the
/// expected token only, never on the contents of either string nor on the position of the
/// first difference. The presented length leaks nothing beyond "equal or not". An empty
/// `expected` never matches (an unset token must not open the door).
[[nodiscard]] inline bool constant_time_equal(std::string_view presented, std::string_view expected) noexcept {
  if (expected.empty()) return false;
  // Lengths are folded into the difference instead of returning early.
  std::size_t diff = presented.size() ^ expected.size();
  std::size_t j = 0;  // cycles over `presented` (no division: its time may vary with operands)
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = presented.empty() ? 0 : static_cast<unsigned char>(presented[j]);
    j = (j + 1 >= presented.size()) ? 0 : j + 1;
    diff |= static_cast<std::size_t>(p ^ static_cast<unsigned char>(expected[i]));
    // An empty asm the compiler must assume reads `diff`: keeps it from turning the loop into an
    // early exit once `diff` is non-zero.
    __asm__ __volatile__("" : "+r"(diff));
  }
  return diff == 0;
}

}  // namespace gateway
