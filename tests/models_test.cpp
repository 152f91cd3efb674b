// Per-model limits (KeyOptions::models) and groups of keys that share limits (add_group): which
// keys serve a model, what each request counts, what a provider's answer about one model does,
// resets, snapshots, events, and bad configurations.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <keypool/keypool.hpp>

#include "support/provider_answers.hpp"

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
  ManualPool pool{kp::Capacity{16}, clock, kp::alert::Callback{[this](const kp::Event& e) { events.push_back(e); }}};
  kp::ProviderId groq = pool.add_provider("groq", kp::dialects::groq);
  int serial = 0;

  kp::KeyId key(std::vector<kp::Limit> limits, kp::KeyOptions options) {
    return pool.add_key(groq, kp::Secret{"gsk_models_secret_" + std::to_string(++serial)}, std::move(limits), std::move(options));
  }
  kp::Request on(kp::ModelId model, std::uint64_t tokens = 0) { return kp::Request{.tokens = tokens, .model = model}; }
  const kp::MeterSnapshot& model_of(kp::KeyId k, std::string_view model) {
    snap = pool.snapshot();
    for (const auto& m : snap.keys.at(k.value).models)
      if (m.model == model) return m;
    FAIL("no model " << model);
    throw;
  }
  std::size_t count(kp::EventKind kind) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }
  kp::Snapshot snap;
};

const kp::Limit rpm(std::uint64_t n) { return kp::Limit::requests(n).per_minute(); }

}  // namespace

TEST_CASE("a model's limits count beside the key's, which all its models share", "[models]") {
  Fixture f;
  const auto k = f.key({rpm(4)}, {.label = "groq-1", .models = {{"llama-70b", {rpm(2)}}, {"llama-8b", {rpm(3)}}}});
  const auto big = f.pool.model("llama-70b");
  const auto small = f.pool.model("llama-8b");
  CHECK(f.pool.model_name(big) == "llama-70b");
  CHECK(f.pool.model("llama-70b") == big);  // interned
  CHECK(f.pool.acquire(f.on(big)));
  CHECK(f.pool.acquire(f.on(big)));
  const auto third = f.pool.acquire(f.on(big));
  REQUIRE_FALSE(third);
  CHECK(third.refusal().reason == kp::Reason::exhausted);
  CHECK(third.refusal().retry_after == 60s);
  // The 8b model still has room of its own, but the key's 4 per minute are shared.
  CHECK(f.pool.acquire(f.on(small)));
  CHECK(f.pool.acquire(f.on(small)));
  const auto fifth = f.pool.acquire(f.on(small));
  REQUIRE_FALSE(fifth);
  CHECK(fifth.refusal().reason == kp::Reason::exhausted);
  const kp::Snapshot snap = f.pool.snapshot();
  CHECK(snap.keys[k.value].limits[0].used == 4);
  REQUIRE(snap.keys[k.value].models.size() == 2);
  CHECK(snap.keys[k.value].models[0].model == "llama-70b");
  CHECK(snap.keys[k.value].models[0].limits[0].used == 2);
  CHECK(snap.keys[k.value].models[0].status == kp::KeyStatus::exhausted);
  CHECK(snap.keys[k.value].models[1].limits[0].used == 2);
  // The next minute both count afresh.
  f.clock.advance(60s);
  CHECK(f.pool.acquire(f.on(big)));
}

