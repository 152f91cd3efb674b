// store::Redis in steady state against the usual way of sharing a quota through Redis (one atomic
// script per request), and against the memory store, in one run, on one local redis-server that
// the benchmark starts on a free loopback port (KEYPOOL_REDIS_SERVER names the binary).
//
//   BM_AcquireCommit_Redis/keys:10      leases, spent on the lock-free hot path; counters report
//                                       the Redis commands and round trips per 1,000 requests
//   BM_Baseline_RedisPerRequest/keys:10 one EVALSHA (INCRBY, check, undo) per request, round robin
//   BM_AcquireCommit_RedisTwinMemory    the same pool over store::Memory
#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include <keypool/keypool.hpp>
#include <keypool/store/redis.hpp>

#include "../tests/support/redis_server.hpp"
#include "support.hpp"

namespace {

namespace kp = keypool;
using keypool_bench::roomy_limits;
using keypool_bench::run_acquire_commit;
using keypool_bench::secret_for;

using RedisPool = kp::KeyPool<kp::store::Redis>;  // RoundRobin, Null alerts, Coarse clock
using MemoryPool = kp::KeyPool<>;

RedisServer& server() {
  static RedisServer instance;  // constructed before, destroyed after, the pools below
  return instance;
}

template <class Pool>
void add_keys(Pool& pool, std::size_t keys) {
  const kp::ProviderId provider = pool.add_provider("bench");
  for (std::size_t i = 0; i < keys; ++i)
    pool.add_key(provider, kp::Secret{secret_for(i)}, roomy_limits(), {.label = "key-" + std::to_string(i)});
}

std::unique_ptr<RedisPool> redis_pool(std::size_t keys) {
  kp::store::Redis::Options options;
  options.port = server().port();
  options.pool = "bench";
  auto pool = std::make_unique<RedisPool>(kp::Capacity{keys}, kp::store::Redis{options});
  add_keys(*pool, keys);
  return pool;
}

}  // namespace

// Steady state: after the first leases, every request is served from what is in hand; the
// background thread tops leases up (a few commands per second). The counters say how many Redis
// commands and round trips this run's requests cost, per 1,000 requests.
// The body is run_acquire_commit's (reset_all, then acquire and commit), but a refusal says what
// the store saw, since the usual cause is outside keypool: a round trip slower than the store's
// timeout (50 ms; redis-server starved of CPU on a loaded machine) counts as an outage, and with
// OnOutage::refuse the requests beyond the leases in hand are refused until it reconnects.
static void BM_AcquireCommit_Redis(benchmark::State& state) {
  static const std::unique_ptr<RedisPool> pool = redis_pool(static_cast<std::size_t>(state.range(0)));  // one Arg only
  const kp::store::Redis::Stats before = pool->storage().stats();
  pool->reset_all();
  for (auto _ : state) {
    auto lease = pool->acquire({.tokens = 100});
    if (!lease) {
      const kp::store::Redis::Stats now = pool->storage().stats();
      const std::string why = "a request was refused (" + std::string{kp::to_string(lease.refusal().reason)} +
                              "): the limits must admit every request of the run; this run saw " +
                              std::to_string(now.outages - before.outages) + " Redis outages (a round trip over " +
                              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(pool->storage().options().timeout).count()) +
                              " ms) and " + std::to_string(now.sync_round_trips - before.sync_round_trips) +
                              " round trips of refused acquires";
      state.SkipWithError(why.c_str());
      break;
    }
    lease.commit({.tokens = 100});
  }
  state.SetItemsProcessed(state.iterations());
  const kp::store::Redis::Stats after = pool->storage().stats();
  const double requests = static_cast<double>(state.iterations());
  state.counters["redis_cmds_per_1k"] = 1000.0 * static_cast<double>(after.commands - before.commands) / requests;
  state.counters["round_trips_per_1k"] = 1000.0 * static_cast<double>(after.round_trips - before.round_trips) / requests;
}
BENCHMARK(BM_AcquireCommit_Redis)->ArgName("keys")->Arg(10);

// The memory-store twin, measured in the same run for the ratio.
static void BM_AcquireCommit_RedisTwinMemory(benchmark::State& state) {
  static const std::unique_ptr<MemoryPool> pool = [] {
    auto p = std::make_unique<MemoryPool>(kp::Capacity{10});
    add_keys(*p, 10);
    return p;
  }();
  run_acquire_commit(state, *pool);
}
BENCHMARK(BM_AcquireCommit_RedisTwinMemory)->ArgName("keys")->Arg(10);

// The usual approach: every request runs one atomic script in Redis (add, compare with the limit,
// undo when over), round robin over the keys: one network round trip per request.
static void BM_Baseline_RedisPerRequest(benchmark::State& state) {
  static constexpr const char* script = R"LUA(
local used = redis.call('INCRBY', KEYS[1], ARGV[1])
if used > tonumber(ARGV[2]) then
  redis.call('DECRBY', KEYS[1], ARGV[1])
  return 0
end
if used == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], 86400) end
return 1
)LUA";
  const timeval tv{1, 0};
  redisContext* ctx = redisConnectWithTimeout("127.0.0.1", server().port(), tv);
  if (ctx == nullptr || ctx->err != 0) {
    state.SkipWithError("cannot connect to the benchmark's redis-server");
    if (ctx != nullptr) redisFree(ctx);
    return;
  }
  auto* loaded = static_cast<redisReply*>(redisCommand(ctx, "SCRIPT LOAD %s", script));
  const std::string sha = loaded != nullptr && loaded->type == REDIS_REPLY_STRING ? std::string(loaded->str, loaded->len) : "";
  if (loaded != nullptr) freeReplyObject(loaded);
  const std::size_t keys = static_cast<std::size_t>(state.range(0));
  std::size_t next = 0;
  const std::string limit = std::to_string(std::uint64_t{1} << 50);
  for (auto _ : state) {
    const std::string key = "baseline:key-" + std::to_string(next);
    next = next + 1 == keys ? 0 : next + 1;
    auto* reply = static_cast<redisReply*>(redisCommand(ctx, "EVALSHA %s 1 %s 1 %s", sha.c_str(), key.c_str(), limit.c_str()));
    if (reply == nullptr || reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
      state.SkipWithError("the baseline script refused or failed");
      if (reply != nullptr) freeReplyObject(reply);
      break;
    }
    freeReplyObject(reply);
  }
  state.SetItemsProcessed(state.iterations());
  redisFree(ctx);
}
BENCHMARK(BM_Baseline_RedisPerRequest)->ArgName("keys")->Arg(10);
