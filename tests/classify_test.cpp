// Specification of keypool::classify: each provider's answers, headers and bodies as the providers
// send them, read into the Outcome the pool needs; precedence; malformed input; header adapters;
// and, end to end with a pool on a manual clock, what the pool then does with the outcome.
#include <keypool/classify.hpp>
#include <keypool/keypool.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "support/provider_answers.hpp"

#if __has_include(<httplib.h>)
#include <httplib.h>
#define KEYPOOL_TEST_HAVE_HTTPLIB 1
#endif

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;
using Kind = kp::Outcome::Kind;
using kp::Duration;
using namespace provider_answers;

namespace {

const kp::TimePoint now{sys_days{2026y / November / 23} + 8h};  // Monday 08:00:00 UTC
const kp::TimePoint midnight{sys_days{2026y / November / 24}};

kp::Outcome answer(int status, const Headers& headers, std::string_view body) {
  return kp::classify(status, headers, body, now);
}
kp::Outcome answer(int status, std::string_view body) { return kp::classify(status, kp::no_headers, body, now); }

// Mistral (La Plateforme): a chat completion's headers, and its 429's.
const Headers mistral_headers{
    {"mistral-correlation-id", "019c6f45-6523-7b29-a0d1-2e9d64650277"},
    {"x-ratelimit-limit-req-minute", "60"},
    {"x-ratelimit-limit-tokens-minute", "50000"},
    {"x-ratelimit-limit-tokens-month", "4000000"},
    {"x-ratelimit-remaining-req-minute", "59"},
    {"x-ratelimit-remaining-tokens-minute", "47196"},
    {"x-ratelimit-remaining-tokens-month", "3950246"},
    {"x-ratelimit-tokens-query-cost", "2804"}};
const Headers mistral_month_spent_headers{
    {"x-ratelimit-limit-req-minute", "60"},          {"x-ratelimit-remaining-req-minute", "58"},
    {"x-ratelimit-limit-tokens-minute", "50000"},    {"x-ratelimit-remaining-tokens-minute", "50000"},
    {"x-ratelimit-limit-tokens-month", "4000000"},   {"x-ratelimit-remaining-tokens-month", "0"}};
constexpr std::string_view mistral_429 = R"({"object":"error","message":"Rate limit exceeded","type":"rate_limited","param":null,"code":"1300"})";

// OpenRouter: the 429s of free models (a day's requests, a minute's), with the headers the body
// repeats under metadata; an upstream provider's 429 passed on; a 402 for credits.
const Headers openrouter_day_headers{
    {"X-RateLimit-Limit", "50"}, {"X-RateLimit-Remaining", "0"}, {"X-RateLimit-Reset", "1795478400000"}};  // midnight UTC
constexpr std::string_view openrouter_per_day_429 =
    R"({"error":{"message":"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1795478400000"},"provider_name":null}},"user_id":"user_2yQk7Lm3Nc8Vt1Rb5Zw0Hx4Pd9s"})";
const Headers openrouter_minute_headers{
    {"X-RateLimit-Limit", "20"}, {"X-RateLimit-Remaining", "0"}, {"X-RateLimit-Reset", "1795420860000"}};  // in 60 s
constexpr std::string_view openrouter_per_min_429 =
    R"({"error":{"message":"Rate limit exceeded: free-models-per-min. ","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"20","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1795420860000"},"provider_name":null}},"user_id":"user_2yQk7Lm3Nc8Vt1Rb5Zw0Hx4Pd9s"})";
constexpr std::string_view openrouter_upstream_429 =
    R"({"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"meta-llama/llama-3.3-70b-instruct:free is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations","provider_name":"Venice","is_byok":false}},"user_id":"user_2yQk7Lm3Nc8Vt1Rb5Zw0Hx4Pd9s"})";
constexpr std::string_view openrouter_credits_402 =
    R"({"error":{"message":"This request requires more credits, or fewer max_tokens. You requested up to 64000 tokens, but can only afford 2666. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account","code":402,"metadata":{"provider_name":null}},"user_id":"user_2yQk7Lm3Nc8Vt1Rb5Zw0Hx4Pd9s"})";

// Gemini: the minute's tokens and requests and the day's requests, spent at once (an image model).
constexpr std::string_view gemini_three_violations = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash-preview-image"}
          },
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash-preview-image"}
          },
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"model": "gemini-2.5-flash-preview-image", "location": "global"}
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "23s"}
    ]
  }
}
)";

// Gemini: a model the free tier does not offer (every quota 0), the Help detail first.
constexpr std::string_view gemini_no_allowance = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. 
* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-3-pro
* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-3-pro
* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count, limit: 0, model: gemini-3-pro
* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_input_token_count, limit: 0, model: gemini-3-pro
Please retry in 45.578569677s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-3-pro"}},
          {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-3-pro"}},
          {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-3-pro"}},
          {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count", "quotaId": "GenerateContentInputTokensPerModelPerDay-FreeTier", "quotaDimensions": {"location": "global", "model": "gemini-3-pro"}}
        ]
      },
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "45s"}
    ]
  }
}
)";

// Gemini, paid tier: the minute's input tokens.
constexpr std::string_view gemini_paid_tier_tpm =
    R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. 
* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count, limit: 1000000, model: gemini-3.1-pro
Please retry in 45.27s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count","quotaId":"GenerateContentPaidTierInputTokensPerModelPerMinute","quotaDimensions":{"model":"gemini-3.1-pro","location":"global"},"quotaValue":"1000000"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"45s"}]}})";

// Gemini, embeddings: the minute's requests of the free tier.
constexpr std::string_view gemini_embed_rpm =
    R"({"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.Help","links":[{"description":"Learn more about Gemini API quotas","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}]},{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/embed_content_free_tier_requests","quotaId":"EmbedContentRequestsPerMinutePerUserPerProjectPerModel-FreeTier","quotaDimensions":{"model":"gemini-embedding-001","location":"global"},"quotaValue":"100"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"33s"}]}})";

// Vertex AI (as Gemini CLI reports it): an array of one google.rpc.Status, no quota named.
constexpr std::string_view vertex_exhausted_array = R"([{
  "error": {
    "code": 429,
    "message": "Resource has been exhausted (e.g. check quota).",
    "status": "RESOURCE_EXHAUSTED"
  }
}
])";
constexpr std::string_view vertex_rate_limit_exceeded = R"([{
  "error": {
    "code": 429,
    "message": "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    "errors": [
      {
        "message": "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
        "domain": "global",
        "reason": "rateLimitExceeded"
      }
    ],
    "status": "RESOURCE_EXHAUSTED"
  }
}
])";

}  // namespace

// =============================================================================================
// Rate-limit headers on a success

TEST_CASE("a 200 carries OpenAI's x-ratelimit headers as remaining reports, resetting at now + duration", "[classify][headers]") {
  const auto o = answer(200, openai_headers, R"({"id":"chatcmpl-9","object":"chat.completion","choices":[]})");
  CHECK(o.kind() == Kind::success);
  CHECK(o.status() == 200);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 9'999, 10'000, now + 6ms});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 1'999'877, 2'000'000, now + 3ms});
}

TEST_CASE("Groq's headers are carried alike: the reset time, not the provider, tells the day's count from the minute's", "[classify][headers]") {
  const auto o = answer(200, groq_headers, R"({"id":"chatcmpl-1","object":"chat.completion"})");
  CHECK(o.kind() == Kind::success);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 14'370, 14'400, now + 2min + 59'560ms});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 17'997, 18'000, now + 7'660ms});
}

TEST_CASE("a success never reads its body: generated text about quotas is not a quota", "[classify][precedence]") {
  const auto o = answer(200, R"({"choices":[{"message":{"content":"Rate limit exceeded: daily quota of 429 requests per day"}}]})");
  CHECK(o == kp::Outcome::success().with_status(200));
  CHECK(answer(204, "").kind() == Kind::success);
}

