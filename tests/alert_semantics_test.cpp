// Events that mean what they say: threshold levels judged on usage that stands (a cancelled
// pre-check claims nothing), exhaustion events that carry their horizon (a spent window or a short
// rest), "N of M keys out", forecasts that wait for real use and fire again when the predicted
// time moves much earlier, traffic spikes, and key_recovered after a refusal below 100%.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <stdexcept>
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

struct Fixture : EventLog {
  explicit Fixture(kp::ForecastOptions forecasts = {}) : pool{kp::Capacity{16}, clock, forecasts, sink()} {}

  kp::clock::Manual clock{monday_8am};
  kp::KeyPool<kp::select::Priority<>, kp::clock::Manual, kp::alert::Callback> pool;

  std::vector<double> levels() {
    std::vector<double> found;
    for (const auto& e : of(kp::EventKind::threshold_crossed)) found.push_back(e.level);
    return found;
  }
};

}  // namespace

TEST_CASE("a cancelled pre-check claims no level; the calls that really fill the key report each level once",
          "[events][claims]") {
  Fixture f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_claims_1"}, {kp::Limit::requests(10).per_minute()}, {.label = "groq-1"});
  for (int i = 0; i < 7; ++i) f.pool.acquire().commit();
  // The seed's can_make_request as acquire + cancel, three times at 8, 9 and 10 of 10.
  for (int probe = 0; probe < 3; ++probe) {
    std::vector<kp::Lease> held;
    for (int i = 0; i <= probe; ++i) held.push_back(f.pool.acquire());
    for (auto& lease : held) {
      REQUIRE(lease);
      lease.cancel();
    }
  }
  CHECK(f.events.empty());
  // The real calls: the 8th reports 80%, the 9th 90%, the 10th 100% and key_exhausted.
  f.pool.acquire().commit();
  CHECK(f.levels() == std::vector<double>{0.8});
  f.pool.acquire().commit({.tokens = 0});  // commit(actual) equal to the estimate: the same path as commit()
  CHECK(f.levels() == std::vector<double>{0.8, 0.9});
  { kp::Lease dropped = f.pool.acquire(); }  // a dropped lease commits at its estimate
  CHECK(f.levels() == std::vector<double>{0.8, 0.9, 1.0});
  const auto exhausted = f.of(kp::EventKind::key_exhausted);
  REQUIRE(exhausted.size() == 1);
  CHECK(exhausted[0].used == 10);
  CHECK(exhausted[0].reason == kp::Reason::exhausted);
}

TEST_CASE("a failed call refunds its tokens without a token level; its request stays counted and reports",
          "[events][claims]") {
  Fixture f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_claims_2"}, {kp::Limit::tokens(1'000).per_minute(), kp::Limit::requests(2).per_minute()},
                 {.label = "groq-1"});
  f.pool.acquire({.tokens = 900}).fail(kp::Outcome::transient());
  // The tokens never counted; the request did (1 of 2: 50%, below 80%).
  CHECK(f.events.empty());
  f.pool.acquire({.tokens = 100}).fail(kp::Outcome::transient());
  auto crossed = f.of(kp::EventKind::threshold_crossed);
  REQUIRE(crossed.size() == 3);  // requests at 2 of 2: 80%, 90%, 100%
  for (const auto& e : crossed) CHECK(e.metric == kp::Metric::requests);
  f.clock.advance(60s);
  f.pool.acquire({.tokens = 850}).commit({.tokens = 850});
  crossed = f.of(kp::EventKind::threshold_crossed);
  REQUIRE(crossed.size() == 4);
  CHECK(crossed[3].metric == kp::Metric::tokens);
  CHECK(crossed[3].level == 0.8);
  CHECK(crossed[3].used == 850);
}

