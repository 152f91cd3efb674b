// keypool::ClientLimiter, one thread, time given by hand: admission counts, bursts, exact
// retry_after, the table's memory bound (eviction of idle clients, a full window), bad options,
// a clock that steps back. Threads: tests/stress/client_limiter_stress_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <keypool/client_limiter.hpp>
#include <keypool/error.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using Limiter = kp::ClientLimiter;

// 2026-03-02 09:00:00 UTC.
const kp::TimePoint t0{sys_days{2026y / March / 2} + 9h};

// The seed's gateway limit: 10 requests per minute per client (T = 6 s, burst 10).
Limiter::Options ten_per_minute() { return {.requests = 10, .per = minutes{1}}; }

// Requests of cost 1 admitted to `client` at `now`, asking until the first refusal.
int admitted_until_refused(Limiter& limiter, const std::string& client, kp::TimePoint now) {
  int admitted = 0;
  while (limiter.try_acquire(client, now)) ++admitted;
  return admitted;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// Admission

TEST_CASE("an idle client is admitted its burst at once, then one request per emission interval", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  REQUIRE(limiter.emission_interval() == 6s);
  CHECK(admitted_until_refused(limiter, "203.0.113.7", t0) == 10);

  const Limiter::Decision refused = limiter.try_acquire("203.0.113.7", t0);
  CHECK_FALSE(refused);
  CHECK(refused.retry_after == 6s);
  CHECK(refused.remaining == 0);

  CHECK_FALSE(limiter.try_acquire("203.0.113.7", t0 + 6s - 1ns));
  const Limiter::Decision next = limiter.try_acquire("203.0.113.7", t0 + 6s);
  CHECK(next);
  CHECK(next.retry_after == 0ns);
  CHECK_FALSE(limiter.try_acquire("203.0.113.7", t0 + 6s));
  // A minute later the client is back at its full burst.
  CHECK(admitted_until_refused(limiter, "203.0.113.7", t0 + 6s + 1min) == 10);
}

TEST_CASE("retry_after is exact: refused one nanosecond before it, admitted at it", "[client_limiter]") {
  Limiter limiter{{.requests = 7, .per = seconds{1}, .burst = 3}};
  const kp::Duration interval = limiter.emission_interval();
  REQUIRE(interval == nanoseconds{142'857'143});  // ceil(1 s / 7): the rate never exceeds 7/s
  kp::TimePoint now = t0;
  for (int round = 0; round < 20; ++round) {
    const std::uint64_t cost = 1 + static_cast<std::uint64_t>(round % 3);
    while (limiter.try_acquire("client", now, cost)) {}
    const Limiter::Decision refused = limiter.try_acquire("client", now, cost);
    REQUIRE_FALSE(refused);
    REQUIRE(refused.retry_after > 0ns);
    CHECK_FALSE(limiter.try_acquire("client", now + refused.retry_after - 1ns, cost));
    CHECK(limiter.try_acquire("client", now + refused.retry_after, cost));
    now += refused.retry_after;
  }
}

TEST_CASE("the burst is what an idle client may send at once; the steady rate stays requests per period", "[client_limiter]") {
  SECTION("a burst below the rate") {
    Limiter limiter{{.requests = 10, .per = minutes{1}, .burst = 3}};
    CHECK(limiter.options().burst == 3);
    CHECK(admitted_until_refused(limiter, "a", t0) == 3);
    CHECK(limiter.try_acquire("a", t0).retry_after == 6s);
    CHECK(admitted_until_refused(limiter, "a", t0 + 1min) == 3);
  }
  SECTION("a burst above the rate") {
    Limiter limiter{{.requests = 10, .per = minutes{1}, .burst = 25}};
    CHECK(admitted_until_refused(limiter, "a", t0) == 25);
    CHECK(limiter.try_acquire("a", t0).retry_after == 6s);
    // Refilled at the steady rate: 10 in the next minute, not 25.
    CHECK(admitted_until_refused(limiter, "a", t0 + 1min) == 10);
  }
  SECTION("burst 0 means the rate") {
    Limiter limiter{ten_per_minute()};
    CHECK(limiter.options().burst == 10);
  }
}

TEST_CASE("clients have budgets of their own", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  CHECK(admitted_until_refused(limiter, "alice", t0) == 10);
  CHECK(admitted_until_refused(limiter, "bob", t0) == 10);
  CHECK(admitted_until_refused(limiter, "alice", t0) == 0);
  for (int i = 0; i < 1000; ++i) REQUIRE(limiter.try_acquire("client-" + std::to_string(i), t0));
  CHECK(limiter.tracked(t0) == 1002);
}

TEST_CASE("a request's cost is charged as that many requests", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  const Limiter::Decision first = limiter.try_acquire("a", t0, 4);
  CHECK(first);
  CHECK(first.remaining == 6);
  CHECK(limiter.try_acquire("a", t0, 6));
  const Limiter::Decision refused = limiter.try_acquire("a", t0, 3);
  CHECK_FALSE(refused);
  CHECK(refused.retry_after == 18s);  // three emission intervals
}

TEST_CASE("remaining counts what the client may still send now", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  for (std::uint64_t expected = 9; expected != static_cast<std::uint64_t>(-1); --expected)
    CHECK(limiter.try_acquire("a", t0).remaining == expected);
  CHECK(limiter.try_acquire("a", t0 + 6s).remaining == 0);
  CHECK(limiter.peek("a", t0 + 18s, 0).remaining == 2);
  CHECK(limiter.peek("a", t0 + 18s).remaining == 1);  // what would remain after admitting one more
}

TEST_CASE("a cost above the burst is never admitted, and charges nothing", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  const Limiter::Decision never = limiter.try_acquire("a", t0, 11);
  CHECK_FALSE(never);
  CHECK(never.retry_after == kp::Duration::max());
  CHECK(never.remaining == 10);
  CHECK(limiter.tracked(t0) == 0);
  CHECK(admitted_until_refused(limiter, "a", t0) == 10);
  CHECK(limiter.try_acquire("a", t0 + 1h, 11).retry_after == kp::Duration::max());
}

TEST_CASE("cost 0 is allowed, charges nothing and creates no entry", "[client_limiter]") {
  Limiter limiter{{.requests = 10, .per = minutes{1}, .max_clients = 1}};
  const Limiter::Decision free = limiter.try_acquire("a", t0, 0);
  CHECK(free);
  CHECK(free.retry_after == 0ns);
  CHECK(free.remaining == 10);
  CHECK(limiter.tracked(t0) == 0);
  CHECK(limiter.try_acquire("b", t0));  // the one entry is still free for b
  CHECK(limiter.try_acquire("a", t0, 0));  // allowed even though a could not get an entry now
  CHECK(limiter.try_acquire("b", t0, 0).remaining == 9);
}

TEST_CASE("peek answers like try_acquire without charging", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  for (int i = 0; i < 8; ++i) REQUIRE(limiter.try_acquire("a", t0));
  const Limiter::Decision two = limiter.peek("a", t0, 2);
  CHECK(two);
  CHECK(two.remaining == 0);
  const Limiter::Decision three = limiter.peek("a", t0, 3);
  CHECK_FALSE(three);
  CHECK(three.retry_after == 6s);
  CHECK(three.remaining == 2);
  CHECK(limiter.peek("a", t0, 11).retry_after == kp::Duration::max());
  CHECK(limiter.peek("unknown", t0).remaining == 9);
  CHECK(limiter.tracked(t0) == 1);
  CHECK(admitted_until_refused(limiter, "a", t0) == 2);
}

// Each decision must equal a token bucket's (the dual of GCRA, written independently): a client
// holds up to burst × T ns of credit, refilled one ns per ns; a request of cost c needs c × T.
TEST_CASE("decisions match a token bucket over random traffic", "[client_limiter]") {
  const std::uint64_t requests = GENERATE(1u, 3u, 10u, 1000u);
  const std::uint64_t burst = GENERATE(1u, 4u, 10u);
  const kp::Duration per = GENERATE(kp::Duration{1s}, kp::Duration{1min}, kp::Duration{7777777ns});
  CAPTURE(requests, burst, per.count());
  Limiter limiter{{.requests = requests, .per = per, .burst = burst, .max_clients = 64}};
  const auto interval = static_cast<std::uint64_t>(limiter.emission_interval().count());
  REQUIRE(interval == (static_cast<std::uint64_t>(per.count()) + requests - 1) / requests);
  const std::uint64_t capacity = burst * interval;

  struct Bucket {
    std::uint64_t credit;
    kp::TimePoint last;
  };
  std::map<int, Bucket> buckets;
  std::mt19937_64 random{requests * 1000 + burst};
  kp::TimePoint now = t0;
  for (int step = 0; step < 3000; ++step) {
    now += nanoseconds{static_cast<std::int64_t>(random() % (2 * interval + 1))};
    const int client = static_cast<int>(random() % 20);
    const std::uint64_t cost = random() % (burst + 2);  // 0 .. burst + 1
    auto [it, fresh] = buckets.try_emplace(client, Bucket{capacity, now});
    Bucket& bucket = it->second;
    bucket.credit = std::min(capacity, bucket.credit + static_cast<std::uint64_t>((now - bucket.last).count()));
    bucket.last = now;

    const Limiter::Decision decision = limiter.try_acquire("client-" + std::to_string(client), now, cost);
    CAPTURE(step, client, cost, bucket.credit);
    if (cost > burst) {
      REQUIRE_FALSE(decision);
      REQUIRE(decision.retry_after == kp::Duration::max());
    } else if (bucket.credit >= cost * interval) {
      bucket.credit -= cost * interval;
      REQUIRE(decision);
      REQUIRE(decision.retry_after == 0ns);
    } else {
      REQUIRE_FALSE(decision);
      REQUIRE(static_cast<std::uint64_t>(decision.retry_after.count()) == cost * interval - bucket.credit);
    }
    REQUIRE(decision.remaining == bucket.credit / interval);
  }
}

// -------------------------------------------------------------------------------------------------
// The table: a memory bound, idle clients' entries reused, a full window

TEST_CASE("capacity is max_clients rounded up to a power of two", "[client_limiter]") {
  CHECK(Limiter{{.requests = 1, .per = 1s, .max_clients = 1}}.capacity() == 1);
  CHECK(Limiter{{.requests = 1, .per = 1s, .max_clients = 1000}}.capacity() == 1024);
  CHECK(Limiter{{.requests = 1, .per = 1s, .max_clients = 65'536}}.capacity() == 65'536);
  CHECK(Limiter{{.requests = 1, .per = 1s}}.capacity() == 65'536);
}

TEST_CASE("an idle client's entry goes to a new client; the idle client comes back fresh", "[client_limiter]") {
  Limiter limiter{{.requests = 10, .per = minutes{1}, .max_clients = 1}};
  REQUIRE(limiter.try_acquire("a", t0));  // a is active until t0 + 6 s

  const Limiter::Decision full = limiter.try_acquire("b", t0 + 1s);
  CHECK_FALSE(full);
  CHECK(full.retry_after == 5s);  // when a's entry falls idle
  CHECK(limiter.full_refusals() == 1);
  CHECK(limiter.evictions() == 0);

  CHECK(limiter.try_acquire("b", t0 + 6s));  // a is idle: its entry is b's now
  CHECK(limiter.evictions() == 1);
  CHECK(limiter.tracked(t0 + 6s) == 1);
  CHECK(admitted_until_refused(limiter, "b", t0 + 6s) == 9);
  CHECK(limiter.try_acquire("a", t0 + 6s).retry_after == 1min);  // b's entry: full until t0 + 66 s

  // a comes back after b has gone idle: a fresh budget, as if never seen.
  CHECK(admitted_until_refused(limiter, "a", t0 + 66s) == 10);
  CHECK(limiter.evictions() == 2);
  CHECK(limiter.full_refusals() == 2);
}

TEST_CASE("a full window refuses new clients until its first entry falls idle; tracked clients keep their budgets", "[client_limiter]") {
  // 16 entries: the whole table is one probe window.
  Limiter limiter{{.requests = 10, .per = minutes{1}, .max_clients = Limiter::probe_window}};
  REQUIRE(limiter.capacity() == Limiter::probe_window);
  for (std::uint64_t i = 0; i < Limiter::probe_window; ++i)
    REQUIRE(limiter.try_acquire("client-" + std::to_string(i), t0, 1 + i % 10));  // active for 6 s .. 60 s
  CHECK(limiter.tracked(t0) == Limiter::probe_window);

  const Limiter::Decision full = limiter.try_acquire("newcomer", t0 + 2s);
  CHECK_FALSE(full);
  CHECK(full.retry_after == 4s);
  CHECK(full.remaining == 0);
  CHECK(limiter.full_refusals() == 1);
  // The tracked clients are unaffected.
  CHECK(limiter.try_acquire("client-1", t0 + 2s).remaining == 7);
  CHECK_FALSE(limiter.try_acquire("client-9", t0 + 2s));
  // At t0 + 6 s, client-0 and client-10 (cost 1) fall idle: two newcomers fit, a third does not.
  CHECK(limiter.try_acquire("newcomer", t0 + 6s));
  CHECK(limiter.try_acquire("newcomer-2", t0 + 6s));
  const Limiter::Decision third = limiter.try_acquire("newcomer-3", t0 + 6s);
  CHECK_FALSE(third);
  CHECK(third.retry_after == 6s);  // client-1 and client-11 (cost 2) are active until t0 + 12 s
  CHECK(limiter.evictions() == 2);
}

TEST_CASE("ids whose 64-bit hashes are equal share a budget; hash_seed changes the hashes", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  const std::uint64_t alice = limiter.hash("alice");
  for (int i = 0; i < 4; ++i) REQUIRE(limiter.try_acquire("alice", t0));
  CHECK(limiter.try_acquire_hashed(alice, t0).remaining == 5);
  CHECK(limiter.peek_hashed(alice, t0, 0).remaining == 5);
  CHECK(limiter.try_acquire_hashed(alice + 1, t0).remaining == 9);  // a different client

  Limiter seeded{{.requests = 10, .per = minutes{1}, .hash_seed = 0x5eed}};
  CHECK(seeded.hash("alice") != alice);
  CHECK(seeded.hash("") != limiter.hash(""));
  // Raw 64-bit ids (e.g. IPv4 addresses), including 0 and the largest, are distinct clients.
  for (const std::uint64_t id : {std::uint64_t{0}, std::uint64_t{1}, ~std::uint64_t{0}}) {
    int admitted = 0;
    while (limiter.try_acquire_hashed(id, t0)) ++admitted;
    CHECK(admitted == 10);
  }
}

TEST_CASE("string ids hash by every byte", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  const std::vector<std::string> ids = {"",         std::string(1, '\0'), std::string(2, '\0'), "a",        "b",
                                        "abcdefgh", "abcdefgi",           "abcdefghi",          "abcdefghj", "gsk_live_0123456789abcdef0123456789abcdef"};
  for (std::size_t i = 0; i < ids.size(); ++i)
    for (std::size_t j = i + 1; j < ids.size(); ++j) CHECK(limiter.hash(ids[i]) != limiter.hash(ids[j]));
  for (const std::string& id : ids) CHECK(admitted_until_refused(limiter, id, t0) == 10);
}

// -------------------------------------------------------------------------------------------------
// Time

TEST_CASE("a clock that steps back makes clients look busier, never less busy", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  REQUIRE(admitted_until_refused(limiter, "a", t0) == 10);  // TAT = t0 + 60 s
  const Limiter::Decision back = limiter.try_acquire("a", t0 - 30s);
  CHECK_FALSE(back);
  CHECK(back.retry_after == 36s);  // until t0 + 6 s, as before the step
  const Limiter::Decision ask = limiter.try_acquire("a", t0 - 30s, 0);
  CHECK_FALSE(ask);                // behind its state by more than the burst
  CHECK(ask.retry_after == 30s);
  CHECK(limiter.try_acquire("a", t0 + 6s));  // the clock caught up: as if it never stepped back
  CHECK_FALSE(limiter.try_acquire("a", t0 + 6s));
}

TEST_CASE("times before 1970 count as 1970", "[client_limiter]") {
  Limiter limiter{ten_per_minute()};
  const kp::TimePoint before{-1h};
  CHECK(admitted_until_refused(limiter, "a", before) == 10);
  CHECK(limiter.try_acquire("a", before).retry_after == 6s);
  CHECK(limiter.try_acquire("a", kp::TimePoint{6s}));
}

// -------------------------------------------------------------------------------------------------
// Options

TEST_CASE("bad options throw keypool::Error saying what to fix", "[client_limiter]") {
  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(Limiter({.requests = 0, .per = 1min}), Contains("requests = 0"));
  CHECK_THROWS_WITH(Limiter({.requests = 10}), Contains("per must be a positive duration"));
  CHECK_THROWS_WITH(Limiter({.requests = 10, .per = -1s}), Contains("per must be a positive duration"));
  CHECK_THROWS_WITH(Limiter({.requests = 1001, .per = 1us}), Contains("more than one request per nanosecond"));
  CHECK_NOTHROW(Limiter({.requests = 1000, .per = 1us}));
  CHECK_THROWS_WITH(Limiter({.requests = 10, .per = 1min, .max_clients = 0}), Contains("max_clients = 0"));
  CHECK_THROWS_WITH(Limiter({.requests = 10, .per = 1min, .max_clients = (std::size_t{1} << 40) + 1}),
                    Contains("max_clients above 2^40"));
  // Overflow: the burst's span must fit 2^61 ns (73 years).
  CHECK_THROWS_WITH(Limiter({.requests = 1, .per = hours{24 * 365 * 74}}), Contains("overflows"));
  CHECK_THROWS_WITH(Limiter({.requests = 10, .per = 1min, .burst = std::uint64_t{1} << 40}), Contains("overflows"));
  CHECK_THROWS_AS(Limiter({.requests = 10, .per = 1min, .burst = ~std::uint64_t{0}}), kp::Error);
  CHECK_NOTHROW(Limiter({.requests = 1, .per = hours{24 * 365 * 70}, .max_clients = 1}));
}
