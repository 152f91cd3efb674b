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

namespace {

// One key with the given limits, on a manual clock, events recorded.
struct OneKey {
  kp::clock::Manual clock{monday_8am};
  std::vector<kp::Event> events;
  kp::KeyPool<kp::clock::Manual, kp::alert::Callback> pool{
      kp::Capacity{2}, clock, kp::alert::Callback{[this](const kp::Event& e) { events.push_back(e); }}};
  kp::KeyId key;
  explicit OneKey(std::vector<kp::Limit> limits)
      : key(pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_one_key_secret_1"}, std::move(limits), {.label = "k"})) {}
  std::uint64_t used(std::size_t limit) { return pool.snapshot().keys.at(0).limits.at(limit).used; }
  std::size_t count(kp::EventKind kind) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("a report bends only the window it describes: a minute's figure never fills a day", "[health][reports]") {
  OneKey k{{kp::Limit::tokens(14'400).per_day()}};
  // Groq's minute: 6,000 tokens, 4,800 left, resetting in 12 s. The key counts a day.
  k.pool.acquire({.tokens = 100}).commit({.tokens = 100}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 4'800, 6'000, monday_8am + 12s}));
  CHECK(k.used(0) == 100);  // not 14,400 − 4,800
  // Nor a report with no amount whose reset lies within the day but names a minute.
  k.pool.acquire({.tokens = 100}).commit({.tokens = 100}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 50, 0, monday_8am + 40s}));
  CHECK(k.used(0) == 200);
  // The day's own figure (its amount, a reset within the day) still tightens it.
  k.pool.acquire({.tokens = 100}).commit({.tokens = 100}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 4'000, 14'400, monday_8am + 16h}));
  CHECK(k.used(0) == 10'400);
  // So does a report with no amount whose reset can only be a day's.
  k.pool.acquire({.tokens = 100}).commit({.tokens = 100}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 3'000, 0, monday_8am + 5h}));
  CHECK(k.used(0) == 11'400);
  CHECK(k.count(kp::EventKind::key_cooling_down) == 0);
}

TEST_CASE("a report's window, when the provider names it, decides which limit it tightens", "[health][reports]") {
  Fixture f;
  // Groq's requests figure counts a day, though it resets within minutes (its day frees up continuously).
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining(
                                  {.metric = kp::Metric::requests, .remaining = 700, .resets_at = monday_8am + 2min, .window = kp::Window::day}));
  CHECK(f.used(0) == 1);    // requests per minute: untouched
  CHECK(f.used(1) == 300);  // requests per day: 1,000 − 700 left
  // A minute's figure whose amount is the day's limit still tightens the minute only.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining(
                                  {.metric = kp::Metric::tokens, .remaining = 1'000, .limit = 500'000, .resets_at = monday_8am + 30s, .window = kp::Window::minute}));
  CHECK(f.used(2) == 5'000);
  CHECK(f.used(3) == 0);
  // A window the key does not count (an hour): nothing tightened.
  f.pool.acquire().commit({}, kp::Outcome::success().with_remaining(
                                  {.metric = kp::Metric::requests, .remaining = 1, .limit = 1'000, .resets_at = monday_8am + 30min, .window = kp::Window::hour}));
  CHECK(f.used(0) == 3);
  CHECK(f.used(1) == 302);
}

TEST_CASE("a report of nothing left that describes none of the key's limits rests the key until its reset", "[health][reports]") {
  OneKey k{{kp::Limit::tokens(14'400).per_day(), kp::Limit::requests(1'000).per_day()}};
  k.pool.acquire({.tokens = 100}).commit({.tokens = 100}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 0, 6'000, monday_8am + 7s}));
  CHECK(k.used(0) == 100);  // the day is not filled
  REQUIRE(k.count(kp::EventKind::key_cooling_down) == 1);
  CHECK(k.events.back().resets_at == monday_8am + 7s);
  auto refused = k.pool.acquire({.tokens = 100});
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 7s);
  k.clock.advance(7s);
  CHECK(k.pool.acquire({.tokens = 100}));
  // Without a reset, or with something left, it says nothing about when to come back.
  k.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 0, 6'000, {}}));
  k.pool.acquire().commit({}, kp::Outcome::success().with_remaining({kp::Metric::tokens, 10, 6'000, monday_8am + 20s}));
  CHECK(k.pool.acquire());
  CHECK(k.count(kp::EventKind::key_cooling_down) == 1);
}
