// store::Redis after an operator's action, against a real redis-server on a free loopback port:
// whatever the action (reset of a key, of one window, of one metric's window, of everything, of a
// group; disable and enable; a cooldown that ends), on whichever instance, no refusal claims a
// longer wait than the real one, and every instance of the fleet serves again within a control
// interval. A reset racing with lease round trips in flight never lands a grant of the old count
// on the fresh one, and an instance that joins the fleet learns of resets made after its first
// lease.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
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
using Steady = std::chrono::steady_clock;

const kp::TimePoint day_start{std::chrono::sys_days{std::chrono::year{2026} / 11 / 30}};


std::string day_counter(const std::string& pool, const std::string& label, std::size_t limit, kp::TimePoint at) {
  const auto day = std::chrono::floor<std::chrono::days>(at).time_since_epoch().count();
  return kp::store::Redis::counter_key(pool, label, limit, static_cast<std::uint64_t>(day));
}

std::size_t spend_until_refused(Pool& pool, const kp::Request& request, kp::TimePoint now) {
  std::size_t granted = 0;
  for (;;) {
    kp::Lease lease = pool.acquire(request, now);
    if (!lease) return granted;
    lease.commit();
    ++granted;
  }
}

// Spends on every pool until all of them refuse, several times over with pauses, so that what is
// in flight (top-ups, control reads) has landed. Returns what was admitted.
std::size_t drain(const std::vector<Pool*>& pools, const kp::Request& request, kp::TimePoint now) {
  // Until nothing was admitted for 600 ms: a background lease round trip in flight (slow on a
  // loaded machine) may still bring units to one instance after the others ran dry.
  std::size_t total = 0;
  auto last_admission = Steady::now();
  while (Steady::now() - last_admission < 600ms) {
    std::size_t round = 0;
    for (Pool* pool : pools) round += spend_until_refused(*pool, request, now);
    total += round;
    if (round != 0) last_admission = Steady::now();
    std::this_thread::sleep_for(30ms);
  }
  return total;
}

