// A key's health words on their own (detail/health.hpp): the gate, cooldowns that are never
// shortened, disable and enable, and the circuit breaker's backoff with its jitter bounds.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>

#include <keypool/detail/health.hpp>

namespace kp = keypool;
namespace health = keypool::detail::health;
using namespace std::chrono_literals;

namespace {
kp::KeySlot fresh_slot() {
  kp::KeySlot slot;
  std::memset(static_cast<void*>(&slot), 0, sizeof slot);
  return slot;
}
}  // namespace

TEST_CASE("health: a cooldown closes the gate until it ends and is never shortened", "[health]") {
  kp::KeySlot slot = fresh_slot();
  CHECK(health::open(slot, 1'000));
  CHECK(health::block_until(slot, 5'000));
  CHECK_FALSE(health::open(slot, 4'999));
  CHECK(health::open(slot, 5'000));
  CHECK_FALSE(health::block_until(slot, 3'000));  // shorter: ignored
  CHECK(health::blocked(slot) == 5'000);
  CHECK(health::block_until(slot, 9'000));
  CHECK(health::blocked(slot) == 9'000);
}

TEST_CASE("health: disable outlasts any cooldown; enable clears both and the circuit", "[health]") {
  kp::KeySlot slot = fresh_slot();
  CHECK(health::disable(slot));
  CHECK_FALSE(health::disable(slot));  // already disabled
  CHECK_FALSE(health::block_until(slot, ~std::uint64_t{0} - 1));
  CHECK_FALSE(health::open(slot, ~std::uint64_t{0} - 1));
  health::clear_cooldown(slot);  // a reset does not lift a disable
  CHECK(health::blocked(slot) == kp::disabled_until);
  CHECK(health::enable(slot));
  CHECK(health::open(slot, 0));
  CHECK_FALSE(health::enable(slot));  // was not disabled
}

TEST_CASE("health: the circuit opens at the threshold and backs off exponentially within ±25%", "[health]") {
  kp::KeySlot slot = fresh_slot();
  const kp::HealthOptions options{.circuit_threshold = 3, .circuit_base = 1s, .circuit_max = 8s};
  CHECK_FALSE(health::transient_failure(slot, options, 0, 7).has_value());
  CHECK_FALSE(health::transient_failure(slot, options, 0, 7).has_value());
  for (const kp::Duration expected : {kp::Duration{1s}, kp::Duration{2s}, kp::Duration{4s}, kp::Duration{8s}, kp::Duration{8s}}) {
    const auto open_for = health::transient_failure(slot, options, 123'456'789, 7);
    REQUIRE(open_for.has_value());
    CHECK(*open_for >= expected - expected / 4);
    CHECK(*open_for <= std::min<kp::Duration>(8s, expected + expected / 4));
  }
  health::record_success(slot);  // a success closes the circuit
  CHECK_FALSE(health::transient_failure(slot, options, 0, 7).has_value());
}

TEST_CASE("health: failures are counted and the last error remembered", "[health]") {
  kp::KeySlot slot = fresh_slot();
  health::record_failure(slot, kp::Outcome::rate_limited(3s).with_status(429),
                         kp::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}});
  health::record_failure(slot, kp::Outcome::transient().with_status(503), kp::TimePoint{});
  CHECK(slot.failures == 2);
  CHECK(slot.rate_limited == 1);
  CHECK(((slot.last_error >> 8) & 0xffff) == 503);
}

TEST_CASE("health: another instance's view is followed, a disable is kept against a cooldown", "[health]") {
  kp::KeySlot slot = fresh_slot();
  health::follow_cooldown(slot, 10'000);
  CHECK(health::blocked(slot) == 10'000);
  health::follow_disabled(slot, true);
  health::follow_cooldown(slot, 20'000);
  CHECK(health::blocked(slot) == kp::disabled_until);
  health::follow_disabled(slot, false);
  CHECK(health::open(slot, 0));
}