TEST_CASE("Anthropic's headers: requests and tokens with RFC 3339 resets", "[classify][headers]") {
  const auto o = answer(200, anthropic_headers, R"({"id":"msg_01","type":"message","role":"assistant"})");
  CHECK(o.kind() == Kind::success);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 3'999, 4'000, now + 1s});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 452'000, 480'000, now + 4s});
}

TEST_CASE("without Anthropic's combined tokens header, the tighter of input and output stands for it", "[classify][headers]") {
  Headers split{{"anthropic-ratelimit-input-tokens-limit", "400000"},
                {"anthropic-ratelimit-input-tokens-remaining", "380000"},  // 95% left
                {"anthropic-ratelimit-input-tokens-reset", "2026-11-23T08:00:05Z"},
                {"anthropic-ratelimit-output-tokens-limit", "80000"},
                {"anthropic-ratelimit-output-tokens-remaining", "40000"},  // 50% left: tighter
                {"anthropic-ratelimit-output-tokens-reset", "2026-11-23T08:00:30Z"}};
  auto o = answer(200, split, "{}");
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::tokens, 40'000, 80'000, now + 30s});
  split[4].second = "79000";  // output 98.75% left: input is tighter now
  o = answer(200, split, "{}");
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::tokens, 380'000, 400'000, now + 5s});
}

TEST_CASE("a reset time that has passed drops its stale report; a missing one leaves the reset unknown", "[classify][headers]") {
  const Headers headers{{"anthropic-ratelimit-requests-limit", "50"},
                        {"anthropic-ratelimit-requests-remaining", "0"},
                        {"anthropic-ratelimit-requests-reset", "2026-11-23T07:59:00Z"},
                        {"x-ratelimit-remaining-tokens", "500"}};
  const auto o = answer(200, headers, "");
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::tokens, 500, 0, kp::TimePoint{}});
}

TEST_CASE("rate-limit reports ride on every outcome, not only on successes", "[classify][headers]") {
  Headers headers = groq_headers;
  headers.emplace_back("retry-after", "9");
  const auto o = answer(429, headers, groq_tpm_429);
  CHECK(o.kind() == Kind::rate_limited);
  CHECK(o.remaining().size() == 2);
}

// =============================================================================================
// Retry-After

