// Rolling limits on the hot path: accounting::Gcra's reserve on its own — exact with a unit of
// whole ns (one 8-byte CAS), exact with a fraction of a ns (one 16-byte CAS), and the GCRA keypool
// had before, with the interval rounded up (copied here as the baseline) — and one request
// through acquire and commit on a pool whose only limit is rolling.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include <keypool/accounting/local.hpp>
#include <keypool/keypool.hpp>

#include "support.hpp"

namespace {

namespace kp = keypool;
namespace acc = keypool::accounting;
using keypool_bench::run_acquire_commit;
using keypool_bench::secret_for;

// 10^12 units per 10^4 s: 10 ns a unit exactly (den 1). One unit less than that is 10^13 ns per
// 999,999,999,999 units, irreducible: every TAT carries a fraction of a ns.
const kp::Limit whole_ns_unit = kp::Limit::tokens(1'000'000'000'000).per(std::chrono::seconds{10'000});
const kp::Limit fractional_unit = kp::Limit::tokens(999'999'999'999).per(std::chrono::seconds{10'000});

/// The GCRA before rolling limits were exact: the emission interval rounded up to whole ns.
acc::Admission rounded_reserve(std::uint64_t interval_ns, std::uint64_t amount_limit, kp::KeySlot::Counter& counter,
                               std::uint64_t amount, std::uint64_t burst, std::uint64_t now_ns, acc::Reserved& out) noexcept {
  if (amount > amount_limit) return acc::Admission::too_large;
  const std::uint64_t increment = amount * interval_ns;
  if (increment > burst) return acc::Admission::too_large;
  auto state = kp::detail::word(counter.state);
  std::uint64_t tat = state.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t next = std::max(tat, now_ns) + increment;
    if (next - now_ns > burst) return acc::Admission::over_cap;
    if (state.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
      out.epoch = next;
      return acc::Admission::granted;
    }
  }
}

/// A reserve of 1 unit on one counter whose clock moves 10 ns a call, so the bucket never fills.
template <class Reserve>
void run_reserve(benchmark::State& state, Reserve&& reserve) {
  kp::KeySlot::Counter counter{0, 0};
  std::uint64_t now = static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  for (auto _ : state) {
    acc::Reserved out;
    if (reserve(counter, now, out) != acc::Admission::granted) {
      state.SkipWithError("a reserve was refused: the rate must admit every call of the run");
      break;
    }
    benchmark::DoNotOptimize(out);
    now += 10;
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

static void BM_GcraReserve_Rounded(benchmark::State& state) {
  const kp::detail::LimitPlan plan{fractional_unit, kp::Thresholds{}};
  run_reserve(state, [&](kp::KeySlot::Counter& counter, std::uint64_t now, acc::Reserved& out) {
    return rounded_reserve(plan.interval_ns, plan.amount, counter, 1, plan.amount * plan.interval_ns, now, out);
  });
}
BENCHMARK(BM_GcraReserve_Rounded);

static void BM_GcraReserve_Exact(benchmark::State& state) {
  // Without detail::exact_rolling both rates have whole ns per unit (the interval rounded up).
  const kp::detail::LimitPlan plan{state.range(0) == 1 ? whole_ns_unit : fractional_unit, kp::Thresholds{}};
  run_reserve(state, [&](kp::KeySlot::Counter& counter, std::uint64_t now, acc::Reserved& out) {
    return acc::Gcra::reserve(plan, counter, 1, plan.cap[2], now, out);
  });
}
BENCHMARK(BM_GcraReserve_Exact)->ArgName("whole_ns")->Arg(1)->Arg(0);

// The hot path of benchmarks/acquire_commit.cpp (acquire 100 tokens, commit 100) on 10 keys whose
// one limit is rolling, beside BM_AcquireCommit_1Limit (one calendar limit) in the same run.
static void BM_AcquireCommit_Rolling(benchmark::State& state) {
  using Pool = kp::KeyPool<>;
  static std::unique_ptr<Pool> pools[2];
  std::unique_ptr<Pool>& pool = pools[state.range(0)];
  if (state.thread_index() == 0 && !pool) {
    pool = std::make_unique<Pool>(kp::Capacity{10});
    const kp::ProviderId provider = pool->add_provider("bench");
    for (std::size_t i = 0; i < 10; ++i)
      pool->add_key(provider, kp::Secret{secret_for(i)}, {state.range(0) == 1 ? whole_ns_unit : fractional_unit},
                    {.label = "key-" + std::to_string(i)});
  }
  run_acquire_commit(state, *pool);
}
BENCHMARK(BM_AcquireCommit_Rolling)->ArgName("whole_ns")->Arg(1)->Arg(0);
