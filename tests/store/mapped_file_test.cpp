// store::MappedFile: counts in a state file that outlive the pool and are shared by every pool that
// maps it. Restarts, label matching, layout checks, bad files, read-only inspection, admin
// operations across pools. Time stands still on a manual clock, so every count is exact.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <latch>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <keypool/detail/state_file.hpp>
#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include "support/mapped_file.hpp"

namespace kp = keypool;
namespace fs = std::filesystem;
namespace sf = keypool::detail::state_file;
using Catch::Matchers::Contains;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// 2026-03-02 09:00:20 UTC: 40 s before the minute ends, so per-minute windows stay put.
const kp::TimePoint start_time{sys_days{2026y / March / 2} + 9h + 20s};


/// The message of the keypool::Error that `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const kp::Error& error) {
    return error.what();
  }
  return "";
}

/// Reads the file's header, lets `edit` change it, optionally re-seals its checksum, writes it back.
template <class Edit>
void patch_header(const fs::path& path, Edit edit, bool reseal) {
  std::string bytes = read_bytes(path);
  sf::Header header{};
  std::memcpy(&header, bytes.data(), sizeof header);
  edit(header);
  if (reseal) header.checksum = sf::header_checksum(header);
  std::memcpy(bytes.data(), &header, sizeof header);
  write_bytes(path, bytes);
}

/// Offset in the file of key record `index`'s descriptor.
std::size_t descriptor_offset(std::size_t index) {
  return sf::chunk_offset(index / sf::keys_per_chunk) + sf::chunk_slots_bytes + (index % sf::keys_per_chunk) * sizeof(sf::Descriptor);
}

/// Acquires until a lease on `key` comes up (cancelling the others: a cancel refunds exactly).
kp::Lease acquire_on(FilePool& pool, kp::KeyId key, kp::Request request = {}) {
  for (std::size_t attempt = 0; attempt < 4 * pool.key_count() + 4; ++attempt) {
    kp::Lease lease = pool.acquire(request);
    if (!lease) return lease;
    if (lease.key() == key) return lease;
    lease.cancel();
  }
  FAIL("no lease on key " << key.value);
  return {};
}

std::uint64_t used(const kp::Snapshot& snap, const std::string& label, std::size_t limit) {
  for (const kp::KeySnapshot& key : snap.keys)
    if (key.label == label) return key.limits.at(limit).used;
  FAIL("no key labelled " << label);
  return 0;
}
const kp::KeySnapshot& key_of(const kp::Snapshot& snap, const std::string& label) {
  for (const kp::KeySnapshot& key : snap.keys)
    if (key.label == label) return key;
  FAIL("no key labelled " << label);
  return snap.keys.front();
}

