// fake_provider: a local stand-in for Groq, Gemini and OpenAI chat completion APIs, for the
// gateway's end-to-end tests and for trying the gateway without internet or real keys.
//
//   fake_provider [--listen ADDRESS] [--port N] [--completion-tokens N]
//                 --key PROVIDER:KEY[:LIMITS] ...
//
//   PROVIDER  groq | gemini | openai
//   LIMITS    comma-separated: rpm=N, rpd=N, tpm=N, tpd=N (requests/tokens per minute/day,
//             sliding windows of 60 s and 24 h), quota=N (openai: successful requests before
//             insufficient_quota, as when the credit runs out)
//
// One process serves all three, each under its own path, with each provider's real answer shapes:
//   POST /groq/openai/v1/chat/completions       Groq: x-ratelimit-* headers (requests per day,
//                                                tokens per minute), 429 with retry-after and
//                                                "Please try again in 7.66s", 401 invalid_api_key
//   POST /gemini/v1beta/openai/chat/completions Gemini's OpenAI-compatible endpoint: 429
//                                                RESOURCE_EXHAUSTED with QuotaFailure quotaId
//                                                (…PerMinute… or …PerDay…) and RetryInfo, 400
//                                                API_KEY_INVALID; key as bearer or x-goog-api-key
//   POST /openai/v1/chat/completions            OpenAI: x-ratelimit-* per minute, 429
//                                                rate_limit_exceeded, 429 insufficient_quota, 401
// Successful answers carry `usage` {prompt_tokens (the messages' characters / 4, rounded up),
// completion_tokens, total_tokens}. Each base also answers /completions (text completions) and
// /embeddings (eight floats per input, base64 when encoding_format says so) with the same keys and
// limits. `"stream": true` answers with server-sent events: one chunk per completion token
// ("tokenNN "), the usage chunk when stream_options.include_usage is true, then `data: [DONE]`.
//
// Admin (no authentication: it is a fake, bind it to loopback):
//   GET  /admin/stats                        per key (by position on the command line): answers
//   POST /admin/reset                        forget all usage and statistics
//   POST /admin/fail?provider=P&status=S&count=N   the next N calls to P answer status S (5xx)
//   POST /admin/stream?provider=P&cut_after=K&count=N&delay_ms=D   the next N streams of P drop
//                                            the connection after K events (0: right after the
//                                            head, before any byte of the body); every stream
//                                            of P waits D ms between chunks
//   GET  /admin/last                         the body of the last call made with a known key
//
// Prints "listening on ADDRESS:PORT" on stdout once it accepts connections; stops on SIGTERM/SIGINT.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <keypool/secret.hpp>

namespace {

using Clock = std::chrono::system_clock;
using nlohmann::json;

constexpr std::string_view usage =
    "usage: fake_provider [--listen ADDRESS] [--port N] [--completion-tokens N] --key PROVIDER:KEY[:LIMITS] ...\n"
    "  PROVIDER  groq | gemini | openai\n"
    "  LIMITS    comma-separated rpm=N, rpd=N, tpm=N, tpd=N, quota=N (e.g. groq:gsk_test_1:rpm=30,tpd=14400)\n";

enum class Style { groq, gemini, openai };

std::string_view name_of(Style style) {
  switch (style) {
    case Style::groq: return "groq";
    case Style::gemini: return "gemini";
    case Style::openai: return "openai";
  }
  return "?";
}

struct Limits {
  std::uint64_t rpm = 0, rpd = 0, tpm = 0, tpd = 0, quota = 0;  // 0: unlimited
};

struct Key {
  Style style;
  std::string value;
  Limits limits;
  // Guarded by Provider::mutex.
  std::deque<std::pair<Clock::time_point, std::uint64_t>> log;  // (time, tokens) of the last 24 h
  std::uint64_t ok = 0, refused = 0, quota_used = 0;
};

struct Forced {
  int status = 0;
  std::uint64_t count = 0;
};

/// How the next streamed answers of a provider behave (POST /admin/stream).
struct StreamPlan {
  std::uint64_t cut_after = 0;  // close the connection after this many events
  std::uint64_t count = 0;      // for this many streams (0: none is cut)
  std::uint64_t delay_ms = 0;   // between chunks, for every stream
};

struct State {
  std::mutex mutex;
  std::vector<Key> keys;
  std::map<std::string, Forced, std::less<>> forced;  // by provider name
  std::map<std::string, StreamPlan, std::less<>> streams;  // by provider name
  json last_request;                                   // the body of the last call with a known key
  std::uint64_t unknown_key = 0;
  std::uint64_t completion_tokens = 12;
  std::uint64_t next_id = 1;
};

[[noreturn]] void bad_usage(const std::string& message) {
  std::cerr << "fake_provider: " << message << "\n" << usage;
  std::exit(2);
}

std::uint64_t parse_number(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty())
    bad_usage(std::string{what} + ": '" + std::string{text} + "' is not a whole number");
  return value;
}

