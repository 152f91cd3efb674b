// The baseline keypool replaces: what the seed write-ups built by hand (shared/seeds/), ported
// faithfully to C++. One std::mutex, an std::unordered_map<std::string, Usage> keyed by the key
// string, the minute and day windows computed from std::chrono::system_clock::now() on each call,
// round-robin over the keys, every limit checked and then recorded under the lock.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>

namespace {

/// The limits of one key, as in gemini-quota-tracking.md: requests per minute, requests per day,
/// tokens per minute.
struct SeedLimits {
  std::uint64_t requests_per_minute;
  std::uint64_t requests_per_day;
  std::uint64_t tokens_per_minute;
};

/// One key's usage and the windows it was counted in.
struct Usage {
  std::int64_t minute = -1;  // minute index (Unix seconds / 60) the per-minute counts belong to
  std::int64_t day = -1;     // day index (Unix seconds / 86400) the per-day count belongs to
  std::uint64_t requests_minute = 0;
  std::uint64_t requests_day = 0;
  std::uint64_t tokens_minute = 0;
};

/// The seeds' limiter, made correct (it never over-admits: check and record happen under the same
/// lock) and as fast as that design allows: the clock is read before the lock is taken, the key
/// string is returned by reference (never copied), the map never rehashes after construction.
class MutexMapLimiter {
 public:
  MutexMapLimiter(std::vector<std::string> keys, SeedLimits limits) : keys_(std::move(keys)), limits_(limits) {
    usage_.reserve(keys_.size());
    for (const std::string& key : keys_) usage_.emplace(key, Usage{});
  }

  /// Picks the next key in turn that has room for one request of `tokens`, and records it.
  /// Returns the key, or nullptr when every key is full. One lock.
  const std::string* acquire(std::uint64_t tokens) {
    const auto [minute, day] = windows_now();  // read before locking: a shorter critical section
    std::lock_guard lock{mutex_};
    for (std::size_t tried = 0; tried < keys_.size(); ++tried) {
      const std::string& key = keys_[next_];
      next_ = next_ + 1 == keys_.size() ? 0 : next_ + 1;
      Usage& usage = usage_[key];
      roll(usage, minute, day);  // a new minute or day: its counters start again
      if (usage.requests_minute + 1 > limits_.requests_per_minute) continue;
      if (usage.requests_day + 1 > limits_.requests_per_day) continue;
      if (usage.tokens_minute + tokens > limits_.tokens_per_minute) continue;
      usage.requests_minute += 1;
      usage.requests_day += 1;
      usage.tokens_minute += tokens;
      return &key;
    }
    return nullptr;
  }

  /// Reconciles the estimate with what the call really cost. Equal amounts: nothing to do, no
  /// lock. Otherwise one more lock to adjust the minute's token count.
  void commit(const std::string& key, std::uint64_t estimated, std::uint64_t actual) {
    if (actual == estimated) return;
    std::lock_guard lock{mutex_};
    Usage& usage = usage_[key];
    if (actual > estimated) usage.tokens_minute += actual - estimated;
    else usage.tokens_minute -= std::min(usage.tokens_minute, estimated - actual);
  }

  /// The seeds' literal order (gemini-quota-tracking.md: `can_make_request(estimated_tokens)`
  /// before the call, "token usage recording" after it): a check under one lock, then the record
  /// under a second lock. Two locks per call, and it can over-admit between them.
  bool can_make_request(const std::string*& chosen, std::uint64_t tokens) {
    const auto [minute, day] = windows_now();
    std::lock_guard lock{mutex_};
    for (std::size_t tried = 0; tried < keys_.size(); ++tried) {
      const std::string& key = keys_[next_];
      next_ = next_ + 1 == keys_.size() ? 0 : next_ + 1;
      Usage& usage = usage_[key];
      roll(usage, minute, day);
      if (usage.requests_minute + 1 > limits_.requests_per_minute) continue;
      if (usage.requests_day + 1 > limits_.requests_per_day) continue;
      if (usage.tokens_minute + tokens > limits_.tokens_per_minute) continue;
      chosen = &key;
      return true;
    }
    return false;
  }
  void record_usage(const std::string& key, std::uint64_t tokens) {
    const auto [minute, day] = windows_now();
    std::lock_guard lock{mutex_};
    Usage& usage = usage_[key];
    roll(usage, minute, day);
    usage.requests_minute += 1;
    usage.requests_day += 1;
    usage.tokens_minute += tokens;
  }

 private:
  struct Windows {
    std::int64_t minute;
    std::int64_t day;
  };
  static Windows windows_now() {
    const std::int64_t seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    return {seconds / 60, seconds / 86'400};
  }
  // Moves the counters forward to the current windows. Only forward: a thread that read the clock
  // just before another one rolled the window counts in the newer window, never resets it.
  static void roll(Usage& usage, std::int64_t minute, std::int64_t day) {
    if (minute > usage.minute) {
      usage.minute = minute;
      usage.requests_minute = 0;
      usage.tokens_minute = 0;
    }
    if (day > usage.day) {
      usage.day = day;
      usage.requests_day = 0;
    }
  }

  std::mutex mutex_;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, Usage> usage_;
  std::size_t next_ = 0;
  SeedLimits limits_;
};

/// Ten Groq-style keys ("gsk_" and 52 characters, as in scaling-10-keys.md), with limits no run
/// reaches, shared by every benchmark thread.
MutexMapLimiter& shared_limiter() {
  static MutexMapLimiter limiter = [] {
    std::vector<std::string> keys;
    for (int i = 0; i < 10; ++i) {
      std::string key = "gsk_live_" + std::string(45, 'x') + std::to_string(10 + i);
      keys.push_back(std::move(key));
    }
    constexpr std::uint64_t unreachable = std::uint64_t{1} << 50;
    return MutexMapLimiter{std::move(keys), SeedLimits{unreachable, unreachable, unreachable}};
  }();
  return limiter;
}

}  // namespace

// One request through the seeds' design: acquire (check every limit and record, under one lock)
// then commit with the estimated cost (nothing to reconcile, so no second lock — exactly what
// keypool's commit of an unchanged cost does: no write). Threads(2) share the one limiter.
static void BM_Baseline_MutexMap(benchmark::State& state) {
  MutexMapLimiter& limiter = shared_limiter();
  for (auto _ : state) {
    const std::string* key = limiter.acquire(100);
    if (key == nullptr) {
      state.SkipWithError("the baseline refused a request: its limits must be out of reach");
      break;
    }
    limiter.commit(*key, 100, 100);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_MutexMap);
BENCHMARK(BM_Baseline_MutexMap)->Threads(2)->UseRealTime();

// The seeds' literal order: check under one lock, record under a second one (two locks per call,
// and over-admission possible between them). For reference; BM_Baseline_MutexMap is the baseline.
static void BM_Baseline_MutexMap_CheckThenRecord(benchmark::State& state) {
  MutexMapLimiter& limiter = shared_limiter();
  for (auto _ : state) {
    const std::string* key = nullptr;
    if (!limiter.can_make_request(key, 100)) {
      state.SkipWithError("the baseline refused a request: its limits must be out of reach");
      break;
    }
    limiter.record_usage(*key, 100);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_MutexMap_CheckThenRecord);
BENCHMARK(BM_Baseline_MutexMap_CheckThenRecord)->Threads(2)->UseRealTime();
