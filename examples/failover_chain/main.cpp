// failover_chain: Groq → Gemini → Mistral in one pool with select::Priority, on a manual clock.
// Every failover is printed with why it happened, read from the pool's snapshot at that moment:
// first a burst of 429s rests every Groq key for the provider's Retry-After and traffic moves to
// Gemini and back; then Groq's daily tokens run out, then Gemini's daily requests, then Mistral's
// tokens; the last request gets a graceful refusal with the wait until midnight UTC, and at
// midnight the monitor's poll brings every provider back and traffic returns to Groq.
// Exits 1 if the failovers did not happen in the order the story expects.
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

std::string hhmmss(kp::TimePoint t) {
  const hh_mm_ss hms{floor<seconds>(t - floor<days>(t))};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count()
      << ':' << std::setw(2) << hms.seconds().count();
  return out.str();
}

std::string span(kp::Duration d) {
  const auto s = duration_cast<seconds>(d).count();
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << 'h' << std::setfill('0') << std::setw(2) << s % 3600 / 60 << 'm';
  else if (s >= 60) out << s / 60 << 'm' << std::setfill('0') << std::setw(2) << s % 60 << 's';
  else out << s << 's';
  return out.str();
}

// What an event says, copied out of the callback (its names are views into the pool).
struct Seen {
  kp::EventKind kind;
  kp::TimePoint at, resets_at;
  kp::ProviderId provider_id, to_provider_id;
  std::string provider, to_provider, key;
  std::uint64_t used, limit;
  kp::Metric metric;
};

using Pool = kp::KeyPool<kp::select::Priority<>, kp::alert::Callback, kp::clock::Manual>;

// Whether a key could admit `request` now: not resting, and room for it on every limit.
bool fits(const kp::KeySnapshot& key, const kp::Request& request) {
  if (key.status == kp::KeyStatus::cooling_down || key.status == kp::KeyStatus::disabled) return false;
  for (const kp::LimitUsage& limit : key.limits)
    if (limit.window == "request" ? kp::amount_of(limit.metric, request) > limit.limit
                                  : kp::amount_of(limit.metric, request) > limit.remaining)
      return false;
  return true;
}

// Why a provider cannot serve `request` now, key by key, from the snapshot: the key's rest, or the
// limit without room for the request ("groq-1: tokens 14400 per day has 50 left, needs 1200").
std::string why_not(const kp::Snapshot& snap, std::string_view provider, const kp::Request& request) {
  std::ostringstream out;
  const char* separator = "";
  for (const kp::KeySnapshot& key : snap.keys) {
    if (key.provider_name != provider) continue;
    out << separator << key.label << ": ";
    separator = "; ";
    if (key.status == kp::KeyStatus::cooling_down || key.status == kp::KeyStatus::disabled) {
      out << kp::to_string(key.status);
      if (key.available_at) out << " for " << span(*key.available_at - snap.at);
      continue;
    }
    for (const kp::LimitUsage& limit : key.limits) {
      const std::uint64_t needs = kp::amount_of(limit.metric, request);
      if (limit.window == "request" || limit.remaining >= needs) continue;
      out << limit.description << " has " << limit.remaining << " left, needs " << needs << ", resets in "
          << span(limit.resets_at - snap.at);
      break;
    }
  }
  return out.str();
}

}  // namespace