// Waits (real time) until `done()` or 5 s.
template <class F>
bool eventually(F done) {
  const auto deadline = Steady::now() + 5s;
  while (Steady::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

// How one instance came back after an action: how long (real time) until it admitted a request,
// and the longest wait its refusals claimed meanwhile.
struct Comeback {
  bool served = false;
  Steady::duration took{};
  kp::Duration longest_claim{};
  kp::Reason longest_reason = kp::Reason::exhausted;
};

Comeback come_back(Pool& pool, const kp::Request& request, kp::TimePoint now, Steady::time_point since) {
  Comeback c;
  const auto deadline = Steady::now() + 5s;
  while (Steady::now() < deadline) {
    kp::Lease lease = pool.acquire(request, now);
    if (lease) {
      lease.commit();
      c.served = true;
      c.took = Steady::now() - since;
      return c;
    }
    if (lease.refusal().retry_after > c.longest_claim) {
      c.longest_claim = lease.refusal().retry_after;
      c.longest_reason = lease.refusal().reason;
    }
    std::this_thread::sleep_for(1ms);
  }
  return c;
}


}  // namespace

TEST_CASE("Redis operator: a refusal with nothing in hand claims the window's end only when the fleet's count is spent",
          "[redis][redisreset]") {
  kp::clock::Manual clock{day_start + 9h};  // the day's window ends 15 h later
  SECTION("the fleet's count is spent: the window's end, exactly") {
    RedisServer server;
    Pool pool{kp::store::Redis{redis_options(server, "spent")}, clock};
    pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_1"}, {kp::Limit::requests(50).per_day()}, {.label = "k"});
    REQUIRE(spend_until_refused(pool, {}, clock.now()) == 50);
    const kp::Lease refused = pool.acquire({}, clock.now());
    REQUIRE_FALSE(refused);
    CHECK(refused.refusal().reason == kp::Reason::exhausted);
    CHECK(refused.refusal().retry_after == std::chrono::nanoseconds{day_start + 24h - clock.now()});
  }
  SECTION("Redis does not answer: nothing is known of the fleet's count, so no more than a control interval") {
    SilentServer silent;
    kp::store::Redis::Options options;
    options.port = silent.port;
    options.timeout = 50ms;
    options.control_interval = 100ms;
    Pool pool{kp::store::Redis{options}, clock};
    pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_1"}, {kp::Limit::requests(50).per_day()}, {.label = "k"});
    for (int i = 0; i < 3; ++i) {
      const kp::Lease refused = pool.acquire({}, clock.now());
      REQUIRE_FALSE(refused);
      CHECK(refused.refusal().reason == kp::Reason::exhausted);
      CHECK(refused.refusal().retry_after > kp::Duration::zero());
      CHECK(refused.refusal().retry_after <= options.control_interval);
    }
  }
}

TEST_CASE("Redis operator: an instance that joins the fleet learns of a reset made after its first lease",
          "[redis][redisreset]") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  auto options = redis_options(server, "join");
  options.control_interval = 300ms;
  options.min_lease = 10;
  options.max_lease = 10;
  options.max_share = 1.0;
  Pool a{kp::store::Redis{options}, clock};
  const kp::KeyId key =
      a.add_key(a.add_provider("groq"), kp::Secret{"gsk_1"}, {kp::Limit::requests(50).per_day()}, {.label = "shared"});
  for (int i = 0; i < 20; ++i) {  // a leases in tens
    kp::Lease lease = a.acquire({}, clock.now());
    REQUIRE(lease);
    lease.commit();
  }
  // b's background thread has read the control hash of its first key before "shared" is added,
  // and reads control again only a control interval later.
  Pool b{kp::store::Redis{options}, clock};
  const auto groq = b.add_provider("groq");
  const kp::KeyId other = b.add_key(groq, kp::Secret{"gsk_0"}, {kp::Limit::requests(1'000).per_day()}, {.label = "other"});
  b.disable(other);  // only "shared" serves
  std::this_thread::sleep_for(50ms);
  b.add_key(groq, kp::Secret{"gsk_1"}, {kp::Limit::requests(50).per_day()}, {.label = "shared"});
  // b's first lease of "shared" (ten units, debited from the count the reset deletes)...
  kp::Lease first = b.acquire({}, clock.now());
  REQUIRE(first);
  first.cancel();
  REQUIRE(b.storage().stats().leased >= 10);
  // ...then a resets the key before b read its control hash.
  a.reset(key);
  REQUIRE(eventually([&] { return server.command("HGET", "keypool:{join}:k:shared", "gen0") == "1"; }));
  std::this_thread::sleep_for(3 * options.control_interval);  // b has read the control hash since
  // The fleet admits the fresh limit at most: b's hand from before the reset is forgotten.
  const std::size_t after_reset = drain({&a, &b}, {}, clock.now());
  CHECK(after_reset > 0);
  CHECK(after_reset <= 50);
  CHECK(server.get(day_counter("join", "shared", 0, clock.now())) <= 50);
}

TEST_CASE("Redis operator: a reset racing with lease round trips: no over-admission, no false claim of the window's end",
          "[redis][redisreset]") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  constexpr std::uint64_t limit = 200;
  constexpr int rounds = 12;
  constexpr int instances = 2;
  constexpr int threads_per_instance = 2;
  auto options = redis_options(server, "race");
  options.control_interval = 20ms;
  options.dry_recheck = 2ms;  // refused acquires keep round trips in flight while the fleet is spent
  std::vector<std::unique_ptr<Pool>> pools;
  kp::KeyId key{};
  for (int i = 0; i < instances; ++i) {
    pools.push_back(std::make_unique<Pool>(kp::store::Redis{options}, clock));
    key = pools.back()->add_key(pools.back()->add_provider("groq"), kp::Secret{"gsk_1"}, {kp::Limit::requests(limit).per_day()},
                                {.label = "k"});
  }
  // Round r starts when the operator begins reset r (`round`) and its acquires are fair game once
  // the reset returned (`reset_done`). Round 0 is the fleet's first count.
  std::atomic<int> round{0};
  std::atomic<int> reset_done{0};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> seq{1};
  struct PerRound {
    std::atomic<std::uint64_t> admitted{0};
    // Per instance: the first long claim's end and the last admission's start (sequence numbers).
    std::array<std::atomic<std::uint64_t>, instances> first_long_claim{};
    std::array<std::atomic<std::uint64_t>, instances> last_admission{};
    std::atomic<std::int64_t> longest_claim_ns{0};
  };
  std::array<PerRound, rounds + 1> per_round;
  for (auto& r : per_round)
    for (auto& f : r.first_long_claim) f.store(std::numeric_limits<std::uint64_t>::max());
  std::atomic<int> resetter{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < instances; ++i)
    for (int t = 0; t < threads_per_instance; ++t)
      threads.emplace_back([&, i] {
        Pool& pool = *pools[static_cast<std::size_t>(i)];
        while (!stop.load()) {
          const int done_before = reset_done.load();
          const std::uint64_t start = seq.fetch_add(1);
          kp::Lease lease = pool.acquire({}, clock.now());
          const std::uint64_t end = seq.fetch_add(1);
          const int r = round.load();
          PerRound& pr = per_round[static_cast<std::size_t>(r)];
          if (lease) {
            lease.commit();
            pr.admitted.fetch_add(1);
            std::uint64_t seen = pr.last_admission[static_cast<std::size_t>(i)].load();
            while (seen < start && !pr.last_admission[static_cast<std::size_t>(i)].compare_exchange_weak(seen, start)) {
            }
            continue;
          }
          // Judged: refusals on the resetting instance, of acquires begun after its reset returned.
          if (done_before != r || r == 0 || resetter.load() != i) continue;
          const kp::Duration claim = lease.refusal().retry_after;
          std::int64_t longest = pr.longest_claim_ns.load();
          while (claim.count() > longest && !pr.longest_claim_ns.compare_exchange_weak(longest, claim.count())) {
          }
          if (claim > options.control_interval) {
            std::uint64_t first = pr.first_long_claim[static_cast<std::size_t>(i)].load();
            while (end < first && !pr.first_long_claim[static_cast<std::size_t>(i)].compare_exchange_weak(first, end)) {
            }
          }
        }
      });
  // Waits until no instance has admitted anything for a while: the round's count is spent.
  auto wait_spent = [&](int r) {
    std::uint64_t last = per_round[static_cast<std::size_t>(r)].admitted.load();
    auto quiet_since = Steady::now();
    while (Steady::now() - quiet_since < 150ms) {
      std::this_thread::sleep_for(10ms);
      const std::uint64_t now_admitted = per_round[static_cast<std::size_t>(r)].admitted.load();
      if (now_admitted != last) {
        last = now_admitted;
        quiet_since = Steady::now();
      }
    }
  };
  wait_spent(0);
  for (int r = 1; r <= rounds; ++r) {
    const int i = r % instances;
    resetter.store(i);
    round.store(r);
    pools[static_cast<std::size_t>(i)]->reset(key);
    reset_done.store(r);
    wait_spent(r);
  }
  stop.store(true);
  for (std::thread& t : threads) t.join();

  CHECK(per_round[0].admitted.load() == limit);
  for (int r = 1; r <= rounds; ++r) {
    CAPTURE(r);
    const PerRound& pr = per_round[static_cast<std::size_t>(r)];
    // Usage after a reset never exceeds the limit, and the fleet serves again.
    CHECK(pr.admitted.load() <= limit);
    CHECK(pr.admitted.load() > 0);
    // A refusal that claimed longer than a control interval was true: its instance admitted
    // nothing more in that round.
    const auto i = static_cast<std::size_t>(r % instances);
    CAPTURE(pr.longest_claim_ns.load());
    CHECK(pr.first_long_claim[i].load() > pr.last_admission[i].load());
  }
  // The last round's count in Redis: what the fleet leased from it, never more than the limit.
  CHECK(server.get(day_counter("race", "k", 0, clock.now())) <= static_cast<long long>(limit));
  CHECK(server.get(day_counter("race", "k", 0, clock.now())) >= static_cast<long long>(per_round[rounds].admitted.load()));
}

namespace {

// A fleet of three instances sharing one key (and, for the group's action, one group).
struct Fleet {
  static constexpr int size = 3;
  kp::store::Redis::Options options;
  kp::clock::Manual& clock;
  std::vector<std::unique_ptr<Pool>> pools;
  kp::KeyId key{};
  kp::GroupId group{};

  Fleet(const RedisServer& server, const std::string& name, kp::clock::Manual& c, const std::vector<kp::Limit>& limits,
        bool grouped)
      : options(redis_options(server, name)), clock(c) {
    options.control_interval = 100ms;
    for (int i = 0; i < size; ++i) {
      pools.push_back(std::make_unique<Pool>(kp::store::Redis{options}, clock));
      Pool& pool = *pools.back();
      const auto groq = pool.add_provider("groq");
      if (grouped) {
        group = pool.add_group(groq, "org", {kp::Limit::requests(30).per_day()});
        key = pool.add_key(groq, kp::Secret{"gsk_1"}, limits, {.label = "k", .group = group});
      } else {
        key = pool.add_key(groq, kp::Secret{"gsk_1"}, limits, {.label = "k"});
      }
    }
  }
  std::vector<Pool*> all() const {
    std::vector<Pool*> out;
    for (const auto& p : pools) out.push_back(p.get());
    return out;
  }
  Pool& operator[](int i) { return *pools[static_cast<std::size_t>(i)]; }

  // After an action on instance 0 at `since`: each instance serves `request` again within one
  // control interval (and some room for a loaded machine), and the acting instance's refusals
  // meanwhile claim no more than a control interval.
  void every_instance_comes_back(const kp::Request& request, Steady::time_point since) {
    for (int i = 0; i < size; ++i) {
      CAPTURE(i);
      const Comeback c = come_back((*this)[i], request, clock.now(), since);
      REQUIRE(c.served);
      CHECK(c.took < options.control_interval + 400ms);
      if (i == 0) CHECK(c.longest_claim <= options.control_interval);
    }
  }
};

}  // namespace

TEST_CASE("Redis operator: after a reset of any scope on one instance, the fleet serves again within a control interval",
          "[redis][redisreset]") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  SECTION("reset(key)") {
    Fleet fleet{server, "reset-key", clock, {kp::Limit::requests(30).per_day()}, false};
    REQUIRE(drain(fleet.all(), {}, clock.now()) == 30);
    const auto since = Steady::now();
    fleet[0].reset(fleet.key);
    fleet.every_instance_comes_back({}, since);
    CHECK(drain(fleet.all(), {}, clock.now()) + Fleet::size <= 30);
  }
  SECTION("reset(key, Window): the day's limit only; the minute's keeps its count") {
    Fleet fleet{server, "reset-window", clock, {kp::Limit::requests(30).per_day(), kp::Limit::requests(1'000).per_minute()},
                false};
    REQUIRE(drain(fleet.all(), {}, clock.now()) == 30);
    const auto since = Steady::now();
    fleet[0].reset(fleet.key, kp::Window::day);
    fleet.every_instance_comes_back({}, since);
    CHECK(drain(fleet.all(), {}, clock.now()) + Fleet::size <= 30);
    // The minute's count was not reset: it still holds the 30 spent before.
    const auto minute = std::chrono::floor<std::chrono::minutes>(clock.now()).time_since_epoch().count();
    CHECK(server.get(kp::store::Redis::counter_key("reset-window", "k", 1, static_cast<std::uint64_t>(minute))) >= 30);
  }
  SECTION("reset(key, Metric, Window): the tokens' day only; the requests' day keeps its count") {
    Fleet fleet{server, "reset-metric", clock, {kp::Limit::requests(1'000).per_day(), kp::Limit::tokens(3'000).per_day()}, false};
    const kp::Request request{.tokens = 100};
    // 100 tokens a request: an instance may be left holding less than one request's worth
    // (leases of tokens, not of requests), which no request can use until the day ends; the
    // documented bound of that under-admission is what each instance holds (docs/scale-out.md).
    const std::size_t spent = drain(fleet.all(), request, clock.now());
    REQUIRE(spent <= 30);
    REQUIRE(spent + static_cast<std::size_t>(Fleet::size - 1) >= 30);
    const auto requests_before = server.get(day_counter("reset-metric", "k", 0, clock.now()));
    const auto since = Steady::now();
    fleet[0].reset(fleet.key, kp::Metric::tokens, kp::Window::day);
    fleet.every_instance_comes_back(request, since);
    CHECK(drain(fleet.all(), request, clock.now()) + Fleet::size <= 30);
    CHECK(server.get(day_counter("reset-metric", "k", 0, clock.now())) >= requests_before);  // never reset
  }
  SECTION("reset_all()") {
    Fleet fleet{server, "reset-all", clock, {kp::Limit::requests(30).per_day()}, false};
    REQUIRE(drain(fleet.all(), {}, clock.now()) == 30);
    const auto since = Steady::now();
    fleet[0].reset_all();
    fleet.every_instance_comes_back({}, since);
    CHECK(drain(fleet.all(), {}, clock.now()) + Fleet::size <= 30);
  }
  SECTION("reset(GroupId): the group's limit") {
    Fleet fleet{server, "reset-group", clock, {kp::Limit::requests(1'000).per_day()}, true};
    REQUIRE(drain(fleet.all(), {}, clock.now()) == 30);
    const auto since = Steady::now();
    fleet[0].reset(fleet.group);
    fleet.every_instance_comes_back({}, since);
    CHECK(drain(fleet.all(), {}, clock.now()) + Fleet::size <= 30);
  }
}

TEST_CASE("Redis operator: after enable, and after a cooldown ends, the fleet serves again within a control interval",
          "[redis][redisreset]") {
  RedisServer server;
  kp::clock::Manual clock{day_start + 9h};
  Fleet fleet{server, "health", clock, {kp::Limit::requests(1'000).per_day()}, false};
  for (int i = 0; i < Fleet::size; ++i) REQUIRE(eventually([&] { return static_cast<bool>(fleet[i].acquire({}, clock.now())); }));
  SECTION("enable on one instance of a key another instance disabled") {
    fleet[1].disable(fleet.key);
    for (int i = 0; i < Fleet::size; ++i) {
      CAPTURE(i);
      CHECK(eventually([&] {
        const kp::Lease l = fleet[i].acquire({}, clock.now());
        return !l && l.refusal().reason == kp::Reason::disabled;
      }));
    }
    const auto since = Steady::now();
    fleet[0].enable(fleet.key);
    fleet.every_instance_comes_back({}, since);
  }
  SECTION("a cooldown seen by one instance rests the key everywhere, for exactly as long") {
    kp::Lease lease = fleet[0].acquire({}, clock.now());
    REQUIRE(lease);
    lease.fail(kp::Outcome::rate_limited(30s), clock.now());
    // Every instance rests the key (the manual clock stands still: 30 s to go) and claims no
    // longer than the cooldown, even with nothing in hand (the fleet's count is not spent).
    for (int i = 0; i < Fleet::size; ++i) {
      CAPTURE(i);
      CHECK(eventually([&] {
        const kp::Lease l = fleet[i].acquire({}, clock.now());
        return !l;
      }));
      for (int n = 0; n < 3; ++n) {
        const kp::Lease refused = fleet[i].acquire({}, clock.now());
        REQUIRE_FALSE(refused);
        CHECK((refused.refusal().reason == kp::Reason::cooling_down || refused.refusal().reason == kp::Reason::exhausted));
        CHECK(refused.refusal().retry_after == 30s);
      }
    }
    clock.advance(30s);
    const auto since = Steady::now();
    fleet.every_instance_comes_back({}, since);
  }
}
