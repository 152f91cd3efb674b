// midnight_pacific: the seed report "automatic quota reset & channel resume". Two channel threads
// of a video daemon write scripts with Groq (100,000 tokens a day per key, reset at midnight
// Pacific time). When the quota is spent the pool says provider_exhausted and the channels pause;
// no reset job runs: at midnight PST the background kp::Monitor's poll sees the keys serve again,
// says key_recovered and provider_recovered, and the channels resume by themselves. The night is
// January 11th to 12th, 2026: no DST change, so midnight PST is 08:00 UTC. Runs on a manual clock
// that the main thread moves an hour at a time, as the seed's hourly quota monitor did.
// Exits 1 when a channel worked while paused, or did not resume after the reset.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::Zone pacific = kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0");

// "18:00 PST" (local Pacific time, with the abbreviation in effect).
std::string local(kp::TimePoint t) {
  const auto utc = floor<seconds>(t);
  const kp::Zone::Period period = pacific.period_at(utc);
  const auto wall = utc + period.offset;
  const hh_mm_ss hms{wall - floor<days>(wall)};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count()
      << (period.is_dst ? " PDT" : " PST");
  return out.str();
}

std::mutex print_mutex;
void say(const std::string& line) {
  std::lock_guard lock{print_mutex};
  std::cout << line << '\n' << std::flush;
}

