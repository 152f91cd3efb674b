// Stress: processes sharing one state file (store::MappedFile). Several processes with several
// threads each are admitted exactly each limit between them; processes starting at once create
// the file once and grow it safely; a process killed with SIGKILL loses no admission it reported;
// admin operations of one process act in another.
//
// Children are forked from this (single-threaded) process before any thread exists, do their work
// (their own threads included), report through a pipe and end with _exit: Catch2 runs only here.
// Time stands still on a manual clock in every process, so the windows never roll.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

#include "support/mapped_file.hpp"
#include "support/stress.hpp"

namespace kp = keypool;
namespace fs = std::filesystem;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

// How much work each test does; a tenth of it under ThreadSanitizer (support/stress.hpp).
constexpr std::uint64_t work_scale = scaled_work(10);

// 2026-03-02 09:00:20 UTC: every process uses this instant, and it never moves.
const kp::TimePoint start_time{sys_days{2026y / March / 2} + 9h + 20s};

/// A forked child: its pid, and the read end of the pipe it reports on.
struct Child {
  pid_t pid = -1;
  int report = -1;
};

/// A starting gate: children block on it until the parent opens it, so they start together.
struct Gate {
  int fds[2] = {-1, -1};
  Gate() { REQUIRE(::pipe(fds) == 0); }
  ~Gate() { open(); }
  /// Releases every child waiting (their reads reach end-of-file once no write end is left).
  void open() {
    for (int& fd : fds) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
  /// In a child: waits until the parent opens the gate.
  void wait_in_child() const {
    ::close(fds[1]);  // the child's copy of the write end would keep the gate shut
    char byte;
    while (::read(fds[0], &byte, 1) > 0) {
    }
    ::close(fds[0]);
  }
};

/// Forks a child that waits at `gate` (if any), then runs `body` with the write end of its report
/// pipe, and _exits with 0, or 1 and the exception's message.
Child spawn(const Gate* gate, const std::function<void(int report)>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    try {
      if (gate != nullptr) gate->wait_in_child();
      body(fds[1]);
    } catch (const std::exception& error) {
      write_all(fds[1], std::string{"\nexception: "} + error.what());
      code = 1;
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

/// Waits for `child` to end; its report, and its exit status (-signal when killed).
std::pair<std::string, int> finish(const Child& child) {
  std::string report = read_all(child.report);
  ::close(child.report);
  int status = 0;
  REQUIRE(::waitpid(child.pid, &status, 0) == child.pid);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? -WTERMSIG(status) : 99);
  return {std::move(report), code};
}

/// A pool over `path` with keys labelled key-0 … key-(count-1) (secrets differ per process: a
/// process only ever knows the keys it added itself).
std::unique_ptr<FilePool> open_pool(const fs::path& path, std::size_t count, const std::vector<kp::Limit>& limits,
                                    const std::string& process) {
  auto pool = std::make_unique<FilePool>(kp::Capacity{count}, kp::store::MappedFile{path}, kp::clock::Manual{start_time});
  const kp::ProviderId p = pool->add_provider("p");
  for (std::size_t i = 0; i < count; ++i)
    pool->add_key(p, kp::Secret{"secret-" + process + "-" + std::to_string(i)}, limits, {.label = label_for(i)});
  return pool;
}

}  // namespace

TEST_CASE("processes with threads sharing one file are admitted exactly each limit between them", "[stress][processes]") {
  TempDir dir;
  const fs::path path = dir.path / "quota.kp";
  constexpr int processes = 4;
  constexpr int threads = 4;
  constexpr std::size_t keys = 3;
  const std::uint64_t per_day = 300 * work_scale;
  const std::uint64_t per_minute = per_day + 1'000;  // looser: every day refusal rolls a minute reservation back
  const std::vector<kp::Limit> limits{kp::Limit::requests(per_minute).per_minute(), kp::Limit::requests(per_day).per_day()};

  Gate gate;
  std::vector<Child> children;
  for (int c = 0; c < processes; ++c)
    children.push_back(spawn(&gate, [&, c](int report) {
      // Every child opens (maybe creates) the file and adds the keys at the same moment.
      auto pool = open_pool(path, keys, limits, "child" + std::to_string(c));
      std::vector<std::uint64_t> granted(threads, 0);
      run_threads(threads, [&](int t) {
        std::vector<kp::Lease> held;  // held to the end: nothing is refunded while the others race
        for (kp::Lease lease = pool->acquire(); lease; lease = pool->acquire()) {
          ++granted[static_cast<std::size_t>(t)];
          held.push_back(std::move(lease));
        }
      });
      std::uint64_t total = 0;
      for (const std::uint64_t g : granted) total += g;
      write_all(report, std::to_string(total));
    }));
  gate.open();  // releases the children together

  std::uint64_t total = 0;
  for (const Child& child : children) {
    const auto [report, status] = finish(child);
    INFO("child report: " << report);
    REQUIRE(status == 0);
    total += std::stoull(report);
  }
  CHECK(total == keys * per_day);

  auto pool = open_pool(path, keys, limits, "parent");
  const kp::Snapshot snap = pool->snapshot();
  for (const kp::KeySnapshot& key : snap.keys) {
    CHECK(key.limits[0].used == per_day);  // the rolled-back minute reservations left nothing
    CHECK(key.limits[1].used == per_day);
  }
  CHECK(kp::store::MappedFile::inspect(path).keys.size() == keys);
}

TEST_CASE("processes starting at once create the file once and grow its table safely", "[stress][processes]") {
  TempDir dir;
  const fs::path path = dir.path / "nested-start.kp";
  constexpr int processes = 6;
  constexpr int own_keys = 30;  // 10 shared + 6 × 30 own = 190 keys: the table grows from 64 to 192
  constexpr int shared_keys = 10;
  const std::vector<kp::Limit> limits{kp::Limit::requests(1'000).per_day()};

  Gate gate;
  std::vector<Child> children;
  for (int c = 0; c < processes; ++c)
    children.push_back(spawn(&gate, [&, c](int) {
      FilePool pool{kp::Capacity{shared_keys + own_keys}, kp::store::MappedFile{path}, kp::clock::Manual{start_time}};
      const kp::ProviderId p = pool.add_provider("p");
      // Interleave shared and own keys, so the processes race on both kinds.
      for (int i = 0; i < own_keys; ++i) {
        if (i < shared_keys)
          pool.add_key(p, kp::Secret{"shared-" + std::to_string(c) + "-" + std::to_string(i)}, limits, {.label = "shared-" + std::to_string(i)});
        pool.add_key(p, kp::Secret{"own-" + std::to_string(c) + "-" + std::to_string(i)}, limits,
                     {.label = "own-" + std::to_string(c) + "-" + std::to_string(i)});
      }
      for (std::size_t k = 0; k < pool.key_count(); ++k) {
        // One request on each key: acquire until this key comes up, cancelling the others.
        for (;;) {
          kp::Lease lease = pool.acquire();
          if (!lease) throw std::runtime_error("refused");
          if (lease.key().value == k) {
            lease.commit();
            break;
          }
          lease.cancel();
        }
      }
    }));
  gate.open();
  for (const Child& child : children) {
    const auto [report, status] = finish(child);
    INFO("child report: " << report);
    REQUIRE(status == 0);
  }

  const kp::store::FileDescription description = kp::store::MappedFile::inspect(path);
  std::map<std::string, int> labels;
  for (const kp::store::StoredKey& key : description.keys) ++labels[key.label];
  CHECK(description.keys.size() == shared_keys + processes * own_keys);
  CHECK(labels.size() == description.keys.size());  // every label once
  CHECK(description.key_room == 192);
  CHECK(fs::file_size(path) == description.bytes);
  for (const auto& entry : fs::directory_iterator(dir.path))
    CHECK(entry.path().filename() == "nested-start.kp");  // no temporary file left behind

  // Each shared key counted one request per process; each own key one.
  auto store = kp::store::MappedFile::read_only(path);
  FilePool reader{kp::Capacity{description.keys.size()}, std::move(store), kp::clock::Manual{start_time}};
  const kp::ProviderId p = reader.add_provider("p");
  for (const kp::store::StoredKey& key : description.keys) reader.add_key(p, kp::Secret{"reader-" + key.label}, key.limits, {.label = key.label});
  for (const kp::KeySnapshot& key : reader.snapshot().keys) {
    INFO(key.label);
    CHECK(key.limits[0].used == (key.label.rfind("shared-", 0) == 0 ? processes : 1u));
  }
}

TEST_CASE("a process killed with SIGKILL while admitting loses no admission it reported", "[stress][processes][crash]") {
  TempDir dir;
  const fs::path path = dir.path / "quota.kp";
  constexpr int threads = 4;
  const std::uint64_t reports_before_kill = 2'000 * work_scale;
  // Out of reach: the child is killed long before it could fill them.
  const std::vector<kp::Limit> limits{kp::Limit::requests(std::uint64_t{1} << 40).per_day(),
                                      kp::Limit::tokens(std::uint64_t{1} << 40).per_day()};
  {
    auto pool = open_pool(path, 1, limits, "parent");  // creates the file before the child starts
  }

  const Child child = spawn(nullptr, [&](int report) {
    auto pool = open_pool(path, 1, limits, "child");
    run_threads(threads, [&](int) {
      for (;;) {
        kp::Lease lease = pool->acquire({.tokens = 3});
        if (!lease) continue;
        lease.commit({.tokens = 3});
        // Reported only once acquire returned: every byte stands for a recorded admission.
        const char granted = 'g';
        while (::write(report, &granted, 1) != 1) {
        }
      }
    });
  });

  // Read reports until the child has been busy a while, then kill it mid-flight.
  std::uint64_t reported = 0;
  char buffer[4096];
  bool killed = false;
  for (;;) {
    const ssize_t n = ::read(child.report, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the pipe's last writer died
    reported += static_cast<std::uint64_t>(n);
    if (!killed && reported >= reports_before_kill) {
      REQUIRE(::kill(child.pid, SIGKILL) == 0);
      killed = true;
    }
  }
  const auto [report, status] = finish(child);
  INFO("child report: " << report);
  REQUIRE(killed);
  REQUIRE(status == -SIGKILL);

  // Each thread is at most one admission ahead of its reports (admitted, not yet written to the
  // pipe): reported ≤ recorded ≤ reported + threads. An acquire reserves the request, then the
  // tokens: a kill between the two leaves tokens behind by at most one acquire per thread.
  auto pool = open_pool(path, 1, limits, "parent-after");
  const kp::Snapshot snap = pool->snapshot();
  const std::uint64_t requests = snap.keys[0].limits[0].used;
  const std::uint64_t tokens = snap.keys[0].limits[1].used;
  CAPTURE(reported, requests, tokens);
  CHECK(requests >= reported);
  CHECK(requests <= reported + threads);
  CHECK(tokens >= 3 * (requests - threads));
  CHECK(tokens <= 3 * requests);
}

TEST_CASE("admin operations of one process take effect in another sharing the file", "[stress][processes][admin]") {
  TempDir dir;
  const fs::path path = dir.path / "quota.kp";
  const std::vector<kp::Limit> limits{kp::Limit::requests(100).per_minute(), kp::Limit::tokens(10'000).per_day()};
  auto pool = open_pool(path, 2, limits, "parent");
  const auto used = [&](std::size_t key, std::size_t limit) { return pool->snapshot().keys.at(key).limits.at(limit).used; };
  const auto status = [&](std::size_t key) { return pool->snapshot().keys.at(key).status; };
  // Runs `op` in a new process with a pool of its own over the file (same labels, own secrets).
  const auto in_other_process = [&](const std::function<void(FilePool&)>& op) {
    const Child child = spawn(nullptr, [&](int) {
      auto other = open_pool(path, 2, limits, "other");
      op(*other);
    });
    const auto [report, code] = finish(child);
    INFO("child report: " << report);
    REQUIRE(code == 0);
  };
  const auto acquire_on = [](FilePool& p, std::uint32_t key, std::uint64_t tokens) {
    for (;;) {
      kp::Lease lease = p.acquire({.tokens = tokens});
      if (!lease) throw std::runtime_error("refused");
      if (lease.key().value == key) {
        lease.commit({.tokens = tokens});
        return;
      }
      lease.cancel();
    }
  };

  in_other_process([&](FilePool& other) {
    for (int i = 0; i < 5; ++i) acquire_on(other, 0, 100);
    acquire_on(other, 1, 100);
  });
  CHECK(used(0, 0) == 5);
  CHECK(used(0, 1) == 500);

  in_other_process([](FilePool& other) { other.reset(kp::KeyId{0}, kp::Metric::tokens); });
  CHECK(used(0, 0) == 5);
  CHECK(used(0, 1) == 0);
  in_other_process([](FilePool& other) { other.reset(kp::KeyId{0}); });
  CHECK(used(0, 0) == 0);
  CHECK(used(1, 0) == 1);
  in_other_process([](FilePool& other) { other.reset_all(); });
  CHECK(used(1, 0) == 0);
  CHECK(used(1, 1) == 0);

  in_other_process([](FilePool& other) {
    other.disable(kp::KeyId{0});
    other.disable(kp::KeyId{1});
  });
  const kp::Lease refused = pool->acquire();
  REQUIRE_FALSE(refused);
  CHECK(refused.refusal().reason == kp::Reason::disabled);
  in_other_process([](FilePool& other) { other.enable(kp::KeyId{1}); });
  CHECK(status(0) == kp::KeyStatus::disabled);
  CHECK(status(1) == kp::KeyStatus::available);

  // And the other way round: what this process does, a new process sees.
  pool->enable(kp::KeyId{0});
  acquire_on(*pool, 0, 7);
  pool->disable(kp::KeyId{1});
  in_other_process([](FilePool& other) {
    const kp::Snapshot snap = other.snapshot();
    if (snap.keys[0].limits[0].used != 1 || snap.keys[0].limits[1].used != 7) throw std::runtime_error("counts not shared");
    if (snap.keys[1].status != kp::KeyStatus::disabled) throw std::runtime_error("disable not shared");
    if (snap.keys[0].status != kp::KeyStatus::available) throw std::runtime_error("enable not shared");
  });
}
