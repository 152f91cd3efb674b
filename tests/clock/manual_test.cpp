// clock::Manual: shared, settable time for tests and simulations.
#include <catch2/catch.hpp>

#include <thread>

#include <keypool/clock/manual.hpp>
#include <keypool/clock/coarse.hpp>
#include <keypool/clock/system.hpp>

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

TEST_CASE("copies of a manual clock share one time", "[clock]") {
  kp::clock::Manual clock{sys_days{2026y / November / 24} + 8h};
  const kp::clock::Manual copy = clock;
  clock.advance(3s);
  CHECK(copy.now() == kp::TimePoint{sys_days{2026y / November / 24} + 8h + 3s});
  clock.set(sys_days{2026y / January / 1});
  CHECK(copy.now() == kp::TimePoint{sys_days{2026y / January / 1}});
}

TEST_CASE("sleep_until on a manual clock wakes when another thread advances it", "[clock]") {
  kp::clock::Manual clock;
  const auto target = clock.now() + 10s;
  std::thread mover{[clock]() mutable {
    std::this_thread::sleep_for(20ms);
    clock.advance(10s);
  }};
  clock.sleep_until(target, steady_clock::now() + 10s);
  CHECK(clock.now() >= target);
  mover.join();
}

TEST_CASE("sleep_until on a manual clock gives up at the real deadline", "[clock]") {
  kp::clock::Manual clock;
  const auto start = steady_clock::now();
  clock.sleep_until(clock.now() + 1h, start + 30ms);
  CHECK(steady_clock::now() - start >= 30ms);
}

TEST_CASE("the system and coarse clocks agree with system_clock to within their resolution", "[clock]") {
  const auto precise = kp::clock::System{}.now();
  const auto coarse = kp::clock::Coarse{}.now();
  CHECK(abs(precise - coarse) < 50ms);
}
