// keypool's hot path: one request through acquire and commit, on pools of 10 and 10,000 keys,
// on one and two threads; and the refusal path when every key is full.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include <keypool/keypool.hpp>

#include "support.hpp"

namespace {

namespace kp = keypool;
using keypool_bench::roomy;
using keypool_bench::roomy_limits;
using keypool_bench::run_acquire_commit;
using keypool_bench::secret_for;

using DefaultPool = kp::KeyPool<>;                    // RoundRobin, Memory, Null alerts, Coarse clock
using ManualPool = kp::KeyPool<kp::clock::Manual>;    // the same with a clock that never moves
using TickerPool = kp::KeyPool<kp::clock::Ticker>;    // the same with a clock sampled by a thread

template <class Pool, class... PolicyArgs>
std::unique_ptr<Pool> build_pool(std::size_t keys, const std::vector<kp::Limit>& limits, PolicyArgs&&... policies) {
  auto pool = std::make_unique<Pool>(kp::Capacity{keys}, std::forward<PolicyArgs>(policies)...);
  const kp::ProviderId provider = pool->add_provider("bench");
  for (std::size_t i = 0; i < keys; ++i)
    pool->add_key(provider, kp::Secret{secret_for(i)}, limits, {.label = "key-" + std::to_string(i)});
  return pool;
}

/// One pool per (kind, key count), built on first use and shared by every benchmark thread and
/// every run (building 10,000 keys takes a while; the roomy limits never fill up).
template <class Pool, class Factory>
Pool& shared_pool(const char* kind, std::size_t keys, Factory&& factory) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::size_t>, std::unique_ptr<Pool>> pools;
  std::lock_guard lock{mutex};
  std::unique_ptr<Pool>& pool = pools[{kind, keys}];
  if (!pool) pool = factory(keys);
  return *pool;
}

DefaultPool& roomy_pool(std::size_t keys) {
  return shared_pool<DefaultPool>("roomy", keys, [](std::size_t n) { return build_pool<DefaultPool>(n, roomy_limits()); });
}

}  // namespace

