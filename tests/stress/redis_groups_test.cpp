// Stress: a group's limit shared by a fleet through one real redis-server. Each instance (a real
// process) has its own key of the group; together they are admitted exactly the group's limit.
#include <catch2/catch.hpp>


#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>
#include <keypool/store/redis.hpp>

#include "support/redis_server.hpp"
#include "support/stress.hpp"

namespace kp = keypool;
using namespace std::chrono_literals;

TEST_CASE("Redis fleet: instances with their own keys of one group admit exactly the group's limit", "[stress][redis][groups]") {
  using Pool = kp::KeyPool<kp::store::Redis, kp::clock::Manual>;
  const kp::TimePoint noon{std::chrono::sys_days{std::chrono::year{2026} / 11 / 30} + std::chrono::hours{12}};
  constexpr std::uint64_t limit = 3'000;
  constexpr int processes = 3;
  RedisServer server;
  const ProcessRun run = run_processes(processes, [&](int p, ProcessCounts& counts) {
    kp::store::Redis::Options options;
    options.port = server.port();
    options.pool = "groups";
    options.timeout = 500ms;
    kp::clock::Manual clock{noon};
    Pool pool{kp::store::Redis{options}, clock};
    const auto groq = pool.add_provider("groq");
    const auto org = pool.add_group(groq, "org", {kp::Limit::requests(limit).per_day()},
                                    {{"big", {kp::Limit::requests(limit / 3).per_day()}}, {"small", {}}});
    pool.add_key(groq, secret_for(static_cast<std::size_t>(p)), {kp::Limit::requests(limit).per_day()},
                 {.label = label_for(static_cast<std::size_t>(p)), .models = {{"big"}, {"small"}}, .group = org});
    const kp::ModelId models[] = {pool.model("big"), pool.model("small")};
    counts.arrive_and_wait();
    run_threads(2, [&](int t) {
      int refusals = 0;
      for (std::uint64_t i = 0; refusals < 5; ++i) {
        kp::Lease lease = pool.acquire({.model = models[(i + static_cast<std::uint64_t>(t)) % 2]}, clock.now());
        if (lease) {
          counts.admitted[p].fetch_add(1);
          refusals = 0;
        } else {
          ++refusals;
          std::this_thread::sleep_for(20ms);
        }
      }
    });
  });
  CHECK(run.all_succeeded);
  CHECK(run.admitted == limit);
}
