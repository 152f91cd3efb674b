// Leased accounting through a real pool, against an in-process fake backend (no server): a store
// that declares accounting::Leased and leases from a map of fleet counts, with an outage switch.
// The real redis-server tests (tests/store/redis_test.cpp) cover the same seam over the network.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <keypool/keypool.hpp>

namespace kp = keypool;
namespace acc = keypool::accounting;
using namespace std::chrono_literals;

namespace {

/// A fleet backend in this process: per (key, limit, window) the units debited. Leases in chunks
/// of `chunk` on a refused acquire only (no background thread), like store::Redis with
/// refill_interval zero.
class FakeFleet {
 public:
  using accounting = acc::Leased;

  struct Shared {
    std::mutex mutex;
    std::map<std::tuple<std::size_t, std::size_t, std::uint64_t>, std::uint64_t> debited;
    bool reachable = true;
    std::uint64_t chunk = 10;
    std::vector<std::uint32_t> resets;  // per key: limits reset, as published
    int outages_reported = 0;
  };

  explicit FakeFleet(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  void reserve(std::size_t capacity) {
    slots_ = std::make_unique<kp::KeySlot[]>(capacity);
    std::memset(static_cast<void*>(slots_.get()), 0, capacity * sizeof(kp::KeySlot));
    plans_.resize(capacity);
  }
  kp::KeySlot* bind(const kp::KeyBinding& binding) {
    for (const kp::Limit& limit : binding.limits) plans_[binding.index].emplace_back(limit, kp::Thresholds{});
    count_ = binding.index + 1;
    return &slots_[binding.index];
  }
  void flush() noexcept {}

  void attach(acc::LeaseHost& host) { host_ = &host; }
  void detach() noexcept {
    // Gives back what is in hand, through the accounting's hand operations.
    const kp::TimePoint now = host_->lease_now();
    std::lock_guard lock{shared_->mutex};
    for (std::size_t k = 0; k < count_; ++k)
      for (std::size_t i = 0; i < plans_[k].size(); ++i) {
        const auto& plan = plans_[k][i];
        if (plan.kind != kp::Limit::Kind::window) continue;
        const auto current = acc::current_window_of(plan.limit, kp::detail::to_seconds(now));
        const std::uint64_t back = acc::LeasedWindow::take(plan, slots_[k].counters[i], current.epoch);
        auto& count = shared_->debited[{k, i, current.epoch}];
        count -= std::min(count, back);
      }
    host_ = nullptr;
  }
  bool lease_sync(const kp::detail::Amounts& amounts, kp::TimePoint now) noexcept {
    std::lock_guard lock{shared_->mutex};
    if (!shared_->reachable) {
      ++shared_->outages_reported;
      host_->lease_backend_unavailable(now, now + 1s);
      return false;
    }
    bool granted = false;
    for (std::size_t k = 0; k < count_; ++k)
      for (std::size_t i = 0; i < plans_[k].size(); ++i) {
        const auto& plan = plans_[k][i];
        if (plan.kind != kp::Limit::Kind::window) continue;
        const auto current = acc::current_window_of(plan.limit, kp::detail::to_seconds(now));
        const auto hand = acc::LeasedWindow::hand(plan, slots_[k].counters[i], current.epoch);
        const std::uint64_t need = amounts[static_cast<std::size_t>(plan.metric)];
        if (hand.in_hand >= static_cast<std::int64_t>(need)) continue;
        auto& count = shared_->debited[{k, i, current.epoch}];
        const std::uint64_t before = count;
        const std::uint64_t grant = std::min(std::max(need, shared_->chunk), plan.amount - std::min(plan.amount, count));
        if (grant == 0) continue;
        count += grant;  // debited first, spent after
        if (acc::LeasedWindow::give(plan, slots_[k].counters[i], current.epoch, current.end, grant, 0)) granted = true;
        host_->lease_fleet_usage(k, i, current.epoch, before, count, now);
      }
    return granted;
  }
  std::uint64_t fleet_used(std::size_t key, std::size_t limit, std::uint64_t epoch, std::uint64_t in_hand,
                           kp::TimePoint) const noexcept {
    std::lock_guard lock{shared_->mutex};
    const auto found = shared_->debited.find({key, limit, epoch});
    const std::uint64_t debited = found == shared_->debited.end() ? 0 : found->second;
    return debited - std::min(debited, in_hand);
  }
  void publish_disabled(std::size_t, bool) noexcept {}
  void publish_cooldown(std::size_t, std::uint64_t) noexcept {}
  void publish_exhausted(std::size_t key, std::size_t limit) noexcept {
    std::lock_guard lock{shared_->mutex};
    const auto& plan = plans_[key][limit];
    const auto current = acc::current_window_of(plan.limit, kp::detail::to_seconds(host_->lease_now()));
    auto& count = shared_->debited[{key, limit, current.epoch}];
    count = std::max(count, plan.amount);
  }
  void publish_reset(std::size_t key, std::uint32_t limits) noexcept {
    std::lock_guard lock{shared_->mutex};
    if (shared_->resets.size() <= key) shared_->resets.resize(key + 1);
    shared_->resets[key] |= limits;
    for (auto it = shared_->debited.begin(); it != shared_->debited.end();)
      it = std::get<0>(it->first) == key && (limits & (1u << std::get<1>(it->first))) != 0 ? shared_->debited.erase(it)
                                                                                           : std::next(it);
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<kp::KeySlot[]> slots_;
  std::vector<std::vector<kp::detail::LimitPlan>> plans_;
  std::size_t count_ = 0;
  acc::LeaseHost* host_ = nullptr;
};

static_assert(kp::StoragePolicy<FakeFleet>);
static_assert(acc::LeasingStore<FakeFleet>);
static_assert(std::is_same_v<acc::of<FakeFleet>, acc::Leased>);
static_assert(std::is_same_v<acc::of<kp::store::Memory>, acc::Local>);

/// A leasing store that forgets one hook is refused by the concept.
struct MissingHook {
  using accounting = acc::Leased;
  void reserve(std::size_t) {}
  kp::KeySlot* bind(const kp::KeyBinding&) { return nullptr; }
  void flush() noexcept {}
  void attach(acc::LeaseHost&) {}
  void detach() noexcept {}
  bool lease_sync(const kp::detail::Amounts&, kp::TimePoint) noexcept { return false; }
  // no fleet_used
  void publish_disabled(std::size_t, bool) noexcept {}
  void publish_cooldown(std::size_t, std::uint64_t) noexcept {}
  void publish_exhausted(std::size_t, std::size_t) noexcept {}
  void publish_reset(std::size_t, std::uint32_t) noexcept {}
};
static_assert(!acc::LeasingStore<MissingHook>);
static_assert(!acc::AccountingFor<acc::Leased, MissingHook>);

using Pool = kp::KeyPool<FakeFleet, kp::clock::Manual, kp::alert::Callback>;

struct Fixture {
  std::shared_ptr<FakeFleet::Shared> shared = std::make_shared<FakeFleet::Shared>();
  kp::clock::Manual clock{kp::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 30}} + 8h};
  std::vector<kp::Event> events;
  std::unique_ptr<Pool> pool = make();
  kp::KeyId key{};

