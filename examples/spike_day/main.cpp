// spike_day: the story of the seed report "all keys quota exceeded", replayed on a manual clock in
// well under a second. Three Groq keys, two Gemini keys, one Mistral key, failover tier by tier;
// normal traffic from 08:00, a spike at 10:00; the keys run out one provider after another, users
// get a graceful refusal with the time until midnight UTC, and at midnight everything recovers.
// Every number printed is computed by the run; the run is deterministic for a given --seed.
//
//   spike_day [--help] [--seed N] [--groq-keys N] [--gemini-keys N] [--mistral-keys N]
//             [--base-rate R] [--spike-rate R] [--spike-at H] [--spike-until H] [--tokens T]
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::uint64_t seed = 1;
  int groq_keys = 3, gemini_keys = 2, mistral_keys = 1;
  int base_rate = 50;    // requests an hour before the spike and after it
  int spike_rate = 500;  // requests an hour during the spike
  int spike_at = 10, spike_until = 20;  // hours (UTC)
  int tokens = 300;      // mean tokens a request really costs
};

constexpr std::string_view usage_text =
    "usage: spike_day [--seed N] [--groq-keys N] [--gemini-keys N] [--mistral-keys N]\n"
    "                 [--base-rate R] [--spike-rate R] [--spike-at H] [--spike-until H] [--tokens T]\n"
    "Replays a launch day on a manual clock, from 08:00 UTC to 00:30 the next morning.\n"
    "  --seed N          the random traffic's seed (default 1; the same seed gives the same run)\n"
    "  --groq-keys N     Groq keys, 14,400 tokens a day each (default 3)\n"
    "  --gemini-keys N   Gemini keys, 15 requests a minute and 1,500 a day each (default 2)\n"
    "  --mistral-keys N  Mistral keys, 10,000 tokens a day each (default 1)\n"
    "  --base-rate R     requests an hour outside the spike (default 50)\n"
    "  --spike-rate R    requests an hour during the spike (default 500)\n"
    "  --spike-at H      the hour (UTC) the spike starts (default 10)\n"
    "  --spike-until H   the hour (UTC) it ends (default 20; 24 is midnight)\n"
    "  --tokens T        the mean tokens a request costs (default 300)\n"
    "  -h, --help        print this and exit\n";

[[noreturn]] void usage(std::string_view problem) {
  std::cerr << "spike_day: " << problem << "\n" << usage_text;
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string_view, int*> ints{{"--groq-keys", &o.groq_keys},     {"--gemini-keys", &o.gemini_keys},
                                              {"--mistral-keys", &o.mistral_keys}, {"--base-rate", &o.base_rate},
                                              {"--spike-rate", &o.spike_rate},     {"--spike-at", &o.spike_at},
                                              {"--spike-until", &o.spike_until},   {"--tokens", &o.tokens}};
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << usage_text;
      std::exit(0);
    }
    if (i + 1 >= argc) usage("missing value after " + std::string{flag});
    const std::string value = argv[++i];
    char* end = nullptr;
    const long long number = std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || number < 0 || number > 1'000'000)
      usage("not a number from 0 to 1,000,000: " + std::string{flag} + " " + value);
    if (flag == "--seed") o.seed = static_cast<std::uint64_t>(number);
    else if (auto it = ints.find(flag); it != ints.end()) *it->second = static_cast<int>(number);
    else usage("unknown option " + std::string{flag});
  }
  if (o.groq_keys + o.gemini_keys + o.mistral_keys == 0) usage("at least one key is needed");
  if (o.tokens == 0) usage("--tokens must be at least 1");
  if (o.spike_at > 24 || o.spike_until > 24 || o.spike_at > o.spike_until) usage("need 0 <= --spike-at <= --spike-until <= 24");
  return o;
}

std::string hhmm(kp::TimePoint t) {
  const auto day = floor<days>(t);
  const hh_mm_ss hms{floor<minutes>(t - day)};
  std::ostringstream out;
  out << std::setfill('0') << std::setw(2) << hms.hours().count() << ':' << std::setw(2) << hms.minutes().count();
  return out.str();
}

// A wait in whole minutes, rounded up: "retry in 8h02m" at 15:58:20 for a 00:00 reset, so the
// wait and the two times printed beside it agree (and nobody retries a minute early).
std::string span(kp::Duration d) {
  const auto m = ceil<minutes>(d).count();
  std::ostringstream out;
  out << m / 60 << 'h' << std::setfill('0') << std::setw(2) << m % 60 << 'm';
  return out.str();
}

// "1 Mistral key", "3 Groq keys".
std::string keys(int count, std::string_view provider) {
  return std::to_string(count) + " " + std::string{provider} + (count == 1 ? " key" : " keys");
}

