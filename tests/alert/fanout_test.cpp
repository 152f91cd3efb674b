// alert::Fanout: every sink gets every event, in order; a throwing sink is counted and skipped;
// access by index and type; discards_events; moves; concurrent emits; a pool with two sinks.
// Catch2 is not thread-safe: worker threads only emit, the main thread asserts.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <keypool/alert/fanout.hpp>
#include <keypool/alert/ostream.hpp>
#include <keypool/alert/queued.hpp>
#include <keypool/keypool.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint monday_8am{sys_days{2026y / November / 23} + 8h};

/// Appends "<name>:<used>" to a shared trace, so the order across sinks shows.
struct Tracer {
  std::string name;
  std::shared_ptr<std::vector<std::string>> trace;
  void emit(const kp::Event& e) { trace->push_back(name + ":" + std::to_string(e.used)); }
};

struct Thrower {
  int calls = 0;
  void emit(const kp::Event&) {
    ++calls;
    throw std::runtime_error("pager is down");
  }
};

struct Counting {
  std::shared_ptr<std::atomic<std::uint64_t>> count = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::shared_ptr<std::atomic<std::uint64_t>> sum = std::make_shared<std::atomic<std::uint64_t>>(0);
  void emit(const kp::Event& e) {
    count->fetch_add(1, std::memory_order_relaxed);
    sum->fetch_add(e.used, std::memory_order_relaxed);
  }
};

struct Discarding {
  static constexpr bool discards_events = true;
  void emit(const kp::Event&) noexcept {}
};

kp::Event numbered(std::uint64_t n) {
  kp::Event e;
  e.kind = kp::EventKind::key_disabled;
  e.at = monday_8am;
  e.provider_name = "groq";
  e.key_label = "groq-1";
  e.used = n;
  return e;
}

}  // namespace

TEST_CASE("Fanout is an alert sink; it discards events only if every inner sink does", "[alert][fanout]") {
  using kp::alert::Fanout;
  STATIC_REQUIRE(kp::AlertSink<Fanout<kp::alert::Ostream, kp::alert::Callback>>);
  STATIC_REQUIRE(kp::detail::family_count_v<Fanout<kp::alert::Ostream, kp::alert::Callback>> == 1);
  STATIC_REQUIRE(Fanout<kp::alert::Null, Discarding>::discards_events);
  STATIC_REQUIRE(Fanout<kp::alert::Null>::discards_events);
  STATIC_REQUIRE_FALSE(Fanout<kp::alert::Null, kp::alert::Callback>::discards_events);
  STATIC_REQUIRE_FALSE(Fanout<kp::alert::Callback, kp::alert::Null>::discards_events);
  STATIC_REQUIRE(Fanout<Tracer, Thrower, Counting>::size == 3);
  STATIC_REQUIRE(std::is_default_constructible_v<Fanout<kp::alert::Null, kp::alert::Callback>>);
  STATIC_REQUIRE_FALSE(std::is_default_constructible_v<Fanout<kp::alert::Ostream, kp::alert::Callback>>);
  STATIC_REQUIRE(std::is_copy_constructible_v<Fanout<kp::alert::Ostream, kp::alert::Callback>>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<Fanout<kp::alert::Queued<kp::alert::Callback>>>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Fanout<kp::alert::Queued<kp::alert::Callback>, kp::alert::Null>>);
  STATIC_REQUIRE(noexcept(std::declval<Fanout<Thrower>&>().emit(std::declval<const kp::Event&>())));
}

TEST_CASE("each event goes to every sink, in the order of the template arguments", "[alert][fanout]") {
  auto trace = std::make_shared<std::vector<std::string>>();
  kp::alert::Fanout<Tracer, Tracer, Tracer> fanout{Tracer{"a", trace}, Tracer{"b", trace}, Tracer{"c", trace}};
  fanout.emit(numbered(1));
  fanout.emit(numbered(2));
  CHECK(*trace == std::vector<std::string>{"a:1", "b:1", "c:1", "a:2", "b:2", "c:2"});
  CHECK(fanout.sink_failures() == 0);
}

TEST_CASE("a sink that throws is counted and skipped; the sinks after it still get the event", "[alert][fanout]") {
  auto trace = std::make_shared<std::vector<std::string>>();
  kp::alert::Fanout<Tracer, Thrower, Tracer, Thrower> fanout{Tracer{"first", trace}, Thrower{}, Tracer{"last", trace},
                                                             Thrower{}};
  CHECK_NOTHROW(fanout.emit(numbered(1)));
  CHECK_NOTHROW(fanout.emit(numbered(2)));
  CHECK(*trace == std::vector<std::string>{"first:1", "last:1", "first:2", "last:2"});
  CHECK(fanout.sink_failures(0) == 0);
  CHECK(fanout.sink_failures(1) == 2);
  CHECK(fanout.sink_failures(2) == 0);
  CHECK(fanout.sink_failures(3) == 2);
  CHECK(fanout.sink_failures() == 4);
  CHECK(fanout.get<1>().calls == 2);
  CHECK(fanout.get<3>().calls == 2);
}

