// store::MappedFile: a state file whose counter and health words were damaged (one flipped bit,
// at rest or while pools run) never yields a dead key, an absurd figure or undefined behaviour:
// each impossible word is repaired when a pool binds the key, and a state_repaired event says
// which (docs/storage.md, "Corrupted counter words").
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <keypool/alert/callback.hpp>
#include <keypool/alert/ostream.hpp>
#include <keypool/detail/state_file.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include "support/mapped_file.hpp"

namespace kp = keypool;
namespace fs = std::filesystem;
namespace sf = keypool::detail::state_file;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using WatchedPool = kp::KeyPool<kp::store::MappedFile, kp::clock::Manual, kp::alert::Callback>;

// 2026-03-02 09:00:20 UTC: 40 s before the minute ends.
const kp::TimePoint start_time{sys_days{2026y / March / 2} + 9h + 20s};


std::vector<kp::Limit> victim_limits() {
  return {kp::Limit::requests(10).per_minute(), kp::Limit::tokens(100'000).per_day(), kp::Limit::requests(600).per(1h)};
}
/// How far ahead of now a limit's reset may honestly be after a single flipped bit: the next window
/// (a cache not yet updated), or a rolling counter pushed by commits above their estimates.
const kp::Duration horizon[] = {2min, 48h, 18h};

/// Offset in the file of the slot of key record 0.
constexpr std::size_t slot_offset = sf::header_bytes;

struct Word {
  const char* name;
  std::size_t offset;  // within the KeySlot
};
std::vector<Word> slot_words() {
  std::vector<Word> words;
  for (std::size_t i = 0; i < 3; ++i) {
    words.push_back({i == 0 ? "minute state" : i == 1 ? "day state" : "rolling state", offsetof(kp::KeySlot, counters) + i * sizeof(kp::KeySlot::Counter)});
    words.push_back({i == 0 ? "minute cache" : i == 1 ? "day cache" : "rolling cache",
                     offsetof(kp::KeySlot, counters) + i * sizeof(kp::KeySlot::Counter) + sizeof(std::uint64_t)});
    words.push_back({"alerted", offsetof(kp::KeySlot, alerted) + i * sizeof(std::uint64_t)});
  }
  words.push_back({"unused counter", offsetof(kp::KeySlot, counters) + 5 * sizeof(kp::KeySlot::Counter)});
  words.push_back({"blocked_until", offsetof(kp::KeySlot, blocked_until)});
  words.push_back({"health", offsetof(kp::KeySlot, health)});
  words.push_back({"generation", offsetof(kp::KeySlot, generation)});
  words.push_back({"successes", offsetof(kp::KeySlot, successes)});
  words.push_back({"failures", offsetof(kp::KeySlot, failures)});
  words.push_back({"rate_limited", offsetof(kp::KeySlot, rate_limited)});
  words.push_back({"last_error", offsetof(kp::KeySlot, last_error)});
  words.push_back({"reserved", offsetof(kp::KeySlot, reserved)});
  return words;
}

/// A file with one key, "victim", that used its limits a little: 3 requests this minute, 2,100
/// tokens today, the rolling limit 3 requests ahead, an alert claimed, a failure recorded.
std::string victim_file(const fs::path& path, kp::clock::Manual& clock) {
  {
    WatchedPool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock, kp::alert::Callback{}};
    const kp::ProviderId groq = pool.add_provider("groq");
    pool.add_key(groq, kp::Secret{"gsk_victim_0000001"}, victim_limits(), {.label = "victim"});
    for (int i = 0; i < 3; ++i) pool.acquire({.tokens = 500}).commit({.tokens = 700});
    pool.acquire({.tokens = 10}).fail(kp::Outcome::transient());
  }
  return read_bytes(path);
}

struct Opened {
  std::unique_ptr<WatchedPool> pool;
  std::shared_ptr<std::vector<kp::Event>> events = std::make_shared<std::vector<kp::Event>>();
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
};
Opened open_victim(const fs::path& path, kp::clock::Manual& clock) {
  Opened o;
  auto events = o.events;
  auto lines = o.lines;
  o.pool = std::make_unique<WatchedPool>(kp::Capacity{4}, kp::store::MappedFile{path}, clock, kp::alert::Callback{[events, lines](const kp::Event& e) {
                                           events->push_back(e);
                                           lines->push_back(kp::format_event(e));
                                         }});
  const kp::ProviderId groq = o.pool->add_provider("groq");
  o.pool->add_key(groq, kp::Secret{"gsk_victim_0000001"}, victim_limits(), {.label = "victim"});
  return o;
}

std::size_t repairs_in(const std::vector<kp::Event>& events) {
  std::size_t n = 0;
  for (const kp::Event& e : events) n += e.kind == kp::EventKind::state_repaired ? 1 : 0;
  return n;
}

/// The pool's answers for "victim" agree with its snapshot, and every figure is possible.
void check_sane(WatchedPool& pool, kp::TimePoint now) {
  const kp::Snapshot snap = pool.snapshot();
  REQUIRE(snap.keys.size() == 1);
  const kp::KeySnapshot& key = snap.keys[0];
  const std::vector<kp::Limit> limits = victim_limits();
  bool room = true;
  for (std::size_t i = 0; i < 3; ++i) {
    const kp::LimitUsage& usage = key.limits.at(i);
    INFO("limit " << i << " used " << usage.used << " resets " << usage.resets_at.time_since_epoch().count());
    // Usage up to 1,024 commits of the largest limit of the metric above their estimates is real.
    std::uint64_t largest = 0;
    for (const kp::Limit& other : limits)
      if (other.metric() == limits[i].metric()) largest = std::max(largest, other.amount());
    CHECK(usage.used <= largest * 1024);
    CHECK(usage.resets_at >= now);
    CHECK(usage.resets_at <= now + horizon[i]);
    room = room && usage.used + 1 <= limits[i].amount();
  }
  CHECK(key.consecutive_failures < (std::uint64_t{1} << 32));
  if (key.last_error) CHECK(key.last_error_at <= now);
  const bool blocked = key.status == kp::KeyStatus::disabled || key.status == kp::KeyStatus::cooling_down;
  if (key.status == kp::KeyStatus::cooling_down) CHECK(key.blocked_until <= now + kp::Duration{400 * 24h});
  const kp::Check check = pool.check({.tokens = 1}, now);
  CHECK(check.admitted == (room && !blocked));
  if (!check.admitted) {
    CHECK(check.refusal.retry_after > kp::Duration::zero());
    if (key.status != kp::KeyStatus::disabled) CHECK(check.refusal.retry_after <= 48h);
  }
}

}  // namespace

