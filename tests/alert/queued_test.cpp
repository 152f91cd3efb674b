// alert::Queued: delivery exactly once and in order, exact drop accounting, copied names that
// outlive the pool, a throwing inner sink, the drainer's sleep and shutdown, moves, and a pool.
// Catch2 is not thread-safe: worker threads only record, the main thread asserts.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <sys/resource.h>

#include <keypool/alert/ostream.hpp>
#include <keypool/alert/queued.hpp>
#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

/// What a delivered event looked like, its names copied.
struct Seen {
  kp::EventKind kind;
  kp::TimePoint at;
  std::string provider, key, window, to_provider;
  std::uint32_t key_id;
  std::uint64_t used, count;
};

/// The inner sink of most tests: records every event it is given. Deliberately without a lock:
/// Queued promises never to call it from two threads at once (ThreadSanitizer checks that).
/// The test reads `log` only after flush(), drain() or the Queued's destruction.
struct Recorder {
  std::shared_ptr<std::vector<Seen>> log = std::make_shared<std::vector<Seen>>();
  void emit(const kp::Event& e) {
    log->push_back({e.kind, e.at, std::string{e.provider_name}, std::string{e.key_label}, std::string{e.window},
                    std::string{e.to_provider_name}, e.key.value, e.used, e.count});
  }
};

kp::Event numbered(std::uint64_t n, std::string_view label = "groq-1") {
  kp::Event e;
  e.kind = kp::EventKind::threshold_crossed;
  e.at = monday_8am + seconds{n};
  e.provider_name = "groq";
  e.key_label = label;
  e.window = "day";
  e.used = n;
  return e;
}

/// CPU time this process has used, all threads.
duration<double> process_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return seconds{usage.ru_utime.tv_sec + usage.ru_stime.tv_sec} +
         microseconds{usage.ru_utime.tv_usec + usage.ru_stime.tv_usec};
}

