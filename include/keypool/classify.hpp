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
#include <string>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include <keypool/detail/http_parse.hpp>
#include <keypool/dialect.hpp>
#include <keypool/detail/provider_dialects.hpp>
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

// ---------------------------------------------------------------------------------------------
// Walking the tables of dialect:: row by row, unrolled at compile time: each row's names are then
// constants, looked up and compared as fast as the literals of a hand-written chain, and with
// no_headers the header walk folds away (a loop over the rows would compare through memcmp and
// look every name up at run time).

/// Calls `visit(std::integral_constant<std::size_t, I>{})` for I = 0, 1, … N - 1 until one
/// returns true; whether one did.
template <std::size_t N, class Visit>
constexpr bool any_row(Visit&& visit) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (visit(std::integral_constant<std::size_t, I>{}) || ...);
  }(std::make_index_sequence<N>{});
}

/// Calls `visit(std::integral_constant<std::size_t, I>{})` for I = 0, 1, … N - 1.
template <std::size_t N, class Visit>
constexpr void for_each_row(Visit&& visit) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (visit(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<N>{});
}

// ---------------------------------------------------------------------------------------------
// Rate-limit and retry headers, as the tables of dialect:: name them

/// A reset that names a time (RFC 3339, seconds or milliseconds since 1970), or nullopt when
/// `text` is not one or the time does not fit a TimePoint.
[[nodiscard]] constexpr std::optional<TimePoint> reset_time(std::string_view text, dialect::ResetFormat format) noexcept {
  constexpr auto max_ns = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max());
  const auto since_epoch = [&](std::uint64_t ns_per_unit) -> std::optional<TimePoint> {
    const auto count = http::parse_uint(text);
    if (!count || *count > max_ns / ns_per_unit) return std::nullopt;
    return TimePoint{Duration{static_cast<Duration::rep>(*count * ns_per_unit)}};
  };
  switch (format) {
    case dialect::ResetFormat::rfc3339: return http::parse_rfc3339(text);
    case dialect::ResetFormat::unix_seconds: return since_epoch(1'000'000'000);
    case dialect::ResetFormat::unix_milliseconds: return since_epoch(1'000'000);
    case dialect::ResetFormat::go_duration:
    case dialect::ResetFormat::seconds: break;
  }
  return std::nullopt;
}

/// A reset that names a wait (a Go duration, decimal seconds), or nullopt. A Go-duration family's
/// bare decimal seconds are accepted; an epoch timestamp there, being further than max_wait, is not.
[[nodiscard]] constexpr std::optional<Duration> reset_wait(std::string_view text, dialect::ResetFormat format) noexcept {
  switch (format) {
    case dialect::ResetFormat::go_duration:
      if (auto wait = http::parse_go_duration(text)) return wait;
      return http::parse_decimal(text, std::chrono::seconds{1});
    case dialect::ResetFormat::seconds: return http::parse_decimal(text, std::chrono::seconds{1});
    case dialect::ResetFormat::rfc3339:
    case dialect::ResetFormat::unix_seconds:
    case dialect::ResetFormat::unix_milliseconds: break;
  }
  return std::nullopt;
}

