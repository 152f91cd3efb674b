// Fuzzing keypool::classify with mutations of real provider answers (byte flips, insertions of
// the words classify looks for, truncations, splices; mutated header values; random statuses and
// times): it never throws or crashes, its outcome fits the status class, and its waits and times
// are never negative nor further than a year.
//
// Deterministic by default: 300'000 inputs from a fixed seed (about a second at -O1, a few under
// ASan+UBSan); 30'000 under ThreadSanitizer, which slows this single-threaded loop twentyfold and
// has nothing to find in it. To fuzz longer or elsewhere:
//   KEYPOOL_FUZZ_ITERATIONS=50000000 KEYPOOL_FUZZ_SEED=7 ./keypool_tests "[fuzz]"
#include <keypool/classify.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/classify_contract.hpp"
#include "support/provider_answers.hpp"

namespace {

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;
using Kind = kp::Outcome::Kind;
using namespace provider_answers;

struct Sample {
  int status;
  Headers headers;
  std::string body;
};

// The seeds: answers as OpenAI, Groq, Anthropic, Gemini, Vertex AI, YouTube, GitHub, Hugging Face,
// Mistral and plain servers send them.
const std::vector<Sample>& corpus() {
  static const std::vector<Sample> samples{
      {200,
       {{"x-ratelimit-limit-requests", "10000"}, {"x-ratelimit-limit-tokens", "2000000"}, {"x-ratelimit-remaining-requests", "9999"},
        {"x-ratelimit-remaining-tokens", "1999877"}, {"x-ratelimit-reset-requests", "6ms"}, {"x-ratelimit-reset-tokens", "3ms"}},
       R"({"id":"chatcmpl-9","object":"chat.completion","choices":[{"message":{"content":"quota per day 429"}}]})"},
      {429,
       {{"x-ratelimit-limit-requests", "14400"}, {"x-ratelimit-limit-tokens", "18000"}, {"x-ratelimit-remaining-requests", "14370"},
        {"x-ratelimit-remaining-tokens", "0"}, {"x-ratelimit-reset-requests", "2m59.56s"}, {"x-ratelimit-reset-tokens", "1m26.4s"},
        {"retry-after", "740"}},
       std::string{groq_tpd_429}},
      {429,
       {{"retry-after", "2"}},
       std::string{groq_rpm_429}},
      {429, groq_tpd_429_headers, std::string{groq_tpd_429_wait_7m}},
      {200, cerebras_headers, R"({"id":"chatcmpl-2","object":"chat.completion"})"},
      {429,
       {{"retry-after-ms", "1812.5"}},
       R"({"error":{"message":"Rate limit reached for gpt-4o in organization org-Xk2mT9pQ7rLw3vBn on tokens per min (TPM): Limit 30000, Used 28722, Requested 2184. Please try again in 1.812s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}})"},
      {429, {}, R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})"},
      {401, {}, R"({"error":{"message":"Incorrect API key provided: sk-proj-****wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})"},
      {429,
       {{"retry-after", "15"}, {"anthropic-ratelimit-requests-limit", "4000"}, {"anthropic-ratelimit-requests-remaining", "0"},
        {"anthropic-ratelimit-requests-reset", "2026-11-23T08:00:01Z"}, {"anthropic-ratelimit-input-tokens-limit", "400000"},
        {"anthropic-ratelimit-input-tokens-remaining", "372000"}, {"anthropic-ratelimit-input-tokens-reset", "2026-11-23T08:00:04.5+00:00"},
        {"anthropic-ratelimit-output-tokens-limit", "80000"}, {"anthropic-ratelimit-output-tokens-remaining", "80000"},
        {"anthropic-ratelimit-output-tokens-reset", "2026-11-23T08:00:00Z"}},
       R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization (8c1f4e2a) of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."}})"},
      {529, {}, std::string{anthropic_overloaded}},
      {400, {}, R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}})"},
      {429, {}, R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 200\nPlease retry in 38.070281218s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
            "quotaValue": "200"
          },
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
            "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
            "quotaValue": "1000000"
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
)"},
      {429, {{"Retry-After", "Mon, 23 Nov 2026 08:02:00 GMT"}}, R"({"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}})"},
      {400, {}, R"({"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}})"},
      {403, {}, R"({"error":{"code":403,"message":"The request cannot be completed because you have exceeded your \u003ca href=\"/youtube/v3/getting-started#quota\"\u003equota\u003c/a\u003e.","errors":[{"domain":"youtube.quota","reason":"quotaExceeded"}]}})"},
      {403, {{"x-ratelimit-remaining", "0"}}, R"({"message":"API rate limit exceeded for 203.0.113.7.","documentation_url":"https://docs.github.com/rest"})"},
      {429, {{"retry-after", "Sunday, 22-Nov-26 08:49:37 GMT"}}, R"({"error":"Rate limit reached. You reached free usage limit (reset hourly)."})"},
      {429, {{"retry-after", "Mon Nov 23 08:05:00 2026"}}, R"({"object":"error","message":"Requests rate limit exceeded","type":"rate_limit_exceeded","code":"1300"})"},
      {503, {}, "Daily quota exceeded. Try again after 1 hour."},
      {500, {}, "<html><head><title>500 Internal Server Error</title></head><body>upstream said 429 Too Many Requests</body></html>"},
      {422, {}, R"({"detail":[{"type":"missing","loc":["body","model"],"msg":"Field required","input":{"messages":[{"role":"user","content":"rate limit per day?"}]}}]})"},
  };
  return samples;
}

