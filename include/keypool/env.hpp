// keypool::env::keys: API keys from the environment, in the shapes teams already use.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/error.hpp>
#include <keypool/secret.hpp>

namespace keypool::env {

/// Reads `NAME`, then `NAME_1`, `NAME_2`, … (stopping at the first gap after _1, though `NAME_0`
/// is read too when set), then `NAMES` or `NAME` + "S" as a comma-separated list ("a,b,c";
/// blanks around entries are trimmed, empty entries skipped). Duplicates are dropped, keeping
/// the first. Returns an empty vector when nothing is set. Throws keypool::Error when `name` is
/// empty. Not thread-safe against concurrent setenv (std::getenv's rule).
[[nodiscard]] inline std::vector<Secret> keys(std::string_view name) {
  if (name.empty()) throw Error("env::keys: the variable name is empty, e.g. env::keys(\"GROQ_API_KEY\")");
  std::vector<Secret> found;
  auto add = [&found](std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\n' || value.back() == '\r'))
      value.remove_suffix(1);
    if (value.empty()) return;
    const Secret secret{value};
    for (const Secret& existing : found)
      if (existing == secret) return;
    found.push_back(secret);
  };
  const std::string base{name};
  if (const char* value = std::getenv(base.c_str())) add(value);
  if (const char* value = std::getenv((base + "_0").c_str())) add(value);
  for (int i = 1;; ++i) {
    const char* value = std::getenv((base + "_" + std::to_string(i)).c_str());
    if (value == nullptr) break;
    add(value);
  }
  if (const char* list = std::getenv((base + "S").c_str())) {
    std::string_view rest{list};
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      add(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return found;
}

}  // namespace keypool::env
