// to_json: every field of a snapshot, parsed back with a real JSON parser (nlohmann::json, which
// also refuses ill-formed UTF-8), with exact values.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <keypool/export/json.hpp>
#include <keypool/keypool.hpp>

#include "support/snapshots.hpp"

namespace kp = keypool;
using json = nlohmann::ordered_json;  // keeps the fields in the order written
using Catch::Matchers::Contains;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

/// Two providers, three keys in three states, every optional field both set and unset somewhere.
kp::Snapshot rich_snapshot() {
  kp::Snapshot snap;
  snap.at = at;

  kp::KeySnapshot groq1;
  groq1.id = kp::KeyId{0};
  groq1.provider = kp::ProviderId{0};
  groq1.provider_name = "groq";
  groq1.label = "groq-1";
  groq1.tier = 0;
  groq1.weight = 3;
  groq1.status = kp::KeyStatus::warning;
  groq1.successes = 1'000;
  groq1.failures = 6;
  groq1.rate_limited = 2;
  groq1.consecutive_failures = 0;
  groq1.last_error = kp::Outcome::Kind::rate_limited;
  groq1.last_error_status = 429;
  groq1.last_error_at = at - 90s;
  groq1.exhausts_at = at + 5h;
  groq1.limits.push_back(limit(kp::Metric::requests, "minute", "requests 30 per minute", 12, 30, at + 53s));
  groq1.limits.back().rate_per_second = 0.2;
  groq1.limits.push_back(limit(kp::Metric::tokens, "day", "tokens 14400 per day", 11'800, 14'400, midnight));
  groq1.limits.back().rate_per_second = 1.5;
  groq1.limits.back().exhausts_at = at + 5h;

  kp::KeySnapshot groq2;
  groq2.id = kp::KeyId{1};
  groq2.provider = kp::ProviderId{0};
  groq2.provider_name = "groq";
  groq2.label = "groq-2";
  groq2.status = kp::KeyStatus::cooling_down;
  groq2.available_at = at + 1'500ms;
  groq2.successes = 234;
  groq2.failures = 50;
  groq2.rate_limited = 5;
  groq2.consecutive_failures = 3;
  groq2.last_error = kp::Outcome::Kind::transient;  // status 0: not from an HTTP answer
  groq2.last_error_at = at - 1s;
  groq2.limits.push_back(limit(kp::Metric::requests, "rolling", "requests 30 per 60.000000s rolling", 7, 30, at + 250ms));

  kp::KeySnapshot gemini;
  gemini.id = kp::KeyId{2};
  gemini.provider = kp::ProviderId{1};
  gemini.provider_name = "gemini";
  gemini.label = "AIza…9xQk";
  gemini.tier = 1;
  gemini.status = kp::KeyStatus::disabled;
  gemini.blocked_until = kp::TimePoint::max();
  gemini.failures = 1;
  gemini.last_error = kp::Outcome::Kind::auth_failed;
  gemini.last_error_status = 401;
  gemini.last_error_at = at - 2h;
  snap.keys = {groq1, groq2, gemini};

  kp::ProviderSnapshot groq;
  groq.id = kp::ProviderId{0};
  groq.name = "groq";
  groq.tier = 0;
  groq.totals.keys = 2;
  groq.totals.available = 1;
  groq.totals.cooling_down = 1;
  groq.totals.successes = 1'234;
  groq.totals.failures = 56;
  groq.totals.rate_limited = 7;
  groq.totals.daily_capacity = {0, 14'400, 0, 0, 0};
  groq.totals.daily_used = {0, 11'800, 0, 0, 0};
  groq.totals.next_recovery = at + 1'500ms;
  groq.totals.exhausts_at = at + 5h;

  kp::ProviderSnapshot gemini_provider;
  gemini_provider.id = kp::ProviderId{1};
  gemini_provider.name = "gemini";
  gemini_provider.tier = 1;
  gemini_provider.totals.keys = 1;
  gemini_provider.totals.disabled = 1;
  gemini_provider.totals.failures = 1;
  snap.providers = {groq, gemini_provider};

  snap.totals = groq.totals;
  snap.totals.keys = 3;
  snap.totals.disabled = 1;
  snap.totals.failures = 57;
  snap.totals.daily_capacity = {4'800, 14'400, 0, 0, 5'000'000};
  snap.totals.daily_used = {1'200, 11'800, 0, 0, 1'250'000};
  snap.events_dropped = 17;
  snap.sink_failures = 2;
  return snap;
}

std::vector<std::string> field_names(const json& object) {
  std::vector<std::string> names;
  for (auto it = object.begin(); it != object.end(); ++it) names.push_back(it.key());
  return names;
}

/// The JSON of a snapshot whose only key has one limit resetting at `t`.
std::string json_of_reset(kp::TimePoint snapshot_at, kp::TimePoint t) {
  kp::Snapshot snap;
  snap.at = snapshot_at;
  snap.keys.emplace_back();
  snap.keys.back().limits.push_back(limit(kp::Metric::requests, "minute", "", 0, 1, t));
  return kp::to_json(snap);
}

std::string rfc3339_of(kp::TimePoint t) { return json::parse(json_of_reset(t, t))["keys"][0]["limits"][0]["resets_at"]; }

/// The text of a snapshot whose only key has one limit with `fraction`.
std::string json_of_fraction(double fraction) {
  kp::Snapshot snap;
  snap.keys.emplace_back();
  snap.keys.back().limits.push_back(limit(kp::Metric::requests, "minute", "", 0, 1, kp::TimePoint{}));
  snap.keys.back().limits.back().fraction = fraction;
  return kp::to_json(snap);
}

const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

TEST_CASE("to_json writes every field of a snapshot with its exact value", "[export][json]") {
  const json doc = json::parse(kp::to_json(rich_snapshot()));

  CHECK(field_names(doc) == std::vector<std::string>{"at", "totals", "providers", "keys", "groups", "events_dropped", "sink_failures"});
  CHECK(doc["at"] == "2026-11-24T10:42:07Z");
  CHECK(doc["events_dropped"] == 17);
  CHECK(doc["sink_failures"] == 2);

  const json& totals = doc["totals"];
  CHECK(field_names(totals) == std::vector<std::string>{"keys", "available", "cooling_down", "exhausted", "disabled",
                                                        "successes", "failures", "rate_limited", "daily_capacity",
                                                        "daily_used", "next_recovery", "next_recovery_in_s",
                                                        "exhausts_at", "exhausts_in_s"});
  CHECK(totals["keys"] == 3);
  CHECK(totals["available"] == 1);
  CHECK(totals["cooling_down"] == 1);
  CHECK(totals["exhausted"] == 0);
  CHECK(totals["disabled"] == 1);
  CHECK(totals["successes"] == 1'234);
  CHECK(totals["failures"] == 57);
  CHECK(totals["rate_limited"] == 7);
  CHECK(totals["daily_capacity"] == json::parse(R"({"requests":4800,"tokens":14400,"characters":0,"units":0,"spend":5000000})"));
  CHECK(totals["daily_used"] == json::parse(R"({"requests":1200,"tokens":11800,"characters":0,"units":0,"spend":1250000})"));
  CHECK(totals["next_recovery"] == "2026-11-24T10:42:08.5Z");
  CHECK(totals["next_recovery_in_s"] == 1.5);
  CHECK(totals["exhausts_at"] == "2026-11-24T15:42:07Z");
  CHECK(totals["exhausts_in_s"] == 18'000);

  REQUIRE(doc["providers"].size() == 2);
  const json& groq = doc["providers"][0];
  CHECK(field_names(groq) == std::vector<std::string>{"id", "name", "tier", "dialect", "totals"});
  CHECK(groq["id"] == 0);
  CHECK(groq["name"] == "groq");
  CHECK(groq["tier"] == 0);
  CHECK(groq["dialect"] == "generic");
  CHECK(groq["totals"]["keys"] == 2);
  CHECK(groq["totals"]["daily_capacity"]["tokens"] == 14'400);
  CHECK(groq["totals"]["daily_used"]["tokens"] == 11'800);
  CHECK(groq["totals"]["next_recovery"] == "2026-11-24T10:42:08.5Z");
  const json& gemini = doc["providers"][1];
  CHECK(gemini["id"] == 1);
  CHECK(gemini["name"] == "gemini");
  CHECK(gemini["tier"] == 1);
  CHECK(gemini["totals"]["disabled"] == 1);
  CHECK(gemini["totals"]["next_recovery"].is_null());
  CHECK(gemini["totals"]["next_recovery_in_s"].is_null());
  CHECK(gemini["totals"]["exhausts_at"].is_null());
  CHECK(gemini["totals"]["exhausts_in_s"].is_null());

  REQUIRE(doc["keys"].size() == 3);
  const json& k0 = doc["keys"][0];
  CHECK(field_names(k0) == std::vector<std::string>{"id", "label", "provider", "tier", "weight", "status", "available_at",
                                                    "available_in_s", "successes", "failures", "rate_limited",
                                                    "consecutive_failures", "last_error", "exhausts_at", "exhausts_in_s",
                                                    "limits", "group", "models", "observed"});
  CHECK(k0["id"] == 0);
  CHECK(k0["label"] == "groq-1");
  CHECK(k0["provider"] == "groq");
  CHECK(k0["tier"] == 0);
  CHECK(k0["weight"] == 3);
  CHECK(k0["status"] == "warning");
  CHECK(k0["available_at"].is_null());
  CHECK(k0["available_in_s"].is_null());
  CHECK(k0["successes"] == 1'000);
  CHECK(k0["failures"] == 6);
  CHECK(k0["rate_limited"] == 2);
  CHECK(k0["consecutive_failures"] == 0);
  CHECK(k0["last_error"] == json::parse(R"({"kind":"rate_limited","status":429,"at":"2026-11-24T10:40:37Z"})"));
  CHECK(k0["exhausts_at"] == "2026-11-24T15:42:07Z");
  CHECK(k0["exhausts_in_s"] == 18'000);

  REQUIRE(k0["limits"].size() == 2);
  const json& minute = k0["limits"][0];
  CHECK(field_names(minute) == std::vector<std::string>{"metric", "window", "description", "used", "marked", "reported", "limit", "remaining",
                                                        "fraction", "resets_at", "resets_in_s", "rate_per_second",
                                                        "exhausts_at", "exhausts_in_s"});
  CHECK(minute["metric"] == "requests");
  CHECK(minute["window"] == "minute");
  CHECK(minute["description"] == "requests 30 per minute");
  CHECK(minute["used"] == 12);
  CHECK(minute["limit"] == 30);
  CHECK(minute["remaining"] == 18);
  CHECK(minute["fraction"] == 0.4);
  CHECK(minute["resets_at"] == "2026-11-24T10:43:00Z");
  CHECK(minute["resets_in_s"] == 53);
  CHECK(minute["rate_per_second"] == 0.2);
  CHECK(minute["exhausts_at"].is_null());
  CHECK(minute["exhausts_in_s"].is_null());
  const json& day = k0["limits"][1];
  CHECK(day["metric"] == "tokens");
  CHECK(day["window"] == "day");
  CHECK(day["used"] == 11'800);
  CHECK(day["remaining"] == 2'600);
  CHECK(day["fraction"] == 0.819444);  // 11800 / 14400 = 0.81944…, 6 decimal places
  CHECK(day["resets_at"] == "2026-11-25T00:00:00Z");
  CHECK(day["resets_in_s"] == 47'873);
  CHECK(day["rate_per_second"] == 1.5);
  CHECK(day["exhausts_at"] == "2026-11-24T15:42:07Z");
  CHECK(day["exhausts_in_s"] == 18'000);

  const json& k1 = doc["keys"][1];
  CHECK(k1["label"] == "groq-2");
  CHECK(k1["status"] == "cooling_down");
  CHECK(k1["weight"] == 1);
  CHECK(k1["available_at"] == "2026-11-24T10:42:08.5Z");
  CHECK(k1["available_in_s"] == 1.5);
  CHECK(k1["consecutive_failures"] == 3);
  CHECK(k1["last_error"] == json::parse(R"({"kind":"transient","status":null,"at":"2026-11-24T10:42:06Z"})"));
  CHECK(k1["exhausts_at"].is_null());
  REQUIRE(k1["limits"].size() == 1);
  CHECK(k1["limits"][0]["window"] == "rolling");
  CHECK(k1["limits"][0]["resets_at"] == "2026-11-24T10:42:07.25Z");
  CHECK(k1["limits"][0]["resets_in_s"] == 0.25);

  const json& k2 = doc["keys"][2];
  CHECK(k2["id"] == 2);
  CHECK(k2["label"] == "AIza…9xQk");
  CHECK(k2["provider"] == "gemini");
  CHECK(k2["tier"] == 1);
  CHECK(k2["status"] == "disabled");
  CHECK(k2["available_at"].is_null());  // disabled: never, until enable()
  CHECK(k2["last_error"]["kind"] == "auth_failed");
  CHECK(k2["last_error"]["status"] == 401);
  CHECK(k2["last_error"]["at"] == "2026-11-24T08:42:07Z");
  CHECK(k2["limits"] == json::array());
}

TEST_CASE("to_json spells every key status and failure kind", "[export][json]") {
  for (const auto status : {kp::KeyStatus::available, kp::KeyStatus::warning, kp::KeyStatus::critical,
                            kp::KeyStatus::exhausted, kp::KeyStatus::cooling_down, kp::KeyStatus::disabled}) {
    for (const auto kind : {kp::Outcome::Kind::success, kp::Outcome::Kind::rate_limited, kp::Outcome::Kind::quota_exhausted,
                            kp::Outcome::Kind::auth_failed, kp::Outcome::Kind::transient, kp::Outcome::Kind::bad_request}) {
      kp::Snapshot snap;
      snap.keys.emplace_back();
      snap.keys.back().status = status;
      snap.keys.back().last_error = kind;
      const json doc = json::parse(kp::to_json(snap));
      CHECK(doc["keys"][0]["status"] == std::string{kp::to_string(status)});
      CHECK(doc["keys"][0]["last_error"]["kind"] == std::string{kp::to_string(kind)});
    }
  }
}

TEST_CASE("to_json of an empty snapshot is valid JSON with every field", "[export][json]") {
  const std::string text = kp::to_json(kp::Snapshot{});
  const std::string zero_totals =
      R"({"keys":0,"available":0,"cooling_down":0,"exhausted":0,"disabled":0,"successes":0,"failures":0,)"
      R"("rate_limited":0,"daily_capacity":{"requests":0,"tokens":0,"characters":0,"units":0,"spend":0},)"
      R"("daily_used":{"requests":0,"tokens":0,"characters":0,"units":0,"spend":0},)"
      R"("next_recovery":null,"next_recovery_in_s":null,"exhausts_at":null,"exhausts_in_s":null})";
  CHECK(text == R"({"at":"1970-01-01T00:00:00Z","totals":)" + zero_totals +
                    R"(,"providers":[],"keys":[],"groups":[],"events_dropped":0,"sink_failures":0})");
  const json doc = json::parse(text);
  CHECK(doc["keys"].empty());
  CHECK(doc["providers"].empty());
}

TEST_CASE("to_json writes times as RFC 3339 UTC, with a fraction of a second only when it is not zero",
          "[export][json][time]") {
  CHECK(rfc3339_of(at) == "2026-11-24T10:42:07Z");
  CHECK(rfc3339_of(at + 500ms) == "2026-11-24T10:42:07.5Z");
  CHECK(rfc3339_of(at + 1ns) == "2026-11-24T10:42:07.000000001Z");
  CHECK(rfc3339_of(at + 120ms) == "2026-11-24T10:42:07.12Z");
  CHECK(rfc3339_of(at + 123456789ns) == "2026-11-24T10:42:07.123456789Z");
  CHECK(rfc3339_of(kp::TimePoint{sys_days{2028y / February / 29} + 12h}) == "2028-02-29T12:00:00Z");
  CHECK(rfc3339_of(kp::TimePoint{sys_days{2027y / January / 1}} - 1ns) == "2026-12-31T23:59:59.999999999Z");
  CHECK(rfc3339_of(kp::TimePoint{}) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339_of(kp::TimePoint{} - 500ms) == "1969-12-31T23:59:59.5Z");
  CHECK(rfc3339_of(kp::TimePoint::max()) == "2262-04-11T23:47:16.854775807Z");
  CHECK(rfc3339_of(kp::TimePoint::min()) == "1677-09-21T00:12:43.145224192Z");
}

TEST_CASE("to_json's RFC 3339 times agree with gmtime over the whole range of a TimePoint", "[export][json][time]") {
  std::mt19937_64 random{20261124};
  std::uniform_int_distribution<std::int64_t> nanoseconds{std::numeric_limits<std::int64_t>::min(),
                                                          std::numeric_limits<std::int64_t>::max()};
  for (int i = 0; i < 2'000; ++i) {
    const kp::TimePoint t{kp::Duration{nanoseconds(random)}};
    const auto whole = floor<seconds>(t);
    const std::time_t seconds_since_epoch = static_cast<std::time_t>(whole.time_since_epoch().count());
    std::tm utc{};
    REQUIRE(gmtime_r(&seconds_since_epoch, &utc) != nullptr);
    char expected[40];
    REQUIRE(std::strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%S", &utc) == 19);
    const std::string text = rfc3339_of(t);
    INFO(text);
    CHECK(text.substr(0, 19) == expected);
    const auto nanos = (t - whole).count();
    if (nanos == 0) {
      CHECK(text.size() == 20);
    } else {
      REQUIRE(text.size() > 21);
      CHECK(text[19] == '.');
      std::string digits = text.substr(20, text.size() - 21);
      CHECK(digits.back() != '0');
      digits.resize(9, '0');
      CHECK(std::stoll(digits) == nanos);
    }
    CHECK(text.back() == 'Z');
  }
}

TEST_CASE("to_json gives each time ahead its exact distance from the snapshot in seconds", "[export][json][time]") {
  CHECK_THAT(json_of_reset(at, at), Contains(R"("resets_at":"2026-11-24T10:42:07Z","resets_in_s":0,)"));
  CHECK_THAT(json_of_reset(at, at + 1ns), Contains(R"("resets_in_s":0.000000001,)"));
  CHECK_THAT(json_of_reset(at, at + 47'873s + 250ms), Contains(R"("resets_in_s":47873.25,)"));
  CHECK_THAT(json_of_reset(at, at - 2'500ms), Contains(R"("resets_in_s":-2.5,)"));
  CHECK_THAT(json_of_reset(at, at - 1ns), Contains(R"("resets_in_s":-0.000000001,)"));
  CHECK_THAT(json_of_reset(at, at - 3s), Contains(R"("resets_in_s":-3,)"));
  // The widest distances do not overflow: max − min is 18446744073.709551615 s.
  CHECK_THAT(json_of_reset(kp::TimePoint::min(), kp::TimePoint::max()), Contains(R"("resets_in_s":18446744073.709551615,)"));
  CHECK_THAT(json_of_reset(kp::TimePoint::max(), kp::TimePoint::min()), Contains(R"("resets_in_s":-18446744073.709551615,)"));
  const json doc = json::parse(json_of_reset(kp::TimePoint::max(), kp::TimePoint::min()));
  CHECK(doc["keys"][0]["limits"][0]["resets_in_s"].get<double>() == Approx(-18446744073.709551615));
}

TEST_CASE("to_json rounds doubles to 6 decimal places and never writes NaN or an infinity", "[export][json]") {
  CHECK_THAT(json_of_fraction(0.8), Contains(R"("fraction":0.8,)"));
  CHECK_THAT(json_of_fraction(1.0), Contains(R"("fraction":1,)"));
  CHECK_THAT(json_of_fraction(0.0), Contains(R"("fraction":0,)"));
  CHECK_THAT(json_of_fraction(-0.0), Contains(R"("fraction":0,)"));
  CHECK_THAT(json_of_fraction(0.1234567), Contains(R"("fraction":0.123457,)"));
  CHECK_THAT(json_of_fraction(1e-7), Contains(R"("fraction":0,)"));
  CHECK_THAT(json_of_fraction(-1e-7), Contains(R"("fraction":0,)"));
  CHECK_THAT(json_of_fraction(-1.25), Contains(R"("fraction":-1.25,)"));
  CHECK_THAT(json_of_fraction(123456.0000004), Contains(R"("fraction":123456,)"));
  CHECK_THAT(json_of_fraction(2.5e20), Contains(R"("fraction":2.5e+20,)"));
  CHECK_THAT(json_of_fraction(std::numeric_limits<double>::max()), Contains(R"("fraction":1.7976931348623157e+308,)"));
  CHECK_THAT(json_of_fraction(std::numeric_limits<double>::quiet_NaN()), Contains(R"("fraction":null,)"));
  CHECK_THAT(json_of_fraction(std::numeric_limits<double>::infinity()), Contains(R"("fraction":null,)"));
  CHECK_THAT(json_of_fraction(-std::numeric_limits<double>::infinity()), Contains(R"("fraction":null,)"));
  for (const double value : {0.8, 2.5e20, std::numeric_limits<double>::max(), std::numeric_limits<double>::quiet_NaN()})
    CHECK_NOTHROW(json::parse(json_of_fraction(value)));
}

TEST_CASE("to_json writes counts up to the largest 64-bit value exactly", "[export][json]") {
  kp::Snapshot snap;
  snap.events_dropped = std::numeric_limits<std::uint64_t>::max();
  snap.keys.emplace_back();
  snap.keys.back().successes = std::numeric_limits<std::uint64_t>::max() - 1;
  const std::string text = kp::to_json(snap);
  CHECK_THAT(text, Contains(R"("events_dropped":18446744073709551615,)"));
  const json doc = json::parse(text);
  CHECK(doc["events_dropped"].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max());
  CHECK(doc["keys"][0]["successes"].get<std::uint64_t>() == std::numeric_limits<std::uint64_t>::max() - 1);
}

TEST_CASE("to_json escapes quotes, backslashes and control characters and keeps Unicode", "[export][json][escape]") {
  const std::string label = "a\"b\\c\nd\te\rf\x01g\x1fh\x7fi/…日本😀é";
  kp::Snapshot snap;
  snap.keys.emplace_back();
  snap.keys.back().label = label;
  snap.keys.back().provider_name = "pro\"vider";
  snap.keys.back().limits.push_back(limit(kp::Metric::tokens, "day\n", "tokens \\ 5", 1, 5, at));
  snap.providers.emplace_back();
  snap.providers.back().name = "pro\"vider";
  const std::string text = kp::to_json(snap);
  CHECK_THAT(text, Contains(R"("label":"a\"b\\c\nd\te\rf\u0001g\u001fh)"
                            "\x7f"
                            R"(i/…日本😀é")"));
  const json doc = json::parse(text);
  CHECK(doc["keys"][0]["label"] == label);
  CHECK(doc["keys"][0]["provider"] == "pro\"vider");
  CHECK(doc["providers"][0]["name"] == "pro\"vider");
  CHECK(doc["keys"][0]["limits"][0]["window"] == "day\n");
  CHECK(doc["keys"][0]["limits"][0]["description"] == "tokens \\ 5");
  for (int c = 0; c < 0x20; ++c) {  // every control character
    snap.keys.back().label = std::string(1, static_cast<char>(c));
    CHECK(json::parse(kp::to_json(snap))["keys"][0]["label"] == snap.keys.back().label);
  }
}

TEST_CASE("to_json replaces each ill-formed UTF-8 sequence with U+FFFD, so the output is always valid",
          "[export][json][escape]") {
  const std::string r = replacement;
  struct Case {
    std::string input, expected;
  };
  const std::vector<Case> cases = {
      {"ok\xff", "ok" + r},                                  // a byte that is never UTF-8
      {"\x80x", r + "x"},                                    // a lone continuation byte
      {"\xc0\xaf", r + r},                                   // an overlong '/' (C0 is never a lead)
      {"\xe0\x80\xaf", r + r + r},                           // an overlong three-byte form
      {"\xe2\x82", r},                                       // a truncated euro sign at the end
      {"\xe2\x82x", r + "x"},                                // ... and in the middle
      {"\xed\xa0\x80", r + r + r},                           // a UTF-16 surrogate
      {"\xf4\x90\x80\x80", r + r + r + r},                   // above U+10FFFF
      {"\xf0\x9f\x98", r},                                   // a truncated emoji
      {"\xf0\x9f\x98\x80\xf0\x9f", "\xf0\x9f\x98\x80" + r},  // a whole emoji, then half of one
      {"\xc3\xa9\xc3", "\xc3\xa9" + r},                      // é, then a lone lead byte
      {"\xf5\x80\x80\x80", r + r + r + r},                   // F5 is never a lead
      {"\xef\xbf\xbd", r},                                   // U+FFFD itself is kept
      {"\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"},              // U+10FFFF is valid
  };
  for (const Case& c : cases) {
    kp::Snapshot snap;
    snap.keys.emplace_back();
    snap.keys.back().label = c.input;
    snap.keys.back().provider_name = c.input;
    snap.keys.back().limits.push_back(limit(kp::Metric::requests, c.input, c.input, 0, 1, at));
    snap.providers.emplace_back();
    snap.providers.back().name = c.input;
    const std::string text = kp::to_json(snap);
    INFO("input bytes: " << c.input.size());
    json doc;
    REQUIRE_NOTHROW(doc = json::parse(text));  // nlohmann refuses ill-formed UTF-8
    CHECK(doc["keys"][0]["label"] == c.expected);
    CHECK(doc["keys"][0]["provider"] == c.expected);
    CHECK(doc["keys"][0]["limits"][0]["window"] == c.expected);
    CHECK(doc["keys"][0]["limits"][0]["description"] == c.expected);
    CHECK(doc["providers"][0]["name"] == c.expected);
  }
}

TEST_CASE("to_json of a snapshot of 1,000 keys parses", "[export][json]") {
  kp::Snapshot snap = many_keys(1'000, 3);
  for (std::uint32_t i = 0; i < 1'000; ++i)
    snap.keys[i].limits.push_back(limit(kp::Metric::spend, "month", "spend 5000000 per month", i, 5'000'000, midnight));
  const std::string text = kp::to_json(snap);
  const json doc = json::parse(text);
  REQUIRE(doc["keys"].size() == 1'000);
  for (std::uint32_t i = 0; i < 1'000; ++i) {
    const json& key = doc["keys"][i];
    REQUIRE(key["id"] == i);
    REQUIRE(key["label"] == "key-" + std::to_string(i));
    REQUIRE(key["successes"] == i * 3);
    REQUIRE(key["limits"].size() == 3);
    REQUIRE(key["limits"][1]["used"] == i * 10);
    REQUIRE(key["limits"][2]["metric"] == "spend");
  }
}

TEST_CASE("to_json of a real pool's snapshot has its keys, limits and statuses", "[export][json][pool]") {
  kp::clock::Manual clock{kp::TimePoint{sys_days{2026y / November / 23} + 8h}};
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  const auto groq = pool.add_provider("groq", 0);
  const auto gemini = pool.add_provider("gemini", 1);
  pool.add_key(groq, kp::Secret{"gsk_json_test_secret_a1"}, {kp::Limit::requests(2).per_minute()}, {.label = "a"});
  pool.add_key(groq, kp::Secret{"gsk_json_test_secret_b2"},
               {kp::Limit::requests(100).per_day(), kp::Limit::tokens(1'000).per_day()}, {.label = "b", .weight = 4});
  const auto c = pool.add_key(gemini, kp::Secret{"AIza_json_test_secret_c3"}, {kp::Limit::requests(10).per_minute()});
  pool.disable(c);

  // a admits 2 requests, b admits 5 (200 tokens each fill its 1,000 a day); then every key refuses.
  const int granted = commit_tokens_until_refused(pool, 200, 20);
  CHECK(granted == 7);
  clock.advance(60s);  // a's minute is over; b's day is not

  const kp::Snapshot snap = pool.snapshot();
  const json doc = json::parse(kp::to_json(snap));
  CHECK(doc["at"] == "2026-11-23T08:01:00Z");
  REQUIRE(doc["keys"].size() == 3);

  const json& a = doc["keys"][0];
  CHECK(a["label"] == "a");
  CHECK(a["provider"] == "groq");
  CHECK(a["status"] == "available");
  REQUIRE(a["limits"].size() == 1);
  CHECK(a["limits"][0]["description"] == "requests 2 per minute");
  CHECK(a["limits"][0]["window"] == "minute");
  CHECK(a["limits"][0]["used"] == 0);
  CHECK(a["limits"][0]["remaining"] == 2);
  CHECK(a["limits"][0]["resets_at"] == "2026-11-23T08:02:00Z");
  CHECK(a["limits"][0]["resets_in_s"] == 60);

  const json& b = doc["keys"][1];
  CHECK(b["label"] == "b");
  CHECK(b["status"] == "exhausted");
  REQUIRE(b["limits"].size() == 2);
  CHECK(b["limits"][0]["metric"] == "requests");
  CHECK(b["limits"][0]["used"] == 5);
  CHECK(b["limits"][0]["limit"] == 100);
  CHECK(b["limits"][0]["fraction"] == 0.05);
  CHECK(b["limits"][1]["metric"] == "tokens");
  CHECK(b["limits"][1]["used"] == 1'000);
  CHECK(b["limits"][1]["remaining"] == 0);
  CHECK(b["limits"][1]["fraction"] == 1);
  CHECK(b["limits"][1]["resets_at"] == "2026-11-24T00:00:00Z");
  CHECK(b["limits"][1]["resets_in_s"] == 57'540);

  const json& cj = doc["keys"][2];
  CHECK(cj["label"] == "…t_c3");  // the redacted secret (no short vendor prefix: none of the head)
  CHECK(cj["provider"] == "gemini");
  CHECK(cj["tier"] == 1);
  CHECK(cj["status"] == "disabled");

  // Whatever else the pool fills in, the JSON says the same as the snapshot.
  for (std::size_t i = 0; i < snap.keys.size(); ++i) {
    const kp::KeySnapshot& key = snap.keys[i];
    const json& k = doc["keys"][i];
    CHECK(k["id"] == key.id.value);
    CHECK(k["weight"] == key.weight);
    CHECK(k["tier"] == key.tier);
    CHECK(k["successes"] == key.successes);
    CHECK(k["failures"] == key.failures);
    CHECK(k["consecutive_failures"] == key.consecutive_failures);
    CHECK(k["available_at"].is_null() == !key.available_at.has_value());
  }
  CHECK(doc["providers"].size() == snap.providers.size());
}

TEST_CASE("to_json writes each key's group and models, and each group's shared and per-model limits", "[export][json][models]") {
  kp::clock::Manual clock{kp::TimePoint{sys_days{2026y / November / 23} + 8h}};
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  const auto groq = pool.add_provider("groq");
  const auto org = pool.add_group(groq, "org", {kp::Limit::requests(50).per_day()}, {{"llama-70b", {kp::Limit::tokens(12'000).per_minute()}}});
  const auto a = pool.add_key(groq, kp::Secret{"gsk_json_models_a1"}, {},
                              {.label = "a", .models = {{"llama-70b", {kp::Limit::requests(2).per_day()}}}, .group = org});
  pool.add_key(groq, kp::Secret{"gsk_json_models_b2"}, {kp::Limit::requests(5).per_day()}, {.label = "b", .models = {{"mixtral"}}});
  const auto model = pool.model("llama-70b");
  for (int i = 0; i < 2; ++i) pool.acquire({.tokens = 1'000, .model = model}).commit({.tokens = 1'000});
  const json doc = json::parse(kp::to_json(pool.snapshot()));
  const json& key = doc["keys"][a.value];
  CHECK(key["group"] == "org");
  REQUIRE(key["models"].size() == 1);
  CHECK(field_names(key["models"][0]) == std::vector<std::string>{"model", "status", "available_at", "available_in_s", "limits", "observed"});
  CHECK(key["models"][0]["model"] == "llama-70b");
  CHECK(key["models"][0]["status"] == "exhausted");
  CHECK(key["models"][0]["available_at"] == "2026-11-24T00:00:00Z");
  CHECK(key["models"][0]["limits"][0]["used"] == 2);
  CHECK(doc["keys"][1]["group"].is_null());
  REQUIRE(doc["keys"][1]["models"].size() == 1);
  CHECK(doc["keys"][1]["models"][0]["model"] == "mixtral");
  CHECK(doc["keys"][1]["models"][0]["limits"].empty());
  REQUIRE(doc["groups"].size() == 1);
  const json& group = doc["groups"][0];
  CHECK(field_names(group) == std::vector<std::string>{"id", "name", "provider", "shared", "models", "keys"});
  CHECK(group["name"] == "org");
  CHECK(group["provider"] == "groq");
  CHECK(group["shared"]["model"] == "");
  CHECK(group["shared"]["limits"][0]["used"] == 2);
  CHECK(group["models"][0]["limits"][0]["used"] == 2'000);
  CHECK(group["keys"] == json::array({a.value}));
}
