// store::Redis's lease planner on its own, with no server and no pool: lease sizing, what a tick
// and a refused acquire ask for, dry limits, debts, rolling give-backs and the outage share.
// Times are steady-clock instants made up by the test.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>

#include <keypool/limit.hpp>
#include <keypool/store/redis/lease_planner.hpp>

namespace kp = keypool;
namespace redis = keypool::detail::redis;
using namespace std::chrono_literals;

namespace {

const redis::SteadyTime t0 = redis::SteadyTime{} + 1h;
constexpr std::uint64_t day = 20'000;  // a window index (its value does not matter here)

redis::LeasePlanner planner_for(const kp::Limit& limit, kp::store::RedisOptions options = {}) {
  return redis::LeasePlanner{kp::detail::LimitPlan{limit, kp::Thresholds{}}, options};
}

/// One instance's hand of a calendar limit in window `day`: what it was granted and what it spent.
struct Instance {
  redis::LeasePlanner planner;
  std::uint64_t amount;
  std::uint64_t granted = 0;
  std::uint64_t spent = 0;

  explicit Instance(const kp::Limit& limit, kp::store::RedisOptions options = {})
      : planner(planner_for(limit, options)), amount(limit.amount()) {
    planner.start_window(day);
  }
  [[nodiscard]] redis::Hand hand() const {
    return {day, amount - (granted - spent), static_cast<std::int64_t>(granted) - static_cast<std::int64_t>(spent)};
  }
  void lease(std::uint64_t units, redis::SteadyTime at) {
    planner.landed(day, units, at);
    granted += units;
  }
  /// `seconds` of traffic at `rate` per second, leased as it goes, then one sample.
  void run(double rate, double seconds) {
    const auto units = static_cast<std::uint64_t>(rate * seconds);
    lease(units, t0);
    spent += units;
    planner.sample(hand(), seconds);
  }
};

}  // namespace

