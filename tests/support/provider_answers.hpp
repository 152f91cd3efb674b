// Answers as the providers send them (status lines aside): headers and bodies of OpenAI, Groq,
// Cerebras, Anthropic, Gemini, Vertex AI and YouTube, for the tests of classify (the specification, and the
// seeds of the fuzzer).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// An answer's headers, name and value, in the order received.
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace provider_answers {


// OpenAI: headers on every answer; durations as Go prints them.
inline const Headers openai_headers{
    {"x-ratelimit-limit-requests", "10000"},    {"x-ratelimit-limit-tokens", "2000000"},
    {"x-ratelimit-remaining-requests", "9999"}, {"x-ratelimit-remaining-tokens", "1999877"},
    {"x-ratelimit-reset-requests", "6ms"},      {"x-ratelimit-reset-tokens", "3ms"},
    {"openai-processing-ms", "412"},            {"x-request-id", "req_8f7e6d5c4b3a29180716253443526170"}};

inline constexpr std::string_view openai_tpm_429 = R"({
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-Xk2mT9pQ7rLw3vBn on tokens per min (TPM): Limit 30000, Used 28722, Requested 2184. Please try again in 1.812s. Visit https://platform.openai.com/account/rate-limits to learn more.",
        "type": "tokens",
        "param": null,
        "code": "rate_limit_exceeded"
    }
})";

// OpenAI's 429 for the minute's tokens: the tokens headers say none are left until the reset.
inline const Headers openai_tpm_exhausted_headers{
    {"x-ratelimit-limit-requests", "500"},     {"x-ratelimit-limit-tokens", "30000"},
    {"x-ratelimit-remaining-requests", "497"}, {"x-ratelimit-remaining-tokens", "0"},
    {"x-ratelimit-reset-requests", "360ms"},   {"x-ratelimit-reset-tokens", "7s"},
    {"x-request-id", "req_2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b"}};

inline constexpr std::string_view openai_tpm_429_wait_7s = R"({
    "error": {
        "message": "Rate limit reached for gpt-4o-mini in organization org-Xk2mT9pQ7rLw3vBn on tokens per min (TPM): Limit 30000, Used 30000, Requested 1912. Please try again in 7s. Visit https://platform.openai.com/account/rate-limits to learn more.",
        "type": "tokens",
        "param": null,
        "code": "rate_limit_exceeded"
    }
})";

inline constexpr std::string_view openai_rpd_429 = R"({
    "error": {
        "message": "Rate limit reached for gpt-3.5-turbo in organization org-Xk2mT9pQ7rLw3vBn on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit https://platform.openai.com/account/rate-limits to learn more. You can increase your rate limit by adding a payment method to your account at https://platform.openai.com/account/billing.",
        "type": "requests",
        "param": null,
        "code": "rate_limit_exceeded"
    }
})";

inline constexpr std::string_view openai_insufficient_quota = R"({
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "type": "insufficient_quota",
        "param": null,
        "code": "insufficient_quota"
    }
})";

inline constexpr std::string_view openai_billing_not_active = R"({
    "error": {
        "message": "Your account is not active, please check your billing details on our website.",
        "type": "billing_not_active",
        "param": null,
        "code": "billing_not_active"
    }
})";

inline constexpr std::string_view openai_invalid_key = R"({
    "error": {
        "message": "Incorrect API key provided: sk-proj-********************************************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": null,
        "code": "invalid_api_key"
    }
})";

inline constexpr std::string_view openai_model_not_found = R"({
    "error": {
        "message": "The model `gpt-5-turbo-preview` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": null,
        "code": "model_not_found"
    }
})";

inline constexpr std::string_view openai_context_length = R"({
  "error": {
    "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded"
  }
})";

inline constexpr std::string_view openai_server_error = R"({
  "error": {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": null,
    "code": null
  }
})";

// Groq: x-ratelimit-*-requests count requests per DAY, -tokens tokens per MINUTE.
inline const Headers groq_headers{
    {"x-ratelimit-limit-requests", "14400"},      {"x-ratelimit-limit-tokens", "18000"},
    {"x-ratelimit-remaining-requests", "14370"},  {"x-ratelimit-remaining-tokens", "17997"},
    {"x-ratelimit-reset-requests", "2m59.56s"},   {"x-ratelimit-reset-tokens", "7.66s"},
    {"x-groq-region", "us-east-1"},               {"x-request-id", "req_01jq8v3h4xfc9a7bz2m6n5k0t1"}};

