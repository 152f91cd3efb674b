// Stress: keypool::ClientLimiter under threads racing for the same clients. Time stands still
// within each phase, so every expected figure is exact: each client is admitted exactly its burst,
// no more and no less, however the threads interleave — while new clients are installed, idle
// clients' entries are taken over, and (last test) threads judge idleness at different times.
// Catch2 is not thread-safe: worker threads only record, the main thread asserts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <keypool/client_limiter.hpp>

#include "support/stress.hpp"

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using Limiter = kp::ClientLimiter;

constexpr int thread_count = 8;

// 2026-03-02 09:00:00 UTC.
const kp::TimePoint start_time{sys_days{2026y / March / 2} + 9h};

std::string client_name(std::size_t i) { return "198.51.100." + std::to_string(i); }

// Charges `client` at `now` until the limiter says it has nothing left (a refusal alone is not
// enough: a cost above what remains, a contended install or a transiently full window are
// refused too). Adds the admitted cost to `admitted`; returns false if it gave up (a bug).
bool drain(Limiter& limiter, const std::string& client, kp::TimePoint now, std::mt19937_64& random,
           std::uint64_t max_cost, std::uint64_t& admitted) {
  for (int attempt = 0; attempt < 1'000'000; ++attempt) {
    const std::uint64_t cost = 1 + random() % max_cost;
    if (limiter.try_acquire(client, now, cost)) {
      admitted += cost;
    } else if (limiter.peek(client, now, 0).remaining == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("threads racing for the same new clients are admitted exactly each client's burst", "[stress][client_limiter]") {
  const bool same_order = GENERATE(true, false);  // all threads on one client at a time, or spread
  const std::uint64_t max_cost = GENERATE(1u, 3u);
  CAPTURE(same_order, max_cost);
  constexpr std::uint64_t burst = 10;
  const std::size_t clients = scaled_work(4'000);
  Limiter limiter{{.requests = 10, .per = minutes{1}, .burst = burst, .max_clients = 4 * clients}};

  std::vector<std::vector<std::uint64_t>> admitted(thread_count, std::vector<std::uint64_t>(clients, 0));
  std::vector<int> gave_up(thread_count, 0);
  run_threads(thread_count, [&](int t) {
    std::mt19937_64 random{static_cast<std::uint64_t>(t) + 1};
    std::vector<std::size_t> order(clients);
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (!same_order) std::shuffle(order.begin(), order.end(), random);
    for (const std::size_t client : order)
      if (!drain(limiter, client_name(client), start_time, random, max_cost, admitted[t][client])) ++gave_up[t];
  });

  INFO("contended refusals: " << limiter.contended_refusals());
  CHECK(std::accumulate(gave_up.begin(), gave_up.end(), 0) == 0);
  std::size_t exact = 0;
  for (std::size_t client = 0; client < clients; ++client) {
    std::uint64_t total = 0;
    for (int t = 0; t < thread_count; ++t) total += admitted[t][client];
    if (total == burst) ++exact;
    else FAIL_CHECK("client " << client << " was admitted " << total << ", not " << burst);
  }
  CHECK(exact == clients);
  CHECK(limiter.tracked(start_time) == clients);
  CHECK(limiter.evictions() == 0);
  CHECK(limiter.full_refusals() == 0);
}

TEST_CASE("new clients taking over idle clients' entries under races keep exact budgets", "[stress][client_limiter]") {
  // A table of 32 entries, two probe windows' worth; each phase, 16 of 200 clients race, at a time
  // when every earlier client is idle, so installs take over entries of idle clients.
  constexpr std::uint64_t burst = 4;
  constexpr std::size_t clients = 200;
  constexpr std::size_t per_phase = 16;
  const std::size_t phases = scaled_work(300);
  Limiter limiter{{.requests = 4, .per = seconds{1}, .burst = burst, .max_clients = 32}};

  // The clients of each phase, drawn once.
  std::vector<std::vector<std::size_t>> phase_clients(phases);
  std::mt19937_64 draw{42};
  for (auto& chosen : phase_clients) {
    std::vector<std::size_t> all(clients);
    std::iota(all.begin(), all.end(), std::size_t{0});
    std::shuffle(all.begin(), all.end(), draw);
    chosen.assign(all.begin(), all.begin() + per_phase);
  }
  std::vector<std::vector<std::uint64_t>> admitted(thread_count, std::vector<std::uint64_t>(phases * per_phase, 0));
  std::vector<int> gave_up(thread_count, 0);
  std::barrier phase_done{thread_count};
  run_threads(thread_count, [&](int t) {
    std::mt19937_64 random{static_cast<std::uint64_t>(t) + 100};
    for (std::size_t phase = 0; phase < phases; ++phase) {
      const kp::TimePoint now = start_time + phase * 2s;  // every client of earlier phases is idle
      std::vector<std::size_t> order(per_phase);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::shuffle(order.begin(), order.end(), random);
      for (const std::size_t slot : order)
        if (!drain(limiter, client_name(phase_clients[phase][slot]), now, random, 2, admitted[t][phase * per_phase + slot]))
          ++gave_up[t];
      phase_done.arrive_and_wait();
    }
  });

  INFO("evictions: " << limiter.evictions() << ", full-window refusals (transient here): " << limiter.full_refusals()
                     << ", contended refusals: " << limiter.contended_refusals());
  CHECK(std::accumulate(gave_up.begin(), gave_up.end(), 0) == 0);
  std::size_t exact = 0;
  for (std::size_t i = 0; i < phases * per_phase; ++i) {
    std::uint64_t total = 0;
    for (int t = 0; t < thread_count; ++t) total += admitted[t][i];
    if (total == burst) ++exact;
    else FAIL_CHECK("phase " << i / per_phase << ", client " << phase_clients[i / per_phase][i % per_phase]
                              << " was admitted " << total << ", not " << burst);
  }
  CHECK(exact == phases * per_phase);
  // From the second phase on, most installs take over an entry of an idle client.
  CHECK(limiter.evictions() >= (phases - 1) * per_phase / 2);
}

TEST_CASE("threads that judge idleness at different times never install one client twice", "[stress][client_limiter]") {
  // Even threads call at base, odd threads at base + 7 ns. Before each phase, filler clients fill
  // half the table and fall idle at base + 3 ns: odd threads may take their entries, even threads
  // may not, so racing threads pick different entries for the same new client. A second entry
  // for a client would give it a second burst; the installers' check for duplicates must prevent
  // it (without that check this test fails in nearly every run). With T = 250 ms the 7 ns between
  // the threads' times refill nothing: each client gets exactly its burst.
  constexpr std::uint64_t burst = 3;
  constexpr std::size_t per_phase = 1024;
  constexpr std::size_t fillers = 4096;
  const std::size_t phases = scaled_work(100);
  Limiter limiter{{.requests = 4, .per = seconds{1}, .burst = burst, .max_clients = 8192}};
  const kp::Duration interval = limiter.emission_interval();

  std::vector<std::vector<std::uint64_t>> admitted(thread_count, std::vector<std::uint64_t>(phases * per_phase, 0));
  std::vector<int> gave_up(thread_count, 0);
  std::vector<int> fillers_refused(phases, 0);
  std::barrier phase_start{thread_count};
  std::barrier phase_done{thread_count};
  run_threads(thread_count, [&](int t) {
    std::mt19937_64 random{static_cast<std::uint64_t>(t) + 1000};
    for (std::size_t phase = 0; phase < phases; ++phase) {
      const kp::TimePoint base = start_time + phase * 10s;
      if (t == 0) {
        // Fillers fall idle at base + 3 ns. At half the table's capacity a few find their window
        // full and are refused: that only makes the test a little weaker (checked below).
        for (std::size_t f = 0; f < fillers; ++f)
          if (!limiter.try_acquire("filler-" + std::to_string(phase) + "-" + std::to_string(f), base + 3ns - interval))
            ++fillers_refused[phase];
      }
      phase_start.arrive_and_wait();
      const kp::TimePoint now = base + nanoseconds{t % 2 == 0 ? 0 : 7};
      // Every thread takes the clients in the same order, so they race to install each one.
      std::vector<std::size_t> order(per_phase);
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::mt19937_64 same_for_all{phase};
      std::shuffle(order.begin(), order.end(), same_for_all);
      for (const std::size_t slot : order)
        if (!drain(limiter, "client-" + std::to_string(phase) + "-" + std::to_string(slot), now, random, 1,
                   admitted[t][phase * per_phase + slot]))
          ++gave_up[t];
      phase_done.arrive_and_wait();
    }
  });

  INFO("evictions: " << limiter.evictions() << ", full-window refusals (transient here): " << limiter.full_refusals()
                     << ", contended refusals: " << limiter.contended_refusals());
  CHECK(std::accumulate(gave_up.begin(), gave_up.end(), 0) == 0);
  CHECK(std::accumulate(fillers_refused.begin(), fillers_refused.end(), 0) < static_cast<int>(phases * fillers / 100));
  std::size_t exact = 0;
  for (std::size_t i = 0; i < phases * per_phase; ++i) {
    std::uint64_t total = 0;
    for (int t = 0; t < thread_count; ++t) total += admitted[t][i];
    if (total == burst) ++exact;
    else FAIL_CHECK("phase " << i / per_phase << ", client " << i % per_phase << " was admitted " << total << ", not " << burst);
  }
  CHECK(exact == phases * per_phase);
}