  std::unique_ptr<Pool> make() {
    return std::make_unique<Pool>(kp::Capacity{4}, FakeFleet{shared}, clock,
                                  kp::alert::Callback{[this](const kp::Event& e) { events.push_back(e); }});
  }
  explicit Fixture(std::uint64_t per_day = 100) {
    const kp::ProviderId groq = pool->add_provider("groq");
    key = pool->add_key(groq, kp::Secret{"gsk_fake_1"}, {kp::Limit::requests(per_day).per_day()}, {.label = "groq-1"});
  }
  std::uint64_t debited() {
    std::lock_guard lock{shared->mutex};
    std::uint64_t total = 0;
    for (const auto& [where, count] : shared->debited) total += count;
    return total;
  }
  std::size_t count(kp::EventKind kind) const {
    return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [kind](const kp::Event& e) { return e.kind == kind; }));
  }
};

}  // namespace

TEST_CASE("leased: the pool admits exactly what the fleet leased, then the dry limit refuses until the window ends",
          "[accounting][leased]") {
  Fixture f{25};
  int admitted = 0;
  for (int i = 0; i < 40; ++i) {
    kp::Lease lease = f.pool->acquire();
    if (!lease) {
      CHECK(lease.refusal().reason == kp::Reason::exhausted);
      CHECK(lease.refusal().retry_after == 16h);  // until midnight UTC, not a guess
      continue;
    }
    ++admitted;
    lease.commit();
  }
  CHECK(admitted == 25);
  CHECK(f.debited() == 25);
  CHECK(f.pool->snapshot().keys[0].limits[0].used == 25);
  // The fleet's crossings are reported once each, from the backend's counts.
  CHECK(f.count(kp::EventKind::threshold_crossed) == 3);
  f.clock.advance(16h);
  CHECK(f.pool->acquire());  // a new window: leased afresh
}

