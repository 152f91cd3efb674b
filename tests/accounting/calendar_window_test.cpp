// The calendar-window counters on their own, with no pool: a plan, a counter word and a time.
#include <catch2/catch.hpp>

#include <chrono>

#include <keypool/accounting/calendar_window.hpp>
#include <keypool/accounting/ledger.hpp>
#include <keypool/accounting/leased.hpp>
#include <keypool/accounting/local.hpp>

#include "../support/instants.hpp"

namespace kp = keypool;
namespace acc = keypool::accounting;
using namespace std::chrono_literals;

namespace {

kp::TimePoint at(std::chrono::sys_seconds t) { return kp::TimePoint{t.time_since_epoch()}; }

struct Word {
  kp::detail::LimitPlan plan;
  kp::KeySlot::Counter counter{0, 0};
  explicit Word(const kp::Limit& limit) : plan(limit, kp::Thresholds{}) {}

  acc::Admission reserve(std::uint64_t amount, kp::TimePoint now, acc::Reserved& out, std::size_t level = 2) {
    return acc::Local::reserve(plan, counter, amount, level, acc::Instant{now}, out);
  }
  acc::Admission reserve_leased(std::uint64_t amount, kp::TimePoint now, acc::Reserved& out) {
    return acc::Leased::reserve(plan, counter, amount, 2, acc::Instant{now}, out);
  }
  std::uint64_t used(kp::TimePoint now) {
    return acc::Local::usage(0, 0, 0, plan, counter, acc::Instant{now}).used;
  }
};

const kp::TimePoint morning = at(utc(2026, 11, 24, 8));

}  // namespace

TEST_CASE("a window admits up to its cap, then refuses without a write", "[accounting][window]") {
  Word w{kp::Limit::requests(3).per_minute()};
  acc::Reserved r;
  for (int i = 0; i < 3; ++i) REQUIRE(w.reserve(1, morning, r) == acc::Admission::granted);
  CHECK(r.before == 2);
  const std::uint64_t before = w.counter.state;
  CHECK(w.reserve(1, morning, r) == acc::Admission::over_cap);
  CHECK(w.counter.state == before);
  CHECK(r.before == 3);
  CHECK(w.used(morning) == 3);
}

TEST_CASE("a request larger than the cap is too large, not over cap", "[accounting][window]") {
  Word w{kp::Limit::tokens(100).per_day()};
  acc::Reserved r;
  CHECK(w.reserve(101, morning, r) == acc::Admission::too_large);
  const auto verdict = acc::CalendarWindow::wait(w.plan, w.counter, 101, 100, acc::Instant{morning});
  CHECK(verdict.reason == kp::Reason::too_large);
  CHECK(verdict.wait == kp::Duration::max());
}

TEST_CASE("a stale window reads as empty, without a reset job", "[accounting][window]") {
  Word w{kp::Limit::requests(2).per_minute()};
  acc::Reserved r;
  REQUIRE(w.reserve(2, morning, r) == acc::Admission::granted);
  CHECK(w.reserve(1, morning, r) == acc::Admission::over_cap);
  CHECK(w.used(morning + 60s) == 0);
  CHECK(w.reserve(1, morning + 60s, r) == acc::Admission::granted);
  CHECK(r.before == 0);
  CHECK(w.used(morning + 60s) == 1);
}

TEST_CASE("a clock that steps back keeps counting in the later window", "[accounting][window]") {
  Word w{kp::Limit::requests(2).per_minute()};
  acc::Reserved r;
  REQUIRE(w.reserve(2, morning + 60s, r) == acc::Admission::granted);
  // Back into the previous minute: the later window's usage still counts, nothing reopens.
  CHECK(w.reserve(1, morning + 30s, r) == acc::Admission::over_cap);
  const auto verdict = acc::CalendarWindow::wait(w.plan, w.counter, 1, 2, acc::Instant{morning + 30s});
  CHECK(verdict.reason == kp::Reason::exhausted);
  CHECK(verdict.wait == 90s);  // until the end of the later window
}

