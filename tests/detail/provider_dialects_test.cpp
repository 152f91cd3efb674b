// Specification of classify's provider tables (keypool::detail::dialect): each row, shown on
// answers as its providers send them, and what a row's fields mean (reset formats, shares,
// windows). A new provider is a row in include/keypool/detail/provider_dialects.hpp and a test here.
#include <keypool/classify.hpp>
#include <keypool/detail/provider_dialects.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "support/provider_answers.hpp"

namespace {

namespace kp = keypool;
namespace answer = keypool::detail::answer;
namespace dialect = keypool::detail::dialect;
using namespace std::chrono;
using namespace std::chrono_literals;
using Kind = kp::Outcome::Kind;
using kp::Metric;
using kp::ProviderRemaining;
using kp::TimePoint;
using namespace provider_answers;

const TimePoint now{sys_days{2026y / November / 23} + 8h};  // 1795420800 s since 1970

kp::Outcome answer_to(int status, const Headers& headers, std::string_view body) { return kp::classify(status, headers, body, now); }

// The header family row named `name` (a compile error below when there is none).
constexpr std::size_t family_index(std::string_view name) {
  std::size_t index = 0;
  while (index < std::size(dialect::header_families) && dialect::header_families[index].name != name) ++index;
  return index;
}
constexpr std::size_t openai_family = family_index("openai");
constexpr std::size_t groq_family = family_index("groq");
constexpr std::size_t cerebras_family = family_index("cerebras");
constexpr std::size_t anthropic_family = family_index("anthropic");
constexpr std::size_t mistral_family = family_index("mistral");
constexpr std::size_t mistral_bysize_family = family_index("mistral-bysize");
constexpr std::size_t openrouter_family = family_index("openrouter");
static_assert(openai_family < std::size(dialect::header_families) && anthropic_family < std::size(dialect::header_families));
static_assert(groq_family < std::size(dialect::header_families) && cerebras_family < std::size(dialect::header_families));
static_assert(mistral_family < std::size(dialect::header_families) && mistral_bysize_family < std::size(dialect::header_families));
static_assert(openrouter_family < std::size(dialect::header_families));
using OpenAIFamily = answer::HeaderFamilyRow<openai_family>;
using GroqFamily = answer::HeaderFamilyRow<groq_family>;
using CerebrasFamily = answer::HeaderFamilyRow<cerebras_family>;
using AnthropicFamily = answer::HeaderFamilyRow<anthropic_family>;
using MistralFamily = answer::HeaderFamilyRow<mistral_family>;
using MistralBySizeFamily = answer::HeaderFamilyRow<mistral_bysize_family>;
using OpenRouterFamily = answer::HeaderFamilyRow<openrouter_family>;

// Mistral (La Plateforme), a chat completion's answer: the window in the names, no reset headers.
const Headers mistral_headers{
    {"mistral-correlation-id", "019c6f45-6523-7b29-a0d1-2e9d64650277"},
    {"x-kong-request-id", "019c6f45-6523-7b29-a0d1-2e9d64650277"},
    {"x-ratelimit-limit-req-minute", "60"},
    {"x-ratelimit-limit-tokens-minute", "50000"},
    {"x-ratelimit-limit-tokens-month", "4000000"},
    {"x-ratelimit-remaining-req-minute", "59"},
    {"x-ratelimit-remaining-tokens-minute", "47196"},
    {"x-ratelimit-remaining-tokens-month", "3950246"},
    {"x-ratelimit-tokens-query-cost", "2804"}};

// Mistral's earlier "by size" headers: tokens per minute (reset in seconds) and per month.
const Headers mistral_bysize_headers{
    {"ratelimitbysize-limit", "500000"},
    {"ratelimitbysize-remaining", "499900"},
    {"ratelimitbysize-reset", "28"},
    {"ratelimitbysize-query-cost", "100"},
    {"x-ratelimitbysize-limit-minute", "500000"},
    {"x-ratelimitbysize-remaining-minute", "499900"},
    {"x-ratelimitbysize-limit-month", "1000000000"},
    {"x-ratelimitbysize-remaining-month", "999899900"}};

// OpenRouter's 429 for a spent day of free-model requests: the day ends at midnight UTC, in ms.
const Headers openrouter_day_headers{
    {"x-ratelimit-limit", "50"}, {"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1795478400000"}};

// What the family `Family::value` reports of `headers`, as classify would attach it (with the
// row's windows when `windows`, as a dialect that reads windows does).
template <class Family>
std::vector<ProviderRemaining> figures(const Headers& headers, bool windows = false) {
  const kp::MapHeaders<Headers> lookup{headers};
  const answer::Headers<kp::MapHeaders<Headers>> reader{lookup};
  answer::Reports reports;
  answer::read_family<Family>(reader, now, reports, windows);
  return {reports.items.begin(), reports.items.begin() + static_cast<std::ptrdiff_t>(reports.count)};
}

// A family of one request figure named x-test-*, resetting in `Format`.
constexpr dialect::LimitHeaders test_limits[] = {{Metric::requests, "x-test-limit", "x-test-remaining", "x-test-reset"}};
template <dialect::ResetFormat Format>
struct TestFamily {
  static constexpr dialect::HeaderFamily value{"test", test_limits, Format};
};
template <dialect::ResetFormat Format>
std::vector<ProviderRemaining> test_figures(std::string reset) {
  return figures<TestFamily<Format>>({{"x-test-limit", "100"}, {"x-test-remaining", "42"}, {"x-test-reset", std::move(reset)}});
}
// A family of one token figure per month whose provider sends no reset header.
constexpr dialect::LimitHeaders no_reset_limits[] = {{Metric::tokens, "x-test-limit", "x-test-remaining", {}, kp::Window::month}};
template <dialect::ResetFormat Format>
struct NoResetFamily {
  static constexpr dialect::HeaderFamily value{"test", no_reset_limits, Format};
};
template <dialect::ResetFormat Format>
std::optional<TimePoint> reset_read(std::string reset) {
  const auto read = test_figures<Format>(std::move(reset));
  if (read.empty()) return std::nullopt;  // dropped: stale
  return read.front().resets_at;
}

}  // namespace

