// keypool::classify: what a provider's HTTP answer (status, headers, body) means for the key that
// made the call, as an Outcome for Lease::fail / Lease::commit. Works with any HTTP library.
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <ranges>
#include <string_view>
#include <type_traits>

#include <keypool/detail/http_parse.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

// ---------------------------------------------------------------------------------------------
// Header lookups

namespace detail {

template <class R>
concept OptionalLikeHeader = requires(const R& value) {
  { value.has_value() } -> std::convertible_to<bool>;
  { *value } -> std::convertible_to<std::string_view>;
};

template <class R>
concept PointerHeader = std::is_pointer_v<R> && !std::is_convertible_v<R, const char*> &&
                        std::is_convertible_v<const std::remove_pointer_t<R>&, std::string_view>;

/// What a header lookup may return: `std::optional<std::string_view>` (the usual),
/// `std::optional<std::string>`, a `const char*` or pointer to a string (null: absent), or a
/// `std::string` / `std::string_view` (always present; an empty value reads as malformed).
template <class R>
concept HeaderValue = std::is_convertible_v<const R&, const char*> || OptionalLikeHeader<R> || PointerHeader<R> ||
                      std::is_convertible_v<const R&, std::string_view>;

template <HeaderValue R>
[[nodiscard]] constexpr std::optional<std::string_view> header_view(const R& value) noexcept {
  if constexpr (std::is_convertible_v<const R&, const char*>) {
    const char* text = value;
    if (text == nullptr) return std::nullopt;
    return std::string_view{text};
  } else if constexpr (OptionalLikeHeader<R>) {
    if (!value.has_value()) return std::nullopt;
    return std::string_view{*value};
  } else if constexpr (PointerHeader<R>) {
    if (value == nullptr) return std::nullopt;
    return std::string_view{*value};
  } else {
    return std::string_view{value};
  }
}

}  // namespace detail

/// A header lookup: a callable taking a header name (`std::string_view`, always lowercase when
/// classify calls it) and returning its value, e.g. `std::optional<std::string_view>`, or any
/// `detail::HeaderValue` (an optional string, a nullable `const char*`, a string). HTTP header
/// names are case-insensitive, so the lookup must compare names without regard to case; the
/// first of repeated headers is used.
template <class H>
concept HeaderLookup = std::invocable<const H&, std::string_view> &&
                       detail::HeaderValue<std::remove_cvref_t<std::invoke_result_t<const H&, std::string_view>>>;

/// A container of headers: any range of pairs whose `first` (the name) and `second` (the value)
/// convert to `std::string_view` — `std::map`, `std::multimap`, `std::unordered_map`,
/// `std::vector<std::pair<std::string, std::string>>`, cpp-httplib's `httplib::Headers`.
template <class M>
concept HeaderMap = std::ranges::input_range<const M> && requires(std::ranges::range_reference_t<const M> entry) {
  { entry.first } -> std::convertible_to<std::string_view>;
  { entry.second } -> std::convertible_to<std::string_view>;
};

/// A HeaderLookup over a HeaderMap, comparing names without regard to ASCII case (whatever the
/// map's own ordering). Holds a pointer: the map must outlive it. Thread-safe as the map's const
/// iteration is. O(entries) per lookup; never allocates, never throws.
template <HeaderMap Map>
class MapHeaders {
 public:
  explicit MapHeaders(const Map& map) noexcept : map_(&map) {}
  /// The value of the first entry named `name` (any case), or nullopt.
  [[nodiscard]] std::optional<std::string_view> operator()(std::string_view name) const noexcept {
    for (const auto& entry : *map_) {
      const std::string_view key = entry.first;
      if (key.size() == name.size() && detail::http::iequals(key, name)) return std::string_view{entry.second};
    }
    return std::nullopt;
  }

 private:
  const Map* map_;
};

/// Adapts a map of headers (see HeaderMap) to a HeaderLookup: `kp::header_lookup(res->headers)`
/// for cpp-httplib, `kp::header_lookup(my_std_map)`. classify also accepts such a map directly.
template <HeaderMap Map>
[[nodiscard]] MapHeaders<Map> header_lookup(const Map& map) noexcept {
  return MapHeaders<Map>{map};
}