// Where channels pause: closed by provider_exhausted, opened by provider_recovered. A channel that
// finds it closed, or is refused, waits for the next opening after what it saw last, so it never
// resumes on a stale state (and a refusal whose event another thread is still delivering is safe).
class Gate {
 public:
  void close() {
    std::lock_guard lock{mutex_};
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock{mutex_};
      open_ = true;
      ++openings_;
    }
    changed_.notify_all();
  }
  struct State {
    bool open;
    std::uint64_t openings;
  };
  [[nodiscard]] State state() {
    std::lock_guard lock{mutex_};
    return {open_, openings_};
  }
  // Waits until the gate has opened again after `seen` openings (or `give_up` passes: false).
  bool wait_after(std::uint64_t seen, steady_clock::time_point give_up) {
    std::unique_lock lock{mutex_};
    ++waiting_;
    changed_.notify_all();
    const bool opened = changed_.wait_until(lock, give_up, [&] { return openings_ > seen; });
    --waiting_;
    return opened;
  }
  // Blocks until `count` channels are waiting (false if `give_up` passes first).
  bool until_waiting(int count, steady_clock::time_point give_up) {
    std::unique_lock lock{mutex_};
    return changed_.wait_until(lock, give_up, [&] { return waiting_ == count; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  std::uint64_t openings_ = 0;
  int waiting_ = 0;
};

}  // namespace

int main() {
  const auto give_up = steady_clock::now() + 30s;  // real time: a stuck story fails instead of hanging
  const auto evening = sys_days{2026y / 1 / 12} + 2h;  // 18:00 PST on January 11th
  kp::clock::Manual clock{evening};
  Gate gate;
  std::atomic<int> exhausted_events{0}, recovered_events{0};
  kp::KeyPool<kp::alert::Callback, kp::clock::Manual> pool{clock, kp::alert::Callback{[&](const kp::Event& e) {
    switch (e.kind) {
      case kp::EventKind::key_exhausted:
        say("[" + local(e.at) + "] " + std::string{e.key_label} + ": daily tokens spent (" + std::to_string(e.used) +
            " of " + std::to_string(e.limit) + ")");
        break;
      case kp::EventKind::provider_exhausted:
        ++exhausted_events;
        gate.close();
        say("[" + local(e.at) + "] WARNING " + std::string{e.provider_name} + " quota exhausted, will auto-resume at " +
            local(e.resets_at));
        break;
      case kp::EventKind::key_recovered:
        say("[" + local(e.at) + "] " + std::string{e.key_label} + " recovered");
        break;
      case kp::EventKind::provider_recovered:
        ++recovered_events;
        say("[" + local(e.at) + "] QUOTA RESET: " + std::string{e.provider_name} + " serves again");
        gate.open();
        break;
      default: break;
    }
  }}};
  const kp::Limit daily = kp::Limit::tokens(100'000).per_day().reset_zone(pacific);
  const auto groq = pool.add_provider("groq");
  for (int i = 1; i <= 2; ++i)
    pool.add_key(groq, kp::Secret{"gsk_example_key_000" + std::to_string(i)}, {daily}, {.label = "groq-" + std::to_string(i)});
  kp::Monitor monitor{pool, 2ms};  // polls the pool in the background (every second in a service)

  const std::uint64_t script_tokens = 5'000;
  const std::uint64_t evening_capacity = 2 * (daily.amount() / script_tokens);  // whole scripts the two keys hold
  std::cout << "18:00 PST  two channels write video scripts of " << script_tokens << " tokens; 2 Groq keys, "
            << daily.describe() << "\n           (midnight PST is " << std::setfill('0') << std::setw(2)
            << hh_mm_ss{-pacific.standard_offset()}.hours().count() << ":00 UTC tonight; in summer, PDT, it is "
            << std::setw(2) << hh_mm_ss{-pacific.daylight_offset()}.hours().count() << ":00 UTC)\n" << std::setfill(' ');

  std::atomic<std::uint64_t> before_pause{0};
  std::atomic<bool> worked_while_paused{false};
  std::atomic<int> resumed_channels{0};
  const kp::TimePoint midnight = sys_days{2026y / 1 / 12} + 8h;
  auto channel = [&](std::string name) {
    int after_reset = 0;
    bool paused = false;
    auto pause = [&](std::uint64_t seen, const std::string& why) {
      say("  " + name + " paused (" + why + ")");
      if (!gate.wait_after(seen, give_up)) return false;  // never resumed: the check below fails
      paused = true;
      ++resumed_channels;
      say("  " + name + " resumed at " + local(clock.now()));
      return true;
    };
    while (after_reset < 3) {
      const Gate::State gate_state = gate.state();
      if (!gate_state.open) {
        if (!pause(gate_state.openings, "groq is exhausted")) return;
        continue;
      }
      kp::Lease lease = pool.acquire({.tokens = script_tokens});
      if (!lease) {
        if (!pause(gate_state.openings, std::string{kp::to_string(lease.refusal().reason)} + ", the quota resets at " +
                                            local(lease.refusal().resets_at)))
          return;
        continue;
      }
      if (paused && clock.now() < midnight) worked_while_paused = true;
      lease.commit({.tokens = script_tokens});
      if (paused) {
        ++after_reset;
        say("  " + name + " wrote a script with " + std::string{lease.label()} + " at " + local(clock.now()));
      } else {
        ++before_pause;
      }
    }
  };
  std::thread rank_riot{channel, "RankRiot"}, daily_facts{channel, "DailyFacts"};

  bool ok = gate.until_waiting(2, give_up);
  std::cout << "           " << before_pause << " scripts written this evening (" << evening_capacity
            << " fit in the two keys); both channels paused\n";
  ok &= before_pause == evening_capacity;

  // The hourly quota check: move the clock an hour, let the monitor poll, report.
  while (clock.now() < midnight) {
    clock.advance(1h);
    const std::uint64_t polls = monitor.polls();
    while (monitor.polls() < polls + 2 && steady_clock::now() < give_up) std::this_thread::sleep_for(1ms);
    const kp::Snapshot snap = pool.snapshot();
    const kp::Totals& totals = snap.providers[groq.value].totals;
    if (totals.exhausted == totals.keys)
      say("[" + local(clock.now()) + "] quota check: groq paused, " + std::to_string(totals.exhausted) + " of " +
          std::to_string(totals.keys) + " keys exhausted, reset in " +
          std::to_string(duration_cast<minutes>(*totals.next_recovery - clock.now()).count()) + " min");
    else
      say("[" + local(clock.now()) + "] quota check: groq serves on " + std::to_string(totals.available) + " of " +
          std::to_string(totals.keys) + " keys");
  }
  rank_riot.join();
  daily_facts.join();

  ok &= !worked_while_paused && resumed_channels == 2 && exhausted_events == 1 && recovered_events == 1;
  std::cout << (ok ? "story checked: paused at exhaustion, resumed by the midnight reset, no work in between\n"
                   : "UNEXPECTED: the channels did not pause and resume as they should\n");
  return ok ? 0 : 1;
}