/// Polls `done` every millisecond for up to `limit`; true once it holds.
template <class Predicate>
bool eventually(Predicate done, milliseconds limit = 5s) {
  const auto deadline = steady_clock::now() + limit;
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("Queued is an alert sink that follows its inner sink's discards_events", "[alert][queued]") {
  STATIC_REQUIRE(kp::AlertSink<kp::alert::Queued<Recorder>>);
  STATIC_REQUIRE(kp::AlertSink<kp::alert::Queued<kp::alert::Ostream>>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<kp::alert::Queued<Recorder>>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<kp::alert::Queued<Recorder>>);
  STATIC_REQUIRE(kp::detail::family_count_v<kp::alert::Queued<kp::alert::Callback>> == 1);
  STATIC_REQUIRE_FALSE(kp::alert::Queued<kp::alert::Callback>::discards_events);
  STATIC_REQUIRE(kp::alert::Queued<kp::alert::Null>::discards_events);
  STATIC_REQUIRE(std::is_same_v<kp::KeyPool<kp::alert::Queued<kp::alert::Callback>>::alert_type,
                                kp::alert::Queued<kp::alert::Callback>>);
}

TEST_CASE("without a drainer, events wait in the ring until drain() delivers them in order", "[alert][queued]") {
  Recorder recorder;
  kp::alert::Queued<Recorder> queued{recorder, 16, kp::alert::manual_drain};
  CHECK_FALSE(queued.has_drainer());
  for (std::uint64_t n = 1; n <= 5; ++n) queued.emit(numbered(n));
  CHECK(recorder.log->empty());
  CHECK(queued.pending() == 5);
  CHECK(queued.drain() == 5);
  REQUIRE(recorder.log->size() == 5);
  for (std::uint64_t n = 1; n <= 5; ++n) {
    const Seen& seen = (*recorder.log)[n - 1];
    CHECK(seen.used == n);
    CHECK(seen.at == monday_8am + seconds{n});
    CHECK(seen.provider == "groq");
    CHECK(seen.key == "groq-1");
    CHECK(seen.window == "day");
  }
  CHECK(queued.drain() == 0);
  CHECK(queued.pending() == 0);
  CHECK(queued.delivered() == 5);
  CHECK(queued.dropped() == 0);
}

TEST_CASE("every field of an event arrives, and its names are copies", "[alert][queued]") {
  struct Capture {
    std::shared_ptr<kp::Event> event = std::make_shared<kp::Event>();
    std::shared_ptr<std::string> names = std::make_shared<std::string>();
    void emit(const kp::Event& e) {
      *event = e;
      *names = std::string{e.provider_name} + "|" + std::string{e.key_label} + "|" + std::string{e.window} + "|" +
               std::string{e.to_provider_name};
    }
  };
  Capture capture;
  kp::alert::Queued<Capture> queued{capture, 4, kp::alert::manual_drain};
  kp::Event e;
  e.kind = kp::EventKind::failover;
  e.at = monday_8am;
  e.provider = kp::ProviderId{2};
  e.key = kp::KeyId{7};
  e.metric = kp::Metric::spend;
  e.level = 0.9;
  e.used = 11;
  e.limit = 12;
  e.resets_at = monday_8am + 1h;
  e.eta = 5min;
  e.to_provider = kp::ProviderId{3};
  e.count = 4;
  {
    // Heap storage, as the pool's names are: overwritten, then freed before the delivery.
    auto provider = std::make_unique<std::string>("mistral-provider-name-on-the-heap");
    auto label = std::make_unique<std::string>("mistral-key-1-with-a-label-on-the-heap");
    auto window = std::make_unique<std::string>("month");
    auto to = std::make_unique<std::string>("gemini-provider-name-on-the-heap");
    e.provider_name = *provider;
    e.key_label = *label;
    e.window = *window;
    e.to_provider_name = *to;
    queued.emit(e);
    for (auto* name : {provider.get(), label.get(), window.get(), to.get()}) name->assign(name->size(), '#');
  }
  REQUIRE(queued.drain() == 1);
  CHECK(*capture.names ==
        "mistral-provider-name-on-the-heap|mistral-key-1-with-a-label-on-the-heap|month|gemini-provider-name-on-the-heap");
  const kp::Event& delivered = *capture.event;
  CHECK(delivered.kind == kp::EventKind::failover);
  CHECK(delivered.at == monday_8am);
  CHECK(delivered.provider == kp::ProviderId{2});
  CHECK(delivered.key == kp::KeyId{7});
  CHECK(delivered.metric == kp::Metric::spend);
  CHECK(delivered.level == 0.9);
  CHECK(delivered.used == 11);
  CHECK(delivered.limit == 12);
  CHECK(delivered.resets_at == monday_8am + 1h);
  CHECK(delivered.eta == 5min);
  CHECK(delivered.to_provider == kp::ProviderId{3});
  CHECK(delivered.count == 4);
}

TEST_CASE("names longer than 63 bytes are cut at 63, never inside a UTF-8 character", "[alert][queued]") {
  STATIC_REQUIRE(kp::alert::Queued<Recorder>::max_name_size == 63);
  Recorder recorder;
  kp::alert::Queued<Recorder> queued{recorder, 8, kp::alert::manual_drain};
  const std::string exact(63, 'a');
  const std::string long_ascii(100, 'b');
  const std::string two_byte = std::string(62, 'c') + "é" + "tail";    // é is bytes 62-63: cut before it
  const std::string three_byte = std::string(61, 'd') + "鍵" + "tail";  // 鍵 is bytes 61-63: cut before it
  const std::string four_byte = std::string(60, 'e') + "😀" + "tail";   // 😀 is bytes 60-63: cut before it
  const std::string fits = std::string(60, 'f') + "é" + "g";            // 63 bytes exactly: kept whole
  for (const std::string* label : {&exact, &long_ascii, &two_byte, &three_byte, &four_byte, &fits})
    queued.emit(numbered(0, *label));
  REQUIRE(queued.drain() == 6);
  const auto& log = *recorder.log;
  CHECK(log[0].key == exact);
  CHECK(log[1].key == std::string(63, 'b'));
  CHECK(log[2].key == std::string(62, 'c'));
  CHECK(log[3].key == std::string(61, 'd'));
  CHECK(log[4].key == std::string(60, 'e'));
  CHECK(log[5].key == fits);
}

TEST_CASE("the capacity is rounded up to a power of two; zero or too large is refused", "[alert][queued]") {
  CHECK(kp::alert::Queued<Recorder>{Recorder{}, 1000, kp::alert::manual_drain}.capacity() == 1024);
  CHECK(kp::alert::Queued<Recorder>{Recorder{}, 1024, kp::alert::manual_drain}.capacity() == 1024);
  CHECK(kp::alert::Queued<Recorder>{Recorder{}, 1, kp::alert::manual_drain}.capacity() == 2);
  CHECK(kp::alert::Queued<Recorder>{Recorder{}, 3, kp::alert::manual_drain}.capacity() == 4);
  CHECK(kp::alert::Queued<Recorder>{Recorder{}}.capacity() == kp::alert::Queued<Recorder>::default_capacity);
  const kp::alert::Queued<Recorder> defaulted;  // what a pool builds when given no sink instance
  CHECK(defaulted.capacity() == 1024);
  CHECK(defaulted.has_drainer());
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<kp::alert::Queued<kp::alert::Ostream>>);
  CHECK_THROWS_WITH((kp::alert::Queued<Recorder>{Recorder{}, 0}), Contains("capacity 0"));
  CHECK_THROWS_AS((kp::alert::Queued<Recorder>{Recorder{}, 0, kp::alert::manual_drain}), kp::Error);
  CHECK_THROWS_WITH((kp::alert::Queued<Recorder>{Recorder{}, (std::size_t{1} << 20) + 1}), Contains("maximum"));
  CHECK(kp::alert::Queued<Recorder>{Recorder{}, std::size_t{1} << 20, kp::alert::manual_drain}.capacity() ==
        std::size_t{1} << 20);
}