std::vector<kp::Limit> minute_and_day() {
  return {kp::Limit::requests(10).per_minute(), kp::Limit::tokens(100'000).per_day()};
}

/// Runs `body` in a forked child and returns what it returned (or the exception it threw) and its
/// exit status. The child ends with _exit: nothing of the parent's (Catch2, buffers) runs there.
struct ChildResult {
  int status = -1;
  std::string output;
};
template <class Body>
ChildResult in_child(Body body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::string output;
    int code = 0;
    try {
      output = body();
    } catch (const std::exception& error) {
      output = std::string{"exception: "} + error.what();
      code = 2;
    } catch (...) {
      code = 3;
    }
    write_all(fds[1], output);
    ::_exit(code);
  }
  ::close(fds[1]);
  ChildResult result;
  result.output = read_all(fds[0]);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// The StoragePolicy contract

TEST_CASE("MappedFile satisfies StoragePolicy and hands out aligned, stable, zeroed slots per label", "[store][mapped]") {
  STATIC_REQUIRE(kp::StoragePolicy<kp::store::MappedFile>);
  STATIC_REQUIRE(!std::is_copy_constructible_v<kp::store::MappedFile>);
  TempDir dir;
  kp::store::MappedFile store{dir / "quota.kp"};
  store.reserve(8);
  const std::vector<kp::Limit> limits{kp::Limit::requests(5).per_minute()};
  kp::KeySlot* a = store.bind({0, "a", 42, limits, "groq"});
  kp::KeySlot* b = store.bind({1, "b", 42, limits, "groq"});
  CHECK(a != b);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(b) % 64 == 0);
  const kp::KeySlot zero{};
  CHECK(std::memcmp(a, &zero, sizeof zero) == 0);
  a->counters[0].state = 7;  // the same label finds the same slot, with what was written to it
  CHECK(store.bind({2, "a", 42, limits, "groq"}) == a);
  CHECK(a->counters[0].state == 7);
  CHECK_THROWS_WITH(store.bind({8, "c", 42, limits, "groq"}), Contains("beyond the reserved capacity"));
  kp::store::MappedFile moved{std::move(store)};  // slot addresses survive a move
  CHECK(moved.bind({3, "b", 42, limits, "groq"}) == b);
  CHECK_THROWS_WITH((void)store.path(), Contains("moved from"));  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("a new state file starts with keypool's signature and describes its keys", "[store][mapped]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  REQUIRE_FALSE(fs::exists(path));
  kp::clock::Manual clock{start_time};
  const std::vector<kp::Limit> limits{kp::Limit::requests(30).per_minute(),
                                      kp::Limit::tokens(14'400).per_day().reset_zone(kp::Zone::posix("PST8PDT,M3.2.0,M11.1.0")),
                                      kp::Limit::tokens(50'000).per_month().headroom(kp::Priority::batch, 0.8),
                                      kp::Limit::requests(3).per(2s),
                                      kp::Limit::tokens(8'000).per_request(),
                                      kp::Limit::units(100).per_hour().reset_zone(kp::Zone::fixed(minutes{-330}))};
  {
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_first_0000000001"}, limits, {.label = "groq-1"});
  }
  const std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() == sf::file_bytes(1));
  CHECK(std::memcmp(bytes.data(), sf::magic.data(), sf::magic.size()) == 0);

  const kp::store::FileDescription description = kp::store::MappedFile::inspect(path);
  CHECK(description.format_version == sf::format_version);
  CHECK(description.slot_version == kp::key_slot_version);
  CHECK(description.key_room == sf::keys_per_chunk);
  REQUIRE(description.keys.size() == 1);
  const kp::store::StoredKey& key = description.keys[0];
  CHECK(key.label == "groq-1");
  CHECK(key.provider == "groq");
  CHECK(key.limits == limits);  // every kind, zone and headroom rebuilt exactly
  CHECK(key.created_at.time_since_epoch().count() > 0);
}

// -------------------------------------------------------------------------------------------------
// Restarts

TEST_CASE("usage, cooldowns and disabled flags survive closing and reopening the file", "[store][mapped][restart]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  {
    FilePool pool{kp::Capacity{8}, kp::store::MappedFile{path}, clock};
    const kp::ProviderId groq = pool.add_provider("groq");
    const kp::KeyId busy = pool.add_key(groq, kp::Secret{"gsk_busy_000000001"}, minute_and_day(), {.label = "busy"});
    const kp::KeyId cooling = pool.add_key(groq, kp::Secret{"gsk_cool_000000002"}, minute_and_day(), {.label = "cooling"});
    const kp::KeyId revoked = pool.add_key(groq, kp::Secret{"gsk_revk_000000003"}, minute_and_day(), {.label = "revoked"});
    for (int i = 0; i < 3; ++i) acquire_on(pool, busy, {.tokens = 500}).commit({.tokens = 700});
    acquire_on(pool, cooling, {.tokens = 10}).fail(kp::Outcome::rate_limited(30s));
    acquire_on(pool, revoked, {.tokens = 10}).fail(kp::Outcome::auth_failed());
    const kp::Snapshot before = pool.snapshot();
    REQUIRE(used(before, "busy", 0) == 3);
    REQUIRE(used(before, "busy", 1) == 2'100);
  }  // the pool is destroyed: its process memory is gone, the file stays

  FilePool pool{kp::Capacity{8}, kp::store::MappedFile{path}, clock};
  const kp::ProviderId groq = pool.add_provider("groq");
  // Same labels, other secrets (a rotated key keeps its label's counts), another order.
  const kp::KeyId revoked = pool.add_key(groq, kp::Secret{"gsk_revk_rotated_03"}, minute_and_day(), {.label = "revoked"});
  pool.add_key(groq, kp::Secret{"gsk_busy_rotated_01"}, minute_and_day(), {.label = "busy"});
  pool.add_key(groq, kp::Secret{"gsk_cool_rotated_02"}, minute_and_day(), {.label = "cooling"});
  const kp::Snapshot after = pool.snapshot();
  CHECK(used(after, "busy", 0) == 3);
  CHECK(used(after, "busy", 1) == 2'100);
  CHECK(used(after, "cooling", 0) == 1);  // a failed call was still sent: it counts
  CHECK(key_of(after, "cooling").status == kp::KeyStatus::cooling_down);
  CHECK(key_of(after, "cooling").blocked_until == start_time + 30s);
  CHECK(key_of(after, "revoked").status == kp::KeyStatus::disabled);
  CHECK(key_of(after, "busy").status == kp::KeyStatus::available);

  // The restored state governs admission: only "busy" serves now, 7 more times this minute.
  int granted = 0;
  for (kp::Lease lease = pool.acquire(); lease; lease = pool.acquire()) {
    CHECK(lease.label() == "busy");
    ++granted;
  }
  CHECK(granted == 7);
  clock.advance(41s);  // 09:01:01: the cooldown is over, and a new minute began
  int served = 0;
  for (int i = 0; i < 25; ++i) served += pool.acquire() ? 1 : 0;
  CHECK(served == 20);  // "busy" and "cooling" serve 10 each; "revoked" stays disabled
  pool.enable(revoked);
  CHECK(key_of(pool.snapshot(), "revoked").status == kp::KeyStatus::available);
}

TEST_CASE("keys are matched by label: adding, removing and reordering keys between runs keeps the others' counts", "[store][mapped][restart]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  auto run = [&](const std::vector<std::string>& labels, const std::map<std::string, int>& spend) {
    FilePool pool{kp::Capacity{8}, kp::store::MappedFile{path}, clock};
    const kp::ProviderId p = pool.add_provider("p");
    std::map<std::string, kp::KeyId> ids;
    for (const std::string& label : labels)
      ids[label] = pool.add_key(p, kp::Secret{"secret-for-" + label + "-0000"}, minute_and_day(), {.label = label});
    for (const auto& [label, count] : spend)
      for (int i = 0; i < count; ++i) acquire_on(pool, ids.at(label)).commit();
    std::map<std::string, std::uint64_t> counts;
    for (const kp::KeySnapshot& key : pool.snapshot().keys) counts[key.label] = key.limits[0].used;
    return counts;
  };
  CHECK(run({"a", "b", "c"}, {{"a", 1}, {"b", 2}, {"c", 3}}) == std::map<std::string, std::uint64_t>{{"a", 1}, {"b", 2}, {"c", 3}});
  // b removed, d added, order changed.
  CHECK(run({"c", "d", "a"}, {{"d", 4}}) == std::map<std::string, std::uint64_t>{{"a", 1}, {"c", 3}, {"d", 4}});
  // b is back: its record stayed in the file.
  CHECK(run({"b"}, {}) == std::map<std::string, std::uint64_t>{{"b", 2}});

  std::vector<std::string> stored;
  for (const auto& key : kp::store::MappedFile::inspect(path).keys) stored.push_back(key.label);
  CHECK(stored == std::vector<std::string>{"a", "b", "c", "d"});  // in the order first added
}

TEST_CASE("a label stored with another limit layout is refused, naming the key and the ways out", "[store][mapped][bad-input]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  {
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    const kp::KeyId k = pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_layout_00001"},
                                     {kp::Limit::requests(30).per_minute()}, {.label = "groq-1"});
    acquire_on(pool, k).commit();
  }
  FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  const kp::ProviderId groq = pool.add_provider("groq");
  const std::string message = error_of([&] {
    pool.add_key(groq, kp::Secret{"gsk_layout_00001"}, {kp::Limit::requests(30).per_hour()}, {.label = "groq-1"});
  });
  CHECK_THAT(message, Contains("key 'groq-1' is stored with other limits (requests 30 per minute)"));
  CHECK_THAT(message, Contains("given now (requests 30 per hour)"));
  CHECK_THAT(message, Contains("give it a new label") && Contains("delete the file"));
  CHECK(pool.key_count() == 0);
  // Following the advice works, and the refused key's counts are untouched.
  const kp::KeyId renamed = pool.add_key(groq, kp::Secret{"gsk_layout_00001"}, {kp::Limit::requests(30).per_hour()},
                                         {.label = "groq-1-hourly"});
  CHECK(pool.snapshot().keys.at(renamed.value).limits[0].used == 0);
  const kp::KeyId old = pool.add_key(groq, kp::Secret{"gsk_layout_00002"}, {kp::Limit::requests(30).per_minute()},
                                     {.label = "groq-1"});
  CHECK(pool.snapshot().keys.at(old.value).limits[0].used == 1);
  CHECK(kp::store::MappedFile::inspect(path).keys.at(0).limits ==
        std::vector<kp::Limit>{kp::Limit::requests(30).per_minute()});
}

TEST_CASE("new amounts, zones, headroom or provider keep a label's counts and are written to the file", "[store][mapped][restart]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  {
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    const kp::KeyId k = pool.add_key(pool.add_provider("groq"), kp::Secret{"gsk_amount_0001"},
                                     {kp::Limit::requests(10).per_minute()}, {.label = "k"});
    for (int i = 0; i < 4; ++i) acquire_on(pool, k).commit();
  }
  const std::vector<kp::Limit> raised{kp::Limit::requests(20).per_minute().headroom(kp::Priority::batch, 0.5)};
  for (int run = 0; run < 2; ++run) {  // the second run finds the new description already there
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    pool.add_key(pool.add_provider("groq-eu"), kp::Secret{"gsk_amount_0001"}, raised, {.label = "k"});
    const kp::Snapshot snap = pool.snapshot();
    CHECK(snap.keys[0].limits[0].used == 4 + static_cast<std::uint64_t>(run));
    CHECK(snap.keys[0].limits[0].limit == 20);
    pool.acquire().commit();
    const auto description = kp::store::MappedFile::inspect(path);
    REQUIRE(description.keys.size() == 1);
    CHECK(description.keys[0].provider == "groq-eu");
    CHECK(description.keys[0].limits == raised);
  }
}

TEST_CASE("the state file never contains key material", "[store][mapped][secret]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  const std::string secrets[] = {"gsk_live_Zq8RkT3vWm9pXy2bNc4dHf6jLs1aEe5u", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"};
  {
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    const kp::ProviderId p = pool.add_provider("groq");
    pool.add_key(p, kp::Secret{secrets[0]}, minute_and_day(), {.label = "labelled"});
    pool.add_key(p, kp::Secret{secrets[1]}, minute_and_day());  // label defaults to the redacted secret
    for (int i = 0; i < 6; ++i) pool.acquire({.tokens = 42}).commit();
    pool.poll();
  }
  const std::string bytes = read_bytes(path);
  for (const std::string& secret : secrets) {
    CHECK(bytes.find(secret) == std::string::npos);
    CHECK(bytes.find(secret.substr(4, 16)) == std::string::npos);  // nor a fragment of one
  }
  // What is there instead: the labels.
  CHECK(bytes.find("labelled") != std::string::npos);
  CHECK(bytes.find(kp::Secret{secrets[1]}.redacted()) != std::string::npos);
}

