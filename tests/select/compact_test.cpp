// Weighted and TwoChoices on large and growing pools: the compact cumulative weights and their
// guide table (detail::WeightIndex) map every point of the weight axis to the key a search over
// the cumulative weights finds, so Weighted's proportions hold exactly at 10,000 keys, as keys are
// added past Capacity and removed, and while other threads acquire.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <keypool/detail/weight_index.hpp>
#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

/// Key i's label, "k<i>", built by appending (g++ 12 at -O3 reports a false -Wrestrict on
/// "k" + std::to_string(i)).
std::string numbered(std::size_t i) {
  std::string label{"k"};
  label += std::to_string(i);
  return label;
}

std::vector<kp::Limit> roomy() { return {kp::Limit::requests(1'000'000'000).per_day()}; }

template <class Select>
struct Pool {
  kp::clock::Manual clock{monday_8am};
  kp::KeyPool<Select, kp::clock::Manual> pool;
  kp::ProviderId provider;

  explicit Pool(std::size_t capacity) : pool{kp::Capacity{capacity}, clock}, provider{pool.add_provider("groq")} {}

  kp::KeyId key(std::size_t i, std::uint32_t weight, std::vector<kp::Limit> limits = roomy()) {
    return pool.add_key(provider, kp::Secret{"secret-" + numbered(i)}, std::move(limits), {.label = numbered(i), .weight = weight});
  }
  /// Grants per label over n acquires, each committed.
  std::map<std::string, std::int64_t> serve(std::size_t n) {
    std::map<std::string, std::int64_t> served;
    for (std::size_t g = 0; g < n; ++g) {
      auto lease = pool.acquire();
      REQUIRE(lease);
      ++served[std::string{lease.label()}];
      lease.commit();
    }
    return served;
  }
};

/// The first of sums[0 … n) above point: what the guide must agree with.
std::size_t searched(const std::vector<std::uint64_t>& sums, std::uint64_t point, std::size_t n) {
  return static_cast<std::size_t>(std::upper_bound(sums.begin(), sums.begin() + static_cast<std::ptrdiff_t>(n), point) - sums.begin());
}

/// Checks index.key_at against a search for points at every key's edges and at random, for a
/// view of the first n records.
void check_agrees(const kp::detail::WeightIndex& index, const std::vector<std::uint64_t>& sums, std::size_t n, std::mt19937_64& random) {
  const std::uint64_t total = sums[n - 1];
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (const std::uint64_t point : {sums[i] - 1, sums[i]}) {
      if (point >= total) continue;
      wrong += index.key_at(point, n) != searched(sums, point, n);
    }
  }
  for (int r = 0; r < 2'000; ++r) {
    const std::uint64_t point = random() % total;
    wrong += index.key_at(point, n) != searched(sums, point, n);
  }
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("the weight guide finds the key a search over cumulative weights finds, for like and skewed weights", "[compact][weighted]") {
  std::mt19937_64 random{2026};
  SECTION("weights 1 to 4, past the first block") {
    kp::detail::WeightIndex index{100};
    std::vector<std::uint64_t> sums;
    for (std::size_t i = 0; i < 5'000; ++i) {
      const auto weight = static_cast<std::uint32_t>(1 + i % 4);
      index.append(weight);
      sums.push_back((sums.empty() ? 0 : sums.back()) + weight);
      REQUIRE(index.cumulative(i) == sums.back());
    }
    check_agrees(index, sums, sums.size(), random);
    check_agrees(index, sums, 37, random);  // a reader that loaded an earlier count
  }
  SECTION("weights that grow by orders of magnitude (each growth rebuilds the guide)") {
    kp::detail::WeightIndex index{16};
    std::vector<std::uint64_t> sums;
    for (std::size_t i = 0; i < 3'000; ++i) {
      const auto weight = static_cast<std::uint32_t>(std::min<std::uint64_t>(4'294'967'295u, (random() % 7 + 1) << (i / 100)));
      index.append(weight);
      sums.push_back((sums.empty() ? 0 : sums.back()) + weight);
      if (i % 500 == 499) check_agrees(index, sums, sums.size(), random);
    }
    check_agrees(index, sums, 1'234, random);
  }
  SECTION("one key far heavier than thousands of light ones") {
    kp::detail::WeightIndex index{8};
    std::vector<std::uint64_t> sums;
    index.append(4'000'000'000u);
    sums.push_back(4'000'000'000u);
    for (std::size_t i = 1; i < 4'000; ++i) {
      index.append(1);
      sums.push_back(sums.back() + 1);
    }
    check_agrees(index, sums, sums.size(), random);
    // The light keys share the last few thousand units of the axis: each one point of its own.
    for (std::size_t i = 1; i < sums.size(); ++i) REQUIRE(index.key_at(4'000'000'000u + i - 1, sums.size()) == i);
  }
}

TEST_CASE("weighted keeps the exact proportions of mixed weights at 10,000 keys", "[compact][weighted]") {
  Pool<kp::select::Weighted> p{10'000};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < 10'000; ++i) {
    p.key(i, static_cast<std::uint32_t>(1 + i % 4));
    total += 1 + i % 4;
  }
  REQUIRE(total == 25'000);
  // 100,000 grants: 4 per unit of weight, so key i is owed exactly 4 × its weight.
  const auto served = p.serve(100'000);
  std::int64_t worst = 0;
  std::map<std::uint32_t, std::int64_t> by_weight;
  for (std::size_t i = 0; i < 10'000; ++i) {
    const auto weight = static_cast<std::int64_t>(1 + i % 4);
    const auto found = served.find(numbered(i));
    const std::int64_t n = found == served.end() ? 0 : found->second;
    worst = std::max(worst, std::abs(n - 4 * weight));
    by_weight[static_cast<std::uint32_t>(weight)] += n;
  }
  // The low-discrepancy sequence, not chance: every key within 2 grants of its share (a random
  // choice would miss some keys' shares by 10 or more), each weight class within 0.1%.
  CHECK(worst <= 2);
  CHECK(std::abs(by_weight[1] - 10'000) <= 10);
  CHECK(std::abs(by_weight[2] - 20'000) <= 20);
  CHECK(std::abs(by_weight[3] - 30'000) <= 30);
  CHECK(std::abs(by_weight[4] - 40'000) <= 40);
}

TEST_CASE("weighted gives a key added at run time its share, past Capacity and as the weights grow", "[compact][weighted]") {
  Pool<kp::select::Weighted> p{4};
  for (std::size_t i = 0; i < 4; ++i) p.key(i, static_cast<std::uint32_t>(i + 1));
  const auto before = p.serve(10'000);
  CHECK(std::abs(before.at("k3") - 4'000) <= 20);

  SECTION("one key past Capacity") {
    p.key(4, 10);  // total 20: the new key is owed half
    REQUIRE(p.pool.capacity() > 4);
    const auto after = p.serve(20'000);
    CHECK(std::abs(after.at("k4") - 10'000) <= 20);
    CHECK(std::abs(after.at("k0") - 1'000) <= 20);
    CHECK(std::abs(after.at("k3") - 4'000) <= 20);
  }
  SECTION("hundreds of keys, ever heavier (the guide is rebuilt wider)") {
    std::uint64_t total = 10;
    for (std::size_t i = 4; i < 300; ++i) {
      const auto weight = static_cast<std::uint32_t>(i < 200 ? 2 : 1'000);
      p.key(i, weight);
      total += weight;
    }
    REQUIRE(total == 10 + 196 * 2 + 100 * 1'000);
    // 100,402 units: 200,804 grants owe each key exactly 2 × its weight.
    const auto after = p.serve(2 * total);
    std::int64_t worst = 0;
    for (std::size_t i = 0; i < 300; ++i) {
      const std::int64_t weight = i < 4 ? static_cast<std::int64_t>(i + 1) : i < 200 ? 2 : 1'000;
      const auto found = after.find(numbered(i));
      worst = std::max(worst, std::abs((found == after.end() ? 0 : found->second) - 2 * weight));
    }
    CHECK(worst <= 3);
  }
}

TEST_CASE("weighted gives a removed key's share to the key after it", "[compact][weighted]") {
  Pool<kp::select::Weighted> p{8};
  std::vector<kp::KeyId> ids;
  for (std::size_t i = 0; i < 4; ++i) ids.push_back(p.key(i, static_cast<std::uint32_t>(i + 1)));
  p.pool.remove_key(ids[1]);
  const auto served = p.serve(10'000);
  CHECK(served.count("k1") == 0);
  CHECK(std::abs(served.at("k0") - 1'000) <= 20);
  CHECK(std::abs(served.at("k2") - 5'000) <= 20);  // its own 3 tenths and k1's 2
  CHECK(std::abs(served.at("k3") - 4'000) <= 20);
  // Its label added again is a new key at the end, owed its weight's share of the new total.
  p.key(1, 2);
  const auto again = p.serve(12'000);
  CHECK(std::abs(again.at("k1") - 2'000) <= 20);
  CHECK(std::abs(again.at("k2") - 5'000) <= 20);
}

TEST_CASE("weighted keeps a key's share where it was when set_limits replaces its record", "[compact][weighted]") {
  // Before: the replaced record kept its place on the weight axis and refused, so the key after it
  // served that share on top of its own while the successor, appended at the end, got its own too
  // (with 3 keys of weight 1, 10,000 grants went 2,500 / 5,000 / 2,500).
  Pool<kp::select::Weighted> p{4};
  std::vector<kp::KeyId> ids;
  for (std::size_t i = 0; i < 3; ++i) ids.push_back(p.key(i, static_cast<std::uint32_t>(i + 1)));
  p.pool.set_limits(ids[0], {kp::Limit::requests(2'000'000'000).per_day()});  // the same counting: amounts only
  p.pool.set_limits(ids[1], {kp::Limit::requests(1'000'000'000).per_day(), kp::Limit::tokens(1'000'000).per_minute()});  // another layout
  p.pool.set_limits(ids[1], {kp::Limit::requests(1'000'000'000).per_day()});  // and back: a chain of two successors
  const auto served = p.serve(12'000);
  CHECK(std::abs(served.at("k0") - 2'000) <= 20);
  CHECK(std::abs(served.at("k1") - 4'000) <= 20);
  CHECK(std::abs(served.at("k2") - 6'000) <= 20);
}

TEST_CASE("weighted within a tier keeps a replaced key's share too", "[compact][weighted]") {
  kp::clock::Manual clock{monday_8am};
  kp::KeyPool<kp::select::Priority<kp::select::Weighted>, kp::clock::Manual> pool{kp::Capacity{4}, clock};
  const auto groq = pool.add_provider("groq", 0);
  const auto gemini = pool.add_provider("gemini", 1);
  const auto q0 = pool.add_key(groq, kp::Secret{"secret-rq0"}, roomy(), {.label = "q0", .weight = 1});
  pool.add_key(gemini, kp::Secret{"secret-rg0"}, roomy(), {.label = "g0", .weight = 5});
  pool.add_key(groq, kp::Secret{"secret-rq1"}, roomy(), {.label = "q1", .weight = 3});
  pool.set_limits(q0, {kp::Limit::requests(2'000'000'000).per_day()});
  std::map<std::string, int> served;
  for (int i = 0; i < 8'000; ++i) ++served[std::string{pool.acquire().label()}];
  CHECK(served.count("g0") == 0);
  CHECK(std::abs(served["q0"] - 2'000) <= 20);
  CHECK(std::abs(served["q1"] - 6'000) <= 20);
}

TEST_CASE("weighted within a tier keeps the tier's proportions", "[compact][weighted]") {
  kp::clock::Manual clock{monday_8am};
  kp::KeyPool<kp::select::Priority<kp::select::Weighted>, kp::clock::Manual> pool{kp::Capacity{4}, clock};
  const auto groq = pool.add_provider("groq", 0);
  const auto gemini = pool.add_provider("gemini", 1);
  pool.add_key(gemini, kp::Secret{"secret-g0"}, roomy(), {.label = "g0", .weight = 5});
  pool.add_key(groq, kp::Secret{"secret-q0"}, roomy(), {.label = "q0", .weight = 1});
  pool.add_key(gemini, kp::Secret{"secret-g1"}, roomy(), {.label = "g1", .weight = 5});
  pool.add_key(groq, kp::Secret{"secret-q1"}, roomy(), {.label = "q1", .weight = 3});
  pool.add_key(groq, kp::Secret{"secret-q2"}, roomy(), {.label = "q2", .weight = 4});  // past Capacity
  std::map<std::string, int> served;
  for (int i = 0; i < 8'000; ++i) ++served[std::string{pool.acquire().label()}];
  CHECK(served.count("g0") + served.count("g1") == 0);
  CHECK(std::abs(served["q0"] - 1'000) <= 20);
  CHECK(std::abs(served["q1"] - 3'000) <= 20);
  CHECK(std::abs(served["q2"] - 4'000) <= 20);
}

TEST_CASE("weighted serves 4 threads while keys are added past Capacity", "[compact][weighted][threads]") {
  Pool<kp::select::Weighted> p{8};
  for (std::size_t i = 0; i < 4; ++i) p.key(i, 1);
  constexpr std::size_t added = 200;
  std::atomic<bool> adding{true};
  std::atomic<std::int64_t> refused{0};
  std::vector<std::map<std::string, std::int64_t>> per_thread(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // At least 2,000 grants each, and on until every key has been added.
      for (int n = 0; n < 2'000 || adding.load(std::memory_order_acquire); ++n) {
        auto lease = p.pool.acquire();
        if (!lease) {
          refused.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        ++per_thread[static_cast<std::size_t>(t)][std::string{lease.label()}];
        lease.commit();
      }
    });
  }
  for (std::size_t i = 4; i < 4 + added; ++i) p.key(i, static_cast<std::uint32_t>(1 + i % 3));
  adding.store(false, std::memory_order_release);
  for (auto& thread : threads) thread.join();
  CHECK(refused.load() == 0);
  std::map<std::string, std::int64_t> served;
  for (const auto& counts : per_thread)
    for (const auto& [label, n] : counts) served[label] += n;
  for (const auto& [label, n] : served) REQUIRE(label.front() == 'k');
  // After the additions, the pool as a whole keeps the proportions: 3 grants per unit of weight.
  std::uint64_t total = 4;
  for (std::size_t i = 4; i < 4 + added; ++i) total += 1 + i % 3;
  const auto after = p.serve(3 * total);
  std::int64_t worst = 0;
  for (std::size_t i = 0; i < 4 + added; ++i) {
    const std::int64_t weight = i < 4 ? 1 : static_cast<std::int64_t>(1 + i % 3);
    const auto found = after.find(numbered(i));
    worst = std::max(worst, std::abs((found == after.end() ? 0 : found->second) - 3 * weight));
  }
  CHECK(worst <= 2);
}

TEST_CASE("two choices tries the better of its two keys first, its headroom discounted by failures", "[compact][two_choices]") {
  Pool<kp::select::TwoChoices> p{2};
  p.key(0, 1, {kp::Limit::requests(100).per_day()});
  for (int i = 0; i < 49; ++i) p.pool.acquire().commit();  // k0 alone: 49 of 100 used, headroom 0.51
  p.key(1, 1, {kp::Limit::requests(100).per_day()});
  auto first = p.pool.acquire();  // k1, untouched, scores 1
  REQUIRE(first.label() == "k1");
  first.fail(kp::Outcome::transient());
  // k1 now scores at most 1 / (1 + 1 failure) = 0.5, below k0's 0.51: k0 first, for either draw
  // of the pair. Undiscounted, k1 (at least 0.99) would win.
  for (int i = 0; i < 4; ++i) {
    auto lease = p.pool.acquire();
    REQUIRE(lease.label() == "k0");
    lease.cancel();  // usage unchanged: the same comparison each time
  }
}
