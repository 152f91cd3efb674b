// The policy concepts, positively and negatively, and the policy pack's resolution.
#include <catch2/catch.hpp>

#include <type_traits>

#include <keypool/keypool.hpp>

namespace kp = keypool;

namespace {

// A user's own policies, one per family: they plug in exactly like ours.
struct FirstKeyOnly {
  template <class Context>
  bool select(Context& ctx) {
    return ctx.size() > 0 && ctx.try_key(0);
  }
};
struct CountingSink {
  int* count;
  void emit(const kp::Event&) { ++*count; }
};
struct FrozenClock {
  kp::TimePoint at{};
  [[nodiscard]] kp::TimePoint now() const noexcept { return at; }
};

// Near misses: each breaks one numbered requirement.
struct SelectReturningVoid {
  template <class Context> void select(Context&) {}
};
struct SinkWithoutEmit {
  void log(const kp::Event&) {}
};
struct ClockReturningSeconds {
  [[nodiscard]] std::chrono::sys_seconds now() const noexcept { return {}; }
};
struct StoreWithoutFlush {
  void reserve(std::size_t) {}
  kp::KeySlot* bind(const kp::KeyBinding&) { return nullptr; }
};
struct TwoFamilies {  // a clock and a sink at once
  [[nodiscard]] kp::TimePoint now() const noexcept { return {}; }
  void emit(const kp::Event&) {}
};

}  // namespace

TEST_CASE("our policies satisfy their concepts and only theirs", "[concepts]") {
  STATIC_REQUIRE(kp::SelectionPolicy<kp::select::RoundRobin>);
  STATIC_REQUIRE(kp::StoragePolicy<kp::store::Memory>);
  STATIC_REQUIRE(kp::AlertSink<kp::alert::Null>);
  STATIC_REQUIRE(kp::AlertSink<kp::alert::Callback>);
  STATIC_REQUIRE(kp::ClockPolicy<kp::clock::System>);
  STATIC_REQUIRE(kp::ClockPolicy<kp::clock::Coarse>);
  STATIC_REQUIRE(kp::ClockPolicy<kp::clock::Manual>);
  STATIC_REQUIRE(!kp::AlertSink<kp::select::RoundRobin>);
  STATIC_REQUIRE(!kp::ClockPolicy<kp::store::Memory>);
  STATIC_REQUIRE(!kp::SelectionPolicy<kp::clock::Manual>);
  STATIC_REQUIRE(!kp::StoragePolicy<kp::alert::Callback>);
}

TEST_CASE("a type that breaks one requirement does not satisfy the concept", "[concepts]") {
  STATIC_REQUIRE(!kp::SelectionPolicy<SelectReturningVoid>);
  STATIC_REQUIRE(!kp::AlertSink<SinkWithoutEmit>);
  STATIC_REQUIRE(!kp::ClockPolicy<ClockReturningSeconds>);
  STATIC_REQUIRE(!kp::StoragePolicy<StoreWithoutFlush>);
  STATIC_REQUIRE(kp::ClockPolicy<TwoFamilies>);
  STATIC_REQUIRE(kp::AlertSink<TwoFamilies>);
  STATIC_REQUIRE(kp::detail::family_count_v<TwoFamilies> == 2);  // KeyPool<TwoFamilies> is a compile error
  STATIC_REQUIRE(kp::detail::family_count_v<SinkWithoutEmit> == 0);
}

TEST_CASE("policies are taken in any order, missing ones defaulted", "[concepts][pack]") {
  using A = kp::KeyPool<kp::clock::Manual, kp::alert::Callback>;
  using B = kp::KeyPool<kp::alert::Callback, kp::clock::Manual>;
  STATIC_REQUIRE(std::is_same_v<A, B>);
  STATIC_REQUIRE(std::is_same_v<A, kp::BasicKeyPool<kp::select::RoundRobin, kp::store::Memory, kp::alert::Callback, kp::clock::Manual>>);
  STATIC_REQUIRE(std::is_same_v<kp::KeyPool<>, kp::BasicKeyPool<kp::select::RoundRobin, kp::store::Memory, kp::alert::Null, kp::clock::Coarse>>);
}

TEST_CASE("a user's own policies plug in like ours, passed to the constructor in any order", "[concepts][pack]") {
  int events = 0;
  const kp::TimePoint t{std::chrono::sys_days{std::chrono::year{2026} / 11 / 24}};
  kp::KeyPool<FrozenClock, CountingSink, FirstKeyOnly> pool{CountingSink{&events}, kp::Capacity{4}, FrozenClock{t}};
  const auto p = pool.add_provider("groq");
  pool.add_key(p, kp::Secret{"gsk_user_policy_1"}, {kp::Limit::requests(1).per_minute()}, {.label = "first"});
  pool.add_key(p, kp::Secret{"gsk_user_policy_2"}, {kp::Limit::requests(1).per_minute()}, {.label = "second"});
  auto lease = pool.acquire();
  CHECK(lease.label() == "first");
  CHECK_FALSE(pool.acquire());  // FirstKeyOnly never tries the second key
  CHECK(events > 0);            // CountingSink heard the 100% crossing
}
