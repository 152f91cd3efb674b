// gemini_limits: one Gemini key with the seed's four limits at once (15 requests a minute,
// 1,000,000 tokens a minute, 1,500 requests a day reset at midnight Pacific, 32,000 tokens a
// request), as Gemini publishes them: per model (KeyOptions::models; requests name the model), and
// the seed's pre-check `can_make_request(estimated_tokens)`: yes with the
// reservation to use, or no with the limit that refuses and how long to wait, read from the
// Refusal and the snapshot. Health levels are the seed's (warning at 80%, critical at 95%); the
// status endpoint and the admin reset close the day. Runs on a manual clock.
// Exits 1 when a refusal is not pinned on the limit the story expects.
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using Pool = kp::KeyPool<kp::alert::Callback, kp::clock::Manual>;

const kp::Zone pacific = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");

// Local Pacific time, "09:30:00 PST".
std::string local(kp::TimePoint t) {
  const auto utc = floor<seconds>(t);
  const kp::Zone::Period period = pacific.period_at(utc);
  const auto wall = utc + period.offset;
  const hh_mm_ss hms{wall - floor<days>(wall)};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count()
      << ':' << std::setw(2) << hms.seconds().count() << (period.is_dst ? " PDT" : " PST");
  return out.str();
}

std::string span(kp::Duration d) {
  const auto s = duration_cast<seconds>(d).count();
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << " h " << s % 3600 / 60 << " min";
  else if (s >= 60) out << s / 60 << " min " << s % 60 << " s";
  else out << s << " s";
  return out.str();
}

// The seed's answer: {can_request, reason, wait_seconds}; a yes holds the reservation to use.
struct Answer {
  kp::Lease lease;
  std::string limit;  // the limit that refuses ("requests 15 per minute"), empty on yes
  std::string why;
  kp::Duration wait{};  // Duration::max(): waiting will not help
};

// Is there room for a call of about `estimated_tokens` now? Asking reserves: keep the lease and
// make the call (or cancel it), so no other thread can take the room in between.
Answer can_make_request(Pool& pool, kp::ModelId model, std::uint64_t estimated_tokens) {
  const kp::Request request{.tokens = estimated_tokens, .model = model};
  kp::Lease lease = pool.acquire(request);
  if (lease) return {std::move(lease), "", "", {}};
  const kp::Refusal refusal = lease.refusal();
  // Which limit: the one without room for this request whose reset is the refusal's retry time
  // (or, for too_large, the per-request cap the request is over).
  const kp::Snapshot snap = pool.snapshot();
  for (const kp::LimitUsage& limit : snap.keys.at(0).models.at(0).limits) {
    const std::uint64_t needs = kp::amount_of(limit.metric, request);
    std::ostringstream why;
    if (limit.window == "request") {
      if (needs <= limit.limit) continue;
      why << "the request's " << needs << ' ' << kp::to_string(limit.metric) << " are over the cap; split it";
    } else {
      if (needs <= limit.remaining || limit.resets_at != refusal.resets_at) continue;
      why << limit.used << " of " << limit.limit << " used, " << limit.remaining << " left, the request needs " << needs;
    }
    return {std::move(lease), limit.description, why.str(), refusal.retry_after};
  }
  return {std::move(lease), std::string{kp::to_string(refusal.reason)}, "", refusal.retry_after};
}

}  // namespace

