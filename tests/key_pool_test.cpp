// KeyPool: the quota core — windows, reservations, reconciliation, refusals, health, bad input.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using Catch::Matchers::Contains;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

using ManualPool = kp::KeyPool<kp::clock::Manual, kp::alert::Callback>;

struct Fixture {
  kp::clock::Manual clock{monday_8am};
  std::vector<kp::Event> events;
  std::mutex events_mutex;  // the waiting tests settle leases on several threads
  ManualPool pool{kp::Capacity{16}, clock, kp::alert::Callback{[this](const kp::Event& e) {
                    std::lock_guard lock{events_mutex};
                    events.push_back(e);
                  }}};
  kp::ProviderId groq = pool.add_provider("groq", 0);

  kp::KeyId key(std::vector<kp::Limit> limits, std::string label = "") {
    static int serial = 0;
    const std::string secret = "gsk_test_secret_" + std::to_string(++serial);
    return pool.add_key(groq, kp::Secret{secret}, std::move(limits), {.label = std::move(label)});
  }
  std::uint64_t used(kp::KeyId k, std::size_t limit) {
    return pool.snapshot().keys.at(k.value).limits.at(limit).used;
  }
  std::size_t count(kp::EventKind kind) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("a request is admitted while every limit has room and refused after", "[pool]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(3).per_minute()});
  for (int i = 0; i < 3; ++i) CHECK(f.pool.acquire());
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().retry_after == 60s);  // 08:00:00 → the minute ends at 08:01:00
  CHECK(refused.refusal().resets_at == monday_8am + 60s);
  CHECK(f.used(k, 0) == 3);
}

TEST_CASE("a stale window reads as empty", "[pool][window]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(2).per_minute()});
  CHECK(f.pool.acquire());
  CHECK(f.pool.acquire());
  CHECK_FALSE(f.pool.acquire());
  f.clock.advance(59s);
  CHECK_FALSE(f.pool.acquire());
  CHECK(f.used(k, 0) == 2);
  f.clock.advance(1s);
  CHECK(f.used(k, 0) == 0);
  CHECK(f.pool.acquire());
  CHECK(f.used(k, 0) == 1);
}

TEST_CASE("a clock stepping backwards never resets usage early", "[pool][window]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(2).per_day()});
  CHECK(f.pool.acquire());
  CHECK(f.pool.acquire());
  f.clock.set(monday_8am - 24h);  // NTP steps the clock back a whole day
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(f.used(k, 0) == 2);
  f.clock.set(monday_8am + 15h);  // 23:00 on the same Monday: still the same day
  CHECK_FALSE(f.pool.acquire());
  f.clock.set(sys_days{2026y / November / 24});  // Tuesday 00:00 UTC
  CHECK(f.pool.acquire());
}

TEST_CASE("a request is admitted only when every limit allows it; a partial reservation rolls back", "[pool][multi-limit]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(10).per_minute(), kp::Limit::tokens(1'000).per_minute(),
                        kp::Limit::tokens(500).per_request()});
  CHECK(f.pool.acquire({.tokens = 400}));
  CHECK(f.pool.acquire({.tokens = 400}));
  const auto refused = f.pool.acquire({.tokens = 400});  // requests admit, tokens/minute refuses
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(f.used(k, 0) == 2);  // the request reserved on the first limit was rolled back
  CHECK(f.used(k, 1) == 800);
  CHECK(f.pool.acquire({.tokens = 200}));
  CHECK(f.used(k, 0) == 3);
  CHECK(f.used(k, 1) == 1'000);
}