TEST_CASE("a full ring drops and counts; the next drain reports the drops as one event", "[alert][queued]") {
  Recorder recorder;
  kp::alert::Queued<Recorder> queued{recorder, 8, kp::alert::manual_drain};
  const std::size_t capacity = queued.capacity();
  REQUIRE(capacity == 8);
  constexpr std::uint64_t extra = 5;
  for (std::uint64_t n = 1; n <= capacity + extra; ++n) queued.emit(numbered(n));
  CHECK(queued.dropped() == extra);
  CHECK(queued.pending() == capacity);

  CHECK(queued.drain() == capacity);
  REQUIRE(recorder.log->size() == capacity + 1);
  for (std::size_t i = 0; i < capacity; ++i) CHECK((*recorder.log)[i].used == i + 1);  // the first C, in order
  const Seen& report = recorder.log->back();
  CHECK(report.kind == kp::EventKind::events_dropped);
  CHECK(report.count == extra);
  CHECK(report.at == monday_8am + seconds{capacity + extra});  // the last dropped event's time
  CHECK(report.key.empty());
  CHECK(report.provider.empty());

  // Room again: no drops, no new report.
  queued.emit(numbered(100));
  queued.emit(numbered(101));
  CHECK(queued.drain() == 2);
  CHECK(recorder.log->size() == capacity + 3);
  CHECK(recorder.log->back().used == 101);

  // Fill and overflow again: the report counts only the drops since the last one.
  for (std::uint64_t n = 0; n < capacity + 3; ++n) queued.emit(numbered(200 + n));
  CHECK(queued.dropped() == extra + 3);
  CHECK(queued.drain() == capacity);
  CHECK(recorder.log->back().kind == kp::EventKind::events_dropped);
  CHECK(recorder.log->back().count == 3);
  CHECK(queued.delivered() == 2 * capacity + 2);

  // Drops alone (nothing delivered) are reported too.
  for (std::uint64_t n = 0; n < capacity; ++n) queued.emit(numbered(300 + n));
  CHECK(queued.drain() == capacity);
  queued.emit(numbered(400));
  CHECK(queued.drain() == 1);
  const std::size_t before = recorder.log->size();
  for (std::uint64_t n = 0; n < capacity; ++n) queued.emit(numbered(500 + n));
  queued.emit(numbered(600));  // dropped
  queued.emit(numbered(601));  // dropped
  CHECK(queued.drain() == capacity);
  CHECK(recorder.log->size() == before + capacity + 1);
  CHECK(recorder.log->back().count == 2);
}

TEST_CASE("an inner sink that throws loses only that event and is counted", "[alert][queued]") {
  struct Flaky {
    std::shared_ptr<std::vector<std::uint64_t>> received = std::make_shared<std::vector<std::uint64_t>>();
    void emit(const kp::Event& e) {
      if (e.used % 3 == 0) throw std::runtime_error("webhook returned 502");
      received->push_back(e.used);
    }
  };
  SECTION("drained by the owner") {
    Flaky flaky;
    kp::alert::Queued<Flaky> queued{flaky, 16, kp::alert::manual_drain};
    for (std::uint64_t n = 1; n <= 9; ++n) queued.emit(numbered(n));
    CHECK_NOTHROW(queued.drain() == 9);
    CHECK(queued.sink_failures() == 3);
    CHECK(*flaky.received == std::vector<std::uint64_t>{1, 2, 4, 5, 7, 8});
    CHECK(queued.delivered() == 9);
  }
  SECTION("the drainer thread survives and goes on") {
    Flaky flaky;
    kp::alert::Queued<Flaky> queued{flaky, 16};
    for (std::uint64_t n = 1; n <= 9; ++n) queued.emit(numbered(n));
    queued.flush();
    CHECK(queued.sink_failures() == 3);
    for (std::uint64_t n = 10; n <= 11; ++n) queued.emit(numbered(n));
    queued.flush();
    CHECK(*flaky.received == std::vector<std::uint64_t>{1, 2, 4, 5, 7, 8, 10, 11});
    CHECK(queued.delivered() == 11);
  }
}