int main() {
  const auto day = sys_days{2026y / 2 / 12};
  kp::clock::Manual clock{day + 17h + 30min};  // 09:30 PST
  Pool pool{clock, kp::Thresholds{0.80, 0.95, 1.0}, kp::alert::Callback{[](const kp::Event& e) {
    if (e.kind == kp::EventKind::threshold_crossed && e.window == "day")
      std::cout << "  [" << local(e.at) << "] alert: daily requests at " << e.level * 100 << "% (" << e.used << " of "
                << e.limit << ")\n";
  }}};
  const kp::Limit per_minute = kp::Limit::requests(15).per_minute();
  const kp::Limit tokens_per_minute = kp::Limit::tokens(1'000'000).per_minute();
  const kp::Limit per_day = kp::Limit::requests(1'500).per_day().reset_zone(pacific);
  const kp::Limit per_request = kp::Limit::tokens(32'000).per_request();
  const kp::KeyId key =
      pool.add_key(pool.add_provider("gemini", kp::dialects::gemini), kp::Secret{"AIza_example_key_0001"}, {},
                   {.label = "gemini-1", .models = {{"gemini-2.0-flash", {per_minute, tokens_per_minute, per_day, per_request}}}});
  const kp::ModelId flash = pool.model("gemini-2.0-flash");
  std::cout << "gemini-1, gemini-2.0-flash: " << per_minute.describe() << ", " << tokens_per_minute.describe() << ", "
            << per_day.describe() << ", " << per_request.describe() << '\n';

  bool ok = true;
  auto ask = [&](std::uint64_t tokens, const kp::Limit* expected, bool quiet = false) {
    Answer answer = can_make_request(pool, flash, tokens);
    ok &= expected ? !answer.lease && answer.limit == expected->describe() : static_cast<bool>(answer.lease);
    if (quiet && answer.lease) return answer;
    std::cout << local(clock.now()) << "  can I send ~" << tokens << " tokens? ";
    if (answer.lease) std::cout << "yes, on " << answer.lease.label() << '\n';
    else {
      std::cout << "no: " << answer.limit << " refuses (" << answer.why << "); ";
      if (answer.wait == kp::Duration::max()) std::cout << "waiting will not help\n";
      else std::cout << "wait " << span(answer.wait) << ", until " << local(clock.now() + answer.wait) << '\n';
    }
    return answer;
  };

  // 1. The first calls of the minute pass; the 16th meets the per-minute request limit.
  for (int i = 0; i < 15; ++i, clock.advance(2s)) {
    Answer answer = ask(1'000, nullptr, i > 0);
    answer.lease.commit({.tokens = 900});  // the call's usage metadata said 900
  }
  std::cout << "  ... and 14 more, one every 2 s: yes\n";
  ask(1'000, &per_minute);

  // 2. A request larger than any request may be: no wait makes it fit.
  clock.set(day + 17h + 31min);
  ask(40'000, &per_request);

  // 3. Another service spends from the same key: the answer reports 20,000 tokens left this minute
  //    (classify fills such reports from x-ratelimit-* headers) and the pool believes the provider.
  Answer shared = ask(1'000, nullptr);
  const kp::TimePoint minute_end = floor<minutes>(clock.now()) + 1min;
  std::cout << "  the answer reports 20000 tokens left this minute\n";
  shared.lease.commit({.tokens = 900}, kp::Outcome::success().with_remaining(
                                           {.metric = kp::Metric::tokens, .remaining = 20'000,
                                            .limit = tokens_per_minute.amount(), .resets_at = minute_end}));
  clock.advance(10s);
  ask(30'000, &tokens_per_minute);
  ask(15'000, nullptr).lease.commit({.tokens = 14'000});

  // 4. The day: one call every 4 s, the most 15 a minute allows, until the daily limit refuses.
  clock.set(day + 17h + 32min);
  int served = 0;
  for (;; clock.advance(4s)) {
    kp::Lease lease = pool.acquire({.tokens = 1'000, .model = flash});
    if (!lease) break;
    lease.commit({.tokens = 900});
    ++served;
  }
  std::cout << local(clock.now()) << "  " << served << " more calls served, one every 4 s\n";
  ask(1'000, &per_day);

  // 5. The status endpoint, with the seed's health levels.
  const kp::Snapshot snap = pool.snapshot();
  const kp::MeterSnapshot& model = snap.keys[0].models[0];
  std::cout << "GET /api/ai/quota-status/  (" << model.model << ": " << kp::to_string(model.status) << ")\n";
  for (const kp::LimitUsage& limit : model.limits)
    std::cout << "  " << std::left << std::setw(48) << limit.description << std::right << std::setw(8) << limit.used
              << " used " << std::setw(8) << limit.remaining << " left  " << std::fixed << std::setprecision(1)
              << limit.fraction * 100 << "%  resets " << local(limit.resets_at) << '\n';

  // 6. The admin-only reset (POST quota-status): the key (and its models) serves again at once.
  pool.reset(key);
  std::cout << "admin reset\n";
  ask(1'000, nullptr);

  std::cout << (ok ? "story checked: every refusal named the limit that refused\n" : "UNEXPECTED refusal\n");
  return ok ? 0 : 1;
}
