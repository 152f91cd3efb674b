// Events beyond threshold crossings: provider_exhausted, all_exhausted, provider_recovered,
// key_recovered, exhaustion_forecast, failover; each once per occurrence. And kp::Monitor.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>

#include "support/event_log.hpp"

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

template <class Select = kp::select::RoundRobin>
struct Fixture : EventLog {
  kp::clock::Manual clock{monday_8am};
  kp::KeyPool<Select, kp::clock::Manual, kp::alert::Callback> pool{kp::Capacity{16}, clock, sink()};
};

}  // namespace

TEST_CASE("provider_exhausted fires once when the provider's last key runs out, all_exhausted once for a storm",
          "[events]") {
  Fixture<kp::select::Priority<>> f;
  const auto groq = f.pool.add_provider("groq", 0);
  const auto gemini = f.pool.add_provider("gemini", 1);
  f.pool.add_key(groq, kp::Secret{"gsk_events_1"}, {kp::Limit::requests(3).per_day()}, {.label = "groq-1"});
  f.pool.add_key(groq, kp::Secret{"gsk_events_2"}, {kp::Limit::requests(3).per_day()}, {.label = "groq-2"});
  f.pool.add_key(gemini, kp::Secret{"AIza_events_1"}, {kp::Limit::requests(2).per_minute()}, {.label = "gemini-1"});
  for (int i = 0; i < 5; ++i) REQUIRE(f.pool.acquire().provider() == groq);
  CHECK(f.of(kp::EventKind::provider_exhausted).empty());  // groq-2 still has one
  REQUIRE(f.pool.acquire().provider() == groq);
  CHECK(f.of(kp::EventKind::provider_exhausted).empty());  // nobody has been refused yet
  REQUIRE(f.pool.acquire().provider() == gemini);           // groq refuses: exhausted, failover
  auto exhausted = f.of(kp::EventKind::provider_exhausted);
  REQUIRE(exhausted.size() == 1);
  CHECK(exhausted[0].provider_name == "groq");
  CHECK(exhausted[0].resets_at == kp::TimePoint{sys_days{2026y / November / 24}});
  CHECK(exhausted[0].key_label.empty());
  REQUIRE(f.pool.acquire().provider() == gemini);
  // A storm of refusals from many threads: one all_exhausted, at the earliest reset (gemini's minute).
  std::vector<std::thread> threads;
  std::atomic<int> refused{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i)
        if (!f.pool.acquire()) refused.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  CHECK(refused.load() == 2'000);
  auto all = f.of(kp::EventKind::all_exhausted);
  REQUIRE(all.size() == 1);
  CHECK(all[0].resets_at == monday_8am + 60s);
  CHECK(f.of(kp::EventKind::provider_exhausted).size() == 2);  // gemini too, once
  // The minute passes: gemini recovers (reported by poll), groq does not; a new exhaustion of the
  // pool is a new occurrence.
  f.clock.advance(60s);
  f.pool.poll();
  auto recovered = f.of(kp::EventKind::provider_recovered);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].provider_name == "gemini");
  REQUIRE(f.pool.acquire());
  REQUIRE(f.pool.acquire());
  CHECK_FALSE(f.pool.acquire());
  CHECK(f.of(kp::EventKind::all_exhausted).size() == 2);
}

TEST_CASE("channels pause on provider_exhausted and resume after the midnight reset in the provider's zone", "[events][zone]") {
  // The seed's bot: a channel per provider, paused while its provider is exhausted.
  kp::clock::Manual clock{kp::TimePoint{sys_days{2026y / November / 23} + 8h}};  // 00:00 PST
  std::set<std::string> paused;
  kp::KeyPool<kp::clock::Manual, kp::alert::Callback> pool{clock, kp::alert::Callback{[&](const kp::Event& e) {
    if (e.kind == kp::EventKind::provider_exhausted) paused.insert(std::string{e.provider_name});
    if (e.kind == kp::EventKind::provider_recovered) paused.erase(std::string{e.provider_name});
  }}};
  const auto pacific = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");
  const auto gemini = pool.add_provider("gemini");
  pool.add_key(gemini, kp::Secret{"AIza_midnight"}, {kp::Limit::requests(50).per_day().reset_zone(pacific)});
  clock.set(sys_days{2026y / November / 23} + 8h + 15h);  // 15:00 PST
  for (int i = 0; i < 50; ++i) REQUIRE(pool.acquire());
  auto refused = pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().resets_at == kp::TimePoint{sys_days{2026y / November / 24} + 8h});  // midnight PST
  CHECK(paused == std::set<std::string>{"gemini"});
  clock.set(sys_days{2026y / November / 24} + 7h + 59min);  // 23:59 PST: still paused
  pool.poll();
  CHECK(paused == std::set<std::string>{"gemini"});
  clock.set(sys_days{2026y / November / 24} + 8h);  // midnight PST
  pool.poll();
  CHECK(paused.empty());
  CHECK(pool.acquire());
}

