// Stress: alert::Queued under producers racing each other, the drainer, and owners calling
// drain() and flush(): nothing delivered twice, nothing lost without being counted, each
// producer's order kept, no wake-up lost, clean shutdowns; and a pool whose threshold events go
// through a queue arrive exactly once. Meant for ThreadSanitizer too: the inner sinks keep their
// records without a lock, relying on Queued's promise that it never calls them concurrently.
// Catch2 is not thread-safe: worker threads only record, the main thread asserts.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <keypool/alert/queued.hpp>
#include <keypool/keypool.hpp>

#include "support/stress.hpp"

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// How much work each test does; a tenth of it under ThreadSanitizer (support/stress.hpp).
constexpr std::uint64_t work_scale = scaled_work(10);

constexpr int producer_count = 6;

const kp::TimePoint start_time{sys_days{2026y / March / 2} + 9h};

std::string label_for(int producer, std::uint64_t sequence) {
  return "producer-" + std::to_string(producer) + "/" + std::to_string(sequence);
}

/// Producer p's event number `sequence`: the key id names the producer, `used` the sequence,
/// and the label spells both so a torn copy shows.
kp::Event event_for(int producer, std::uint64_t sequence, const std::string& label) {
  kp::Event e;
  e.kind = kp::EventKind::threshold_crossed;
  e.at = start_time + milliseconds{sequence};
  e.provider_name = "stress";
  e.key = kp::KeyId{static_cast<std::uint32_t>(producer)};
  e.key_label = label;
  e.window = "minute";
  e.used = sequence;
  return e;
}

/// Checks every delivered event: well-formed, once, in its producer's order. Lock-free on purpose.
struct Checker {
  struct Tally {
    std::vector<std::uint64_t> next_expected = std::vector<std::uint64_t>(producer_count, 0);
    std::uint64_t delivered = 0, malformed = 0, duplicated_or_reordered = 0, reports = 0, reported = 0;
  };
  std::shared_ptr<Tally> tally = std::make_shared<Tally>();

  void emit(const kp::Event& e) {
    Tally& t = *tally;
    if (e.kind == kp::EventKind::events_dropped) {
      ++t.reports;
      t.reported += e.count;
      return;
    }
    ++t.delivered;
    const std::uint32_t p = e.key.value;
    if (p >= producer_count || e.key_label != label_for(static_cast<int>(p), e.used) || e.provider_name != "stress" ||
        e.window != "minute" || e.at != start_time + milliseconds{e.used}) {
      ++t.malformed;
      return;
    }
    // Drops leave gaps; a duplicate or a reordering goes backwards.
    if (e.used < t.next_expected[p]) ++t.duplicated_or_reordered;
    t.next_expected[p] = e.used + 1;
  }
};

}  // namespace

TEST_CASE("with room for everything, every event from every producer arrives exactly once, in order", "[stress][queued]") {
  const std::uint64_t per_producer = 2'000 * work_scale;
  Checker checker;
  kp::alert::Queued<Checker> queued{checker, producer_count * per_producer};
  std::atomic<bool> producing{true};
  std::thread flusher{[&] {
    while (producing.load()) queued.flush();  // owners flushing while the drainer works
  }};
  run_threads(producer_count, [&](int p) {
    for (std::uint64_t i = 0; i < per_producer; ++i) queued.emit(event_for(p, i, label_for(p, i)));
  });
  producing.store(false);
  flusher.join();
  queued.flush();
  const Checker::Tally& t = *checker.tally;
  CHECK(queued.dropped() == 0);
  CHECK(t.delivered == producer_count * per_producer);
  CHECK(t.malformed == 0);
  CHECK(t.duplicated_or_reordered == 0);
  for (const std::uint64_t next : t.next_expected) CHECK(next == per_producer);
  CHECK(t.reports == 0);
  CHECK(queued.delivered() == t.delivered);
}

TEST_CASE("a small ring under pressure: delivered plus dropped is exactly what was emitted", "[stress][queued]") {
  const std::uint64_t per_producer = 5'000 * work_scale;
  Checker checker;
  kp::alert::Queued<Checker> queued{checker, 16};
  std::atomic<bool> producing{true};
  std::thread drainer_too{[&] {
    while (producing.load()) (void)queued.drain();  // an owner draining beside the drainer thread
  }};
  run_threads(producer_count, [&](int p) {
    for (std::uint64_t i = 0; i < per_producer; ++i) queued.emit(event_for(p, i, label_for(p, i)));
  });
  producing.store(false);
  drainer_too.join();
  queued.flush();
  const Checker::Tally& t = *checker.tally;
  INFO("delivered " << t.delivered << ", dropped " << queued.dropped() << " in " << t.reports << " reports");
  CHECK(t.delivered + queued.dropped() == producer_count * per_producer);
  CHECK(t.reported == queued.dropped());
  CHECK(t.malformed == 0);
  CHECK(t.duplicated_or_reordered == 0);
  CHECK(queued.delivered() == t.delivered);
}

