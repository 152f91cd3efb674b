// The hot path over store::MappedFile against the same pool over store::Memory, in one run: what
// the shared, persistent counters cost. Built like BM_AcquireCommit/keys:10 (acquire_commit.cpp):
// default policies but the store, three roomy limits per key, usage forgotten at the start.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include <benchmark/benchmark.h>

#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include "support.hpp"

namespace {

namespace kp = keypool;
using keypool_bench::roomy_limits;
using keypool_bench::run_acquire_commit;
using keypool_bench::secret_for;

using MemoryPool = kp::KeyPool<>;                     // RoundRobin, Memory, Null alerts, Coarse clock
using FilePool = kp::KeyPool<kp::store::MappedFile>;  // the same with the counters in a mapped file

template <class Pool>
void add_keys(Pool& pool, std::size_t keys) {
  const kp::ProviderId provider = pool.add_provider("bench");
  for (std::size_t i = 0; i < keys; ++i)
    pool.add_key(provider, kp::Secret{secret_for(i)}, roomy_limits(), {.label = "key-" + std::to_string(i)});
}

/// A state file in the temporary directory, unlinked as soon as it is mapped: the pool keeps
/// using it, and nothing is left behind however the run ends.
std::unique_ptr<FilePool> file_pool(std::size_t keys) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("keypool-bench-" + std::to_string(::getpid()) + "-" + std::to_string(keys) + ".kp");
  std::filesystem::remove(path);
  auto pool = std::make_unique<FilePool>(kp::Capacity{keys}, kp::store::MappedFile{path});
  std::filesystem::remove(path);
  add_keys(*pool, keys);
  return pool;
}

std::unique_ptr<MemoryPool> memory_pool(std::size_t keys) {
  auto pool = std::make_unique<MemoryPool>(kp::Capacity{keys});
  add_keys(*pool, keys);
  return pool;
}

}  // namespace

// The hot path with the counters in a MAP_SHARED file mapping: the same loads and CAS as with
// Memory, on slots in the page cache (no system call, no lock). Compare with the twin below.
static void BM_AcquireCommit_MappedFile(benchmark::State& state) {
  static const std::unique_ptr<FilePool> pool = file_pool(static_cast<std::size_t>(state.range(0)));  // one Arg only
  run_acquire_commit(state, *pool);
}
BENCHMARK(BM_AcquireCommit_MappedFile)->ArgName("keys")->Arg(10);

// The memory-store twin, measured in the same run for the ratio (same as BM_AcquireCommit/keys:10).
static void BM_AcquireCommit_MemoryTwin(benchmark::State& state) {
  static const std::unique_ptr<MemoryPool> pool = memory_pool(static_cast<std::size_t>(state.range(0)));  // one Arg only
  run_acquire_commit(state, *pool);
}
BENCHMARK(BM_AcquireCommit_MemoryTwin)->ArgName("keys")->Arg(10);