TEST_CASE("the wait of a full window is the time to its end", "[accounting][window]") {
  Word w{kp::Limit::requests(1).per_day()};
  acc::Reserved r;
  REQUIRE(w.reserve(1, morning, r) == acc::Admission::granted);
  const auto verdict = acc::CalendarWindow::wait(w.plan, w.counter, 1, 1, acc::Instant{morning});
  CHECK(verdict.reason == kp::Reason::exhausted);
  CHECK(verdict.wait == 16h);
  CHECK(acc::CalendarWindow::wait(w.plan, w.counter, 1, 1, acc::Instant{morning + 16h}).wait == kp::Duration::zero());
}

TEST_CASE("release gives back only in the window reserved in", "[accounting][window]") {
  Word w{kp::Limit::tokens(1'000).per_minute()};
  acc::Reserved r;
  REQUIRE(w.reserve(600, morning, r) == acc::Admission::granted);
  acc::CalendarWindow::release(w.plan, w.counter, 200, r.epoch);
  CHECK(w.used(morning) == 400);
  acc::CalendarWindow::release(w.plan, w.counter, 10'000, r.epoch);  // never below zero
  CHECK(w.used(morning) == 0);
  REQUIRE(w.reserve(500, morning, r) == acc::Admission::granted);
  acc::Reserved later;
  REQUIRE(w.reserve(100, morning + 60s, later) == acc::Admission::granted);
  acc::CalendarWindow::release(w.plan, w.counter, 500, r.epoch);  // that window has ended
  CHECK(w.used(morning + 60s) == 100);
}

TEST_CASE("charge adds usage above the estimate, saturating, in its window only", "[accounting][window]") {
  Word w{kp::Limit::tokens(1'000).per_day()};
  acc::Reserved r;
  REQUIRE(w.reserve(100, morning, r) == acc::Admission::granted);
  const acc::Change change = acc::CalendarWindow::charge(w.plan, w.counter, 950, r.epoch);
  CHECK(change.changed);
  CHECK(change.before == 100);
  CHECK(change.after == 1'050);  // the call happened: counted beyond the limit
  CHECK(w.used(morning) == 1'050);
  const acc::Change huge = acc::CalendarWindow::charge(w.plan, w.counter, ~std::uint64_t{0}, r.epoch);
  CHECK(huge.after == w.plan.packing.mask);  // saturates, never spills into the epoch
  CHECK(w.plan.packing.epoch(w.counter.state) == r.epoch);
  CHECK_FALSE(acc::CalendarWindow::charge(w.plan, w.counter, 5, r.epoch + 1).changed);
}

TEST_CASE("raise_to lifts usage to a floor and never lowers it", "[accounting][window]") {
  Word w{kp::Limit::requests(100).per_minute()};
  const auto now = acc::Instant{morning};
  acc::Change change = acc::CalendarWindow::raise_to(w.plan, w.counter, 40, now.sec);
  CHECK(change.changed);
  CHECK(change.before == 0);
  CHECK(w.used(morning) == 40);
  CHECK_FALSE(acc::CalendarWindow::raise_to(w.plan, w.counter, 30, now.sec).changed);
  CHECK(w.used(morning) == 40);
}

TEST_CASE("fill marks the window spent until it ends", "[accounting][window]") {
  Word w{kp::Limit::requests(100).per_day()};
  acc::CalendarWindow::fill(w.plan, w.counter, acc::Instant{morning}.sec);
  CHECK(w.used(morning) == 100);
  acc::Reserved r;
  CHECK(w.reserve(1, morning, r) == acc::Admission::over_cap);
  CHECK(w.reserve(1, morning + 16h, r) == acc::Admission::granted);
}

TEST_CASE("reset forgets usage but keeps the window", "[accounting][window]") {
  Word w{kp::Limit::requests(5).per_minute()};
  acc::Reserved r;
  REQUIRE(w.reserve(5, morning + 60s, r) == acc::Admission::granted);
  acc::CalendarWindow::reset(w.plan, w.counter);
  CHECK(w.used(morning + 60s) == 0);
  CHECK(w.plan.packing.epoch(w.counter.state) == r.epoch);
}

TEST_CASE("headroom is the fraction left at the request's priority", "[accounting][window]") {
  Word w{kp::Limit::tokens(1'000).per_day().headroom(kp::Priority::batch, 0.5)};
  acc::Reserved r;
  REQUIRE(w.reserve(250, morning, r) == acc::Admission::granted);
  CHECK(acc::Local::headroom(w.plan, w.counter, 2, acc::Instant{morning}) == Approx(0.75));
  CHECK(acc::Local::headroom(w.plan, w.counter, 0, acc::Instant{morning}) == Approx(0.5));  // cap 500
  CHECK(w.reserve(300, morning, r, 0) == acc::Admission::over_cap);  // batch stops at 500
}

TEST_CASE("a leased window starts with nothing in hand", "[accounting][window][leased]") {
  Word w{kp::Limit::requests(100).per_day()};
  acc::Reserved r;
  CHECK(w.reserve_leased(1, morning, r) == acc::Admission::over_cap);
  const auto verdict = acc::LeasedWindow::wait(w.plan, w.counter, 1, 100, acc::Instant{morning});
  CHECK(verdict.reason == kp::Reason::exhausted);
  const auto current = acc::current_window_of(w.plan.limit, acc::Instant{morning}.sec);
  REQUIRE(acc::LeasedWindow::give(w.plan, w.counter, current.epoch, current.end, 10, 0));
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == 10);
  for (int i = 0; i < 10; ++i) REQUIRE(w.reserve_leased(1, morning, r) == acc::Admission::granted);
  CHECK(w.reserve_leased(1, morning, r) == acc::Admission::over_cap);
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == 0);
}

TEST_CASE("a leased hand gives back, takes back and carries debt", "[accounting][window][leased]") {
  Word w{kp::Limit::tokens(1'000).per_day()};
  const auto current = acc::current_window_of(w.plan.limit, acc::Instant{morning}.sec);
  REQUIRE(acc::LeasedWindow::give(w.plan, w.counter, current.epoch, current.end, 100, 0));
  acc::Reserved r;
  REQUIRE(w.reserve_leased(80, morning, r) == acc::Admission::granted);
  acc::LeasedWindow::charge(w.plan, w.counter, 50, r.epoch);  // 30 beyond the hand: a debt
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == -30);
  CHECK(acc::LeasedWindow::take(w.plan, w.counter, current.epoch) == 0);  // nothing to give back
  REQUIRE(acc::LeasedWindow::give(w.plan, w.counter, current.epoch, current.end, 20, 30));  // debt settled
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == 20);
  CHECK(acc::LeasedWindow::take(w.plan, w.counter, current.epoch) == 20);
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == 0);
  // A grant for a window the word has left behind is worthless.
  REQUIRE(acc::LeasedWindow::give(w.plan, w.counter, current.epoch + 1, current.end + 86'400, 5, 0));
  CHECK_FALSE(acc::LeasedWindow::give(w.plan, w.counter, current.epoch, current.end, 5, 0));
}

TEST_CASE("a leased reset drops what is in hand; a report only lowers the hand", "[accounting][window][leased]") {
  Word w{kp::Limit::requests(100).per_day()};
  const auto now = acc::Instant{morning};
  const auto current = acc::current_window_of(w.plan.limit, now.sec);
  // A report on a stale leased word cannot hand out quota the backend did not debit.
  CHECK_FALSE(acc::LeasedWindow::raise_to(w.plan, w.counter, 40, now.sec).changed);
  REQUIRE(acc::LeasedWindow::give(w.plan, w.counter, current.epoch, current.end, 50, 0));
  CHECK(acc::LeasedWindow::raise_to(w.plan, w.counter, 90, now.sec).changed);  // 10 left, says the provider
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == 10);
  acc::LeasedWindow::reset(w.plan, w.counter);
  CHECK(acc::LeasedWindow::hand(w.plan, w.counter, current.epoch).in_hand == 0);
}
