// What classify knows about providers, as data: the headers each provider family reports its
// rate limits in and the windows they count (header families), which dialect (keypool::Dialect)
// reads which family and how far it trusts a stated wait (provider readings), the retry headers,
// and what error bodies say (body dialects). One row per provider family; classify.hpp walks these
// tables and holds no provider's names of its own. Adding a provider is a row here and a test in
// tests/detail/provider_dialects_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>

#include <keypool/dialect.hpp>
#include <keypool/outcome.hpp>
#include <keypool/request.hpp>

namespace keypool::detail::dialect {

// Every table is a constexpr array of constexpr rows: walking them allocates nothing, and the
// static_asserts at the end of this file check at compile time what classify relies on.

// =============================================================================================
// Header families: rate-limit figures on every answer

/// How a family writes when its figures reset.
enum class ResetFormat : std::uint8_t {
  go_duration,        ///< a wait as Go prints it: "6m0s", "7.66s", "20ms"; bare decimal seconds ("60") too
  seconds,            ///< a wait in decimal seconds: "60", "1.5"
  rfc3339,            ///< a time: "2026-11-23T08:00:01Z"
  unix_seconds,       ///< a time: whole seconds since 1970, "1795420800"
  unix_milliseconds,  ///< a time: whole milliseconds since 1970, "1795420800000"
};

/// Whether a reset format names a time rather than a wait. A figure whose reset time has already
/// passed is stale (its window is over) and is not reported.
[[nodiscard]] constexpr bool names_a_time(ResetFormat format) noexcept {
  return format == ResetFormat::rfc3339 || format == ResetFormat::unix_seconds || format == ResetFormat::unix_milliseconds;
}

/// The calendar window a figure counts in, as its provider documents it (Groq's request headers
/// count a day, its token headers a minute): keypool::Window. A report carries it when the
/// dialect classify was given reads windows (see provider_readings); the generic dialect leaves
/// it unknown, and the pool then matches a report to a limit by its amount and reset.
using Window = keypool::Window;

/// How a figure combines with its family's other figures of the same metric.
enum class Part : std::uint8_t {
  whole,  ///< the metric's own figure: reported whenever its remaining count is valid
  share,  ///< a share of the metric (Anthropic's input and output tokens): read only when the
          ///< family reported no whole figure of that metric; then the tighter of the shares (the
          ///< smaller fraction left, the smaller count when a limit is unknown) is reported
};

/// The headers that report one limit: its size, what is left, when it resets. Names are lowercase
/// (classify looks headers up by lowercase name). A figure is reported when `remaining` holds a
/// valid count; a missing or malformed `limit` reads as 0 (unknown), a `reset` as unknown. An
/// empty `reset` says the provider sends none for this figure (Mistral): its reset is unknown.
struct LimitHeaders {
  Metric metric;
  std::string_view limit;
  std::string_view remaining;
  std::string_view reset;  ///< empty: no reset header
  Window window = Window::unknown;
  Part part = Part::whole;  ///< shares are listed after their family's whole figure
};

/// A provider family's rate-limit headers, and the dialects that read them (a dialect reads a
/// header name in one family at most). Of the figures of the families a dialect reads, the first
/// four are reported (Outcome::max_reports), in table order.
struct HeaderFamily {
  std::string_view name;
  std::span<const LimitHeaders> limits;
  ResetFormat reset_format;
  std::span<const Dialect> read_by{};
};

// OpenAI: requests and tokens per minute. The generic reading takes these names too, without
// their windows: Groq sends the same names for other windows. Gemini, Mistral and OpenRouter do
// not send them: their dialects do not read them.
inline constexpr LimitHeaders openai_limits[] = {
    {Metric::requests, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", Window::minute},
    {Metric::tokens, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", Window::minute},
};
inline constexpr Dialect openai_readers[] = {Dialect::generic, Dialect::openai};

// Groq: OpenAI's names, but its requests count a day (RPD) and its tokens a minute (TPM).
inline constexpr LimitHeaders groq_limits[] = {
    {Metric::requests, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", Window::day},
    {Metric::tokens, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", Window::minute},
};
inline constexpr Dialect groq_readers[] = {Dialect::groq};

// Cerebras: the window is in the names; resets in decimal seconds ("33011.382867097855").
inline constexpr LimitHeaders cerebras_limits[] = {
    {Metric::requests, "x-ratelimit-limit-requests-day", "x-ratelimit-remaining-requests-day", "x-ratelimit-reset-requests-day", Window::day},
    {Metric::tokens, "x-ratelimit-limit-tokens-minute", "x-ratelimit-remaining-tokens-minute", "x-ratelimit-reset-tokens-minute",
     Window::minute},
};
inline constexpr Dialect cerebras_readers[] = {Dialect::cerebras};

// Anthropic: per minute. The tokens figure is the most restrictive of input and output; without
// it, the two shares stand for it (the pool counts input and output tokens together).
inline constexpr LimitHeaders anthropic_limits[] = {
    {Metric::requests, "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
     "anthropic-ratelimit-requests-reset", Window::minute},
    {Metric::tokens, "anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
     Window::minute},
    {.metric = Metric::tokens,
     .limit = "anthropic-ratelimit-input-tokens-limit",
     .remaining = "anthropic-ratelimit-input-tokens-remaining",
     .reset = "anthropic-ratelimit-input-tokens-reset",
     .window = Window::minute,
     .part = Part::share},
    {.metric = Metric::tokens,
     .limit = "anthropic-ratelimit-output-tokens-limit",
     .remaining = "anthropic-ratelimit-output-tokens-remaining",
     .reset = "anthropic-ratelimit-output-tokens-reset",
     .window = Window::minute,
     .part = Part::share},
};
inline constexpr Dialect anthropic_readers[] = {Dialect::generic, Dialect::anthropic};

// Mistral (La Plateforme): the window is in the names. Requests per minute, tokens (input and
// output together) per minute and per month, on every answer; no reset headers, so the resets are
// unknown. x-ratelimit-tokens-query-cost (this call's tokens) is not a limit and is not read.
inline constexpr LimitHeaders mistral_limits[] = {
    {Metric::requests, "x-ratelimit-limit-req-minute", "x-ratelimit-remaining-req-minute", {}, Window::minute},
    {Metric::tokens, "x-ratelimit-limit-tokens-minute", "x-ratelimit-remaining-tokens-minute", {}, Window::minute},
    {Metric::tokens, "x-ratelimit-limit-tokens-month", "x-ratelimit-remaining-tokens-month", {}, Window::month},
};
// Mistral's earlier "by size" headers, still sent on some answers: tokens per minute, resetting
// in ratelimitbysize-reset (decimal seconds, "28"), and tokens per month, with no reset.
inline constexpr LimitHeaders mistral_bysize_limits[] = {
    {Metric::tokens, "x-ratelimitbysize-limit-minute", "x-ratelimitbysize-remaining-minute", "ratelimitbysize-reset", Window::minute},
    {Metric::tokens, "x-ratelimitbysize-limit-month", "x-ratelimitbysize-remaining-month", {}, Window::month},
};
inline constexpr Dialect mistral_readers[] = {Dialect::mistral};

// OpenRouter: requests, on its 429s (free models: a minute's and a day's limit). One set of
// headers serves whichever limit the answer is about, so the window is left unknown: the pool
// tells the minute's from the day's by the amount and the reset. Resets in Unix milliseconds
// ("1779321600000": midnight UTC for the day's).
inline constexpr LimitHeaders openrouter_limits[] = {
    {Metric::requests, "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"},
};
inline constexpr Dialect openrouter_readers[] = {Dialect::openrouter};

// Gemini sends no rate-limit headers: its 429 bodies name the quota spent (body dialect google).

inline constexpr HeaderFamily header_families[] = {
    {"openai", openai_limits, ResetFormat::go_duration, openai_readers},
    {"groq", groq_limits, ResetFormat::go_duration, groq_readers},
    {"cerebras", cerebras_limits, ResetFormat::seconds, cerebras_readers},
    {"anthropic", anthropic_limits, ResetFormat::rfc3339, anthropic_readers},
    {"mistral", mistral_limits, ResetFormat::seconds, mistral_readers},
    {"mistral-bysize", mistral_bysize_limits, ResetFormat::seconds, mistral_readers},
    {"openrouter", openrouter_limits, ResetFormat::unix_milliseconds, openrouter_readers},
};

// =============================================================================================
// Provider readings: what each dialect trusts

/// How a dialect reads what its families report, and its waits. Row i is Dialect(i).
struct ProviderReading {
  Dialect dialect;
  bool windows = false;  ///< reports carry their rows' windows (else Window::unknown)
  bool quota_wait_is_reset = false;  ///< on a daily quota's answer, Retry-After is when it frees up
                                     ///< (else only the message's own time is: a generic Retry-After
                                     ///< may be a retry hint, not the quota's end)
};

inline constexpr ProviderReading provider_readings[] = {
    {Dialect::generic},
    {Dialect::openai, true},
    {Dialect::groq, true, true},  // its daily limits free up continuously: Retry-After is exact
    {Dialect::cerebras, true},
    {Dialect::anthropic, true},
    {Dialect::gemini},             // no rate-limit headers: no reports
    {Dialect::mistral, true},
    {Dialect::openrouter},         // its one figure has no window of its own (see openrouter_limits)
};

/// The reading of `dialect` (generic for a value out of range).
[[nodiscard]] constexpr const ProviderReading& reading_of(Dialect dialect) noexcept {
  const auto index = static_cast<std::size_t>(dialect);
  return provider_readings[index < std::size(provider_readings) ? index : 0];
}

/// Whether `dialect` reads the header family `family`.
[[nodiscard]] constexpr bool reads(const HeaderFamily& family, Dialect dialect) noexcept {
  for (const Dialect reader : family.read_by)
    if (reader == dialect) return true;
  return false;
}

// =============================================================================================
// Retry headers: how long to wait before the next call

enum class RetryFormat : std::uint8_t {
  milliseconds,          ///< decimal milliseconds: "1812.5"
  seconds_or_http_date,  ///< RFC 9110's Retry-After: delta-seconds ("17"; a decimal point accepted,
                         ///< as OpenAI's client libraries accept it) or an HTTP-date (passed: zero)
};

struct RetryHeader {
  std::string_view name;  ///< lowercase
  RetryFormat format;
};

/// The first of these with a valid value is the answer's retry time.
inline constexpr RetryHeader retry_headers[] = {
    {"retry-after-ms", RetryFormat::milliseconds},       // OpenAI: finer than its Retry-After
    {"retry-after", RetryFormat::seconds_or_http_date},  // HTTP
};

// =============================================================================================
// Body dialects: what error bodies say

/// What a word of an error's text means.
enum class Word : std::uint8_t {
  quota,         ///< "quota": a quota, unless a period says more
  rate,          ///< "rate limit", "too many requests": a limit was hit
  limit,         ///< "limit exceeded": a limit, or a size when the word before names one ("token limit exceeded")
  billing,       ///< the account cannot pay: spend is exhausted until an operator acts
  long_period,   ///< a day or a month: a quota spent for its window
  short_period,  ///< a second, minute or hour: a rate limit
  wait,          ///< "try again in": a duration follows
};

/// Where a word may match: where a word (or a camelCase hump) starts, or only as a whole word
/// ("429" in "error 429" but not in "req_4290ab").
enum class Bound : std::uint8_t { start, word };

/// A word to look for in an error's text. Its text is lowercase and matched without regard to
/// case; a ' ' matches any run, possibly empty, of ' ', '_' and '-' ("rate limit" matches
/// "rate_limit_exceeded" and "RateLimit").
struct WordPattern {
  std::string_view text;
  Word word;
  Bound bound = Bound::start;
  std::optional<Metric> metric = std::nullopt;  ///< the metric the word itself names ("TPD": tokens)
  bool metric_after = false;  ///< the metric is the next word ("daily token limit"), not the previous ("tokens per day")
};

/// What a code field's value means.
enum class CodeMeaning : std::uint8_t {
  limit_exhausted,  ///< a quota or rate limit is exhausted, the quota ids (if any) say which
  key_refused,      ///< the credential itself is refused: auth_failed on a 4xx other than 429
  counts_tokens,    ///< the limit that was hit counts tokens (when the words name no metric)
  counts_requests,  ///< … requests
};

enum class Match : std::uint8_t {
  exact,          ///< the whole value, case-sensitive
  prefix,         ///< the value starts with it, case-sensitive
  ignoring_case,  ///< the whole value, ASCII case-insensitive
};

/// A code value that means something (beyond its words, which are scanned like any code's).
struct CodeValue {
  std::string_view field;  ///< a code field of some dialect
  std::string_view value;
  Match match;
  CodeMeaning meaning;
  bool strings_only = false;  ///< a JSON string only, not a bare token
};

/// A quota id names this metric when it contains `text` (ASCII case-insensitive).
struct QuotaIdMetric {
  std::string_view text;
  Metric metric;
};

/// A provider family's error bodies. JSON keys are matched exactly (case-sensitive); a JSON body
/// with none of any dialect's fields is scanned whole as text. The words of every dialect are
/// looked for in every text.
struct BodyDialect {
  std::string_view name;
  std::span<const std::string_view> message_fields{};  ///< whose string values are prose, scanned for words
  std::span<const std::string_view> code_fields{};     ///< whose values are codes, scanned for words and compared with `codes`
  std::span<const CodeValue> codes{};
  std::span<const std::string_view> quota_id_fields{};  ///< whose values name a violated quota: read for a period (by the words) and a metric
  std::span<const QuotaIdMetric> quota_id_metrics{};    ///< the first that a quota id contains names its metric; else requests
  std::span<const std::string_view> retry_delay_fields{};  ///< whose values are a Go duration to wait
  std::span<const WordPattern> words{};
};

// Any provider: the usual JSON error fields, and the words people write about limits.
inline constexpr std::string_view common_message_fields[] = {"message", "msg", "detail", "error",
                                                             "error_message", "errorMessage", "error_description"};
inline constexpr std::string_view common_code_fields[] = {"code", "type", "status", "reason", "error_code", "errorCode", "error_type"};
inline constexpr WordPattern common_words[] = {
    {"quota", Word::quota},
    {"rate limit", Word::rate},
    {"limit exceeded", Word::limit},
    {"limit reached", Word::limit},
    {"too many requests", Word::rate},
    {"429", Word::rate, Bound::word},
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
    {"try again in", Word::wait},
    {"try again after", Word::wait},
    {"retry in", Word::wait},
    {"retry after", Word::wait},
};

// OpenAI, and those that answer as it does (Groq): "type" names the metric of the limit hit;
// billing codes.
inline constexpr CodeValue openai_codes[] = {
    {"type", "tokens", Match::ignoring_case, CodeMeaning::counts_tokens, true},
    {"type", "requests", Match::ignoring_case, CodeMeaning::counts_requests, true},
};
inline constexpr WordPattern openai_words[] = {
    {"insufficient quota", Word::billing},  // "insufficient_quota"
    {"billing hard limit", Word::billing},  // "billing_hard_limit_reached"
    {"billing not active", Word::billing},  // "billing_not_active"
};

// Anthropic: its billing message; its input and output token limits.
inline constexpr WordPattern anthropic_words[] = {
    {"credit balance is too low", Word::billing},
    {"itpm", Word::short_period, Bound::word, Metric::tokens},
    {"otpm", Word::short_period, Bound::word, Metric::tokens},
};

// Google (Gemini, Vertex AI): google.rpc.Status with QuotaFailure, ErrorInfo and RetryInfo details.
inline constexpr CodeValue google_codes[] = {
    {"status", "RESOURCE_EXHAUSTED", Match::exact, CodeMeaning::limit_exhausted},
    {"reason", "API_KEY_", Match::prefix, CodeMeaning::key_refused},  // API_KEY_INVALID, …
};
// "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
// "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count".
inline constexpr std::string_view google_quota_id_fields[] = {"quotaId", "quotaMetric"};
inline constexpr QuotaIdMetric google_quota_id_metrics[] = {{"token", Metric::tokens}};
inline constexpr std::string_view google_retry_delay_fields[] = {"retryDelay"};  // "38s"

inline constexpr BodyDialect body_dialects[] = {
    {.name = "common", .message_fields = common_message_fields, .code_fields = common_code_fields, .words = common_words},
    {.name = "openai", .codes = openai_codes, .words = openai_words},
    {.name = "anthropic", .words = anthropic_words},
    {.name = "google",
     .codes = google_codes,
     .quota_id_fields = google_quota_id_fields,
     .quota_id_metrics = google_quota_id_metrics,
     .retry_delay_fields = google_retry_delay_fields},
};

// =============================================================================================
// What classify relies on, checked when this header compiles

namespace checks {

[[nodiscard]] constexpr bool is_lowercase_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (const char c : name)
    if (c >= 'A' && c <= 'Z') return false;
  return true;
}

[[nodiscard]] constexpr bool header_names_are_lowercase() noexcept {
  for (const HeaderFamily& family : header_families) {
    if (family.limits.empty()) return false;
    for (const LimitHeaders& limit : family.limits)
      if (!is_lowercase_name(limit.limit) || !is_lowercase_name(limit.remaining) ||
          (!limit.reset.empty() && !is_lowercase_name(limit.reset)))
        return false;
  }
  for (const RetryHeader& header : retry_headers)
    if (!is_lowercase_name(header.name)) return false;
  return true;
}

// A dialect reads each header name in one family at most (else a figure would be reported twice).
[[nodiscard]] constexpr bool each_name_read_once_per_dialect() noexcept {
  for (std::size_t d = 0; d < dialect_count; ++d) {
    const auto dialect = static_cast<Dialect>(d);
    for (std::size_t a = 0; a < std::size(header_families); ++a)
      for (std::size_t b = a + 1; b < std::size(header_families); ++b) {
        if (!reads(header_families[a], dialect) || !reads(header_families[b], dialect)) continue;
        for (const LimitHeaders& x : header_families[a].limits)
          for (const LimitHeaders& y : header_families[b].limits)
            if (x.remaining == y.remaining) return false;
      }
  }
  return true;
}

[[nodiscard]] constexpr bool readings_follow_dialects() noexcept {
  if (std::size(provider_readings) != dialect_count) return false;
  for (std::size_t d = 0; d < dialect_count; ++d)
    if (provider_readings[d].dialect != static_cast<Dialect>(d)) return false;
  return true;
}

[[nodiscard]] constexpr bool shares_follow_their_whole() noexcept {
  for (const HeaderFamily& family : header_families) {
    for (std::size_t i = 0; i < family.limits.size(); ++i) {
      if (family.limits[i].part != Part::whole) continue;
      for (std::size_t j = 0; j < i; ++j)
        if (family.limits[j].part == Part::share && family.limits[j].metric == family.limits[i].metric) return false;
    }
  }
  return true;
}

[[nodiscard]] constexpr bool field_names_are_given() noexcept {
  for (const BodyDialect& dialect : body_dialects)
    for (const std::span<const std::string_view> fields :
         {dialect.message_fields, dialect.code_fields, dialect.quota_id_fields, dialect.retry_delay_fields})
      for (const std::string_view field : fields)
        if (field.empty()) return false;
  return true;
}

[[nodiscard]] constexpr bool is_code_field(std::string_view key) noexcept {
  for (const BodyDialect& dialect : body_dialects)
    for (const std::string_view field : dialect.code_fields)
      if (field == key) return true;
  return false;
}

[[nodiscard]] constexpr bool code_values_name_code_fields() noexcept {
  for (const BodyDialect& dialect : body_dialects)
    for (const CodeValue& code : dialect.codes)
      if (!is_code_field(code.field) || code.value.empty()) return false;
  return true;
}

[[nodiscard]] constexpr bool words_are_lowercase() noexcept {
  for (const BodyDialect& dialect : body_dialects) {
    for (const WordPattern& pattern : dialect.words) {
      if (pattern.text.empty() || pattern.text.front() == ' ') return false;
      if (!is_lowercase_name(pattern.text)) return false;
    }
    for (const QuotaIdMetric& metric : dialect.quota_id_metrics)
      if (!is_lowercase_name(metric.text)) return false;
  }
  return true;
}

}  // namespace checks

static_assert(checks::header_names_are_lowercase(),
              "dialect::header_families, retry_headers: every header name must be given (a reset may be left empty), in lowercase (classify looks headers up by lowercase name)");
static_assert(checks::each_name_read_once_per_dialect(),
              "dialect::header_families: a dialect reads a header name in two families; list it in one family's read_by only");
static_assert(checks::readings_follow_dialects(),
              "dialect::provider_readings: one row per keypool::Dialect, row i for Dialect(i)");
static_assert(checks::shares_follow_their_whole(),
              "dialect::header_families: list a Part::share figure after the whole figure of its metric");
static_assert(checks::field_names_are_given(), "dialect::body_dialects: a JSON field name must not be empty");
static_assert(checks::code_values_name_code_fields(),
              "dialect::body_dialects: a CodeValue's field must be one of some dialect's code_fields, and its value not empty");
static_assert(checks::words_are_lowercase(),
              "dialect::body_dialects: word patterns and quota-id metric texts must be lowercase and not start with a space");

}  // namespace keypool::detail::dialect
