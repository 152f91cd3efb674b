// priority_headroom: per-priority headroom on a shared daily quota. Two Groq keys of 14,400 tokens
// a day serve three kinds of traffic: chat answers for users (Priority::critical, may use 100%),
// document summaries (normal, stop at 95%) and a nightly re-index (batch, stops at 80%). Batch is
// refused first, so the last fifth of the day's tokens stays for interactive work; then normal;
// chat runs to the end. The seeds asked for this: "some channels continue with reduced quota",
// "soft limits at 80%, hard limits at 95%". Runs on a manual clock.
// Exits 1 when the priorities are not refused in order, each because it would pass its cap.
#include <array>
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

std::string hhmm(kp::TimePoint t) {
  const hh_mm_ss hms{floor<minutes>(t - floor<days>(t))};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count();
  return out.str();
}

struct Traffic {
  const char* name;
  kp::Priority priority;
  std::uint64_t tokens;
  int served = 0, refused = 0;
  std::optional<kp::TimePoint> first_refusal{};
};

}  // namespace

int main() {
  kp::clock::Manual clock{sys_days{2026y / 4 / 7} + 8h};
  kp::KeyPool<kp::alert::Callback, kp::clock::Manual> pool{clock, kp::alert::Callback{[](const kp::Event& e) {
    if (e.kind == kp::EventKind::threshold_crossed)
      std::cout << "  [" << hhmm(e.at) << "] " << e.key_label << " at " << e.level * 100 << "% of its daily tokens ("
                << e.used << " of " << e.limit << ")\n";
  }}};
  const kp::Limit daily = kp::Limit::tokens(14'400).per_day()
                              .headroom(kp::Priority::batch, 0.80)    // batch stops at 80%
                              .headroom(kp::Priority::normal, 0.95);  // normal at 95%; critical may use it all
  const auto groq = pool.add_provider("groq");
  for (int i = 1; i <= 2; ++i)
    pool.add_key(groq, kp::Secret{"gsk_example_key_000" + std::to_string(i)}, {daily}, {.label = "groq-" + std::to_string(i)});

  std::array<Traffic, 3> traffic{{{"chat", kp::Priority::critical, 400},
                                  {"summaries", kp::Priority::normal, 600},
                                  {"re-index", kp::Priority::batch, 1'000}}};
  std::cout << "08:00  " << daily.describe() << " on 2 keys; caps per key: batch " << daily.cap(kp::Priority::batch)
            << ", normal " << daily.cap(kp::Priority::normal) << ", critical " << daily.cap(kp::Priority::critical)
            << "\n       every 30 minutes: one chat answer (400 tokens), one summary (600), one re-index batch (1,000)\n";

  bool ok = true;
  bool chat_refused = false;
  for (; !chat_refused; clock.advance(30min)) {
    for (Traffic& t : traffic) {
      kp::Lease lease = pool.acquire({.tokens = t.tokens, .priority = t.priority});
      if (lease) {
        ok &= !t.first_refusal;  // once a priority is refused for the day, it stays refused
        lease.commit();
        ++t.served;
        continue;
      }
      ++t.refused;
      chat_refused |= t.priority == kp::Priority::critical;
      if (t.first_refusal) continue;
      t.first_refusal = clock.now();
      // Why: on every key, this request would bring usage past its priority's cap.
      const kp::Snapshot snap = pool.snapshot();
      std::cout << "  [" << hhmm(clock.now()) << "] " << t.name << " (" << kp::to_string(t.priority) << ") refused: "
                << kp::to_string(lease.refusal().reason) << ", back at " << hhmm(lease.refusal().resets_at) << " UTC;";
      for (const kp::KeySnapshot& key : snap.keys) {
        const std::uint64_t used = key.limits[0].used, cap = daily.cap(t.priority);
        std::cout << (key.id.value == 0 ? " " : ", ") << key.label << ' ' << used << " + " << t.tokens << " > " << cap;
        ok &= used + t.tokens > cap;  // refused exactly because it does not fit under its cap
      }
      std::cout << '\n';
    }
  }

  std::cout << "\ntraffic     priority  served  refused  first refused\n";
  for (const Traffic& t : traffic)
    std::cout << std::left << std::setw(12) << t.name << std::setw(9) << kp::to_string(t.priority) << std::right
              << std::setw(7) << t.served << std::setw(9) << t.refused << "  "
              << (t.first_refusal ? hhmm(*t.first_refusal) : std::string{"never"}) << '\n';
  ok &= traffic[2].first_refusal && traffic[1].first_refusal && traffic[0].first_refusal &&
        *traffic[2].first_refusal < *traffic[1].first_refusal && *traffic[1].first_refusal < *traffic[0].first_refusal;
  std::cout << (ok ? "story checked: batch refused first, then normal, then critical, each at its cap\n"
                   : "UNEXPECTED order of refusals\n");
  return ok ? 0 : 1;
}