TEST_CASE("a 429 with Retry-After in seconds cools the key for that long", "[classify][retry-after]") {
  CHECK(answer(429, {{"Retry-After", "17"}}, "") == kp::Outcome::rate_limited(17s).with_status(429));
  CHECK(answer(429, {{"retry-after", "0.5"}}, "").retry_after() == 500ms);
  CHECK(answer(429, {{"retry-after", "120"}, {"retry-after-ms", "119250"}}, "").retry_after() == 119'250ms);
}

TEST_CASE("Retry-After as an HTTP-date, in each of the three forms", "[classify][retry-after]") {
  CHECK(answer(429, {{"Retry-After", "Mon, 23 Nov 2026 08:02:00 GMT"}}, "").retry_after() == 120s);
  CHECK(answer(429, {{"Retry-After", "Monday, 23-Nov-26 08:00:30 GMT"}}, "").retry_after() == 30s);
  CHECK(answer(429, {{"Retry-After", "Mon Nov 23 09:00:00 2026"}}, "").retry_after() == 1h);
  // A date already passed (clock skew): no wait of its own, so the pool's default cooldown.
  CHECK(answer(429, {{"Retry-After", "Mon, 23 Nov 2026 07:59:00 GMT"}}, "") == kp::Outcome::rate_limited().with_status(429));
}

TEST_CASE("a 429 with nothing structured is rate_limited, waiting for an exhausted reported limit if any", "[classify][retry-after]") {
  CHECK(answer(429, "") == kp::Outcome::rate_limited().with_status(429));
  CHECK(answer(429, "Too Many Requests") == kp::Outcome::rate_limited().with_status(429));
  const Headers exhausted{{"x-ratelimit-limit-requests", "60"},     {"x-ratelimit-remaining-requests", "0"},
                          {"x-ratelimit-reset-requests", "1m26.4s"}, {"x-ratelimit-limit-tokens", "150000"},
                          {"x-ratelimit-remaining-tokens", "0"},     {"x-ratelimit-reset-tokens", "20ms"}};
  const auto o = answer(429, exhausted, "");
  CHECK(o.kind() == Kind::rate_limited);
  CHECK(o.retry_after() == 86'400ms);  // both limits must reset: the later one
}

// =============================================================================================
// Groq and OpenAI bodies

TEST_CASE("Groq's tokens-per-day 429 is a spent daily quota until the time the message gives", "[classify][groq]") {
  Headers headers = groq_headers;
  headers.emplace_back("retry-after", "740");
  const auto o = answer(429, headers, groq_tpd_429);
  CHECK(o.kind() == Kind::quota_exhausted);
  CHECK(o.metric() == kp::Metric::tokens);
  CHECK(o.until() == now + 12min + 19'296ms);
  CHECK(o.status() == 429);
}

TEST_CASE("Groq's requests-per-day 429 spends the request quota", "[classify][groq]") {
  const auto o = answer(429, {{"retry-after", "6"}}, groq_rpd_429);
  CHECK(o == kp::Outcome::quota_exhausted(kp::Metric::requests, now + 6s).with_status(429));
}

TEST_CASE("Groq's per-minute 429s are rate limits: Retry-After first, else the message's time", "[classify][groq]") {
  CHECK(answer(429, {{"retry-after", "9"}}, groq_tpm_429) == kp::Outcome::rate_limited(9s).with_status(429));
  CHECK(answer(429, groq_tpm_429) == kp::Outcome::rate_limited(8'390ms).with_status(429));
  CHECK(answer(429, {{"retry-after", "2"}}, groq_rpm_429) == kp::Outcome::rate_limited(2s).with_status(429));
}

TEST_CASE("Groq's 413 for a request larger than the minute's tokens blames the request, not the key", "[classify][groq]") {
  CHECK(answer(413, groq_413) == kp::Outcome::bad_request().with_status(413));
}

TEST_CASE("OpenAI's per-minute 429 waits the message's time, or retry-after-ms", "[classify][openai]") {
  CHECK(answer(429, openai_tpm_429) == kp::Outcome::rate_limited(1'812ms).with_status(429));
  CHECK(answer(429, {{"retry-after-ms", "1812.5"}}, openai_tpm_429).retry_after() == Duration{1'812'500'000});
}

TEST_CASE("OpenAI's requests-per-day 429 spends the request quota until the message's time", "[classify][openai]") {
  CHECK(answer(429, openai_rpd_429) == kp::Outcome::quota_exhausted(kp::Metric::requests, now + 7min + 12s).with_status(429));
}

TEST_CASE("insufficient_quota is billing: spend exhausted until an operator acts", "[classify][billing]") {
  const auto o = answer(429, openai_headers, openai_insufficient_quota);
  CHECK(o.kind() == Kind::quota_exhausted);
  CHECK(o.metric() == kp::Metric::spend);
  CHECK(o.until() == kp::TimePoint::max());
  CHECK(o.status() == 429);
  // 402 Payment Required means the same, whatever the body.
  CHECK(answer(402, R"({"error":"You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to get 20x more monthly included credits."})") ==
        kp::Outcome::quota_exhausted(kp::Metric::spend, kp::TimePoint::max()).with_status(402));
  CHECK(answer(402, "") == kp::Outcome::quota_exhausted(kp::Metric::spend, kp::TimePoint::max()).with_status(402));
  CHECK(answer(429, R"({"error":{"message":"Billing hard limit has been reached","type":"insufficient_quota","code":"billing_hard_limit_reached"}})")
            .metric() == kp::Metric::spend);
}

TEST_CASE("Gemini's 'check your plan and billing details' is a quota message, not billing", "[classify][billing][gemini]") {
  CHECK(answer(429, gemini_tokens_per_minute).metric() != kp::Metric::spend);
  CHECK(answer(429, gemini_tokens_per_minute).kind() == Kind::rate_limited);
}

TEST_CASE("OpenAI's errors that are not limits keep their status's meaning", "[classify][openai]") {
  CHECK(answer(401, openai_invalid_key) == kp::Outcome::auth_failed().with_status(401));
  CHECK(answer(404, openai_model_not_found) == kp::Outcome::bad_request().with_status(404));
  CHECK(answer(400, openai_context_length) == kp::Outcome::bad_request().with_status(400));
  CHECK(answer(500, openai_server_error) == kp::Outcome::transient().with_status(500));
  CHECK(answer(503, R"({"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}})") ==
        kp::Outcome::transient().with_status(503));
}

// =============================================================================================
// Anthropic

TEST_CASE("Anthropic's 429 is a rate limit for retry-after", "[classify][anthropic]") {
  Headers headers = anthropic_headers;
  headers.emplace_back("retry-after", "15");
  const auto o = answer(429, headers, anthropic_rate_limit);
  CHECK(o.kind() == Kind::rate_limited);
  CHECK(o.retry_after() == 15s);
  CHECK(o.remaining().size() == 2);
}

TEST_CASE("Anthropic's other errors: overloaded is transient, credit is billing, auth and permission disable", "[classify][anthropic]") {
  CHECK(answer(529, anthropic_overloaded) == kp::Outcome::transient().with_status(529));
  CHECK(answer(401, anthropic_auth) == kp::Outcome::auth_failed().with_status(401));
  CHECK(answer(403, anthropic_permission) == kp::Outcome::auth_failed().with_status(403));
  CHECK(answer(400, anthropic_credit) == kp::Outcome::quota_exhausted(kp::Metric::spend, kp::TimePoint::max()).with_status(400));
  CHECK(answer(413, anthropic_too_large) == kp::Outcome::bad_request().with_status(413));
  CHECK(answer(500, R"({"type":"error","error":{"type":"api_error","message":"Internal server error"}})").kind() == Kind::transient);
}

// =============================================================================================
// Gemini

TEST_CASE("Gemini's per-day RESOURCE_EXHAUSTED spends the day's quota; its 38 s retryDelay is not the day's end", "[classify][gemini]") {
  const auto o = answer(429, gemini_per_day);
  CHECK(o == kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
  CHECK(o.until() == kp::TimePoint{});  // the pool marks the key's day window spent until it resets
}

TEST_CASE("Gemini's per-day token quota names tokens", "[classify][gemini]") {
  CHECK(answer(429, gemini_tokens_per_day) == kp::Outcome::quota_exhausted(kp::Metric::tokens).with_status(429));
}

TEST_CASE("Gemini's per-minute RESOURCE_EXHAUSTED is a rate limit for its retryDelay", "[classify][gemini]") {
  CHECK(answer(429, gemini_tokens_per_minute) == kp::Outcome::rate_limited(38s).with_status(429));
}

TEST_CASE("when Gemini reports the minute's and the day's quota spent, the day's decides", "[classify][gemini]") {
  CHECK(answer(429, gemini_minute_and_day) == kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
}

TEST_CASE("RESOURCE_EXHAUSTED without a quota named is a rate limit (Vertex AI's shared capacity)", "[classify][gemini]") {
  CHECK(answer(429, vertex_resource_exhausted) == kp::Outcome::rate_limited().with_status(429));
  CHECK(answer(429, {{"Retry-After", "4"}}, vertex_resource_exhausted) == kp::Outcome::rate_limited(4s).with_status(429));
}

TEST_CASE("Gemini's 429s as the API sends them: several quotas at once, no allowance, paid tier, embeddings, Vertex AI arrays", "[classify][gemini]") {
  // The day's requests among the minute's violations: the day's quota decides.
  CHECK(answer(429, gemini_three_violations) == kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
  // A model the tier does not offer: every quota 0, the day's among them; 45 s would only bring another 429.
  CHECK(answer(429, gemini_no_allowance) == kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
  // The minute's input tokens of the paid tier, and the minute's embedding requests: their retryDelay.
  CHECK(answer(429, gemini_paid_tier_tpm) == kp::Outcome::rate_limited(45s).with_status(429));
  CHECK(answer(429, gemini_embed_rpm) == kp::Outcome::rate_limited(33s).with_status(429));
  // Vertex AI's shared capacity, in an array: no quota named.
  CHECK(answer(429, vertex_exhausted_array) == kp::Outcome::rate_limited().with_status(429));
  CHECK(answer(429, vertex_rate_limit_exceeded) == kp::Outcome::rate_limited().with_status(429));
  // Gemini sends no rate-limit headers; its dialect reads the body as every dialect does.
  for (const std::string_view body : {gemini_three_violations, gemini_paid_tier_tpm, gemini_embed_rpm, vertex_exhausted_array}) {
    CHECK(kp::classify(429, kp::no_headers, body, now, kp::dialects::gemini) == answer(429, body));
    CHECK(kp::classify(429, openai_headers, body, now, kp::dialects::gemini).remaining().empty());
  }
}

TEST_CASE("Gemini's other errors: an invalid key answered with 400 disables it; location is the request's fault", "[classify][gemini]") {
  CHECK(answer(400, gemini_key_invalid) == kp::Outcome::auth_failed().with_status(400));
  CHECK(answer(403, gemini_leaked_key) == kp::Outcome::auth_failed().with_status(403));
  CHECK(answer(400, gemini_location) == kp::Outcome::bad_request().with_status(400));
  CHECK(answer(503, gemini_overloaded) == kp::Outcome::transient().with_status(503));
}

// =============================================================================================
// Mistral

TEST_CASE("Mistral's headers in the mistral dialect: requests and tokens per minute, tokens per month, no resets", "[classify][mistral][dialect]") {
  const auto o = kp::classify(200, mistral_headers, R"({"id":"cmpl-e5cc70bb28c444948073e77776eb30ef","object":"chat.completion"})", now,
                              kp::dialects::mistral);
  CHECK(o.kind() == Kind::success);
  // An Outcome keeps one report per metric, reset and window (Outcome::with_remaining): Mistral
  // sends no resets, and its minute's and month's tokens figures are both kept, by their windows.
  REQUIRE(o.remaining().size() == 3);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 59, 60, kp::TimePoint{}, kp::Window::minute});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 47'196, 50'000, kp::TimePoint{}, kp::Window::minute});
  CHECK(o.remaining()[2] == kp::ProviderRemaining{kp::Metric::tokens, 3'950'246, 4'000'000, kp::TimePoint{}, kp::Window::month});
  // The generic dialect does not read them.
  CHECK(answer(200, mistral_headers, "{}").remaining().empty());
}

TEST_CASE("Mistral's 429 is a rate limit, for Retry-After when sent; its headers say which limit has nothing left", "[classify][mistral]") {
  auto o = kp::classify(429, mistral_month_spent_headers, mistral_429, now, kp::dialects::mistral);
  CHECK(o.kind() == Kind::rate_limited);
  CHECK(o.retry_after() == Duration::zero());  // no reset is sent: the pool's default cooldown
  REQUIRE(o.remaining().size() == 3);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 58, 60, kp::TimePoint{}, kp::Window::minute});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 50'000, 50'000, kp::TimePoint{}, kp::Window::minute});
  CHECK(o.remaining()[2] == kp::ProviderRemaining{kp::Metric::tokens, 0, 4'000'000, kp::TimePoint{}, kp::Window::month});
  Headers with_retry = mistral_month_spent_headers;
  with_retry.emplace_back("Retry-After", "2");
  CHECK(kp::classify(429, with_retry, mistral_429, now, kp::dialects::mistral).retry_after() == 2s);
  // The same answer read as generic: the same outcome, no reports.
  CHECK(answer(429, mistral_month_spent_headers, mistral_429) == kp::Outcome::rate_limited().with_status(429));
  // Its earlier body.
  CHECK(kp::classify(429, kp::no_headers, R"({"message":"Requests rate limit exceeded"})", now, kp::dialects::mistral) ==
        kp::Outcome::rate_limited().with_status(429));
}

// =============================================================================================
// OpenRouter

TEST_CASE("OpenRouter's free-models-per-day 429 spends the day's requests; the openrouter dialect reads its millisecond reset", "[classify][openrouter][dialect]") {
  const kp::ProviderRemaining day{kp::Metric::requests, 0, 50, midnight, kp::Window::unknown};
  CHECK(kp::classify(429, openrouter_day_headers, openrouter_per_day_429, now, kp::dialects::openrouter) ==
        kp::Outcome::quota_exhausted(kp::Metric::requests).with_remaining(day).with_status(429));
  // Read as generic: the same outcome, the headers not read.
  CHECK(answer(429, openrouter_day_headers, openrouter_per_day_429) == kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
  // The body alone says it (a client that drops the headers).
  CHECK(kp::classify(429, kp::no_headers, openrouter_per_day_429, now, kp::dialects::openrouter) ==
        kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
}

TEST_CASE("OpenRouter's free-models-per-min 429 waits for its reset; an upstream provider's 429 is a rate limit; a 402 is billing", "[classify][openrouter]") {
  auto o = kp::classify(429, openrouter_minute_headers, openrouter_per_min_429, now, kp::dialects::openrouter);
  CHECK(o.kind() == Kind::rate_limited);
  CHECK(o.retry_after() == 60s);  // the exhausted figure's reset
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 0, 20, now + 60s, kp::Window::unknown});
  CHECK(answer(429, openrouter_minute_headers, openrouter_per_min_429) == kp::Outcome::rate_limited().with_status(429));
  // Another provider behind OpenRouter refused: Retry-After when sent, else the default cooldown.
  CHECK(kp::classify(429, kp::no_headers, openrouter_upstream_429, now, kp::dialects::openrouter) == kp::Outcome::rate_limited().with_status(429));
  CHECK(kp::classify(429, Headers{{"Retry-After", "17"}}, openrouter_upstream_429, now, kp::dialects::openrouter) ==
        kp::Outcome::rate_limited(17s).with_status(429));
  CHECK(kp::classify(402, kp::no_headers, openrouter_credits_402, now, kp::dialects::openrouter) ==
        kp::Outcome::quota_exhausted(kp::Metric::spend, kp::TimePoint::max()).with_status(402));
}

// =============================================================================================
// Statuses and free text

TEST_CASE("statuses alone: the table", "[classify][status]") {
  struct Case {
    int status;
    kp::Outcome expected;
  };
  const kp::Outcome billing = kp::Outcome::quota_exhausted(kp::Metric::spend, kp::TimePoint::max());
  const Case cases[] = {
      {0, kp::Outcome::transient()},     {-1, kp::Outcome::transient()},   {-28, kp::Outcome::transient()},
      {100, kp::Outcome::transient()},   {600, kp::Outcome::transient()},  {200, kp::Outcome::success()},
      {201, kp::Outcome::success()},     {299, kp::Outcome::success()},    {301, kp::Outcome::bad_request()},
      {302, kp::Outcome::bad_request()}, {400, kp::Outcome::bad_request()}, {401, kp::Outcome::auth_failed()},
      {402, billing},                    {403, kp::Outcome::auth_failed()}, {404, kp::Outcome::bad_request()},
      {408, kp::Outcome::transient()},   {409, kp::Outcome::bad_request()}, {413, kp::Outcome::bad_request()},
      {422, kp::Outcome::bad_request()}, {429, kp::Outcome::rate_limited()}, {500, kp::Outcome::transient()},
      {502, kp::Outcome::transient()},   {503, kp::Outcome::transient()},  {504, kp::Outcome::transient()},
      {529, kp::Outcome::transient()},   {599, kp::Outcome::transient()},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status);
    CHECK(answer(c.status, "") == c.expected.with_status(c.status));
    CHECK(kp::classify_status(c.status) == c.expected.with_status(c.status));
  }
  STATIC_REQUIRE(kp::classify_status(429).kind() == Kind::rate_limited);
}

TEST_CASE("the seed keywords in a free-text body, on a 429 or on a status that misreports a limit", "[classify][keywords]") {
  struct Case {
    int status;
    std::string_view body;
    kp::Outcome expected;
  };
  const auto rate = kp::Outcome::rate_limited();
  const auto day_requests = kp::Outcome::quota_exhausted(kp::Metric::requests);
  const Case cases[] = {
      // YouTube answers a spent quota with 403: a quota, not a bad credential.
      {403, youtube_quota_403, day_requests},
      {403, "Daily Limit Exceeded. The quota will be reset at midnight Pacific Time (PT).", day_requests},
      {403, R"json({"message":"API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"})json", rate},
      {400, "Quota exceeded for this API key.", day_requests},
      {500, "Rate limit exceeded, please slow down.", rate},
      {503, "Daily quota exceeded", day_requests},
      {401, R"({"detail":{"status":"quota_exceeded","message":"This request exceeds your quota of 10000. You have 39 credits remaining, while 108 credits are required for this request."}})", day_requests},
      {400, "upstream answered 429", rate},
      {429, R"({"error":"Rate limit reached. You reached free usage limit (reset hourly). Please subscribe to a plan at https://huggingface.co/pricing to use the API at this rate"})", rate},
      {429, R"({"message":"Requests rate limit exceeded"})", rate},
      {429, R"({"object":"error","message":"Service tier capacity exceeded for this model.","type":"service_tier_capacity_exceeded","param":null,"code":"3505"})", rate},
      {429, "You have exceeded the daily token limit.", kp::Outcome::quota_exhausted(kp::Metric::tokens)},
      {429, "Monthly quota exceeded for characters", day_requests},
      {429, "quota exceeded: 1000 characters per month", kp::Outcome::quota_exhausted(kp::Metric::characters)},
      {429, "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day", day_requests},
      {429, "You are using a Trial key, which is limited to 1000 API calls / month.", day_requests},
      {429, "Token quota exhausted", kp::Outcome::quota_exhausted(kp::Metric::tokens)},
      {429, "<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>", rate},
      {429, "error code: 1015 You are being rate limited.", rate},
      // No limit word: the status decides.
      {400, "Invalid value for 'max_requests_per_day': must be positive", kp::Outcome::bad_request()},
      {500, "request req_4290ab1c failed", kp::Outcome::transient()},
      {400, "Bad request: see https://example.com/docs/rate-limits#quota", kp::Outcome::bad_request()},
      {403, "Forbidden", kp::Outcome::auth_failed()},
      // A size limit is the request's fault, unless a period makes it a quota.
      {400, "Input token limit exceeded for this model.", kp::Outcome::bad_request()},
      {400, R"({"error":{"message":"Request payload size limit exceeded","code":"invalid_argument"}})", kp::Outcome::bad_request()},
      {403, "Daily token limit exceeded.", kp::Outcome::quota_exhausted(kp::Metric::tokens)},
      {429, "Token limit exceeded.", rate},
      {401, R"({"error":{"message":"Invalid token","code":401}})", kp::Outcome::auth_failed()},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status, c.body);
    const auto o = answer(c.status, c.body);
    CHECK(o == c.expected.with_status(c.status));
  }
}

TEST_CASE("a quota without a period but with a retry time is spent until then", "[classify][keywords]") {
  CHECK(answer(429, {{"Retry-After", "30"}}, "Quota exceeded") ==
        kp::Outcome::quota_exhausted(kp::Metric::requests, now + 30s).with_status(429));
  CHECK(answer(429, "Quota exceeded. Please try again in 20 seconds.") ==
        kp::Outcome::quota_exhausted(kp::Metric::requests, now + 20s).with_status(429));
}

TEST_CASE("a daily answer is not ended by a generic Retry-After", "[classify][keywords][precedence]") {
  CHECK(answer(429, {{"Retry-After", "60"}}, "Daily request limit reached") ==
        kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
}

TEST_CASE("the first period a message names decides", "[classify][keywords][precedence]") {
  CHECK(answer(429, "Limit of 15 requests per minute exceeded; your daily limit is 1500.").kind() == Kind::rate_limited);
  CHECK(answer(429, "Daily limit exceeded (also 15 requests per minute).").kind() == Kind::quota_exhausted);
}

TEST_CASE("words echoed from the request in a JSON error are not the provider's", "[classify][keywords][precedence]") {
  constexpr std::string_view echo =
      R"({"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required","input":{"messages":[{"role":"user","content":"Why do I get 429 rate limit exceeded, daily quota?"}]}}]})";
  CHECK(answer(422, echo) == kp::Outcome::bad_request().with_status(422));
  // A JSON body with no message or code field is read as text.
  CHECK(answer(400, R"({"errorText":"Daily quota exceeded"})") == kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(400));
}

TEST_CASE("404 is the request's fault whatever its body says", "[classify][precedence]") {
  CHECK(answer(404, "quota exceeded") == kp::Outcome::bad_request().with_status(404));
  CHECK(answer(408, "rate limit") == kp::Outcome::transient().with_status(408));
}

// =============================================================================================
// Malformed input

TEST_CASE("malformed headers and bodies degrade to the status's meaning, never throw", "[classify][malformed]") {
  struct Case {
    int status;
    Headers headers;
    std::string body;
  };
  constexpr char nul_raw[] = "{\"error\":{\"message\":\"Rate\0limit\",\"code\":4\0" "29}}";
  const std::string nul_body{nul_raw, sizeof nul_raw - 1};
  const std::string huge(10 * 1024 * 1024, 'x');
  const Case cases[] = {
      {429, {{"retry-after", "99999999999999999999"}}, ""},
      {429, {{"retry-after", "-5"}}, ""},
      {429, {{"retry-after", "soon"}}, ""},
      {429, {{"retry-after", ""}}, ""},
      {429, {{"retry-after", "Sun, 06 Nov 1994 25:00:00 GMT"}}, ""},
      {429, {{"retry-after", "Fri, 31 Dec 2100 23:59:59 GMT"}}, ""},  // more than a year away
      {429, {{"retry-after-ms", "1e9"}}, ""},
      {429, {{"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "99999999999999999999s"}}, ""},
      {429, {{"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "-1s"}}, ""},
      {429, {}, "{\"error\":{\"message\":\"Rate limit reached for model `llama` on tokens per minute (TPM): Please try again in 99999999999999999999s.\"}}"},
      {429, {}, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"-38s"}]}})"},
      {429, {}, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"38 seconds"}]}})"},
      {429, {}, std::string{groq_tpm_429.substr(0, 60)}},          // truncated before the period
      {429, {}, std::string{gemini_per_day.substr(0, 50)}},       // truncated inside the message
      {429, {}, "{\"error\":{\"message\":\"\xff\xfe\xc3\x28 \xe2\x82 Too\"}}"},
      {429, {}, huge + " per day quota"},                          // past the 64 KiB that are read
      {503, {}, nul_body},
      {401, {{"x-ratelimit-remaining-requests", "\xff\xfe"}}, "\xc3\x28\xa0\xa1"},
      {400, {}, huge},
      {400, {}, std::string(100'000, '[') + std::string(100'000, '{')},
      {500, {}, std::string(1'000, '"')},
      {500, {}, std::string(1'000, '\\')},
  };
  for (const auto& c : cases) {
    CAPTURE(c.status, c.headers.size(), c.body.size());
    const auto o = answer(c.status, c.headers, c.body);
    const auto expected = kp::classify_status(c.status);
    CHECK(o.kind() == expected.kind());
    CHECK(o.retry_after() == expected.retry_after());
    CHECK(o.until() == expected.until());
    CHECK(o.status() == c.status);
  }
}

TEST_CASE("malformed rate-limit headers are left out of the reports, the rest kept", "[classify][malformed]") {
  const Headers headers{{"x-ratelimit-limit-requests", "ten"},         {"x-ratelimit-remaining-requests", "9"},
                        {"x-ratelimit-reset-requests", "6 minutes"},   {"x-ratelimit-limit-tokens", "1000"},
                        {"x-ratelimit-remaining-tokens", "-3"},        {"x-ratelimit-reset-tokens", "1s"},
                        {"anthropic-ratelimit-tokens-remaining", "5"},  {"anthropic-ratelimit-tokens-reset", "tomorrow"}};
  const auto o = answer(200, headers, "");
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 9, 0, kp::TimePoint{}});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 5, 0, kp::TimePoint{}});
}

TEST_CASE("bare seconds are accepted as a reset; an epoch timestamp is not", "[classify][headers]") {
  auto o = answer(200, {{"x-ratelimit-remaining-requests", "5"}, {"x-ratelimit-reset-requests", "60"}}, "");
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0].resets_at == now + 60s);
  o = answer(200, {{"x-ratelimit-remaining-requests", "5"}, {"x-ratelimit-reset-requests", "1795420800"}}, "");
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0].resets_at == kp::TimePoint{});
}

