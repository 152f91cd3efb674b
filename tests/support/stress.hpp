// Helpers of the stress tests: how much work a run does (less under ThreadSanitizer), threads
// released together, and the secrets and labels of numbered keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <latch>
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
