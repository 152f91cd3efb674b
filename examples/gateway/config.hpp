// The gateway's configuration file: a small line-based format (one directive per line, `#`
// comments), read into gateway::Config. Every mistake is reported as "FILE:LINE: what is wrong".
// docs/gateway.md lists every directive.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <istream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <keypool/error.hpp>
#include <keypool/limit.hpp>
#include <keypool/zone.hpp>

namespace gateway {

/// A configuration mistake; what() is "FILE:LINE: message".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string_view file, std::size_t line, std::string_view message)
      : std::runtime_error(std::string{file} + ":" + std::to_string(line) + ": " + std::string{message}),
        line_(line) {}
  /// The line the mistake is on (1-based).
  [[nodiscard]] std::size_t line() const noexcept { return line_; }

 private:
  std::size_t line_;
};

/// How the key is sent to a provider.
enum class AuthStyle { bearer, header };

/// One `provider NAME` block.
struct ProviderConfig {
  std::string name;
  std::size_t line = 0;             // of `provider NAME`
  std::uint32_t tier = 0;           // lower is preferred (select::Priority)
  std::string base_url;             // e.g. https://api.groq.com/openai/v1
  std::string origin;               // scheme://host[:port] of base_url
  std::string path_prefix;          // the path of base_url, without a trailing '/'
  std::string keys_env;             // kp::env::keys(keys_env); defaults to NAME_API_KEY
  std::size_t keys_env_line = 0;    // 0 when defaulted
  std::string keys_file;            // `keys_file PATH`: the keys are read from it (at start and each reload)
  std::size_t keys_file_line = 0;
  std::string model;                // replaces the request's "model" when not empty
  std::vector<std::string> models;  // `models NAME...`: the models it serves (empty: every model)
  AuthStyle auth = AuthStyle::bearer;
  std::string auth_header;          // for AuthStyle::header, e.g. x-goog-api-key
  std::vector<keypool::Limit> limits;
};

/// The whole file.
struct Config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string admin_token_env = "GATEWAY_ADMIN_TOKEN";
  /// Per-client admission on /v1/chat/completions: `client_requests` per `client_per`
  /// (0 requests: off).
  std::uint64_t client_requests = 10;
  std::chrono::nanoseconds client_per = std::chrono::minutes{1};
  /// Tries per request, each on a key the pool grants (1 = no retry).
  unsigned max_attempts = 3;
  /// Wait before retrying after a transient failure; doubles each time.
  std::chrono::nanoseconds backoff = std::chrono::milliseconds{100};
  std::chrono::nanoseconds upstream_timeout = std::chrono::seconds{60};
  /// Completion tokens assumed when a request names no max_tokens.
  std::uint64_t default_max_tokens = 256;
  std::size_t threads = 8;
  /// The longest Retry-After a client is told to wait for; a 429 with a longer wait carries
  /// `x-should-retry: false` (SDKs then give up at once instead of sleeping for hours).
  std::chrono::nanoseconds max_retry_after = std::chrono::seconds{60};
  /// `webhook STYLE URL [CHAT_ID]`: pool events are also posted there (empty url: none).
  std::string webhook_style;        // slack, telegram or event
  std::string webhook_url;          // the URL, or env:NAME (read from the environment at start)
  std::string webhook_chat_id;      // telegram only
  std::size_t webhook_line = 0;
  /// Most connection workers: `threads` always, more while slow clients hold them.
  std::size_t connections = 64;
  /// Longest wait for a client's next bytes (and to write to it); also the keep-alive timeout.
  std::chrono::nanoseconds client_timeout = std::chrono::seconds{5};
  /// `state_file PATH`: the counts live in that file (store::MappedFile); empty: in memory.
  std::string state_file;
  /// `redis HOST PORT [prefix P]`: the counts are shared through Redis (store::Redis).
  std::string redis_host;  // empty: no Redis
  int redis_port = 6379;
  std::string redis_prefix = "keypool-gateway";
  std::size_t store_line = 0;  // of state_file or redis
  /// `history EVERY SPAN`: each provider's usage is sampled every `history_every` into a ring
  /// reaching `history_span` back (GET /quota-status/history, the dashboard's charts); `history
  /// off`: zero, no sampling.
  std::chrono::nanoseconds history_every = std::chrono::seconds{30};
  std::chrono::nanoseconds history_span = std::chrono::hours{6};
  /// `recent_events N`: the last N events kept for GET /events/recent (0: none kept).
  std::size_t recent_events = 200;
  std::vector<ProviderConfig> providers;
};