// =============================================================================================
// Header lookups

namespace {

// cpp-httplib's Headers: a multimap ordered case-insensitively.
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
      return std::tolower(x) < std::tolower(y);
    });
  }
};
using HttplibLikeHeaders = std::multimap<std::string, std::string, CaseInsensitiveLess>;

}  // namespace

TEST_CASE("classify looks headers up by lowercase name; maps of any case are matched case-insensitively", "[classify][lookup]") {
  std::vector<std::string> asked;
  const auto recording = [&](std::string_view name) -> std::optional<std::string_view> {
    asked.emplace_back(name);
    if (name == "retry-after") return "7";
    return std::nullopt;
  };
  CHECK(kp::classify(429, recording, "", now).retry_after() == 7s);
  REQUIRE_FALSE(asked.empty());
  for (const auto& name : asked) {
    CAPTURE(name);
    CHECK(std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  }

  const std::map<std::string, std::string> std_map{{"Retry-After", "7"}, {"X-RateLimit-Remaining-Tokens", "12"}};
  const std::unordered_map<std::string, std::string> unordered{{"RETRY-AFTER", "7"}, {"x-ratelimit-remaining-tokens", "12"}};
  const HttplibLikeHeaders multimap{{"retry-after", "7"}, {"Retry-After", "99"}, {"x-RateLimit-remaining-tokens", "12"}};
  for (const auto& o : {kp::classify(429, std_map, "", now), kp::classify(429, kp::header_lookup(std_map), "", now),
                        kp::classify(429, unordered, "", now), kp::classify(429, multimap, "", now)}) {
    CHECK(o.retry_after() == 7s);  // of repeated headers, the first
    REQUIRE(o.remaining().size() == 1);
    CHECK(o.remaining()[0].remaining == 12);
  }
  CHECK(kp::header_lookup(std_map)("retry-after") == std::optional<std::string_view>{"7"});
  CHECK(kp::header_lookup(std_map)("RETRY-after") == std::optional<std::string_view>{"7"});
  CHECK_FALSE(kp::header_lookup(std_map)("retry-afte"));
}

#ifdef KEYPOOL_TEST_HAVE_HTTPLIB
TEST_CASE("cpp-httplib's Headers work as they are", "[classify][lookup]") {
  httplib::Headers headers{{"Retry-After", "3"}, {"X-RateLimit-Remaining-Requests", "0"}, {"x-ratelimit-reset-requests", "3s"}};
  const auto o = kp::classify(429, headers, R"({"error":{"message":"Too many requests"}})", now);
  CHECK(o.retry_after() == 3s);
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 0, 0, now + 3s});
}
#endif

