// keypool::env::keys: API keys from the environment, in the shapes teams already use:
// NAME, NAME_1 … NAME_N, and NAMES="a,b,c".
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/error.hpp>
#include <keypool/secret.hpp>

namespace keypool::env {

/// The keys the environment holds for `name`, e.g. env::keys("GROQ_API_KEY") reads, in order:
///
///   1. `GROQ_API_KEY`;
///   2. `GROQ_API_KEY_1`, `GROQ_API_KEY_2`, … up to the first number that is not set: with
///      _1, _2 and _4 set, _4 is ignored (and so is `GROQ_API_KEY_0`: numbering starts at 1);
///   3. `GROQ_API_KEYS`, a comma-separated list ("gsk_a, gsk_b").
///
/// Each value is trimmed of spaces, tabs, CR and LF at both ends; values and list entries that
/// are empty after trimming are skipped. Returns them in that order; an empty vector when none is
/// set.
///
/// Throws keypool::Error when `name` is empty or contains '=', and when one key appears twice
/// (a copy-paste mistake that would count one quota as two): the message names the two places,
/// e.g. "GROQ_API_KEY_2 and entry 1 of GROQ_API_KEYS", and never contains a key.
///
/// Thread safety: reads the environment with std::getenv, so it must not race with setenv or
/// putenv. Allocates. O(n²) comparisons for n keys (constant-time each, as Secret compares).
[[nodiscard]] inline std::vector<Secret> keys(std::string_view name) {
  if (name.empty()) throw Error("env::keys: the variable name is empty; give one, e.g. env::keys(\"GROQ_API_KEY\")");
  if (name.find('=') != std::string_view::npos || name.find('\0') != std::string_view::npos)
    throw Error("env::keys: \"" + std::string{name} + "\" is not a valid environment variable name (it contains '=' or a NUL)");

  std::vector<Secret> found;
  std::vector<std::string> origins;  // where each key of `found` came from, for messages
  const auto add = [&](std::string_view value, std::string origin) {
    constexpr std::string_view blanks = " \t\r\n";
    const auto first = value.find_first_not_of(blanks);
    if (first == std::string_view::npos) return;
    value = value.substr(first, value.find_last_not_of(blanks) - first + 1);
    Secret secret{value};
    for (std::size_t i = 0; i < found.size(); ++i)
      if (found[i] == secret)
        throw Error("env::keys(\"" + std::string{name} + "\"): " + origins[i] + " and " + origin +
                    " hold the same key; each key must be given once (remove one of them)");
    found.push_back(std::move(secret));
    origins.push_back(std::move(origin));
  };

  const std::string base{name};
  if (const char* value = std::getenv(base.c_str())) add(value, base);
  for (unsigned long i = 1;; ++i) {
    const std::string numbered = base + "_" + std::to_string(i);
    const char* value = std::getenv(numbered.c_str());
    if (value == nullptr) break;
    add(value, numbered);
  }
  const std::string list_name = base + "S";
  if (const char* list = std::getenv(list_name.c_str())) {
    std::string_view rest{list};
    for (std::size_t entry = 1;; ++entry) {
      const auto comma = rest.find(',');
      add(rest.substr(0, comma), "entry " + std::to_string(entry) + " of " + list_name);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return found;
}

}  // namespace keypool::env