/// The lookup of an answer without headers (or when they are not at hand).
struct NoHeaders {
  [[nodiscard]] constexpr std::optional<std::string_view> operator()(std::string_view) const noexcept { return std::nullopt; }
};
inline constexpr NoHeaders no_headers{};

// ---------------------------------------------------------------------------------------------
// The status alone

/// What an HTTP status means when nothing else in the answer says more (the last step of
/// classify, and a building block for classifiers of your own):
///   < 200 or > 599 (0 or negative: no answer, a timeout, a reset connection)  transient
///   2xx success · 3xx bad_request · 401, 403 auth_failed · 402 quota_exhausted(spend, max)
///   408 transient · 429 rate_limited(0) · other 4xx bad_request · 5xx transient
/// The status is recorded in the outcome. Never throws; O(1).
[[nodiscard]] constexpr Outcome classify_status(int status) noexcept {
  Outcome outcome = Outcome::bad_request();
  if (status < 200 || status > 599) outcome = Outcome::transient();
  else if (status < 300) outcome = Outcome::success();
  else if (status == 401 || status == 403) outcome = Outcome::auth_failed();
  else if (status == 402) outcome = Outcome::quota_exhausted(Metric::spend, TimePoint::max());
  else if (status == 408 || status >= 500) outcome = Outcome::transient();
  else if (status == 429) outcome = Outcome::rate_limited();
  return outcome.with_status(status);
}

namespace detail::answer {

namespace http = detail::http;

/// Only the first 64 KiB of a body are read: error messages come first, and a huge body (an
/// HTML error page, an echoed prompt) must not make classify slow.
inline constexpr std::size_t max_scanned_body = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Time arithmetic that saturates instead of overflowing.

[[nodiscard]] constexpr TimePoint after(TimePoint now, Duration wait) noexcept {
  const auto base = now.time_since_epoch().count();
  const auto step = wait.count();
  if (step > 0 && base > std::numeric_limits<Duration::rep>::max() - step) return TimePoint::max();
  return now + wait;
}

/// The wait from `now` until `t`: zero if `t` has passed, nullopt if further than max_wait.
[[nodiscard]] constexpr std::optional<Duration> wait_until(TimePoint t, TimePoint now) noexcept {
  const auto target = t.time_since_epoch().count();
  const auto from = now.time_since_epoch().count();
  if (target <= from) return Duration::zero();
  if (from < 0 && target > std::numeric_limits<Duration::rep>::max() + from) return std::nullopt;
  const Duration wait{target - from};
  if (wait > http::max_wait) return std::nullopt;
  return wait;
}

// ---------------------------------------------------------------------------------------------
// Reading headers

template <class Lookup>
class Headers {
 public:
  explicit Headers(const Lookup& lookup) noexcept : lookup_(lookup) {}

  /// Calls `use(value)` with the trimmed value of header `name` when it is present; returns what
  /// `use` returns, or `R{}` when absent. The lookup's result lives until `use` returns.
  template <class R, class Use>
  R read(std::string_view name, Use&& use) const {
    const auto& value = std::invoke(lookup_, name);
    const std::optional<std::string_view> view = detail::header_view(value);
    if (!view) return R{};
    return use(http::trim(*view));
  }

  [[nodiscard]] std::optional<std::uint64_t> count(std::string_view name) const {
    return read<std::optional<std::uint64_t>>(name, [](std::string_view v) { return http::parse_uint(v); });
  }