/// One limit's figures, read from the headers `names` gives in `format`: nullopt when its
/// remaining count is absent or malformed, or when its reset time has already passed (that
/// window is over: the count is stale). A reset further than max_wait, or of a row without a
/// reset header, is left unknown.
template <class Lookup>
std::optional<ProviderRemaining> read_limit(const Headers<Lookup>& headers, const dialect::LimitHeaders& names,
                                            dialect::ResetFormat format, TimePoint now) {
  const auto remaining = headers.count(names.remaining);
  if (!remaining) return std::nullopt;
  ProviderRemaining report{.metric = names.metric, .remaining = *remaining, .limit = headers.count(names.limit).value_or(0)};
  if (names.reset.empty()) return report;  // the provider sends no reset for this figure (Mistral)
  if (dialect::names_a_time(format)) {
    const auto reset = headers.template read<std::optional<TimePoint>>(names.reset, [format](std::string_view v) { return reset_time(v, format); });
    if (reset) {
      const auto wait = wait_until(*reset, now);
      if (wait && *wait == Duration::zero()) return std::nullopt;
      if (wait) report.resets_at = *reset;
    }
  } else {
    const auto reset = headers.template read<std::optional<Duration>>(names.reset, [format](std::string_view v) { return reset_wait(v, format); });
    if (reset) report.resets_at = after(now, *reset);
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

/// Row F of dialect::header_families, as read_family takes a family: `value` is the row.
template <std::size_t F>
struct HeaderFamilyRow {
  static constexpr const dialect::HeaderFamily& value = dialect::header_families[F];
};

/// Where read_family keeps the tightest share of each metric: slot `of_metric[m] - 1`, none for
/// a metric without shares (0).
struct ShareSlots {
  std::array<std::size_t, metric_count> of_metric{};
  std::size_t count = 0;
};
[[nodiscard]] constexpr ShareSlots share_slots(const dialect::HeaderFamily& family) noexcept {
  ShareSlots slots;
  for (const dialect::LimitHeaders& names : family.limits) {
    std::size_t& slot = slots.of_metric[static_cast<std::size_t>(names.metric)];
    if (names.part == dialect::Part::share && slot == 0) slot = ++slots.count;
  }
  return slots;
}

/// Adds to `reports` what the header family `Family::value` (a constexpr dialect::HeaderFamily)
/// reports: its whole figures in table order, then, for each metric without one, the tighter of
/// its shares (see dialect::Part). With `windows`, each figure carries its row's window; without,
/// Window::unknown.
template <class Family, class Lookup>
void read_family(const Headers<Lookup>& headers, TimePoint now, Reports& reports, bool windows = false) {
  constexpr const dialect::HeaderFamily& family = Family::value;
  constexpr ShareSlots slots = share_slots(family);
  std::array<bool, metric_count> whole_reported{};
  std::array<std::optional<ProviderRemaining>, slots.count> tightest_share{};
  for_each_row<family.limits.size()>([&](auto row) {
    constexpr const dialect::LimitHeaders& names = Family::value.limits[decltype(row)::value];
    constexpr auto metric = static_cast<std::size_t>(names.metric);
    if (names.part == dialect::Part::share && whole_reported[metric]) return;
    auto report = read_limit(headers, names, Family::value.reset_format, now);
    if (!report) return;
    if (windows) report->window = names.window;
    if constexpr (names.part == dialect::Part::whole) {
      reports.add(*report);
      whole_reported[metric] = true;
    } else {
      std::optional<ProviderRemaining>& tightest = tightest_share[slots.of_metric[metric] - 1];
      tightest = tightest ? tighter(*tightest, *report) : *report;
    }
  });
  for_each_row<metric_count>([&](auto row) {
    constexpr std::size_t metric = decltype(row)::value;
    if constexpr (slots.of_metric[metric] != 0) {
      const std::optional<ProviderRemaining>& tightest = tightest_share[slots.of_metric[metric] - 1];
      if (tightest && !whole_reported[metric]) reports.add(*tightest);
    }
  });
}

/// What the header families `reading`'s dialect reads report, in table order.
template <class Lookup>
Reports read_reports(const Headers<Lookup>& headers, TimePoint now, const dialect::ProviderReading& reading) {
  Reports reports;
  for_each_row<std::size(dialect::header_families)>([&](auto family) {
    using Row = HeaderFamilyRow<decltype(family)::value>;
    if (dialect::reads(Row::value, reading.dialect)) read_family<Row>(headers, now, reports, reading.windows);
  });
  return reports;
}

/// The wait one retry header's value asks for (an HTTP-date already passed: zero), or nullopt.
[[nodiscard]] constexpr std::optional<Duration> retry_wait(std::string_view text, dialect::RetryFormat format, TimePoint now) noexcept {
  switch (format) {
    case dialect::RetryFormat::milliseconds: return http::parse_decimal(text, std::chrono::milliseconds{1});
    case dialect::RetryFormat::seconds_or_http_date:
      if (auto seconds = http::parse_decimal(text, std::chrono::seconds{1})) return seconds;
      if (auto date = http::parse_http_date(text, now)) return wait_until(*date, now);
      return std::nullopt;
  }
  return std::nullopt;
}

/// The wait the retry headers ask for: the first of dialect::retry_headers with a valid value.
template <class Lookup>
std::optional<Duration> retry_after_header(const Headers<Lookup>& headers, TimePoint now) {
  std::optional<Duration> wait;
  any_row<std::size(dialect::retry_headers)>([&](auto row) {
    constexpr const dialect::RetryHeader& header = dialect::retry_headers[decltype(row)::value];
    constexpr dialect::RetryFormat format = header.format;
    wait = headers.template read<std::optional<Duration>>(header.name, [now](std::string_view v) { return retry_wait(v, format, now); });
    return wait.has_value();
  });
  return wait;
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
  // JSON fields (dialect::BodyDialect).
  std::optional<Metric> code_metric;          // a code naming the metric: "type": "tokens" | "requests" (OpenAI, Groq)
  bool limit_exhausted_code = false;          // a code saying a limit is exhausted: "status": "RESOURCE_EXHAUSTED" (Google)
  bool key_refused = false;                   // a code refusing the credential: "reason": "API_KEY_INVALID" (Google)
  bool per_day_violation = false;             // a quota id per day (or month): Google's QuotaFailure quotaId/quotaMetric
  Metric per_day_metric = Metric::tokens;
  bool short_violation = false;               // … per minute (or second, hour)
  std::optional<Duration> retry_delay;        // a retry-delay field: Google's RetryInfo "retryDelay": "38s"

  /// Whether the words speak of a quota or rate limit (what lets a body override its status).
  [[nodiscard]] bool says_limit() const noexcept { return quota || rate || (size_limit && period != Period::unknown); }
};

using dialect::Bound;
using dialect::Word;
using dialect::WordPattern;

/// How many words the dialects look for, all together.
inline constexpr std::size_t word_count = [] {
  std::size_t count = 0;
  for (const dialect::BodyDialect& body_dialect : dialect::body_dialects) count += body_dialect.words.size();
  return count;
}();

/// The words of every dialect, in table order: what scan_text looks for in any text.
inline constexpr std::array<WordPattern, word_count> words = [] {
  std::array<WordPattern, word_count> all{};
  std::size_t next = 0;
  for (const dialect::BodyDialect& body_dialect : dialect::body_dialects)
    for (const WordPattern& pattern : body_dialect.words) all[next++] = pattern;
  return all;
}();

// For each byte, the words that begin with it (either case), so the scan tries only those.
struct FirstByteIndex {
  static constexpr std::size_t capacity = 8;
  std::array<std::array<std::uint8_t, capacity>, 256> ids{};
  std::array<std::uint8_t, 256> count{};
  bool overflowed = false;
  constexpr void add(unsigned char byte, std::size_t word) noexcept {
    if (count[byte] == capacity) {
      overflowed = true;
      return;
    }
    ids[byte][count[byte]++] = static_cast<std::uint8_t>(word);
  }
};
static_assert(word_count <= 256, "dialect::body_dialects: more than 256 words; FirstByteIndex numbers them in a byte");
inline constexpr FirstByteIndex first_byte_index = [] {
  FirstByteIndex index;
  for (std::size_t w = 0; w < word_count; ++w) {
    const auto first = static_cast<unsigned char>(words[w].text[0]);
    index.add(first, w);
    if (first >= 'a' && first <= 'z') index.add(static_cast<unsigned char>(first - ('a' - 'A')), w);
  }
  return index;
}();
static_assert(!first_byte_index.overflowed,
              "dialect::body_dialects: more words than FirstByteIndex::capacity begin with one letter; raise the capacity");

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

// No word matches where another one begins, so the order of the tables never decides how a text
// is read, and a new row cannot change what an existing one finds.
[[nodiscard]] constexpr bool words_are_unambiguous() noexcept {
  for (std::size_t i = 0; i < word_count; ++i)
    for (std::size_t j = 0; j < word_count; ++j)
      if (i != j && match_end(words[j].text, 0, words[i].text) != 0) return false;
  return true;
}
static_assert(words_are_unambiguous(),
              "dialect::body_dialects: one word pattern matches the start of another (or appears twice): merge them");

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
      const WordPattern& pattern = words[first_byte_index.ids[byte][k]];
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

// ---------------------------------------------------------------------------------------------
// The dialects' JSON fields, codes and quota ids, flattened at compile time into one array each
// and walked by unrolled code (any_row), like the header families.

/// `text == name` for a non-empty `name` known at compile time: the lengths, the first bytes,
/// then the rest.
[[nodiscard]] constexpr bool same_text(std::string_view text, std::string_view name) noexcept {
  return text.size() == name.size() && text.front() == name.front() &&
         std::char_traits<char>::compare(text.data(), name.data(), name.size()) == 0;
}

/// What a JSON key is to the dialects.
enum class FieldRole : std::uint8_t { other, message, code, quota_id, retry_delay };

/// A JSON key some dialect names: its role, and the dialect (its index in body_dialects).
struct FieldName {
  std::string_view key;
  FieldRole role = FieldRole::other;
  std::size_t dialect = 0;
};

/// Every dialect's JSON keys, dialect by dialect; of a key named twice, the first counts.
inline constexpr std::size_t field_name_count = [] {
  std::size_t count = 0;
  for (const dialect::BodyDialect& body_dialect : dialect::body_dialects)
    count += body_dialect.message_fields.size() + body_dialect.code_fields.size() + body_dialect.quota_id_fields.size() +
             body_dialect.retry_delay_fields.size();
  return count;
}();
inline constexpr std::array<FieldName, field_name_count> field_names = [] {
  std::array<FieldName, field_name_count> all{};
  std::size_t next = 0;
  for (std::size_t d = 0; d < std::size(dialect::body_dialects); ++d) {
    const dialect::BodyDialect& body_dialect = dialect::body_dialects[d];
    for (const std::string_view key : body_dialect.message_fields) all[next++] = {key, FieldRole::message, d};
    for (const std::string_view key : body_dialect.code_fields) all[next++] = {key, FieldRole::code, d};
    for (const std::string_view key : body_dialect.quota_id_fields) all[next++] = {key, FieldRole::quota_id, d};
    for (const std::string_view key : body_dialect.retry_delay_fields) all[next++] = {key, FieldRole::retry_delay, d};
  }
  return all;
}();

/// What `key` is to the dialects (role `other` when none names it).
[[nodiscard]] constexpr FieldName field_of(std::string_view key) noexcept {
  FieldName found{key};
  any_row<field_name_count>([&](auto row) {
    constexpr FieldName name = field_names[decltype(row)::value];
    if (!same_text(key, name.key)) return false;
    found = name;
    return true;
  });
  return found;
}

/// Every dialect's code values, in table order.
inline constexpr std::size_t code_value_count = [] {
  std::size_t count = 0;
  for (const dialect::BodyDialect& body_dialect : dialect::body_dialects) count += body_dialect.codes.size();
  return count;
}();
inline constexpr std::array<dialect::CodeValue, code_value_count> code_values = [] {
  std::array<dialect::CodeValue, code_value_count> all{};
  std::size_t next = 0;
  for (const dialect::BodyDialect& body_dialect : dialect::body_dialects)
    for (const dialect::CodeValue& code : body_dialect.codes) all[next++] = code;
  return all;
}();

[[nodiscard]] constexpr bool matches(const dialect::CodeValue& code, std::string_view value) noexcept {
  switch (code.match) {
    case dialect::Match::exact: return same_text(value, code.value);
    case dialect::Match::prefix: return value.size() >= code.value.size() && same_text(value.substr(0, code.value.size()), code.value);
    case dialect::Match::ignoring_case: return http::iequals(value, code.value);
  }
  return false;
}

// What the dialects' code values say about the code field `key`: every row that matches applies.
constexpr void read_code(std::string_view key, std::string_view value, bool is_string, BodySignals& signals) noexcept {
  any_row<code_value_count>([&](auto row) {
    constexpr dialect::CodeValue code = code_values[decltype(row)::value];
    if (!same_text(key, code.field) || (code.strings_only && !is_string) || !matches(code, value)) return false;
    switch (code.meaning) {
      case dialect::CodeMeaning::limit_exhausted: signals.limit_exhausted_code = true; break;
      case dialect::CodeMeaning::key_refused: signals.key_refused = true; break;
      case dialect::CodeMeaning::counts_tokens: signals.code_metric = Metric::tokens; break;
      case dialect::CodeMeaning::counts_requests: signals.code_metric = Metric::requests; break;
    }
    return false;
  });
}

/// A dialect's quota-id metric, with the dialect (its index in body_dialects).
struct QuotaIdMetricRow {
  std::size_t dialect = 0;
  dialect::QuotaIdMetric named{};
};

/// Every dialect's quota-id metrics, in table order.
inline constexpr std::size_t quota_id_metric_count = [] {
  std::size_t count = 0;
  for (const dialect::BodyDialect& body_dialect : dialect::body_dialects) count += body_dialect.quota_id_metrics.size();
  return count;
}();
inline constexpr std::array<QuotaIdMetricRow, quota_id_metric_count> quota_id_metrics = [] {
  std::array<QuotaIdMetricRow, quota_id_metric_count> all{};
  std::size_t next = 0;
  for (std::size_t d = 0; d < std::size(dialect::body_dialects); ++d)
    for (const dialect::QuotaIdMetric& named : dialect::body_dialects[d].quota_id_metrics) all[next++] = {d, named};
  return all;
}();

// A quota id (Google's QuotaFailure quotaId or quotaMetric:
// "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "GenerateContentInputTokensPerModelPerMinute-FreeTier",
// "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count") of the dialect
// `dialect_index`: its period, by the words, and its metric, by the dialect's quota-id metrics
// (else requests).
constexpr void read_violation(std::string_view id, std::size_t dialect_index, BodySignals& signals) noexcept {
  BodySignals id_says;
  scan_text(id, id_says);
  Metric metric = Metric::requests;
  any_row<quota_id_metric_count>([&](auto row) {
    constexpr QuotaIdMetricRow candidate = quota_id_metrics[decltype(row)::value];
    if (candidate.dialect != dialect_index || !http::icontains(id, candidate.named.text)) return false;
    metric = candidate.named.metric;
    return true;
  });
  if (id_says.period == Period::long_window) {
    // Of several spent daily quotas, requests first: a spent request quota stops every call.
    if (!signals.per_day_violation || metric == Metric::requests) signals.per_day_metric = metric;
    signals.per_day_violation = true;
  } else if (id_says.period == Period::short_window) {
    signals.short_violation = true;
  }
}

/// Everything the body says. A JSON body (first non-space byte '{' or '[') is read field by field:
/// only the dialects' message and code fields are scanned for words, so an echoed prompt
/// ("input": …) cannot pass for the provider's words; a JSON body with none of the dialects'
/// fields, and any other body, is scanned as text. Only the first max_scanned_body bytes are read.
[[nodiscard]] constexpr BodySignals read_body(std::string_view body) noexcept {
  BodySignals signals;
  if (body.size() > max_scanned_body) body = body.substr(0, max_scanned_body);
  std::size_t first = 0;
  while (first < body.size() && (body[first] == ' ' || body[first] == '\t' || body[first] == '\n' || body[first] == '\r')) ++first;
  bool known_field = false;
  if (first < body.size() && (body[first] == '{' || body[first] == '[')) {
    http::for_each_json_field(body.substr(first), [&](std::string_view key, std::string_view value, bool is_string) noexcept {
      const FieldName field = field_of(key);
      switch (field.role) {
        case FieldRole::other: break;
        case FieldRole::message:
          known_field = true;
          if (is_string) scan_text(value, signals);
          break;
        case FieldRole::code:
          known_field = true;
          scan_text(value, signals);
          read_code(key, value, is_string, signals);
          break;
        case FieldRole::quota_id:
          known_field = true;
          read_violation(value, field.dialect, signals);
          break;
        case FieldRole::retry_delay:
          known_field = true;
          if (!signals.retry_delay) signals.retry_delay = http::parse_go_duration(value);
          break;
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
Outcome decide(int status, const Headers<Lookup>& headers, std::string_view body, TimePoint now, const Reports& reports,
               const dialect::ProviderReading& reading) {
  const Outcome by_status = classify_status(status);
  // Statuses whose meaning no body changes.
  if (status < 400 || status == 402 || status == 404 || status == 408 || status == 413) return by_status;

  const BodySignals body_says = read_body(body);
  if (body_says.billing) return Outcome::quota_exhausted(Metric::spend, TimePoint::max());
  if (body_says.key_refused && status < 500 && status != 429) return Outcome::auth_failed();

  const std::optional<Duration> header_wait = retry_after_header(headers, now);

  // A code saying a limit is exhausted, or a 429 naming violated quotas (Google's RESOURCE_EXHAUSTED
  // and QuotaFailure: Gemini, Vertex AI): a daily quota violation marks the day spent. The retry
  // delay is the hint of the per-minute bucket and is not taken as the day's end.
  const bool quota_violated = body_says.per_day_violation || body_says.short_violation;
  if (body_says.limit_exhausted_code || (status == 429 && quota_violated)) {
    const bool daily = quota_violated ? body_says.per_day_violation : body_says.period == Period::long_window;
    if (daily) {
      const Metric metric = quota_violated ? body_says.per_day_metric : body_says.period_metric.value_or(Metric::requests);
      return Outcome::quota_exhausted(metric);
    }
    return Outcome::rate_limited(first_wait({body_says.retry_delay, header_wait, body_says.text_wait, exhausted_reset(reports, now)}));
  }

  // Words: on a 429, or on another status when they speak of a limit (a 403 "quota exceeded" is a
  // quota, not a bad credential).
  if (status == 429 || body_says.says_limit()) {
    const auto metric = [&](std::optional<Metric> named) {
      return named ? *named : body_says.code_metric.value_or(Metric::requests);
    };
    if (body_says.period == Period::long_window) {
      // A per-day (or per-month) quota. Only a time the message itself gives ("Please try again
      // in 12m19.296s") bounds it, or the Retry-After of a provider whose daily quota frees up
      // continuously (Groq); a generic Retry-After does not end the day's quota.
      std::optional<Duration> wait = body_says.text_wait;
      if (!wait && reading.quota_wait_is_reset) wait = header_wait;
      const TimePoint until = wait ? after(now, *wait) : TimePoint{};
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
Outcome classify_answer(int status, const Lookup& lookup, std::string_view body, TimePoint now, Dialect dialect) noexcept {
  if (status < 200 || status > 599) return classify_status(status);  // no answer: nothing to read
  try {
    const dialect::ProviderReading& reading = dialect::reading_of(dialect);
    const Headers<Lookup> headers{lookup};
    const Reports reports = read_reports(headers, now, reading);
    Outcome outcome = decide(status, headers, body, now, reports, reading);
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
///     quota_exhausted(metric, now + the message's "try again in" (in the groq dialect, else
///     Retry-After), or {}); per minute/second/hour
///     → rate_limited(Retry-After, else the message's time, else the exhausted limit's reset);
///     "quota" → quota_exhausted(metric, now + Retry-After, or {}); else rate_limited.
///  5. the status: 401/403 → auth_failed, 429 → rate_limited, 5xx → transient, 4xx → bad_request.
/// The status is recorded (`Outcome::status`) and the rate-limit headers of the dialect's header
/// families — `x-ratelimit-*` (OpenAI, Groq, Cerebras, Mistral, OpenRouter), `anthropic-ratelimit-*`
/// — are attached as `ProviderRemaining` reports, on every outcome, resets as `now + duration` or
/// the time named. Which headers, codes and words each provider uses is data: the tables of
/// <keypool/detail/provider_dialects.hpp>.
///
/// `dialect` names whose answer it is (see keypool::Dialect): the header families read and the
/// window each report carries (`ProviderRemaining::window`), and whether a daily quota's
/// Retry-After is its end (Groq). The overloads without one read `dialects::generic`: every family,
/// windows unknown.
///
/// Never throws: malformed or hostile input (garbage, truncated JSON, NUL bytes, non-UTF-8, huge
/// bodies) degrades to what the status means; an exception from the header lookup is caught.
/// Allocates nothing (unless the lookup does). Reads at most the first 64 KiB of the body;
/// O(body + headers looked up). Thread-safe: a pure function of its arguments.
template <class Headers>
[[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body, TimePoint now, Dialect dialect) noexcept {
  static_assert(HeaderLookup<Headers> || HeaderMap<Headers>,
                "kp::classify: headers must be a callable std::string_view -> std::optional<std::string_view> "
                "(see kp::HeaderLookup) or a map of header names to values (see kp::HeaderMap), e.g. httplib::Headers; "
                "pass kp::no_headers when there are none");
  if constexpr (HeaderLookup<Headers>) {
    return detail::answer::classify_answer(status, headers, body, now, dialect);
  } else if constexpr (HeaderMap<Headers>) {
    return detail::answer::classify_answer(status, MapHeaders<Headers>{headers}, body, now, dialect);
  } else {
    return classify_status(status);
  }
}

/// classify in the generic dialect.
template <class Headers>
[[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body, TimePoint now) noexcept {
  return classify(status, headers, body, now, dialects::generic);
}

/// classify in `dialect` at the current UTC time (`std::chrono::system_clock`).
template <class Headers>
[[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body, Dialect dialect) noexcept {
  return classify(status, headers, body, std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()), dialect);
}

/// classify in the generic dialect at the current UTC time (`std::chrono::system_clock`).
template <class Headers>
[[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body) noexcept {
  return classify(status, headers, body, std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now()), dialects::generic);
}

}  // namespace keypool
