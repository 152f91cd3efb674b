// Reference points for the other benchmarks: the physical cost of one atomic write, and of one
// read of the clock the pool uses by default. keypool's numbers are read as ratios to these.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <benchmark/benchmark.h>

#include <keypool/clock/coarse.hpp>

namespace {

// One counter per thread, each on its own 128-byte block: a cache line, plus the neighbouring
// line that some CPUs prefetch in pairs, so two threads never touch one line.
struct alignas(128) PaddedCounter {
  std::atomic<std::uint64_t> value{0};
};
constexpr std::size_t max_threads = 64;
PaddedCounter per_thread_counters[max_threads];

// A single counter every thread writes: what a shared round-robin cursor or a shared pool-wide
// counter would cost (the design forbids such a word on the hot path).
PaddedCounter shared_counter;

}  // namespace

// The unit of one atomic write: a relaxed fetch_add on a cache-line-aligned std::atomic<uint64_t>
// (a `lock xadd` on x86-64). With Threads(2) every thread increments its OWN counter (no line is
// shared), so the 2-thread figure is the uncontended cost with both cores busy: the ideal that a
// lock-free structure whose threads touch disjoint lines can reach.
static void BM_Reference_FetchAdd(benchmark::State& state) {
  std::atomic<std::uint64_t>& counter = per_thread_counters[static_cast<std::size_t>(state.thread_index()) % max_threads].value;
  for (auto _ : state) {
    benchmark::DoNotOptimize(counter.fetch_add(1, std::memory_order_relaxed));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reference_FetchAdd);
BENCHMARK(BM_Reference_FetchAdd)->Threads(2)->UseRealTime();

// The same fetch_add on ONE counter shared by every thread: the cache line bounces between the
// cores on each write. What a word written by every acquire would cost.
static void BM_Reference_FetchAdd_Shared(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(shared_counter.value.fetch_add(1, std::memory_order_relaxed));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reference_FetchAdd_Shared)->Threads(2)->UseRealTime();

// The floor of an acquire on a key with three limits: one clock::Coarse read, then on each of
// three words of a thread-owned cache line a load and a compare-and-swap that adds to it. Any
// design that keeps one word per limit and reads the clock pays at least this; keypool's hot path
// is this plus the bookkeeping around it (key choice, window checks, the lease).
static void BM_Reference_Floor_Clock3CAS(benchmark::State& state) {
  struct alignas(128) ThreeWords {
    std::atomic<std::uint64_t> words[3]{};
  };
  static ThreeWords per_thread[max_threads];
  ThreeWords& mine = per_thread[static_cast<std::size_t>(state.thread_index()) % max_threads];
  const keypool::clock::Coarse clock;
  for (auto _ : state) {
    benchmark::DoNotOptimize(clock.now());
    for (std::atomic<std::uint64_t>& word : mine.words) {
      std::uint64_t seen = word.load(std::memory_order_relaxed);
      while (!word.compare_exchange_weak(seen, seen + 100, std::memory_order_relaxed)) {
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reference_Floor_Clock3CAS);
BENCHMARK(BM_Reference_Floor_Clock3CAS)->Threads(2)->UseRealTime();

// One read of keypool::clock::Coarse (CLOCK_REALTIME_COARSE through the vDSO): every acquire with
// the default clock pays this once.
static void BM_Reference_ClockCoarse(benchmark::State& state) {
  const keypool::clock::Coarse clock;
  for (auto _ : state) {
    benchmark::DoNotOptimize(clock.now());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reference_ClockCoarse);

namespace {

// The smallest pool that does keypool's work: 10 keys, each with three calendar-window words
// (epoch in the high bits, usage in the low ones) and the cached end of each word's window; one
// clock::Coarse read per request, round robin over the keys, every limit checked and reserved with
// a CAS (rolled back when a later one refuses), a commit at the estimate that writes nothing. No
// lease object, no policies, no priorities, health gate, models, events or refusal answer. The
// distance from BM_Reference_Floor_Clock3CAS to this is the floor's bookkeeping; from this to
// BM_AcquireCommit/keys:10 is what keypool's generality costs (docs/performance.md).
struct alignas(128) MinimalKey {
  std::atomic<std::uint64_t> word[3]{};
  std::int64_t window_end[3]{};  // seconds; written before the run, read-only in it
};
constexpr unsigned minimal_shift = 36;  // usage bits, as a minute window's
constexpr std::uint64_t minimal_cap[3] = {std::uint64_t{1} << 34, std::uint64_t{1} << 34, std::uint64_t{1} << 34};

bool minimal_reserve(MinimalKey& key, const std::uint64_t (&amounts)[3], std::int64_t now_sec) noexcept {
  for (int i = 0; i < 3; ++i) {
    std::uint64_t seen = key.word[i].load(std::memory_order_relaxed);
    const std::uint64_t used = seen & ((std::uint64_t{1} << minimal_shift) - 1);
    if (now_sec >= key.window_end[i] || used + amounts[i] > minimal_cap[i] ||
        !key.word[i].compare_exchange_strong(seen, seen + amounts[i], std::memory_order_relaxed)) {
      for (int j = 0; j < i; ++j) key.word[j].fetch_sub(amounts[j], std::memory_order_relaxed);
      return false;
    }
  }
  return true;
}

}  // namespace

static void BM_Reference_MinimalPool(benchmark::State& state) {
  static MinimalKey keys[10];
  if (state.thread_index() == 0)
    for (MinimalKey& key : keys)
      for (int i = 0; i < 3; ++i) {
        key.word[i].store(0, std::memory_order_relaxed);
        key.window_end[i] = std::numeric_limits<std::int64_t>::max();
      }
  const keypool::clock::Coarse clock;
  const std::uint64_t amounts[3] = {1, 1, 100};
  std::size_t next = static_cast<std::size_t>(state.thread_index()) * 5 % 10;
  for (auto _ : state) {
    const std::int64_t now_sec = clock.now().time_since_epoch().count() / 1'000'000'000;
    bool granted = false;
    for (std::size_t tried = 0; tried < 10 && !granted; ++tried) {
      granted = minimal_reserve(keys[next], amounts, now_sec);
      next = next + 1 == 10 ? 0 : next + 1;
    }
    if (!granted) {
      state.SkipWithError("a request was refused: the limits must admit every request of the run");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Reference_MinimalPool);