TEST_CASE("every row of the provider tables has its test here", "[provider_dialects]") {
  // Adding a row without a test fails here: add the row's name below with a TEST_CASE of its own.
  const std::set<std::string_view> families_tested{"openai", "groq", "cerebras", "anthropic", "mistral", "mistral-bysize", "openrouter"};
  const std::set<std::string_view> retry_headers_tested{"retry-after-ms", "retry-after"};
  const std::set<std::string_view> dialects_tested{"common", "openai", "anthropic", "google"};
  for (const auto& family : dialect::header_families) CHECK(families_tested.contains(family.name));
  for (const auto& header : dialect::retry_headers) CHECK(retry_headers_tested.contains(header.name));
  for (const auto& body_dialect : dialect::body_dialects) CHECK(dialects_tested.contains(body_dialect.name));
  CHECK(std::size(dialect::header_families) == families_tested.size());
  CHECK(std::size(dialect::retry_headers) == retry_headers_tested.size());
  CHECK(std::size(dialect::body_dialects) == dialects_tested.size());
}

// =============================================================================================
// Header families

TEST_CASE("header family openai: x-ratelimit-*-requests and -tokens as OpenAI and Groq send them, Go-duration resets", "[provider_dialects][headers]") {
  auto read = figures<OpenAIFamily>(openai_headers);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 9'999, 10'000, now + 6ms});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 1'999'877, 2'000'000, now + 3ms});
  read = figures<OpenAIFamily>(groq_headers);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 14'370, 14'400, now + 2min + 59'560ms});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 17'997, 18'000, now + 7'660ms});
  // Each figure stands alone: Groq's 429 may carry the tokens headers only.
  read = figures<OpenAIFamily>({{"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "7.66s"}});
  REQUIRE(read.size() == 1);
  CHECK(read[0] == ProviderRemaining{Metric::tokens, 0, 0, now + 7'660ms});
  CHECK(figures<OpenAIFamily>(anthropic_headers).empty());
}

TEST_CASE("header family anthropic: RFC 3339 resets; input and output tokens only stand in for the tokens figure", "[provider_dialects][headers]") {
  auto read = figures<AnthropicFamily>(anthropic_headers);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 3'999, 4'000, now + 1s});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 452'000, 480'000, now + 4s});
  // The shares are not even looked up when the tokens figure is there.
  std::vector<std::string> asked;
  const auto recording = [&](std::string_view name) -> std::optional<std::string_view> {
    asked.emplace_back(name);
    for (const auto& [header, value] : anthropic_headers)
      if (header == name) return std::string_view{value};
    return std::nullopt;
  };
  const answer::Headers<decltype(recording)> reader{recording};
  answer::Reports reports;
  answer::read_family<AnthropicFamily>(reader, now, reports);
  CHECK(reports.count == 2);
  CHECK(std::none_of(asked.begin(), asked.end(), [](const std::string& name) { return name.find("put-tokens") != std::string::npos; }));
  // Without it, the shares stand for it: here input alone, as output's reset is now (its window
  // is over: that figure is stale).
  Headers shares_only;
  std::copy_if(anthropic_headers.begin(), anthropic_headers.end(), std::back_inserter(shares_only),
               [](const auto& header) { return !header.first.starts_with("anthropic-ratelimit-tokens-"); });
  read = figures<AnthropicFamily>(shares_only);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 3'999, 4'000, now + 1s});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 372'000, 400'000, now + 4s});
  CHECK(figures<AnthropicFamily>(openai_headers).empty());
}