 private:
  const Lookup& lookup_;
};

/// A provider's rate-limit report, before it becomes a ProviderRemaining.
struct Reports {
  std::array<ProviderRemaining, Outcome::max_reports> items{};
  std::size_t count = 0;
  void add(const ProviderRemaining& report) noexcept {
    if (count < items.size()) items[count++] = report;
  }
};

// OpenAI, Groq and compatible: x-ratelimit-{limit,remaining,reset}-{requests,tokens}. The reset is
// a Go duration ("6m0s", "7.66s", "20ms"); plain decimal seconds ("60", "1.5") are accepted too,
// and an epoch timestamp, being further than max_wait, is ignored.
template <class Lookup>
std::optional<ProviderRemaining> openai_report(const Headers<Lookup>& headers, Metric metric, std::string_view limit_name,
                                               std::string_view remaining_name, std::string_view reset_name, TimePoint now) {
  const auto remaining = headers.count(remaining_name);
  if (!remaining) return std::nullopt;
  ProviderRemaining report{.metric = metric, .remaining = *remaining, .limit = headers.count(limit_name).value_or(0)};
  const auto reset = headers.template read<std::optional<Duration>>(reset_name, [](std::string_view v) {
    if (auto d = http::parse_go_duration(v)) return d;
    return http::parse_decimal(v, std::chrono::seconds{1});
  });
  if (reset) report.resets_at = after(now, *reset);
  return report;
}

// Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset},
// the reset an RFC 3339 time.
template <class Lookup>
std::optional<ProviderRemaining> anthropic_report(const Headers<Lookup>& headers, Metric metric, std::string_view limit_name,
                                                  std::string_view remaining_name, std::string_view reset_name, TimePoint now) {
  const auto remaining = headers.count(remaining_name);
  if (!remaining) return std::nullopt;
  ProviderRemaining report{.metric = metric, .remaining = *remaining, .limit = headers.count(limit_name).value_or(0)};
  const auto reset = headers.template read<std::optional<TimePoint>>(reset_name, [](std::string_view v) { return http::parse_rfc3339(v); });
  if (reset) {
    const auto wait = wait_until(*reset, now);
    if (wait && *wait == Duration::zero()) return std::nullopt;  // that window is over: the count is stale
    if (wait) report.resets_at = *reset;
  }
  return report;
}

// Of two reports, the one with the smaller fraction left (the smaller count when a limit is unknown).
[[nodiscard]] constexpr const ProviderRemaining& tighter(const ProviderRemaining& a, const ProviderRemaining& b) noexcept {
  if (a.limit == 0 || b.limit == 0) return a.remaining <= b.remaining ? a : b;
  const double left_a = static_cast<double>(a.remaining) / static_cast<double>(a.limit);
  const double left_b = static_cast<double>(b.remaining) / static_cast<double>(b.limit);
  return left_a <= left_b ? a : b;
}

template <class Lookup>
Reports read_reports(const Headers<Lookup>& headers, TimePoint now) {
  Reports reports;
  if (auto r = openai_report(headers, Metric::requests, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                             "x-ratelimit-reset-requests", now))
    reports.add(*r);
  if (auto r = openai_report(headers, Metric::tokens, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                             "x-ratelimit-reset-tokens", now))
    reports.add(*r);
  if (auto r = anthropic_report(headers, Metric::requests, "anthropic-ratelimit-requests-limit",
                                "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset", now))
    reports.add(*r);
  // anthropic-ratelimit-tokens-* is the most restrictive of input and output; without it, the
  // tighter of the two stands for it (one tokens report: the pool counts input and output together).
  if (auto r = anthropic_report(headers, Metric::tokens, "anthropic-ratelimit-tokens-limit",
                                "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset", now)) {
    reports.add(*r);
  } else {
    const auto input = anthropic_report(headers, Metric::tokens, "anthropic-ratelimit-input-tokens-limit",
                                        "anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset", now);
    const auto output = anthropic_report(headers, Metric::tokens, "anthropic-ratelimit-output-tokens-limit",
                                         "anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset", now);
    if (input && output) reports.add(tighter(*input, *output));
    else if (input) reports.add(*input);
    else if (output) reports.add(*output);
  }
  return reports;
}

/// The wait a Retry-After header asks for: retry-after-ms (milliseconds, as OpenAI sends), then
/// Retry-After as delta-seconds or an HTTP-date (a date already passed: zero).
template <class Lookup>
std::optional<Duration> retry_after_header(const Headers<Lookup>& headers, TimePoint now) {
  if (auto ms = headers.template read<std::optional<Duration>>(
          "retry-after-ms", [](std::string_view v) { return http::parse_decimal(v, std::chrono::milliseconds{1}); }))
    return ms;
  return headers.template read<std::optional<Duration>>("retry-after", [now](std::string_view v) -> std::optional<Duration> {
    if (auto seconds = http::parse_decimal(v, std::chrono::seconds{1})) return seconds;
    if (auto date = http::parse_http_date(v, now)) return wait_until(*date, now);
    return std::nullopt;
  });
}

// ---------------------------------------------------------------------------------------------
// Reading the body

/// How long a limit's window is, as far as the answer's words say.
enum class Period : std::uint8_t { unknown, short_window, long_window };  // minute/second/hour vs day/month

/// What the body says, gathered in one pass.
struct BodySignals {
  // Words of the free text (or of a JSON body's message and code fields).
  bool quota = false;             // "quota"
  bool rate = false;              // "rate limit", "limit exceeded", "limit reached", "too many requests", "429"
  bool size_limit = false;        // "token limit exceeded", "context limit reached": a size, unless a period is named
  bool billing = false;           // insufficient_quota, billing_hard_limit_reached, billing_not_active, "credit balance is too low"
  Period period = Period::unknown;            // the first period named
  std::optional<Metric> period_metric;        // what the first period's limit counts
  std::optional<Metric> quota_metric;         // the word before "quota" ("token quota")
  std::optional<Duration> text_wait;          // "try again in 12m19.296s", "retry in 38s", "try again in 20 seconds"
  // JSON fields.
  std::optional<Metric> type_metric;          // "type": "tokens" | "requests" (OpenAI, Groq)
  bool resource_exhausted = false;            // Google: "status": "RESOURCE_EXHAUSTED"
  bool key_invalid = false;                   // Google: "reason": "API_KEY_INVALID" (or another API_KEY_*)
  bool per_day_violation = false;             // Google QuotaFailure: a quotaId/quotaMetric per day (or month)
  Metric per_day_metric = Metric::tokens;
  bool short_violation = false;               // … per minute (or second, hour)
  std::optional<Duration> retry_delay;        // Google RetryInfo: "retryDelay": "38s"