// The hot path as a user writes it: acquire 100 estimated tokens, commit 100 actual tokens.
// Default policies (RoundRobin, Memory, Null alerts, Coarse clock); every key has the seeds' three
// limits (requests/minute, requests/day, tokens/minute) set out of reach, so every request is
// admitted: one clock read, three CAS (one per limit), a commit that writes nothing. Threads(2)
// share one pool; with UseRealTime, Time is wall time per request of the two threads together.
static void BM_AcquireCommit(benchmark::State& state) {
  run_acquire_commit(state, roomy_pool(static_cast<std::size_t>(state.range(0))));
}
BENCHMARK(BM_AcquireCommit)->ArgName("keys")->Arg(10)->Arg(10'000);
BENCHMARK(BM_AcquireCommit)->ArgName("keys")->Arg(10)->Arg(10'000)->Threads(2)->UseRealTime();

// The same with clock::Manual (time read from one shared atomic, never moved): the hot path
// without the cost of reading the system clock.
static void BM_AcquireCommit_ManualClock(benchmark::State& state) {
  ManualPool& pool = shared_pool<ManualPool>("manual", static_cast<std::size_t>(state.range(0)), [](std::size_t n) {
    const auto now = std::chrono::time_point_cast<kp::Duration>(std::chrono::system_clock::now());
    return build_pool<ManualPool>(n, roomy_limits(), kp::clock::Manual{now});
  });
  run_acquire_commit(state, pool);
}
BENCHMARK(BM_AcquireCommit_ManualClock)->ArgName("keys")->Arg(10);
BENCHMARK(BM_AcquireCommit_ManualClock)->ArgName("keys")->Arg(10)->Threads(2)->UseRealTime();

// The same with clock::Ticker (a thread samples the wall clock every millisecond into one word):
// the hot path with a clock read that costs one load, the cheapest a real clock can be.
static void BM_AcquireCommit_TickerClock(benchmark::State& state) {
  TickerPool& pool = shared_pool<TickerPool>("ticker", static_cast<std::size_t>(state.range(0)), [](std::size_t n) {
    return build_pool<TickerPool>(n, roomy_limits());
  });
  run_acquire_commit(state, pool);
}
BENCHMARK(BM_AcquireCommit_TickerClock)->ArgName("keys")->Arg(10);
BENCHMARK(BM_AcquireCommit_TickerClock)->ArgName("keys")->Arg(10)->Threads(2)->UseRealTime();

// One limit per key (tokens per minute) instead of three: one CAS per request. The difference to
// BM_AcquireCommit is the cost of the two extra limits.
static void BM_AcquireCommit_1Limit(benchmark::State& state) {
  DefaultPool& pool = shared_pool<DefaultPool>("one-limit", static_cast<std::size_t>(state.range(0)), [](std::size_t n) {
    return build_pool<DefaultPool>(n, {kp::Limit::tokens(roomy(kp::detail::WindowUnit::minute)).per_minute()});
  });
  run_acquire_commit(state, pool);
}
BENCHMARK(BM_AcquireCommit_1Limit)->ArgName("keys")->Arg(10);

// Per-model limits: every key serves two models, and the seeds' three limits are the model's
// (KeyOptions::models) instead of the key's; each request names one model. What a request naming
// a model costs beside BM_AcquireCommit/keys:10 (which pays one load and compare for it: a key
// without models or group skips it all).
static void BM_AcquireCommit_PerModel(benchmark::State& state) {
  DefaultPool& pool = shared_pool<DefaultPool>("per-model", static_cast<std::size_t>(state.range(0)), [](std::size_t n) {
    auto pool = std::make_unique<DefaultPool>(kp::Capacity{.keys = n, .meters = 2 * n});
    const kp::ProviderId provider = pool->add_provider("bench");
    for (std::size_t i = 0; i < n; ++i)
      pool->add_key(provider, kp::Secret{secret_for(i)}, {},
                    {.label = "key-" + std::to_string(i), .models = {{"llama-70b", roomy_limits()}, {"llama-8b", roomy_limits()}}});
    return pool;
  });
  if (state.thread_index() == 0) pool.reset_all();
  const kp::ModelId model = pool.model("llama-8b");
  for (auto _ : state) {
    auto lease = pool.acquire({.tokens = 100, .model = model});
    if (!lease) {
      state.SkipWithError("a request was refused: the limits must admit every request of the run");
      break;
    }
    lease.commit({.tokens = 100});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AcquireCommit_PerModel)->ArgName("keys")->Arg(10);

// Two threads on a pool of ONE key: every CAS of both threads lands on the same cache lines. The
// worst case the round-robin spreading avoids; compare with BM_AcquireCommit/keys:10/threads:2.
static void BM_AcquireCommit_OneKey(benchmark::State& state) {
  run_acquire_commit(state, roomy_pool(1));
}
BENCHMARK(BM_AcquireCommit_OneKey)->Threads(2)->UseRealTime();

// Refusal when every key is full: each of the keys is tried (health gate, then the first limit's
// word shows it full: loads only, no write) and asked how long until it could serve. Limits are
// the seed's (1,500 requests/day first, then 15 requests/minute and 1,000,000 tokens/minute), every
// key marked exhausted for the day by Outcome::quota_exhausted. If the run crosses midnight UTC
// the keys reopen; a request admitted then is failed again as exhausted and counted in "admitted".
static void BM_Acquire_Refused_Full(benchmark::State& state) {
  DefaultPool& pool = shared_pool<DefaultPool>("full", static_cast<std::size_t>(state.range(0)), [](std::size_t n) {
    return build_pool<DefaultPool>(n, {kp::Limit::requests(1'500).per_day(), kp::Limit::requests(15).per_minute(),
                                       kp::Limit::tokens(1'000'000).per_minute()});
  });
  const auto exhaust_every_key = [&pool] {
    for (std::size_t i = 0; i < pool.key_count(); ++i) {
      auto lease = pool.acquire({.tokens = 100});
      if (lease) lease.fail(kp::Outcome::quota_exhausted(kp::Metric::requests));
    }
  };
  if (state.thread_index() == 0) exhaust_every_key();  // the other threads wait at the loop's start
  std::int64_t admitted = 0;
  for (auto _ : state) {
    auto lease = pool.acquire({.tokens = 100});
    if (lease) {  // a new day began: fill the key again
      ++admitted;
      lease.fail(kp::Outcome::quota_exhausted(kp::Metric::requests));
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["admitted"] = static_cast<double>(admitted);
}
BENCHMARK(BM_Acquire_Refused_Full)->ArgName("keys")->Arg(10);
BENCHMARK(BM_Acquire_Refused_Full)->ArgName("keys")->Arg(10)->Threads(2)->UseRealTime();
