// ten_keys: the seed report "10 API keys = 4,800 users/day" on a manual clock. Ten Groq keys in
// round-robin (each 30 requests a minute, 480 a day); the spread is shown as a table from the
// snapshot. Mid-way a key answers 429 and rests for its Retry-After, then another key's
// credential is refused (401) and the key is disabled: the rotation goes on evenly over the
// others. A burst then takes every request the minute allows, and the refusal names the shortest
// wait. The stats endpoint of the seed is printed from the snapshot's totals.
// Exits 1 when the spread is not even or a resting or disabled key was used.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using Pool = kp::KeyPool<kp::clock::Manual>;

std::string hhmmss(kp::TimePoint t) {
  const hh_mm_ss hms{floor<seconds>(t - floor<days>(t))};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count()
      << ':' << std::setw(2) << hms.seconds().count();
  return out.str();
}

// The seed's GET /api/generate-mcq answer, from the snapshot's totals.
void print_stats(const kp::Snapshot& snap) {
  const kp::Totals& t = snap.totals;
  const auto requests = static_cast<std::size_t>(kp::Metric::requests);
  std::cout << "  stats: {\"totalKeys\": " << t.keys << ", \"availableKeys\": " << t.available
            << ", \"rateLimitedKeys\": " << t.cooling_down << ", \"disabledKeys\": " << t.disabled
            << ", \"totalRequests\": " << t.daily_used[requests] << ", \"totalDailyCapacity\": " << t.daily_capacity[requests]
            << "}\n";
}

// Per key: status, requests served in this phase (from the leases), requests counted today (from
// the snapshot: a 429 or 401 answer counts too, as the provider counts it).
void print_table(const kp::Snapshot& snap, std::map<std::string, int>& phase) {
  std::cout << "  key       status        this phase  today\n";
  for (const kp::KeySnapshot& key : snap.keys)
    std::cout << "  " << std::left << std::setw(9) << key.label << ' ' << std::setw(13) << kp::to_string(key.status)
              << std::right << std::setw(11) << phase[key.label] << std::setw(7) << key.limits[1].used << "  "
              << std::string(static_cast<std::size_t>(phase[key.label]), '#') << '\n';
}

// True when the counts of the keys in `keys` differ by at most one (a rotation is exactly even
// over every full turn, and a phase may end mid-turn).
bool even(std::map<std::string, int>& phase, const std::vector<std::string>& keys) {
  int low = phase[keys.front()], high = low;
  for (const std::string& k : keys) low = std::min(low, phase[k]), high = std::max(high, phase[k]);
  std::cout << "  spread over " << keys.size() << " keys: " << low << " to " << high << " requests each\n";
  return high - low <= 1;
}

}  // namespace

int main() {
  kp::clock::Manual clock{sys_days{2026y / 3 / 1} + 12h};
  Pool pool{clock};
  const kp::ProviderId groq = pool.add_provider("groq");
  std::vector<kp::Secret> secrets = kp::env::keys("GROQ_API_KEY");  // the service's own keys, if set
  secrets.resize(std::min<std::size_t>(secrets.size(), 10));
  for (std::size_t i = secrets.size(); i < 10; ++i) secrets.emplace_back("gsk_example_key_" + std::to_string(1000 + i));
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    labels.push_back("groq-" + std::to_string(i + 1));
    pool.add_key(groq, secrets[i], {kp::Limit::requests(30).per_minute(), kp::Limit::requests(480).per_day()},
                 {.label = labels.back()});
  }
  bool ok = true;
  const kp::Request quiz{.tokens = 800};
  auto serve = [&](int count, kp::Duration every, std::map<std::string, int>& phase) {
    for (int i = 0; i < count; ++i, clock.advance(every)) {
      kp::Lease lease = pool.acquire(quiz);
      if (!lease) { std::cout << "  unexpected refusal: " << kp::to_string(lease.refusal().reason) << '\n'; ok = false; return; }
      ++phase[std::string{lease.label()}];
      lease.commit({.tokens = 750});
    }
  };

  std::cout << hhmmss(clock.now()) << "  10 keys x 480 requests a day = "
            << pool.snapshot().totals.daily_capacity[static_cast<std::size_t>(kp::Metric::requests)]
            << " quizzes a day; 100 requests, one every 2 s\n";
  std::map<std::string, int> first;
  serve(100, 2s, first);
  print_table(pool.snapshot(), first);
  ok &= even(first, labels);

  // The next call's key answers 429 with Retry-After: 30: it rests 30 s and the rotation skips it.
  kp::Lease limited = pool.acquire(quiz);
  const std::string rested{limited.label()};
  std::cout << '\n' << hhmmss(clock.now()) << "  " << rested << " answers 429, Retry-After: 30\n";
  limited.fail(kp::classify(429, std::map<std::string, std::string>{{"retry-after", "30"}}, "", clock.now()));
  print_stats(pool.snapshot());
  std::map<std::string, int> resting;
  serve(15, 2s, resting);
  std::cout << "  " << resting[rested] << " of 15 requests in its 30 s of rest went to " << rested << '\n';
  ok &= resting[rested] == 0;

  // The next call's credential is refused (401): its key is disabled until someone enables it.
  kp::Lease refused_key = pool.acquire(quiz);
  const std::string revoked{refused_key.label()};
  std::cout << '\n' << hhmmss(clock.now()) << "  " << revoked << "'s credential is refused (401): disabled\n";
  refused_key.fail(kp::classify(401, kp::no_headers, R"({"error":{"message":"Invalid API Key"}})", clock.now()));
  std::map<std::string, int> second;
  serve(90, 2s, second);
  print_table(pool.snapshot(), second);
  std::vector<std::string> enabled = labels;
  std::erase(enabled, revoked);
  ok &= even(second, enabled) && second[revoked] == 0;
  print_stats(pool.snapshot());

  // A burst: every request the minute allows, at once; then the refusal says the shortest wait.
  const kp::Snapshot before = pool.snapshot();
  std::uint64_t room = 0;  // what the nine enabled keys have left this minute
  for (const kp::KeySnapshot& key : before.keys)
    if (key.status != kp::KeyStatus::disabled) room += std::min(key.limits[0].remaining, key.limits[1].remaining);
  int burst = 0;
  for (kp::Lease lease = pool.acquire(quiz); lease; lease = pool.acquire(quiz)) ++burst;
  const kp::Lease refused = pool.acquire(quiz);
  const kp::Snapshot after = pool.snapshot();
  std::cout << '\n' << hhmmss(clock.now()) << "  a burst: " << burst << " requests admitted at once (the keys had " << room
            << " left this minute), then " << kp::to_string(refused.refusal().reason) << ", shortest wait "
            << duration_cast<seconds>(refused.refusal().retry_after).count() << " s (until " << hhmmss(refused.refusal().resets_at)
            << "; the pool's next recovery: " << hhmmss(*after.totals.next_recovery) << ")\n";
  ok &= static_cast<std::uint64_t>(burst) == room && refused.refusal().resets_at == *after.totals.next_recovery;
  clock.advance(refused.refusal().retry_after);  // what acquire_for(quiz, timeout) would sleep
  kp::Lease next = pool.acquire(quiz);
  std::cout << hhmmss(clock.now()) << "  served by " << (next ? std::string{next.label()} : "nobody") << '\n';
  ok &= static_cast<bool>(next);
  print_stats(pool.snapshot());

  std::cout << (ok ? "spread checked: even, and no resting or disabled key used\n" : "UNEVEN or misused keys\n");
  return ok ? 0 : 1;
}