int main() {
  const auto day = sys_days{2025y / 11 / 18};
  kp::clock::Manual clock{day + 8h};
  std::vector<Seen> events;
  Pool pool{clock, kp::alert::Callback{[&](const kp::Event& e) {
    events.push_back({e.kind, e.at, e.resets_at, e.provider, e.to_provider, std::string{e.provider_name}, std::string{e.to_provider_name},
                      std::string{e.key_label}, e.used, e.limit, e.metric});
  }}};

  const auto groq = pool.add_provider("groq", 0), gemini = pool.add_provider("gemini", 1),
             mistral = pool.add_provider("mistral", 2);
  for (int i = 1; i <= 3; ++i)
    pool.add_key(groq, kp::Secret{"gsk_example_key_000" + std::to_string(i)},
                 {kp::Limit::tokens(14'400).per_day(), kp::Limit::requests(30).per_minute()},
                 {.label = "groq-" + std::to_string(i)});
  for (int i = 1; i <= 2; ++i)
    pool.add_key(gemini, kp::Secret{"AIza_example_key_000" + std::to_string(i)},
                 {kp::Limit::requests(1'500).per_day(), kp::Limit::requests(15).per_minute()},
                 {.label = "gemini-" + std::to_string(i)});
  pool.add_key(mistral, kp::Secret{"msk_example_key_0001"}, {kp::Limit::tokens(10'000).per_day()}, {.label = "mistral-1"});

  std::cout << "All times UTC.\n08:00:00  Groq (tier 0, 3 keys) -> Gemini (tier 1, 2 keys) -> Mistral (tier 2, 1 key); "
               "a request of ~1,200 tokens every 10 s\n";

  std::vector<std::pair<std::string, std::string>> failovers;
  std::map<std::string, int> served;
  // Prints what happened since the last call; a failover is explained from the snapshot.
  auto report = [&](const kp::Request& request) {
    for (const Seen& e : events) {
      const std::string at = hhmmss(e.at);
      switch (e.kind) {
        case kp::EventKind::key_cooling_down:
          std::cout << at << "  " << e.key << " rate limited by the provider: resting until " << hhmmss(e.resets_at) << '\n';
          break;
        case kp::EventKind::key_exhausted:
          std::cout << at << "  " << e.key << " out of daily " << kp::to_string(e.metric) << " (" << e.used << " of "
                    << e.limit << " used), back at " << hhmmss(e.resets_at) << '\n';
          break;
        case kp::EventKind::provider_exhausted:
          std::cout << at << "  every " << e.provider << " key is spent until " << hhmmss(e.resets_at) << '\n';
          break;
        case kp::EventKind::failover: {
          failovers.emplace_back(e.provider, e.to_provider);
          const kp::Snapshot snap = pool.snapshot(e.at);
          std::cout << at << "  FAILOVER " << e.provider << " -> " << e.to_provider << ": ";
          if (snap.providers[e.provider_id.value].tier > snap.providers[e.to_provider_id.value].tier)
            std::cout << e.to_provider << " is preferred and can serve again\n";
          else
            std::cout << "because " << why_not(snap, e.provider, request) << '\n';
          break;
        }
        case kp::EventKind::all_exhausted:
          std::cout << at << "  EMERGENCY: every key of every provider is spent; first one back at " << hhmmss(e.resets_at) << '\n';
          break;
        case kp::EventKind::provider_recovered:
          std::cout << at << "  RECOVERED " << e.provider << '\n';
          break;
        default: break;
      }
    }
    events.clear();
  };

  // At 08:05 Groq answers three calls in flight with 429 and Retry-After: 20 (a burst on its side):
  // each key rests 20 s, so the next request fails over to Gemini and traffic comes back after.
  const kp::Request request{.tokens = 1'200};
  const kp::TimePoint burst = day + 8h + 5min;
  std::uint64_t answered = 0;
  for (;; clock.advance(10s)) {
    if (clock.now() == burst) {
      std::vector<kp::Lease> in_flight;
      for (int i = 0; i < 3; ++i) in_flight.push_back(pool.acquire(request));
      const std::map<std::string, std::string> headers{{"Retry-After", "20"}};
      for (kp::Lease& lease : in_flight)
        lease.fail(kp::classify(429, headers, R"({"error":{"message":"Rate limit reached"}})", clock.now()));
      report(request);
    }
    kp::Lease lease = pool.acquire(request);
    report(request);
    if (!lease) {
      const kp::Refusal& r = lease.refusal();
      std::cout << hhmmss(clock.now()) << "  user answer: \"We are at capacity; please retry in " << span(r.retry_after)
                << "\" (" << kp::to_string(r.reason) << ", at " << hhmmss(r.resets_at) << " UTC)\n";
      break;
    }
    lease.commit({.tokens = 1'100 + answered++ % 5 * 50});  // what the answer's usage said: 1,100..1,300
    ++served[std::string{lease.provider_name()}];
  }

  std::cout << "\nserved today: groq " << served["groq"] << ", gemini " << served["gemini"] << ", mistral "
            << served["mistral"] << '\n';
  const kp::Snapshot snap = pool.snapshot();
  for (const kp::ProviderSnapshot& p : snap.providers) {
    std::size_t can_serve = 0;
    for (const kp::KeySnapshot& key : snap.keys) can_serve += key.provider == p.id && fits(key, request);
    std::cout << "  " << std::left << std::setw(8) << p.name << std::right << can_serve << " of " << p.totals.keys
              << " keys can take another request";
    for (std::size_t m = 0; m < kp::metric_count; ++m)
      if (p.totals.daily_capacity[m] != 0)
        std::cout << ", " << p.totals.daily_used[m] << " of " << p.totals.daily_capacity[m] << ' '
                  << kp::to_string(static_cast<kp::Metric>(m)) << " a day used";
    std::cout << '\n';
  }

  // Midnight UTC: the poll (a kp::Monitor in a service) sees the providers serve again.
  clock.set(day + 24h);
  pool.poll();
  report(request);
  kp::Lease first = pool.acquire(request);
  report(request);
  std::cout << hhmmss(clock.now()) << "  served by " << (first ? std::string{first.label()} : "nobody") << '\n';

  const std::vector<std::pair<std::string, std::string>> expected{
      {"groq", "gemini"}, {"gemini", "groq"}, {"groq", "gemini"}, {"gemini", "mistral"}, {"mistral", "groq"}};
  const bool ok = failovers == expected && first && first.provider() == groq;
  std::cout << (ok ? "story checked: failovers in the expected order\n" : "UNEXPECTED failover order\n");
  return ok ? 0 : 1;
}