TEST_CASE("a lookup may return an optional string, a nullable C string, a string or a pointer", "[classify][lookup]") {
  const std::map<std::string, std::string> values{{"retry-after", "5"}};
  const auto optional_string = [&](std::string_view name) -> std::optional<std::string> {
    const auto it = values.find(std::string{name});
    if (it == values.end()) return std::nullopt;
    return it->second;  // a temporary: classify reads it before it dies
  };
  const auto c_string = [&](std::string_view name) -> const char* {
    const auto it = values.find(std::string{name});
    return it == values.end() ? nullptr : it->second.c_str();
  };
  const auto string = [&](std::string_view name) -> std::string {  // httplib's get_header_value: "" when absent
    const auto it = values.find(std::string{name});
    return it == values.end() ? std::string{} : it->second;
  };
  const auto pointer = [&](std::string_view name) -> const std::string* {
    const auto it = values.find(std::string{name});
    return it == values.end() ? nullptr : &it->second;
  };
  CHECK(kp::classify(429, optional_string, "", now).retry_after() == 5s);
  CHECK(kp::classify(429, c_string, "", now).retry_after() == 5s);
  CHECK(kp::classify(429, string, "", now).retry_after() == 5s);
  CHECK(kp::classify(429, pointer, "", now).retry_after() == 5s);
  STATIC_REQUIRE(kp::HeaderLookup<decltype(optional_string)>);
  STATIC_REQUIRE(kp::HeaderLookup<kp::NoHeaders>);
  STATIC_REQUIRE(kp::HeaderMap<std::map<std::string, std::string>>);
  STATIC_REQUIRE(kp::HeaderMap<std::vector<std::pair<std::string_view, std::string_view>>>);
  STATIC_REQUIRE_FALSE(kp::HeaderLookup<int>);
  STATIC_REQUIRE_FALSE(kp::HeaderLookup<std::map<std::string, std::string>>);
  STATIC_REQUIRE_FALSE(kp::HeaderMap<std::map<std::string, int>>);
  STATIC_REQUIRE_FALSE(kp::HeaderLookup<decltype([](std::string_view) { return 42; })>);
}