// -------------------------------------------------------------------------------------------------
// Capacity and growth

TEST_CASE("a file made by a pool of capacity 16 serves one of capacity 200 and grows while another pool holds slots", "[store][mapped][capacity]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  const auto label = [](int i) { return "key-" + std::to_string(i); };
  const auto secret = [](int i) { return kp::Secret{"secret-number-" + std::to_string(i)}; };
  {
    FilePool small{kp::Capacity{16}, kp::store::MappedFile{path}, clock};
    const kp::ProviderId p = small.add_provider("p");
    for (int i = 0; i < 16; ++i) {
      const kp::KeyId k = small.add_key(p, secret(i), minute_and_day(), {.label = label(i)});
      for (int n = 0; n < i % 5; ++n) acquire_on(small, k).commit();
    }
  }
  REQUIRE(kp::store::MappedFile::inspect(path).key_room == 64);

  // A small pool holds four of the keys while a large one adds 200: the table grows three times,
  // and the small pool's slots (mapped before) keep working and keep being shared.
  FilePool small{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  const kp::ProviderId sp = small.add_provider("p");
  for (int i = 0; i < 4; ++i) small.add_key(sp, secret(i), minute_and_day(), {.label = label(i)});
  FilePool large{kp::Capacity{200}, kp::store::MappedFile{path}, clock};
  const kp::ProviderId lp = large.add_provider("p");
  std::vector<kp::KeyId> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(large.add_key(lp, secret(i), minute_and_day(), {.label = label(i)}));
  const auto description = kp::store::MappedFile::inspect(path);
  CHECK(description.keys.size() == 200);
  CHECK(description.key_room >= 200);
  CHECK(description.bytes == fs::file_size(path));

  const kp::Snapshot counted = large.snapshot();
  for (int i = 0; i < 200; ++i) CHECK(counted.keys[static_cast<std::size_t>(i)].limits[0].used == static_cast<std::uint64_t>(i < 16 ? i % 5 : 0));
  for (int i = 0; i < 3; ++i) acquire_on(large, ids[3]).commit();
  acquire_on(large, ids[150]).commit();
  acquire_on(small, kp::KeyId{0}).commit();
  acquire_on(small, kp::KeyId{1}).commit();
  const kp::Snapshot seen_small = small.snapshot();
  CHECK(used(seen_small, "key-3", 0) == 3 + 3);
  CHECK(used(seen_small, "key-0", 0) == 0 + 1);
  CHECK(used(seen_small, "key-1", 0) == 1 + 1);
  const kp::Snapshot seen_large = large.snapshot();
  CHECK(used(seen_large, "key-0", 0) == 1);
  CHECK(used(seen_large, "key-1", 0) == 2);
  CHECK(used(seen_large, "key-150", 0) == 1);
}

TEST_CASE("a label longer than the file holds, a long provider name or zone rule is refused at add_key", "[store][mapped][bad-input]") {
  TempDir dir;
  kp::clock::Manual clock{start_time};
  FilePool pool{kp::Capacity{4}, kp::store::MappedFile{dir / "quota.kp"}, clock};
  const kp::ProviderId p = pool.add_provider("p");
  CHECK_THROWS_WITH(pool.add_key(p, kp::Secret{"s1-000000000"}, minute_and_day(), {.label = std::string(128, 'x')}),
                    Contains("the label is 128 bytes") && Contains("at most 127"));
  const kp::ProviderId long_provider = pool.add_provider(std::string(64, 'p'));
  CHECK_THROWS_WITH(pool.add_key(long_provider, kp::Secret{"s2-000000000"}, minute_and_day(), {.label = "k2"}),
                    Contains("key 'k2': the provider name is 64 bytes"));
  const std::string long_rule = "<" + std::string(40, 'A') + ">8<" + std::string(40, 'B') + ">,M3.2.0,M11.1.0";
  CHECK_THROWS_WITH(pool.add_key(p, kp::Secret{"s3-000000000"}, {kp::Limit::requests(1).per_day().reset_zone(kp::Zone::posix(long_rule))},
                                 {.label = "k3"}),
                    Contains("key 'k3': the reset zone rule") && Contains("at most 79 bytes"));
  CHECK(pool.key_count() == 0);
  CHECK(kp::store::MappedFile::inspect(dir / "quota.kp").keys.empty());
}

// -------------------------------------------------------------------------------------------------
// Sharing between pools

TEST_CASE("two pools in one process over one file admit each limit exactly once between them", "[store][mapped][threads]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  constexpr std::uint64_t per_minute = 600;
  constexpr std::uint64_t per_day = 450;  // the tighter one: the minute reservations roll back
  const std::vector<kp::Limit> limits{kp::Limit::requests(per_minute).per_minute(), kp::Limit::requests(per_day).per_day()};
  FilePool first{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  FilePool second{kp::Capacity{8}, kp::store::MappedFile{path}, clock};
  for (FilePool* pool : {&first, &second}) {
    const kp::ProviderId p = pool->add_provider("p");
    for (int i = 0; i < 3; ++i) pool->add_key(p, kp::Secret{"shared-secret-" + std::to_string(i)}, limits, {.label = "k" + std::to_string(i)});
  }
  constexpr int threads_per_pool = 3;
  std::vector<std::uint64_t> granted(2 * threads_per_pool, 0);
  std::latch start{2 * threads_per_pool};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * threads_per_pool; ++t)
    threads.emplace_back([&, t] {
      FilePool& pool = t % 2 == 0 ? first : second;
      std::vector<kp::Lease> held;
      start.arrive_and_wait();
      for (kp::Lease lease = pool.acquire(); lease; lease = pool.acquire()) {
        ++granted[static_cast<std::size_t>(t)];
        held.push_back(std::move(lease));
      }
    });
  for (std::thread& thread : threads) thread.join();
  std::uint64_t total = 0;
  for (const std::uint64_t g : granted) total += g;
  CHECK(total == 3 * per_day);
  for (FilePool* pool : {&first, &second})
    for (const kp::KeySnapshot& key : pool->snapshot().keys) {
      CHECK(key.limits[0].used == per_day);
      CHECK(key.limits[1].used == per_day);
    }
}

TEST_CASE("disable, enable, reset and reset_all in one pool act in another sharing the file", "[store][mapped][admin]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  FilePool admin{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  FilePool worker{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  std::vector<kp::KeyId> a, w;
  for (FilePool* pool : {&admin, &worker}) {
    const kp::ProviderId p = pool->add_provider("p");
    auto& ids = pool == &admin ? a : w;
    for (int i = 0; i < 2; ++i) ids.push_back(pool->add_key(p, kp::Secret{"admin-secret-" + std::to_string(i)}, minute_and_day(), {.label = "k" + std::to_string(i)}));
  }
  const auto used_in = [](FilePool& pool, std::size_t key, std::size_t limit) { return pool.snapshot().keys.at(key).limits.at(limit).used; };

  for (int i = 0; i < 3; ++i) acquire_on(worker, w[0], {.tokens = 100}).commit();
  acquire_on(worker, w[1], {.tokens = 100}).commit();
  CHECK(used_in(admin, 0, 0) == 3);
  CHECK(used_in(admin, 0, 1) == 300);

  admin.reset(a[0], kp::Metric::tokens);
  CHECK(used_in(worker, 0, 0) == 3);
  CHECK(used_in(worker, 0, 1) == 0);
  admin.reset(a[0]);
  CHECK(used_in(worker, 0, 0) == 0);
  CHECK(used_in(worker, 1, 0) == 1);
  admin.reset_all();
  CHECK(used_in(worker, 1, 0) == 0);

  admin.disable(a[0]);
  admin.disable(a[1]);
  const kp::Lease refused = worker.acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::disabled);
  admin.enable(a[1]);
  const kp::Lease granted = worker.acquire();
  REQUIRE(granted);
  CHECK(granted.key() == w[1]);
  CHECK(worker.snapshot().keys[0].status == kp::KeyStatus::disabled);
}

