// Limits: building them fluently, and every bad value refused where it is written.
#include <catch2/catch.hpp>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;

TEST_CASE("a limit says what it counts, how much, and over what window", "[limit]") {
  const auto limit = kp::Limit::tokens(14'400).per_day();
  CHECK(limit.metric() == kp::Metric::tokens);
  CHECK(limit.amount() == 14'400);
  CHECK(limit.kind() == kp::Limit::Kind::window);
  CHECK(limit.window_name() == "day");
  CHECK(limit.describe() == "tokens 14400 per day");
  CHECK(kp::Limit::requests(30).per(60s).kind() == kp::Limit::Kind::rolling);
  CHECK(kp::Limit::tokens(32'000).per_request().describe() == "tokens 32000 per request");
  const auto pacific = kp::Limit::requests(1'500).per_day().reset_zone(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0"));
  CHECK_THAT(pacific.describe(), Contains("PST8PDT"));
}

TEST_CASE("headroom caps lower priorities below the amount", "[limit]") {
  const auto limit = kp::Limit::tokens(10'000).per_day().headroom(kp::Priority::batch, 0.80).headroom(kp::Priority::normal, 0.95);
  CHECK(limit.cap(kp::Priority::batch) == 8'000);
  CHECK(limit.cap(kp::Priority::normal) == 9'500);
  CHECK(limit.cap(kp::Priority::critical) == 10'000);
}

TEST_CASE("a zero amount is refused with advice", "[limit][bad-input]") {
  CHECK_THROWS_WITH(kp::Limit::requests(0), Contains("admits nothing"));
  CHECK_THROWS_AS(kp::Limit::tokens(0), kp::Error);
}

TEST_CASE("a zero or negative rolling period is refused", "[limit][bad-input]") {
  CHECK_THROWS_WITH(kp::Limit::requests(10).per(0s), Contains("positive period"));
  CHECK_THROWS_WITH(kp::Limit::requests(10).per(-5s), Contains("positive period"));
  CHECK_THROWS_WITH(kp::Limit::requests(10).per(std::chrono::hours{24 * 500}), Contains("400 days"));
  CHECK_THROWS_WITH(kp::Limit::tokens(2'000'000'000).per(1s), Contains("nanosecond"));
}

TEST_CASE("an amount that would overflow its window counter is refused", "[limit][bad-input]") {
  CHECK_NOTHROW(kp::Limit::tokens(kp::detail::max_window_amount(kp::detail::WindowUnit::second)).per_second());
  CHECK_THROWS_WITH(kp::Limit::tokens(kp::detail::max_window_amount(kp::detail::WindowUnit::second) + 1).per_second(),
                    Contains("overflows"));
  CHECK_THROWS_WITH(kp::Limit::spend(~std::uint64_t{0}).per_month(), Contains("overflows"));
}

TEST_CASE("a limit has one period", "[limit][bad-input]") {
  CHECK_THROWS_WITH(kp::Limit::requests(10).per_minute().per_day(), Contains("one period"));
  CHECK_THROWS_WITH(kp::Limit::requests(10).per_day().per(60s), Contains("one period"));
  CHECK_THROWS_WITH(kp::Limit::requests(10).per_request().per_minute(), Contains("one period"));
}

TEST_CASE("headroom outside (0, 1] and misplaced options are refused", "[limit][bad-input]") {
  CHECK_THROWS_WITH(kp::Limit::requests(10).per_day().headroom(kp::Priority::batch, 0.0), Contains("(0, 1]"));
  CHECK_THROWS_WITH(kp::Limit::requests(10).per_day().headroom(kp::Priority::batch, 1.5), Contains("(0, 1]"));
  CHECK_THROWS_AS(kp::Limit::requests(10).per_day().headroom(kp::Priority::batch, std::nan("")), kp::Error);
  CHECK_THROWS_WITH(kp::Limit::tokens(10).per_request().headroom(kp::Priority::batch, 0.5), Contains("per-request"));
  CHECK_THROWS_WITH(kp::Limit::requests(10).per(60s).reset_zone(kp::Zone::utc()), Contains("calendar"));
}

TEST_CASE("thresholds must be increasing fractions", "[limit][bad-input]") {
  CHECK_NOTHROW(kp::Thresholds{0.5, 0.8, 1.0});
  CHECK_THROWS_WITH((kp::Thresholds{0.9, 0.8}), Contains("increasing"));
  CHECK_THROWS_WITH((kp::Thresholds{0.0}), Contains("(0, 1]"));
  CHECK_THROWS_WITH((kp::Thresholds{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}), Contains("at most 7"));
}

TEST_CASE("headroom given before per_request is refused, not ignored", "[limit][bad-input]") {
  CHECK_THROWS_WITH(kp::Limit::tokens(10).headroom(kp::Priority::batch, 0.5).per_request(), Contains("per-request"));
}
