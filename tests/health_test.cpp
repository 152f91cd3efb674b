// Key health beyond the basics in key_pool_test: health counters and the last error, billing
// answers, fail(success), and remaining counts reported by the provider tightening the counts.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

struct Fixture {
  kp::clock::Manual clock{monday_8am};
  std::vector<kp::Event> events;
  kp::KeyPool<kp::clock::Manual, kp::alert::Callback> pool{
      kp::Capacity{8}, clock, kp::alert::Callback{[this](const kp::Event& e) { events.push_back(e); }}};
  kp::ProviderId groq = pool.add_provider("groq");
  kp::KeyId key = pool.add_key(groq, kp::Secret{"gsk_health_secret_1"},
                               {kp::Limit::requests(30).per_minute(), kp::Limit::requests(1'000).per_day(),
                                kp::Limit::tokens(6'000).per_minute(), kp::Limit::tokens(500'000).per_day()},
                               {.label = "groq-1"});
  kp::KeySnapshot snap() { return pool.snapshot().keys.at(0); }
  std::uint64_t used(std::size_t limit) { return snap().limits.at(limit).used; }
  std::size_t count(kp::EventKind kind) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("health counters count successes, failures and rate limits, and keep the last error", "[health]") {
  Fixture f;
  for (int i = 0; i < 5; ++i) (void)f.pool.acquire();                            // dropped: commit at the estimate
  f.pool.acquire({.tokens = 10}).commit({.tokens = 20});                         // commit with another cost
  f.pool.acquire().fail(kp::Outcome::success());                                 // fail(success) is a commit
  f.pool.acquire().fail(kp::Outcome::bad_request().with_status(400));           // not the key's fault: not counted
  f.pool.acquire().cancel();                                                     // never sent: not counted
  f.pool.acquire().fail(kp::Outcome::transient().with_status(503));
  f.clock.advance(2s);
  f.pool.acquire().fail(kp::Outcome::rate_limited(1s).with_status(429));
  const auto s = f.snap();
  CHECK(s.successes == 7);
  CHECK(s.failures == 2);
  CHECK(s.rate_limited == 1);
  REQUIRE(s.last_error);
  CHECK(*s.last_error == kp::Outcome::Kind::rate_limited);
  CHECK(s.last_error_status == 429);
  CHECK(s.last_error_at == monday_8am + 2s);
  // Pool and provider totals add the keys up.
  const auto all = f.pool.snapshot();
  CHECK(all.totals.successes == 7);
  CHECK(all.providers.at(0).totals.failures == 2);
  CHECK(all.providers.at(0).name == "groq");
}

TEST_CASE("a billing answer (quota_exhausted until forever) disables the key until enable", "[health]") {
  Fixture f;
  f.pool.acquire().fail(kp::Outcome::quota_exhausted(kp::Metric::spend, kp::TimePoint::max()).with_status(429));
  CHECK(f.snap().status == kp::KeyStatus::disabled);
  CHECK(f.count(kp::EventKind::key_disabled) == 1);
  auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::disabled);
  f.clock.advance(days{400});
  CHECK_FALSE(f.pool.acquire());
  f.pool.enable(f.key);
  CHECK(f.pool.acquire());
}

TEST_CASE("remaining counts reported by the provider tighten the matching limit, never loosen it", "[health][reports]") {
  Fixture f;
  // Groq-style: requests per DAY (reset in hours), tokens per MINUTE (reset in seconds).
  const auto observed = kp::Outcome::success()
                            .with_status(200)
                            .with_remaining({kp::Metric::requests, 400, 1'000, monday_8am + 16h})
                            .with_remaining({kp::Metric::tokens, 5'000, 6'000, monday_8am + 7s});
  f.pool.acquire({.tokens = 100}).commit({.tokens = 100}, observed);
  CHECK(f.used(0) == 1);      // requests per minute: untouched (the report is about the day)
  CHECK(f.used(1) == 600);    // requests per day: 1,000 − 400 left
  CHECK(f.used(2) == 1'000);  // tokens per minute: 6,000 − 5,000 left
  CHECK(f.used(3) == 100);    // tokens per day: untouched
  // A report of more left than counted never lowers a count.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::requests, 999, 1'000, monday_8am + 16h}));
  CHECK(f.used(1) == 601);
  // Through fail(classified 200) too.
  f.pool.acquire().fail(kp::Outcome::success().with_remaining({kp::Metric::tokens, 0, 6'000, monday_8am + 5s}));
  CHECK(f.used(2) == 6'000);
  auto refused = f.pool.acquire({.tokens = 1});
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().retry_after == 60s);
}

TEST_CASE("a report is matched by amount first, and ignored when it matches no limit unambiguously", "[health][reports]") {
  Fixture f;
  // The reported limit 30 is the per-minute request limit, whatever the reset says.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::requests, 10, 30, {}}));
  CHECK(f.used(0) == 20);
  CHECK(f.used(1) == 1);
  // Two request limits, no amount, no reset: ambiguous, ignored.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::requests, 0, 0, {}}));
  CHECK(f.used(0) == 21);
  CHECK(f.used(1) == 2);
  // A metric the key does not limit: ignored.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::spend, 0, 0, {}}));
  CHECK(f.used(0) == 22);
  // A provider limit other than ours (the key is shared, or our limit is a self-imposed cap):
  // what the provider says is left is the most left for us too, matched by the reset.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 500, 10'000, monday_8am + 30s}));
  CHECK(f.used(2) == 5'500);
}