// The run has two parts: the day (08:00 to midnight) and the next morning (midnight to 00:30),
// after the daily limits reset. Their figures are counted apart so the table says which is which.
enum Part : std::size_t { the_day = 0, morning = 1 };

struct ProviderStats {
  std::uint64_t served[2] = {0, 0}, tokens[2] = {0, 0};
  std::optional<kp::TimePoint> exhausted_at;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const kp::TimePoint start{sys_days{2026y / November / 24} + 8h};
  const kp::TimePoint end = start + 16h + 30min;  // to 00:30 the next day
  kp::clock::Manual clock{start};

  std::map<std::string, ProviderStats> stats;
  std::optional<kp::TimePoint> all_exhausted_at, resumes_at, recovered_at;
  int key_forecasts = 0;
  auto timeline = [&](const kp::Event& e) {
    const std::string at = hhmm(e.at);
    switch (e.kind) {
      case kp::EventKind::threshold_crossed:
        if (e.level < 1.0)
          std::cout << at << "  " << std::left << std::setw(10) << e.key_label << "  " << kp::to_string(e.metric) << '/'
                    << e.window << " at " << static_cast<int>(e.level * 100 + 0.5) << "% (" << e.used << " of " << e.limit
                    << ")\n";
        break;
      case kp::EventKind::key_exhausted:
        std::cout << at << "  " << std::left << std::setw(10) << e.key_label << "  EXHAUSTED " << kp::to_string(e.metric)
                  << '/' << e.window << ", resets " << hhmm(e.resets_at) << '\n';
        break;
      case kp::EventKind::failover:
        std::cout << at << "  FAILOVER " << e.provider_name << " -> " << e.to_provider_name << '\n';
        break;
      case kp::EventKind::provider_exhausted:
        stats[std::string{e.provider_name}].exhausted_at = e.at;
        std::cout << at << "  ALERT " << e.provider_name << ": every key exhausted until " << hhmm(e.resets_at) << '\n';
        break;
      case kp::EventKind::all_exhausted:
        all_exhausted_at = e.at;
        resumes_at = e.resets_at;
        std::cout << at << "  EMERGENCY: all AI keys exhausted; service resumes at " << hhmm(e.resets_at) << " UTC (in "
                  << span(e.resets_at - e.at) << ")\n";
        break;
      case kp::EventKind::exhaustion_forecast:
        if (e.key_label.empty())
          std::cout << at << "  FORECAST " << e.provider_name << ": at the current rate its daily " << kp::to_string(e.metric)
                    << " run out at " << hhmm(e.at + e.eta) << ", before the " << hhmm(e.resets_at) << " reset\n";
        else
          ++key_forecasts;
        break;
      case kp::EventKind::provider_recovered:
        std::cout << at << "  RECOVERED " << e.provider_name << '\n';
        break;
      default:
        break;
    }
  };