// -------------------------------------------------------------------------------------------------
// Read-only inspection

TEST_CASE("a read-only store shows a file's live counts, binds only its keys, and never writes to it", "[store][mapped][read-only]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  FilePool writer{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  const kp::KeyId k = writer.add_key(writer.add_provider("groq"), kp::Secret{"gsk_writer_0001"}, minute_and_day(), {.label = "k"});
  acquire_on(writer, k).commit();

  kp::store::MappedFile store = kp::store::MappedFile::read_only(path);
  CHECK(store.is_read_only());
  const kp::store::FileDescription description = store.describe();
  FilePool reader{kp::Capacity{4}, std::move(store), clock};
  const kp::ProviderId p = reader.add_provider("groq");
  for (const kp::store::StoredKey& key : description.keys)
    reader.add_key(p, kp::Secret{"placeholder-" + key.label}, key.limits, {.label = key.label});
  CHECK(reader.snapshot().keys[0].limits[0].used == 1);
  acquire_on(writer, k).commit();
  CHECK(reader.snapshot().keys[0].limits[0].used == 2);  // live

  CHECK_THROWS_WITH(reader.add_key(p, kp::Secret{"placeholder-x"}, minute_and_day(), {.label = "not-there"}),
                    Contains("key 'not-there' is not in the file"));
  const std::string before = read_bytes(path);
  for (int i = 0; i < 5; ++i) reader.acquire().commit();  // private: the file does not change
  reader.disable(kp::KeyId{0});
  reader.poll();
  CHECK(read_bytes(path) == before);
  CHECK(writer.snapshot().keys[0].limits[0].used == 2);
  CHECK(writer.snapshot().keys[0].status == kp::KeyStatus::available);
}