TEST_CASE("only keys that serve a request's model are candidates", "[models]") {
  Fixture f;
  const auto a = f.key({rpm(100)}, {.label = "serves-70b", .models = {{"llama-70b"}}});
  const auto b = f.key({rpm(100)}, {.label = "serves-8b", .models = {{"llama-8b"}}});
  const auto big = f.pool.model("llama-70b");
  const auto small = f.pool.model("llama-8b");
  for (int i = 0; i < 5; ++i) {
    auto lease = f.pool.acquire(f.on(small));
    REQUIRE(lease);
    CHECK(lease.key() == b);
    CHECK(lease.model() == small);
  }
  auto lease = f.pool.acquire(f.on(big));
  REQUIRE(lease);
  CHECK(lease.key() == a);
  // A model no key serves, and a request naming none when every key lists its models: no key.
  const auto other = f.pool.model("mixtral");
  CHECK(f.pool.acquire(f.on(other)).refusal().reason == kp::Reason::no_keys);
  CHECK(f.pool.acquire().refusal().reason == kp::Reason::no_keys);
  CHECK(f.pool.acquire().refusal().permanent());
  // A key that lists no models serves every request, named model or not.
  const auto any = f.key({rpm(100)}, {.label = "any"});
  CHECK(f.pool.acquire(f.on(other)).key() == any);
  CHECK(f.pool.acquire().key() == any);
}

TEST_CASE("a 429 about one model cools that model on that key, not the key", "[models][health]") {
  Fixture f;
  const auto k = f.key({}, {.label = "groq-1", .models = {{"llama-3.3-70b-versatile"}, {"llama-3.1-8b-instant"}}});
  const auto big = f.pool.model("llama-3.3-70b-versatile");
  const auto small = f.pool.model("llama-3.1-8b-instant");
  auto lease = f.pool.acquire(f.on(big));
  REQUIRE(lease);
  // Groq's answer as sent: a per-minute request limit on the 70b model, "try again in 2s".
  lease.fail(lease.classify(429, Headers{{"retry-after", "2"}}, provider_answers::groq_rpm_429, f.clock.now()));
  const auto refused = f.pool.acquire(f.on(big));
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 2s);
  CHECK(f.pool.acquire(f.on(small)));  // the other model of the same key serves
  REQUIRE(f.count(kp::EventKind::key_cooling_down) == 1);
  CHECK(f.count(kp::EventKind::all_exhausted) == 1);  // no key could serve the 70b model
  bool saw = false;
  for (const auto& e : f.events)
    if (e.kind == kp::EventKind::key_cooling_down) {
      CHECK(e.model == "llama-3.3-70b-versatile");
      CHECK(e.key_label == "groq-1");
      CHECK(e.key == k);
      saw = true;
    }
  CHECK(saw);
  CHECK(f.model_of(k, "llama-3.3-70b-versatile").status == kp::KeyStatus::cooling_down);
  CHECK(f.snap.keys[k.value].status == kp::KeyStatus::available);
  f.clock.advance(2s);
  CHECK(f.pool.acquire(f.on(big)));
}

TEST_CASE("a refused credential disables the whole key, whatever model the call named", "[models][health]") {
  Fixture f;
  f.key({}, {.label = "groq-1", .models = {{"llama-70b"}, {"llama-8b"}}});
  auto lease = f.pool.acquire(f.on(f.pool.model("llama-70b")));
  REQUIRE(lease);
  lease.fail(kp::Outcome::auth_failed());
  CHECK(f.pool.acquire(f.on(f.pool.model("llama-8b"))).refusal().reason == kp::Reason::disabled);
}

