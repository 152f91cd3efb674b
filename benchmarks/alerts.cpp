// Alert sinks on the hot path: what a pool pays per acquire when every acquire raises an event,
// with no sink (alert::Null), a quick direct sink, a slow sink called directly, and the same slow
// sink behind alert::Queued; and one emit into a Queued ring on one and two threads.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <keypool/alert/queued.hpp>
#include <keypool/keypool.hpp>

namespace {

namespace kp = keypool;
using namespace std::chrono_literals;

/// An inner sink that stands for I/O: 1 ms per event (an HTTP call, an SMTP round trip) while
/// `slow` is set. The benchmarks clear it after the timed loop, so a Queued's destructor does not
/// spend a second delivering what is left.
struct SlowSink {
  std::shared_ptr<std::atomic<bool>> slow = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<std::atomic<std::uint64_t>> received = std::make_shared<std::atomic<std::uint64_t>>(0);
  void emit(const kp::Event&) {
    if (slow->load(std::memory_order_relaxed)) std::this_thread::sleep_for(1ms);
    received->fetch_add(1, std::memory_order_relaxed);
  }
};

/// An inner sink that only counts.
struct CountingSink {
  std::shared_ptr<std::atomic<std::uint64_t>> received = std::make_shared<std::atomic<std::uint64_t>>(0);
  void emit(const kp::Event&) noexcept { received->fetch_add(1, std::memory_order_relaxed); }
};

/// A pool of `keys` keys, each limited to ONE request per second, and no threshold levels: an
/// acquire in a fresh second fills its key's window and raises exactly one key_exhausted event.
template <class Pool, class Sink>
std::unique_ptr<Pool> one_per_second_pool(std::size_t keys, Sink sink) {
  auto pool = std::make_unique<Pool>(kp::Capacity{keys}, kp::Thresholds(std::initializer_list<double>{}), std::move(sink));
  const kp::ProviderId provider = pool->add_provider("bench");
  for (std::size_t i = 0; i < keys; ++i)
    pool->add_key(provider, kp::Secret{"gsk_alert_bench_" + std::to_string(i)}, {kp::Limit::requests(1).per_second()},
                  {.label = "bench-key-" + std::to_string(i)});
  return pool;
}

/// The timed loop shared by the BM_AcquireCommit_*Sink benchmarks: time (passed as `now`, the
/// pool's clock is never read) moves one second per request, so every key's window is fresh and
/// every acquire is admitted and raises one event. A refusal would stop the run with an error.
template <class Pool>
void run_event_per_acquire(benchmark::State& state, Pool& pool) {
  kp::TimePoint now{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}};
  for (auto _ : state) {
    now += 1s;
    auto lease = pool.acquire({}, now);
    if (!lease) {
      state.SkipWithError("a request was refused: every acquire must be admitted");
      break;
    }
    lease.commit({}, now);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

// Every acquire crosses a limit and raises one event (see one_per_second_pool), on a pool of 10
// keys. The four variants differ only in the sink:
//   Null         alert::Null: the pool skips event work entirely (the floor)
//   DirectQuick  a sink that counts, called on the acquiring thread (the cost of building and
//                handing over an event)
//   DirectSlow   a sink that sleeps 1 ms, called on the acquiring thread (what Queued avoids)
//   QueuedSlow   the same slow sink behind alert::Queued (ring of 1024): the acquire copies the
//                event into the ring, or — once the ring is full, which a 1 ms sink makes it within
//                about a thousand requests — counts it as dropped
// Counters: events delivered to the slow sink during the run, and events dropped.
static void BM_AcquireCommit_NullSink(benchmark::State& state) {
  using Pool = kp::KeyPool<kp::alert::Null>;
  auto pool = one_per_second_pool<Pool>(static_cast<std::size_t>(state.range(0)), kp::alert::Null{});
  run_event_per_acquire(state, *pool);
}
BENCHMARK(BM_AcquireCommit_NullSink)->ArgName("keys")->Arg(10);

static void BM_AcquireCommit_DirectQuickSink(benchmark::State& state) {
  using Pool = kp::KeyPool<CountingSink>;
  CountingSink sink;
  auto pool = one_per_second_pool<Pool>(static_cast<std::size_t>(state.range(0)), sink);
  run_event_per_acquire(state, *pool);
  if (sink.received->load() != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("expected one event per acquire");
}
BENCHMARK(BM_AcquireCommit_DirectQuickSink)->ArgName("keys")->Arg(10);

static void BM_AcquireCommit_DirectSlowSink(benchmark::State& state) {
  using Pool = kp::KeyPool<SlowSink>;
  SlowSink sink;
  auto pool = one_per_second_pool<Pool>(static_cast<std::size_t>(state.range(0)), sink);
  run_event_per_acquire(state, *pool);
  state.counters["delivered"] = static_cast<double>(sink.received->load());
}
BENCHMARK(BM_AcquireCommit_DirectSlowSink)->ArgName("keys")->Arg(10)->UseRealTime();

static void BM_AcquireCommit_QueuedSlowSink(benchmark::State& state) {
  using Sink = kp::alert::Queued<SlowSink>;
  using Pool = kp::KeyPool<Sink>;
  SlowSink sink;
  auto pool = one_per_second_pool<Pool>(static_cast<std::size_t>(state.range(0)), Sink{sink, 1024});
  run_event_per_acquire(state, *pool);
  state.counters["delivered"] = static_cast<double>(sink.received->load());
  sink.slow->store(false);  // deliver the rest at once
  pool->alerts().flush();
  state.counters["dropped"] = static_cast<double>(pool->alerts().dropped());
  if (pool->alerts().dropped() + pool->alerts().delivered() != static_cast<std::uint64_t>(state.iterations()))
    state.SkipWithError("expected one event per acquire, each delivered or dropped");
}
BENCHMARK(BM_AcquireCommit_QueuedSlowSink)->ArgName("keys")->Arg(10)->UseRealTime();

// One emit into a Queued ring that has room: claim a cell (one CAS), copy the event and its three
// names (provider, 10-byte label, window), publish (one xchg). The ring has the default capacity
// (1,024 cells, 448 KiB) and no drainer thread: each thread drains it, outside the timed region,
// every 128 of its emits, so it does not fill. The pause costs a little timer work per 128 emits.
// threads:2 share the ring: both CAS the same counter. Counter "dropped": emits that found the ring
// full. It stays 0 unless a thread is preempted between claiming a cell and publishing it (the
// drain stops at that cell until it is published, while the other thread fills the ring): then the
// machine is oversubscribed and the figure mixes in the cheaper drop path; measure again idle.
static void BM_Queued_Emit(benchmark::State& state) {
  static kp::alert::Queued<CountingSink> queue{CountingSink{}, 1024, kp::alert::manual_drain};
  kp::Event event;
  event.kind = kp::EventKind::threshold_crossed;
  event.provider_name = "groq";
  event.key_label = "groq-key-1";
  event.window = "day";
  event.metric = kp::Metric::tokens;
  event.level = 0.8;
  event.used = 11'520;
  event.limit = 14'400;
  if (state.thread_index() == 0) (void)queue.drain();
  const std::uint64_t dropped_before = queue.dropped();  // the queue is shared by every run
  std::uint64_t since_drain = 0;
  for (auto _ : state) {
    queue.emit(event);
    if (++since_drain == 128) {
      state.PauseTiming();
      (void)queue.drain();
      state.ResumeTiming();
      since_drain = 0;
    }
  }
  // Each thread sees the drops of both: average, not sum, across threads.
  state.counters["dropped"] =
      benchmark::Counter(static_cast<double>(queue.dropped() - dropped_before), benchmark::Counter::kAvgThreads);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Queued_Emit);
BENCHMARK(BM_Queued_Emit)->Threads(2)->UseRealTime();