TEST_CASE("a lookup that throws is caught: the answer still means what its status means", "[classify][lookup][malformed]") {
  const auto throwing = [](std::string_view) -> std::optional<std::string_view> { throw std::runtime_error("header map gone"); };
  CHECK(kp::classify(429, throwing, groq_tpd_429, now) == kp::Outcome::rate_limited().with_status(429));
  CHECK(kp::classify(200, throwing, "", now) == kp::Outcome::success().with_status(200));
  CHECK(kp::classify(401, throwing, "", now) == kp::Outcome::auth_failed().with_status(401));
  STATIC_REQUIRE(noexcept(kp::classify(429, throwing, "", now)));
  STATIC_REQUIRE(noexcept(kp::classify(429, kp::no_headers, "")));
}

TEST_CASE("the overload without a time uses the system clock", "[classify][time]") {
  const auto before = time_point_cast<kp::Duration>(system_clock::now());
  const auto o = kp::classify(429, std::map<std::string, std::string>{{"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-tokens", "1h"}},
                              groq_tpd_429);
  const auto after = time_point_cast<kp::Duration>(system_clock::now());
  CHECK(o.until() >= before + 12min + 19'296ms);
  CHECK(o.until() <= after + 12min + 19'296ms);
  REQUIRE(o.remaining().size() == 1);
  CHECK(o.remaining()[0].resets_at >= before + 1h);
  CHECK(o.remaining()[0].resets_at <= after + 1h);
}

TEST_CASE("times near the end of the time point range saturate instead of overflowing", "[classify][time]") {
  const kp::TimePoint late = kp::TimePoint::max() - 1s;
  const auto o = kp::classify(429, kp::no_headers, groq_tpd_429, late);
  CHECK(o.kind() == Kind::quota_exhausted);
  CHECK(o.until() == kp::TimePoint::max());
  const kp::TimePoint early = kp::TimePoint::min() + 1s;
  CHECK(kp::classify(429, Headers{{"retry-after", "Mon, 23 Nov 2026 08:02:00 GMT"}}, "", early) ==
        kp::Outcome::rate_limited().with_status(429));  // more than a year away: ignored
}

// =============================================================================================
// Dialects: whose answer it is

TEST_CASE("the dialect names the windows: Groq's requests count a day, OpenAI's a minute; generic leaves them unknown", "[classify][dialect]") {
  const std::string_view body = R"({"id":"chatcmpl-1","object":"chat.completion"})";
  auto o = kp::classify(200, groq_headers, body, now, kp::dialects::groq);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 14'370, 14'400, now + 2min + 59'560ms, kp::Window::day});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 17'997, 18'000, now + 7'660ms, kp::Window::minute});
  o = kp::classify(200, openai_headers, body, now, kp::dialects::openai);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 9'999, 10'000, now + 6ms, kp::Window::minute});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 1'999'877, 2'000'000, now + 3ms, kp::Window::minute});
  o = kp::classify(200, anthropic_headers, body, now, kp::dialects::anthropic);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 3'999, 4'000, now + 1s, kp::Window::minute});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 452'000, 480'000, now + 4s, kp::Window::minute});
  // The generic dialect, and the overload without one: the same names, windows unknown.
  o = kp::classify(200, groq_headers, body, now, kp::dialects::generic);
  CHECK(o == answer(200, groq_headers, body));
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0].window == kp::Window::unknown);
  // Gemini, Mistral and OpenRouter do not send OpenAI's names: their dialects read none of them.
  for (const kp::Dialect reading : {kp::dialects::gemini, kp::dialects::mistral, kp::dialects::openrouter}) {
    CAPTURE(kp::to_string(reading));
    CHECK(kp::classify(200, groq_headers, body, now, reading).remaining().empty());
  }
  // Another provider's headers are not this dialect's: Anthropic's in the groq dialect are not read.
  CHECK(kp::classify(200, anthropic_headers, body, now, kp::dialects::groq).remaining().empty());
}

TEST_CASE("the cerebras dialect reads its -day and -minute headers; the generic one does not", "[classify][dialect]") {
  const auto o = kp::classify(200, cerebras_headers, R"({"id":"chatcmpl-2"})", now, kp::dialects::cerebras);
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0] == kp::ProviderRemaining{kp::Metric::requests, 14'397, 14'400, now + 33'011s + 382'867'097ns, kp::Window::day});
  CHECK(o.remaining()[1] == kp::ProviderRemaining{kp::Metric::tokens, 59'140, 60'000, now + 11s + 382'867'097ns, kp::Window::minute});
  CHECK(answer(200, cerebras_headers, "").remaining().empty());
}

TEST_CASE("Cerebras' 429s name their window: the minute's are rate limits, waiting for the exhausted figure's reset; the day's a quota", "[classify][dialect][cerebras]") {
  constexpr std::string_view requests_429 =
      R"({"message":"Requests per minute limit exceeded - too many requests sent.","type":"too_many_requests_error","param":"quota","code":"request_quota_exceeded"})";
  constexpr std::string_view tokens_429 =
      R"({"message":"Tokens per minute limit exceeded - too many tokens processed.","type":"too_many_tokens_error","param":"quota","code":"token_quota_exceeded"})";
  constexpr std::string_view tokens_per_day_429 =
      R"({"message":"Tokens per day limit exceeded - too many tokens processed.","type":"too_many_tokens_error","param":"quota","code":"token_quota_exceeded"})";
  CHECK(answer(429, requests_429) == kp::Outcome::rate_limited().with_status(429));
  CHECK(answer(429, tokens_429) == kp::Outcome::rate_limited().with_status(429));
  CHECK(kp::classify(429, Headers{{"retry-after", "60"}}, tokens_per_day_429, now, kp::dialects::cerebras) ==
        kp::Outcome::quota_exhausted(kp::Metric::tokens).with_status(429));
  const Headers spent{{"x-ratelimit-limit-tokens-minute", "60000"}, {"x-ratelimit-remaining-tokens-minute", "0"},
                      {"x-ratelimit-reset-tokens-minute", "11.382867097855"}};
  CHECK(kp::classify(429, spent, tokens_429, now, kp::dialects::cerebras).retry_after() == 11s + 382'867'097ns);
}

