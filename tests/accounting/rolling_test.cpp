// The rolling counters on their own, with no pool: GCRA over a theoretical arrival time, and the
// leased hand of a fleet's rate.
#include <catch2/catch.hpp>

#include <chrono>

#include <keypool/accounting/leased.hpp>
#include <keypool/accounting/local.hpp>
#include <keypool/accounting/rolling.hpp>

namespace kp = keypool;
namespace acc = keypool::accounting;
using namespace std::chrono_literals;

namespace {

struct Rate {
  kp::detail::LimitPlan plan;
  kp::KeySlot::Counter counter{0, 0};
  explicit Rate(const kp::Limit& limit) : plan(limit, kp::Thresholds{}) {}
  acc::Admission reserve(std::uint64_t amount, kp::TimePoint now, acc::Reserved& out) {
    return acc::Local::reserve(plan, counter, amount, 2, acc::Instant{now}, out);
  }
};

const kp::TimePoint t0 = kp::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}.time_since_epoch()} + 8h;

}  // namespace

TEST_CASE("GCRA admits a full burst at once, then one unit per interval", "[accounting][rolling]") {
  Rate r{kp::Limit::requests(10).per(60s)};  // 6 s per request
  acc::Reserved out;
  for (int i = 0; i < 10; ++i) REQUIRE(r.reserve(1, t0, out) == acc::Admission::granted);
  CHECK(r.reserve(1, t0, out) == acc::Admission::over_cap);
  const auto verdict = acc::Gcra::wait(r.plan, r.counter, 1, r.plan.cap[2], acc::Instant{t0}.ns);
  CHECK(verdict.reason == kp::Reason::rate_limited);
  CHECK(verdict.wait == 6s);
  CHECK(r.reserve(1, t0 + 5s, out) == acc::Admission::over_cap);
  CHECK(r.reserve(1, t0 + 6s, out) == acc::Admission::granted);
  CHECK(acc::Gcra::usage(r.plan, r.counter, acc::Instant{t0 + 6s}.ns).used == 10);
  CHECK(acc::Gcra::usage(r.plan, r.counter, acc::Instant{t0 + 66s}.ns).used == 0);
}

TEST_CASE("GCRA refunds only what is still ahead of the clock", "[accounting][rolling]") {
  Rate r{kp::Limit::tokens(100).per(100s)};  // 1 s per token
  acc::Reserved out;
  REQUIRE(r.reserve(50, t0, out) == acc::Admission::granted);
  acc::Gcra::release(r.plan, r.counter, 50, out.epoch, acc::Instant{t0 + 30s}.ns);  // 30 already replenished
  CHECK(acc::Gcra::usage(r.plan, r.counter, acc::Instant{t0 + 30s}.ns).used == 0);
  REQUIRE(r.reserve(100, t0 + 30s, out) == acc::Admission::granted);
}

TEST_CASE("GCRA charges from now and saturates instead of wrapping", "[accounting][rolling]") {
  Rate r{kp::Limit::tokens(100).per(100s)};
  acc::Gcra::charge(r.plan, r.counter, 40, acc::Instant{t0}.ns);
  CHECK(acc::Gcra::usage(r.plan, r.counter, acc::Instant{t0}.ns).used == 40);
  acc::Gcra::charge(r.plan, r.counter, ~std::uint64_t{0}, acc::Instant{t0}.ns);
  CHECK(acc::Gcra::usage(r.plan, r.counter, acc::Instant{t0}.ns).used == 100);
  acc::Reserved out;
  CHECK(r.reserve(1, t0 + 1h, out) == acc::Admission::over_cap);  // far in the future, not wrapped to the past
  acc::Gcra::reset(r.counter);
  CHECK(r.reserve(100, t0, out) == acc::Admission::granted);
}

TEST_CASE("a request above the rate's amount is too large", "[accounting][rolling]") {
  Rate r{kp::Limit::tokens(100).per(60s)};
  acc::Reserved out;
  CHECK(r.reserve(101, t0, out) == acc::Admission::too_large);
  CHECK(acc::Gcra::wait(r.plan, r.counter, 101, r.plan.cap[2], acc::Instant{t0}.ns).reason == kp::Reason::too_large);
}

TEST_CASE("a leased rate spends only what is in hand, and owes what it overspent", "[accounting][rolling][leased]") {
  Rate r{kp::Limit::requests(60).per(60s)};
  acc::Reserved out;
  CHECK(acc::Leased::reserve(r.plan, r.counter, 1, 2, acc::Instant{t0}, out) == acc::Admission::over_cap);
  CHECK(acc::LeasedRolling::wait(r.plan, r.counter, 2, r.plan.cap[2], 0).wait == 2s);  // a unit a second, fleet-wide
  acc::LeasedRolling::give(r.counter, 3, 0);
  for (int i = 0; i < 3; ++i) REQUIRE(acc::Leased::reserve(r.plan, r.counter, 1, 2, acc::Instant{t0}, out) == acc::Admission::granted);
  CHECK(acc::Leased::reserve(r.plan, r.counter, 1, 2, acc::Instant{t0}, out) == acc::Admission::over_cap);
  acc::LeasedRolling::charge(r.plan, r.counter, 2, 0);
  CHECK(acc::LeasedRolling::hand(r.counter) == -2);
  CHECK(acc::LeasedRolling::take(r.counter) == 0);
  acc::LeasedRolling::release(r.plan, r.counter, 5, 0, 0);
  CHECK(acc::LeasedRolling::take(r.counter) == 3);
  CHECK(acc::LeasedRolling::hand(r.counter) == 0);
}

TEST_CASE("a leased rate whose period the amount does not divide still takes a full burst", "[accounting][rolling][leased]") {
  Rate r{kp::Limit::requests(3).per(1s)};  // 333,333,333.3 ns a unit
  const acc::Verdict verdict = acc::LeasedRolling::wait(r.plan, r.counter, 3, r.plan.cap[2], 0);
  CHECK(verdict.reason == kp::Reason::rate_limited);  // not too_large: 3 units fit the burst of 3
  CHECK(verdict.wait == 3 * kp::Duration{r.plan.interval_ns});  // the fleet's rate, one unit per interval rounded up
  CHECK(acc::LeasedRolling::wait(r.plan, r.counter, 4, r.plan.cap[2], 0).reason == kp::Reason::too_large);
}
