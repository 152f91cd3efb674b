// The selection policies beyond RoundRobin: Priority, Score, ShortestWait, TwoChoices, Weighted,
// Sticky. Each states its distribution; all refuse only when no key can serve, with the exact wait.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

/// Key i's label, "k<i>", built by appending (g++ 12 at -O3 reports a false -Wrestrict on
/// "k" + std::to_string(i)).
std::string numbered(int i) {
  std::string label{"k"};
  label += std::to_string(i);
  return label;
}

template <class Select>
struct Bench {
  kp::clock::Manual clock{monday_8am};
  std::mutex mutex;  // events arrive from every acquiring thread
  std::vector<kp::Event> events;
  kp::KeyPool<Select, kp::clock::Manual, kp::alert::Callback> pool;

  explicit Bench(kp::HealthOptions health = {})
      : pool{kp::Capacity{256}, clock, health, kp::alert::Callback{[this](const kp::Event& e) {
               std::lock_guard lock{mutex};
               events.push_back(e);
             }}} {}

  kp::KeyId key(kp::ProviderId p, std::string label, std::vector<kp::Limit> limits, std::uint32_t weight = 1) {
    return pool.add_key(p, kp::Secret{"secret-" + label}, std::move(limits), {.label = label, .weight = weight});
  }
  std::map<std::string, int> serve(int n, kp::Request request = {}) {
    std::map<std::string, int> served;
    for (int i = 0; i < n; ++i) {
      auto lease = pool.acquire(request);
      REQUIRE(lease);
      ++served[std::string{lease.label()}];
    }
    return served;
  }
  std::vector<kp::Event> of(kp::EventKind kind) {
    std::lock_guard lock{mutex};
    std::vector<kp::Event> found;
    for (const auto& e : events)
      if (e.kind == kind) found.push_back(e);
    return found;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Every policy

TEMPLATE_TEST_CASE("every policy skips disabled and cooling keys and refuses only when no key can serve, with the exact wait",
                   "[select]", kp::select::RoundRobin, kp::select::Priority<>, kp::select::Score, kp::select::ShortestWait,
                   kp::select::TwoChoices, kp::select::Weighted, kp::select::Sticky<>) {
  Bench<TestType> b;
  const auto groq = b.pool.add_provider("groq", 0);
  const auto gemini = b.pool.add_provider("gemini", 1);
  const auto k0 = b.key(groq, "disabled", {kp::Limit::requests(100).per_minute()});
  const auto k1 = b.key(groq, "cooling", {kp::Limit::requests(100).per_minute()});
  b.key(gemini, "small", {kp::Limit::requests(7).per_minute()});
  b.key(gemini, "tiny", {kp::Limit::requests(3).per_minute()});
  b.pool.disable(k0);
  // Cool k1 for 25 s, whatever the policy prefers: hold the leases of other keys (which fills
  // them: 10 requests at most) until a lease lands on k1, then fail it; the held ones are cancelled.
  {
    std::vector<kp::Lease> held;
    for (;;) {
      auto lease = b.pool.acquire();
      REQUIRE(lease);
      CHECK(lease.key() != k0);
      if (lease.key() == k1) {
        lease.fail(kp::Outcome::rate_limited(25s));
        break;
      }
      held.push_back(std::move(lease));
    }
    for (auto& lease : held) lease.cancel();
  }
  REQUIRE(b.pool.snapshot().keys[1].status == kp::KeyStatus::cooling_down);
  const auto before = b.pool.snapshot();
  std::uint64_t already = before.keys[2].limits[0].used + before.keys[3].limits[0].used;
  // Exactly the 10 remaining requests of the two free keys are admitted, never the disabled or cooling ones.
  for (std::uint64_t i = already; i < 10; ++i) {
    auto lease = b.pool.acquire({.affinity = i + 1});
    REQUIRE(lease);
    CHECK(lease.key() != k0);
    CHECK(lease.key() != k1);
  }
  auto refused = b.pool.acquire({.affinity = 99});
  REQUIRE_FALSE(refused);
  // The earliest: k1's cooldown (25 s from 08:00:00) beats the minute windows (60 s).
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 25s);
  b.clock.advance(25s);
  auto after = b.pool.acquire();
  REQUIRE(after);
  CHECK(after.key() == k1);
}

TEMPLATE_TEST_CASE("every policy refuses an empty pool with no_keys and never picks an unpublished index", "[select]",
                   kp::select::RoundRobin, kp::select::Priority<>, kp::select::Score, kp::select::ShortestWait,
                   kp::select::TwoChoices, kp::select::Weighted, kp::select::Sticky<>) {
  Bench<TestType> b;
  auto lease = b.pool.acquire({.affinity = 7});
  REQUIRE_FALSE(lease);
  CHECK(lease.refusal().reason == kp::Reason::no_keys);
  const auto p = b.pool.add_provider("only");
  b.key(p, "one", {kp::Limit::requests(2).per_minute()});
  CHECK(b.pool.acquire({.affinity = 7}));
  CHECK(b.pool.acquire({.affinity = 7}));
  auto full = b.pool.acquire({.affinity = 7});
  REQUIRE_FALSE(full);
  CHECK(full.refusal().reason == kp::Reason::exhausted);
  CHECK(full.refusal().retry_after == 60s);
}

// ---------------------------------------------------------------------------------------------
// Priority

TEST_CASE("priority serves the lowest tier, fails over tier by tier, and comes back when it recovers", "[select][priority]") {
  Bench<kp::select::Priority<>> b;
  const auto groq = b.pool.add_provider("groq", 0);
  const auto gemini = b.pool.add_provider("gemini", 1);
  const auto mistral = b.pool.add_provider("mistral", 2);
  for (int i = 0; i < 3; ++i) b.key(groq, "groq-" + std::to_string(i), {kp::Limit::requests(10).per_minute()});
  for (int i = 0; i < 2; ++i) b.key(gemini, "gemini-" + std::to_string(i), {kp::Limit::requests(5).per_minute()});
  b.key(mistral, "mistral-0", {kp::Limit::requests(4).per_minute()});

  // Groq alone while it can serve, evenly over its three keys (round robin within the tier).
  auto served = b.serve(30);
  CHECK(served == std::map<std::string, int>{{"groq-0", 10}, {"groq-1", 10}, {"groq-2", 10}});
  CHECK(b.of(kp::EventKind::failover).empty());
  // Then Gemini, then Mistral.
  served = b.serve(14);
  CHECK(served == std::map<std::string, int>{{"gemini-0", 5}, {"gemini-1", 5}, {"mistral-0", 4}});
  auto moves = b.of(kp::EventKind::failover);
  REQUIRE(moves.size() == 2);
  CHECK(moves[0].provider_name == "groq");
  CHECK(moves[0].to_provider_name == "gemini");
  CHECK(moves[0].provider == groq);
  CHECK(moves[0].to_provider == gemini);
  CHECK(moves[1].provider_name == "gemini");
  CHECK(moves[1].to_provider_name == "mistral");
  // Nothing left: refused until the minute ends, and no failover event for refusals.
  auto refused = b.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().retry_after == 60s);
  CHECK(b.of(kp::EventKind::failover).size() == 2);
  // A new minute: straight back to Groq, one failover event back.
  b.clock.advance(60s);
  auto back = b.pool.acquire();
  REQUIRE(back);
  CHECK(back.provider() == groq);
  moves = b.of(kp::EventKind::failover);
  REQUIRE(moves.size() == 3);
  CHECK(moves[2].provider_name == "mistral");
  CHECK(moves[2].to_provider_name == "groq");
}