  kp::KeyPool<kp::select::Priority<>, kp::clock::Manual, kp::alert::Callback> pool{
      kp::Capacity{static_cast<std::size_t>(o.groq_keys + o.gemini_keys + o.mistral_keys)}, clock,
      kp::alert::Callback{timeline}};
  const auto groq = pool.add_provider("groq", 0);
  const auto gemini = pool.add_provider("gemini", 1);
  const auto mistral = pool.add_provider("mistral", 2);
  for (int i = 1; i <= o.groq_keys; ++i)
    pool.add_key(groq, kp::Secret{"gsk_demo_groq_key_" + std::to_string(i)}, {kp::Limit::tokens(14'400).per_day()},
                 {.label = "groq-" + std::to_string(i)});
  for (int i = 1; i <= o.gemini_keys; ++i)
    pool.add_key(gemini, kp::Secret{"AIza_demo_gemini_key_" + std::to_string(i)},
                 {kp::Limit::requests(15).per_minute(), kp::Limit::requests(1'500).per_day()},
                 {.label = "gemini-" + std::to_string(i)});
  for (int i = 1; i <= o.mistral_keys; ++i)
    pool.add_key(mistral, kp::Secret{"msk_demo_mistral_key_" + std::to_string(i)}, {kp::Limit::tokens(10'000).per_day()},
                 {.label = "mistral-" + std::to_string(i)});

  std::cout << "keypool spike day (seed " << o.seed << "): " << keys(o.groq_keys, "Groq") << " (14,400 tokens/day), "
            << keys(o.gemini_keys, "Gemini") << " (15/min, 1,500/day), " << keys(o.mistral_keys, "Mistral")
            << " (10,000 tokens/day)\n"
            << "traffic: " << o.base_rate << "/hour from 08:00, " << o.spike_rate << "/hour from " << o.spike_at << ":00 to "
            << o.spike_until << ":00, ~" << o.tokens << " tokens a request\n\n";

  std::mt19937_64 rng{o.seed};
  std::uniform_int_distribution<int> cost{o.tokens / 2, o.tokens + o.tokens / 2};
  const kp::TimePoint midnight = start + 16h;
  std::uint64_t requests[2] = {0, 0}, refused[2] = {0, 0};
  std::uint64_t refused_after_reset = 0;
  std::optional<std::string> first_refusal;
  for (kp::TimePoint minute = start; minute < end; minute += 1min) {
    const Part part = minute < midnight ? the_day : morning;
    const int hour = static_cast<int>(duration_cast<hours>(minute - floor<days>(minute)).count());
    const bool spiking = part == the_day && hour >= o.spike_at && hour < o.spike_until;
    std::poisson_distribution<int> arrivals{(spiking ? o.spike_rate : o.base_rate) / 60.0};
    const int calls = arrivals(rng);
    for (int c = 0; c < calls; ++c) {
      clock.set(minute + c * 60s / (calls + 1));  // spread over the minute
      ++requests[part];
      const int tokens = cost(rng);
      kp::Lease lease = pool.acquire({.tokens = static_cast<std::uint64_t>(o.tokens + o.tokens / 2)});  // worst case
      if (!lease) {
        ++refused[part];
        if (resumes_at && clock.now() >= *resumes_at) ++refused_after_reset;
        if (!first_refusal) {
          const kp::Refusal& r = lease.refusal();
          first_refusal = "\"All AI services are at capacity. Please retry in " + span(r.retry_after) + " (at " +
                          hhmm(r.resets_at) + " UTC).\" (" + std::string{kp::to_string(r.reason)} + ")";
          std::cout << hhmm(clock.now()) << "  users now get: " << *first_refusal << '\n';
        }
        continue;
      }
      if (all_exhausted_at && !recovered_at) {
        recovered_at = clock.now();
        std::cout << hhmm(clock.now()) << "  SERVING AGAIN: the first request since the reset went to " << lease.label()
                  << '\n';
      }
      ProviderStats& s = stats[std::string{lease.provider_name()}];
      ++s.served[part];
      s.tokens[part] += static_cast<std::uint64_t>(tokens);
      lease.commit({.tokens = static_cast<std::uint64_t>(tokens)});  // the usage the provider reported
    }
    clock.set(minute + 1min);
    pool.poll();
  }

  // The table: the day, then the next morning (after the reset), side by side.
  const std::string day_title = "the day (" + hhmm(start) + "-24:00)";
  const std::string morning_title = "the next morning (00:00-" + hhmm(end) + ")";
  std::cout << "\n" << std::left << std::setw(10) << "" << std::setw(40) << day_title << "  " << morning_title << '\n'
            << std::setw(10) << "provider" << std::right << std::setw(10) << "served" << std::setw(12) << "tokens"
            << std::setw(16) << "exhausted at" << "  " << std::setw(10) << "served" << std::setw(12) << "tokens" << '\n';
  for (const char* name : {"groq", "gemini", "mistral"}) {
    const ProviderStats& s = stats[name];
    std::cout << std::left << std::setw(10) << name << std::right << std::setw(10) << s.served[the_day] << std::setw(12)
              << s.tokens[the_day] << std::setw(16) << (s.exhausted_at ? hhmm(*s.exhausted_at) : std::string{"-"}) << "  "
              << std::setw(10) << s.served[morning] << std::setw(12) << s.tokens[morning] << '\n';
  }
  std::cout << '\n';
  const auto totals = [&](std::string_view title, Part part) {
    const std::uint64_t served = requests[part] - refused[part];
    std::cout << std::fixed << std::setprecision(1) << title << ": requests " << requests[part] << ", served " << served
              << ", refused " << refused[part] << ", success rate "
              << (requests[part] == 0 ? 100.0
                                      : 100.0 * static_cast<double>(served) / static_cast<double>(requests[part]))
              << "%\n";
  };
  totals(day_title, the_day);
  totals(morning_title, morning);
  if (all_exhausted_at && resumes_at) {
    // Two times, on purpose: when the keys came back (the reset the refusals announced), and when
    // the first request after it arrived (traffic is light at night, so it can be minutes later).
    std::cout << "all keys exhausted at " << hhmm(*all_exhausted_at) << "; the keys reset at " << hhmm(*resumes_at)
              << ", " << span(*resumes_at - *all_exhausted_at) << " later, as the refusals said\n";
    if (recovered_at)
      std::cout << "the first request after the reset arrived at " << hhmm(*recovered_at) << " and was served"
                << (refused_after_reset == 0 ? std::string{}
                                             : " (" + std::to_string(refused_after_reset) + " refused after the reset)")
                << '\n';
    else
      std::cout << "no request was served after the reset before " << hhmm(end) << '\n';
  } else {
    std::cout << "the pool was never exhausted\n";
  }
  std::cout << "key-level exhaustion forecasts raised: " << key_forecasts << '\n';
  return 0;
}