TEST_CASE("the reset formats a family may name: waits from now, or times (a passed time drops the stale figure)", "[provider_dialects][headers]") {
  using dialect::ResetFormat;
  CHECK(reset_read<ResetFormat::go_duration>("6m0s") == now + 6min);
  CHECK(reset_read<ResetFormat::go_duration>("1.5") == now + 1'500ms);             // bare seconds
  CHECK(reset_read<ResetFormat::go_duration>("1795420830") == TimePoint{});         // a timestamp: too far to be a wait
  CHECK(reset_read<ResetFormat::seconds>("60") == now + 60s);
  CHECK(reset_read<ResetFormat::seconds>("0.25") == now + 250ms);
  CHECK(reset_read<ResetFormat::seconds>("6m0s") == TimePoint{});                   // not seconds: reset unknown
  CHECK(reset_read<ResetFormat::rfc3339>("2026-11-23T08:00:30Z") == now + 30s);
  CHECK(reset_read<ResetFormat::rfc3339>("2026-11-23T09:00:30+01:00") == now + 30s);
  CHECK(reset_read<ResetFormat::rfc3339>("2026-11-23T07:59:59Z") == std::nullopt);  // passed: stale
  CHECK(reset_read<ResetFormat::rfc3339>("2028-01-01T00:00:00Z") == TimePoint{});   // further than a year
  CHECK(reset_read<ResetFormat::unix_seconds>("1795420830") == now + 30s);
  CHECK(reset_read<ResetFormat::unix_seconds>("1795420800") == std::nullopt);       // now: that window is over
  CHECK(reset_read<ResetFormat::unix_seconds>("1795420830.5") == TimePoint{});      // whole seconds only
  CHECK(reset_read<ResetFormat::unix_seconds>("99999999999999999999") == TimePoint{});
  CHECK(reset_read<ResetFormat::unix_seconds>("18446744073709551615") == TimePoint{});  // past TimePoint's range
  CHECK(reset_read<ResetFormat::unix_milliseconds>("1795420830500") == now + 30'500ms);
  CHECK(reset_read<ResetFormat::unix_milliseconds>("1795420830") == std::nullopt);  // seconds read as ms: 1970, stale
  CHECK(reset_read<ResetFormat::unix_milliseconds>("-1795420830500") == TimePoint{});
  // Whatever the format, the figure itself is read the same.
  const auto read = test_figures<ResetFormat::unix_seconds>("1795420830");
  REQUIRE(read.size() == 1);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 42, 100, now + 30s});
}

TEST_CASE("header family groq: OpenAI's names, its requests counting a day and its tokens a minute", "[provider_dialects][headers]") {
  const auto read = figures<GroqFamily>(groq_headers, true);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 14'370, 14'400, now + 2min + 59'560ms, kp::Window::day});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 17'997, 18'000, now + 7'660ms, kp::Window::minute});
  // Only the groq dialect reads this row; the generic one reads these names as the openai row, windowless.
  CHECK(dialect::reads(GroqFamily::value, kp::dialects::groq));
  CHECK_FALSE(dialect::reads(GroqFamily::value, kp::dialects::generic));
  CHECK_FALSE(dialect::reads(OpenAIFamily::value, kp::dialects::groq));
}