Key parse_key(std::string_view spec) {
  const auto first = spec.find(':');
  if (first == std::string_view::npos) bad_usage("--key expects PROVIDER:KEY[:LIMITS]");
  const std::string_view provider = spec.substr(0, first);
  std::string_view rest = spec.substr(first + 1);
  const auto second = rest.find(':');
  Key key;
  if (provider == "groq") key.style = Style::groq;
  else if (provider == "gemini") key.style = Style::gemini;
  else if (provider == "openai") key.style = Style::openai;
  else bad_usage("--key: unknown provider '" + std::string{provider} + "' (groq, gemini or openai)");
  key.value = std::string{rest.substr(0, second)};
  if (key.value.empty()) bad_usage("--key: the key is empty");
  if (second == std::string_view::npos) return key;
  rest = rest.substr(second + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) bad_usage("--key: limit '" + std::string{item} + "' is not NAME=N");
    const std::string_view name = item.substr(0, eq);
    const std::uint64_t value = parse_number(item.substr(eq + 1), std::string{"--key limit "} + std::string{name});
    if (value == 0) bad_usage("--key: a limit of 0 admits nothing; leave it out for no limit");
    if (name == "rpm") key.limits.rpm = value;
    else if (name == "rpd") key.limits.rpd = value;
    else if (name == "tpm") key.limits.tpm = value;
    else if (name == "tpd") key.limits.tpd = value;
    else if (name == "quota") key.limits.quota = value;
    else bad_usage("--key: unknown limit '" + std::string{name} + "' (rpm, rpd, tpm, tpd, quota)");
  }
  return key;
}

/// A Go-style duration, as Groq and OpenAI write them: "7.66s", "12m19.296s", "2h3m4s", "20ms".
std::string go_duration(std::chrono::milliseconds wait) {
  auto ms = std::max<std::int64_t>(wait.count(), 1);
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  const auto hours = ms / 3'600'000;
  ms %= 3'600'000;
  const auto minutes = ms / 60'000;
  ms %= 60'000;
  if (hours != 0) out += std::to_string(hours) + "h";
  if (hours != 0 || minutes != 0) out += std::to_string(minutes) + "m";
  out += std::to_string(ms / 1000);
  if (ms % 1000 != 0) {
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03d", static_cast<int>(ms % 1000));
    std::string f{fraction};
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out + "s";
}

/// Usage of a key in the window ending now: requests and tokens, and when the oldest entry leaves.
struct WindowUse {
  std::uint64_t requests = 0, tokens = 0;
  Clock::time_point oldest{};
};

WindowUse use_in(const Key& key, Clock::time_point now, Clock::duration window) {
  WindowUse use;
  for (const auto& [at, tokens] : key.log) {
    if (at <= now - window) continue;
    if (use.requests == 0) use.oldest = at;
    ++use.requests;
    use.tokens += tokens;
  }
  return use;
}

std::chrono::milliseconds until_free(const WindowUse& use, Clock::time_point now, Clock::duration window) {
  return std::chrono::ceil<std::chrono::milliseconds>(use.oldest + window - now);
}

/// The limit a call hits now, if any: which one, and the wait.
struct Hit {
  std::string_view what;  // "rpm", "rpd", "tpm", "tpd"
  std::uint64_t limit = 0, used = 0;
  std::chrono::milliseconds wait{};
};

std::optional<Hit> limit_hit(const Key& key, Clock::time_point now, std::uint64_t prompt_tokens) {
  const auto minute = use_in(key, now, std::chrono::minutes{1});
  const auto day = use_in(key, now, std::chrono::hours{24});
  const Limits& l = key.limits;
  // Per day first: a spent day outranks a busy minute.
  if (l.rpd != 0 && day.requests >= l.rpd) return Hit{"rpd", l.rpd, day.requests, until_free(day, now, std::chrono::hours{24})};
  if (l.tpd != 0 && day.tokens + prompt_tokens > l.tpd) return Hit{"tpd", l.tpd, day.tokens, until_free(day, now, std::chrono::hours{24})};
  if (l.rpm != 0 && minute.requests >= l.rpm) return Hit{"rpm", l.rpm, minute.requests, until_free(minute, now, std::chrono::minutes{1})};
  if (l.tpm != 0 && minute.tokens + prompt_tokens > l.tpm) return Hit{"tpm", l.tpm, minute.tokens, until_free(minute, now, std::chrono::minutes{1})};
  return std::nullopt;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// ---- Error answers, in each provider's shape ----------------------------------------------------

void groq_error(httplib::Response& res, int status, std::string_view message, std::string_view type, std::string_view code) {
  json error{{"message", message}, {"type", type}};
  if (!code.empty()) error["code"] = code;
  send_json(res, status, json{{"error", error}});
}

void openai_error(httplib::Response& res, int status, std::string_view message, std::string_view type, std::string_view code) {
  send_json(res, status, json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code.empty() ? json(nullptr) : json(code)}}}});
}

