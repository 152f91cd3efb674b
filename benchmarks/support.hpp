// What the hot-path benchmarks share: limits that never refuse, key secrets, and the
// acquire-then-commit body of BM_AcquireCommit and its variants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <keypool/keypool.hpp>

namespace keypool_bench {

namespace kp = keypool;

/// The largest amount a window of `unit` may count (see detail::max_window_amount): limits this
/// high admit every request of a run, so the benchmark measures admission, never refusal.
constexpr std::uint64_t roomy(kp::detail::WindowUnit unit) { return kp::detail::max_window_amount(unit); }

/// The seeds' three limits (requests per minute, requests per day, tokens per minute), each set
/// near its counter's maximum: 2^34 per minute, 2^44 per day. A run of ~10^9 requests of 100
/// tokens over 10 keys stays far below them even when it spans a window boundary.
inline std::vector<kp::Limit> roomy_limits() {
  return {kp::Limit::requests(roomy(kp::detail::WindowUnit::minute)).per_minute(),
          kp::Limit::requests(roomy(kp::detail::WindowUnit::day)).per_day(),
          kp::Limit::tokens(roomy(kp::detail::WindowUnit::minute)).per_minute()};
}

/// A distinct Groq-style secret per key ("gsk_" and 52 characters).
inline std::string secret_for(std::size_t i) {
  std::string index = std::to_string(i);
  return "gsk_live_" + std::string(47 - index.size(), 'x') + index;
}

/// The per-iteration body of the admitted benchmarks: acquire 100 estimated tokens, commit 100
/// actual. Thread 0 first forgets the usage earlier runs left in a shared pool (the other threads
/// wait at the loop's start), so every run starts with empty windows, far below the limits and
/// their alert thresholds.
template <class Pool>
void run_acquire_commit(benchmark::State& state, Pool& pool) {
  if (state.thread_index() == 0) pool.reset_all();
  for (auto _ : state) {
    auto lease = pool.acquire({.tokens = 100});
    if (!lease) {
      state.SkipWithError("a request was refused: the limits must admit every request of the run");
      break;
    }
    lease.commit({.tokens = 100});
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace keypool_bench