TEST_CASE("header family cerebras: -requests-day and -tokens-minute, resets in decimal seconds", "[provider_dialects][headers]") {
  const auto read = figures<CerebrasFamily>(cerebras_headers, true);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 14'397, 14'400, now + 33'011s + 382'867'097ns, kp::Window::day});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 59'140, 60'000, now + 11s + 382'867'097ns, kp::Window::minute});
  CHECK(figures<CerebrasFamily>(openai_headers).empty());
  CHECK(figures<OpenAIFamily>(cerebras_headers).empty());
}

TEST_CASE("header family mistral: -req-minute, -tokens-minute and -tokens-month as La Plateforme sends them; no resets", "[provider_dialects][headers]") {
  const auto read = figures<MistralFamily>(mistral_headers, true);
  REQUIRE(read.size() == 3);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 59, 60, TimePoint{}, kp::Window::minute});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 47'196, 50'000, TimePoint{}, kp::Window::minute});
  CHECK(read[2] == ProviderRemaining{Metric::tokens, 3'950'246, 4'000'000, TimePoint{}, kp::Window::month});
  // The row names no reset header: none is looked up, whatever the answer carries.
  for (const auto& limit : MistralFamily::value.limits) CHECK(limit.reset.empty());
  Headers with_reset = mistral_headers;
  with_reset.emplace_back("x-ratelimit-reset-tokens-minute", "12");
  CHECK(figures<MistralFamily>(with_reset, true) == read);
  // A 429 of a key with no allowance for the model: a limit of 0 reads as unknown.
  const auto none = figures<MistralFamily>({{"x-ratelimit-limit-req-minute", "0"}, {"x-ratelimit-remaining-req-minute", "0"}}, true);
  REQUIRE(none.size() == 1);
  CHECK(none[0] == ProviderRemaining{Metric::requests, 0, 0, TimePoint{}, kp::Window::minute});
  // Cerebras' -tokens-minute has the same name, in another family: only the mistral dialect reads this one.
  CHECK(dialect::reads(MistralFamily::value, kp::dialects::mistral));
  CHECK_FALSE(dialect::reads(MistralFamily::value, kp::dialects::cerebras));
  CHECK_FALSE(dialect::reads(MistralFamily::value, kp::dialects::generic));
  CHECK_FALSE(dialect::reads(CerebrasFamily::value, kp::dialects::mistral));
  CHECK(figures<MistralFamily>(openai_headers).empty());
}

TEST_CASE("header family mistral-bysize: x-ratelimitbysize-*-minute resetting in ratelimitbysize-reset, and -month", "[provider_dialects][headers]") {
  const auto read = figures<MistralBySizeFamily>(mistral_bysize_headers, true);
  REQUIRE(read.size() == 2);
  CHECK(read[0] == ProviderRemaining{Metric::tokens, 499'900, 500'000, now + 28s, kp::Window::minute});
  CHECK(read[1] == ProviderRemaining{Metric::tokens, 999'899'900, 1'000'000'000, TimePoint{}, kp::Window::month});
  CHECK(dialect::reads(MistralBySizeFamily::value, kp::dialects::mistral));
  CHECK_FALSE(dialect::reads(MistralBySizeFamily::value, kp::dialects::generic));
  CHECK(figures<MistralBySizeFamily>(mistral_headers).empty());
}

TEST_CASE("header family openrouter: x-ratelimit-limit, -remaining, -reset on its 429s, resets in Unix milliseconds, no window", "[provider_dialects][headers]") {
  auto read = figures<OpenRouterFamily>(openrouter_day_headers, true);
  REQUIRE(read.size() == 1);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 0, 50, now + 16h, kp::Window::unknown});
  // The minute's limit of free models, under the same names: the amount and the reset tell them apart.
  read = figures<OpenRouterFamily>({{"X-RateLimit-Limit", "20"}, {"X-RateLimit-Remaining", "0"}, {"X-RateLimit-Reset", "1795420860000"}}, true);
  REQUIRE(read.size() == 1);
  CHECK(read[0] == ProviderRemaining{Metric::requests, 0, 20, now + 60s, kp::Window::unknown});
  // Seconds are not milliseconds: a reset in seconds reads as 1970, a window long over.
  CHECK(figures<OpenRouterFamily>({{"x-ratelimit-limit", "50"}, {"x-ratelimit-remaining", "0"}, {"x-ratelimit-reset", "1795478400"}}).empty());
  CHECK(dialect::reads(OpenRouterFamily::value, kp::dialects::openrouter));
  CHECK_FALSE(dialect::reads(OpenRouterFamily::value, kp::dialects::generic));
  CHECK(figures<OpenRouterFamily>(openai_headers).empty());
}