// Gemini's OpenAI-compatible endpoint wraps the google.rpc.Status in a one-element array.
void gemini_error(httplib::Response& res, int status, std::string_view rpc_status, std::string_view message, json details) {
  send_json(res, status, json::array({json{{"error", {{"code", status}, {"message", message}, {"status", rpc_status}, {"details", std::move(details)}}}}}));
}

std::string_view metric_words(std::string_view what) {
  if (what == "rpm") return "requests per minute (RPM)";
  if (what == "rpd") return "requests per day (RPD)";
  if (what == "tpm") return "tokens per minute (TPM)";
  return "tokens per day (TPD)";
}

void answer_limited(httplib::Response& res, const Key& key, const Hit& hit, std::string_view model, std::uint64_t requested) {
  const std::string wait = go_duration(hit.wait);
  const auto retry_seconds = std::chrono::ceil<std::chrono::seconds>(hit.wait).count();
  const bool tokens = hit.what[0] == 't';
  switch (key.style) {
    case Style::groq: {
      res.set_header("retry-after", std::to_string(std::max<std::int64_t>(retry_seconds, 1)));
      const std::string message = "Rate limit reached for model `" + std::string{model} +
                                  "` in organization `org_fake0000000000000000000000` service tier `on_demand` on " +
                                  std::string{metric_words(hit.what)} + ": Limit " + std::to_string(hit.limit) +
                                  ", Used " + std::to_string(hit.used) + ", Requested " + std::to_string(tokens ? requested : 1) +
                                  ". Please try again in " + wait +
                                  ". Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing";
      groq_error(res, 429, message, tokens ? "tokens" : "requests", "rate_limit_exceeded");
      return;
    }
    case Style::openai: {
      res.set_header("retry-after", std::to_string(std::max<std::int64_t>(retry_seconds, 1)));
      const std::string message = "Rate limit reached for " + std::string{model} + " in organization org-fake on " +
                                  std::string{metric_words(hit.what)} + ": Limit " + std::to_string(hit.limit) +
                                  ", Used " + std::to_string(hit.used) + ", Requested " + std::to_string(tokens ? requested : 1) +
                                  ". Please try again in " + wait +
                                  ". Visit https://platform.openai.com/account/rate-limits to learn more.";
      openai_error(res, 429, message, tokens ? "tokens" : "requests", "rate_limit_exceeded");
      return;
    }
    case Style::gemini: {
      const bool day = hit.what[2] == 'd';
      const std::string quota_id = tokens ? (day ? "GenerateContentInputTokensPerModelPerDay-FreeTier"
                                                 : "GenerateContentInputTokensPerModelPerMinute-FreeTier")
                                          : (day ? "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
                                                 : "GenerateRequestsPerMinutePerProjectPerModel-FreeTier");
      const std::string metric = tokens ? "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count"
                                        : "generativelanguage.googleapis.com/generate_content_free_tier_requests";
      // Like the real service, the retry delay is short even when the day's quota is spent.
      const auto delay = day ? std::int64_t{38} : std::max<std::int64_t>(retry_seconds, 1);
      json details = json::array(
          {json{{"@type", "type.googleapis.com/google.rpc.QuotaFailure"},
                {"violations", json::array({json{{"quotaMetric", metric},
                                                 {"quotaId", quota_id},
                                                 {"quotaDimensions", {{"location", "global"}, {"model", model}}},
                                                 {"quotaValue", std::to_string(hit.limit)}}})}},
           json{{"@type", "type.googleapis.com/google.rpc.Help"},
                {"links", json::array({json{{"description", "Learn more about Gemini API quotas"},
                                            {"url", "https://ai.google.dev/gemini-api/docs/rate-limits"}}})}},
           json{{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", std::to_string(delay) + "s"}}});
      gemini_error(res, 429, "RESOURCE_EXHAUSTED",
                   "You exceeded your current quota, please check your plan and billing details. For more information "
                   "on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: " +
                       metric + ", limit: " + std::to_string(hit.limit) + ", model: " + std::string{model} +
                       "\nPlease retry in " + std::to_string(delay) + "s.",
                   std::move(details));
      return;
    }
  }
}

void answer_bad_key(httplib::Response& res, Style style) {
  switch (style) {
    case Style::groq: groq_error(res, 401, "Invalid API Key", "invalid_request_error", "invalid_api_key"); return;
    case Style::openai:
      openai_error(res, 401,
                   "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                   "invalid_request_error", "invalid_api_key");
      return;
    case Style::gemini:
      gemini_error(res, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                   json::array({json{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                                     {"reason", "API_KEY_INVALID"},
                                     {"domain", "googleapis.com"},
                                     {"metadata", {{"service", "generativelanguage.googleapis.com"}}}}}));
      return;
  }
}

void answer_forced(httplib::Response& res, Style style, int status) {
  switch (style) {
    case Style::groq: groq_error(res, status, "Service Unavailable", "internal_server_error", ""); return;
    case Style::openai:
      openai_error(res, status, "The server had an error while processing your request. Sorry about that!", "server_error", "");
      return;
    case Style::gemini:
      gemini_error(res, status, "UNAVAILABLE", "The model is overloaded. Please try again later.", json::array());
      return;
  }
}

// ---- The chat completion ------------------------------------------------------------------------

std::string presented_key(const httplib::Request& req, Style style) {
  const std::string authorization = req.get_header_value("Authorization");
  if (authorization.rfind("Bearer ", 0) == 0) return authorization.substr(7);
  if (style == Style::gemini && req.has_header("x-goog-api-key")) return req.get_header_value("x-goog-api-key");
  return {};
}

enum class Kind { chat, completions, embeddings };

// The characters of a prompt or an input: a string, or an array of strings or token ids (a token
// id counts as 4 characters).
std::uint64_t text_characters(const json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().size();
  std::uint64_t characters = 0;
  if (value.is_array())
    for (const auto& item : value) characters += item.is_number_unsigned() ? 4 : text_characters(item);
  return characters;
}

std::string base64(const std::string& bytes) {
  static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto byte = [&](std::size_t k) { return k < bytes.size() ? static_cast<unsigned char>(bytes[k]) : 0u; };
    const unsigned n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += digits[(n >> 18) & 63];
    out += digits[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? digits[n & 63] : '=';
  }
  return out;
}

// A streamed answer (called with state.mutex held; the events are sent after it is released): an event per chunk, each "tokenNN " (8 characters) of content counting as
// one completion token; the usage chunk when the request asked for it; then [DONE].
void stream(State& state, Style style, Kind kind, const json& body, const std::string& id, std::int64_t created,
            const std::string& model, std::uint64_t prompt_tokens, std::uint64_t completion_tokens, httplib::Response& res) {
  const bool usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                     body["stream_options"].contains("include_usage") && body["stream_options"]["include_usage"] == true;
  StreamPlan plan;  // state.mutex is held by the caller
  auto& configured = state.streams[std::string{name_of(style)}];
  plan.delay_ms = configured.delay_ms;
  if (configured.count > 0) {
    --configured.count;
    plan.cut_after = configured.cut_after;
    plan.count = 1;
  }
  const bool chat = kind == Kind::chat;
  const auto chunk = [=](json choice) {
    json event{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created}, {"model", model},
               {"choices", json::array({std::move(choice)})}};
    if (usage) event["usage"] = nullptr;
    return "data: " + event.dump() + "\n\n";
  };
  const auto content = [=](const std::string& text, json finish) {
    if (chat) return json{{"index", 0}, {"delta", text.empty() ? json::object() : json{{"content", text}}}, {"finish_reason", finish}};
    return json{{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}};
  };
  std::vector<std::string> events;
  if (chat)
    events.push_back(chunk(json{{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}));
  for (std::uint64_t i = 1; i <= completion_tokens; ++i) {
    char word[16];
    std::snprintf(word, sizeof word, "token%02u ", static_cast<unsigned>(i % 100));
    events.push_back(chunk(content(word, nullptr)));
  }
  events.push_back(chunk(content("", "stop")));
  if (usage) {
    json last{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created}, {"model", model},
              {"choices", json::array()},
              {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens},
                         {"total_tokens", prompt_tokens + completion_tokens}}}};
    events.push_back("data: " + last.dump() + "\n\n");
  }
  events.push_back("data: [DONE]\n\n");
  // cut_after counts every event (a chat stream's first one gives the role): 0 drops the
  // connection after the head, before any byte of the body.
  const std::size_t cut = plan.count == 0 ? events.size() : static_cast<std::size_t>(plan.cut_after);
  res.set_chunked_content_provider("text/event-stream", [events = std::move(events), cut, plan](std::size_t, httplib::DataSink& sink) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (i == cut) return false;  // the connection drops mid-stream
      if (i > 0 && plan.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds{plan.delay_ms});
      if (!sink.write(events[i].data(), events[i].size())) return false;
    }
    sink.done();
    return true;
  });
}

