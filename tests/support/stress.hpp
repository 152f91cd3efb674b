// Helpers of the stress tests: how much work a run does (less under ThreadSanitizer), threads
// released together, and the secrets and labels of numbered keys.
#pragma once

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <keypool/secret.hpp>

#if defined(__SANITIZE_THREAD__)
#define KEYPOOL_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KEYPOOL_TEST_TSAN 1
#endif
#endif

/// True when the tests are built with ThreadSanitizer.
#if defined(KEYPOOL_TEST_TSAN)
inline constexpr bool under_thread_sanitizer = true;
#else
inline constexpr bool under_thread_sanitizer = false;
#endif

/// A test's work scale: `full` in a plain or ASan build; a tenth of it under ThreadSanitizer,
/// which runs about ten times slower (a tenth of the work still races).
constexpr std::uint64_t scaled_work(std::uint64_t full) { return under_thread_sanitizer ? full / 10 : full; }

/// Runs body(thread_index) on `count` threads released together, and joins them.
template <class Body>
void run_threads(int count, Body body) {
  std::latch start{count};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(count));
  for (int t = 0; t < count; ++t)
    threads.emplace_back([&start, &body, t] {
      start.arrive_and_wait();
      body(t);
    });
  for (std::thread& thread : threads) thread.join();
}

/// The secret of numbered key `i`: "sk_stress_secret_<i>".
inline keypool::Secret secret_for(std::size_t i) { return keypool::Secret{"sk_stress_secret_" + std::to_string(i)}; }

/// The label of numbered key `i`: "key-<i>".
inline std::string label_for(std::size_t i) { return "key-" + std::to_string(i); }

/// What the processes of run_processes share: one admission count per process, and a start gate.
struct ProcessCounts {
  static constexpr int max_processes = 8;
  std::atomic<std::uint64_t> admitted[max_processes];
  std::atomic<int> ready;
  std::atomic<int> go;

  /// Called by a child once set up: waits until every child is, so they start together.
  void arrive_and_wait() {
    ready.fetch_add(1);
    while (go.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
};

/// What run_processes saw: the admissions summed over the children, and whether every child
/// exited with 0.
struct ProcessRun {
  std::uint64_t admitted = 0;
  bool all_succeeded = false;
};

/// Forks `processes` (at most 8) children, each running child(index, counts) (set up, then
/// counts.arrive_and_wait(), then work, counting in counts.admitted[index]) and exiting with 0,
/// or 1 if it threw; opens the start gate once all are set up (or after 60 s), and waits for all.
/// Call it before this process starts any thread.
template <class Child>
ProcessRun run_processes(int processes, Child&& child) {
  void* memory = ::mmap(nullptr, sizeof(ProcessCounts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED || processes > ProcessCounts::max_processes) return {};
  ProcessCounts* counts = new (memory) ProcessCounts{};
  std::vector<pid_t> pids;
  for (int p = 0; p < processes; ++p) {
    const pid_t pid = ::fork();
    if (pid < 0) break;
    if (pid == 0) {
      int code = 0;
      try {
        child(p, *counts);
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
  while (counts->ready.load() < static_cast<int>(pids.size()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  counts->go.store(1);
  ProcessRun run;
  run.all_succeeded = static_cast<int>(pids.size()) == processes;
  for (const pid_t pid : pids) {
    int status = 0;
    run.all_succeeded = ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && run.all_succeeded;
  }
  for (int p = 0; p < processes; ++p) run.admitted += counts->admitted[p].load();
  ::munmap(memory, sizeof(ProcessCounts));
  return run;
}