// -------------------------------------------------------------------------------------------------
// Files that are refused

TEST_CASE("a file that is not a valid state file is refused with what is wrong and how to recover, and left as it was", "[store][mapped][bad-file]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  {
    kp::clock::Manual clock{start_time};
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    const kp::KeyId k = pool.add_key(pool.add_provider("p"), kp::Secret{"bad-file-secret"}, minute_and_day(), {.label = "k"});
    acquire_on(pool, k).commit();
  }
  const std::string good = read_bytes(path);
  std::string bad;
  std::vector<std::string> expected;

  SECTION("random bytes") {
    std::mt19937_64 random{12345};
    bad.resize(9000);
    for (char& c : bad) c = static_cast<char>(random());
    expected = {"not a keypool state file", "delete it"};
  }
  SECTION("a text file") {
    bad = "[quota]\ngroq = 30\n";
    expected = {"not a keypool state file", "looks like a text file", "Check the path"};
  }
  SECTION("an empty file") {
    bad = "";
    expected = {"is empty (0 bytes)", "Delete it"};
  }
  SECTION("another format version") {
    write_bytes(path, good);
    patch_header(path, [](sf::Header& h) { h.format_version = 7; }, true);
    bad = read_bytes(path);
    expected = {"format version 7", "reads version 1. Open it with the keypool version that wrote it, or delete it"};
  }
  SECTION("another format version, or a corrupted header") {
    write_bytes(path, good);
    patch_header(path, [](sf::Header& h) { h.format_version = 2; }, false);
    bad = read_bytes(path);
    expected = {"format version 2", "(or the header is corrupted)"};
  }
  SECTION("another KeySlot version") {
    write_bytes(path, good);
    patch_header(path, [](sf::Header& h) { h.slot_version = kp::key_slot_version + 1; }, true);
    bad = read_bytes(path);
    expected = {"KeySlot version " + std::to_string(kp::key_slot_version + 1), "uses version " + std::to_string(kp::key_slot_version)};
  }
  SECTION("another layout") {
    write_bytes(path, good);
    patch_header(path, [](sf::Header& h) { h.descriptor_bytes = 4096; }, true);
    bad = read_bytes(path);
    expected = {"layout", "key records 4096 bytes", "differs from this build's"};
  }
  SECTION("the other byte order") {
    write_bytes(path, good);
    patch_header(path, [](sf::Header& h) { h.byte_order = __builtin_bswap32(h.byte_order); }, true);
    bad = read_bytes(path);
    expected = {"other byte order"};
  }
  SECTION("truncated inside the header") {
    bad = good.substr(0, 100);
    expected = {"truncated: 100 bytes, shorter than its 4096-byte header", "delete it"};
  }
  SECTION("truncated inside the key table") {
    bad = good.substr(0, sf::header_bytes + 1000);
    expected = {"truncated: 5096 bytes, but its header describes " + std::to_string(sf::file_bytes(1)) + " bytes"};
  }
  SECTION("a bit flipped in the header") {
    bad = good;
    bad[offsetof(sf::Header, created_at_ns) + 2] ^= 0x10;
    expected = {"header is corrupted (checksum mismatch)", "restore the file from a backup, or delete it"};
  }
  SECTION("a bit flipped in the table size") {
    bad = good;
    bad[offsetof(sf::Header, chunks)] ^= 0x02;
    expected = {"header is corrupted (its table size word fails its check)"};
  }
  SECTION("a bit flipped in a key's label") {
    bad = good;
    bad[descriptor_offset(0) + offsetof(sf::Descriptor, label)] ^= 0x01;
    expected = {"key record #0 is corrupted (its label checksum fails)"};
  }
  SECTION("a bit flipped in a key's limits") {
    bad = good;
    bad[descriptor_offset(0) + offsetof(sf::Descriptor, described) + offsetof(sf::Description, limits) + 9] ^= 0x04;
    expected = {"key record #0 ('k') is corrupted (its description checksum fails)"};
  }
  SECTION("an invalid key state word") {
    bad = good;
    bad[descriptor_offset(1)] = 0x55;
    expected = {"key record #1 is corrupted (its state word is invalid)"};
  }
  write_bytes(path, bad);
  const std::string message = error_of([&] { kp::store::MappedFile file{path}; });
  CAPTURE(message);
  CHECK_THAT(message, Contains("store::MappedFile \"" + path.string() + "\""));
  for (const std::string& part : expected) CHECK_THAT(message, Contains(part));
  CHECK(error_of([&] { (void)kp::store::MappedFile::read_only(path); }) != "");  // the same checks
  CHECK(read_bytes(path) == bad);  // never zeroed, truncated or repaired
}

