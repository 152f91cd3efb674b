// store::Redis against a real redis-server started on a free loopback port: leases, exact
// spending, give-back, window ends, fleet-wide events, operator actions across instances,
// outages in both modes, a stuck server, and bad options.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <keypool/keypool.hpp>
#include <keypool/store/redis.hpp>

#include "support/redis_server.hpp"

namespace kp = keypool;
using namespace std::chrono_literals;

namespace {

using Pool = kp::KeyPool<kp::store::Redis, kp::alert::Callback, kp::clock::Manual>;

const kp::TimePoint day_start{std::chrono::sys_days{std::chrono::year{2026} / 11 / 30}};

struct Recorder {
  std::mutex mutex;
  std::vector<kp::Event> events;
  kp::alert::Callback sink() {
    return kp::alert::Callback{[this](const kp::Event& e) {
      std::lock_guard lock{mutex};
      events.push_back(e);
    }};
  }
  std::size_t count(kp::EventKind kind, double level = -1.0) {
    std::lock_guard lock{mutex};
    std::size_t n = 0;
    for (const kp::Event& e : events)
      if (e.kind == kind && (level < 0 || e.level == level)) ++n;
    return n;
  }
};

kp::store::Redis::Options options_for(const RedisServer& server, std::string pool = "test") {
  kp::store::Redis::Options o;
  o.port = server.port();
  o.pool = std::move(pool);
  o.timeout = 200ms;
  return o;
}

/// Adds provider "groq" and the one key of a test to `pool`. The instances of a test's fleet each
/// add it with the same label and limits, so they share its quota.
kp::KeyId add_groq_key(Pool& pool, std::vector<kp::Limit> limits, const char* label) {
  const auto groq = pool.add_provider("groq");
  return pool.add_key(groq, kp::Secret{"gsk_one"}, std::move(limits), {.label = label});
}

std::size_t spend_until_refused(Pool& pool, kp::TimePoint now, std::size_t most = 1'000'000) {
  std::size_t granted = 0;
  while (granted < most) {
    kp::Lease lease = pool.acquire({}, now);
    if (!lease) break;
    lease.commit();
    ++granted;
  }
  return granted;
}

// Waits (real time) until `done()` or 5 s.
template <class F>
bool eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

std::string counter(const std::string& pool, const std::string& label, kp::TimePoint at) {
  const auto day = std::chrono::floor<std::chrono::days>(at).time_since_epoch().count();
  return kp::store::Redis::counter_key(pool, label, 0, static_cast<std::uint64_t>(day));
}

}  // namespace

