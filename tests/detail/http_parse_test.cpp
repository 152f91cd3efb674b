// Specification of keypool::detail::http: exact Go durations, decimal seconds, the three
// HTTP-date forms, RFC 3339, and the tolerant JSON field scanner — and what each rejects.
#include "support/instants.hpp"
#include <keypool/detail/http_parse.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace http = keypool::detail::http;
using keypool::Duration;
using keypool::TimePoint;
using namespace std::chrono_literals;
using namespace std::string_view_literals;

const TimePoint now_2026{utc(2026, 11, 23, 8, 0, 0)};

std::vector<std::pair<std::string, std::string>> fields_of(std::string_view json) {
  std::vector<std::pair<std::string, std::string>> fields;
  http::for_each_json_field(json, [&](std::string_view key, std::string_view value, bool is_string) {
    fields.emplace_back(std::string{key}, (is_string ? "s:" : "v:") + std::string{value});
    return true;
  });
  return fields;
}

}  // namespace

TEST_CASE("Go durations parse exactly, in integer nanoseconds", "[http_parse][duration]") {
  struct Case {
    std::string_view text;
    Duration expected;
  };
  const Case cases[] = {
      {"1.5s", Duration{1'500'000'000}},
      {"20ms", Duration{20'000'000}},
      {"1m26.4s", Duration{86'400'000'000}},
      {"2h30m", Duration{9'000'000'000'000}},
      {"6m0s", Duration{360'000'000'000}},
      {"0.5ms", Duration{500'000}},
      {"100us", Duration{100'000}},
      {"100\xC2\xB5s", Duration{100'000}},  // µ, U+00B5 MICRO SIGN
      {"100\xCE\xBCs", Duration{100'000}},  // μ, U+03BC GREEK SMALL LETTER MU
      {"3ns", Duration{3}},
      {"7.66s", Duration{7'660'000'000}},
      {"2m59.56s", Duration{179'560'000'000}},
      {"12m19.296s", Duration{739'296'000'000}},
      {"1h0m0.000000001s", Duration{3'600'000'000'001}},
      {"0.1h", Duration{360'000'000'000}},
      {"0.123456789123m", Duration{7'407'407'347}},  // 0.123456789123 × 60 s = 7.40740734738 s, rounded down
      {"1.999999999999s", Duration{1'999'999'999}},  // below a nanosecond: rounded down, as Go does
      {"0.0000000001s", Duration{0}},
      {".5s", Duration{500'000'000}},
      {"5.s", Duration{5'000'000'000}},
      {"0", Duration{0}},
      {"0s", Duration{0}},
      {" 38s ", Duration{38'000'000'000}},
      {"8784h", Duration{8784LL * 3'600'000'000'000}},  // 366 days: the longest accepted
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto parsed = http::parse_go_duration(c.text);
    REQUIRE(parsed);
    CHECK(parsed->count() == c.expected.count());
  }
  STATIC_REQUIRE(*http::parse_go_duration("1m26.4s") == 86'400ms);
  STATIC_REQUIRE(http::max_wait == std::chrono::hours{8784});
}

TEST_CASE("anything that is not a Go duration, or is longer than a year, is rejected", "[http_parse][duration]") {
  const std::string_view rejected[] = {
      "", " ", "1", "s", "1.5", ".", ".s", "-1s", "+1s", "-0s", "1x", "1 s", "1.5.5s", "1sm", "1S", "1H", "1e3s",
      "00", "01", "0.", "1h-1m", "1m5", "NaN", "inf", "s1", "1s1", "1s.", "\xff" "1s", "1\xC2s", "1\xC2\xB5", "1\xB5s",
      "99999999999999999999s", "9223372036854775807ns", "18446744073709551616ns", "8784h0.000000001s", "8785h",
      "527041m", "1000000h", "100000000000000000000000000000h",
  };
  for (const auto text : rejected) {
    CAPTURE(text);
    CHECK_FALSE(http::parse_go_duration(text));
  }
  CHECK_FALSE(http::parse_go_duration("1s\0"sv));  // a NUL byte is not a unit
}

TEST_CASE("a Go duration at the start of a sentence reads up to its last unit", "[http_parse][duration]") {
  auto prefix = http::parse_go_duration_prefix("12m19.296s. Need more tokens?");
  REQUIRE(prefix);
  CHECK(prefix->value == 739'296ms);
  CHECK(prefix->length == 10);
  prefix = http::parse_go_duration_prefix("7.66s, then");
  REQUIRE(prefix);
  CHECK(prefix->value == 7'660ms);
  CHECK(prefix->length == 5);
  prefix = http::parse_go_duration_prefix("1m5");  // a trailing number without its unit is left out
  REQUIRE(prefix);
  CHECK(prefix->value == 1min);
  CHECK(prefix->length == 2);
  prefix = http::parse_go_duration_prefix("0 then");
  REQUIRE(prefix);
  CHECK(prefix->value == 0s);
  CHECK(prefix->length == 1);
  CHECK_FALSE(http::parse_go_duration_prefix("20 seconds"));
  CHECK_FALSE(http::parse_go_duration_prefix("later"));
  CHECK_FALSE(http::parse_go_duration_prefix(""));
  CHECK_FALSE(http::parse_go_duration_prefix("99999999999999999999s and more"));
}

TEST_CASE("durations as people write them: a number and a unit word", "[http_parse][duration]") {
  struct Case {
    std::string_view text;
    Duration expected;
    std::size_t length;
  };
  const Case cases[] = {
      {"20 seconds.", 20s, 10}, {"1 minute", 1min, 8},     {"1.5 hours", 90min, 9}, {"500 ms", 500ms, 6},
      {"2s", 2s, 2},            {"3 Secs,", 3s, 6},         {"0.25 sec", 250ms, 8},  {"10 mins", 10min, 7},
      {"1 hr", 1h, 4},          {"7 Milliseconds", 7ms, 14},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto parsed = http::parse_worded_duration_prefix(c.text);
    REQUIRE(parsed);
    CHECK(parsed->value == c.expected);
    CHECK(parsed->length == c.length);
  }
  for (const auto text : {"", "seconds", "20", "20  seconds", "20 secondsx", "20 days", "-5 seconds",
                          "99999999999999999999 seconds", "367 days", "9000 hours"}) {
    CAPTURE(text);
    CHECK_FALSE(http::parse_worded_duration_prefix(text));
  }
}

TEST_CASE("decimal seconds and milliseconds parse exactly; signs, units and overflow are rejected", "[http_parse][decimal]") {
  CHECK(http::parse_decimal("120", 1s) == Duration{120s});
  CHECK(http::parse_decimal("1.5", 1s) == Duration{1'500ms});
  CHECK(http::parse_decimal("0", 1s) == Duration{0});
  CHECK(http::parse_decimal(" 7\t", 1s) == Duration{7s});
  CHECK(http::parse_decimal("0.000000001", 1s) == Duration{1});
  CHECK(http::parse_decimal("1500", 1ms) == Duration{1'500ms});
  CHECK(http::parse_decimal("20.5", 1ms) == Duration{20'500'000});
  CHECK(http::parse_decimal("31622400", 1s) == Duration{std::chrono::hours{8784}});  // 366 days
  for (const auto text : {"", "-1", "+1", "1s", "1e3", "0x10", "1,5", "1 5", "99999999999999999999", "31622401", "NaN"}) {
    CAPTURE(text);
    CHECK_FALSE(http::parse_decimal(text, 1s));
  }
  CHECK_FALSE(http::parse_decimal("10", 1min));  // only s, ms, us, ns
}

TEST_CASE("unsigned integers: digits only, up to 2^64 - 1", "[http_parse][number]") {
  CHECK(http::parse_uint("0") == 0u);
  CHECK(http::parse_uint("14370") == 14'370u);
  CHECK(http::parse_uint("18446744073709551615") == UINT64_MAX);
  for (const auto text : {"", "18446744073709551616", "-1", "1.0", " 1", "1 ", "1e3", "0x1", "١"}) {
    CAPTURE(text);
    CHECK_FALSE(http::parse_uint(text));
  }
}

TEST_CASE("HTTP-dates are read in all three forms RFC 9110 requires recipients to accept", "[http_parse][date]") {
  const TimePoint expected{utc(1994, 11, 6, 8, 49, 37)};
  CHECK(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now_2026) == expected);   // IMF-fixdate
  CHECK(http::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now_2026) == expected);  // RFC 850
  CHECK(http::parse_http_date("Sun Nov  6 08:49:37 1994", now_2026) == expected);        // asctime
  CHECK(http::parse_http_date("Sun Nov 16 08:49:37 1994", now_2026) == TimePoint{utc(1994, 11, 16, 8, 49, 37)});
  CHECK(http::parse_http_date("  sun, 06 nov 1994 08:49:37 gmt ", now_2026) == expected);
  CHECK(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC", now_2026) == expected);
  CHECK(http::parse_http_date("Tue, 29 Feb 2028 00:00:00 GMT", now_2026) == TimePoint{utc(2028, 2, 29)});
  CHECK(http::parse_http_date("Mon, 23 Nov 2026 08:02:00 GMT", now_2026) == TimePoint{utc(2026, 11, 23, 8, 2, 0)});
  // A leap second reads as the next second.
  CHECK(http::parse_http_date("Wed, 31 Dec 2036 23:59:60 GMT", now_2026) == TimePoint{utc(2037, 1, 1)});
}

TEST_CASE("an RFC 850 two-digit year more than 50 years ahead is in the century before", "[http_parse][date]") {
  CHECK(http::parse_http_date("Monday, 01-Jan-76 00:00:00 GMT", now_2026) == TimePoint{utc(2076, 1, 1)});
  CHECK(http::parse_http_date("Thursday, 01-Jan-77 00:00:00 GMT", now_2026) == TimePoint{utc(1977, 1, 1)});
  CHECK(http::parse_http_date("Tuesday, 24-Nov-26 00:00:00 GMT", now_2026) == TimePoint{utc(2026, 11, 24)});
  const TimePoint in_2099{utc(2099, 6, 1)};
  CHECK(http::parse_http_date("Thursday, 01-Jan-01 00:00:00 GMT", in_2099) == TimePoint{utc(2101, 1, 1)});
}

TEST_CASE("malformed HTTP-dates are rejected", "[http_parse][date]") {
  const std::string_view rejected[] = {
      "",
      "Sun, 06 Nov 1994 08:49:37",          // no zone
      "Sun, 06 Nov 1994 08:49:37 PST",      // not GMT
      "Sun, 06 Nov 1994 08:49:37 GMT x",    // trailing text
      "Sun, 6 Nov 1994 08:49:37 GMT",       // IMF-fixdate has two-digit days
      "Sun, 06 Nov 94 08:49:37 GMT",
      "Sun, 06 Nov 1994 24:00:00 GMT",
      "Sun, 06 Nov 1994 08:60:00 GMT",
      "Sun, 06 Nov 1994 08:49:61 GMT",
      "Sun, 31 Nov 1994 08:49:37 GMT",
      "Sun, 29 Feb 2026 08:49:37 GMT",      // 2026 is not a leap year
      "Sun, 00 Nov 1994 08:49:37 GMT",
      "Sun, 06 Foo 1994 08:49:37 GMT",
      "Xyz, 06 Nov 1994 08:49:37 GMT",
      "Sun,06 Nov 1994 08:49:37 GMT",
      "Sunday, 06 Nov 1994 08:49:37 GMT",   // a long day name with the IMF layout
      "Sun, 06-Nov-94 08:49:37 GMT",        // a short day name with the RFC 850 layout
      "Sun Nov 6 08:49:37 1994",            // asctime pads the day with a space
      "Sun Nov  6 08:49:37 94",
      "1994-11-06T08:49:37Z",
      "120",
      "Fri, 01 Jan 1677 00:00:00 GMT",      // outside what nanosecond time points hold
      "Sat, 01 Jan 2262 00:00:00 GMT",
      "Fri, 31 Dec 9999 23:59:59 GMT",
      "Sun, 06 Nov 1994 08:49:37 GM",
      "Sun, 06 Nov 1994 08:49:3",
      "Sun, 06 Nov 1994 0\xff:49:37 GMT",
  };
  for (const auto text : rejected) {
    CAPTURE(text);
    CHECK_FALSE(http::parse_http_date(text, now_2026));
  }
  CHECK_FALSE(http::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT\0"sv, now_2026));
}

TEST_CASE("RFC 3339 times: fractions to the nanosecond, offsets, and the lenient forms RFC 3339 allows", "[http_parse][date]") {
  const TimePoint eight{utc(2026, 11, 24, 8, 0, 0)};
  CHECK(http::parse_rfc3339("2026-11-24T08:00:00Z") == eight);
  CHECK(http::parse_rfc3339("2026-11-24t08:00:00z") == eight);
  CHECK(http::parse_rfc3339("2026-11-24 08:00:00Z") == eight);
  CHECK(http::parse_rfc3339("2026-11-24T09:00:00+01:00") == eight);
  CHECK(http::parse_rfc3339("2026-11-24T00:00:00-08:00") == eight);
  CHECK(http::parse_rfc3339("2026-11-24T08:00:00.5Z") == eight + 500ms);
  CHECK(http::parse_rfc3339("2026-11-24T08:00:00.123456789Z") == eight + Duration{123'456'789});
  CHECK(http::parse_rfc3339("2026-11-24T08:00:00.123456789999Z") == eight + Duration{123'456'789});
  CHECK(http::parse_rfc3339("2026-11-24T07:59:60Z") == eight);
  const std::string_view rejected[] = {
      "", "2026-11-24T08:00:00", "2026-11-24T08:00Z", "2026-11-24T08:00:00.Z", "2026-13-01T00:00:00Z",
      "2026-02-29T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T08:00:00+1:00", "2026-11-24T08:00:00+24:00",
      "2026-11-24T08:00:00+01", "2026-11-24X08:00:00Z", "26-11-24T08:00:00Z", "2026-11-24T08:00:00ZZ",
      "Mon, 23 Nov 2026 08:00:00 GMT", "2026-11-24T08:00:00\xffZ", "9999-12-31T23:59:59Z",
  };
  for (const auto text : rejected) {
    CAPTURE(text);
    CHECK_FALSE(http::parse_rfc3339(text));
  }
}

TEST_CASE("the JSON scanner reports scalar and string fields at any depth, in order", "[http_parse][json]") {
  const auto fields = fields_of(R"({"error": {"code": 429, "message": "Too many", "status": "RESOURCE_EXHAUSTED",
      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}], "ok": true, "none": null}})");
  const std::vector<std::pair<std::string, std::string>> expected{
      {"code", "v:429"}, {"message", "s:Too many"}, {"status", "s:RESOURCE_EXHAUSTED"},
      {"@type", "s:type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", "s:38s"}, {"ok", "v:true"}, {"none", "v:null"}};
  CHECK(fields == expected);
}

TEST_CASE("the JSON scanner never takes text inside a string for a key", "[http_parse][json]") {
  const auto fields = fields_of(R"({"message": "say \"code\": \"x\" and \\", "code": "real"})");
  const std::vector<std::pair<std::string, std::string>> expected{{"message", R"(s:say \"code\": \"x\" and \\)"},
                                                                  {"code", "s:real"}};
  CHECK(fields == expected);
  // Strings in arrays are values of no key.
  CHECK(fields_of(R"({"a": ["x", "y"], "b": {"c": "d"}})") == std::vector<std::pair<std::string, std::string>>{{"c", "s:d"}});
}

TEST_CASE("the JSON scanner tolerates truncated and malformed documents", "[http_parse][json]") {
  // A truncated string value runs to the end of the text.
  CHECK(fields_of(R"({"error":{"message":"Rate lim)") == std::vector<std::pair<std::string, std::string>>{{"message", "s:Rate lim"}});
  CHECK(fields_of(R"({"a":)").empty());
  CHECK(fields_of(R"({"a")").empty());
  CHECK(fields_of("").empty());
  CHECK(fields_of(R"(}}}]]]::::,,,""""\)").empty());
  CHECK(fields_of("\"a\\").empty());
  CHECK(fields_of(std::string_view{"{\"a\":\"x\0y\"}", 11}) == std::vector<std::pair<std::string, std::string>>{{"a", std::string{"s:x\0y", 5}}});
  // Deep nesting costs nothing (no recursion).
  const std::string deep = std::string(1'000'000, '[') + R"({"k":"v"})" + std::string(1'000'000, ']');
  CHECK(fields_of(deep) == std::vector<std::pair<std::string, std::string>>{{"k", "s:v"}});
}

TEST_CASE("the JSON scanner stops when asked", "[http_parse][json]") {
  int calls = 0;
  http::for_each_json_field(R"({"a":1,"b":2,"c":3})", [&](std::string_view, std::string_view, bool) { return ++calls < 2; });
  CHECK(calls == 2);
}