// Words and bytes that steer classify's reading, inserted at random.
constexpr std::string_view tokens[] = {
    "per day", "PerDay", "daily", "per minute", "PerMinute", "RPD", "TPM", "quota", "rate limit", "rate_limit_exceeded",
    "too many requests", "429", "insufficient_quota", "RESOURCE_EXHAUSTED", "API_KEY_INVALID", "\"status\":",
    "\"retryDelay\":\"", "\"quotaId\":\"", "\"message\":\"", "\"reason\":\"", "try again in ", "retry in ", "12m19.296s",
    "99999999999999999999s", "-5s", "0.0000000001s", "\xC2\xB5s", "https://", "\"", "\\", "{", "}", "[", "]", ":", ",",
    std::string_view{"\0", 1}, "\xff", "\xc3\x28", "tokens", "requests", "characters", "/ month", "hourly",
};

constexpr std::string_view header_names[] = {
    "retry-after", "retry-after-ms", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens", "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-output-tokens-limit",
};

constexpr std::string_view header_values[] = {
    "0", "17", "1.5", "-1", "99999999999999999999", "18446744073709551616", "6m0s", "7.66s", "1m26.4s", "2h30m", "0.5ms",
    "100us", "3ns", "8784h", "8785h", "Mon, 23 Nov 2026 08:02:00 GMT", "Monday, 23-Nov-26 08:00:30 GMT",
    "Mon Nov 23 09:00:00 2026", "Fri, 31 Dec 2100 23:59:59 GMT", "2026-11-23T08:00:01Z", "2026-11-23T07:00:00-01:00",
    "2261-12-31T23:59:59Z", "", " ", "garbage", "\xff\xfe",
};

constexpr int statuses[] = {0, -1, 100, 200, 204, 302, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 529, 599, 600};

#if defined(__SANITIZE_THREAD__)
constexpr std::size_t default_iterations = 30'000;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr std::size_t default_iterations = 30'000;
#else
constexpr std::size_t default_iterations = 300'000;
#endif
#else
constexpr std::size_t default_iterations = 300'000;
#endif