TEST_CASE("in the groq dialect a daily quota's Retry-After is its end; in the generic one only the message's time is", "[classify][dialect][groq]") {
  // Groq's own answer gives both: the message's finer time decides in any dialect.
  CHECK(kp::classify(429, groq_tpd_429_headers, groq_tpd_429_wait_7m, now, kp::dialects::groq).until() == now + 7min + 12'500ms);
  CHECK(answer(429, groq_tpd_429_headers, groq_tpd_429_wait_7m).until() == now + 7min + 12'500ms);
  // A daily answer without a time in its words.
  const Headers retry{{"retry-after", "433"}};
  CHECK(kp::classify(429, retry, "Daily request limit reached", now, kp::dialects::groq) ==
        kp::Outcome::quota_exhausted(kp::Metric::requests, now + 433s).with_status(429));
  CHECK(kp::classify(429, retry, "Daily request limit reached", now, kp::dialects::openai) ==
        kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
  // Gemini's per-day quota id with a short retryDelay still spends the day, whatever the dialect.
  CHECK(kp::classify(429, kp::no_headers, gemini_per_day, now, kp::dialects::gemini) ==
        kp::Outcome::quota_exhausted(kp::Metric::requests).with_status(429));
  CHECK(kp::classify(429, Headers{{"retry-after", "38"}}, gemini_per_day, now, kp::dialects::groq).until() == kp::TimePoint{});
}

// =============================================================================================
// End to end: what the pool does with classify's outcome

namespace {

using ManualPool = kp::KeyPool<kp::clock::Manual>;

struct PoolFixture {
  kp::clock::Manual clock{now};
  ManualPool pool{kp::Capacity{8}, clock};
  kp::ProviderId provider = pool.add_provider("provider", 0);
  kp::KeyId key(std::vector<kp::Limit> limits) {
    static int serial = 0;
    return pool.add_key(provider, kp::Secret{"test_key_secret_" + std::to_string(++serial)}, std::move(limits));
  }
  std::uint64_t used(kp::KeyId k, std::size_t limit) { return pool.snapshot().keys.at(k.value).limits.at(limit).used; }
};

}  // namespace

TEST_CASE("end to end: Gemini's per-day 429 keeps the key out until midnight UTC, not for a minute", "[classify][pool]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::requests(30).per_minute(), kp::Limit::requests(1'000).per_day()});
  auto lease = f.pool.acquire();
  REQUIRE(lease);
  lease.fail(kp::classify(429, kp::no_headers, gemini_per_day, f.clock.now()));
  CHECK(f.used(k, 1) == 1'000);
  for (const auto later : {Duration{0}, Duration{38s}, Duration{2min}, Duration{2h}, Duration{15h + 59min + 59s}}) {
    f.clock.set(now + later);
    CAPTURE(later.count());
    const auto refused = f.pool.acquire();
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::exhausted);
    CHECK(refused.refusal().resets_at == midnight);
  }
  f.clock.set(midnight);
  CHECK(f.pool.acquire());
}

TEST_CASE("end to end: Gemini's per-minute 429 cools the key for its retryDelay only", "[classify][pool]") {
  PoolFixture f;
  f.key({kp::Limit::requests(30).per_minute(), kp::Limit::requests(1'000).per_day()});
  f.pool.acquire().fail(kp::classify(429, kp::no_headers, gemini_tokens_per_minute, f.clock.now()));
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 38s);
  f.clock.advance(37s);
  CHECK_FALSE(f.pool.acquire());
  f.clock.advance(1s);
  CHECK(f.pool.acquire());
}

TEST_CASE("end to end: Groq's per-day 429 keeps the key from tokens until the message's time", "[classify][pool]") {
  // Groq's daily token quota is rolling: the message says when enough tokens free up. The key
  // must stay out until then, not come back when the minute's window (which ends first) resets.
  PoolFixture f;
  f.key({kp::Limit::requests(30).per_minute(), kp::Limit::tokens(6'000).per_minute(), kp::Limit::tokens(100'000).per_day()});
  f.pool.acquire({.tokens = 1'024}).fail(kp::classify(429, groq_headers, groq_tpd_429, f.clock.now()));
  for (const auto later : {Duration{1min}, Duration{5min}, Duration{12min + 19s}}) {
    f.clock.set(now + later);
    CAPTURE(later.count());
    CHECK_FALSE(f.pool.acquire({.tokens = 1'024}));
  }
  f.clock.set(now + 12min + 19'296ms);
  CHECK(f.pool.acquire({.tokens = 1'024}));
}

TEST_CASE("end to end: insufficient_quota disables the key until an operator enables it", "[classify][pool]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::requests(500).per_minute()});
  f.pool.acquire().fail(kp::classify(429, openai_headers, openai_insufficient_quota, f.clock.now()));
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::disabled);
  f.clock.advance(24h * 30);
  CHECK_FALSE(f.pool.acquire());
  f.pool.enable(k);
  CHECK(f.pool.acquire());
}

TEST_CASE("end to end: a 200's x-ratelimit headers tighten the pool's count", "[classify][pool]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::requests(60).per_minute(), kp::Limit::tokens(150'000).per_minute()});
  const Headers headers{{"x-ratelimit-limit-requests", "60"},      {"x-ratelimit-remaining-requests", "5"},
                        {"x-ratelimit-reset-requests", "60s"},      {"x-ratelimit-limit-tokens", "150000"},
                        {"x-ratelimit-remaining-tokens", "149000"}, {"x-ratelimit-reset-tokens", "400ms"}};
  auto lease = f.pool.acquire({.tokens = 500});
  lease.commit({.tokens = 500}, kp::classify(200, headers, R"({"id":"chatcmpl-1"})", f.clock.now()));
  CHECK(f.used(k, 0) == 55);   // the provider has 5 left: someone else uses this key too
  CHECK(f.used(k, 1) == 1'000);
  for (int i = 0; i < 5; ++i) CHECK(f.pool.acquire());
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
}

TEST_CASE("end to end: Groq's 200 leaves a per-day token limit alone: its tokens headers count a minute", "[classify][pool][reports]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::tokens(14'400).per_day()});
  f.pool.acquire({.tokens = 1'200}).commit({.tokens = 1'200}, kp::classify(200, groq_free_tier_headers, R"({"id":"chatcmpl-1"})", f.clock.now()));
  CHECK(f.used(k, 0) == 1'200);  // not 14,400 − 4,800 left in Groq's minute
  for (int i = 0; i < 10; ++i) CHECK(f.pool.acquire({.tokens = 1'200}));  // the rest of the day is there
}

TEST_CASE("end to end: a per-minute 429 with nothing left until a 7 s reset rests a per-day key for 7 s, not until midnight", "[classify][pool][reports]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::requests(10'000).per_day(), kp::Limit::tokens(1'000'000).per_day()});
  f.pool.acquire({.tokens = 1'912}).fail(kp::classify(429, openai_tpm_exhausted_headers, openai_tpm_429_wait_7s, f.clock.now()));
  CHECK(f.used(k, 0) == 1);  // the refused request is counted
  CHECK(f.used(k, 1) == 0);  // the day's tokens are not filled
  const auto refused = f.pool.acquire({.tokens = 1'912});
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 7s);
  f.clock.advance(7s);
  CHECK(f.pool.acquire({.tokens = 1'912}));
}

TEST_CASE("end to end: in the groq dialect its 200 tightens the day's requests and the minute's tokens, nothing else", "[classify][pool][reports][dialect]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::requests(30).per_minute(), kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(6'000).per_minute(),
                        kp::Limit::tokens(500'000).per_day()});
  f.pool.acquire({.tokens = 200}).commit({.tokens = 200}, kp::classify(200, groq_free_tier_headers, R"({"id":"chatcmpl-1"})", f.clock.now(), kp::dialects::groq));
  CHECK(f.used(k, 0) == 1);      // requests per minute: a day's figure says nothing about it
  CHECK(f.used(k, 1) == 1);      // requests per day: 14,400 − 14,399 left
  CHECK(f.used(k, 2) == 1'200);  // tokens per minute: 6,000 − 4,800 left
  CHECK(f.used(k, 3) == 200);    // tokens per day: untouched
}

TEST_CASE("end to end: Groq's daily-token 429 with retry-after 433 serves again after 433 s, the day not filled", "[classify][pool][dialect]") {
  PoolFixture f;
  const auto k = f.key({kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(6'000).per_minute(), kp::Limit::tokens(500'000).per_day()});
  f.pool.acquire({.tokens = 1'184}).fail(kp::classify(429, groq_tpd_429_headers, groq_tpd_429_wait_7m, f.clock.now(), kp::dialects::groq));
  CHECK(f.used(k, 2) == 0);  // the day's tokens are not marked spent until midnight
  for (const auto later : {Duration{0}, Duration{9s}, Duration{5min}, Duration{432s}}) {
    f.clock.set(now + later);
    CAPTURE(later.count());
    const auto refused = f.pool.acquire({.tokens = 1'184});
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  }
  f.clock.set(now + 433s);
  CHECK(f.pool.acquire({.tokens = 1'184}));
}

TEST_CASE("end to end: YouTube's quotaExceeded on a key counting units waits until midnight Pacific, not a minute", "[classify][pool]") {
  PoolFixture f;
  f.key({kp::Limit::units(10'000).per_day().reset_zone(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0"))});
  f.clock.set(now + 11h);  // 19:00 UTC, 11:00 PST
  const kp::TimePoint midnight_pacific{sys_days{2026y / November / 24} + 8h};
  const auto o = kp::classify(403, kp::no_headers, youtube_quota_403, f.clock.now());
  REQUIRE(o.kind() == Kind::quota_exhausted);
  REQUIRE(o.metric() != kp::Metric::units);  // a quota the key does not count
  f.pool.acquire({.units = 100}).fail(o);
  for (const auto later : {Duration{1min}, Duration{2h}, Duration{12h + 59min + 59s}}) {
    f.clock.set(now + 11h + later);
    CAPTURE(later.count());
    const auto refused = f.pool.acquire({.units = 100});
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::cooling_down);
    CHECK(refused.refusal().resets_at == midnight_pacific);
  }
  f.clock.set(midnight_pacific);
  CHECK(f.pool.acquire({.units = 100}));
}

TEST_CASE("end to end: a provider added with its dialect reads its answers so through Lease::classify", "[classify][pool][dialect]") {
  kp::clock::Manual clock{now};
  kp::KeyPool<kp::clock::Manual> pool{clock};
  const auto groq = pool.add_provider("groq", kp::dialects::groq);
  const auto other = pool.add_provider("other", 1);
  pool.add_key(groq, kp::Secret{"gsk_lease_classify_1"},
               {kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(6'000).per_minute(), kp::Limit::tokens(500'000).per_day()});
  pool.add_key(other, kp::Secret{"sk_lease_classify_2"}, {kp::Limit::requests(10).per_minute()});
  auto lease = pool.acquire({.tokens = 200});
  REQUIRE(lease);
  REQUIRE(lease.provider() == groq);
  CHECK(lease.dialect() == kp::dialects::groq);
  const auto o = lease.classify(200, groq_free_tier_headers, R"({"id":"chatcmpl-1"})", clock.now());
  CHECK(o == kp::classify(200, groq_free_tier_headers, R"({"id":"chatcmpl-1"})", now, kp::dialects::groq));
  REQUIRE(o.remaining().size() == 2);
  CHECK(o.remaining()[0].window == kp::Window::day);
  lease.commit({.tokens = 200}, o);
  const auto snap = pool.snapshot();
  CHECK(snap.keys[0].limits[0].used == 1);      // requests per day: 14,400 − 14,399 left
  CHECK(snap.keys[0].limits[1].used == 1'200);  // tokens per minute: 6,000 − 4,800 left
  CHECK(snap.keys[0].limits[2].used == 200);    // tokens per day: untouched
  // A provider added without a dialect reads as generic.
  pool.disable(kp::KeyId{0});
  auto generic = pool.acquire();
  REQUIRE(generic);
  CHECK(generic.provider() == other);
  CHECK(generic.dialect() == kp::dialects::generic);
  CHECK(generic.classify(429, kp::no_headers, "", clock.now()) == kp::Outcome::rate_limited().with_status(429));
}

TEST_CASE("end to end: Gemini's per-day quotaId still spends the day in its dialect, whatever its short waits", "[classify][pool][dialect]") {
  kp::clock::Manual clock{now};
  kp::KeyPool<kp::clock::Manual> pool{clock};
  pool.add_key(pool.add_provider("gemini", kp::dialects::gemini), kp::Secret{"AIza_dialect_day_1"},
               {kp::Limit::requests(15).per_minute(), kp::Limit::requests(200).per_day()});
  auto lease = pool.acquire();
  REQUIRE(lease);
  lease.fail(lease.classify(429, Headers{{"retry-after", "38"}}, gemini_per_day, clock.now()));
  CHECK(pool.snapshot().keys[0].limits[1].used == 200);
  for (const auto later : {Duration{38s}, Duration{2min}, Duration{15h}}) {
    clock.set(now + later);
    CAPTURE(later.count());
    const auto refused = pool.acquire();
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::exhausted);
    CHECK(refused.refusal().resets_at == midnight);
  }
  clock.set(midnight);
  CHECK(pool.acquire());
}

TEST_CASE("end to end: in the mistral dialect a 200 tightens the minute's limits and the month's; a spent month keeps the key out until it ends", "[classify][pool][dialect][mistral]") {
  kp::clock::Manual clock{now};
  kp::KeyPool<kp::clock::Manual> pool{clock};
  pool.add_key(pool.add_provider("mistral", kp::dialects::mistral), kp::Secret{"mistral_dialect_month_1"},
               {kp::Limit::requests(60).per_minute(), kp::Limit::tokens(50'000).per_minute(), kp::Limit::tokens(4'000'000).per_month()});
  auto lease = pool.acquire({.tokens = 2'804});
  REQUIRE(lease);
  lease.commit({.tokens = 2'804}, lease.classify(200, mistral_headers, R"({"id":"cmpl-1"})", clock.now()));
  auto snap = pool.snapshot();
  CHECK(snap.keys[0].limits[0].used == 1);       // requests per minute: 60 − 59 left
  CHECK(snap.keys[0].limits[1].used == 2'804);   // tokens per minute: 50,000 − 47,196 left
  CHECK(snap.keys[0].limits[2].used == 49'754);  // tokens per month: 4,000,000 − 3,950,246 left
  clock.advance(1min);
  lease = pool.acquire({.tokens = 100});
  REQUIRE(lease);
  lease.fail(lease.classify(429, mistral_month_spent_headers, mistral_429, clock.now()));
  CHECK(pool.snapshot().keys[0].limits[2].used == 4'000'000);
  for (const auto later : {Duration{2min}, Duration{3h}, Duration{24h * 7}}) {
    clock.set(now + later);
    CAPTURE(later.count());
    const auto refused = pool.acquire({.tokens = 100});
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::exhausted);
  }
  clock.set(sys_days{2026y / December / 1});
  CHECK(pool.acquire({.tokens = 100}));
}

TEST_CASE("end to end: OpenRouter's per-minute 429 rests the key for its reset; its per-day 429 until midnight UTC", "[classify][pool][dialect][openrouter]") {
  kp::clock::Manual clock{now};
  kp::KeyPool<kp::clock::Manual> pool{clock};
  pool.add_key(pool.add_provider("openrouter", kp::dialects::openrouter), kp::Secret{"sk-or-v1-dialect-free-1"},
               {kp::Limit::requests(20).per_minute(), kp::Limit::requests(50).per_day()});
  auto lease = pool.acquire();
  REQUIRE(lease);
  lease.fail(lease.classify(429, openrouter_minute_headers, openrouter_per_min_429, clock.now()));
  auto refused = pool.acquire();
  REQUIRE_FALSE(refused);
  // The figure's amount (20) and reset name the minute's limit: it reads full until the minute ends.
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().resets_at == now + 60s);
  CHECK(pool.snapshot().keys[0].limits[0].used == 20);
  CHECK(pool.snapshot().keys[0].limits[1].used == 1);  // the day is not spent by a minute's figure
  clock.advance(60s);
  lease = pool.acquire();
  REQUIRE(lease);
  lease.fail(lease.classify(429, openrouter_day_headers, openrouter_per_day_429, clock.now()));
  CHECK(pool.snapshot().keys[0].limits[1].used == 50);
  clock.set(now + 15h);
  refused = pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().resets_at == midnight);
  clock.set(midnight);
  CHECK(pool.acquire());
}
