// clock::Ticker: the wall clock sampled by a thread of its own into one word.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <keypool/clock/ticker.hpp>
#include <keypool/concepts.hpp>
#include <keypool/keypool.hpp>

#include "../support/stress.hpp"

namespace kp = keypool;
using namespace std::chrono_literals;

namespace {

kp::TimePoint wall() { return std::chrono::time_point_cast<kp::Duration>(std::chrono::system_clock::now()); }

/// Waits (up to 10 s, for loaded machines) until the ticker shows a time after `after`.
bool moves_past(const kp::clock::Ticker& ticker, kp::TimePoint after) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ticker.now() <= after)
    if (std::chrono::steady_clock::now() > deadline) return false;
    else std::this_thread::sleep_for(200us);
  return true;
}

}  // namespace

static_assert(kp::ClockPolicy<kp::clock::Ticker>);

TEST_CASE("a ticker reads a recent sample of the wall clock, and moves with it", "[clock][ticker]") {
  const kp::clock::Ticker ticker;
  CHECK(ticker.resolution() == 1ms);
  const kp::TimePoint before = wall();
  const kp::TimePoint read = ticker.now();
  const kp::TimePoint after = wall();
  CHECK(read <= after);          // a sample taken in the past
  CHECK(read >= before - 10s);   // and a recent one (generous: the ticking thread may be descheduled)
  CHECK(moves_past(ticker, after));
}

TEST_CASE("a ticker refuses a resolution outside 100 µs … 1 s", "[clock][ticker]") {
  CHECK_THROWS_WITH(kp::clock::Ticker{50us}, Catch::Contains("between 100 µs and 1 s"));
  CHECK_THROWS_WITH(kp::clock::Ticker{2s}, Catch::Contains("between 100 µs and 1 s"));
  CHECK_THROWS_AS(kp::clock::Ticker{kp::Duration::zero()}, kp::Error);
  CHECK(kp::clock::Ticker{100us}.resolution() == 100us);
}

TEST_CASE("copies of a ticker share one thread, which stops with the last copy", "[clock][ticker]") {
  std::vector<kp::clock::Ticker> copies;
  {
    const kp::clock::Ticker first{200us};
    for (int i = 0; i < 8; ++i) copies.push_back(first);
  }
  CHECK(copies.back().now() <= wall());
  const auto start = std::chrono::steady_clock::now();
  copies.clear();  // the last copy joins the thread: within one tick, not a second
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("threads read a ticker while it ticks: every read is a whole, non-decreasing sample", "[clock][ticker]") {
  const kp::clock::Ticker ticker{100us};
  std::atomic<int> backwards{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      kp::TimePoint last = ticker.now();
      for (int i = 0; i < 200'000; ++i) {
        const kp::TimePoint read = ticker.now();
        if (read < last) backwards.fetch_add(1);  // only a system clock stepped back could do this
        last = read;
      }
    });
  for (auto& reader : readers) reader.join();
  CHECK(backwards.load() == 0);
}

TEST_CASE("a forked child's ticker starts its own thread and keeps moving", "[clock][ticker]") {
  if (under_thread_sanitizer) {
    // ThreadSanitizer cannot start a thread in the child of a multi-threaded process (it dies:
    // "starting new threads after multi-threaded fork is not supported"), which is exactly what
    // this tests. It runs in the plain and the ASan suites.
    SUCCEED("not run under ThreadSanitizer");
    return;
  }
  const kp::clock::Ticker ticker;
  REQUIRE(moves_past(ticker, ticker.now()));
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No thread ticks in the child until its first read; after it, time moves on.
    const kp::TimePoint first = ticker.now();
    const kp::TimePoint after = wall();
    const bool ok = first <= after && moves_past(ticker, after);
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(moves_past(ticker, wall()));  // the parent's thread still ticks
}

TEST_CASE("a pool on a ticker counts its windows by the ticker's time", "[clock][ticker]") {
  kp::KeyPool<kp::clock::Ticker> pool{kp::Capacity{2}};
  const auto p = pool.add_provider("groq");
  pool.add_key(p, kp::Secret{"gsk_ticker_0"}, {kp::Limit::requests(2).per_day()});
  pool.add_key(p, kp::Secret{"gsk_ticker_1"}, {kp::Limit::requests(2).per_day()});
  int granted = 0;
  for (int i = 0; i < 6; ++i)
    if (auto lease = pool.acquire()) {
      ++granted;
      lease.commit();
    }
  CHECK(granted == 4);
  const kp::Lease refused = pool.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(refused.refusal().retry_after <= 24h);
}