TEST_CASE("a row's windows are its provider's; a report carries them only when the dialect reads windows", "[provider_dialects][headers]") {
  // OpenAI and Groq send the same names for different windows: their rows say which.
  for (const auto& limit : OpenAIFamily::value.limits) CHECK(limit.window == kp::Window::minute);
  CHECK(GroqFamily::value.limits[0].window == kp::Window::day);
  CHECK(GroqFamily::value.limits[1].window == kp::Window::minute);
  for (const auto& limit : AnthropicFamily::value.limits) CHECK(limit.window == kp::Window::minute);
  // Read without windows (the generic dialect), the same figures with Window::unknown.
  auto windowless = figures<GroqFamily>(groq_headers, true);
  for (auto& report : windowless) report.window = kp::Window::unknown;
  CHECK(figures<GroqFamily>(groq_headers) == windowless);
  CHECK(figures<GroqFamily>(groq_headers) == figures<OpenAIFamily>(groq_headers));
  // Which dialects read windows, and which trust a daily quota's Retry-After.
  CHECK_FALSE(dialect::reading_of(kp::dialects::generic).windows);
  CHECK(dialect::reading_of(kp::dialects::openai).windows);
  CHECK(dialect::reading_of(kp::dialects::groq).windows);
  CHECK(dialect::reading_of(kp::dialects::groq).quota_wait_is_reset);
  CHECK_FALSE(dialect::reading_of(kp::dialects::openai).quota_wait_is_reset);
  CHECK_FALSE(dialect::reading_of(kp::dialects::generic).quota_wait_is_reset);
  CHECK(dialect::reading_of(static_cast<kp::Dialect>(200)).dialect == kp::dialects::generic);
  // Mistral's names carry their windows; OpenRouter's one figure has none; Gemini sends no headers.
  CHECK(dialect::reading_of(kp::dialects::mistral).windows);
  CHECK(MistralFamily::value.limits[2].window == kp::Window::month);
  CHECK(OpenRouterFamily::value.limits[0].window == kp::Window::unknown);
  for (const auto& family : dialect::header_families) {
    CAPTURE(family.name);
    CHECK_FALSE(dialect::reads(family, kp::dialects::gemini));
    // Who reads the OpenAI names: OpenAI, and the generic reading. Not Gemini, Mistral or OpenRouter.
    if (family.name == "openai") {
      CHECK(dialect::reads(family, kp::dialects::generic));
      CHECK_FALSE(dialect::reads(family, kp::dialects::mistral));
      CHECK_FALSE(dialect::reads(family, kp::dialects::openrouter));
    }
  }
}

TEST_CASE("a row without a reset header leaves the reset unknown, in any reset format", "[provider_dialects][headers]") {
  const Headers headers{{"x-test-limit", "100"}, {"x-test-remaining", "42"}, {"x-test-reset", "30"}};
  for (const auto& read : {figures<NoResetFamily<dialect::ResetFormat::seconds>>(headers, true),
                           figures<NoResetFamily<dialect::ResetFormat::unix_milliseconds>>(headers, true)}) {
    REQUIRE(read.size() == 1);
    CHECK(read[0] == ProviderRemaining{Metric::tokens, 42, 100, TimePoint{}, kp::Window::month});
  }
}

// =============================================================================================
// Retry headers

