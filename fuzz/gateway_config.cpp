// libFuzzer target: the gateway example's configuration parser (examples/gateway/config.hpp) on
// arbitrary text.
//
// The input is a configuration file. parse_config either throws gateway::ConfigError, whose
// what() starts with "FILE:LINE: " for a line of the input, or returns a Config that keeps the
// documented rules: at least one provider, each named once with letters, digits, '-' or '_', with
// an http(s) base_url whose origin is set, at most 8 limits; ports, attempts and threads in range;
// durations positive. Any other exception, a crash or undefined behaviour is a bug.
#include "config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "parse_config broke its contract: %s\n", why);
  std::abort();
}

bool is_name(std::string_view name) {
  if (name.empty()) return false;
  for (const char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text{reinterpret_cast<const char*>(data), size};
  std::size_t lines = 1;
  for (const char c : text) lines += c == '\n' ? 1 : 0;
  std::istringstream in{text};
  gateway::Config config;
  try {
    config = gateway::parse_config(in, "fuzz.conf");
  } catch (const gateway::ConfigError& error) {
    const std::string what = error.what();
    const std::string prefix = "fuzz.conf:" + std::to_string(error.line()) + ": ";
    if (what.rfind(prefix, 0) != 0) fail("the error does not start with FILE:LINE");
    if (error.line() == 0 || error.line() > lines) fail("the error names a line the file does not have");
    if (what.size() == prefix.size()) fail("the error says nothing after FILE:LINE");
    return 0;
  }
  if (config.providers.empty()) fail("a configuration without providers");
  for (std::size_t i = 0; i < config.providers.size(); ++i) {
    const gateway::ProviderConfig& provider = config.providers[i];
    if (!is_name(provider.name)) fail("a provider name with other characters");
    for (std::size_t j = 0; j < i; ++j)
      if (config.providers[j].name == provider.name) fail("a provider defined twice");
    if (provider.base_url.rfind("http://", 0) != 0 && provider.base_url.rfind("https://", 0) != 0)
      fail("a base_url that is not http(s)");
    if (provider.origin.empty() || provider.base_url.rfind(provider.origin, 0) != 0) fail("a base_url without its origin");
    if (!provider.path_prefix.empty() && (provider.path_prefix.front() != '/' || provider.path_prefix.back() == '/'))
      fail("a path prefix that does not start with '/' or ends with one");
    if (provider.keys_env.empty()) fail("a provider without a keys variable");
    if (provider.limits.size() > 8) fail("more than 8 limits");
    if (provider.line == 0 || provider.line > lines) fail("a provider on a line the file does not have");
    if (provider.auth == gateway::AuthStyle::header && provider.auth_header.empty()) fail("auth header without a name");
  }
  if (config.max_attempts < 1 || config.max_attempts > 10) fail("max_attempts out of range");
  if (config.threads < 1 || config.threads > 256) fail("threads out of range");
  if (config.client_requests != 0 && config.client_per <= std::chrono::nanoseconds::zero()) fail("a client period that is not positive");
  if (config.upstream_timeout <= std::chrono::nanoseconds::zero()) fail("an upstream timeout that is not positive");
  if (config.backoff < std::chrono::nanoseconds::zero()) fail("a negative backoff");
  if (config.default_max_tokens < 1) fail("default_max_tokens below 1");
  if (!config.webhook_url.empty() && config.webhook_style != "slack" && config.webhook_style != "telegram" &&
      config.webhook_style != "event")
    fail("a webhook of an unknown style");
  return 0;
}
