// select::RoundRobin: keys in turn, evenly; refusing keys skipped.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>
#include <string>
#include <thread>

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

TEST_CASE("concurrent threads each spread evenly over the keys", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  const auto p = pool.add_provider("groq");
  for (int i = 0; i < 8; ++i)
    pool.add_key(p, kp::Secret{"gsk_rr_mt_" + std::to_string(i)}, {kp::Limit::requests(1'000'000).per_minute()});
  constexpr int per_thread = 800;
  std::vector<std::vector<int>> counts(4, std::vector<int>(8, 0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) ++counts[t][pool.acquire().key().value];
    });
  for (auto& thread : threads) thread.join();
  for (const auto& per_key : counts)
    for (const int c : per_key) CHECK(c == per_thread / 8);
}

TEST_CASE("round robin with a run takes that many grants from a key in a row, and stays exactly even", "[select][round_robin]") {
  kp::clock::Manual clock;
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{5}, clock, kp::select::RoundRobin{{.run = 8}}};
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
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{3}, clock, kp::select::RoundRobin{{.run = 4}}};
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