// Groq's free tier on a 200: 14,400 requests per day, 6,000 tokens per minute.
inline const Headers groq_free_tier_headers{
    {"x-ratelimit-limit-requests", "14400"},     {"x-ratelimit-limit-tokens", "6000"},
    {"x-ratelimit-remaining-requests", "14399"}, {"x-ratelimit-remaining-tokens", "4800"},
    {"x-ratelimit-reset-requests", "6s"},        {"x-ratelimit-reset-tokens", "12s"},
    {"x-groq-region", "us-east-1"},              {"x-request-id", "req_01jq8v9k2mfc3a7bz2m6n5k0t4"}};

inline constexpr std::string_view groq_tpd_429 =
    R"({"error":{"message":"Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01hx3a9zq4f8m2k7v6b5n1c0d9` service tier `on_demand` on tokens per day (TPD): Limit 100000, Used 99719, Requested 1024. Please try again in 12m19.296s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}})";

// Groq's daily tokens spent, with its headers on that 429: the day frees up continuously, and
// Retry-After (433 s) and the message (7m12.5s) say when enough has.
inline const Headers groq_tpd_429_headers{
    {"retry-after", "433"},
    {"x-ratelimit-limit-requests", "14400"},     {"x-ratelimit-limit-tokens", "6000"},
    {"x-ratelimit-remaining-requests", "14211"}, {"x-ratelimit-remaining-tokens", "5120"},
    {"x-ratelimit-reset-requests", "18m53.4s"},  {"x-ratelimit-reset-tokens", "8.8s"},
    {"x-groq-region", "us-east-1"},              {"x-request-id", "req_01jq8w0b7sfc3a7bz2m6n5k0t9"}};

inline constexpr std::string_view groq_tpd_429_wait_7m =
    R"({"error":{"message":"Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01hx3a9zq4f8m2k7v6b5n1c0d9` service tier `on_demand` on tokens per day (TPD): Limit 500000, Used 499640, Requested 1184. Please try again in 7m12.5s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}})";

inline constexpr std::string_view groq_rpd_429 =
    R"({"error":{"message":"Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01hx3a9zq4f8m2k7v6b5n1c0d9` service tier `on_demand` on requests per day (RPD): Limit 14400, Used 14400, Requested 1. Please try again in 6s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"requests","code":"rate_limit_exceeded"}})";

inline constexpr std::string_view groq_tpm_429 =
    R"({"error":{"message":"Rate limit reached for model `llama-3.1-8b-instant` in organization `org_01hx3a9zq4f8m2k7v6b5n1c0d9` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5316, Requested 1523. Please try again in 8.39s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}})";

inline constexpr std::string_view groq_rpm_429 =
    R"({"error":{"message":"Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01hx3a9zq4f8m2k7v6b5n1c0d9` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in 2s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"requests","code":"rate_limit_exceeded"}})";

inline constexpr std::string_view groq_413 =
    R"({"error":{"message":"Request too large for model `llama-3.3-70b-versatile` in organization `org_01hx3a9zq4f8m2k7v6b5n1c0d9` service tier `on_demand` on tokens per minute (TPM): Limit 12000, Requested 18342, please reduce your message size and try again. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}})";

// Cerebras: the window in the header names; resets in decimal seconds.
inline const Headers cerebras_headers{
    {"x-ratelimit-limit-requests-day", "14400"},
    {"x-ratelimit-limit-tokens-minute", "60000"},
    {"x-ratelimit-remaining-requests-day", "14397"},
    {"x-ratelimit-remaining-tokens-minute", "59140"},
    {"x-ratelimit-reset-requests-day", "33011.382867097855"},
    {"x-ratelimit-reset-tokens-minute", "11.382867097854614"},
    {"cf-ray", "8f1a2b3c4d5e6f70-IAD"}};

