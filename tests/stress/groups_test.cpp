// Stress: limits shared by a group of keys and per-model limits, under threads in one process and
// under processes sharing one state file (store::MappedFile). A group's limit is admitted exactly,
// never more, whichever keys and models the requests land on; a request that a later meter refuses
// leaves nothing reserved on the earlier ones.
#include <catch2/catch.hpp>


#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include "support/mapped_file.hpp"
#include "support/stress.hpp"

namespace kp = keypool;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const kp::TimePoint start_time{sys_days{2026y / March / 2} + 9h + 20s};

/// Two models, a group of `keys` keys sharing `group_limit` requests a day and, per model, a
/// quarter of it; each key has room for the whole group on its own.
template <class Pool>
void add_org(Pool& pool, std::size_t keys, std::uint64_t group_limit, std::size_t first_key = 0) {
  const auto groq = pool.add_provider("groq", kp::dialects::groq);
  const auto org = pool.add_group(groq, "org", {kp::Limit::requests(group_limit).per_day()},
                                  {{"big", {kp::Limit::requests(group_limit / 4).per_day()}}, {"small", {}}});
  for (std::size_t k = first_key; k < first_key + keys; ++k)
    pool.add_key(groq, secret_for(k), {kp::Limit::requests(group_limit).per_day()},
                 {.label = label_for(k), .models = {{"big"}, {"small", {kp::Limit::tokens(1'000'000'000).per_day()}}}, .group = org});
}

}  // namespace

TEST_CASE("threads on the keys of one group are admitted exactly the group's and each model's limits", "[stress][threads][groups]") {
  constexpr std::uint64_t limit = scaled_work(40'000);
  kp::clock::Manual clock{start_time};
  kp::KeyPool<kp::clock::Manual> pool{kp::Capacity{8}, clock};
  add_org(pool, 4, limit);
  const kp::ModelId big = pool.model("big"), small = pool.model("small");
  std::atomic<std::uint64_t> admitted_big{0}, admitted_small{0};
  run_threads(4, [&](int t) {
    std::uint64_t refusals = 0;
    for (std::uint64_t i = 0; refusals < 2'000; ++i) {
      const kp::ModelId model = (i + static_cast<std::uint64_t>(t)) % 3 == 0 ? big : small;
      kp::Lease lease = pool.acquire({.tokens = 10, .model = model}, start_time);
      if (!lease) {
        ++refusals;  // in a row: stops once neither model has room
        continue;
      }
      refusals = 0;
      (model == big ? admitted_big : admitted_small).fetch_add(1, std::memory_order_relaxed);
      if (i % 7 == 0) {
        lease.cancel();  // given back on the key, the group and the model
        (model == big ? admitted_big : admitted_small).fetch_sub(1, std::memory_order_relaxed);
      }
    }
  });
  CHECK(admitted_big.load() == limit / 4);
  CHECK(admitted_big.load() + admitted_small.load() == limit);
  const kp::Snapshot snap = pool.snapshot(start_time);
  CHECK(snap.groups[0].shared->limits[0].used == limit);
  CHECK(snap.groups[0].models[0].limits[0].used == limit / 4);
  std::uint64_t keys = 0, small_tokens = 0;
  for (const auto& key : snap.keys) {
    keys += key.limits[0].used;
    small_tokens += key.models[1].limits[0].used;
  }
  CHECK(keys == limit);
  CHECK(small_tokens == admitted_small.load() * 10);
}

TEST_CASE("processes with their own keys of one group on one state file are admitted exactly the group's limit",
          "[stress][processes][groups]") {
  constexpr std::uint64_t limit = scaled_work(20'000);
  constexpr int processes = 3;
  TempDir dir;
  const auto path = dir / "org.kp";
  const ProcessRun run = run_processes(processes, [&](int p, ProcessCounts& counts) {
    kp::clock::Manual clock{start_time};
    FilePool pool{kp::store::MappedFile{path}, clock, kp::Capacity{8}};
    add_org(pool, 1, limit, static_cast<std::size_t>(p));  // each process its own key, one group
    const kp::ModelId models[] = {pool.model("big"), pool.model("small")};
    counts.arrive_and_wait();
    run_threads(2, [&](int t) {
      std::uint64_t refusals = 0;
      for (std::uint64_t i = 0; refusals < 1'000; ++i) {
        kp::Lease lease = pool.acquire({.model = models[(i + static_cast<std::uint64_t>(t)) % 2]}, start_time);
        if (lease) {
          counts.admitted[p].fetch_add(1);
          refusals = 0;
        } else {
          ++refusals;  // in a row: stops once neither model has room
        }
      }
    });
  });
  CHECK(run.all_succeeded);
  CHECK(run.admitted == limit);
  // The file holds the group's count once, whoever wrote it.
  kp::clock::Manual clock{start_time};
  FilePool view{kp::store::MappedFile{path}, clock, kp::Capacity{8}};
  add_org(view, processes, limit);
  const kp::Snapshot snap = view.snapshot(start_time);
  CHECK(snap.groups[0].shared->limits[0].used == limit);
  CHECK(snap.groups[0].models[0].limits[0].used <= limit / 4);
}
