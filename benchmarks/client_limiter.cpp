// keypool::ClientLimiter against the limiter one writes by hand (a std::mutex around an
// std::unordered_map<std::string, TAT>, the same GCRA), in the same run, so the ratio is what to
// read. Each iteration: read clock::Coarse, then one try_acquire for the next of N client ids
// ("10.x.y.z", IPv4 text as a gateway sees it), at a rate no run reaches (every call admitted, so
// the write path is measured). threads:2 share one limiter and the same clients.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>

#include <keypool/client_limiter.hpp>
#include <keypool/clock/coarse.hpp>

namespace {

namespace kp = keypool;

/// 1 request per ns sustained, bursts of 10^10 (10 s of the rate): a client is never refused at
/// benchmark speed, even by a thread descheduled for seconds between reading the clock and asking.
constexpr std::uint64_t unreachable_rate = 1'000'000'000;
constexpr std::uint64_t unreachable_burst = 10'000'000'000;

/// The ids of `count` clients (1, 1000 or 100000): "10.0.0.0", "10.0.0.1", ... (IPv4 text). Built
/// once, thread-safely, before any benchmark reads them.
const std::vector<std::string>& client_ids(std::size_t count) {
  static const std::unordered_map<std::size_t, std::vector<std::string>> all = [] {
    std::unordered_map<std::size_t, std::vector<std::string>> built;
    for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{100000}}) {
      std::vector<std::string>& ids = built[n];
      ids.reserve(n);
      for (std::size_t i = 0; i < n; ++i)
        ids.push_back("10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) + "." +
                      std::to_string(i & 255));
    }
    return built;
  }();
  return all.at(count);
}

/// The hand-written limiter: GCRA per client, exactly ClientLimiter's arithmetic, under one lock.
/// Not a strawman: the clock is read before locking, lookups do not allocate (heterogeneous
/// lookup), the map is reserved for every client up front. It has no memory bound (idle clients
/// are never removed), which only flatters it.
class MutexMapLimiter {
 public:
  MutexMapLimiter(std::uint64_t requests, kp::Duration per, std::uint64_t burst, std::size_t clients)
      : interval_((static_cast<std::uint64_t>(per.count()) + requests - 1) / requests), tolerance_(burst * interval_) {
    tat_.reserve(clients);
  }

  bool try_acquire(std::string_view client, kp::TimePoint now) {
    const auto now_ns = static_cast<std::uint64_t>(now.time_since_epoch().count());
    std::lock_guard lock{mutex_};
    auto it = tat_.find(client);
    if (it == tat_.end()) it = tat_.emplace(std::string{client}, 0).first;
    const std::uint64_t next = std::max(it->second, now_ns) + interval_;
    if (next - now_ns > tolerance_) return false;
    it->second = next;
    return true;
  }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
  };
  std::uint64_t interval_;
  std::uint64_t tolerance_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> tat_;
};

/// `try_acquire` as a caller that follows the answer: a contended install (another thread was
/// installing the same new client and was descheduled; see ClientLimiter) is refused with
/// retry_after = 1 ns, so it is asked again, a bounded number of times. Any other refusal stands.
bool admitted(kp::ClientLimiter& limiter, const std::string& id, kp::TimePoint now) {
  for (int tries = 0; tries < 1000; ++tries) {
    const kp::ClientLimiter::Decision decision = limiter.try_acquire(id, now);
    if (decision) return true;
    if (decision.retry_after != kp::Duration{1}) return false;
    std::this_thread::yield();  // let the installer finish
  }
  return false;
}