TEST_CASE("retry headers: OpenAI's retry-after-ms first, then HTTP's Retry-After as seconds or a date", "[provider_dialects][retry-after]") {
  CHECK(answer_to(429, {{"retry-after", "2"}, {"retry-after-ms", "1812.5"}}, openai_tpm_429).retry_after() == 1'812'500us);
  CHECK(answer_to(429, {{"retry-after-ms", "soon"}, {"retry-after", "2"}}, openai_tpm_429).retry_after() == 2s);
  CHECK(answer_to(429, {{"retry-after", "9"}}, groq_tpm_429).retry_after() == 9s);
  CHECK(answer_to(429, {{"retry-after", "Mon, 23 Nov 2026 08:02:00 GMT"}}, "").retry_after() == 2min);
}

// =============================================================================================
// Body dialects

TEST_CASE("body dialect common: the usual message and code fields, and the words any provider writes", "[provider_dialects][body]") {
  // Mistral: the words of a "message".
  CHECK(answer_to(429, {}, R"({"message":"Requests rate limit exceeded"})") == kp::Outcome::rate_limited().with_status(429));
  // ElevenLabs: a "status" code and a "message" under "detail"; a quota, not a bad key.
  CHECK(answer_to(401, {}, R"({"detail":{"status":"quota_exceeded","message":"This request exceeds your quota of 10000. You have 39 credits remaining, while 108 credits are required for this request."}})") ==
        kp::Outcome::quota_exhausted(Metric::requests).with_status(401));
  // Groq: the period and the time the message gives.
  CHECK(answer_to(429, {}, groq_tpd_429) == kp::Outcome::quota_exhausted(Metric::tokens, now + 12min + 19'296ms).with_status(429));
  CHECK(answer_to(429, {}, groq_rpm_429) == kp::Outcome::rate_limited(2s).with_status(429));
  // What no dialect names is not read: a prompt echoed under "input".
  CHECK(answer_to(422, {}, R"({"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required","input":{"content":"daily quota, 429"}}]})") ==
        kp::Outcome::bad_request().with_status(422));
}

TEST_CASE("body dialect openai: billing codes spend the key; \"type\" names the metric the words leave out", "[provider_dialects][body]") {
  const auto billing = kp::Outcome::quota_exhausted(Metric::spend, TimePoint::max());
  CHECK(answer_to(429, openai_headers, openai_insufficient_quota).kind() == Kind::quota_exhausted);
  CHECK(answer_to(429, openai_headers, openai_insufficient_quota).metric() == Metric::spend);
  CHECK(answer_to(429, {}, openai_billing_not_active) == billing.with_status(429));
  CHECK(answer_to(429, {}, R"({"error":{"message":"Billing hard limit has been reached","type":"insufficient_quota","code":"billing_hard_limit_reached"}})") ==
        billing.with_status(429));
  CHECK(answer_to(429, {}, openai_rpd_429) == kp::Outcome::quota_exhausted(Metric::requests, now + 7min + 12s).with_status(429));
  // "Daily limit" names no metric: the type does.
  constexpr std::string_view daily = R"({"error":{"message":"Daily limit reached. Please try again in 3m0s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})";
  CHECK(answer_to(429, {}, daily) == kp::Outcome::quota_exhausted(Metric::tokens, now + 3min).with_status(429));
  constexpr std::string_view untyped = R"({"error":{"message":"Daily limit reached. Please try again in 3m0s.","param":null,"code":"rate_limit_exceeded"}})";
  CHECK(answer_to(429, {}, untyped).metric() == Metric::requests);
}

TEST_CASE("body dialect anthropic: a low credit balance spends the key; ITPM and OTPM are per-minute token limits", "[provider_dialects][body]") {
  CHECK(answer_to(400, {}, anthropic_credit) == kp::Outcome::quota_exhausted(Metric::spend, TimePoint::max()).with_status(400));
  Headers headers = anthropic_headers;
  headers.emplace_back("retry-after", "15");
  CHECK(answer_to(429, headers, anthropic_rate_limit).retry_after() == 15s);
  CHECK(answer_to(429, headers, anthropic_rate_limit).kind() == Kind::rate_limited);
  // A quota named by its per-minute abbreviation is a rate limit, not a spent quota.
  for (const std::string_view limit : {"ITPM", "OTPM"}) {
    CAPTURE(limit);
    const std::string body = R"({"type":"error","error":{"type":"rate_limit_error","message":"Token quota exceeded ()" + std::string{limit} +
                             R"(). Please try again in 20 seconds."}})";
    CHECK(answer_to(429, {}, body) == kp::Outcome::rate_limited(20s).with_status(429));
  }
}

