// quickstart: three Groq keys on a manual clock — pick a key, check every
// quota, record the use, hear the alerts, see the refusal with its retry time, and watch the day
// reset at midnight.
#include <iomanip>
#include <iostream>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

std::string clock_text(kp::TimePoint t) {
  const auto day = floor<days>(t);
  const hh_mm_ss hms{floor<seconds>(t - day)};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count();
  return out.str();
}

}  // namespace

int main() {
  kp::clock::Manual clock{sys_days{2026y / November / 24} + 8h};
  kp::KeyPool<kp::clock::Manual, kp::alert::Callback> pool{
      kp::Capacity{8}, clock, kp::alert::Callback{[](const kp::Event& e) {
        std::cout << "  [" << clock_text(e.at) << "] alert: " << kp::to_string(e.kind) << ' ' << e.key_label << ' '
                  << kp::to_string(e.metric) << ' ' << e.used << '/' << e.limit;
        if (e.kind == kp::EventKind::threshold_crossed) std::cout << " (" << e.level * 100 << "%)";
        std::cout << '\n';
      }}};

  const auto groq = pool.add_provider("groq", 0);
  for (int i = 1; i <= 3; ++i)
    pool.add_key(groq, kp::Secret{"gsk_demo_key_000" + std::to_string(i)},
                 {kp::Limit::requests(30).per_minute(), kp::Limit::tokens(14'400).per_day()},
                 {.label = "groq-" + std::to_string(i)});

  std::cout << "08:00  serving requests of ~1,200 tokens from 3 Groq keys (14,400 tokens/day each)\n";
  int served = 0;
  for (;;) {
    auto lease = pool.acquire({.tokens = 1'200});
    if (!lease) {
      const auto& refusal = lease.refusal();
      std::cout << "  refused after " << served << " requests: " << kp::to_string(refusal.reason) << ", retry in "
                << duration_cast<minutes>(refusal.retry_after).count() / 60 << "h"
                << duration_cast<minutes>(refusal.retry_after).count() % 60 << "m (at "
                << clock_text(refusal.resets_at) << " UTC)\n";
      break;
    }
    // ... send the request with lease.secret().reveal() here ...
    lease.commit({.tokens = 1'150 + static_cast<std::uint64_t>(served % 7) * 20});  // what the answer's usage said
    ++served;
    clock.advance(30s);
  }

  std::cout << "\nSnapshot at " << clock_text(clock.now()) << ":\n";
  for (const auto& key : pool.snapshot().keys)
    std::cout << "  " << key.label << "  " << std::setw(9) << kp::to_string(key.status) << "  tokens "
              << key.limits[1].used << '/' << key.limits[1].limit << '\n';

  clock.set(sys_days{2026y / November / 25});
  auto lease = pool.acquire({.tokens = 1'200});
  std::cout << "\n00:00  a new day: " << (lease ? "served by " + std::string{lease.label()} : std::string{"refused"}) << '\n';
  return lease ? 0 : 1;
}