// Anthropic: RFC 3339 resets; retry-after on a 429.
inline const Headers anthropic_headers{
    {"anthropic-ratelimit-requests-limit", "4000"},
    {"anthropic-ratelimit-requests-remaining", "3999"},
    {"anthropic-ratelimit-requests-reset", "2026-11-23T08:00:01Z"},
    {"anthropic-ratelimit-tokens-limit", "480000"},
    {"anthropic-ratelimit-tokens-remaining", "452000"},
    {"anthropic-ratelimit-tokens-reset", "2026-11-23T08:00:04Z"},
    {"anthropic-ratelimit-input-tokens-limit", "400000"},
    {"anthropic-ratelimit-input-tokens-remaining", "372000"},
    {"anthropic-ratelimit-input-tokens-reset", "2026-11-23T08:00:04Z"},
    {"anthropic-ratelimit-output-tokens-limit", "80000"},
    {"anthropic-ratelimit-output-tokens-remaining", "80000"},
    {"anthropic-ratelimit-output-tokens-reset", "2026-11-23T08:00:00Z"},
    {"request-id", "req_011CQvGQ6hM8wZkX9o3dJ5uS"}};

inline constexpr std::string_view anthropic_rate_limit =
    R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (8c1f4e2a-7b3d-4f6e-9a0c-5d2b1e8f7a6c) of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."},"request_id":"req_011CQvGQ6hM8wZkX9o3dJ5uS"})";
inline constexpr std::string_view anthropic_overloaded = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":null})";
inline constexpr std::string_view anthropic_auth = R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CQvH2b"})";
inline constexpr std::string_view anthropic_permission =
    R"({"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}})";
inline constexpr std::string_view anthropic_credit =
    R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011CQvJ8"})";
inline constexpr std::string_view anthropic_too_large =
    R"({"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}})";

// Gemini: google.rpc.Status with QuotaFailure, Help and RetryInfo details.
inline constexpr std::string_view gemini_per_day = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 200, model: gemini-2.0-flash\nPlease retry in 38.070281218s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {
              "location": "global",
              "model": "gemini-2.0-flash"
            },
            "quotaValue": "200"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
          {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "38s"
      }
    ]
  }
}
)";

inline constexpr std::string_view gemini_tokens_per_minute = R"({
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
            "quotaDimensions": {
              "location": "global",
              "model": "gemini-2.0-flash"
            },
            "quotaValue": "1000000"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [
          {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "38s"
      }
    ]
  }
}
)";

inline constexpr std::string_view gemini_tokens_per_day = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "quotaId": "GenerateContentInputTokensPerModelPerDay-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-pro"},
            "quotaValue": "0"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "5s"
      }
    ]
  }
}
)";

// Both the minute's and the day's request quota violated: the day's decides.
inline constexpr std::string_view gemini_minute_and_day = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaValue": "15"
          },
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaValue": "1500"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "12s"
      }
    ]
  }
}
)";

// Vertex AI's shared-capacity 429: no quota named, no retry time.
inline constexpr std::string_view vertex_resource_exhausted = R"({
  "error": {
    "code": 429,
    "message": "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    "status": "RESOURCE_EXHAUSTED"
  }
}
)";

inline constexpr std::string_view gemini_key_invalid = R"({
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {
          "service": "generativelanguage.googleapis.com"
        }
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key."
      }
    ]
  }
}
)";

inline constexpr std::string_view gemini_leaked_key = R"({
  "error": {
    "code": 403,
    "message": "Your API key was reported as leaked. Please use another API key.",
    "status": "PERMISSION_DENIED"
  }
}
)";

inline constexpr std::string_view gemini_location = R"({
  "error": {
    "code": 400,
    "message": "User location is not supported for the API use.",
    "status": "FAILED_PRECONDITION"
  }
}
)";

inline constexpr std::string_view gemini_overloaded = R"({
  "error": {
    "code": 503,
    "message": "The model is overloaded. Please try again later.",
    "status": "UNAVAILABLE"
  }
}
)";

// YouTube Data API: a spent daily quota answered with 403.
inline constexpr std::string_view youtube_quota_403 = R"({
  "error": {
    "code": 403,
    "message": "The request cannot be completed because you have exceeded your \u003ca href=\"/youtube/v3/getting-started#quota\"\u003equota\u003c/a\u003e.",
    "errors": [
      {
        "message": "The request cannot be completed because you have exceeded your \u003ca href=\"/youtube/v3/getting-started#quota\"\u003equota\u003c/a\u003e.",
        "domain": "youtube.quota",
        "reason": "quotaExceeded"
      }
    ]
  }
}
)";

}  // namespace provider_answers