TEST_CASE("Redis: one instance spends exactly the limit, and Redis counts exactly what was leased") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  Recorder recorder;
  std::size_t granted = 0;
  kp::store::Redis::Stats stats;
  {
    Pool pool{kp::store::Redis{options_for(server)}, clock, recorder.sink()};
    add_groq_key(pool, {kp::Limit::requests(1'000).per_day()}, "k1");
    granted = spend_until_refused(pool, clock.now());
    stats = pool.storage().stats();
    const kp::Lease refused = pool.acquire({}, clock.now());
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::exhausted);
    CHECK(refused.refusal().retry_after == std::chrono::nanoseconds{day_start + 24h - clock.now()});
    const kp::Snapshot snap = pool.snapshot();
    CHECK(snap.keys.at(0).limits.at(0).used == 1'000);
  }
  CHECK(granted == 1'000);
  CHECK(server.get(counter("test", "k1", clock.now())) == 1'000);
  CHECK(stats.leased == 1'000);
  CHECK(stats.round_trips < 200);  // leases, not one call per request
  // The fleet crossed 80%, 90% and 100% once each.
  CHECK(recorder.count(kp::EventKind::threshold_crossed, 0.8) == 1);
  CHECK(recorder.count(kp::EventKind::threshold_crossed, 0.9) == 1);
  CHECK(recorder.count(kp::EventKind::key_exhausted) == 1);
}

TEST_CASE("Redis: what is in hand is given back when the pool is destroyed") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  {
    Pool pool{kp::store::Redis{options_for(server)}, clock};
    add_groq_key(pool, {kp::Limit::requests(10'000).per_day()}, "k1");
    for (int i = 0; i < 7; ++i) REQUIRE(pool.acquire({}, clock.now()));
    CHECK(server.get(counter("test", "k1", clock.now())) >= 7);  // leased ahead of use
  }
  CHECK(server.get(counter("test", "k1", clock.now())) == 7);
}

TEST_CASE("Redis: commits above and below the estimate reach Redis") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  {
    Pool pool{kp::store::Redis{options_for(server)}, clock};
    add_groq_key(pool, {kp::Limit::tokens(100'000).per_day()}, "k1");
    kp::Lease a = pool.acquire({.tokens = 1'000}, clock.now());
    REQUIRE(a);
    a.commit({.tokens = 4'000});  // 3,000 beyond the lease
    kp::Lease b = pool.acquire({.tokens = 1'000}, clock.now());
    REQUIRE(b);
    b.commit({.tokens = 200});
  }
  CHECK(server.get(counter("test", "k1", clock.now())) == 4'200);
}

TEST_CASE("Redis: a lease of an old window is never spent in the new one") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 23h + 59min};
  Pool pool{kp::store::Redis{options_for(server)}, clock};
  add_groq_key(pool, {kp::Limit::requests(100).per_day()}, "k1");
  for (int i = 0; i < 30; ++i) REQUIRE(pool.acquire({}, clock.now()));
  const kp::TimePoint yesterday = clock.now();
  clock.advance(2min);  // the next day
  CHECK(spend_until_refused(pool, clock.now()) == 100);
  CHECK(server.get(counter("test", "k1", clock.now())) == 100);
  CHECK(server.get(counter("test", "k1", yesterday)) >= 30);
  CHECK(server.get(counter("test", "k1", yesterday)) <= 100);
}

TEST_CASE("Redis: two instances share one limit, and the fleet's thresholds fire once") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  Recorder ra, rb;
  Pool a{kp::store::Redis{options_for(server)}, clock, ra.sink()};
  Pool b{kp::store::Redis{options_for(server)}, clock, rb.sink()};
  add_groq_key(a, {kp::Limit::requests(2'000).per_day()}, "shared");
  add_groq_key(b, {kp::Limit::requests(2'000).per_day()}, "shared");
  std::size_t from_a = 0, from_b = 0;
  for (;;) {
    kp::Lease la = a.acquire({}, clock.now());
    kp::Lease lb = b.acquire({}, clock.now());
    from_a += la ? 1 : 0;
    from_b += lb ? 1 : 0;
    if (!la && !lb) break;
  }
  CHECK(from_a + from_b == 2'000);
  CHECK(from_a >= 700);  // equal demand: a fair share each
  CHECK(from_b >= 700);
  CHECK(ra.count(kp::EventKind::threshold_crossed, 0.8) + rb.count(kp::EventKind::threshold_crossed, 0.8) == 1);
  CHECK(ra.count(kp::EventKind::key_exhausted) + rb.count(kp::EventKind::key_exhausted) == 1);
  // Both see the fleet's usage in their snapshots.
  CHECK(a.snapshot().keys.at(0).limits.at(0).used == 2'000);
  CHECK(b.snapshot().keys.at(0).limits.at(0).used == 2'000);
}

TEST_CASE("Redis: disable, enable and reset on one instance reach the others") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = options_for(server);
  options.control_interval = 10ms;
  Pool a{kp::store::Redis{options}, clock};
  Pool b{kp::store::Redis{options}, clock};
  const kp::KeyId key = add_groq_key(a, {kp::Limit::requests(50).per_day()}, "shared");
  add_groq_key(b, {kp::Limit::requests(50).per_day()}, "shared");
  REQUIRE(b.acquire({}, clock.now()));
  a.disable(key);
  CHECK(eventually([&] {
    const kp::Lease l = b.acquire({}, clock.now());
    return !l && l.refusal().reason == kp::Reason::disabled;
  }));
  a.enable(key);
  CHECK(eventually([&] { return static_cast<bool>(b.acquire({}, clock.now())); }));
  // Spend the rest, then reset on a: b can spend the whole limit again.
  while (a.acquire({}, clock.now()) || b.acquire({}, clock.now())) {
  }
  const auto leased = [&] { return a.storage().stats().leased + b.storage().stats().leased; };
  const std::uint64_t leased_before_reset = leased();
  a.reset(key);
  // The reset is published where every instance reads it: the limit's generation moved...
  CHECK(eventually([&] { return server.command("HGET", "keypool:{test}:k:shared", "gen0") == "1"; }));
  // ...and the fleet's count of 50 is deleted: what Redis counts now, the instances leased after
  // the reset (they top their hands up from the fresh count at once, so it need not stay 0).
  CHECK(eventually([&] {
    return server.get(counter("test", "shared", clock.now())) <= static_cast<long long>(leased() - leased_before_reset);
  }));
  std::size_t after_reset = 0;
  CHECK(eventually([&] {
    after_reset += spend_until_refused(b, clock.now());
    return after_reset > 0;
  }));
  after_reset += spend_until_refused(a, clock.now());
  CHECK(after_reset <= 50);
}

TEST_CASE("Redis: a spent key is served again at once after a reset on its instance, not after dry_recheck") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  // Acquires (and commits) up to `n` in a row; returns how many were admitted before a refusal.
  auto in_a_row = [&](Pool& pool, int n) {
    int admitted = 0;
    for (; admitted < n; ++admitted) {
      kp::Lease lease = pool.acquire({}, clock.now());
      if (!lease) break;
      lease.commit();
    }
    return admitted;
  };
  auto options = options_for(server);
  SECTION("with a background thread") {}
  SECTION("without a background thread") { options.refill_interval = kp::Duration::zero(); }
  Pool pool{kp::store::Redis{options}, clock};
  const kp::KeyId key = add_groq_key(pool, {kp::Limit::requests(50).per_day()}, "k");
  REQUIRE(spend_until_refused(pool, clock.now()) == 50);  // Redis answered it had nothing left
  pool.reset(key);
  CHECK(in_a_row(pool, 50) == 50);
  const kp::Lease refused = pool.acquire({}, clock.now());
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(server.get(counter("test", "k", clock.now())) == 50);  // the fresh count, exactly
}

TEST_CASE("Redis: a reset on another instance ends its dry spell for that key") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = options_for(server);
  options.control_interval = 10ms;
  options.dry_recheck = 1h;  // only the reset can make b ask Redis again today
  Pool a{kp::store::Redis{options}, clock};
  Pool b{kp::store::Redis{options}, clock};
  const kp::KeyId key = add_groq_key(a, {kp::Limit::requests(50).per_day()}, "shared");
  add_groq_key(b, {kp::Limit::requests(50).per_day()}, "shared");
  // b follows the key's control hash (a disable from a reaches it), then spends all it can get.
  a.disable(key);
  REQUIRE(eventually([&] {
    const kp::Lease l = b.acquire({}, clock.now());
    return !l && l.refusal().reason == kp::Reason::disabled;
  }));
  a.enable(key);
  REQUIRE(eventually([&] { return static_cast<bool>(b.acquire({}, clock.now())); }));
  REQUIRE(spend_until_refused(b, clock.now()) > 0);  // what a does not hold in hand
  REQUIRE_FALSE(b.acquire({}, clock.now()));           // b knows Redis has nothing left
  a.reset(key);
  std::size_t after_reset = 0;
  CHECK(eventually([&] {
    after_reset += spend_until_refused(b, clock.now());
    return after_reset > 0;
  }));
  after_reset += spend_until_refused(a, clock.now()) + spend_until_refused(b, clock.now());
  CHECK(after_reset <= 50);
}

TEST_CASE("Redis outage, refuse: only what is in hand is spent; service resumes when Redis returns") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  Recorder recorder;
  auto options = options_for(server);
  options.timeout = 50ms;
  options.reconnect_interval = 20ms;
  options.min_lease = 20;
  Pool pool{kp::store::Redis{options}, clock, recorder.sink()};
  add_groq_key(pool, {kp::Limit::requests(1'000).per_day()}, "k1");
  REQUIRE(pool.acquire({}, clock.now()));
  server.stop();
  const std::size_t during = spend_until_refused(pool, clock.now());
  CHECK(during < 1'000);  // the hand, no more
  CHECK(eventually([&] { return recorder.count(kp::EventKind::backend_unavailable) == 1; }));
  CHECK_FALSE(pool.acquire({}, clock.now()));
  CHECK(recorder.count(kp::EventKind::backend_unavailable) == 1);  // once per outage
  server.start();
  CHECK(eventually([&] { return static_cast<bool>(pool.acquire({}, clock.now())); }));
  CHECK(pool.storage().stats().available);
}

TEST_CASE("Redis outage, local_share: limit / expected instances, debited when Redis returns") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = options_for(server);
  options.on_outage = kp::store::Redis::OnOutage::local_share;
  options.expected_instances = 4;
  options.timeout = 50ms;
  options.reconnect_interval = 20ms;
  server.stop();
  std::size_t during = 0;
  {
    Pool pool{kp::store::Redis{options}, clock};
    add_groq_key(pool, {kp::Limit::requests(1'000).per_day()}, "k1");
    during = spend_until_refused(pool, clock.now());
    CHECK(during == 250);
    CHECK(pool.storage().stats().local_grants == 250);
    server.start();
    CHECK(eventually([&] { return server.get(counter("test", "k1", clock.now())) >= 250; }));
  }
  CHECK(server.get(counter("test", "k1", clock.now())) == 250);
}

TEST_CASE("Redis: a server that never answers holds an acquire for one timeout at most") {
  // A listening socket that never accepts: connects succeed (the backlog), replies never come.
  const SilentServer silent;
  kp::store::Redis::Options options;
  options.port = silent.port;
  options.timeout = 100ms;
  kp::clock::Manual clock{day_start + 9h};
  Recorder recorder;
  {
    Pool pool{kp::store::Redis{options}, clock, recorder.sink()};
    add_groq_key(pool, {kp::Limit::requests(10).per_day()}, "k1");
    const auto start = std::chrono::steady_clock::now();
    const kp::Lease lease = pool.acquire({}, clock.now());
    const auto took = std::chrono::steady_clock::now() - start;
    CHECK_FALSE(lease);
    CHECK(took < 2s);  // one 100 ms timeout, with room for a slow machine
    CHECK(recorder.count(kp::EventKind::backend_unavailable) == 1);
  }
}

TEST_CASE("Redis: bad options and unleasable limits are refused with a clear error") {
  using Options = kp::store::Redis::Options;
  auto refuses = [](Options o, const char* what) {
    CHECK_THROWS_WITH(kp::store::Redis{o}, Catch::Contains(what));
  };
  Options o;
  o.port = 0;
  refuses(o, "port");
  o = {};
  o.pool = "";
  refuses(o, "pool name");
  o = {};
  o.pool = "a{b}";
  refuses(o, "hash tag");
  o = {};
  o.timeout = 0ms;
  refuses(o, "timeout");
  o = {};
  o.max_share = 0;
  refuses(o, "max_share");
  o = {};
  o.min_lease = 10;
  o.max_lease = 5;
  refuses(o, "min_lease");
  o = {};
  o.on_outage = kp::store::Redis::OnOutage::local_share;
  o.expected_instances = 0;
  refuses(o, "expected_instances");
  o = {};
  o.rolling_hold = 0ms;
  refuses(o, "rolling_hold");

  RedisServer server;
  kp::clock::Manual clock{day_start};
  Pool pool{kp::store::Redis{options_for(server)}, clock};
  const auto groq = pool.add_provider("groq");
  CHECK_THROWS_WITH(pool.add_key(groq, kp::Secret{"gsk_b"},
                                 {kp::Limit::requests(30).per_day().headroom(kp::Priority::batch, 0.5)}),
                    Catch::Contains("headroom"));
  // Nothing was added by the refused calls: a good key still goes in.
  CHECK_NOTHROW(pool.add_key(groq, kp::Secret{"gsk_c"}, {kp::Limit::requests(30).per_day()}));
}

TEST_CASE("Redis: labels with separators do not collide in Redis") {
  CHECK(kp::store::Redis::counter_key("p", "a:b", 0, 7) != kp::store::Redis::counter_key("p", "a%3Ab", 0, 7));
  CHECK(kp::store::Redis::counter_key("p", "a:b", 0, 7) == "keypool:{p}:w:a%3Ab:0:7");
}

TEST_CASE("Redis: AUTH with a password, and with an ACL user; a wrong password is an outage, not a crash") {
  SECTION("password") {
    RedisServer server{{"--requirepass", "s3cret"}};
    kp::clock::Manual clock{day_start + 9h};
    auto options = options_for(server);
    options.password = "s3cret";
    Pool pool{kp::store::Redis{options}, clock};
    add_groq_key(pool, {kp::Limit::requests(10).per_day()}, "k1");
    CHECK(spend_until_refused(pool, clock.now()) == 10);
    CHECK(pool.storage().stats().available);
  }
  SECTION("ACL user limited to keypool's keys") {
        // The least-privilege user docs/scale-out.md documents, exactly.
    RedisServer server{{"--user", "default", "off", "--user", "svc", "on", ">pw", "~keypool:*", "+evalsha", "+script|load",
                        "+get", "+set", "+del", "+hset", "+hget", "+hdel", "+hincrby", "+hmget", "+auth", "+select", "+ping"}};
    kp::clock::Manual clock{day_start + 9h};
    auto options = options_for(server);
    options.user = "svc";
    options.password = "pw";
    options.control_interval = 10ms;
    Pool pool{kp::store::Redis{options}, clock};
    const kp::KeyId key = add_groq_key(pool, {kp::Limit::requests(10).per(60s), kp::Limit::requests(100).per_day()}, "k1");
    CHECK(spend_until_refused(pool, clock.now()) == 10);
    // Every script path under that user: a cooldown, an enable, a spent window, a reset.
    clock.advance(60s);
    kp::Lease lease;
    REQUIRE(eventually([&] {  // the rolling limit was dry: asked again after dry_recheck
      lease = pool.acquire({}, clock.now());
      return static_cast<bool>(lease);
    }));
    lease.fail(kp::Outcome::rate_limited(5s));
    pool.enable(key);
    pool.reset(key);
    std::this_thread::sleep_for(100ms);
    const kp::store::Redis::Stats stats = pool.storage().stats();
    CHECK(stats.available);
    CHECK(stats.outages == 0);
    CHECK(stats.errors == 0);  // no NOPERM: the documented permissions are enough
  }
  SECTION("wrong password") {
    RedisServer server{{"--requirepass", "s3cret"}};
    kp::clock::Manual clock{day_start + 9h};
    Recorder recorder;
    auto options = options_for(server);
    options.password = "wrong";
    Pool pool{kp::store::Redis{options}, clock, recorder.sink()};
    add_groq_key(pool, {kp::Limit::requests(10).per_day()}, "k1");
    CHECK_FALSE(pool.acquire({}, clock.now()));
    CHECK_FALSE(pool.storage().stats().available);
    CHECK(recorder.count(kp::EventKind::backend_unavailable) == 1);
  }
}

TEST_CASE("Redis: a rolling limit is leased from the fleet's GCRA: burst, then the rate, shared by two instances") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = options_for(server);
  options.control_interval = 10ms;
  Pool a{kp::store::Redis{options}, clock};
  Pool b{kp::store::Redis{options}, clock};
  add_groq_key(a, {kp::Limit::requests(60).per(60s)}, "rate");
  add_groq_key(b, {kp::Limit::requests(60).per(60s)}, "rate");
  // The burst: 60 between the two, no more.
  std::size_t burst = 0;
  for (;;) {
    kp::Lease la = a.acquire({}, clock.now());
    kp::Lease lb = b.acquire({}, clock.now());
    burst += (la ? 1 : 0) + (lb ? 1 : 0);
    if (!la && !lb) break;
  }
  CHECK(burst == 60);
  const kp::Lease refused = a.acquire({}, clock.now());
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::rate_limited);
  CHECK(refused.refusal().retry_after == 1s);  // one unit replenishes per second
  // Ten seconds later the fleet has replenished ten units, whoever asks.
  clock.advance(10s);
  std::size_t later = 0;
  CHECK(eventually([&] {  // a's hand may be empty until its dry-recheck passes
    later += spend_until_refused(a, clock.now()) + spend_until_refused(b, clock.now());
    return later >= 10;
  }));
  CHECK(later == 10);
  // A snapshot shows the fleet as of that instance's last lease script: the instance that leased
  // last sees all 60 units unreplenished; the other may still see an older figure, never more.
  const std::uint64_t seen_a = a.snapshot().keys.at(0).limits.at(0).used;
  const std::uint64_t seen_b = b.snapshot().keys.at(0).limits.at(0).used;
  CHECK(std::max(seen_a, seen_b) == 60);
  CHECK(seen_a <= 60);
  CHECK(seen_b <= 60);
}

TEST_CASE("Redis: rolling units held too long go back to the fleet") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = options_for(server);
  options.rolling_hold = 20ms;
  options.min_lease = 30;
  Pool a{kp::store::Redis{options}, clock};
  Pool b{kp::store::Redis{options}, clock};
  add_groq_key(a, {kp::Limit::requests(60).per(60s)}, "rate");
  add_groq_key(b, {kp::Limit::requests(60).per(60s)}, "rate");
  REQUIRE(a.acquire({}, clock.now()));  // a leases some and spends 1
  // a holds its units idle; after the hold they are given back, and b can spend all 59.
  std::size_t from_b = 0;
  CHECK(eventually([&] {
    from_b += spend_until_refused(b, clock.now());
    return from_b == 59;
  }));
  CHECK(from_b == 59);
  const kp::store::Redis::Stats stats = a.storage().stats();
  CHECK(stats.returned + 1 == stats.leased);  // all a leased but the one it spent
}

TEST_CASE("Redis: a provider's answers about a key reach every instance") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = options_for(server);
  options.control_interval = 10ms;
  Pool a{kp::store::Redis{options}, clock};
  Pool b{kp::store::Redis{options}, clock};
  const kp::KeyId key = add_groq_key(a, {kp::Limit::requests(1'000).per_day()}, "shared");
  add_groq_key(b, {kp::Limit::requests(1'000).per_day()}, "shared");
  SECTION("a 429 with retry-after cools the key on every instance; enable clears it everywhere") {
    REQUIRE(b.acquire({}, clock.now()));
    kp::Lease lease = a.acquire({}, clock.now());
    REQUIRE(lease);
    lease.fail(kp::Outcome::rate_limited(30s));
    CHECK(eventually([&] {
      const kp::Lease l = b.acquire({}, clock.now());
      return !l && l.refusal().reason == kp::Reason::cooling_down;
    }));
    const kp::Lease refused = b.acquire({}, clock.now());
    CHECK(refused.refusal().retry_after <= 30s);
    CHECK(refused.refusal().retry_after > 29s);
    a.enable(key);
    CHECK(eventually([&] { return static_cast<bool>(b.acquire({}, clock.now())); }));
  }
  SECTION("a daily quota the provider says is spent is spent for the fleet") {
    kp::Lease lease = a.acquire({}, clock.now());
    REQUIRE(lease);
    lease.fail(kp::Outcome::quota_exhausted(kp::Metric::requests));
    CHECK(eventually([&] { return server.get(counter("test", "shared", clock.now())) >= 1'000; }));
    // b spends at most what it already held, then is refused until the day ends.
    const std::size_t more = spend_until_refused(b, clock.now());
    CHECK(more < 1'000);
    const kp::Lease refused = b.acquire({}, clock.now());
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::exhausted);
  }
  SECTION("an invalid key is disabled on every instance") {
    kp::Lease lease = a.acquire({}, clock.now());
    REQUIRE(lease);
    lease.fail(kp::Outcome::auth_failed());
    CHECK(eventually([&] {
      const kp::Lease l = b.acquire({}, clock.now());
      return !l && l.refusal().reason == kp::Reason::disabled;
    }));
  }
}

TEST_CASE("Redis: a provider's remaining-report never hands out quota Redis did not debit") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 23h + 59min};
  Pool a{kp::store::Redis{options_for(server)}, clock};
  Pool b{kp::store::Redis{options_for(server)}, clock};
  add_groq_key(a, {kp::Limit::requests(1'000).per_day()}, "shared");
  add_groq_key(b, {kp::Limit::requests(1'000).per_day()}, "shared");
  kp::Lease late = a.acquire({}, clock.now());  // a lease of yesterday
  REQUIRE(late);
  clock.advance(2min);
  const std::size_t from_b = spend_until_refused(b, clock.now());
  // The old lease settles with a report that 500 are left today: a must not take them.
  late.commit(kp::Cost{}, kp::Outcome::success().with_remaining({kp::Metric::requests, 500, 1'000, clock.now() + 1h}),
              clock.now());
  const std::size_t from_a = spend_until_refused(a, clock.now());
  CHECK(from_a + from_b <= 1'000);
  CHECK(server.get(counter("test", "shared", clock.now())) == static_cast<long long>(from_a + from_b));
}

TEST_CASE("Redis: a reset followed at once by traffic never over-admits") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  for (int round = 0; round < 10; ++round) {
    auto options = options_for(server, "reset-" + std::to_string(round));
    Pool pool{kp::store::Redis{options}, clock};
    const kp::KeyId key = add_groq_key(pool, {kp::Limit::requests(1'000).per_day()}, "k");
    for (int i = 0; i < 100; ++i) REQUIRE(pool.acquire({}, clock.now()));
    pool.reset(key);
    std::size_t after = 0;
    CHECK(eventually([&] {
      after += spend_until_refused(pool, clock.now());
      return after >= 1'000;
    }));
    CHECK(after == 1'000);
    CHECK(server.get(counter("reset-" + std::to_string(round), "k", clock.now())) == 1'000);
  }
}

TEST_CASE("Redis: a corrupted counter fails that key only, not the connection or the others") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  server.command("SET", counter("test", "bad", clock.now()), "oops");
  Recorder recorder;
  Pool pool{kp::store::Redis{options_for(server)}, clock, recorder.sink()};
  const auto groq = pool.add_provider("groq");
  pool.add_key(groq, kp::Secret{"gsk_bad"}, {kp::Limit::requests(100).per_day()}, {.label = "bad"});
  pool.add_key(groq, kp::Secret{"gsk_good"}, {kp::Limit::requests(100).per_day()}, {.label = "good"});
  std::this_thread::sleep_for(50ms);
  CHECK(spend_until_refused(pool, clock.now()) == 100);  // the good key's whole day
  CHECK(server.get(counter("test", "good", clock.now())) == 100);
  CHECK(pool.storage().stats().outages == 0);
  CHECK(pool.storage().stats().errors > 0);  // the bad key's scripts, refused by Redis
  CHECK(recorder.count(kp::EventKind::backend_unavailable) == 0);
}

TEST_CASE("Redis: traffic right after a reset is admitted at once, and no refusal claims the window's end") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};  // the day's window ends 15 h later
  // Admits every acquire of `n` (committing it), or counts the refusals and the longest wait one claims.
  struct Traffic {
    std::size_t refused = 0;
    kp::Duration longest_wait{};
  };
  auto run = [&](Pool& pool, int n) {
    Traffic t;
    for (int i = 0; i < n; ++i) {
      kp::Lease lease = pool.acquire({.tokens = 100}, clock.now());
      if (lease) {
        lease.commit({.tokens = 100});
      } else {
        ++t.refused;
        t.longest_wait = std::max(t.longest_wait, lease.refusal().retry_after);
      }
    }
    return t;
  };

  SECTION("the benchmark's sequence: roomy limits, background thread, reset_all, traffic at once") {
    Pool pool{kp::store::Redis{options_for(server)}, clock};
    const auto groq = pool.add_provider("groq");
    for (int k = 0; k < 10; ++k)
      pool.add_key(groq, kp::Secret{"gsk_" + std::to_string(k)},
                   {kp::Limit::requests(1'000'000).per_minute(), kp::Limit::requests(10'000'000).per_day(),
                    kp::Limit::tokens(100'000'000).per_minute()},
                   {.label = "k" + std::to_string(k)});
    for (int round = 0; round < 20; ++round) {
      CAPTURE(round);
      pool.reset_all();
      const Traffic t = run(pool, 200);
      CHECK(t.refused == 0);
      CHECK(t.longest_wait < 1min);
    }
  }
  SECTION("without a background thread: the refused acquire publishes the reset itself") {
    auto options = options_for(server);
    options.refill_interval = kp::Duration::zero();
    Pool pool{kp::store::Redis{options}, clock};
    const kp::KeyId key = add_groq_key(pool, {kp::Limit::requests(1'000'000).per_day()}, "k");
    for (int round = 0; round < 5; ++round) {
      CAPTURE(round);
      pool.reset(key);
      const Traffic t = run(pool, 100);
      CHECK(t.refused == 0);
      CHECK(t.longest_wait < 1min);
    }
    CHECK(server.get(counter("test", "k", clock.now())) > 0);  // leased from the fresh count
  }
}