TEST_CASE("exhaustion events carry their horizon: a spent window pages, a cooldown does not", "[events][horizon]") {
  Fixture f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_horizon_1"}, {kp::Limit::requests(100).per_day()}, {.label = "groq-1"});

  SECTION("a 429 rests the only key: all_exhausted and provider_exhausted say cooling_down") {
    f.pool.acquire().fail(kp::Outcome::rate_limited(60s));
    const auto cooling = f.of(kp::EventKind::key_cooling_down);
    REQUIRE(cooling.size() == 1);
    CHECK(cooling[0].reason == kp::Reason::cooling_down);
    REQUIRE_FALSE(f.pool.acquire());
    const auto all = f.of(kp::EventKind::all_exhausted);
    REQUIRE(all.size() == 1);
    CHECK(all[0].reason == kp::Reason::cooling_down);
    CHECK(all[0].resets_at == monday_8am + 60s);
    CHECK(kp::format_event(all[0]) == "2026-11-23T08:00:00Z all_exhausted reason=cooling_down resets_at=2026-11-23T08:01:00Z");
  }
  SECTION("the day is spent: all_exhausted and provider_exhausted say exhausted, until midnight") {
    for (int i = 0; i < 100; ++i) f.pool.acquire().commit();
    REQUIRE_FALSE(f.pool.acquire());
    const auto all = f.of(kp::EventKind::all_exhausted);
    REQUIRE(all.size() == 1);
    CHECK(all[0].reason == kp::Reason::exhausted);
    CHECK(all[0].resets_at == kp::TimePoint{sys_days{2026y / November / 24}});
    const auto provider = f.of(kp::EventKind::provider_exhausted);
    REQUIRE(provider.size() == 1);
    CHECK(provider[0].reason == kp::Reason::exhausted);
    CHECK(kp::format_event(provider[0]) ==
          "2026-11-23T08:00:00Z provider_exhausted provider=groq reason=exhausted resets_at=2026-11-24T00:00:00Z");
  }
  SECTION("disabled") {
    f.pool.disable(kp::KeyId{0});
    const auto disabled = f.of(kp::EventKind::key_disabled);
    REQUIRE(disabled.size() == 1);
    CHECK(disabled[0].reason == kp::Reason::disabled);
  }
  SECTION("threshold events and recoveries carry none") {
    for (int i = 0; i < 80; ++i) f.pool.acquire().commit();
    REQUIRE(f.of(kp::EventKind::threshold_crossed).size() == 1);
    CHECK_FALSE(f.of(kp::EventKind::threshold_crossed)[0].reason);
  }
}