TEST_CASE("Groq's headers on a model's call tighten that model's day, not the key's", "[models][reports]") {
  Fixture f;
  const auto k = f.key({kp::Limit::requests(100'000).per_day()},
                       {.label = "groq-1",
                        .models = {{"llama-3.1-8b-instant", {kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(6'000).per_minute()}}}});
  const auto small = f.pool.model("llama-3.1-8b-instant");
  auto lease = f.pool.acquire(f.on(small, 1'200));
  REQUIRE(lease);
  lease.commit({.tokens = 1'200}, lease.classify(200, provider_answers::groq_free_tier_headers, "", f.clock.now()));
  const auto& model = f.model_of(k, "llama-3.1-8b-instant");
  CHECK(model.limits[0].used == 1);      // 14,399 requests left of 14,400 today: what we counted
  CHECK(model.limits[1].used == 1'200);  // 4,800 tokens left of 6,000 this minute
  CHECK(f.snap.keys[k.value].limits[0].used == 1);  // the key's own day only counts the call
}

TEST_CASE("Gemini's per-model daily quota marks that model's day spent on that key", "[models][reports]") {
  Fixture f;
  const auto gemini = f.pool.add_provider("gemini", kp::dialects::gemini);
  const auto k = f.pool.add_key(gemini, kp::Secret{"AIzaSyModelsTest01"}, {},
                                {.label = "gemini-1",
                                 .models = {{"gemini-2.0-flash", {kp::Limit::requests(200).per_day(), rpm(15)}},
                                            {"gemini-2.5-pro", {kp::Limit::requests(50).per_day()}}}});
  const auto flash = f.pool.model("gemini-2.0-flash");
  const auto pro = f.pool.model("gemini-2.5-pro");
  auto lease = f.pool.acquire(f.on(flash));
  REQUIRE(lease);
  lease.fail(lease.classify(429, kp::no_headers, provider_answers::gemini_per_day, f.clock.now()));
  const auto refused = f.pool.acquire(f.on(flash));
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().resets_at == kp::TimePoint{sys_days{2026y / November / 24}});  // midnight UTC
  CHECK(f.pool.acquire(f.on(pro)));  // the other model's quota is its own
  CHECK(f.model_of(k, "gemini-2.0-flash").limits[0].used == 200);
  CHECK(f.model_of(k, "gemini-2.0-flash").limits[1].used == 1);  // the minute is not the quota that ran out
}

TEST_CASE("keys of one group share its limits, checked with each key's own", "[models][groups]") {
  Fixture f;
  const auto org = f.pool.add_group(f.groq, "org-a", {rpm(3)});
  const auto a = f.key({rpm(10)}, {.label = "a", .group = org});
  const auto b = f.key({rpm(10)}, {.label = "b", .group = org});
  const auto solo = f.key({rpm(1)}, {.label = "solo"});
  std::vector<kp::Lease> leases;
  for (int i = 0; i < 4; ++i) {
    leases.push_back(f.pool.acquire());
    REQUIRE(leases.back());
  }
  // Three went to the group's keys (its 3 per minute), one to the key outside it.
  int in_group = 0;
  for (const auto& lease : leases) in_group += lease.key() == a || lease.key() == b ? 1 : 0;
  CHECK(in_group == 3);
  const auto refused = f.pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  // A cancel gives back to the group too.
  for (auto& lease : leases)
    if (lease.key() == a || lease.key() == b) {
      lease.cancel();
      break;
    }
  CHECK(f.pool.acquire());
  const kp::Snapshot snap = f.pool.snapshot();
  REQUIRE(snap.groups.size() == 1);
  CHECK(snap.groups[0].name == "org-a");
  REQUIRE(snap.groups[0].shared);
  CHECK(snap.groups[0].shared->limits[0].used == 3);
  CHECK(snap.groups[0].keys == std::vector<kp::KeyId>{a, b});
  CHECK(snap.keys[a.value].group == "org-a");
  CHECK(snap.keys[solo.value].group.empty());
  // reset(group) forgets the group's counts; the keys keep theirs.
  f.pool.reset(org);
  CHECK(f.pool.snapshot().groups[0].shared->limits[0].used == 0);
  CHECK(f.pool.snapshot().keys[a.value].limits[0].used + f.pool.snapshot().keys[b.value].limits[0].used == 3);
}

TEST_CASE("a group's per-model limits: Groq counts per model per organization", "[models][groups]") {
  Fixture f;
  const auto org = f.pool.add_group(f.groq, "org_01hx", {},
                                    {{"llama-3.3-70b-versatile", {rpm(2)}}, {"llama-3.1-8b-instant", {rpm(30)}}});
  const auto a = f.key({}, {.label = "a", .group = org});
  const auto b = f.key({}, {.label = "b", .group = org});
  const auto big = f.pool.model("llama-3.3-70b-versatile");
  const auto small = f.pool.model("llama-3.1-8b-instant");
  CHECK(f.pool.acquire(f.on(big)));
  CHECK(f.pool.acquire(f.on(big)));
  CHECK(f.pool.acquire(f.on(big)).refusal().reason == kp::Reason::exhausted);  // both keys: the org's 2
  // The keys serve the group's models only.
  CHECK(f.pool.acquire(f.on(f.pool.model("mixtral"))).refusal().reason == kp::Reason::no_keys);
  // A 429 on the 8b model (the org's limit) cools that model for every key of the org.
  auto lease = f.pool.acquire(f.on(small));
  REQUIRE(lease);
  lease.fail(lease.classify(429, Headers{{"retry-after", "9"}}, provider_answers::groq_tpm_429, f.clock.now()));
  const auto refused = f.pool.acquire(f.on(small));
  CHECK(refused.refusal().reason == kp::Reason::cooling_down);
  CHECK(refused.refusal().retry_after == 9s);
  const kp::Snapshot snap = f.pool.snapshot();
  REQUIRE(snap.groups[0].models.size() == 2);
  CHECK(snap.groups[0].models[1].status == kp::KeyStatus::cooling_down);
  CHECK(snap.keys[a.value].status == kp::KeyStatus::available);
  CHECK(snap.keys[b.value].status == kp::KeyStatus::available);
  bool saw = false;
  for (const auto& e : f.events)
    if (e.kind == kp::EventKind::key_cooling_down) {
      CHECK(e.group == "org_01hx");
      CHECK(e.model == "llama-3.1-8b-instant");
      CHECK(e.key_label.empty());
      saw = true;
    }
  CHECK(saw);
}

TEST_CASE("commit and fail reconcile a model's and a group's limits like the key's", "[models][groups]") {
  Fixture f;
  const auto org = f.pool.add_group(f.groq, "org", {kp::Limit::tokens(10'000).per_day()});
  const auto k = f.key({kp::Limit::tokens(50'000).per_day()},
                       {.label = "k", .models = {{"m", {kp::Limit::tokens(5'000).per_minute()}}}, .group = org});
  const auto m = f.pool.model("m");
  auto committed = f.pool.acquire(f.on(m, 1'000));
  REQUIRE(committed);
  committed.commit({.tokens = 1'534});
  auto failed = f.pool.acquire(f.on(m, 2'000));
  REQUIRE(failed);
  failed.fail(kp::Outcome::transient());  // tokens refunded everywhere
  const kp::Snapshot snap = f.pool.snapshot();
  CHECK(snap.keys[k.value].limits[0].used == 1'534);
  CHECK(snap.keys[k.value].models[0].limits[0].used == 1'534);
  CHECK(snap.groups[0].shared->limits[0].used == 1'534);
  // A request the group cannot hold is refused with nothing left reserved on the key or model.
  const auto too_much = f.pool.acquire(f.on(m, 9'000));
  REQUIRE_FALSE(too_much);
  const kp::Snapshot after = f.pool.snapshot();
  CHECK(after.keys[k.value].limits[0].used == 1'534);
  CHECK(after.keys[k.value].models[0].limits[0].used == 1'534);
}

TEST_CASE("threshold events of a model's limit name the model", "[models][events]") {
  Fixture f;
  f.key({}, {.label = "groq-1", .models = {{"m", {kp::Limit::requests(5).per_day()}}}});
  const auto m = f.pool.model("m");
  for (int i = 0; i < 5; ++i) REQUIRE(f.pool.acquire(f.on(m)));
  REQUIRE(f.count(kp::EventKind::threshold_crossed) == 3);  // 80%, 90%, 100%
  REQUIRE(f.count(kp::EventKind::key_exhausted) == 1);
  for (const auto& e : f.events) {
    CHECK(e.model == "m");
    CHECK(e.key_label == "groq-1");
  }
}

TEST_CASE("reset(key) forgets its models' counts and cooldowns; a lease from before settles nothing", "[models][reset]") {
  Fixture f;
  const auto k = f.key({}, {.label = "k", .models = {{"m", {kp::Limit::tokens(1'000).per_day()}}}});
  const auto m = f.pool.model("m");
  auto before = f.pool.acquire(f.on(m, 600));
  REQUIRE(before);
  auto cooled = f.pool.acquire(f.on(m, 100));
  REQUIRE(cooled);
  cooled.fail(kp::Outcome::rate_limited(30s));
  CHECK(f.pool.acquire(f.on(m)).refusal().reason == kp::Reason::cooling_down);
  f.pool.reset(k);
  CHECK(f.model_of(k, "m").limits[0].used == 0);
  before.commit({.tokens = 900});  // reserved before the reset: settles nothing
  CHECK(f.model_of(k, "m").limits[0].used == 0);
  CHECK(f.pool.acquire(f.on(m, 1'000)));
}

TEST_CASE("bad model and group configurations are refused with a clear message", "[models][errors]") {
  Fixture f;
  CHECK_THROWS_WITH(f.pool.model(""), Contains("empty"));
  CHECK_THROWS_WITH(f.key({}, {.label = "x", .models = {{"m"}, {"m"}}}), Contains("listed twice"));
  CHECK_THROWS_WITH(f.key({}, {.label = "x", .models = {{""}}}), Contains("model name is empty"));
  CHECK_THROWS_WITH(f.key({}, {.label = "x", .group = kp::GroupId{7}}), Contains("unknown group"));
  CHECK_THROWS_WITH(f.pool.add_group(kp::ProviderId{9}, "g", {}), Contains("unknown provider"));
  CHECK_THROWS_WITH(f.pool.add_group(f.groq, "", {}), Contains("empty"));
  const auto gemini = f.pool.add_provider("gemini");
  const auto g = f.pool.add_group(gemini, "g", {rpm(1)});
  CHECK_THROWS_WITH(f.pool.add_group(gemini, "g", {}), Contains("already exists"));
  CHECK_THROWS_WITH(f.key({}, {.label = "x", .group = g}), Contains("share one provider"));
  // More than 16 limits on one request: 8 of the key, 8 of the group's shared, 1 of a model.
  std::vector<kp::Limit> eight;
  for (int i = 1; i <= 8; ++i) eight.push_back(kp::Limit::requests(100 + i).per_minute());
  const auto big = f.pool.add_group(f.groq, "big", eight);
  CHECK_THROWS_WITH(f.key(eight, {.label = "x", .models = {{"m", {rpm(1)}}}, .group = big}), Contains("at most 16"));
  // A key label that is already a meter's name.
  f.key({}, {.label = "k", .models = {{"m"}}});
  CHECK_THROWS_WITH(f.key({}, {.label = "k@m"}), Contains("meter"));
  // None of the refused keys was added.
  CHECK(f.pool.key_count() == 1);
}

TEST_CASE("meters beyond Capacity::meters grow the pool; each model counts on its own", "[models][lifecycle]") {
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{.keys = 1, .meters = 2}, kp::clock::Manual{kp::TimePoint{std::chrono::hours{1}}}};
  const auto p = pool.add_provider("p");
  pool.add_key(p, kp::Secret{"secret-one-1"}, {}, {.models = {{"a", {rpm(1)}}, {"b", {rpm(1)}}}});
  const auto two = pool.add_key(p, kp::Secret{"secret-two-2"}, {}, {.models = {{"c", {rpm(2)}}}});
  CHECK(pool.key_count() == 2);
  const kp::Request c{.model = pool.model("c")};
  CHECK(pool.acquire(c).key() == two);
  CHECK(pool.acquire(c).key() == two);
  CHECK(pool.acquire(c).refusal().reason == kp::Reason::exhausted);
  CHECK(pool.acquire({.model = pool.model("a")}));
  CHECK_FALSE(pool.acquire({.model = pool.model("a")}));
}

TEST_CASE("what the provider marked spent is told apart from what calls used", "[marked][reports]") {
  Fixture f;
  const auto gemini = f.pool.add_provider("gemini", kp::dialects::gemini);
  const auto k = f.pool.add_key(gemini, kp::Secret{"AIzaSyMarkedTest01"}, {kp::Limit::requests(1'500).per_day(), rpm(15)},
                                {.label = "gemini-1"});
  for (int i = 0; i < 5; ++i) REQUIRE(f.pool.acquire());
  auto lease = f.pool.acquire();
  REQUIRE(lease);
  lease.fail(lease.classify(429, kp::no_headers, provider_answers::gemini_per_day, f.clock.now()));
  kp::Snapshot snap = f.pool.snapshot();
  CHECK(snap.keys[k.value].limits[0].used == 1'500);
  CHECK(snap.keys[k.value].limits[0].marked == 1'494);  // 6 calls counted, the rest the provider's word
  CHECK(snap.keys[k.value].limits[1].marked == 0);
  // The next day starts clean; reset forgets the mark too.
  f.clock.advance(24h);
  CHECK(f.pool.snapshot().keys[k.value].limits[0].marked == 0);
}

TEST_CASE("a report of what is left marks the difference; reset forgets it", "[marked][reports]") {
  Fixture f;
  const auto k = f.key({kp::Limit::tokens(6'000).per_minute()}, {.label = "groq-1"});
  auto lease = f.pool.acquire({.tokens = 1'000});
  REQUIRE(lease);
  // 4,800 of 6,000 left: 1,200 used by the provider's count, 1,000 of them counted here.
  lease.commit({.tokens = 1'000}, lease.classify(200, provider_answers::groq_free_tier_headers, "", f.clock.now()));
  CHECK(f.pool.snapshot().keys[k.value].limits[0].used == 1'200);
  CHECK(f.pool.snapshot().keys[k.value].limits[0].marked == 200);
  f.pool.reset(k);
  CHECK(f.pool.snapshot().keys[k.value].limits[0].marked == 0);
}

TEST_CASE("the limits a provider reports are kept per limit; a configured limit that disagrees raises limit_mismatch once",
          "[learned][reports][events]") {
  Fixture f;
  // Configured 5,000 tokens a minute; Groq's free tier reports 6,000 (groq_free_tier_headers).
  const auto k = f.key({kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(5'000).per_minute()}, {.label = "groq-1"});
  for (int call = 0; call < 2; ++call) {
    auto lease = f.pool.acquire({.tokens = 100});
    REQUIRE(lease);
    lease.commit({.tokens = 100}, lease.classify(200, provider_answers::groq_free_tier_headers, "", f.clock.now()));
  }
  REQUIRE(f.count(kp::EventKind::limit_mismatch) == 1);  // the same figure twice: once
  for (const auto& e : f.events)
    if (e.kind == kp::EventKind::limit_mismatch) {
      CHECK(e.key_label == "groq-1");
      CHECK(e.metric == kp::Metric::tokens);
      CHECK(e.window == "minute");
      CHECK(e.limit == 5'000);
      CHECK(e.reported == 6'000);
      CHECK(kp::format_event(e) ==
            "2026-11-23T08:00:00Z limit_mismatch provider=groq key=groq-1 metric=tokens window=minute used=0 limit=5000 reported=6000");
    }
  const kp::Snapshot snap = f.pool.snapshot();
  const kp::LimitUsage& day = snap.keys[k.value].limits[0];
  REQUIRE(day.reported_limit);
  CHECK(*day.reported_limit == 14'400);  // agrees: no event
  CHECK(*day.reported_remaining == 14'399);
  CHECK(day.reported_at == f.clock.now());
  const kp::LimitUsage& minute = snap.keys[k.value].limits[1];
  CHECK(minute.reported_limit == std::optional<std::uint64_t>{6'000});
  CHECK(minute.reported_remaining == std::optional<std::uint64_t>{4'800});
  CHECK(minute.limit == 5'000);  // the configured limit stands
}

TEST_CASE("a key that adopts reported limits takes the provider's figure at the next poll, keeping its usage",
          "[learned][reports][lifecycle]") {
  Fixture f;
  // Configured 5,000 tokens a minute (a guess); Groq reports 6,000. Only the adopting key changes.
  const auto adopting = f.key({kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(5'000).per_minute()},
                              {.label = "adopts", .adopt_reported_limits = true});
  const auto fixed = f.key({kp::Limit::requests(14'400).per_day(), kp::Limit::tokens(5'000).per_minute()}, {.label = "budget"});
  for (const kp::KeyId k : {adopting, fixed}) {
    kp::Lease lease = f.pool.acquire({.tokens = 4'000});
    REQUIRE(lease);
    CHECK(lease.key() == k);
    lease.commit({.tokens = 4'000}, lease.classify(200, provider_answers::groq_free_tier_headers, "", f.clock.now()));
  }
  // Nothing changes before the poll: the answer's path never takes the admin lock.
  CHECK(f.pool.snapshot().keys[adopting.value].limits[1].limit == 5'000);
  f.pool.poll();
  const kp::Snapshot snap = f.pool.snapshot();
  kp::LimitUsage adopted, kept;
  for (const auto& key : snap.keys) {
    if (key.id == adopting) adopted = key.limits[1];
    if (key.id == fixed) kept = key.limits[1];
  }
  CHECK(adopted.limit == 6'000);
  CHECK(adopted.used == 4'000);  // the same counters: what the call used
  CHECK(kept.limit == 5'000);
  REQUIRE(f.count(kp::EventKind::key_limits_changed) == 1);
  // The adopted amount admits what the configured one refuses: 1,100 more tokens this minute.
  CHECK(f.pool.acquire({.tokens = 1'100}).key() == adopting);
  f.pool.poll();
  CHECK(f.count(kp::EventKind::key_limits_changed) == 1);  // adopted once
}

TEST_CASE("a report about a window the key does not count is kept as observed, beside the configured limits",
          "[observed][reports]") {
  Fixture f;
  // The seed's Groq key: tokens per day only. Groq's headers speak of requests per day (no such
  // limit here) and tokens per minute (not the day: never drained into it).
  const auto k = f.key({kp::Limit::tokens(14'400).per_day()}, {.label = "groq-1"});
  auto lease = f.pool.acquire({.tokens = 1'200});
  REQUIRE(lease);
  lease.commit({.tokens = 1'200}, lease.classify(200, provider_answers::groq_free_tier_headers, "", f.clock.now()));
  const kp::Snapshot snap = f.pool.snapshot();
  CHECK(snap.keys[k.value].limits[0].used == 1'200);  // the day holds what was used, nothing more
  CHECK(snap.keys[k.value].limits[0].marked == 0);
  const std::vector<kp::ProviderRemaining> expected{
      {kp::Metric::requests, 14'399, 14'400, f.clock.now() + 6s, kp::Window::day},
      {kp::Metric::tokens, 4'800, 6'000, f.clock.now() + 12s, kp::Window::minute}};
  CHECK(snap.keys[k.value].observed == expected);
  CHECK(snap.providers[0].dialect == kp::Dialect::groq);
  // A later report of the same window replaces its figure.
  auto second = f.pool.acquire({.tokens = 100});
  REQUIRE(second);
  second.commit({.tokens = 100}, second.classify(200, Headers{{"x-ratelimit-limit-tokens", "6000"},
                                                              {"x-ratelimit-remaining-tokens", "3000"},
                                                              {"x-ratelimit-reset-tokens", "30s"}},
                                                 "", f.clock.now()));
  const auto observed = f.pool.snapshot().keys[k.value].observed;
  REQUIRE(observed.size() == 2);
  CHECK(observed[1].remaining == 3'000);
}