  /// Whether the words speak of a quota or rate limit (what lets a body override its status).
  [[nodiscard]] bool says_limit() const noexcept { return quota || rate || (size_limit && period != Period::unknown); }
};

enum class Word : std::uint8_t { quota, rate, limit, billing, long_period, short_period, wait };
enum class Bound : std::uint8_t { start, word };  // start: a word (or camelCase hump) begins; word: alone, like "RPD"

struct Pattern {
  std::string_view text;  // lowercase; ' ' matches any run (possibly empty) of ' ', '_', '-'
  Word word;
  Bound bound = Bound::start;
  std::optional<Metric> metric = std::nullopt;
  bool metric_after = false;  // the metric is the next word ("daily token limit"), not the previous ("tokens per day")
};

inline constexpr Pattern patterns[] = {
    {"quota", Word::quota},
    {"rate limit", Word::rate},
    {"limit exceeded", Word::limit},
    {"limit reached", Word::limit},
    {"too many requests", Word::rate},
    {"429", Word::rate, Bound::word},
    {"insufficient quota", Word::billing},
    {"billing hard limit", Word::billing},
    {"billing not active", Word::billing},
    {"credit balance is too low", Word::billing},
    {"per day", Word::long_period},
    {"per month", Word::long_period},
    {"/ day", Word::long_period},
    {"/ month", Word::long_period},
    {"daily", Word::long_period, Bound::start, std::nullopt, true},
    {"monthly", Word::long_period, Bound::start, std::nullopt, true},
    {"rpd", Word::long_period, Bound::word, Metric::requests},
    {"tpd", Word::long_period, Bound::word, Metric::tokens},
    {"per min", Word::short_period},
    {"per sec", Word::short_period},
    {"per hour", Word::short_period},
    {"/ min", Word::short_period},
    {"/ sec", Word::short_period},
    {"/ hour", Word::short_period},
    {"hourly", Word::short_period, Bound::start, std::nullopt, true},
    {"rpm", Word::short_period, Bound::word, Metric::requests},
    {"tpm", Word::short_period, Bound::word, Metric::tokens},
    {"itpm", Word::short_period, Bound::word, Metric::tokens},
    {"otpm", Word::short_period, Bound::word, Metric::tokens},
    {"try again in", Word::wait},
    {"try again after", Word::wait},
    {"retry in", Word::wait},
    {"retry after", Word::wait},
};
inline constexpr std::size_t pattern_count = sizeof patterns / sizeof patterns[0];

// For each byte, the patterns that begin with it (lowercase), so the scan tries only those.
struct FirstByteIndex {
  std::array<std::array<std::uint8_t, 8>, 256> ids{};
  std::array<std::uint8_t, 256> count{};
};
inline constexpr FirstByteIndex first_byte_index = [] {
  FirstByteIndex index;
  for (std::size_t p = 0; p < pattern_count; ++p) {
    const auto first = static_cast<unsigned char>(patterns[p].text[0]);
    index.ids[first][index.count[first]++] = static_cast<std::uint8_t>(p);
    if (first >= 'a' && first <= 'z') {
      const auto upper = static_cast<unsigned char>(first - ('a' - 'A'));
      index.ids[upper][index.count[upper]++] = static_cast<std::uint8_t>(p);
    }
  }
  return index;
}();

[[nodiscard]] constexpr bool is_separator(char c) noexcept { return c == ' ' || c == '_' || c == '-'; }
[[nodiscard]] constexpr bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
[[nodiscard]] constexpr bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }

// Where `pattern` matching at text[pos] ends, or 0 when it does not match.
[[nodiscard]] constexpr std::size_t match_end(std::string_view text, std::size_t pos, std::string_view pattern) noexcept {
  std::size_t i = pos;
  for (const char p : pattern) {
    if (p == ' ') {
      while (i < text.size() && is_separator(text[i])) ++i;
      continue;
    }
    if (i >= text.size() || http::to_lower(text[i]) != p) return 0;
    ++i;
  }
  return i;
}

[[nodiscard]] constexpr std::optional<Metric> metric_of_word(std::string_view word) noexcept {
  if (http::istarts_with(word, "token")) return Metric::tokens;
  if (http::istarts_with(word, "request") || http::istarts_with(word, "call") || http::istarts_with(word, "quer"))
    return Metric::requests;
  if (http::istarts_with(word, "char")) return Metric::characters;
  if (http::istarts_with(word, "unit")) return Metric::units;
  return std::nullopt;
}

// Words that make "limit exceeded" a size: "token limit exceeded", "context length limit reached".
[[nodiscard]] constexpr bool names_size(std::string_view word) noexcept {
  for (const std::string_view stem : {"token", "context", "length", "size", "input", "output", "payload", "prompt", "body", "char"})
    if (http::istarts_with(word, stem)) return true;
  return false;
}

// The word ending just before `end` ("tokens" in "tokens per day", "Requests" in
// "GenerateRequestsPerDay"), skipping up to three separators or slashes.
[[nodiscard]] constexpr std::string_view word_before(std::string_view text, std::size_t end) noexcept {
  for (int skipped = 0; end > 0 && skipped < 3 && (is_separator(text[end - 1]) || text[end - 1] == '/'); ++skipped) --end;
  std::size_t begin = end;
  while (begin > 0 && http::is_alpha(text[begin - 1])) {
    --begin;
    if (is_upper(text[begin])) break;  // the start of a camelCase word
  }
  return text.substr(begin, end - begin);
}

// The word starting at or just after `begin` ("token" in "daily token limit", "Token" in "dailyTokenLimit").
[[nodiscard]] constexpr std::string_view word_after(std::string_view text, std::size_t begin) noexcept {
  for (int skipped = 0; begin < text.size() && skipped < 3 && is_separator(text[begin]); ++skipped) ++begin;
  std::size_t end = begin;
  while (end < text.size() && http::is_alpha(text[end])) {
    ++end;
    if (end < text.size() && is_upper(text[end]) && is_lower(text[end - 1])) break;
  }
  return text.substr(begin, end - begin);
}

// A wait written after "try again in": a Go duration ("12m19.296s", "7.66s") or a number and a
// unit word ("20 seconds", "1 minute", "500 ms").
[[nodiscard]] constexpr std::optional<Duration> wait_phrase(std::string_view text) noexcept {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (const auto go = http::parse_go_duration_prefix(text)) return go->value;
  if (const auto worded = http::parse_worded_duration_prefix(text)) return worded->value;
  return std::nullopt;
}