TEST_CASE("provider_keys_out says how many of a provider's keys are out, each time the count rises", "[events][keys_out]") {
  Fixture f;
  const auto groq = f.pool.add_provider("groq");
  const auto gemini = f.pool.add_provider("gemini", 1);
  // One request a day per Groq key: each call takes one key out, whatever the order.
  for (int k = 0; k < 3; ++k)
    f.pool.add_key(groq, kp::Secret{"gsk_out_" + std::to_string(k)}, {kp::Limit::requests(1).per_day()},
                   {.label = "groq-" + std::to_string(k + 1)});
  f.pool.add_key(gemini, kp::Secret{"AIza_out_1"}, {kp::Limit::requests(1'000).per_day()}, {.label = "gemini-1"});
  f.pool.poll();
  REQUIRE(f.pool.acquire().provider() == groq);
  f.pool.poll();
  auto out = f.of(kp::EventKind::provider_keys_out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].provider_name == "groq");
  CHECK(out[0].count == 1);
  CHECK(out[0].keys == 3);
  CHECK(kp::format_event(out[0]) == "2026-11-23T08:00:00Z provider_keys_out provider=groq count=1 keys=3");
  f.pool.poll();
  CHECK(f.of(kp::EventKind::provider_keys_out).size() == 1);  // no rise, no event
  REQUIRE(f.pool.acquire().provider() == groq);
  f.pool.poll();
  out = f.of(kp::EventKind::provider_keys_out);
  REQUIRE(out.size() == 2);
  CHECK(out[1].count == 2);  // "2 of 3 Groq keys are out"
  REQUIRE(f.pool.acquire().provider() == groq);  // the last
  f.pool.poll();
  CHECK(f.of(kp::EventKind::provider_keys_out).size() == 2);  // all out is provider_exhausted's to say
  REQUIRE(f.pool.acquire().provider() == gemini);
  CHECK(f.of(kp::EventKind::provider_exhausted).size() == 1);
  // Midnight: all back; a new day's first key out is reported again.
  f.clock.set(kp::TimePoint{sys_days{2026y / November / 24}} + 1s);
  f.pool.poll();
  REQUIRE(f.pool.acquire().provider() == groq);
  f.pool.poll();
  out = f.of(kp::EventKind::provider_keys_out);
  REQUIRE(out.size() == 3);
  CHECK(out[2].count == 1);
}

TEST_CASE("a key's forecast waits for real use: one request forecasts nothing", "[events][forecast]") {
  Fixture f{kp::ForecastOptions{.smoothing = 10min, .warmup = 5min}};
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_one_request"}, {kp::Limit::requests(5).per_day()}, {.label = "groq-1"});
  // The key sits idle for an hour (polled every minute), then serves one request.
  for (int minute = 0; minute < 60; ++minute) {
    f.pool.poll();
    f.clock.advance(60s);
  }
  f.pool.acquire().commit();
  for (int minute = 0; minute < 120; ++minute) {
    f.pool.poll();
    f.clock.advance(60s);
  }
  CHECK(f.of(kp::EventKind::exhaustion_forecast).empty());
  // A steady rate does forecast, once warm: a request every 10 minutes leaves 4 → 0 in 40 min.
  for (int minute = 0; minute < 40; ++minute) {
    if (minute % 10 == 0 && f.pool.check().admitted) f.pool.acquire().commit();
    f.pool.poll();
    f.clock.advance(60s);
  }
  CHECK_FALSE(f.of(kp::EventKind::exhaustion_forecast).empty());
}

TEST_CASE("a forecast fires again in its window when the predicted time falls to half of what was left",
          "[events][forecast]") {
  Fixture f{kp::ForecastOptions{.smoothing = 1min, .warmup = 2min}};
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_refire"}, {kp::Limit::requests(100'000).per_day()}, {.label = "groq-1"});
  auto key_forecasts = [&] {  // the key's (the provider's daily forecast has its own series)
    std::vector<kp::Event> found;
    for (const auto& e : f.of(kp::EventKind::exhaustion_forecast))
      if (!e.key_label.empty()) found.push_back(e);
    return found;
  };
  auto minute_of = [&](int calls) {
    for (int i = 0; i < calls; ++i) f.pool.acquire().commit();
    f.clock.advance(60s);
    f.pool.poll();
  };
  f.pool.poll();
  for (int m = 0; m < 30; ++m) minute_of(100);  // 100/min: ~97,000 left lasts ~16 h, past midnight
  CHECK(key_forecasts().empty());
  for (int m = 0; m < 10; ++m) minute_of(200);  // 200/min: ~8 h, before midnight (15.3 h away)
  auto forecasts = key_forecasts();
  REQUIRE_FALSE(forecasts.empty());
  const std::size_t at_200 = forecasts.size();  // the first as the rate passed ~106/min, then ~8 h
  CHECK(forecasts.back().eta < 10h);
  for (int m = 0; m < 10; ++m) minute_of(210);  // a little faster: the eta moves, but not by half
  CHECK(key_forecasts().size() == at_200);
  for (int m = 0; m < 10; ++m) minute_of(1'000);  // 5× faster: the eta falls far below half
  forecasts = key_forecasts();
  REQUIRE(forecasts.size() > at_200);
  CHECK(forecasts.size() <= at_200 + 4);
  // Each later forecast of the window predicts at most half of what was left of the one before.
  for (std::size_t i = 1; i < forecasts.size(); ++i) {
    const kp::Duration left = forecasts[i - 1].eta - (forecasts[i].at - forecasts[i - 1].at);
    CHECK(forecasts[i].eta <= left / 2);
    CHECK(left - forecasts[i].eta >= 15min);
  }
}

TEST_CASE("traffic_spike fires once when a provider's calls jump far above their baseline, and re-arms", "[events][spike]") {
  Fixture f{kp::ForecastOptions{.smoothing = 10min, .warmup = 5min}};
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_spike"}, {kp::Limit::requests(1'000'000).per_day()}, {.label = "groq-1"});
  auto minute_of = [&](int calls) {
    for (int i = 0; i < calls; ++i) f.pool.acquire().commit();
    f.clock.advance(60s);
    f.pool.poll();
  };
  f.pool.poll();
  for (int m = 0; m < 30; ++m) minute_of(40);  // a steady 40/min
  for (int m = 0; m < 3; ++m) minute_of(100);  // 2.5×: not a spike
  CHECK(f.of(kp::EventKind::traffic_spike).empty());
  minute_of(400);  // 10×
  auto spikes = f.of(kp::EventKind::traffic_spike);
  REQUIRE(spikes.size() == 1);
  CHECK(spikes[0].provider_name == "groq");
  CHECK(spikes[0].count == 400);
  CHECK(spikes[0].level > 3.0);
  minute_of(400);  // still spiking: once
  CHECK(f.of(kp::EventKind::traffic_spike).size() == 1);
  for (int m = 0; m < 5; ++m) minute_of(40);  // back to normal: re-armed
  minute_of(1'000);
  CHECK(f.of(kp::EventKind::traffic_spike).size() == 2);
}

TEST_CASE("key_recovered answers a key_exhausted raised by a refusal below 100%, at the window's reset",
          "[events][recovered]") {
  Fixture f;
  const auto groq = f.pool.add_provider("groq");
  f.pool.add_key(groq, kp::Secret{"gsk_below"}, {kp::Limit::tokens(1'000).per_minute()}, {.label = "groq-1"});
  f.pool.acquire({.tokens = 950}).commit({.tokens = 950});
  f.pool.poll();
  REQUIRE_FALSE(f.pool.acquire({.tokens = 100}));  // 50 left: refused at the full amount
  REQUIRE(f.of(kp::EventKind::key_exhausted).size() == 1);
  f.pool.poll();
  CHECK(f.of(kp::EventKind::key_recovered).empty());
  f.clock.advance(60s);
  f.pool.poll();
  const auto recovered = f.of(kp::EventKind::key_recovered);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].key_label == "groq-1");
}

TEST_CASE("ForecastOptions refuses a refire ratio or spike factor that cannot work", "[events][forecast]") {
  kp::clock::Manual clock{monday_8am};
  using Pool = kp::KeyPool<kp::clock::Manual>;
  CHECK_THROWS_WITH((Pool{clock, kp::ForecastOptions{.refire_ratio = 1.0}}), Catch::Contains("refire_ratio"));
  CHECK_THROWS_WITH((Pool{clock, kp::ForecastOptions{.refire_ratio = 0.0}}), Catch::Contains("refire_ratio"));
  CHECK_THROWS_WITH((Pool{clock, kp::ForecastOptions{.refire_margin = -1s}}), Catch::Contains("refire_margin"));
  CHECK_THROWS_WITH((Pool{clock, kp::ForecastOptions{.spike_factor = 1.0}}), Catch::Contains("spike_factor"));
  CHECK_THROWS_WITH((Pool{clock, kp::ForecastOptions{.spike_min_per_minute = -1.0}}), Catch::Contains("spike_min_per_minute"));
}

TEST_CASE("a probe re-enables a key a refused credential disabled, never one the operator disabled", "[events][probe]") {
  Fixture f;
  const auto groq = f.pool.add_provider("groq");
  const kp::KeyId rotated = f.pool.add_key(groq, kp::Secret{"gsk_probe_rotated"}, {}, {.label = "rotated"});
  const kp::KeyId parked = f.pool.add_key(groq, kp::Secret{"gsk_probe_parked"}, {}, {.label = "parked"});
  bool accepted = false;  // the provider refuses the rotated key's credential until it is fixed
  std::vector<std::string> asked;
  auto probe = [&](const kp::KeyProbe& key) {
    asked.push_back(std::string{key.label} + "#" + std::to_string(key.attempt));
    CHECK(key.secret.reveal() == "gsk_probe_rotated");
    CHECK(key.provider == "groq");
    return accepted ? kp::ProbeResult::works : kp::ProbeResult::refused;
  };
  const kp::ProbeOptions options{.first = 1min, .longest = 4min};
  REQUIRE(f.pool.acquire().key() == rotated);
  f.pool.acquire().commit();  // parked
  f.pool.disable(parked);
  {
    kp::Lease lease = f.pool.acquire();
    REQUIRE(lease.key() == rotated);
    lease.fail(kp::Outcome::auth_failed());
  }
  CHECK(f.pool.probe_disabled(probe, options) == 0);  // seen disabled now: the first probe in a minute
  f.clock.advance(59s);
  CHECK(f.pool.probe_disabled(probe, options) == 0);
  f.clock.advance(1s);
  CHECK(f.pool.probe_disabled(probe, options) == 1);  // refused: the next in 2 min
  f.clock.advance(119s);
  CHECK(f.pool.probe_disabled(probe, options) == 0);
  f.clock.advance(1s);
  CHECK(f.pool.probe_disabled(probe, options) == 1);  // refused: the next in 4 min (the longest)
  f.clock.advance(4min);
  CHECK(f.pool.probe_disabled(probe, options) == 1);  // refused: still 4 min
  CHECK(asked == std::vector<std::string>{"rotated#1", "rotated#2", "rotated#3"});
  auto probed = f.of(kp::EventKind::key_probed);
  REQUIRE(probed.size() == 3);
  CHECK(probed[2].reason == kp::Reason::disabled);
  CHECK(probed[2].count == 3);
  CHECK(probed[2].resets_at == f.clock.now() + 4min);
  CHECK(kp::format_event(probed[0]) ==
        "2026-11-23T08:01:00Z key_probed provider=groq key=rotated count=1 reason=disabled resets_at=2026-11-23T08:03:00Z");
  CHECK_FALSE(f.pool.acquire());  // both out: the rotated key refused, the parked one the operator's

  accepted = true;  // the credential works again
  f.clock.advance(4min);
  CHECK(f.pool.probe_disabled(probe, options) == 1);
  probed = f.of(kp::EventKind::key_probed);
  REQUIRE(probed.size() == 4);
  CHECK_FALSE(probed[3].reason);
  CHECK(kp::format_event(probed[3]) == "2026-11-23T08:11:00Z key_probed provider=groq key=rotated count=4");
  const auto recovered = f.of(kp::EventKind::key_recovered);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].key_label == "rotated");
  CHECK(f.pool.acquire().key() == rotated);
  // The parked key is never probed, however long it waits.
  f.clock.advance(24h);
  CHECK(f.pool.probe_disabled(probe, options) == 0);
  CHECK(asked.size() == 4);
  CHECK_FALSE(f.pool.snapshot().keys[1].status != kp::KeyStatus::disabled);
}

TEST_CASE("a monitor given a probe runs it on its thread; a probe that throws is inconclusive", "[events][probe][monitor]") {
  kp::KeyPool<> pool;
  const kp::KeyId key = pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_probe_monitor"}, {});
  pool.acquire().fail(kp::Outcome::auth_failed());
  std::atomic<int> calls{0};
  {
    kp::Monitor monitor{pool, 5ms,
                        [&](const kp::KeyProbe&) -> kp::ProbeResult {
                          if (calls.fetch_add(1) == 0) throw std::runtime_error("network down");
                          return kp::ProbeResult::works;
                        },
                        kp::ProbeOptions{.first = 1ms, .longest = 2ms}};
    const auto give_up = steady_clock::now() + 10s;
    while (pool.snapshot().keys[0].status == kp::KeyStatus::disabled && steady_clock::now() < give_up)
      std::this_thread::sleep_for(1ms);
  }
  CHECK(calls.load() == 2);
  CHECK(pool.acquire().key() == key);
  CHECK_THROWS_WITH((kp::Monitor{pool, 1s, [](const kp::KeyProbe&) { return kp::ProbeResult::works; }, kp::ProbeOptions{.first = 0s}}),
                    Catch::Contains("ProbeOptions"));
}