namespace config_detail {

inline std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    if (i == line.size()) break;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    words.push_back(line.substr(start, i - start));
  }
  return words;
}

/// A whole unsigned number, or nothing (no sign, no spaces, no trailing characters).
inline std::optional<std::uint64_t> parse_uint(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

/// "250ms", "30s", "5m", "1h" (a whole number and a unit). Nothing for a number above 10^9 or a
/// duration longer than nanoseconds hold (about 292 years: "3000000h").
inline std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const auto number = parse_uint(text.substr(0, digits));
  if (!number || *number > 1'000'000'000) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  std::chrono::nanoseconds length{0};
  if (unit == "ms") length = std::chrono::milliseconds{1};
  else if (unit == "s") length = std::chrono::seconds{1};
  else if (unit == "m") length = std::chrono::minutes{1};
  else if (unit == "h") length = std::chrono::hours{1};
  else return std::nullopt;
  const auto n = static_cast<std::int64_t>(*number);
  if (n > std::chrono::nanoseconds::max() / length) return std::nullopt;  // n * length would overflow
  return n * length;
}

/// Splits "http://host:port/path" into origin and path; empty origin when malformed.
inline void split_url(std::string_view url, std::string& origin, std::string& path) {
  const std::size_t scheme_end = url.find("://");
  origin.clear();
  path.clear();
  if (scheme_end == std::string_view::npos) return;
  const std::size_t host_start = scheme_end + 3;
  const std::size_t slash = url.find('/', host_start);
  const std::string_view host = url.substr(host_start, slash == std::string_view::npos ? url.size() - host_start : slash - host_start);
  if (host.empty()) return;
  origin = std::string{url.substr(0, host_start)} + std::string{host};
  if (slash != std::string_view::npos) path = std::string{url.substr(slash)};
  while (!path.empty() && path.back() == '/') path.pop_back();
}

}  // namespace config_detail