TEST_CASE("Redis lease planner: a lease lasts lease_horizon at the instance's rate, grows with it, and decays when it falls") {
  Instance a{kp::Limit::requests(100'000'000).per_day()};  // min_lease 100,000, max_lease 6,250,000
  REQUIRE(a.planner.size() == 100'000);                    // the first lease: min_lease
  for (int i = 0; i < 100; ++i) a.run(1'000'000, 0.1);     // 10 s at 1,000,000 per second
  CHECK(a.planner.rate() == Approx(1'000'000).epsilon(0.01));
  CHECK(a.planner.size() == Approx(200'000).epsilon(0.01));  // 200 ms of it
  for (int i = 0; i < 100; ++i) a.run(5'000'000, 0.1);       // five times the rate
  CHECK(a.planner.size() == Approx(1'000'000).epsilon(0.01));
  // The traffic stops: the size decays by a tenth per sample, never collapsing at once.
  const std::uint64_t before = a.planner.size();
  a.run(0, 0.1);
  CHECK(a.planner.size() >= before * 9 / 10);
  CHECK(a.planner.size() < before);
  for (int i = 0; i < 200; ++i) a.run(0, 0.1);
  CHECK(a.planner.size() == a.planner.min_lease());
}

TEST_CASE("Redis lease planner: lease sizes stay within min_lease and max_lease, both within the limit") {
  SECTION("the defaults: limit ÷ 1000 (at least 1) and limit ÷ 16") {
    const auto p = planner_for(kp::Limit::requests(16'000).per_day());
    CHECK(p.min_lease() == 16);
    CHECK(p.max_lease() == 1'000);
    CHECK(planner_for(kp::Limit::requests(50).per_day()).min_lease() == 1);
  }
  SECTION("given bounds are clamped to the limit") {
    kp::store::RedisOptions o;
    o.min_lease = 500;
    o.max_lease = 900;
    const auto p = planner_for(kp::Limit::requests(100).per_day(), o);
    CHECK(p.min_lease() == 100);
    CHECK(p.max_lease() == 100);
  }
  SECTION("a rate far above the limit asks for max_lease, no rate for min_lease") {
    Instance a{kp::Limit::requests(16'000).per_day()};
    for (int i = 0; i < 50; ++i) a.run(100'000, 0.1);
    CHECK(a.planner.size() == 1'000);
    for (int i = 0; i < 200; ++i) a.run(0, 0.1);
    CHECK(a.planner.size() == 16);
  }
  SECTION("each refusal doubles the lease, up to max_lease, and asks for at least the shortfall") {
    Instance a{kp::Limit::tokens(16'000).per_day()};
    std::uint64_t asked = 0;
    for (int i = 0; i < 10; ++i) {
      const redis::RefusalAsk ask = a.planner.refused(a.hand(), 40, day, t0);
      REQUIRE(ask.what == redis::RefusalAsk::What::lease);
      CHECK(ask.minimum == 40);
      CHECK(ask.want >= 40);
      CHECK(ask.want >= asked);
      asked = ask.want;
    }
    CHECK(asked == 1'000);
    CHECK(a.planner.size() == 1'000);
    a.lease(40, t0);
    CHECK(a.planner.refused(a.hand(), 40, day, t0).what == redis::RefusalAsk::What::enough);
    CHECK(a.planner.refused(a.hand(), 41, day, t0).want >= 1);  // short by one: asks again
  }
}

TEST_CASE("Redis lease planner: a tick tops up below half a lease, not while the key rests") {
  Instance a{kp::Limit::requests(16'000).per_day()};  // leases of 16 while idle
  CHECK(a.planner.tick(a.hand(), day, t0, 0.0, false).want == 16);
  CHECK(a.planner.tick(a.hand(), day, t0, 0.0, true).want == 0);  // cooling down or disabled
  a.lease(9, t0);
  CHECK(a.planner.tick(a.hand(), day, t0, 0.0, false).want == 0);  // 9 of 16 in hand: enough
  a.spent += 2;
  const redis::TickAsk ask = a.planner.tick(a.hand(), day, t0, 0.0, false);
  CHECK(ask.want == 16 - 7);
  CHECK(ask.minimum == ask.want);  // below min_lease: all of it or nothing
}

TEST_CASE("Redis lease planner: a limit Redis had nothing left for is not asked again before dry_recheck, unless it is reset") {
  Instance a{kp::Limit::requests(16'000).per_day()};  // dry_recheck: 250 ms
  a.planner.answered(day, 16, 3, 16'000, t0);          // asked 16, got the last 3
  a.lease(3, t0);
  a.spent += 3;
  CHECK(a.planner.dry(day, t0 + 249ms));
  CHECK(a.planner.tick(a.hand(), day, t0 + 100ms, 0.0, false).want == 0);
  CHECK(a.planner.refused(a.hand(), 1, day, t0 + 249ms).what == redis::RefusalAsk::What::dry);
  // Then it asks again, and so does a refusal.
  CHECK(a.planner.tick(a.hand(), day, t0 + 250ms, 0.0, false).want > 0);
  CHECK(a.planner.refused(a.hand(), 1, day, t0 + 250ms).what == redis::RefusalAsk::What::lease);
  // Dry is about that window only.
  a.planner.answered(day, 16, 0, 16'000, t0 + 300ms);
  CHECK(a.planner.dry(day, t0 + 301ms));
  CHECK_FALSE(a.planner.dry(day + 1, t0 + 301ms));
  // A grant short of the ask while Redis has room left (max_share, a minimum) ends it.
  a.planner.answered(day, 16, 2, 9'000, t0 + 302ms);
  CHECK_FALSE(a.planner.dry(day, t0 + 303ms));
  // So does a grant of the whole ask, even one that reaches the limit.
  a.planner.answered(day, 16, 0, 16'000, t0 + 304ms);
  a.planner.answered(day, 16, 16, 16'000, t0 + 305ms);
  CHECK_FALSE(a.planner.dry(day, t0 + 306ms));
  // And a reset: Redis's count is gone, so the next tick and refusal ask at once.
  a.planner.answered(day, 16, 0, 16'000, t0 + 400ms);
  a.planner.forget_dry();
  CHECK(a.planner.tick(a.hand(), day, t0 + 401ms, 0.0, false).want > 0);
  CHECK(a.planner.refused(a.hand(), 1, day, t0 + 401ms).what == redis::RefusalAsk::What::lease);
}

TEST_CASE("Redis lease planner: debts are debited, a past window's in that window") {
  const kp::Limit limit = kp::Limit::tokens(1'000).per_day();
  auto p = planner_for(limit);
  p.start_window(day);
  // This window: 30 spent beyond the leases (a commit above its estimate).
  redis::TickAsk ask = p.tick(redis::Hand{day, 1'030, -30}, day, t0, 0.0, false);
  CHECK(ask.debt == 30);
  CHECK(ask.past_debt == 0);
  // The word still holds yesterday, 70 over its limit: that debt belongs to yesterday's counter.
  p.start_window(day + 1);
  ask = p.tick(redis::Hand{day, 1'070, 0}, day + 1, t0, 0.0, false);
  CHECK(ask.past_debt == 70);
  CHECK(ask.debt == 0);
  CHECK(ask.want > 0);  // and today's hand is topped up as usual
  // A past window within its limit owes nothing.
  CHECK(p.tick(redis::Hand{day, 1'000, 0}, day + 1, t0, 0.0, false).past_debt == 0);
}

TEST_CASE("Redis lease planner: rolling units held longer than rolling_hold are given back") {
  auto p = planner_for(kp::Limit::requests(60).per(60s));  // rolling_hold: 1 s
  REQUIRE(p.rolling());
  p.start_window(0);
  p.landed(0, 10, t0);
  CHECK_FALSE(p.tick(redis::Hand{0, 0, 10}, 0, t0 + 1s, 0.0, false).give_back);
  CHECK(p.tick(redis::Hand{0, 0, 10}, 0, t0 + 1001ms, 0.0, false).give_back);
  CHECK_FALSE(p.tick(redis::Hand{0, 0, 0}, 0, t0 + 2s, 0.0, false).give_back);  // nothing in hand
  p.landed(0, 5, t0 + 2s);                                                       // a fresh lease: held from now
  CHECK_FALSE(p.tick(redis::Hand{0, 0, 5}, 0, t0 + 2500ms, 0.0, false).give_back);
  // Calendar units stay until their window ends.
  auto w = planner_for(kp::Limit::requests(60).per_minute());
  w.start_window(day);
  w.landed(day, 10, t0);
  CHECK_FALSE(w.tick(redis::Hand{day, 50, 10}, day, t0 + 1h, 0.0, false).give_back);
}

TEST_CASE("Redis lease planner: an instance that spends nothing of a rolling limit does not top it up") {
  auto p = planner_for(kp::Limit::requests(60).per(60s), [] {
    kp::store::RedisOptions o;
    o.min_lease = 30;
    return o;
  }());
  p.start_window(0);
  p.landed(0, 30, t0);  // a refused acquire leased 30 and spent 1
  CHECK(p.tick(redis::Hand{0, 0, 29}, 0, t0 + 5ms, 0.005, false).want == 0);  // idle: 29 in hand, no top-up anyway
  const auto held = p.tick(redis::Hand{0, 0, 29}, 0, t0 + 1001ms, 0.005, false);
  CHECK(held.give_back);
  p.gave_back(29);
  // Nothing in hand and nothing spent: an idle instance leaves the rate to the others.
  CHECK(p.tick(redis::Hand{0, 0, 0}, 0, t0 + 1006ms, 0.005, false).want == 0);
  CHECK(p.tick(redis::Hand{0, 0, 0}, 0, t0 + 2s, 0.5, false).want == 0);
  // Spending again (a refused acquire's lease, then use): top-ups resume.
  p.landed(0, 30, t0 + 2s);
  CHECK(p.tick(redis::Hand{0, 0, 10}, 0, t0 + 2100ms, 0.1, false).want == 20);
  // A calendar limit is topped up whether or not it was spent (its units never go back).
  auto w = planner_for(kp::Limit::requests(1'000).per_day());
  w.start_window(day);
  CHECK(w.tick(redis::Hand{day, 1'000, 0}, day, t0, 0.005, false).want > 0);
}

TEST_CASE("Redis lease planner: in an outage, an instance grants itself at most limit ÷ expected_instances per window, counting what was leased") {
  kp::store::RedisOptions o;
  o.on_outage = kp::store::RedisOnOutage::local_share;
  o.expected_instances = 4;
  Instance a{kp::Limit::requests(1'000).per_day(), o};  // a share of 250 a day
  a.lease(100, t0);                                     // leased from Redis before it went away
  a.spent += 100;
  std::uint64_t local = 0;
  for (int i = 0; i < 1'000; ++i) {  // refused acquires needing 7, until the share is gone
    const std::uint64_t g = a.planner.outage_grant(a.hand(), 7);
    if (g == 0) break;
    a.planner.granted_locally(day, g);
    a.granted += g;
    a.spent += std::min<std::uint64_t>(7, a.granted - a.spent);
    local += g;
  }
  CHECK(local == 150);
  CHECK(a.planner.granted() == 250);
  CHECK(a.planner.outage_grant(a.hand(), 1'000) == 0);
  // Owed to Redis until debited; a tick asks to debit it.
  CHECK(a.planner.owed(day) == 150);
  CHECK(a.planner.tick(a.hand(), day, t0, 0.0, false).owed == 150);
  a.planner.debited_owed(day, 150);
  CHECK(a.planner.owed(day) == 0);
  // The next window has a share of its own.
  a.planner.start_window(day + 1);
  CHECK(a.planner.outage_grant(redis::Hand{day + 1, 1'000, 0}, 1'000) == 250);
  // A rate has no window to share: refused in an outage.
  o.expected_instances = 1;
  auto rolling = planner_for(kp::Limit::requests(60).per(60s), o);
  CHECK(rolling.outage_grant(redis::Hand{0, 0, 0}, 1) == 0);
}
