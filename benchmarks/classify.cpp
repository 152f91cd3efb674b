// classify() on typical provider answers: a Groq 429 with its headers and body, a Gemini
// RESOURCE_EXHAUSTED per-day answer, and a 200 whose x-ratelimit headers are read as reports.
#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>

#include <keypool/classify.hpp>

namespace {

namespace kp = keypool;
using namespace std::chrono_literals;

const kp::TimePoint bench_now{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24} + 10h};

const std::map<std::string, std::string> groq_headers{
    {"retry-after", "2"},
    {"x-ratelimit-limit-requests", "14400"},
    {"x-ratelimit-limit-tokens", "6000"},
    {"x-ratelimit-remaining-requests", "14370"},
    {"x-ratelimit-remaining-tokens", "0"},
    {"x-ratelimit-reset-requests", "2m59.56s"},
    {"x-ratelimit-reset-tokens", "7.66s"},
    {"content-type", "application/json"}};

constexpr std::string_view groq_429_body =
    R"({"error":{"message":"Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01hq` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5892, Requested 1290. Please try again in 11.82s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}})";

constexpr std::string_view gemini_per_day_body = R"({
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
       "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                       "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                       "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
                       "quotaValue": "200"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}
    ]
  }
})";

void BM_Classify_Groq429(benchmark::State& state) {
  for (auto _ : state) {
    kp::Outcome outcome = kp::classify(429, groq_headers, groq_429_body, bench_now);
    benchmark::DoNotOptimize(outcome);
  }
}
BENCHMARK(BM_Classify_Groq429);

void BM_Classify_GeminiPerDay429(benchmark::State& state) {
  for (auto _ : state) {
    kp::Outcome outcome = kp::classify(429, kp::no_headers, gemini_per_day_body, bench_now);
    benchmark::DoNotOptimize(outcome);
  }
}
BENCHMARK(BM_Classify_GeminiPerDay429);

void BM_Classify_200WithHeaders(benchmark::State& state) {
  for (auto _ : state) {
    kp::Outcome outcome = kp::classify(200, groq_headers, "", bench_now);
    benchmark::DoNotOptimize(outcome);
  }
}
BENCHMARK(BM_Classify_200WithHeaders);

}  // namespace