TEST_CASE("key_recovered is raised by poll when a cooldown ends or a window resets, once", "[events]") {
  Fixture<> f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_recover_1"}, {kp::Limit::requests(1).per_minute()}, {.label = "minute"});
  f.pool.add_key(groq, kp::Secret{"gsk_recover_2"}, {kp::Limit::requests(100).per_minute()}, {.label = "cooled"});
  REQUIRE(f.pool.acquire().label() == "minute");
  f.pool.acquire().fail(kp::Outcome::rate_limited(20s));
  f.pool.poll();  // both unavailable now
  CHECK(f.of(kp::EventKind::key_recovered).empty());
  f.clock.advance(20s);
  f.pool.poll();
  auto recovered = f.of(kp::EventKind::key_recovered);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].key_label == "cooled");
  f.clock.advance(40s);
  f.pool.poll();
  f.pool.poll();
  recovered = f.of(kp::EventKind::key_recovered);
  REQUIRE(recovered.size() == 2);
  CHECK(recovered[1].key_label == "minute");
  CHECK(recovered[1].at == monday_8am + 60s);
}

TEST_CASE("poll measures usage rates and forecasts exhaustion of a key and of a provider before the reset",
          "[events][forecast]") {
  Fixture<> f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_forecast_1"}, {kp::Limit::requests(14'400).per_day()}, {.label = "groq-1"});
  f.pool.add_key(groq, kp::Secret{"gsk_forecast_2"}, {kp::Limit::requests(14'400).per_day()}, {.label = "groq-2"});
  // 08:00: 20 requests a minute over both keys (10 each) for an hour, polled every minute.
  f.pool.poll();
  for (int minute = 0; minute < 60; ++minute) {
    for (int i = 0; i < 20; ++i) REQUIRE(f.pool.acquire());
    f.clock.advance(60s);
    f.pool.poll();
  }
  // 10 requests a minute per key: 13,800 left at 09:00 lasts 23 h, past midnight: no forecast.
  CHECK(f.of(kp::EventKind::exhaustion_forecast).empty());
  auto snap = f.pool.snapshot();
  CHECK(snap.keys[0].limits[0].rate_per_second == Approx(10.0 / 60).epsilon(0.01));
  CHECK_FALSE(snap.keys[0].exhausts_at);
  // The spike: 400 a minute (200 per key). Each key's 13,800 then lasts ~69 min, before midnight.
  for (int minute = 0; minute < 30; ++minute) {
    for (int i = 0; i < 400; ++i) REQUIRE(f.pool.acquire());
    f.clock.advance(60s);
    f.pool.poll();
  }
  auto forecasts = f.of(kp::EventKind::exhaustion_forecast);
  // Each key and the provider forecast, and again each time the rising rate halves the predicted
  // time left (docs/alerts.md): at most 5 times each from under 16 h down to about an hour.
  std::map<std::string, std::vector<kp::Event>> by_subject;
  for (const auto& e : forecasts) {
    by_subject[e.key_label.empty() ? "provider " + std::string{e.provider_name} : std::string{e.key_label}].push_back(e);
    CHECK(e.eta > 0s);
    CHECK(e.eta < 16h);
    CHECK(e.resets_at == kp::TimePoint{sys_days{2026y / November / 24}});
  }
  REQUIRE(by_subject.size() == 3);
  CHECK(by_subject.count("groq-1") == 1);
  CHECK(by_subject.count("groq-2") == 1);
  CHECK(by_subject.count("provider groq") == 1);
  for (const auto& [subject, list] : by_subject) {
    CHECK(list.size() <= 5);
    for (std::size_t i = 1; i < list.size(); ++i)
      CHECK(list[i].eta <= (list[i - 1].eta - (list[i].at - list[i - 1].at)) / 2);
  }
  snap = f.pool.snapshot();
  REQUIRE(snap.keys[0].exhausts_at);
  // At ~200 a minute with the remaining count at 09:30: exhaustion within 1–2 hours.
  CHECK(*snap.keys[0].exhausts_at > f.clock.now() + 30min);
  CHECK(*snap.keys[0].exhausts_at < f.clock.now() + 2h);
  REQUIRE(snap.keys[1].exhausts_at);
  CHECK(snap.totals.exhausts_at == std::min(*snap.keys[0].exhausts_at, *snap.keys[1].exhausts_at));
  CHECK(snap.totals.daily_capacity[static_cast<std::size_t>(kp::Metric::requests)] == 28'800);
}

TEST_CASE("a monitor polls on its own thread and stops cleanly", "[monitor]") {
  Fixture<> f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_monitor"}, {kp::Limit::requests(100).per_minute()}, {.label = "m"});
  f.pool.acquire().fail(kp::Outcome::rate_limited(5s));
  {
    kp::Monitor monitor{f.pool, 1ms};
    while (monitor.polls() < 3) std::this_thread::sleep_for(1ms);
    f.clock.advance(5s);
    const auto seen = monitor.polls();
    while (monitor.polls() < seen + 2) std::this_thread::sleep_for(1ms);
    monitor.stop();
    monitor.stop();  // idempotent
    CHECK(monitor.failures() == 0);
  }
  CHECK(f.of(kp::EventKind::key_recovered).size() == 1);
  CHECK_THROWS_WITH((kp::Monitor{f.pool, 0s}), Catch::Contains("interval must be positive"));
}