TEST_CASE("the drainer delivers without being asked, and wakes for each new event after sleeping", "[alert][queued]") {
  struct Counter {
    std::shared_ptr<std::atomic<std::uint64_t>> count = std::make_shared<std::atomic<std::uint64_t>>(0);
    void emit(const kp::Event&) { count->fetch_add(1); }
  };
  Counter counter;
  kp::alert::Queued<Counter> queued{counter, 64};
  CHECK(queued.has_drainer());
  for (std::uint64_t round = 1; round <= 20; ++round) {
    queued.emit(numbered(round));
    REQUIRE(eventually([&] { return counter.count->load() == round; }));
    std::this_thread::sleep_for(2ms);  // let the drainer fall asleep again
  }
  CHECK(queued.delivered() == 20);
}

TEST_CASE("an idle drainer sleeps instead of spinning", "[alert][queued]") {
  kp::alert::Queued<Recorder> queued{Recorder{}, 64};
  queued.emit(numbered(1));
  queued.flush();
  const auto cpu_before = process_cpu_time();
  const auto wall_before = steady_clock::now();
  std::this_thread::sleep_for(300ms);
  const auto cpu_used = process_cpu_time() - cpu_before;
  const auto wall = duration<double>(steady_clock::now() - wall_before);
  INFO("CPU " << cpu_used.count() << " s over " << wall.count() << " s of idle time");
  CHECK(cpu_used < wall * 0.1);  // a spinning drainer would use about all of it
}

TEST_CASE("destruction delivers everything still queued, then stops the drainer", "[alert][queued]") {
  struct Slow {
    std::shared_ptr<std::vector<std::uint64_t>> received = std::make_shared<std::vector<std::uint64_t>>();
    void emit(const kp::Event& e) {
      std::this_thread::sleep_for(1ms);
      received->push_back(e.used);
    }
  };
  Slow slow;
  {
    kp::alert::Queued<Slow> queued{slow, 64};
    for (std::uint64_t n = 1; n <= 30; ++n) queued.emit(numbered(n));
  }  // about 30 ms of work left: the destructor waits for it
  REQUIRE(slow.received->size() == 30);
  for (std::uint64_t n = 1; n <= 30; ++n) CHECK((*slow.received)[n - 1] == n);

  Recorder recorder;
  {
    kp::alert::Queued<Recorder> queued{recorder, 4, kp::alert::manual_drain};
    for (std::uint64_t n = 1; n <= 6; ++n) queued.emit(numbered(n));
  }  // no drainer: the destructor drains on this thread, drops reported last
  REQUIRE(recorder.log->size() == 5);
  CHECK(recorder.log->back().kind == kp::EventKind::events_dropped);
  CHECK(recorder.log->back().count == 2);
}

TEST_CASE("flush returns once everything emitted before it is delivered", "[alert][queued]") {
  struct Slow {
    std::shared_ptr<std::atomic<std::uint64_t>> count = std::make_shared<std::atomic<std::uint64_t>>(0);
    void emit(const kp::Event&) {
      std::this_thread::sleep_for(200us);
      count->fetch_add(1);
    }
  };
  Slow slow;
  kp::alert::Queued<Slow> queued{slow, 256};
  for (std::uint64_t n = 1; n <= 100; ++n) queued.emit(numbered(n));
  queued.flush();
  CHECK(slow.count->load() == 100);
  CHECK(queued.pending() == 0);
}