TEST_CASE("priority tries every tier in order, including tiers added later and lower", "[select][priority]") {
  Bench<kp::select::Priority<>> b;
  const auto backup = b.pool.add_provider("backup", 5);
  b.key(backup, "backup-0", {kp::Limit::requests(100).per_minute()});
  CHECK(b.pool.acquire().label() == "backup-0");
  const auto primary = b.pool.add_provider("primary", 1);
  b.key(primary, "primary-0", {kp::Limit::requests(100).per_minute()});
  CHECK(b.pool.acquire().label() == "primary-0");
  // Two providers in one tier share it through the inner policy.
  const auto also = b.pool.add_provider("also-primary", 1);
  b.key(also, "also-0", {kp::Limit::requests(100).per_minute()});
  auto served = b.serve(20);
  CHECK(served == std::map<std::string, int>{{"also-0", 10}, {"primary-0", 10}});
}

TEST_CASE("priority under threads never over-admits and reports each move once per direction", "[select][priority]") {
  Bench<kp::select::Priority<>> b;
  const auto groq = b.pool.add_provider("groq", 0);
  const auto gemini = b.pool.add_provider("gemini", 1);
  b.key(groq, "groq-0", {kp::Limit::requests(2'000).per_day()});
  b.key(gemini, "gemini-0", {kp::Limit::requests(3'000).per_day()});
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2'000; ++i)
        if (b.pool.acquire()) granted.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  CHECK(granted.load() == 5'000);
  const auto snap = b.pool.snapshot();
  CHECK(snap.keys[0].limits[0].used == 2'000);
  CHECK(snap.keys[1].limits[0].used == 3'000);
  // Groq was exhausted exactly once, for good: one move to Gemini, none back.
  const auto moves = b.of(kp::EventKind::failover);
  REQUIRE(moves.size() == 1);
  CHECK(moves[0].to_provider_name == "gemini");
}

// ---------------------------------------------------------------------------------------------
// Score

TEST_CASE("score prefers the key with the most quota left, so usage stays level", "[select][score]") {
  Bench<kp::select::Score> b;
  const auto p = b.pool.add_provider("groq");
  for (int i = 0; i < 4; ++i) b.key(p, numbered(i), {kp::Limit::tokens(10'000).per_day()});
  // Unequal starting points: k0 has spent 3,000 tokens, k1 1,000.
  {
    auto l = b.pool.acquire({.tokens = 3'000});
    const std::string first{l.label()};
    l.commit({.tokens = 3'000});
  }
  // Distribution: each grant goes to a key with the most left, so after any number of grants of
  // 100 tokens the spread between the fullest and emptiest key is at most one grant.
  for (int i = 0; i < 200; ++i) {
    auto l = b.pool.acquire({.tokens = 100});
    REQUIRE(l);
    const auto snap = b.pool.snapshot();
    std::uint64_t low = ~0ull, high = 0;
    for (const auto& k : snap.keys) {
      low = std::min(low, k.limits[0].used);
      high = std::max(high, k.limits[0].used);
    }
    if (i >= 90) CHECK(high - low <= 100);  // 9,000 tokens spread: levelled after 90 grants
  }
}

TEST_CASE("score discounts a key by its recent failures and forgives it after a success", "[select][score]") {
  Bench<kp::select::Score> b{kp::HealthOptions{.circuit_threshold = 10}};  // two failures do not open the circuit
  const auto p = b.pool.add_provider("groq");
  const auto flaky = b.key(p, "flaky", {kp::Limit::requests(1'000).per_day()});
  const auto steady = b.key(p, "steady", {kp::Limit::requests(1'000).per_day()});
  int failed = 0;
  while (failed < 2) {
    auto l = b.pool.acquire();
    if (l.key() == flaky) {
      l.fail(kp::Outcome::transient());
      ++failed;
    }
  }
  // flaky, two failures in a row, scores (998/1000) / 3: steady is preferred until less than
  // a third of it is left, then flaky gets a request, and its success clears the streak.
  auto left = [&](kp::KeyId k) { return 1'000 - b.pool.snapshot().keys[k.value].limits[0].used; };
  for (;;) {
    const std::uint64_t steady_left = left(steady);
    auto l = b.pool.acquire();
    REQUIRE(l);
    if (l.key() == flaky) {
      CHECK(steady_left * 3 <= 998);
      CHECK((steady_left + 1) * 3 > 998);
      break;  // the lease commits here: success
    }
  }
  CHECK(b.pool.snapshot().keys[flaky.value].consecutive_failures == 0);
  // Forgiven: flaky (997 left) is preferred until level with steady (332 left).
  auto served = b.serve(600);
  CHECK(served["flaky"] == 600);
}

// ---------------------------------------------------------------------------------------------
// ShortestWait

TEST_CASE("shortest wait picks the key that can serve soonest and refuses with exactly that wait", "[select][shortest_wait]") {
  Bench<kp::select::ShortestWait> b;
  const auto p = b.pool.add_provider("gemini");
  b.key(p, "per-minute", {kp::Limit::requests(2).per_minute()});
  b.key(p, "rolling", {kp::Limit::requests(6).per(60s)});  // one every 10 s after its burst
  // Distribution: among keys that can serve, the one with more headroom left.
  auto served = b.serve(8);
  CHECK(served == std::map<std::string, int>{{"per-minute", 2}, {"rolling", 6}});
  b.clock.advance(5s);
  auto refused = b.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().retry_after == 5s);  // the rolling key's next slot, not the minute's 55 s
  b.clock.advance(5s);
  auto next = b.pool.acquire();
  REQUIRE(next);
  CHECK(next.label() == "rolling");
}

TEST_CASE("shortest wait with acquire_for sleeps exactly until the soonest key can serve", "[select][shortest_wait]") {
  Bench<kp::select::ShortestWait> b;
  const auto p = b.pool.add_provider("groq");
  b.key(p, "slow", {kp::Limit::requests(1).per_minute()});
  b.key(p, "fast", {kp::Limit::requests(1).per(7s)});
  REQUIRE(b.pool.acquire());
  REQUIRE(b.pool.acquire());
  // A helper moves the manual clock forward in steps; acquire_for must wake at 7 s, on "fast".
  std::atomic<bool> done{false};
  std::thread ticker([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(1ms);
      if (b.clock.now() < monday_8am + 30s) b.clock.advance(1s);
    }
  });
  auto lease = b.pool.acquire_for({}, 10s);
  const auto woke = b.clock.now();
  done = true;
  ticker.join();
  REQUIRE(lease);
  CHECK(lease.label() == "fast");
  CHECK(woke >= monday_8am + 7s);
  CHECK(woke <= monday_8am + 9s);  // at most a tick or two late, never the minute
}

// ---------------------------------------------------------------------------------------------
// TwoChoices

TEST_CASE("two choices keeps the busiest key close to the average on a large pool", "[select][two_choices]") {
  Bench<kp::select::TwoChoices> b;
  const auto p = b.pool.add_provider("groq");
  for (int i = 0; i < 200; ++i) b.key(p, numbered(i), {kp::Limit::requests(1'000'000).per_day()});
  const auto served = b.serve(100'000);
  int most = 0, least = 1 << 30;
  for (const auto& [label, n] : served) {
    most = std::max(most, n);
    least = std::min(least, n);
  }
  REQUIRE(served.size() == 200);
  // Average 500. One random choice would give a maximum near 570 and a minimum near 430; two
  // choices compared by headroom stay within a few requests of it.
  CHECK(most <= 505);
  CHECK(least >= 495);
}

TEST_CASE("two choices finds the last key that can serve", "[select][two_choices]") {
  Bench<kp::select::TwoChoices> b;
  const auto p = b.pool.add_provider("groq");
  for (int i = 0; i < 64; ++i)
    b.key(p, numbered(i), {kp::Limit::requests(i == 41 ? 50 : 1).per_day()});
  // 63 keys of one request and one of 50: all 113 requests are served, then the refusal.
  for (int i = 0; i < 113; ++i) REQUIRE(b.pool.acquire());
  CHECK_FALSE(b.pool.acquire());
}

// ---------------------------------------------------------------------------------------------
// Weighted

TEST_CASE("weighted sends traffic in proportion to the weights", "[select][weighted]") {
  Bench<kp::select::Weighted> b;
  const auto p = b.pool.add_provider("groq");
  for (std::uint32_t w = 1; w <= 4; ++w)
    b.key(p, "w" + std::to_string(w), {kp::Limit::requests(1'000'000).per_day()}, w);
  auto served = b.serve(10'000);
  // Exact proportions 1:2:3:4 of 10,000, within 0.2% (the low-discrepancy sequence, not chance).
  CHECK(std::abs(served["w1"] - 1'000) <= 20);
  CHECK(std::abs(served["w2"] - 2'000) <= 20);
  CHECK(std::abs(served["w3"] - 3'000) <= 20);
  CHECK(std::abs(served["w4"] - 4'000) <= 20);
  // Spread in time, not in runs: in any 100 consecutive grants each key is within 3 of its share.
  std::map<std::string, int> window;
  for (int i = 0; i < 100; ++i) ++window[std::string{b.pool.acquire().label()}];
  CHECK(std::abs(window["w1"] - 10) <= 3);
  CHECK(std::abs(window["w4"] - 40) <= 3);
}

TEST_CASE("weighted gives an exhausted key's share to the others and refuses only at the end", "[select][weighted]") {
  Bench<kp::select::Weighted> b;
  const auto p = b.pool.add_provider("groq");
  b.key(p, "heavy", {kp::Limit::requests(10).per_day()}, 9);
  b.key(p, "light", {kp::Limit::requests(100).per_day()}, 1);
  auto served = b.serve(110);
  CHECK(served == std::map<std::string, int>{{"heavy", 10}, {"light", 100}});
  CHECK_FALSE(b.pool.acquire());
}

// ---------------------------------------------------------------------------------------------
// Sticky

TEST_CASE("sticky keeps an affinity on one key, spreads affinities evenly, and moves few when a key is added",
          "[select][sticky]") {
  Bench<kp::select::Sticky<>> b;
  const auto p = b.pool.add_provider("anthropic");
  for (int i = 0; i < 10; ++i) b.key(p, numbered(i), {kp::Limit::requests(1'000'000).per_day()});
  std::map<std::uint64_t, std::string> home;
  std::map<std::string, int> per_key;
  for (std::uint64_t a = 1; a <= 10'000; ++a) {
    auto first = b.pool.acquire({.affinity = a});
    auto second = b.pool.acquire({.affinity = a});
    REQUIRE(first.label() == second.label());
    home[a] = std::string{first.label()};
    ++per_key[home[a]];
  }
  REQUIRE(per_key.size() == 10);
  for (const auto& [label, n] : per_key) {
    CHECK(n >= 850);   // 1,000 each on average; within 15% here
    CHECK(n <= 1'150);
  }
  b.key(p, "k10", {kp::Limit::requests(1'000'000).per_day()});
  int moved = 0;
  for (std::uint64_t a = 1; a <= 10'000; ++a) {
    const std::string now{b.pool.acquire({.affinity = a}).label()};
    if (now != home[a]) {
      ++moved;
      CHECK(now == "k10");  // only to the new key
    }
  }
  CHECK(moved >= 700);  // 1/11 of 10,000 ≈ 909
  CHECK(moved <= 1'100);
}

TEST_CASE("sticky falls back to the inner policy when the home key cannot serve, and without an affinity",
          "[select][sticky]") {
  Bench<kp::select::Sticky<>> b;
  const auto p = b.pool.add_provider("anthropic");
  for (int i = 0; i < 4; ++i) b.key(p, numbered(i), {kp::Limit::requests(5).per_minute()});
  auto first = b.pool.acquire({.affinity = 42});
  const std::string home{first.label()};
  for (int i = 0; i < 4; ++i) CHECK(b.pool.acquire({.affinity = 42}).label() == home);
  // Home is full: the request is served elsewhere, not refused.
  auto moved = b.pool.acquire({.affinity = 42});
  REQUIRE(moved);
  CHECK(moved.label() != home);
  // No affinity: round robin over all keys.
  auto served = b.serve(12);
  CHECK(served.size() == 3);  // home is full, the other three share the rest
}

TEMPLATE_TEST_CASE("every policy grants only keys that serve the request's model, and refuses with no_keys when none does",
                   "[select][models]", kp::select::RoundRobin, kp::select::Priority<>, kp::select::Score,
                   kp::select::ShortestWait, kp::select::TwoChoices, kp::select::Weighted, kp::select::Sticky<>) {
  Bench<TestType> b;
  const auto groq = b.pool.add_provider("groq", 0);
  const auto gemini = b.pool.add_provider("gemini", 1);
  // 40 keys; only k17 (Groq) and k33 (Gemini) serve "rare", each with 5 requests a minute of it.
  for (int i = 0; i < 40; ++i) {
    const bool serves = i == 17 || i == 33;
    std::vector<kp::ModelLimits> models{{"common", {kp::Limit::requests(1'000).per_minute()}}};
    if (serves) models.push_back({"rare", {kp::Limit::requests(5).per_minute()}});
    b.pool.add_key(i < 20 ? groq : gemini, kp::Secret{"secret-" + numbered(i)}, {kp::Limit::requests(1'000).per_minute()},
                   {.label = numbered(i), .models = std::move(models)});
  }
  const kp::ModelId rare = b.pool.model("rare");
  std::map<std::string, int> served;
  for (int i = 0; i < 10; ++i) {
    auto lease = b.pool.acquire({.affinity = static_cast<std::uint64_t>(i), .model = rare});
    REQUIRE(lease);
    ++served[std::string{lease.label()}];
  }
  CHECK(served == std::map<std::string, int>{{"k17", 5}, {"k33", 5}});
  const auto refused = b.pool.acquire({.model = rare});
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().retry_after == 60s);
  CHECK(b.pool.acquire({.model = b.pool.model("unknown")}).refusal().reason == kp::Reason::no_keys);
  CHECK(b.pool.acquire({.model = b.pool.model("common")}));
}