/// Scans free text (a message, a code, a whole non-JSON body) for the words that matter, adding
/// to `signals`: the first period named wins, later ones do not replace it. URLs are skipped (a
/// link to ".../docs/rate-limits" says nothing about this answer). O(|text|).
constexpr void scan_text(std::string_view text, BodySignals& signals) noexcept {
  const std::size_t n = text.size();
  std::size_t pos = 0;
  while (pos < n) {
    const char c = text[pos];
    if ((c == 'h' || c == 'H') && (http::istarts_with(text.substr(pos), "http://") || http::istarts_with(text.substr(pos), "https:"))) {
      while (pos < n && text[pos] != ' ' && text[pos] != '"' && text[pos] != '\'' && text[pos] != '<' && text[pos] != '>' &&
             text[pos] != '\n' && text[pos] != '\t' && text[pos] != ')')
        ++pos;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    const std::size_t candidates = first_byte_index.count[byte];
    if (candidates == 0) {
      ++pos;
      continue;
    }
    const bool word_start = pos == 0 || !http::is_alpha(text[pos - 1]) || (is_upper(c) && is_lower(text[pos - 1]));
    const bool alone_start = pos == 0 || !http::is_alnum(text[pos - 1]);
    std::size_t advance = 1;
    for (std::size_t k = 0; k < candidates; ++k) {
      const Pattern& pattern = patterns[first_byte_index.ids[byte][k]];
      if (pattern.bound == Bound::start && http::is_alpha(c) && !word_start) continue;
      if (pattern.bound == Bound::word && !alone_start) continue;
      const std::size_t end = match_end(text, pos, pattern.text);
      if (end == 0) continue;
      if (pattern.bound == Bound::word && end < n && http::is_alnum(text[end])) continue;
      switch (pattern.word) {
        case Word::quota:
          signals.quota = true;
          if (!signals.quota_metric) signals.quota_metric = metric_of_word(word_before(text, pos));
          break;
        case Word::rate: signals.rate = true; break;
        case Word::limit:
          // "Input token limit exceeded" on a 400 is a request too large, not a quota.
          if (names_size(word_before(text, pos))) signals.size_limit = true;
          else signals.rate = true;
          break;
        case Word::billing: signals.billing = true; break;
        case Word::long_period:
        case Word::short_period: {
          const Period period = pattern.word == Word::long_period ? Period::long_window : Period::short_window;
          if (signals.period == Period::unknown) signals.period = period;
          if (signals.period == period && !signals.period_metric) {
            signals.period_metric = pattern.metric ? pattern.metric
                                    : pattern.metric_after ? metric_of_word(word_after(text, end))
                                                           : metric_of_word(word_before(text, pos));
          }
          break;
        }
        case Word::wait:
          if (!signals.text_wait) signals.text_wait = wait_phrase(text.substr(end));
          break;
      }
      advance = end - pos;
      break;
    }
    pos += advance;
  }
}

// A Google QuotaFailure violation's quotaId or quotaMetric:
// "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "GenerateContentInputTokensPerModelPerMinute-FreeTier",
// "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count".
constexpr void read_violation(std::string_view id, BodySignals& signals) noexcept {
  BodySignals words;
  scan_text(id, words);
  const Metric metric = http::icontains(id, "token") ? Metric::tokens : Metric::requests;
  if (words.period == Period::long_window) {
    // Of several spent daily quotas, requests first: a spent request quota stops every call.
    if (!signals.per_day_violation || metric == Metric::requests) signals.per_day_metric = metric;
    signals.per_day_violation = true;
  } else if (words.period == Period::short_window) {
    signals.short_violation = true;
  }
}

// Keys whose string value is prose to scan, and keys whose value is a code to scan.
[[nodiscard]] constexpr bool is_text_key(std::string_view key) noexcept {
  return key == "message" || key == "msg" || key == "detail" || key == "error" || key == "error_message" ||
         key == "errorMessage" || key == "error_description";
}
[[nodiscard]] constexpr bool is_code_key(std::string_view key) noexcept {
  return key == "code" || key == "type" || key == "status" || key == "reason" || key == "error_code" ||
         key == "errorCode" || key == "error_type";
}

/// Everything the body says. A JSON body (first non-space byte '{' or '[') is read field by field:
/// only message and code fields are scanned for words, so an echoed prompt ("input": …) cannot
/// pass for the provider's words; a JSON body with none of those fields, and any other body, is
/// scanned as text. Only the first max_scanned_body bytes are read.
[[nodiscard]] constexpr BodySignals read_body(std::string_view body) noexcept {
  BodySignals signals;
  if (body.size() > max_scanned_body) body = body.substr(0, max_scanned_body);
  std::size_t first = 0;
  while (first < body.size() && (body[first] == ' ' || body[first] == '\t' || body[first] == '\n' || body[first] == '\r')) ++first;
  bool known_field = false;
  if (first < body.size() && (body[first] == '{' || body[first] == '[')) {
    http::for_each_json_field(body.substr(first), [&](std::string_view key, std::string_view value, bool is_string) noexcept {
      if (is_text_key(key)) {
        known_field = true;
        if (is_string) scan_text(value, signals);
      } else if (is_code_key(key)) {
        known_field = true;
        scan_text(value, signals);
        if (key == "status" && value == "RESOURCE_EXHAUSTED") signals.resource_exhausted = true;
        if (key == "reason" && value.starts_with("API_KEY_")) signals.key_invalid = true;
        if (key == "type" && is_string) {
          if (http::iequals(value, "tokens")) signals.type_metric = Metric::tokens;
          else if (http::iequals(value, "requests")) signals.type_metric = Metric::requests;
        }
      } else if (key == "quotaId" || key == "quotaMetric") {
        known_field = true;
        read_violation(value, signals);
      } else if (key == "retryDelay") {
        known_field = true;
        if (!signals.retry_delay) signals.retry_delay = http::parse_go_duration(value);
      }
      return true;
    });
  }
  if (!known_field) scan_text(body, signals);
  return signals;
}

// ---------------------------------------------------------------------------------------------
// The decision

/// The first of the hints that says how long to wait.
[[nodiscard]] constexpr Duration first_wait(std::initializer_list<std::optional<Duration>> hints) noexcept {
  for (const auto& hint : hints)
    if (hint) return *hint;
  return Duration::zero();
}

/// The longest wait until a reported limit with nothing left resets (a 429 that says nothing
/// else waits for the exhausted limit).
[[nodiscard]] constexpr std::optional<Duration> exhausted_reset(const Reports& reports, TimePoint now) noexcept {
  std::optional<Duration> longest;
  for (std::size_t i = 0; i < reports.count; ++i) {
    const ProviderRemaining& report = reports.items[i];
    if (report.remaining != 0 || report.resets_at == TimePoint{}) continue;
    const auto wait = wait_until(report.resets_at, now);
    if (wait && (!longest || *wait > *longest)) longest = wait;
  }
  return longest;
}

template <class Lookup>
Outcome decide(int status, const Headers<Lookup>& headers, std::string_view body, TimePoint now, const Reports& reports) {
  const Outcome by_status = classify_status(status);
  // Statuses whose meaning no body changes.
  if (status < 400 || status == 402 || status == 404 || status == 408 || status == 413) return by_status;

  const BodySignals body_says = read_body(body);
  if (body_says.billing) return Outcome::quota_exhausted(Metric::spend, TimePoint::max());
  if (body_says.key_invalid && status < 500 && status != 429) return Outcome::auth_failed();

  const std::optional<Duration> header_wait = retry_after_header(headers, now);

  // Google's RESOURCE_EXHAUSTED (Gemini, Vertex AI): a daily quota violation marks the day spent.
  // Its retryDelay is the hint of the per-minute bucket and is not taken as the day's end.
  const bool google_quota = body_says.per_day_violation || body_says.short_violation;
  if (body_says.resource_exhausted || (status == 429 && google_quota)) {
    const bool daily = google_quota ? body_says.per_day_violation : body_says.period == Period::long_window;
    if (daily) {
      const Metric metric = google_quota ? body_says.per_day_metric : body_says.period_metric.value_or(Metric::requests);
      return Outcome::quota_exhausted(metric);
    }
    return Outcome::rate_limited(first_wait({body_says.retry_delay, header_wait, body_says.text_wait, exhausted_reset(reports, now)}));
  }

  // Words: on a 429, or on another status when they speak of a limit (a 403 "quota exceeded" is a
  // quota, not a bad credential).
  if (status == 429 || body_says.says_limit()) {
    const auto metric = [&](std::optional<Metric> named) {
      return named ? *named : body_says.type_metric.value_or(Metric::requests);
    };
    if (body_says.period == Period::long_window) {
      // A per-day (or per-month) quota. Only a time the message itself gives ("Please try again
      // in 12m19.296s") bounds it; a generic Retry-After does not end the day's quota.
      const TimePoint until = body_says.text_wait ? after(now, *body_says.text_wait) : TimePoint{};
      return Outcome::quota_exhausted(metric(body_says.period_metric), until);
    }
    if (body_says.period == Period::short_window)
      return Outcome::rate_limited(first_wait({header_wait, body_says.text_wait, exhausted_reset(reports, now)}));
    if (body_says.quota) {
      const auto wait = header_wait ? header_wait : body_says.text_wait;
      return Outcome::quota_exhausted(metric(body_says.quota_metric), wait ? after(now, *wait) : TimePoint{});
    }
    return Outcome::rate_limited(first_wait({header_wait, body_says.text_wait, exhausted_reset(reports, now)}));
  }
  return by_status;
}

template <class Lookup>
Outcome classify_answer(int status, const Lookup& lookup, std::string_view body, TimePoint now) noexcept {
  if (status < 200 || status > 599) return classify_status(status);  // no answer: nothing to read
  try {
    const Headers<Lookup> headers{lookup};
    const Reports reports = read_reports(headers, now);
    Outcome outcome = decide(status, headers, body, now, reports);
    for (std::size_t i = 0; i < reports.count; ++i) outcome = outcome.with_remaining(reports.items[i]);
    return outcome.with_status(status);
  } catch (...) {
    // Only a user's header lookup can throw (e.g. allocating); the status still means something.
    return classify_status(status);
  }
}

}  // namespace detail::answer