TEST_CASE("a missing directory, a directory path or a missing file to inspect is a clear Error", "[store][mapped][bad-file]") {
  TempDir dir;
  CHECK_THROWS_WITH(kp::store::MappedFile{dir / "no-such-dir" / "quota.kp"},
                    Contains("directory \"" + (dir / "no-such-dir").string() + "\" does not exist; create it first"));
  CHECK_FALSE(fs::exists(dir / "no-such-dir"));
  CHECK_THROWS_WITH(kp::store::MappedFile{dir.path}, Contains("the path is a directory"));
  CHECK_THROWS_WITH(kp::store::MappedFile::read_only(dir / "absent.kp"),
                    Contains("the file does not exist (a read-only open never creates one)"));
  CHECK_FALSE(fs::exists(dir / "absent.kp"));
  CHECK_THROWS_WITH(kp::store::MappedFile::inspect(dir / "absent.kp"), Contains("does not exist"));
}

TEST_CASE("a file this process may not write is refused for a pool, with read_only as the way to inspect it", "[store][mapped][bad-file]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  {
    kp::clock::Manual clock{start_time};
    FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
    const kp::KeyId k = pool.add_key(pool.add_provider("p"), kp::Secret{"perm-secret-0001"}, minute_and_day(), {.label = "k"});
    acquire_on(pool, k).commit();
  }
  fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(dir.path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                fs::perms::others_read | fs::perms::others_exec);
  // Permissions do not bind root: as root, try as an unprivileged user in a child process.
  const ChildResult result = in_child([&]() -> std::string {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) return "cannot drop privileges";
    const std::string refused = error_of([&] { kp::store::MappedFile file{path}; });
    const kp::store::FileDescription description = kp::store::MappedFile::inspect(path);
    return refused + "\n" + std::to_string(description.keys.size());
  });
  CAPTURE(result.output);
  CHECK(result.status == 0);
  CHECK_THAT(result.output, Contains("permission denied opening the file for reading and writing"));
  CHECK_THAT(result.output, Contains("MappedFile::read_only(path) to inspect it"));
  CHECK_THAT(result.output, Contains("\n1"));  // read-only inspection works on it
}

