// Stress: a group's limit shared by a fleet through one real redis-server. Each instance (a real
// process) has its own key of the group; together they are admitted exactly the group's limit.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
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
  struct Shared {
    std::atomic<std::uint64_t> admitted[processes];
    std::atomic<int> ready;
    std::atomic<int> go;
  };
  void* memory = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(memory != MAP_FAILED);
  Shared* shared = new (memory) Shared{};
  std::vector<pid_t> pids;
  for (int p = 0; p < processes; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
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
        shared->ready.fetch_add(1);
        while (shared->go.load() == 0) std::this_thread::sleep_for(1ms);
        run_threads(2, [&](int t) {
          int refusals = 0;
          for (std::uint64_t i = 0; refusals < 5; ++i) {
            kp::Lease lease = pool.acquire({.model = models[(i + static_cast<std::uint64_t>(t)) % 2]}, clock.now());
            if (lease) {
              shared->admitted[p].fetch_add(1);
              refusals = 0;
            } else {
              ++refusals;
              std::this_thread::sleep_for(20ms);
            }
          }
        });
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    pids.push_back(pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (shared->ready.load() < processes && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  shared->go.store(1);
  for (const pid_t pid : pids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  std::uint64_t total = 0;
  for (int p = 0; p < processes; ++p) total += shared->admitted[p].load();
  CHECK(total == limit);
  munmap(memory, sizeof(Shared));
}