// ---------------------------------------------------------------------------------------------
// classify

/// What a provider's answer means for the key that made the call. `headers` is a HeaderLookup
/// (called with lowercase names; it must compare case-insensitively) or a HeaderMap such as
/// `httplib::Headers`; `now` turns retry dates and reset durations into time points.
///
/// Reads, in this order (docs/classify.md has the details and each provider's shapes):
///  1. no answer (status < 200 or > 599) → transient; 2xx → success; 3xx → bad_request;
///     402 → quota_exhausted(spend, TimePoint::max()); 404, 413 → bad_request; 408 → transient.
///  2. billing in the body (OpenAI `insufficient_quota`, Anthropic "credit balance is too low")
///     → quota_exhausted(spend, TimePoint::max()); Google `API_KEY_INVALID` → auth_failed.
///  3. Google `RESOURCE_EXHAUSTED`: a per-day quotaId → quota_exhausted(metric) (the day's window);
///     otherwise rate_limited(retryDelay).
///  4. on a 429, or any other status whose body speaks of a limit ("quota", "rate limit",
///     "limit exceeded", "limit reached", "too many requests", "429"): a per-day/month limit →
///     quota_exhausted(metric, now + the message's "try again in", or {}); per minute/second/hour
///     → rate_limited(Retry-After, else the message's time, else the exhausted limit's reset);
///     "quota" → quota_exhausted(metric, now + Retry-After, or {}); else rate_limited.
///  5. the status: 401/403 → auth_failed, 429 → rate_limited, 5xx → transient, 4xx → bad_request.
/// The status is recorded (`Outcome::status`) and the rate-limit headers — `x-ratelimit-*`
/// (OpenAI, Groq), `anthropic-ratelimit-*` — are attached as `ProviderRemaining` reports, on
/// every outcome, resets as `now + duration` or the RFC 3339 time.
///
/// Never throws: malformed or hostile input (garbage, truncated JSON, NUL bytes, non-UTF-8, huge
/// bodies) degrades to what the status means; an exception from the header lookup is caught.
/// Allocates nothing (unless the lookup does). Reads at most the first 64 KiB of the body;
/// O(body + headers looked up). Thread-safe: a pure function of its arguments.
template <class Headers>
[[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body, TimePoint now) noexcept {
  static_assert(HeaderLookup<Headers> || HeaderMap<Headers>,
                "kp::classify: headers must be a callable std::string_view -> std::optional<std::string_view> "
                "(see kp::HeaderLookup) or a map of header names to values (see kp::HeaderMap), e.g. httplib::Headers; "
                "pass kp::no_headers when there are none");
  if constexpr (HeaderLookup<Headers>) {
    return detail::answer::classify_answer(status, headers, body, now);
  } else if constexpr (HeaderMap<Headers>) {
    return detail::answer::classify_answer(status, MapHeaders<Headers>{headers}, body, now);
  } else {
    return classify_status(status);
  }
}

/// classify at the current UTC time (`std::chrono::system_clock`).
template <class Headers>
[[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body) noexcept {
  return classify(status, headers, body, std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()));
}

}  // namespace keypool