TEST_CASE("with a drainer, drops are reported as events_dropped whose counts add up", "[alert][queued]") {
  // The inner sink blocks until the test opens the gate: the ring fills, the rest is dropped.
  struct Gate {
    std::mutex mutex;
    std::condition_variable opened_cv;
    bool opened = false;
  };
  struct Blocked {
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    std::shared_ptr<std::vector<Seen>> log = std::make_shared<std::vector<Seen>>();
    void emit(const kp::Event& e) {
      std::unique_lock lock{gate->mutex};
      gate->opened_cv.wait(lock, [&] { return gate->opened; });
      log->push_back({e.kind, e.at, {}, {}, {}, {}, 0, e.used, e.count});
    }
  };
  Blocked blocked;
  kp::alert::Queued<Blocked> queued{blocked, 8};
  constexpr std::uint64_t emitted = 100;
  for (std::uint64_t n = 1; n <= emitted; ++n) queued.emit(numbered(n));
  {
    std::lock_guard lock{blocked.gate->mutex};
    blocked.gate->opened = true;
  }
  blocked.gate->opened_cv.notify_all();
  queued.flush();
  std::uint64_t events = 0, reported = 0, last = 0;
  bool in_order = true;
  for (const Seen& seen : *blocked.log) {
    if (seen.kind == kp::EventKind::events_dropped) {
      reported += seen.count;
    } else {
      ++events;
      in_order = in_order && seen.used > last;
      last = seen.used;
    }
  }
  CHECK(in_order);
  CHECK(queued.dropped() >= emitted - 9);  // at most the ring plus the event being delivered got through
  CHECK(events + queued.dropped() == emitted);
  CHECK(reported == queued.dropped());
  CHECK(queued.delivered() == events);
}

TEST_CASE("producers on many threads: every event delivered exactly once, each thread's in order", "[alert][queued]") {
  constexpr int producers = 4;
  constexpr std::uint64_t per_producer = 2'000;
  Recorder recorder;
  kp::alert::Queued<Recorder> queued{recorder, producers * per_producer};  // room for all: no drop
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&queued, p] {
      const std::string label = "producer-" + std::to_string(p);
      for (std::uint64_t i = 0; i < per_producer; ++i) {
        kp::Event e = numbered(i, label);
        e.key = kp::KeyId{static_cast<std::uint32_t>(p)};
        queued.emit(e);
      }
    });
  }
  for (auto& t : threads) t.join();
  queued.flush();
  CHECK(queued.dropped() == 0);
  REQUIRE(recorder.log->size() == producers * per_producer);
  std::vector<std::uint64_t> next(producers, 0);
  std::size_t good = 0;
  for (const Seen& seen : *recorder.log) {
    const std::size_t p = seen.key_id;
    if (p >= producers || seen.key != "producer-" + std::to_string(p) || seen.used != next[p]) continue;
    ++next[p];
    ++good;
  }
  CHECK(good == recorder.log->size());
  for (int p = 0; p < producers; ++p) CHECK(next[static_cast<std::size_t>(p)] == per_producer);
}

TEST_CASE("a moved Queued keeps its ring and drainer; the moved-from one is inert", "[alert][queued]") {
  Recorder recorder;
  kp::alert::Queued<Recorder> original{recorder, 16};
  original.emit(numbered(1));
  kp::alert::Queued<Recorder> moved{std::move(original)};
  moved.emit(numbered(2));
  moved.flush();
  REQUIRE(recorder.log->size() == 2);
  CHECK((*recorder.log)[1].used == 2);
  CHECK(moved.capacity() == 16);
  CHECK(moved.has_drainer());

  // NOLINTBEGIN(bugprone-use-after-move): using a moved-from Queued is defined, and tested here
  original.emit(numbered(3));  // discarded
  CHECK(original.drain() == 0);
  original.flush();
  CHECK(original.capacity() == 0);
  CHECK(original.dropped() == 0);
  CHECK(original.pending() == 0);
  CHECK(original.delivered() == 0);
  CHECK_FALSE(original.has_drainer());
  // NOLINTEND(bugprone-use-after-move)
  moved.flush();
  CHECK(recorder.log->size() == 2);

  // Move assignment: the target first delivers its own queue, to its own sink.
  Recorder other;
  kp::alert::Queued<Recorder> target{other, 8, kp::alert::manual_drain};
  target.emit(numbered(10));
  target = std::move(moved);
  CHECK(other.log->size() == 1);
  target.emit(numbered(4));
  target.flush();
  CHECK(recorder.log->back().used == 4);

  // A pool takes its sink by moving the argument in.
  kp::clock::Manual clock{monday_8am};
  Recorder pool_recorder;
  kp::KeyPool<kp::clock::Manual, kp::alert::Queued<Recorder>> pool{
      clock, kp::alert::Queued<Recorder>{pool_recorder, 32}};
  pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_queued_move_1"}, {kp::Limit::requests(1).per_minute()},
               {.label = "groq-1"});
  CHECK(pool.acquire());
  pool.alerts().flush();
  CHECK(pool_recorder.log->size() == 4);  // 80%, 90%, 100%, key_exhausted
}