std::size_t env_number(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  return end != nullptr && *end == '\0' ? static_cast<std::size_t>(value) : fallback;
}

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }
  bool one_in(std::size_t n) { return below(n) == 0; }

  void mutate_text(std::string& text, const std::vector<Sample>& samples) {
    const std::size_t edits = 1 + below(4);
    for (std::size_t e = 0; e < edits; ++e) {
      switch (below(8)) {
        case 0:  // flip a bit
          if (!text.empty()) text[below(text.size())] ^= static_cast<char>(1u << below(8));
          break;
        case 1:  // overwrite a byte
          if (!text.empty()) text[below(text.size())] = static_cast<char>(below(256));
          break;
        case 2:  // insert a steering token
          text.insert(below(text.size() + 1), tokens[below(std::size(tokens))]);
          break;
        case 3:  // truncate
          text.resize(below(text.size() + 1));
          break;
        case 4: {  // delete a range
          if (text.empty()) break;
          const std::size_t at = below(text.size());
          text.erase(at, below(text.size() - at) + 1);
          break;
        }
        case 5: {  // splice: this text's prefix, another sample's suffix
          const std::string& other = samples[below(samples.size())].body;
          text = text.substr(0, below(text.size() + 1)) + other.substr(below(other.size() + 1));
          break;
        }
        case 6: {  // duplicate a range
          if (text.empty()) break;
          const std::size_t at = below(text.size());
          const std::string piece = text.substr(at, below(64) + 1);
          text.insert(below(text.size() + 1), piece);
          break;
        }
        default:  // replace a digit run's digit (numbers are what parsers trip on)
          for (std::size_t tries = 0; tries < 8 && !text.empty(); ++tries) {
            const std::size_t at = below(text.size());
            if (text[at] >= '0' && text[at] <= '9') {
              text[at] = static_cast<char>('0' + below(10));
              break;
            }
          }
          break;
      }
    }
  }

  void mutate_headers(Headers& headers, const std::vector<Sample>& samples) {
    const std::size_t edits = below(3);
    for (std::size_t e = 0; e < edits; ++e) {
      if (!headers.empty() && one_in(2)) {
        std::string& value = headers[below(headers.size())].second;
        if (one_in(2)) value = std::string{header_values[below(std::size(header_values))]};
        else mutate_text(value, samples);
      } else {
        headers.emplace_back(std::string{header_names[below(std::size(header_names))]},
                             std::string{header_values[below(std::size(header_values))]});
      }
    }
  }

  kp::TimePoint time() {
    const kp::TimePoint base{sys_days{2026y / November / 23} + 8h};
    switch (below(16)) {
      case 0: return kp::TimePoint::max() - kp::Duration{static_cast<kp::Duration::rep>(below(1'000'000'000))};
      case 1: return kp::TimePoint::min() + kp::Duration{static_cast<kp::Duration::rep>(below(1'000'000'000))};
      case 2: return kp::TimePoint{};
      default: return base + kp::Duration{static_cast<kp::Duration::rep>(below(48ull * 3'600'000'000'000))} - 24h;
    }
  }

 private:
  std::mt19937_64 rng_;
};

std::string escaped(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\') {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out += hex;
    }
  }
  return out;
}

// Why the outcome breaks classify's contract, or nullopt when it keeps it.
std::optional<std::string> violation(int status, const kp::Outcome& o, kp::TimePoint now) {
  const char* broken = classify_contract::classify_violation(status, o, now);
  if (broken == nullptr) return std::nullopt;
  return std::string{broken} + " (kind " + std::string{kp::to_string(o.kind())} + ")";
}

}  // namespace

TEST_CASE("fuzz: mutated provider answers never break classify's contract", "[fuzz][classify]") {
  const std::size_t iterations = env_number("KEYPOOL_FUZZ_ITERATIONS", default_iterations);
  const std::uint64_t seed = env_number("KEYPOOL_FUZZ_SEED", 0x6b6579706f6f6cull);
  const auto& samples = corpus();
  Mutator mutate{seed};
  std::size_t by_kind[6] = {};
  for (std::size_t i = 0; i < iterations; ++i) {
    const Sample& sample = samples[mutate.below(samples.size())];
    std::string body = sample.body;
    Headers headers = sample.headers;
    if (!mutate.one_in(8)) mutate.mutate_text(body, samples);
    if (mutate.one_in(2)) mutate.mutate_headers(headers, samples);
    int status = sample.status;
    if (mutate.one_in(2)) status = mutate.one_in(4) ? static_cast<int>(mutate.below(1'006)) - 5 : statuses[mutate.below(std::size(statuses))];
    const kp::TimePoint now = mutate.time();

    const kp::Dialect dialect = static_cast<kp::Dialect>(i % kp::dialect_count);  // every dialect in turn
    const kp::Outcome outcome = kp::classify(status, headers, body, now, dialect);
    ++by_kind[static_cast<std::size_t>(outcome.kind())];
    if (const auto broken = violation(status, outcome, now)) {
      std::string headers_text;
      for (const auto& [name, value] : headers) headers_text += escaped(name) + ": " + escaped(value) + "\n";
      FAIL("iteration " << i << " (seed " << seed << ", dialect " << kp::to_string(dialect) << "): " << *broken << "\nstatus " << status << ", now "
                        << now.time_since_epoch().count() << "\n" << headers_text << "body: " << escaped(body)
                        << "\noutcome: " << kp::to_string(outcome.kind()) << " retry_after " << outcome.retry_after().count()
                        << " until " << outcome.until().time_since_epoch().count());
    }
    // A dialect that does not read windows (generic) never claims one.
    if (!kp::detail::dialect::reading_of(dialect).windows)
      for (const auto& report : outcome.remaining())
        if (report.window != kp::Window::unknown) FAIL("iteration " << i << ": a window in dialect " << kp::to_string(dialect));
    if (i % 1'024 == 0) REQUIRE(kp::classify(status, headers, body, now, dialect) == outcome);  // a pure function
  }
  // The mutations reach every kind of outcome, so the contract was checked on each.
  if (iterations >= 10'000) {
    for (std::size_t k = 0; k < 6; ++k) {
      CAPTURE(kp::to_string(static_cast<Kind>(k)));
      CHECK(by_kind[k] > iterations / 1'000);
    }
  }
}
