// select::RoundRobin: keys in turn, evenly; refusing keys skipped.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>
#include <string>
#include <thread>
#include <mutex>
#include <cstdint>

#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono_literals;


TEST_CASE("round robin spreads one thread's requests exactly evenly", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{10}, clock};
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 10; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_key_" + std::to_string(i)}, {kp::Limit::requests(1'000).per_minute()},
                 {.label = "k" + std::to_string(i)});
  std::map<std::string, int> served;
  std::string previous;
  for (int i = 0; i < 1'000; ++i) {
    auto lease = pool.acquire();
    REQUIRE(lease);
    CHECK(lease.label() != previous);  // never the same key twice in a row
    previous = std::string{lease.label()};
    ++served[previous];
  }
  REQUIRE(served.size() == 10);
  for (const auto& [label, count] : served) CHECK(count == 100);
}

TEST_CASE("round robin skips a key that refuses and keeps the rest even", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{4}, clock};
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 4; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_skip_" + std::to_string(i)}, {kp::Limit::requests(i == 0 ? 5 : 1'000).per_minute()},
                 {.label = "k" + std::to_string(i)});
  std::map<std::string, int> served;
  for (int i = 0; i < 305; ++i) ++served[std::string{pool.acquire().label()}];
  CHECK(served["k0"] == 5);
  CHECK(served["k1"] == 100);
  CHECK(served["k2"] == 100);
  CHECK(served["k3"] == 100);
}

TEST_CASE("round robin refuses only when every key refuses", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{clock};
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 3; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_all_" + std::to_string(i)}, {kp::Limit::requests(2).per_minute()});
  for (int i = 0; i < 6; ++i) CHECK(pool.acquire());
  CHECK_FALSE(pool.acquire());
}

namespace {

/// Checks one thread's grants (key indices in order) against RoundRobin's rule: it visits the
/// keys in turn, each visit a run of 1 or `run` grants, and every visit of a round (key 0 to the
/// last key) has the same length. Returns the number of rounds taken in runs.
int check_rounds(const std::vector<std::uint32_t>& grants, std::size_t n, std::uint32_t run) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> visits;  // key, grants in a row
  for (const std::uint32_t key : grants) {
    if (visits.empty() || visits.back().first != key || visits.back().second == run) visits.emplace_back(key, 0);
    ++visits.back().second;
  }
  int run_rounds = 0;
  std::uint32_t round_length = 0;  // the length of this round's visits (0: not known yet)
  for (std::size_t v = 0; v < visits.size(); ++v) {
    if (v > 0) CHECK(visits[v].first == (visits[v - 1].first + 1) % n);  // the next key in turn
    if (visits[v].first == 0) round_length = 0;                           // a new round
    if (v + 1 == visits.size()) break;                                     // the last visit may be cut short
    const std::uint32_t length = visits[v].second;
    CHECK((length == 1 || length == run));
    if (round_length == 0) {
      round_length = length;
      if (length == run && run > 1) ++run_rounds;
    }
    CHECK(length == round_length);  // the same length for the whole round
  }
  return run_rounds;
}

}  // namespace

TEST_CASE("concurrent threads each spread evenly over the keys, round by round", "[select][round_robin]") {
  kp::clock::Manual clock;  // never moves: every round is fast, so once threads share the policy they take runs
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  CHECK(pool.selection().run() == 8);
  CHECK(pool.selection().adaptive());
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 8; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_mt_" + std::to_string(i)}, {kp::Limit::requests(1'000'000).per_minute()});
  constexpr int per_thread = 4'000;
  std::vector<std::vector<std::uint32_t>> grants(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) grants[t].push_back(pool.acquire().key().value);
    });
  for (auto& thread : threads) thread.join();
  int run_rounds = 0;
  for (const auto& mine : grants) {
    REQUIRE(mine.size() == per_thread);
    run_rounds += check_rounds(mine, 8, 8);
    // Even per round: no key is more than one run ahead of another at any point.
    std::vector<int> counts(8, 0);
    for (const std::uint32_t key : mine) {
      ++counts[key];
      const auto [low, high] = std::minmax_element(counts.begin(), counts.end());
      REQUIRE(*high - *low <= 8);
    }
  }
  // The thread that started last found the policy shared: its rounds after the first are runs.
  CHECK(run_rounds > 0);
}