TEST_CASE("every single flipped bit of a key's slot words is repaired with an event, or leaves a working key",
          "[store][mapped][integrity]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  const std::string pristine = victim_file(path, clock);
  const kp::TimePoint now = clock.now();
  std::size_t repaired = 0, harmless = 0;
  for (const Word& word : slot_words()) {
    std::size_t word_repairs = 0;
    for (unsigned bit = 0; bit < 64; ++bit) {
      INFO(word.name << " bit " << bit);
      std::string bytes = pristine;
      std::uint64_t value = 0;
      std::memcpy(&value, bytes.data() + slot_offset + word.offset, sizeof value);
      value ^= std::uint64_t{1} << bit;
      std::memcpy(bytes.data() + slot_offset + word.offset, &value, sizeof value);
      write_bytes(path, bytes);

      Opened opened = open_victim(path, clock);
      const std::size_t repairs = repairs_in(*opened.events);
      for (std::size_t e = 0; e < opened.events->size(); ++e) {
        const kp::Event& event = (*opened.events)[e];
        if (event.kind != kp::EventKind::state_repaired) continue;
        CHECK(event.key_label == "victim");
        CHECK(event.key == kp::KeyId{0});
        CHECK(event.provider_name == "groq");
        CHECK(event.reported == value);
        CHECK((*opened.lines)[e].find("state_repaired provider=groq key=victim") != std::string::npos);
      }
      check_sane(*opened.pool, now);
      word_repairs += repairs;
      (repairs > 0 ? repaired : harmless) += 1;
      opened.pool.reset();

      // The repair is written: opening the file again finds nothing more to repair.
      Opened again = open_victim(path, clock);
      CHECK(repairs_in(*again.events) == 0);
      check_sane(*again.pool, now);
    }
    const std::string name = word.name;
    // Words with redundancy or a fixed value: every flip is caught.
    if (name == "minute cache" || name == "day cache" || name == "rolling cache" || name == "unused counter" || name == "reserved")
      CHECK(word_repairs == 64);
  }
  // A summary for the record (docs/storage.md quotes it).
  WARN("bit flips repaired with an event: " << repaired << ", left as plausible values: " << harmless);
}

