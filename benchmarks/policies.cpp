// Each selection policy on the hot path: acquire + commit of one request of 100 tokens, keys × 3
// roomy limits, one thread, on 10, 100, 1,000, 10,000 and 100,000 keys: how a policy's cost grows
// with the pool
// (benchmarks/plot/plot_policies.js draws it: `make bench-plot`). Compare with BM_AcquireCommit
// (RoundRobin) of the same run.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <keypool/keypool.hpp>

#include "support.hpp"

namespace {

namespace kp = keypool;

/// A pool of `keys` keys over three providers in tiers 0, 1, 2 (a third each), weights 1–4.
template <class Select>
std::unique_ptr<kp::KeyPool<Select>> make_policy_pool(std::size_t keys) {
  auto pool = std::make_unique<kp::KeyPool<Select>>(kp::Capacity{keys});
  const kp::ProviderId providers[] = {pool->add_provider("groq", 0), pool->add_provider("gemini", 1),
                                      pool->add_provider("mistral", 2)};
  for (std::size_t i = 0; i < keys; ++i)
    pool->add_key(providers[i * 3 / keys], kp::Secret{"secret-for-policy-bench-" + std::to_string(i)}, keypool_bench::roomy_limits(),
                  {.label = "key-" + std::to_string(i), .weight = static_cast<std::uint32_t>(1 + i % 4)});
  return pool;
}

/// The pool sizes of the sweep: decades, so the plot's log axis spaces them evenly.
constexpr std::array<std::int64_t, 5> swept_keys{10, 100, 1'000, 10'000, 100'000};

void sweep_keys(benchmark::internal::Benchmark* bench) {
  bench->ArgName("keys");
  for (const std::int64_t keys : swept_keys) bench->Arg(keys);
}

/// The sweep's position of a pool size, or swept_keys.size() for a size it does not have.
constexpr std::size_t sweep_index(std::int64_t keys) {
  return static_cast<std::size_t>(std::find(swept_keys.begin(), swept_keys.end(), keys) - swept_keys.begin());
}

// One pool per policy and size, built by the first run of that size and kept for the runs that
// follow (Google Benchmark calls the function again for each iteration count it tries, and for
// each repetition): 100,000 keys take a while to add. Each run starts from empty windows.
// A policy that scans every key costs O(keys) per request; Google Benchmark runs it for fewer
// iterations rather than for longer, so the sweep stays affordable (the limits admit every run).
template <class Select>
void BM_Select(benchmark::State& state) {
  static std::array<std::unique_ptr<kp::KeyPool<Select>>, swept_keys.size()> pools;
  const std::size_t at = sweep_index(state.range(0));
  if (at == swept_keys.size()) {
    state.SkipWithError("keys must be one of swept_keys: one pool is kept per size");
    return;
  }
  const std::size_t keys = static_cast<std::size_t>(state.range(0));
  auto& pool = pools[at];
  if (state.thread_index() == 0) {
    if (!pool) pool = make_policy_pool<Select>(keys);
    pool->reset_all();
  }
  std::uint64_t affinity = 1;
  for (auto _ : state) {
    auto lease = pool->acquire({.tokens = 100, .affinity = affinity++ & 1023});
    if (!lease) {
      state.SkipWithError("refused: the limits must admit every request of the run");
      break;
    }
    lease.commit({.tokens = 100});
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Select, kp::select::RoundRobin)->Apply(sweep_keys);
BENCHMARK_TEMPLATE(BM_Select, kp::select::Priority<>)->Apply(sweep_keys);
BENCHMARK_TEMPLATE(BM_Select, kp::select::Weighted)->Apply(sweep_keys);
BENCHMARK_TEMPLATE(BM_Select, kp::select::TwoChoices)->Apply(sweep_keys);
BENCHMARK_TEMPLATE(BM_Select, kp::select::Sticky<>)->Apply(sweep_keys);
BENCHMARK_TEMPLATE(BM_Select, kp::select::Score)->Apply(sweep_keys);
BENCHMARK_TEMPLATE(BM_Select, kp::select::ShortestWait)->Apply(sweep_keys);

namespace {

/// RoundRobin with runs of 8 (RoundRobin::Options::run): the same pool and body as
/// BM_AcquireCommit/keys:10, so the two compare directly, at one and two threads.
void BM_AcquireCommit_RoundRobinRun8(benchmark::State& state) {
  using Pool = kp::KeyPool<kp::select::RoundRobin>;
  static const std::unique_ptr<Pool> pool = [] {  // built once, before any thread uses it
    auto built = std::make_unique<Pool>(kp::Capacity{10}, kp::select::RoundRobin{{.run = 8, .adaptive = false}});
    const auto provider = built->add_provider("bench");
    for (int i = 0; i < 10; ++i)
      built->add_key(provider, kp::Secret{"secret-for-run8-bench-" + std::to_string(i)}, keypool_bench::roomy_limits(),
                     {.label = "key-" + std::to_string(i)});
    return built;
  }();
  keypool_bench::run_acquire_commit(state, *pool);
}

}  // namespace

BENCHMARK(BM_AcquireCommit_RoundRobinRun8)->ArgName("keys")->Arg(10);
BENCHMARK(BM_AcquireCommit_RoundRobinRun8)->ArgName("keys")->Arg(10)->Threads(2)->UseRealTime();