TEST_CASE("get<I>() and get<T>() reach the inner sinks", "[alert][fanout]") {
  std::ostringstream out;
  Counting counting;
  kp::alert::Fanout<kp::alert::Ostream, Counting> fanout{kp::alert::Ostream{out}, counting};
  CHECK(&fanout.get<0>().stream() == &out);
  CHECK(&fanout.get<kp::alert::Ostream>().stream() == &out);
  CHECK(fanout.get<Counting>().count == counting.count);
  const auto& const_fanout = fanout;
  CHECK(&const_fanout.get<kp::alert::Ostream>() == &fanout.get<0>());
  CHECK(&const_fanout.get<1>() == &fanout.get<Counting>());
  fanout.emit(numbered(5));
  CHECK(counting.count->load() == 1);
  CHECK(out.str() == "2026-11-23T08:00:00Z key_disabled provider=groq key=groq-1\n");
}

TEST_CASE("a moved Fanout keeps its sinks and failure counts", "[alert][fanout]") {
  Counting counting;
  kp::alert::Fanout<Counting, Thrower> original{counting, Thrower{}};
  original.emit(numbered(1));
  kp::alert::Fanout<Counting, Thrower> moved{std::move(original)};
  CHECK(moved.sink_failures(1) == 1);
  moved.emit(numbered(2));
  CHECK(counting.count->load() == 2);
  CHECK(moved.sink_failures() == 2);

  kp::alert::Fanout<Counting, Thrower> copy{moved};
  copy.emit(numbered(3));
  CHECK(counting.count->load() == 3);
  CHECK(copy.sink_failures() == 3);
  CHECK(moved.sink_failures() == 2);  // each copy counts its own
}

TEST_CASE("concurrent emits reach every sink exactly once each, and failures are counted exactly", "[alert][fanout]") {
  struct AlwaysThrows {  // stateless, so thread-safe
    void emit(const kp::Event&) { throw std::runtime_error("pager is down"); }
  };
  Counting a, b;
  kp::alert::Fanout<Counting, AlwaysThrows, Counting> fanout{a, AlwaysThrows{}, b};
  constexpr int threads = 8;
  constexpr std::uint64_t per_thread = 5'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&] {
      for (std::uint64_t i = 1; i <= per_thread; ++i) fanout.emit(numbered(i));
    });
  for (auto& w : workers) w.join();
  CHECK(a.count->load() == threads * per_thread);
  CHECK(b.count->load() == threads * per_thread);
  CHECK(a.sum->load() == threads * (per_thread * (per_thread + 1) / 2));
  CHECK(b.sum->load() == a.sum->load());
  CHECK(fanout.sink_failures(1) == threads * per_thread);
  CHECK(fanout.sink_failures() == threads * per_thread);
}

TEST_CASE("a pool with a fan-out writes a line and calls back for the same events", "[alert][fanout][pool]") {
  std::ostringstream out;
  std::vector<std::string> kinds;
  kp::clock::Manual clock{monday_8am};
  using Sink = kp::alert::Fanout<kp::alert::Ostream, kp::alert::Callback>;
  kp::KeyPool<kp::clock::Manual, Sink> pool{
      clock, Sink{kp::alert::Ostream{out}, kp::alert::Callback{[&](const kp::Event& e) {
                    kinds.emplace_back(kp::to_string(e.kind));
                  }}}};
  const kp::KeyId key = pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_fanout_pool_1"},
                                     {kp::Limit::requests(10).per_minute()}, {.label = "groq-1"});
  for (int i = 0; i < 8; ++i) CHECK(pool.acquire());
  pool.disable(key);
  CHECK(kinds == std::vector<std::string>{"threshold_crossed", "key_disabled"});
  CHECK(out.str() ==
        "2026-11-23T08:00:00Z threshold_crossed provider=groq key=groq-1 metric=requests window=minute level=80% "
        "used=8 limit=10 resets_at=2026-11-23T08:01:00Z\n"
        "2026-11-23T08:00:00Z key_disabled provider=groq key=groq-1\n");
  CHECK(pool.sink_failures() == 0);
}

TEST_CASE("a fan-out with a queued branch: the quick sink now, the slow one on the drainer", "[alert][fanout][queued]") {
  Counting quick, slow;
  using Sink = kp::alert::Fanout<Counting, kp::alert::Queued<Counting>>;
  Sink fanout{quick, kp::alert::Queued<Counting>{slow, 16, kp::alert::manual_drain}};
  fanout.emit(numbered(1));
  fanout.emit(numbered(2));
  CHECK(quick.count->load() == 2);
  CHECK(slow.count->load() == 0);
  CHECK(fanout.get<1>().drain() == 2);
  CHECK(slow.count->load() == 2);
}