TEST_CASE("no wake-up is lost: each lone event is delivered without a flush", "[stress][queued]") {
  struct Count {
    std::shared_ptr<std::atomic<std::uint64_t>> delivered = std::make_shared<std::atomic<std::uint64_t>>(0);
    void emit(const kp::Event&) { delivered->fetch_add(1, std::memory_order_relaxed); }
  };
  Count count;
  kp::alert::Queued<Count> queued{count, 64};
  const std::uint64_t rounds = 500 * work_scale;
  constexpr int emitters = 2;
  std::atomic<std::uint64_t> stuck{0};
  run_threads(emitters, [&](int p) {
    const std::string label = "lone";
    for (std::uint64_t i = 0; i < rounds; ++i) {
      const std::uint64_t before = count.delivered->load();
      queued.emit(event_for(p, i, label));
      // The drainer is asleep or about to be: only a wake-up gets the event out. A lost one
      // would leave it in the ring for good.
      const auto deadline = steady_clock::now() + 10s;
      while (count.delivered->load() <= before) {
        if (steady_clock::now() > deadline) {
          stuck.fetch_add(1);
          return;
        }
        std::this_thread::yield();
      }
    }
  });
  CHECK(stuck.load() == 0);
  CHECK(count.delivered->load() == emitters * rounds);
}

TEST_CASE("queues built, fed from threads and destroyed over and over deliver everything", "[stress][queued]") {
  const int cycles = static_cast<int>(20 * work_scale);
  constexpr std::uint64_t per_producer = 200;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    Checker checker;
    {
      kp::alert::Queued<Checker> queued{checker, producer_count * per_producer};
      run_threads(producer_count, [&](int p) {
        for (std::uint64_t i = 0; i < per_producer; ++i) queued.emit(event_for(p, i, label_for(p, i)));
      });
    }  // no flush: the destructor delivers what the drainer had not reached
    const Checker::Tally& t = *checker.tally;
    if (t.delivered != producer_count * per_producer || t.malformed != 0 || t.duplicated_or_reordered != 0) {
      FAIL("cycle " << cycle << ": delivered " << t.delivered << ", malformed " << t.malformed
                    << ", duplicated or reordered " << t.duplicated_or_reordered);
    }
  }
  SUCCEED();
}

TEST_CASE("a pool behind a queue: each threshold of each key arrives exactly once under contention", "[stress][queued][pool]") {
  struct ThresholdCounter {
    std::shared_ptr<std::vector<std::uint64_t>> per_key = std::make_shared<std::vector<std::uint64_t>>(8, 0);
    std::shared_ptr<std::uint64_t> exhausted = std::make_shared<std::uint64_t>(0);
    std::shared_ptr<std::uint64_t> wrong_label = std::make_shared<std::uint64_t>(0);
    void emit(const kp::Event& e) {  // other kinds (provider_exhausted, …) are not counted here
      if (e.kind != kp::EventKind::threshold_crossed && e.kind != kp::EventKind::key_exhausted) return;
      if (e.key.value >= per_key->size() || e.key_label != "key-" + std::to_string(e.key.value)) {
        ++*wrong_label;
        return;
      }
      if (e.kind == kp::EventKind::threshold_crossed) ++(*per_key)[e.key.value];
      if (e.kind == kp::EventKind::key_exhausted) ++*exhausted;
    }
  };
  constexpr std::size_t keys = 8;
  const std::uint64_t per_key_limit = 100 * work_scale;
  ThresholdCounter sink;
  kp::clock::Manual clock{start_time};
  kp::KeyPool<kp::clock::Manual, kp::alert::Queued<ThresholdCounter>> pool{kp::Capacity{keys}, clock,
                                                                     kp::alert::Queued<ThresholdCounter>{sink, 1024}};
  const kp::ProviderId provider = pool.add_provider("stress");
  for (std::size_t k = 0; k < keys; ++k)
    pool.add_key(provider, kp::Secret{"sk_queued_stress_" + std::to_string(k)},
                 {kp::Limit::requests(per_key_limit).per_minute()}, {.label = "key-" + std::to_string(k)});
  std::atomic<std::uint64_t> granted{0};
  run_threads(producer_count, [&](int) {
    while (pool.acquire()) granted.fetch_add(1, std::memory_order_relaxed);
  });
  pool.alerts().flush();
  CHECK(granted.load() == keys * per_key_limit);
  CHECK(pool.alerts().dropped() == 0);
  for (const std::uint64_t crossings : *sink.per_key) CHECK(crossings == 3);  // 80, 90, 100%
  CHECK(*sink.exhausted == keys);
  CHECK(*sink.wrong_label == 0);
  CHECK(pool.sink_failures() == 0);
}