TEST_CASE("leased: a reset forgets the hand and the fleet's count, and traffic resumes at once", "[accounting][leased]") {
  Fixture f{20};
  for (int i = 0; i < 20; ++i) REQUIRE(f.pool->acquire());
  REQUIRE_FALSE(f.pool->acquire());
  f.pool->reset_all();
  REQUIRE(f.shared->resets.size() == 1);
  CHECK(f.shared->resets[0] == ~std::uint32_t{0});
  CHECK(f.debited() == 0);
  int admitted = 0;
  for (int i = 0; i < 25; ++i) {
    kp::Lease lease = f.pool->acquire();
    if (lease) {
      ++admitted;
    } else {
      CHECK(lease.refusal().reason == kp::Reason::exhausted);
    }
  }
  CHECK(admitted == 20);
  CHECK(f.debited() == 20);
}

TEST_CASE("leased: what is in hand goes back to the fleet when the pool is destroyed", "[accounting][leased]") {
  Fixture f{100};
  f.shared->chunk = 30;
  for (int i = 0; i < 4; ++i) REQUIRE(f.pool->acquire());
  CHECK(f.debited() == 30);  // one chunk leased, 4 spent, 26 in hand
  f.pool.reset();
  CHECK(f.debited() == 4);
}

TEST_CASE("leased: a commit above the estimate is a debt the next lease covers first", "[accounting][leased]") {
  auto shared = std::make_shared<FakeFleet::Shared>();
  shared->chunk = 100;
  kp::clock::Manual clock{kp::TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 11 / 30}} + 8h};
  Pool pool{kp::Capacity{2}, FakeFleet{shared}, clock, kp::alert::Callback{[](const kp::Event&) {}}};
  const kp::ProviderId p = pool.add_provider("gemini");
  pool.add_key(p, kp::Secret{"AIza_fake_1"}, {kp::Limit::tokens(1'000).per_day()}, {.label = "gemini-1"});
  kp::Lease lease = pool.acquire({.tokens = 50});
  REQUIRE(lease);
  lease.commit({.tokens = 180});  // 100 leased, 180 spent: 80 owed beyond the hand
  CHECK(pool.snapshot().keys[0].limits[0].used == 100);  // what the fleet has debited so far
  kp::Lease next = pool.acquire({.tokens = 10});
  REQUIRE(next);  // a second lease of 100 covers the debt of 80, and 20 are in hand
  next.commit();
  CHECK(pool.snapshot().keys[0].limits[0].used == 190);  // 200 debited, 10 still in hand: exactly 180 + 10 spent
  kp::Lease third = pool.acquire({.tokens = 11});
  REQUIRE(third);  // 10 in hand is short of 11: leased again
  third.cancel();  // back in hand
  CHECK(pool.snapshot().keys[0].limits[0].used == 190);
}

TEST_CASE("leased: an outage refuses what is not in hand and reports the backend once per refusal path",
          "[accounting][leased]") {
  Fixture f{100};
  f.shared->chunk = 5;
  for (int i = 0; i < 5; ++i) REQUIRE(f.pool->acquire());
  f.shared->reachable = false;
  kp::Lease refused = f.pool->acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::exhausted);
  CHECK(f.count(kp::EventKind::backend_unavailable) == 1);
  f.shared->reachable = true;
  CHECK(f.pool->acquire());
}

TEST_CASE("leased: a provider's spent quota marks the fleet's window spent", "[accounting][leased]") {
  Fixture f{100};
  kp::Lease lease = f.pool->acquire();
  REQUIRE(lease);
  lease.fail(kp::Outcome::quota_exhausted(kp::Metric::requests, kp::TimePoint{}));
  CHECK(f.debited() == 100);
  kp::Lease after = f.pool->acquire();
  REQUIRE_FALSE(after);
  CHECK(after.refusal().reason == kp::Reason::exhausted);
  CHECK(f.count(kp::EventKind::key_exhausted) >= 1);
}