/// Runs `acquire(id, now)` over the ids, each thread starting at its own offset.
template <class Acquire>
void run(benchmark::State& state, const std::vector<std::string>& ids, Acquire acquire) {
  const kp::clock::Coarse clock;
  std::size_t next = (static_cast<std::size_t>(state.thread_index()) * 7919) % ids.size();
  for (auto _ : state) {
    if (!acquire(ids[next], clock.now())) {
      state.SkipWithError("a request was refused: the rate must admit every request of the run");
      break;
    }
    next = next + 1 == ids.size() ? 0 : next + 1;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ClientLimiter(benchmark::State& state) {
  static std::unique_ptr<kp::ClientLimiter> limiter;
  const auto clients = static_cast<std::size_t>(state.range(0));
  const std::vector<std::string>& ids = client_ids(clients);
  if (state.thread_index() == 0)  // a fresh table per run, sized at twice the clients
    limiter = std::make_unique<kp::ClientLimiter>(kp::ClientLimiter::Options{
        .requests = unreachable_rate, .per = std::chrono::seconds{1}, .burst = unreachable_burst, .max_clients = 2 * clients});
  run(state, ids, [&](const std::string& id, kp::TimePoint now) { return admitted(*limiter, id, now); });
}

void BM_ClientLimiter_Baseline_MutexMap(benchmark::State& state) {
  static std::unique_ptr<MutexMapLimiter> limiter;
  const auto clients = static_cast<std::size_t>(state.range(0));
  const std::vector<std::string>& ids = client_ids(clients);
  if (state.thread_index() == 0)
    limiter = std::make_unique<MutexMapLimiter>(unreachable_rate, std::chrono::seconds{1}, unreachable_burst, clients);
  run(state, ids, [&](const std::string& id, kp::TimePoint now) { return limiter->try_acquire(id, now); });
}

/// The refusal path: 1000 clients each over a limit of 1 per hour at a frozen time; every call
/// reads the client's entry and refuses without a write, with the exact retry_after.
void BM_ClientLimiter_Refused(benchmark::State& state) {
  static std::unique_ptr<kp::ClientLimiter> limiter;
  const std::vector<std::string>& ids = client_ids(1000);
  const kp::TimePoint frozen{std::chrono::hours{24 * 365 * 56}};
  if (state.thread_index() == 0) {
    limiter = std::make_unique<kp::ClientLimiter>(
        kp::ClientLimiter::Options{.requests = 1, .per = std::chrono::hours{1}, .max_clients = 2048});
    for (const std::string& id : ids) (void)limiter->try_acquire(id, frozen);
  }
  std::size_t next = static_cast<std::size_t>(state.thread_index()) * 500;
  for (auto _ : state) {
    const kp::ClientLimiter::Decision decision = limiter->try_acquire(ids[next], frozen);
    if (decision) {
      state.SkipWithError("a request was admitted: every client must be over its limit");
      break;
    }
    benchmark::DoNotOptimize(decision.retry_after);
    next = next + 1 == ids.size() ? 0 : next + 1;
  }
  state.SetItemsProcessed(state.iterations());
}

/// The cost of two hot clients sharing a cache line: two threads, each charging its own client.
/// same_line:1 is a table of 4 entries (one 64-byte line: the two clients' words false-share);
/// same_line:0 a table of 65,536 (the two clients are on different lines but for a 3-in-65,536
/// chance). What the entry layout (four per line, not padded) costs at worst.
void BM_ClientLimiter_TwoHotClients(benchmark::State& state) {
  static std::unique_ptr<kp::ClientLimiter> limiter;
  if (state.thread_index() == 0)
    limiter = std::make_unique<kp::ClientLimiter>(kp::ClientLimiter::Options{.requests = unreachable_rate,
                                                                             .per = std::chrono::seconds{1},
                                                                             .burst = unreachable_burst,
                                                                             .max_clients = state.range(0) != 0 ? 4u : 65'536u});
  const std::vector<std::string>& ids = client_ids(1000);
  run(state, {ids[static_cast<std::size_t>(state.thread_index())]},
      [&](const std::string& id, kp::TimePoint now) { return admitted(*limiter, id, now); });
}

}  // namespace

BENCHMARK(BM_ClientLimiter_TwoHotClients)->ArgName("same_line")->Arg(1)->Arg(0)->Threads(2)->UseRealTime();
BENCHMARK(BM_ClientLimiter)->ArgName("clients")->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK(BM_ClientLimiter)->ArgName("clients")->Arg(1)->Arg(1000)->Arg(100000)->Threads(2)->UseRealTime();
BENCHMARK(BM_ClientLimiter_Baseline_MutexMap)->ArgName("clients")->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK(BM_ClientLimiter_Baseline_MutexMap)->ArgName("clients")->Arg(1)->Arg(1000)->Arg(100000)->Threads(2)->UseRealTime();
BENCHMARK(BM_ClientLimiter_Refused);
BENCHMARK(BM_ClientLimiter_Refused)->Threads(2)->UseRealTime();