/// Reads a configuration from `in`; `file` names it in error messages. Throws ConfigError on the
/// first mistake. Does not read the environment (keys are read when the gateway starts).
[[nodiscard]] inline Config parse_config(std::istream& in, std::string_view file) {
  using config_detail::parse_uint;
  using config_detail::parse_duration;
  Config config;
  std::string raw;
  std::size_t line_no = 0;
  ProviderConfig* current = nullptr;
  // Where each directive of the current scope was first given, to refuse repeats.
  std::vector<std::pair<std::string, std::size_t>> seen_global, seen_provider;
  std::vector<std::size_t> base_url_lines;

  const auto fail = [&](std::string_view message) { throw ConfigError(file, line_no, message); };
  const auto once = [&](std::vector<std::pair<std::string, std::size_t>>& seen, std::string_view directive,
                        std::string_view scope) {
    for (const auto& [name, line] : seen)
      if (name == directive)
        fail("'" + std::string{directive} + "' given twice" + std::string{scope} + " (first at line " +
             std::to_string(line) + "); keep one");
    seen.emplace_back(std::string{directive}, line_no);
  };
  const auto number = [&](std::string_view directive, std::string_view text, std::uint64_t min, std::uint64_t max) {
    const auto value = parse_uint(text);
    if (!value)
      fail("'" + std::string{directive} + "': '" + std::string{text} + "' is not a whole number");
    if (*value < min || *value > max)
      fail("'" + std::string{directive} + "': " + std::string{text} + " is out of range (" + std::to_string(min) +
           " to " + std::to_string(max) + ")");
    return *value;
  };
  const auto duration = [&](std::string_view directive, std::string_view text) {
    const auto value = parse_duration(text);
    if (!value)
      fail("'" + std::string{directive} + "': '" + std::string{text} +
           "' is not a duration (a whole number and ms, s, m or h, e.g. 250ms)");
    return *value;
  };
  const auto arity = [&](const std::vector<std::string_view>& words, std::size_t count, std::string_view usage) {
    if (words.size() != count) fail("'" + std::string{words[0]} + "' expects: " + std::string{usage});
  };

  static constexpr std::string_view global_directives[] = {"listen", "admin_token_env", "client_limit", "max_attempts",
                                                           "backoff", "upstream_timeout", "default_max_tokens",
                                                           "threads", "webhook", "connections", "client_timeout",
                                                           "state_file", "redis", "max_retry_after", "history", "recent_events"};
  static constexpr std::string_view provider_directives[] = {"tier", "base_url", "keys_env", "model", "models", "auth", "limit", "keys_file"};
  const auto is_one_of = [](std::string_view word, const auto& list) {
    for (const std::string_view entry : list)
      if (entry == word) return true;
    return false;
  };

  while (std::getline(in, raw)) {
    ++line_no;
    std::string_view line{raw};
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const auto words = config_detail::split_words(line);
    if (words.empty()) continue;
    const std::string_view directive = words[0];

    if (directive == "provider") {
      arity(words, 2, "provider NAME (letters, digits, '-' or '_')");
      for (const char c : words[1])
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
          fail("provider name '" + std::string{words[1]} + "' may hold only letters, digits, '-' and '_'");
      for (const ProviderConfig& other : config.providers)
        if (other.name == words[1])
          fail("provider '" + std::string{words[1]} + "' is defined twice (first at line " + std::to_string(other.line) +
               "); give each provider one block");
      config.providers.push_back(ProviderConfig{});
      current = &config.providers.back();
      current->name = std::string{words[1]};
      current->line = line_no;
      std::string env;
      for (const char c : words[1]) env += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : (c == '-' ? '_' : c);
      current->keys_env = env + "_API_KEY";
      seen_provider.clear();
      continue;
    }

    if (is_one_of(directive, global_directives)) {
      if (current != nullptr)
        fail("'" + std::string{directive} + "' is a global directive but comes after 'provider " + current->name +
             "'; move it above the first provider block");
      once(seen_global, directive, "");
      if (directive == "listen") {
        arity(words, 3, "listen ADDRESS PORT, e.g. listen 127.0.0.1 8080 (port 0: any free port)");
        if (words[1].empty() || words[1].find_first_not_of("0123456789.abcdefABCDEF:") != std::string_view::npos)
          fail("'listen': '" + std::string{words[1]} + "' is not an IP address (e.g. 127.0.0.1, or 0.0.0.0 for every interface)");
        config.listen_host = std::string{words[1]};
        config.listen_port = static_cast<std::uint16_t>(number("listen", words[2], 0, 65'535));
      } else if (directive == "admin_token_env") {
        arity(words, 2, "admin_token_env VARIABLE, e.g. admin_token_env GATEWAY_ADMIN_TOKEN");
        config.admin_token_env = std::string{words[1]};
      } else if (directive == "client_limit") {
        if (words.size() == 2 && words[1] == "off") {
          config.client_requests = 0;
          continue;
        }
        if (words.size() != 4 || words[2] != "per")
          fail("'client_limit' expects: client_limit N per second|minute|hour|DURATION (e.g. client_limit 10 per minute), or client_limit off");
        config.client_requests = number("client_limit", words[1], 1, 1'000'000'000);
        const std::string_view unit = words[3];
        if (unit == "second") config.client_per = std::chrono::seconds{1};
        else if (unit == "minute") config.client_per = std::chrono::minutes{1};
        else if (unit == "hour") config.client_per = std::chrono::hours{1};
        else config.client_per = duration("client_limit", unit);
        if (config.client_per <= std::chrono::nanoseconds::zero()) fail("'client_limit': the period must be positive");
      } else if (directive == "max_attempts") {
        arity(words, 2, "max_attempts N (1 to 10)");
        config.max_attempts = static_cast<unsigned>(number("max_attempts", words[1], 1, 10));
      } else if (directive == "backoff") {
        arity(words, 2, "backoff DURATION, e.g. backoff 100ms");
        config.backoff = duration("backoff", words[1]);
      } else if (directive == "upstream_timeout") {
        arity(words, 2, "upstream_timeout DURATION, e.g. upstream_timeout 60s");
        config.upstream_timeout = duration("upstream_timeout", words[1]);
        if (config.upstream_timeout <= std::chrono::nanoseconds::zero()) fail("'upstream_timeout' must be positive");
      } else if (directive == "default_max_tokens") {
        arity(words, 2, "default_max_tokens N");
        config.default_max_tokens = number("default_max_tokens", words[1], 1, 10'000'000);
      } else if (directive == "threads") {
        arity(words, 2, "threads N (1 to 256)");
        config.threads = static_cast<std::size_t>(number("threads", words[1], 1, 256));
      } else if (directive == "connections") {
        arity(words, 2, "connections N (16 to 4096)");
        config.connections = static_cast<std::size_t>(number("connections", words[1], 16, 4096));
      } else if (directive == "client_timeout") {
        arity(words, 2, "client_timeout DURATION, e.g. client_timeout 5s (100ms to 5m)");
        config.client_timeout = duration("client_timeout", words[1]);
        if (config.client_timeout < std::chrono::milliseconds{100} || config.client_timeout > std::chrono::minutes{5})
          fail("'client_timeout' must be from 100ms to 5m");
      } else if (directive == "state_file" || directive == "redis") {
        if (config.store_line != 0)
          fail("'state_file' and 'redis' exclude each other (the other is at line " + std::to_string(config.store_line) +
               "); keep one");
        config.store_line = line_no;
        if (directive == "state_file") {
          arity(words, 2, "state_file PATH, e.g. state_file /var/lib/keypool-gateway/quota.kp");
          config.state_file = std::string{words[1]};
        } else {
          if (!(words.size() == 3 || (words.size() == 5 && words[3] == "prefix")))
            fail("'redis' expects: redis HOST PORT [prefix NAME], e.g. redis 127.0.0.1 6379 prefix team-a");
          config.redis_host = std::string{words[1]};
          config.redis_port = static_cast<int>(number("redis", words[2], 1, 65'535));
          if (words.size() == 5) config.redis_prefix = std::string{words[4]};
        }
      } else if (directive == "max_retry_after") {
        arity(words, 2, "max_retry_after DURATION, e.g. max_retry_after 60s");
        config.max_retry_after = duration("max_retry_after", words[1]);
      } else if (directive == "webhook") {
        const std::string_view usage =
            "webhook slack|telegram|event URL [CHAT_ID], e.g. webhook slack env:SLACK_WEBHOOK_URL "
            "(env:NAME reads the URL from the environment, so the file holds no credential)";
        if (words.size() < 3 || words.size() > 4) fail("'webhook' expects: " + std::string{usage});
        if (words[1] != "slack" && words[1] != "telegram" && words[1] != "event")
          fail("'webhook': unknown style '" + std::string{words[1]} + "' (slack, telegram or event)");
        if ((words[1] == "telegram") != (words.size() == 4))
          fail(words[1] == "telegram" ? "'webhook telegram' needs a CHAT_ID after the URL"
                                      : "'webhook': only the telegram style takes a CHAT_ID");
        const std::string_view url = words[2];
        if (url.rfind("env:", 0) == 0) {
          if (url.size() == 4) fail("'webhook': env: needs a variable name, e.g. env:SLACK_WEBHOOK_URL");
        } else {
          std::string origin, path;
          config_detail::split_url(url, origin, path);
          if (origin.empty() || (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0))
            fail("'webhook': the URL must start with http:// or https:// (or be env:NAME)");
        }
        config.webhook_style = std::string{words[1]};
        config.webhook_url = std::string{url};
        if (words.size() == 4) config.webhook_chat_id = std::string{words[3]};
        config.webhook_line = line_no;
      } else if (directive == "history") {
        if (words.size() == 2 && words[1] == "off") {
          config.history_every = config.history_span = std::chrono::nanoseconds::zero();
          continue;
        }
        arity(words, 3, "history EVERY SPAN, e.g. history 30s 6h (a sample every 30 s, 6 hours kept), or history off");
        config.history_every = duration("history", words[1]);
        config.history_span = duration("history", words[2]);
        if (config.history_every < std::chrono::milliseconds{100})
          fail("'history': sample at most every 100ms (e.g. history 30s 6h)");
        if (config.history_span < 2 * config.history_every)
          fail("'history': the span must hold at least two samples (e.g. history 30s 6h)");
        if (config.history_span / config.history_every > 100'000)
          fail("'history': more than 100000 samples per provider; sample less often or keep less (e.g. history 30s 6h)");
      } else if (directive == "recent_events") {
        arity(words, 2, "recent_events N (0 to 100000), e.g. recent_events 200");
        config.recent_events = static_cast<std::size_t>(number("recent_events", words[1], 0, 100'000));
      }
      continue;
    }

    if (is_one_of(directive, provider_directives)) {
      if (current == nullptr)
        fail("'" + std::string{directive} + "' belongs in a provider block; write 'provider NAME' above it");
      const std::string scope = " for provider '" + current->name + "'";
      if (directive != "limit" && directive != "models") once(seen_provider, directive, scope);
      if (directive == "tier") {
        arity(words, 2, "tier N (0 is tried first)");
        current->tier = static_cast<std::uint32_t>(number("tier", words[1], 0, 1'000'000));
      } else if (directive == "base_url") {
        arity(words, 2, "base_url URL, e.g. base_url https://api.groq.com/openai/v1");
        const std::string_view url = words[1];
        const bool http = url.rfind("http://", 0) == 0;
        const bool https = url.rfind("https://", 0) == 0;
        if (!http && !https) fail("'base_url': '" + std::string{url} + "' must start with http:// or https://");
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
        if (https)
          fail("'base_url': https needs a gateway built with CPPHTTPLIB_OPENSSL_SUPPORT (see docs/gateway.md)");
#endif
        config_detail::split_url(url, current->origin, current->path_prefix);
        if (current->origin.empty()) fail("'base_url': '" + std::string{url} + "' has no host");
        current->base_url = std::string{url};
      } else if (directive == "keys_env") {
        arity(words, 2, "keys_env VARIABLE, e.g. keys_env GROQ_API_KEY (reads VARIABLE, VARIABLE_1.., VARIABLES)");
        current->keys_env = std::string{words[1]};
        current->keys_env_line = line_no;
      } else if (directive == "keys_file") {
        arity(words, 2, "keys_file PATH (one key per line, '#' comments; mode 600: readable by the gateway's user only)");
        current->keys_file = std::string{words[1]};
        current->keys_file_line = line_no;
      } else if (directive == "model") {
        arity(words, 2, "model NAME (sent instead of the client's model)");
        current->model = std::string{words[1]};
      } else if (directive == "models") {
        // models NAME [NAME...]: may repeat; the provider then serves only these models.
        if (words.size() < 2) fail("'models' expects: models NAME [NAME...] (the models this provider serves)");
        for (std::size_t w = 1; w < words.size(); ++w) {
          for (const std::string& known : current->models)
            if (known == words[w]) fail("'models': '" + known + "' is listed twice" + scope);
          current->models.emplace_back(words[w]);
        }
      } else if (directive == "auth") {
        if (words.size() == 2 && words[1] == "bearer") {
          current->auth = AuthStyle::bearer;
        } else if (words.size() == 3 && words[1] == "header") {
          current->auth = AuthStyle::header;
          current->auth_header = std::string{words[2]};
        } else {
          fail("'auth' expects: auth bearer, or auth header NAME (e.g. auth header x-goog-api-key)");
        }
      } else if (directive == "limit") {
        // limit METRIC AMOUNT per second|minute|hour|day|month|request|DURATION [zone POSIX-TZ]
        if (!(words.size() == 5 || words.size() == 7) || words[3] != "per" || (words.size() == 7 && words[5] != "zone"))
          fail("'limit' expects: limit METRIC AMOUNT per second|minute|hour|day|month|request|DURATION [zone POSIX-TZ], "
               "e.g. limit tokens 14400 per day");
        if (current->limits.size() == 8) fail("a key has at most 8 limits; provider '" + current->name + "' has more");
        static constexpr std::string_view metrics[] = {"requests", "tokens", "characters", "units", "spend"};
        std::optional<keypool::Metric> metric;
        for (std::size_t m = 0; m < std::size(metrics); ++m)
          if (words[1] == metrics[m]) metric = static_cast<keypool::Metric>(m);
        if (!metric)
          fail("'limit': unknown metric '" + std::string{words[1]} + "' (requests, tokens, characters, units or spend)");
        const auto amount = parse_uint(words[2]);
        if (!amount) fail("'limit': '" + std::string{words[2]} + "' is not a whole number");
        const std::string_view unit = words[4];
        try {
          keypool::Limit limit = keypool::Limit::of(*metric, *amount);
          if (unit == "second") limit = limit.per_second();
          else if (unit == "minute") limit = limit.per_minute();
          else if (unit == "hour") limit = limit.per_hour();
          else if (unit == "day") limit = limit.per_day();
          else if (unit == "month") limit = limit.per_month();
          else if (unit == "request") limit = limit.per_request();
          else if (const auto period = parse_duration(unit)) limit = limit.per(*period);
          else
            fail("'limit': '" + std::string{unit} +
                 "' is not a period (second, minute, hour, day, month, request, or a duration such as 60s)");
          if (words.size() == 7) limit = limit.reset_zone(keypool::Zone::posix(words[6]));
          current->limits.push_back(std::move(limit));
        } catch (const keypool::Error& e) {
          fail(e.what());
        }
      }
      continue;
    }

    fail("unknown directive '" + std::string{directive} +
         "' (global: listen, admin_token_env, client_limit, max_attempts, backoff, upstream_timeout, "
         "default_max_tokens, threads, webhook, connections, client_timeout, state_file, redis, max_retry_after, history, "
         "recent_events; per provider: provider, tier, base_url, keys_env, keys_file, model, models, auth, limit)");
  }

  if (config.providers.empty()) {
    line_no = line_no == 0 ? 1 : line_no;
    fail("no provider defined; add a block such as 'provider groq' with a base_url");
  }
  for (const ProviderConfig& provider : config.providers)
    if (provider.keys_env_line != 0 && provider.keys_file_line != 0)
      throw ConfigError(file, std::max(provider.keys_env_line, provider.keys_file_line),
                        "provider '" + provider.name + "': 'keys_env' and 'keys_file' exclude each other; keep one");
  for (const ProviderConfig& provider : config.providers)
    if (provider.base_url.empty())
      throw ConfigError(file, provider.line,
                        "provider '" + provider.name + "' has no base_url; add e.g. base_url https://api.groq.com/openai/v1");
  return config;
}

/// Reads the file at `path`. Throws ConfigError (line 0 when the file cannot be read).
[[nodiscard]] inline Config load_config(const std::string& path) {
  std::ifstream in{path};
  if (!in) throw ConfigError(path, 0, "cannot open the configuration file");
  return parse_config(in, path);
}

}  // namespace gateway
