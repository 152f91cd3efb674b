// keypool::Dialect: whose answer classify reads. Providers that send the same header names mean
// different windows by them (OpenAI counts requests per minute, Groq per day); the dialect says
// which provider's meaning to read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keypool {

/// A provider's way of answering, as classify reads it (`classify(status, headers, body, dialect)`):
/// which rate-limit headers it sends, the window each counts in, and how far its stated waits go.
///   generic     every header family classify knows, windows unknown: the pool matches a report to
///               a limit by its amount and reset (the default; what classify read before dialects)
///   openai      x-ratelimit-*-requests and -tokens, both per minute
///   groq        the same names: requests per day, tokens per minute; a daily quota's Retry-After
///               is when it frees up (Groq's daily limits free up continuously)
///   cerebras    x-ratelimit-*-requests-day (per day), x-ratelimit-*-tokens-minute (per minute)
///   anthropic   anthropic-ratelimit-* (per minute)
///   gemini      no rate-limit headers: none read; its 429 bodies name the quota spent (per minute
///               or per day), and bodies are read alike in every dialect
///   mistral     x-ratelimit-{limit,remaining}-req-minute, -tokens-minute (per minute) and
///               -tokens-month (per month), no resets; the older x-ratelimitbysize-*-minute
///               (reset: ratelimitbysize-reset) and -month
///   openrouter  x-ratelimit-{limit,remaining,reset} on its 429s: requests, the reset in Unix
///               milliseconds, the window unknown (the same names serve the minute and the day)
enum class Dialect : std::uint8_t { generic, openai, groq, cerebras, anthropic, gemini, mistral, openrouter };

/// How many dialects there are.
inline constexpr std::size_t dialect_count = 8;

[[nodiscard]] constexpr std::string_view to_string(Dialect dialect) noexcept {
  switch (dialect) {
    case Dialect::generic: return "generic";
    case Dialect::openai: return "openai";
    case Dialect::groq: return "groq";
    case Dialect::cerebras: return "cerebras";
    case Dialect::anthropic: return "anthropic";
    case Dialect::gemini: return "gemini";
    case Dialect::mistral: return "mistral";
    case Dialect::openrouter: return "openrouter";
  }
  return "generic";
}

/// The dialects by name: `kp::classify(status, headers, body, kp::dialects::groq)`.
namespace dialects {
inline constexpr Dialect generic = Dialect::generic;
inline constexpr Dialect openai = Dialect::openai;
inline constexpr Dialect groq = Dialect::groq;
inline constexpr Dialect cerebras = Dialect::cerebras;
inline constexpr Dialect anthropic = Dialect::anthropic;
inline constexpr Dialect gemini = Dialect::gemini;
inline constexpr Dialect mistral = Dialect::mistral;
inline constexpr Dialect openrouter = Dialect::openrouter;
}  // namespace dialects

}  // namespace keypool