TEST_CASE("body dialect google: RESOURCE_EXHAUSTED with quota ids, retryDelay, and API_KEY_* reasons", "[provider_dialects][body]") {
  CHECK(answer_to(429, {}, gemini_per_day) == kp::Outcome::quota_exhausted(Metric::requests).with_status(429));
  CHECK(answer_to(429, {}, gemini_tokens_per_day) == kp::Outcome::quota_exhausted(Metric::tokens).with_status(429));
  CHECK(answer_to(429, {}, gemini_tokens_per_minute) == kp::Outcome::rate_limited(38s).with_status(429));
  CHECK(answer_to(429, {}, gemini_minute_and_day) == kp::Outcome::quota_exhausted(Metric::requests).with_status(429));
  CHECK(answer_to(429, {}, vertex_resource_exhausted) == kp::Outcome::rate_limited().with_status(429));
  CHECK(answer_to(400, {}, gemini_key_invalid) == kp::Outcome::auth_failed().with_status(400));
  // The reason decides, not the message: another API_KEY_* reason with other words.
  CHECK(answer_to(400, {}, R"({"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_EXPIRED","domain":"googleapis.com"}]}})") ==
        kp::Outcome::auth_failed().with_status(400));
  CHECK(answer_to(400, {}, gemini_location) == kp::Outcome::bad_request().with_status(400));
}

TEST_CASE("body dialect google: the quota ids Gemini sends, their period by the words and their metric by \"token\"", "[provider_dialects][body]") {
  // A 429 naming one violated quota, as Gemini writes it (the quota id, its retryDelay).
  const auto violation = [](std::string_view quota_id, std::string_view quota_metric) {
    return R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":")" +
           std::string{quota_metric} + R"(","quotaId":")" + std::string{quota_id} +
           R"(","quotaDimensions":{"location":"global","model":"gemini-2.5-flash"}}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"21s"}]}})";
  };
  constexpr std::string_view requests_metric = "generativelanguage.googleapis.com/generate_content_free_tier_requests";
  constexpr std::string_view tokens_metric = "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count";
  constexpr std::string_view paid_tokens_metric = "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count";
  constexpr std::string_view embed_metric = "generativelanguage.googleapis.com/embed_content_free_tier_requests";
  const auto per_minute = kp::Outcome::rate_limited(21s).with_status(429);
  // Per minute: the minute's retryDelay. "PerModel" is the model the quota counts, not a month.
  CHECK(answer_to(429, {}, violation("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", requests_metric)) == per_minute);
  CHECK(answer_to(429, {}, violation("GenerateContentInputTokensPerModelPerMinute-FreeTier", tokens_metric)) == per_minute);
  CHECK(answer_to(429, {}, violation("GenerateContentPaidTierInputTokensPerModelPerMinute", paid_tokens_metric)) == per_minute);
  CHECK(answer_to(429, {}, violation("GenerateContentPaidTierInputTokensPerModelPerMinute-PaidTier2",
                                     "generativelanguage.googleapis.com/generate_content_paid_tier_2_input_token_count")) == per_minute);
  CHECK(answer_to(429, {}, violation("EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier", embed_metric)) == per_minute);
  // Per day: the day's quota of the metric the id names, whatever the retryDelay.
  CHECK(answer_to(429, {}, violation("GenerateRequestsPerDayPerProjectPerModel-FreeTier", requests_metric)) ==
        kp::Outcome::quota_exhausted(Metric::requests).with_status(429));
  CHECK(answer_to(429, {}, violation("GenerateRequestsPerDayPerProjectPerModel", "generativelanguage.googleapis.com/generate_requests_per_model_per_day")) ==
        kp::Outcome::quota_exhausted(Metric::requests).with_status(429));
  CHECK(answer_to(429, {}, violation("GenerateContentInputTokensPerModelPerDay-FreeTier", tokens_metric)) ==
        kp::Outcome::quota_exhausted(Metric::tokens).with_status(429));
  CHECK(answer_to(429, {}, violation("EmbedContentRequestsPerDayPerUserPerProjectPerModel-FreeTier", embed_metric)) ==
        kp::Outcome::quota_exhausted(Metric::requests).with_status(429));
}