TEST_CASE("a MappedFile used in a forked child refuses to add keys, while bound slots keep working", "[store][mapped][fork]") {
  TempDir dir;
  const fs::path path = dir / "quota.kp";
  kp::clock::Manual clock{start_time};
  FilePool pool{kp::Capacity{4}, kp::store::MappedFile{path}, clock};
  const kp::ProviderId p = pool.add_provider("p");
  pool.add_key(p, kp::Secret{"fork-secret-0001"}, minute_and_day(), {.label = "k"});
  const ChildResult result = in_child([&]() -> std::string {
    pool.acquire().commit();  // the inherited mapping is shared: this counts in the parent
    return error_of([&] { pool.add_key(p, kp::Secret{"fork-secret-0002"}, minute_and_day(), {.label = "k2"}); });
  });
  CHECK(result.status == 0);
  CHECK_THAT(result.output, Contains("(a fork)") && Contains("Open the file again in this process"));
  CHECK(pool.snapshot().keys[0].limits[0].used == 1);
  CHECK(kp::store::MappedFile::inspect(path).keys.size() == 1);
}

TEST_CASE("poll flushes the mapping without failures", "[store][mapped]") {
  TempDir dir;
  kp::clock::Manual clock{start_time};
  FilePool pool{kp::Capacity{4}, kp::store::MappedFile{dir / "quota.kp"}, clock};
  pool.add_key(pool.add_provider("p"), kp::Secret{"flush-secret-001"}, minute_and_day(), {.label = "k"});
  pool.acquire().commit();
  pool.poll();
  CHECK(pool.storage().flush_failures() == 0);
}