TEST_CASE("commit reconciles the estimate: more is added, less refunded, equal unchanged", "[pool][lease]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(100).per_minute(), kp::Limit::tokens(10'000).per_day()});
  auto more = f.pool.acquire({.tokens = 1'200});
  more.commit({.tokens = 1'534});
  CHECK(f.used(k, 1) == 1'534);
  auto less = f.pool.acquire({.tokens = 1'000});
  less.commit({.tokens = 100});
  CHECK(f.used(k, 1) == 1'634);
  auto equal = f.pool.acquire({.tokens = 66});
  equal.commit({.tokens = 66});
  CHECK(f.used(k, 1) == 1'700);
  CHECK(f.used(k, 0) == 3);
  equal.commit({.tokens = 5'000});  // settling twice does nothing
  CHECK(f.used(k, 1) == 1'700);
}

TEST_CASE("cancel refunds everything; a dropped lease commits its estimate", "[pool][lease]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(100).per_minute(), kp::Limit::tokens(10'000).per_day()});
  auto cancelled = f.pool.acquire({.tokens = 700});
  CHECK(f.used(k, 1) == 700);
  cancelled.cancel();
  CHECK(f.used(k, 0) == 0);
  CHECK(f.used(k, 1) == 0);
  { auto dropped = f.pool.acquire({.tokens = 300}); }
  CHECK(f.used(k, 0) == 1);
  CHECK(f.used(k, 1) == 300);
  auto moved_from = f.pool.acquire({.tokens = 50});
  auto moved_to = std::move(moved_from);
  moved_to.cancel();
  CHECK(f.used(k, 1) == 300);
}

TEST_CASE("a commit after the window ended charges the window it was reserved in, not the new one", "[pool][lease]") {
  Fixture f;
  const auto k = f.key({kp::Limit::tokens(10'000).per_minute()});
  auto lease = f.pool.acquire({.tokens = 100});
  f.clock.advance(90s);
  lease.commit({.tokens = 5'000});
  CHECK(f.used(k, 0) == 0);
  auto late_cancel = f.pool.acquire({.tokens = 100});
  f.clock.advance(60s);
  CHECK(f.pool.acquire({.tokens = 300}));
  late_cancel.cancel();  // its window is over: the new window keeps its 300
  CHECK(f.used(k, 0) == 300);
}

TEST_CASE("fail keeps the request counted and refunds the rest", "[pool][lease][health]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(100).per_minute(), kp::Limit::tokens(10'000).per_day()});
  auto lease = f.pool.acquire({.tokens = 800});
  lease.fail(kp::Outcome::bad_request());
  CHECK(f.used(k, 0) == 1);
  CHECK(f.used(k, 1) == 0);
  CHECK(f.pool.acquire());  // bad_request does not blame the key
}

TEST_CASE("rate_limited cools a key until the retry time, and a shorter later one never shortens it", "[pool][health]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(100).per_minute()});
  f.pool.acquire().fail(kp::Outcome::rate_limited(30s));
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 30s);
  f.pool.enable(k);  // enable also clears a cooldown
  f.pool.acquire().fail(kp::Outcome::rate_limited(30s));
  f.clock.advance(1s);
  CHECK(f.count(kp::EventKind::key_cooling_down) == 2);
  CHECK(f.pool.snapshot().keys[0].status == kp::KeyStatus::cooling_down);
  f.clock.advance(28s);
  CHECK_FALSE(f.pool.acquire());
  f.clock.advance(1s);
  CHECK(f.pool.acquire());
}

TEST_CASE("a later shorter cooldown does not shorten a longer one", "[pool][health]") {
  Fixture f;
  f.key({kp::Limit::requests(100).per_minute()});
  auto first = f.pool.acquire();
  auto second = f.pool.acquire();
  first.fail(kp::Outcome::rate_limited(60s));
  second.fail(kp::Outcome::rate_limited(5s));
  f.clock.advance(10s);
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().retry_after == 50s);
}

TEST_CASE("auth_failed disables the key until enable", "[pool][health]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(100).per_minute()});
  f.pool.acquire().fail(kp::Outcome::auth_failed());
  f.clock.advance(24h);
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::disabled);
  CHECK(refused.refusal().permanent());
  CHECK(f.count(kp::EventKind::key_disabled) == 1);
  f.pool.enable(k);
  CHECK(f.pool.acquire());
  CHECK(f.count(kp::EventKind::key_recovered) == 1);
}

TEST_CASE("repeated transient failures open a circuit with growing cooldowns; a success closes it", "[pool][health]") {
  Fixture f;
  f.key({kp::Limit::requests(1'000).per_minute()});
  f.pool.acquire().fail(kp::Outcome::transient());
  f.pool.acquire().fail(kp::Outcome::transient());
  auto probe = f.pool.acquire();
  CHECK(probe);  // two failures: still closed (threshold 3)
  probe.cancel();  // never sent: neither a success nor a failure
  f.pool.acquire().fail(kp::Outcome::transient());
  auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  const auto first_cooldown = refused.refusal().retry_after;
  CHECK(first_cooldown >= 750ms);  // 1 s ± 25%
  CHECK(first_cooldown <= 1250ms);
  f.clock.advance(2s);
  f.pool.acquire().fail(kp::Outcome::transient());
  refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().retry_after >= 1500ms);  // 2 s ± 25%
  f.clock.advance(3s);
  f.pool.acquire().commit();
  f.pool.acquire().fail(kp::Outcome::transient());
  CHECK(f.pool.acquire());  // the success reset the count
}

TEST_CASE("quota_exhausted marks the daily limit spent until the day resets, not for a minute", "[pool][health]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(30).per_minute(), kp::Limit::requests(1'500).per_day()});
  f.pool.acquire().fail(kp::Outcome::quota_exhausted(kp::Metric::requests));
  CHECK(f.used(k, 1) == 1'500);
  f.clock.advance(2h);
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().resets_at == kp::TimePoint{sys_days{2026y / November / 24}});
  f.clock.set(sys_days{2026y / November / 24});
  CHECK(f.pool.acquire());
}

TEST_CASE("quota_exhausted for a metric the key does not limit cools it until the given time", "[pool][health]") {
  Fixture f;
  f.key({kp::Limit::requests(30).per_minute()});
  f.pool.acquire().fail(kp::Outcome::quota_exhausted(kp::Metric::spend, monday_8am + 4h));
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 4h);
}

TEST_CASE("a request larger than any limit is refused as too_large, and acquire_for does not wait", "[pool][bad-input]") {
  Fixture f;
  f.key({kp::Limit::tokens(32'000).per_request(), kp::Limit::tokens(1'000'000).per_minute()});
  f.key({kp::Limit::tokens(10'000).per_day()});
  auto refused = f.pool.acquire({.tokens = 40'000});
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::too_large);
  CHECK(refused.refusal().permanent());
  const auto start = steady_clock::now();
  refused = f.pool.acquire_for({.tokens = 40'000}, 5s);
  CHECK_FALSE(refused);
  CHECK(steady_clock::now() - start < 1s);
  CHECK(f.pool.acquire({.tokens = 20'000}));  // the first key can take it
}

TEST_CASE("an empty pool refuses with no_keys", "[pool][bad-input]") {
  kp::KeyPool<> pool;
  const auto refused = pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::no_keys);
}

TEST_CASE("retry_after is the time until the earliest key could admit the request", "[pool][refusal]") {
  Fixture f;
  f.key({kp::Limit::requests(1).per_day()});
  f.key({kp::Limit::requests(1).per_hour()});
  f.key({kp::Limit::requests(1).per(10min)});
  f.clock.advance(30min);  // 08:30
  CHECK(f.pool.acquire());
  CHECK(f.pool.acquire());
  CHECK(f.pool.acquire());
  auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().retry_after == 10min);  // the rolling key replenishes first
  CHECK(refused.refusal().reason == kp::Reason::rate_limited);
  f.clock.advance(10min);
  CHECK(f.pool.acquire());
  refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().retry_after == 10min);
}

TEST_CASE("a rolling limit admits a burst of its amount, then one per interval", "[pool][rolling]") {
  Fixture f;
  f.key({kp::Limit::requests(6).per(60s)});
  for (int i = 0; i < 6; ++i) CHECK(f.pool.acquire());
  auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::rate_limited);
  CHECK(refused.refusal().retry_after == 10s);
  f.clock.advance(10s);
  CHECK(f.pool.acquire());
  CHECK_FALSE(f.pool.acquire());
  f.clock.advance(60s);
  for (int i = 0; i < 6; ++i) CHECK(f.pool.acquire());
  CHECK_FALSE(f.pool.acquire());
}

TEST_CASE("a rolling token limit charges by size and refunds on cancel", "[pool][rolling]") {
  Fixture f;
  f.key({kp::Limit::tokens(1'000).per(60s)});
  auto big = f.pool.acquire({.tokens = 900});
  CHECK(big);
  CHECK_FALSE(f.pool.acquire({.tokens = 200}));
  big.cancel();
  CHECK(f.pool.acquire({.tokens = 1'000}));
}

TEST_CASE("headroom stops batch early, normal at its level, and lets critical use the rest", "[pool][headroom]") {
  Fixture f;
  f.key({kp::Limit::tokens(1'000).per_day().headroom(kp::Priority::batch, 0.80).headroom(kp::Priority::normal, 0.95)});
  CHECK(f.pool.acquire({.tokens = 800, .priority = kp::Priority::batch}));
  CHECK_FALSE(f.pool.acquire({.tokens = 1, .priority = kp::Priority::batch}));  // at 80%: batch stops
  CHECK(f.pool.acquire({.tokens = 150, .priority = kp::Priority::normal}));    // exactly 95%
  CHECK_FALSE(f.pool.acquire({.tokens = 1, .priority = kp::Priority::normal}));
  CHECK(f.pool.acquire({.tokens = 50, .priority = kp::Priority::critical}));   // exactly 100%
  CHECK_FALSE(f.pool.acquire({.tokens = 1, .priority = kp::Priority::critical}));
  const auto too_big = f.pool.acquire({.tokens = 900, .priority = kp::Priority::batch});
  CHECK(too_big.refusal().reason == kp::Reason::too_large);  // more than batch may ever use
}

TEST_CASE("day windows follow the reset zone's midnight across DST", "[pool][window][zone]") {
  Fixture f;
  const auto pacific = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  f.key({kp::Limit::requests(1).per_day().reset_zone(pacific)});
  f.clock.set(sys_days{2026y / July / 1} + 6h + 59min);  // 23:59 PDT on June 30
  CHECK(f.pool.acquire());
  auto refused = f.pool.acquire();
  CHECK(refused.refusal().retry_after == 1min);  // midnight Pacific in summer is 07:00 UTC
  f.clock.advance(1min);
  CHECK(f.pool.acquire());
  f.clock.set(sys_days{2026y / December / 1} + 7h + 30min);  // 23:30 PST on Nov 30
  CHECK(f.pool.acquire());
  refused = f.pool.acquire();
  CHECK(refused.refusal().retry_after == 30min);  // midnight Pacific in winter is 08:00 UTC
}

TEST_CASE("month windows reset on the first, whatever the month's length", "[pool][window]") {
  Fixture f;
  f.key({kp::Limit::units(1).per_month()});
  f.clock.set(sys_days{2028y / February / 29} + 23h);
  CHECK(f.pool.acquire({.units = 1}));
  auto refused = f.pool.acquire({.units = 1});
  CHECK(refused.refusal().resets_at == kp::TimePoint{sys_days{2028y / March / 1}});
  f.clock.set(sys_days{2028y / March / 1});
  CHECK(f.pool.acquire({.units = 1}));
}

TEST_CASE("threshold events fire once per level and window, with key_exhausted at 100%", "[pool][events]") {
  Fixture f;
  f.key({kp::Limit::requests(10).per_minute()}, "groq-1");
  for (int i = 0; i < 12; ++i) (void)f.pool.acquire();
  REQUIRE(f.count(kp::EventKind::threshold_crossed) == 3);
  CHECK(f.events[0].level == Approx(0.8));
  CHECK(f.events[0].used == 8);
  CHECK(f.events[0].limit == 10);
  CHECK(f.events[0].key_label == "groq-1");
  CHECK(f.events[0].provider_name == "groq");
  CHECK(f.events[0].window == "minute");
  CHECK(f.events[0].resets_at == monday_8am + 60s);
  CHECK(f.count(kp::EventKind::key_exhausted) == 1);
  f.clock.advance(60s);
  for (int i = 0; i < 12; ++i) (void)f.pool.acquire();
  CHECK(f.count(kp::EventKind::threshold_crossed) == 6);
  CHECK(f.count(kp::EventKind::key_exhausted) == 2);
}

TEST_CASE("a refusal for lack of quota reports the key exhausted once, even below 100%", "[pool][events]") {
  Fixture f;
  f.key({kp::Limit::tokens(1'000).per_day()});
  CHECK(f.pool.acquire({.tokens = 700}));
  for (int i = 0; i < 5; ++i) CHECK_FALSE(f.pool.acquire({.tokens = 500}));
  CHECK(f.count(kp::EventKind::key_exhausted) == 1);
}

TEST_CASE("an alert sink that throws does not break the pool", "[pool][events]") {
  kp::clock::Manual clock{monday_8am};
  ManualPool pool{clock, kp::alert::Callback{[](const kp::Event&) { throw std::runtime_error("smtp down"); }}};
  pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_throwing_sink_1"}, {kp::Limit::requests(2).per_minute()});
  CHECK(pool.acquire());
  CHECK(pool.acquire());
  CHECK_FALSE(pool.acquire());
  CHECK(pool.sink_failures() >= 2);
}

TEST_CASE("reset forgets usage, by key or by metric", "[pool][admin]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(5).per_day(), kp::Limit::tokens(1'000).per_day()});
  (void)f.pool.acquire({.tokens = 600});
  f.pool.reset(k, kp::Metric::tokens);
  CHECK(f.used(k, 0) == 1);
  CHECK(f.used(k, 1) == 0);
  (void)f.pool.acquire({.tokens = 600});
  f.pool.reset_all();
  CHECK(f.used(k, 0) == 0);
  CHECK(f.used(k, 1) == 0);
}

TEST_CASE("disable stops a key at once; enable brings it back", "[pool][admin]") {
  Fixture f;
  const auto a = f.key({kp::Limit::requests(100).per_minute()}, "a");
  f.key({kp::Limit::requests(100).per_minute()}, "b");
  f.pool.disable(a);
  for (int i = 0; i < 10; ++i) CHECK(f.pool.acquire().label() == "b");
  f.pool.enable(a);
  int on_a = 0;
  for (int i = 0; i < 10; ++i) on_a += f.pool.acquire().label() == "a" ? 1 : 0;
  CHECK(on_a == 5);
}

TEST_CASE("configuration mistakes are refused with a clear error", "[pool][bad-input]") {
  Fixture f;
  f.pool.add_key(f.groq, kp::Secret{"gsk_dup_secret_1234"}, {kp::Limit::requests(1).per_minute()}, {.label = "groq-1"});
  CHECK_THROWS_WITH(f.key({kp::Limit::requests(1).per_minute()}, "groq-1"), Contains("already used"));
  CHECK_THROWS_WITH(f.pool.add_key(f.groq, kp::Secret{"gsk_dup_secret_1234"}, {}, {.label = "other"}),
                    Contains("already in the pool"));
  CHECK_THROWS_WITH(f.pool.add_key(f.groq, kp::Secret{""}, {}), Contains("empty"));
  CHECK_THROWS_WITH(f.pool.add_key(kp::ProviderId{7}, kp::Secret{"gsk_x_123456789"}, {}), Contains("unknown provider"));
  CHECK_THROWS_WITH(f.pool.add_key(f.groq, kp::Secret{"gsk_x_123456789"}, {kp::Limit::requests(5)}), Contains("no period"));
  CHECK_THROWS_WITH(f.pool.add_key(f.groq, kp::Secret{"gsk_x_123456789"}, {}, {.label = "w", .weight = 0}), Contains("weight"));
  std::vector<kp::Limit> nine(9, kp::Limit::requests(1).per_minute());
  CHECK_THROWS_WITH(f.pool.add_key(f.groq, kp::Secret{"gsk_x_123456789"}, nine), Contains("at most 8"));
  CHECK_THROWS_WITH(f.pool.add_provider("groq"), Contains("already exists"));
  CHECK_THROWS_WITH(f.pool.add_provider(""), Contains("empty"));
  CHECK_THROWS_WITH(f.pool.disable(kp::KeyId{99}), Contains("unknown key"));
  CHECK_THROWS_WITH(kp::KeyPool<>{kp::Capacity{0}}, Contains("at least one key"));
  CHECK(f.pool.key_count() == 1);  // nothing half-added
}

TEST_CASE("a full pool grows for another key, keeping the keys it holds", "[pool][lifecycle]") {
  kp::KeyPool<> pool{kp::Capacity{2}};
  const auto p = pool.add_provider("groq");
  pool.add_key(p, kp::Secret{"gsk_full_1_abcdef"}, {});
  const auto second = pool.add_key(p, kp::Secret{"gsk_full_2_abcdef"}, {});
  CHECK(pool.label(second) == "gsk_…cdef#2");  // default labels stay unique
  CHECK(pool.capacity() == 2);
  const auto third = pool.add_key(p, kp::Secret{"gsk_full_3_abcdef"}, {});
  CHECK(pool.label(third) == "gsk_…cdef#3");
  CHECK(pool.capacity() >= 3);
  CHECK(pool.key_count() == 3);
}

TEST_CASE("a key without limits is never refused for quota", "[pool]") {
  kp::KeyPool<> pool;
  pool.add_key(pool.add_provider("paid"), kp::Secret{"sk-paid-0123456789"}, {});
  for (int i = 0; i < 1'000; ++i) CHECK(pool.acquire({.tokens = 1'000'000}));
}

TEST_CASE("acquire_for waits for the window to reset on a manual clock", "[pool][wait]") {
  Fixture f;
  f.key({kp::Limit::requests(1).per_minute()});
  CHECK(f.pool.acquire());
  std::thread advancer{[clock = f.clock]() mutable {
    std::this_thread::sleep_for(20ms);
    clock.advance(60s);
  }};
  const auto lease = f.pool.acquire_for({}, 10s);
  advancer.join();
  CHECK(lease);
}

TEST_CASE("acquire_for gives up after its timeout", "[pool][wait]") {
  Fixture f;
  f.key({kp::Limit::requests(1).per_minute()});
  CHECK(f.pool.acquire());
  const auto start = steady_clock::now();
  const auto lease = f.pool.acquire_for({}, 50ms);
  CHECK_FALSE(lease);
  CHECK(lease.refusal().reason == kp::Reason::exhausted);
  CHECK(steady_clock::now() - start >= 50ms);
}

TEST_CASE("acquire_for serves the waiters of one request class in arrival order", "[pool][wait][fifo]") {
  Fixture f;
  f.key({kp::Limit::requests(1).per_minute()});
  f.pool.acquire().commit();  // this minute's one request is spent
  constexpr int waiters = 6;
  std::mutex mutex;
  std::vector<int> served;
  auto served_count = [&] {
    std::lock_guard lock{mutex};
    return served.size();
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < waiters; ++i) {
    threads.emplace_back([&, i] {
      kp::Lease lease = f.pool.acquire_for({}, 60s);
      std::lock_guard lock{mutex};
      served.push_back(lease ? i : -1 - i);
    });
    // The next waiter arrives only once this one stands in line: arrival order is 0, 1, 2, ...
    while (f.pool.waiting() < static_cast<std::size_t>(i + 1)) std::this_thread::yield();
  }
  // Each new minute admits one request: the first in line gets it, whoever wakes first.
  for (int minute = 1; minute <= waiters; ++minute) {
    f.clock.advance(60s);
    const auto give_up = steady_clock::now() + 30s;
    while (served_count() < static_cast<std::size_t>(minute) && steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
    REQUIRE(served_count() == static_cast<std::size_t>(minute));
  }
  for (auto& thread : threads) thread.join();
  CHECK(served == std::vector<int>{0, 1, 2, 3, 4, 5});
  CHECK(f.pool.waiting() == 0);
}

TEST_CASE("a waiter of another request class does not queue behind them; a timed-out waiter leaves the line",
          "[pool][wait][fifo]") {
  Fixture f;
  f.key({kp::Limit::requests(1).per_minute()});
  f.pool.acquire().commit();
  std::thread first{[&] { (void)f.pool.acquire_for({}, 60s); }};
  while (f.pool.waiting() < 1) std::this_thread::yield();
  // Behind the first waiter of its class for 30 ms: gives up, refused, and leaves the line.
  const auto start = steady_clock::now();
  const kp::Lease late = f.pool.acquire_for({}, 30ms);
  CHECK_FALSE(late);
  CHECK(late.refusal().reason == kp::Reason::exhausted);
  CHECK(steady_clock::now() - start >= 30ms);
  CHECK(f.pool.waiting() == 1);
  // A critical request is its own class: it does not wait behind a normal one (and is refused
  // on its own account here: the minute is spent for every priority).
  const kp::Lease critical = f.pool.acquire_for({.priority = kp::Priority::critical}, 30ms);
  CHECK_FALSE(critical);
  CHECK(f.pool.waiting() == 1);
  f.clock.advance(60s);
  first.join();
  CHECK(f.pool.waiting() == 0);
}

TEST_CASE("a late refund on a rolling limit gives back only what has not replenished yet", "[pool][rolling]") {
  Fixture f;
  f.key({kp::Limit::requests(10).per(60s)});
  auto held = f.pool.acquire();
  f.clock.advance(2min);  // the held reservation has long replenished
  for (int i = 0; i < 10; ++i) CHECK(f.pool.acquire());
  held.cancel();
  CHECK_FALSE(f.pool.acquire());  // the burst is spent: the stale refund bought nothing
}

TEST_CASE("a request too large for a rolling limit is too_large, however large", "[pool][rolling][bad-input]") {
  Fixture f;
  f.key({kp::Limit::tokens(1'000).per(60s)});
  const auto refused = f.pool.acquire({.tokens = 307'445'734'561ull});  // × interval would wrap
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::too_large);
  CHECK_FALSE(f.pool.acquire({.tokens = ~std::uint64_t{0}}));
}

TEST_CASE("a lease reserved before a reset settles nothing against the counts after it", "[pool][admin]") {
  Fixture f;
  const auto k = f.key({kp::Limit::tokens(10'000).per_day()});
  auto before = f.pool.acquire({.tokens = 500});
  f.pool.reset(k);
  f.pool.acquire({.tokens = 300}).commit();
  before.cancel();
  CHECK(f.used(k, 0) == 300);
  auto grown = f.pool.acquire({.tokens = 100});
  f.pool.reset(k);
  grown.commit({.tokens = 5'000});
  CHECK(f.used(k, 0) == 0);
}

TEST_CASE("round robin keeps rotating when one thread alternates between many pools", "[select][round_robin]") {
  kp::clock::Manual clock;
  std::vector<std::unique_ptr<kp::KeyPool<kp::clock::Manual>>> pools;
  for (int p = 0; p < 9; ++p) {  // more pools than the per-thread cursor table has entries
    auto pool = std::make_unique<kp::KeyPool<kp::clock::Manual>>(kp::Capacity{4}, clock);
    const auto provider = pool->add_provider("groq");
    for (int k = 0; k < 4; ++k)
      pool->add_key(provider, kp::Secret{"gsk_many_pools_" + std::to_string(p) + "_" + std::to_string(k)},
                    {kp::Limit::requests(1'000).per_minute()});
    pools.push_back(std::move(pool));
  }
  std::vector<std::map<std::uint32_t, int>> served(pools.size());
  for (int round = 0; round < 40; ++round)
    for (std::size_t p = 0; p < pools.size(); ++p) ++served[p][pools[p]->acquire().key().value];
  for (const auto& per_key : served) CHECK(per_key.size() == 4);  // every pool used all its keys
}

TEST_CASE("quota_exhausted with a time marks the windows that end by then, not the longer ones", "[pool][health]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(15).per_minute(), kp::Limit::requests(1'500).per_day()});
  f.pool.acquire().fail(kp::Outcome::quota_exhausted(kp::Metric::requests, monday_8am + 60s));
  CHECK(f.used(k, 0) == 15);
  CHECK(f.used(k, 1) == 1);
  CHECK(f.count(kp::EventKind::key_exhausted) == 1);
  f.clock.advance(60s);
  CHECK(f.pool.acquire());
}

TEST_CASE("an open circuit never rests longer than circuit_max", "[pool][health]") {
  kp::clock::Manual clock{monday_8am};
  kp::KeyPool<kp::clock::Manual> pool{clock, kp::HealthOptions{.circuit_threshold = 1, .circuit_base = 1s, .circuit_max = 4s}};
  pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_circuit_max_1"}, {});
  for (int i = 0; i < 20; ++i) {
    auto lease = pool.acquire();
    if (lease) lease.fail(kp::Outcome::transient());
    const auto refused = pool.acquire();
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().retry_after <= 4s);
    clock.advance(refused.refusal().retry_after);
  }
}

TEST_CASE("a reservation rolled back by a later limit reports no threshold", "[pool][events]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(20).per_minute(), kp::Limit::requests(15).per_day()});
  for (int i = 0; i < 15; ++i) REQUIRE(f.pool.acquire());  // day full; minute at 15/20 = 75%
  f.events.clear();
  CHECK_FALSE(f.pool.acquire());  // the minute would reach 16 (80%), but the day refuses: rolled back
  CHECK(f.used(k, 0) == 15);
  CHECK(f.count(kp::EventKind::threshold_crossed) == 0);
}