TEST_CASE("the inner sink may emit into its own queue; drain and flush from it return at once", "[alert][queued]") {
  struct Echo {
    kp::alert::Queued<Echo>* self = nullptr;
    std::shared_ptr<std::vector<std::uint64_t>> received = std::make_shared<std::vector<std::uint64_t>>();
    std::shared_ptr<std::size_t> nested_drained = std::make_shared<std::size_t>(99);
    void emit(const kp::Event& e) {
      received->push_back(e.used);
      if (e.used < 3) self->emit(numbered(e.used + 1));  // queued for a later pass
      *nested_drained = self->drain();
      self->flush();
    }
  };
  Echo echo;
  kp::alert::Queued<Echo> queued{echo, 8, kp::alert::manual_drain};
  queued.sink().self = &queued;
  queued.emit(numbered(1));
  CHECK(queued.drain() == 1);  // the pass ends at the claims seen when it started
  CHECK(*echo.nested_drained == 0);
  CHECK(queued.drain() == 1);
  CHECK(queued.drain() == 1);
  CHECK(queued.drain() == 0);
  CHECK(*echo.received == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("a pool behind Queued: events arrive after drain(), with labels that outlive the pool", "[alert][queued][pool]") {
  std::vector<kp::Event> raw;     // the events as delivered (their views die with the delivery)
  std::vector<std::string> text;  // "kind provider key" copied at delivery
  using Pool = kp::KeyPool<kp::clock::Manual, kp::alert::Queued<kp::alert::Callback>>;
  kp::clock::Manual clock{monday_8am};
  kp::alert::Callback callback{[&](const kp::Event& e) {
    raw.push_back(e);
    text.push_back(std::string{kp::to_string(e.kind)} + " " + std::string{e.provider_name} + " " +
                   std::string{e.key_label} + " " + std::string{e.window});
  }};
  auto pool = std::make_unique<Pool>(clock, kp::alert::Queued<kp::alert::Callback>{callback, 64, kp::alert::manual_drain});
  const std::string label = "groq-key-with-a-label-long-enough-to-live-on-the-heap";
  pool->add_key(pool->add_provider("groq"), kp::Secret{"gsk_queued_pool_1"}, {kp::Limit::requests(10).per_minute()},
                {.label = label});
  for (int i = 0; i < 8; ++i) CHECK(pool->acquire());
  CHECK(text.empty());  // queued, not delivered
  CHECK(pool->alerts().pending() == 1);
  CHECK(pool->alerts().drain() == 1);
  REQUIRE(text.size() == 1);
  CHECK(text[0] == "threshold_crossed groq " + label + " minute");
  CHECK(raw[0].level == Approx(0.8));
  CHECK(raw[0].used == 8);
  CHECK(raw[0].limit == 10);
  CHECK(raw[0].resets_at == monday_8am + 60s);

  // Two more crossings and a key_exhausted, left in the ring: the pool's label storage is freed
  // before its sink, whose destructor delivers them from the ring's own copies.
  CHECK(pool->acquire());
  CHECK(pool->acquire());
  CHECK(pool->alerts().pending() == 3);
  pool.reset();
  REQUIRE(text.size() == 4);
  CHECK(text[1] == "threshold_crossed groq " + label + " minute");
  CHECK(text[2] == "threshold_crossed groq " + label + " minute");
  CHECK(text[3] == "key_exhausted groq " + label + " minute");
}

TEST_CASE("a pool behind a threaded Queued<Ostream> writes its lines off the caller's thread", "[alert][queued][pool]") {
  std::ostringstream out;
  kp::clock::Manual clock{monday_8am};
  {
    kp::KeyPool<kp::clock::Manual, kp::alert::Queued<kp::alert::Ostream>> pool{
        clock, kp::alert::Queued<kp::alert::Ostream>{kp::alert::Ostream{out}, 1024}};
    pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_queued_ostream_1"},
                 {kp::Limit::tokens(14'400).per_day()}, {.label = "groq-1"});
    CHECK(pool.acquire({.tokens = 11'520}));
    pool.alerts().flush();
    CHECK(out.str() ==
          "2026-11-23T08:00:00Z threshold_crossed provider=groq key=groq-1 metric=tokens window=day level=80% "
          "used=11520 limit=14400 resets_at=2026-11-24T00:00:00Z\n");
    CHECK(pool.alerts().sink().failed_writes() == 0);
  }
}