TEST_CASE("round robin rotates on every grant for one thread, and for threads at a provider's pace", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{4}, clock};
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 4; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_pace_" + std::to_string(i)}, {kp::Limit::requests(1'000'000).per_minute()});
  // One thread, however fast: never a run.
  std::vector<std::uint32_t> alone;
  for (int i = 0; i < 400; ++i) alone.push_back(pool.acquire().key().value);
  CHECK(check_rounds(alone, 4, 8) == 0);
  // Two threads, each round of 4 grants taking 4 ms (1 ms per request): rotation on every grant.
  std::vector<std::vector<std::uint32_t>> grants(2);
  std::mutex step;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::lock_guard lock{step};  // the clock moves 1 ms before each request
        clock.advance(1ms);
        grants[t].push_back(pool.acquire().key().value);
      }
    });
  for (auto& thread : threads) thread.join();
  for (const auto& mine : grants) {
    REQUIRE(mine.size() == 200);
    CHECK(check_rounds(mine, 4, 8) == 0);
    for (std::size_t i = 1; i < mine.size(); ++i) CHECK(mine[i] != mine[i - 1]);
  }
}

TEST_CASE("round robin with a run takes that many grants from a key in a row, and stays exactly even", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{5}, clock, kp::select::RoundRobin{{.run = 8, .adaptive = false}}};
  CHECK(pool.selection().run() == 8);
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 5; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_run_" + std::to_string(i)}, {kp::Limit::requests(1'000).per_minute()},
                 {.label = "k" + std::to_string(i)});
  std::vector<std::string> order;
  for (int i = 0; i < 400; ++i) order.emplace_back(pool.acquire().label());
  // Runs of exactly 8, each key after the previous one.
  for (int i = 0; i < 400; ++i) CHECK(order[i] == order[i - i % 8]);
  for (int i = 8; i < 400; i += 8) CHECK(order[i] != order[i - 1]);
  std::map<std::string, int> served;
  for (const auto& label : order) ++served[label];
  for (const auto& [label, count] : served) CHECK(count == 80);
}

TEST_CASE("round robin with a run moves on when its key refuses mid-run", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{3}, clock, kp::select::RoundRobin{{.run = 4, .adaptive = false}}};
  const auto p = pool.add_provider("groq");
  pool.add_key(p, kp::Secret{"gsk_rr_runcut_0"}, {kp::Limit::requests(2).per_minute()}, {.label = "small"});
  pool.add_key(p, kp::Secret{"gsk_rr_runcut_1"}, {kp::Limit::requests(100).per_minute()}, {.label = "big"});
  std::vector<std::string> order;
  for (int i = 0; i < 14; ++i) order.emplace_back(pool.acquire().label());
  // Wherever this thread starts: "small" serves its 2 in one run (cut short by its limit), "big"
  // serves runs of 4, and every grant is served.
  std::vector<std::pair<std::string, int>> runs;
  for (const auto& label : order) {
    if (runs.empty() || runs.back().first != label) runs.emplace_back(label, 0);
    ++runs.back().second;
  }
  int small_runs = 0;
  for (const auto& [label, length] : runs) {
    if (label == "small") {
      ++small_runs;
      CHECK(length == 2);
    } else {
      CHECK(length <= 12);  // big: its runs merge once small is full (it alone can serve)
    }
  }
  CHECK(small_runs == 1);
  CHECK(std::count(order.begin(), order.end(), "big") == 12);
  CHECK_THROWS_WITH(kp::select::RoundRobin{{.run = 0}}, Catch::Contains("run must be at least 1"));
}