TEST_CASE("a flipped window index is restored from the window cache, keeping the key's usage", "[store][mapped][integrity]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  const std::string pristine = victim_file(path, clock);
  const std::size_t day_state = slot_offset + offsetof(kp::KeySlot, counters) + sizeof(kp::KeySlot::Counter);
  for (unsigned bit : {46u, 50u, 60u, 63u}) {  // the day counter's window index starts at bit 46
    INFO("bit " << bit);
    std::string bytes = pristine;
    bytes[day_state + bit / 8] = static_cast<char>(bytes[day_state + bit / 8] ^ (1 << (bit % 8)));
    write_bytes(path, bytes);
    Opened opened = open_victim(path, clock);
    REQUIRE(repairs_in(*opened.events) == 1);
    const kp::Event& event = opened.events->front();
    CHECK(event.metric == kp::Metric::tokens);
    CHECK(event.window == "day");
    CHECK(event.limit == 100'000);
    CHECK(event.used == 2'100);
    CHECK(opened.pool->snapshot().keys[0].limits[1].used == 2'100);  // nothing given away, nothing taken
  }
}

TEST_CASE("a repair names the file, the key and the limit; a read-only store reports it without writing",
          "[store][mapped][integrity][read-only]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  std::string bytes = victim_file(path, clock);
  const std::size_t tat = slot_offset + offsetof(kp::KeySlot, counters) + 2 * sizeof(kp::KeySlot::Counter);
  bytes[tat + 7] = static_cast<char>(bytes[tat + 7] ^ 0x40);  // bit 62: the rolling TAT in the 23rd century
  write_bytes(path, bytes);

  kp::store::MappedFile inspect = kp::store::MappedFile::read_only(path);
  const std::vector<kp::Limit> limits = victim_limits();
  (void)inspect.bind(kp::KeyBinding{.index = 0, .label = "victim", .layout = kp::detail::layout_fingerprint(limits), .limits = limits, .provider = "groq"});
  const std::vector<const kp::store::StateRepair*> found = inspect.repair_bound(start_time);
  REQUIRE(found.size() == 1);
  CHECK_FALSE(found[0]->written);
  CHECK(found[0]->limit == 2);
  CHECK(found[0]->word == "rolling");
  INFO(found[0]->what);
  CHECK(found[0]->what.find(path.string()) != std::string::npos);
  CHECK(found[0]->what.find("'victim'") != std::string::npos);
  CHECK(found[0]->what.find("limit 3 (" + limits[2].describe() + ")") != std::string::npos);
  CHECK(read_bytes(path) == bytes);  // the read-only store wrote nothing

  Opened opened = open_victim(path, clock);
  REQUIRE(repairs_in(*opened.events) == 1);
  // Conservative: the burst counts as used; it replenishes within one period.
  const kp::Check check = opened.pool->check({}, start_time);
  CHECK_FALSE(check.admitted);
  CHECK(check.refusal.reason == kp::Reason::rate_limited);
  CHECK(check.refusal.retry_after > 0s);
  CHECK(check.refusal.retry_after <= 1h);
  clock.advance(1h);
  CHECK(opened.pool->check({}, clock.now()).admitted);
}

TEST_CASE("words corrupted while pools run: readers stay defined and the key recovers by its next window",
          "[store][mapped][integrity][threads]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  (void)victim_file(path, clock);
  Opened opened = open_victim(path, clock);
  WatchedPool& pool = *opened.pool;
  // The same slot as another process sees it: the label bound through a second mapping.
  kp::store::MappedFile second{path};
  const std::vector<kp::Limit> limits = victim_limits();
  kp::KeySlot* slot =
      second.bind(kp::KeyBinding{.index = 0, .label = "victim", .layout = kp::detail::layout_fingerprint(limits), .limits = limits, .provider = "groq"});
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::thread writer{[&] {
    // Another process gone wrong: writes the worst words it can while the pool runs.
    const std::uint64_t worst[] = {~std::uint64_t{0}, std::uint64_t{1} << 63, (std::uint64_t{1} << 63) - 1, 0x7fffffffffffff00ull};
    for (std::size_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      const std::uint64_t v = worst[n % 4];
      for (std::size_t i = 0; i < 3; ++i) {
        kp::detail::word(slot->counters[i].state).store(v, std::memory_order_relaxed);
        kp::detail::word(slot->counters[i].window_end).store(v, std::memory_order_relaxed);
      }
      kp::detail::word(slot->blocked_until).store(v == ~std::uint64_t{0} ? 0 : v, std::memory_order_relaxed);
      kp::detail::word(slot->last_error).store(v, std::memory_order_relaxed);
      kp::detail::word(slot->health).store(v, std::memory_order_relaxed);
      rounds.fetch_add(1, std::memory_order_relaxed);
    }
  }};
  // At least 2,000 acquires, and until the writer has had its way a few times.
  for (int i = 0; i < 2000 || rounds.load(std::memory_order_relaxed) < 8; ++i) {
    kp::Lease lease = pool.acquire({.tokens = 5}, start_time);
    if (lease) lease.commit({.tokens = 7});
    const kp::Snapshot snap = pool.snapshot();
    for (const kp::LimitUsage& usage : snap.keys.at(0).limits) CHECK(usage.resets_at >= start_time);
    if (snap.keys[0].last_error) CHECK(snap.keys[0].last_error_at >= kp::TimePoint{});
  }
  stop = true;
  writer.join();
  // The damage stays in the slot until the pool binds it again: the next open repairs it.
  Opened reopened = open_victim(path, clock);
  CHECK(repairs_in(*reopened.events) > 0);
  opened.pool.reset();
  check_sane(*reopened.pool, start_time);
}

TEST_CASE("a repaired health word is named in the event; its line prints the word as found", "[store][mapped][integrity][alert]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  std::string bytes = victim_file(path, clock);
  const std::size_t blocked = slot_offset + offsetof(kp::KeySlot, blocked_until);
  bytes[blocked + 7] = static_cast<char>(bytes[blocked + 7] ^ 0x40);  // bit 62: a cooldown until 2116
  write_bytes(path, bytes);
  Opened opened = open_victim(path, clock);
  REQUIRE(repairs_in(*opened.events) == 1);
  CHECK(opened.events->front().window == "blocked_until");
  CHECK(opened.lines->front() == "2026-03-02T09:00:20Z state_repaired provider=groq key=victim reported=4611686018427387904");
  CHECK(opened.pool->snapshot().keys[0].status == kp::KeyStatus::available);  // cleared: the key is tried again

  // One bit short of "disabled": the key stays disabled.
  opened.pool->disable(kp::KeyId{0});
  opened.pool.reset();
  bytes = read_bytes(path);
  bytes[blocked] = static_cast<char>(bytes[blocked] ^ 0x10);
  write_bytes(path, bytes);
  Opened again = open_victim(path, clock);
  REQUIRE(repairs_in(*again.events) == 1);
  CHECK(again.pool->snapshot().keys[0].status == kp::KeyStatus::disabled);
}