void chat(State& state, Style style, Kind kind, const httplib::Request& req, httplib::Response& res) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  const char* field = kind == Kind::chat ? "messages" : kind == Kind::completions ? "prompt" : "input";
  if (!body.is_object() || !body.contains(field) || (kind == Kind::chat && !body["messages"].is_array())) {
    openai_error(res, 400, "'" + std::string{field} + "' is a required property", "invalid_request_error", "");
    return;
  }
  const std::string model = body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>() : "fake-model";
  std::uint64_t characters = 0;
  if (kind == Kind::chat) {
    for (const auto& message : body["messages"])
      if (message.is_object() && message.contains("content") && message["content"].is_string())
        characters += message["content"].get_ref<const std::string&>().size();
  } else {
    characters = text_characters(body[field]);
  }
  const std::uint64_t prompt_tokens = std::max<std::uint64_t>((characters + 3) / 4, 1);

  const std::string presented = presented_key(req, style);
  const auto now = Clock::now();
  std::lock_guard lock{state.mutex};
  Key* key = nullptr;
  for (Key& candidate : state.keys)
    if (candidate.style == style && candidate.value == presented) key = &candidate;
  if (key == nullptr) {
    ++state.unknown_key;
    answer_bad_key(res, style);
    return;
  }
  state.last_request = body;
  if (auto it = state.forced.find(name_of(style)); it != state.forced.end() && it->second.count > 0) {
    --it->second.count;
    ++key->refused;
    answer_forced(res, style, it->second.status);
    return;
  }
  while (!key->log.empty() && key->log.front().first <= now - std::chrono::hours{24}) key->log.pop_front();
  if (key->style == Style::openai && key->limits.quota != 0 && key->quota_used >= key->limits.quota) {
    ++key->refused;
    openai_error(res, 429,
                 "You exceeded your current quota, please check your plan and billing details. For more information on "
                 "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                 "insufficient_quota", "insufficient_quota");
    return;
  }
  if (const auto hit = limit_hit(*key, now, prompt_tokens)) {
    ++key->refused;
    answer_limited(res, *key, *hit, model, prompt_tokens);
    return;
  }

  std::uint64_t completion_tokens = kind == Kind::embeddings ? 0 : state.completion_tokens;
  for (const char* name : {"max_tokens", "max_completion_tokens"})
    if (body.contains(name) && body[name].is_number_unsigned())
      completion_tokens = std::min(completion_tokens, body[name].get<std::uint64_t>());
  const std::uint64_t total = prompt_tokens + completion_tokens;
  key->log.emplace_back(now, total);
  ++key->ok;
  ++key->quota_used;

  // Rate-limit headers as each provider sends them on a success.
  const auto minute = use_in(*key, now, std::chrono::minutes{1});
  const auto day = use_in(*key, now, std::chrono::hours{24});
  const auto header_pair = [&](std::string_view metric, std::uint64_t limit, std::uint64_t used, const WindowUse& use,
                               Clock::duration window) {
    res.set_header("x-ratelimit-limit-" + std::string{metric}, std::to_string(limit));
    res.set_header("x-ratelimit-remaining-" + std::string{metric}, std::to_string(limit > used ? limit - used : 0));
    res.set_header("x-ratelimit-reset-" + std::string{metric}, go_duration(until_free(use, now, window)));
  };
  if (style == Style::groq) {  // requests per day, tokens per minute
    if (key->limits.rpd != 0) header_pair("requests", key->limits.rpd, day.requests, day, std::chrono::hours{24});
    if (key->limits.tpm != 0) header_pair("tokens", key->limits.tpm, minute.tokens, minute, std::chrono::minutes{1});
  } else if (style == Style::openai) {  // both per minute
    if (key->limits.rpm != 0) header_pair("requests", key->limits.rpm, minute.requests, minute, std::chrono::minutes{1});
    if (key->limits.tpm != 0) header_pair("tokens", key->limits.tpm, minute.tokens, minute, std::chrono::minutes{1});
  }
  res.set_header("x-request-id", "req_fake_" + std::to_string(state.next_id));
  const std::int64_t created = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (kind == Kind::embeddings) {
    // Eight floats per input; base64 of their little-endian bytes when asked (the SDKs ask).
    const std::size_t inputs = body["input"].is_array() && !body["input"].empty() &&
                                       !body["input"][0].is_number_unsigned() ? body["input"].size() : 1;
    const bool encoded = body.contains("encoding_format") && body["encoding_format"] == "base64";
    json data = json::array();
    for (std::size_t i = 0; i < inputs; ++i) {
      std::vector<float> vector(8);
      for (std::size_t d = 0; d < vector.size(); ++d) vector[d] = static_cast<float>(i + 1) / static_cast<float>(d + 1);
      const std::string bytes(reinterpret_cast<const char*>(vector.data()), vector.size() * sizeof(float));
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", encoded ? json(base64(bytes)) : json(vector)}});
    }
    ++state.next_id;
    send_json(res, 200, json{{"object", "list"}, {"data", data}, {"model", model},
                             {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", total}}}});
    return;
  }
  const std::string id = (kind == Kind::chat ? "chatcmpl-fake-" : "cmpl-fake-") + std::to_string(state.next_id++);
  if (body.contains("stream") && body["stream"] == true) {
    stream(state, style, kind, body, id, created, model, prompt_tokens, completion_tokens, res);
    return;
  }
  if (kind == Kind::completions) {
    send_json(res, 200, json{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                             {"choices", json::array({json{{"index", 0}, {"text", "Hello from the fake " + std::string{name_of(style)} + " provider."},
                                                           {"logprobs", nullptr}, {"finish_reason", "stop"}}})},
                             {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", total}}}});
    return;
  }
  const json answer{
      {"id", id},
      {"object", "chat.completion"},
      {"created", created},
      {"model", model},
      {"choices", json::array({json{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", "Hello from the fake " + std::string{name_of(style)} + " provider."}}},
                                    {"finish_reason", "stop"}}})},
      {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", total}}}};
  send_json(res, 200, answer);
}

}  // namespace

int main(int argc, char** argv) {
  State state;
  std::string listen = "127.0.0.1";
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) bad_usage(std::string{arg} + " needs a value");
      return argv[++i];
    };
    if (arg == "--key") state.keys.push_back(parse_key(value()));
    else if (arg == "--listen") listen = std::string{value()};
    else if (arg == "--port") {
      const auto n = parse_number(value(), "--port");
      if (n > 65'535) bad_usage("--port: at most 65535");
      port = static_cast<int>(n);
    } else if (arg == "--completion-tokens") state.completion_tokens = parse_number(value(), "--completion-tokens");
    else if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else bad_usage("unknown option '" + std::string{arg} + "'");
  }
  if (state.keys.empty()) bad_usage("give at least one --key");

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  httplib::Server server;
  const std::pair<const char*, Style> routes[] = {{"/groq/openai/v1", Style::groq},
                                                  {"/gemini/v1beta/openai", Style::gemini},
                                                  {"/openai/v1", Style::openai}};
  const std::pair<const char*, Kind> kinds[] = {
      {"/chat/completions", Kind::chat}, {"/completions", Kind::completions}, {"/embeddings", Kind::embeddings}};
  for (const auto& [base, style] : routes)
    for (const auto& [path, kind] : kinds)
      server.Post(std::string{base} + path, [&state, style = style, kind = kind](const httplib::Request& req, httplib::Response& res) {
        chat(state, style, kind, req, res);
      });

  server.Get("/admin/stats", [&state](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock{state.mutex};
    json keys = json::array();
    for (std::size_t i = 0; i < state.keys.size(); ++i) {
      const Key& key = state.keys[i];
      keys.push_back({{"index", i}, {"provider", name_of(key.style)}, {"key", keypool::Secret{key.value}.redacted()},
                      {"ok", key.ok}, {"refused", key.refused}});
    }
    send_json(res, 200, json{{"keys", keys}, {"unknown_key", state.unknown_key}});
  });
  server.Get("/admin/last", [&state](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock{state.mutex};
    send_json(res, 200, state.last_request);
  });
  server.Post("/admin/stream", [&state](const httplib::Request& req, httplib::Response& res) {
    const std::string provider = req.get_param_value("provider");
    if (provider != "groq" && provider != "gemini" && provider != "openai") {
      send_json(res, 400, json{{"error", "provider must be groq, gemini or openai"}});
      return;
    }
    StreamPlan plan;
    for (const auto& [name, value] : {std::pair{"cut_after", &plan.cut_after}, std::pair{"count", &plan.count},
                                      std::pair{"delay_ms", &plan.delay_ms}}) {
      const std::string text = req.get_param_value(name);
      std::from_chars(text.data(), text.data() + text.size(), *value);
    }
    std::lock_guard lock{state.mutex};
    state.streams[provider] = plan;
    send_json(res, 200, json{{"provider", provider}, {"cut_after", plan.cut_after}, {"count", plan.count}, {"delay_ms", plan.delay_ms}});
  });
  server.Post("/admin/reset", [&state](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock{state.mutex};
    state.streams.clear();
    for (Key& key : state.keys) {
      key.log.clear();
      key.ok = key.refused = key.quota_used = 0;
    }
    state.forced.clear();
    state.unknown_key = 0;
    send_json(res, 200, json{{"reset", true}});
  });
  server.Post("/admin/fail", [&state](const httplib::Request& req, httplib::Response& res) {
    const std::string provider = req.get_param_value("provider");
    if (provider != "groq" && provider != "gemini" && provider != "openai") {
      send_json(res, 400, json{{"error", "provider must be groq, gemini or openai"}});
      return;
    }
    std::uint64_t status = 0, count = 0;
    const std::string status_text = req.get_param_value("status"), count_text = req.get_param_value("count");
    std::from_chars(status_text.data(), status_text.data() + status_text.size(), status);
    std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (status < 500 || status > 599) {
      send_json(res, 400, json{{"error", "status must be a 5xx"}});
      return;
    }
    std::lock_guard lock{state.mutex};
    state.forced[provider] = Forced{static_cast<int>(status), count};
    send_json(res, 200, json{{"provider", provider}, {"status", status}, {"count", count}});
  });

  const int bound = port == 0 ? server.bind_to_any_port(listen) : (server.bind_to_port(listen, port) ? port : -1);
  if (bound < 0) {
    std::cerr << "fake_provider: cannot listen on " << listen << ":" << port << "\n";
    return 1;
  }
  std::atomic<bool> done{false};
  std::thread signal_waiter{[&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    while (!done.load()) {
      server.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
  }};
  std::cout << "listening on " << listen << ":" << bound << std::endl;
  server.listen_after_bind();
  if (!done.exchange(true)) pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  return 0;
}
