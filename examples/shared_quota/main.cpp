// shared_quota: two worker processes share one daily quota through a state file
// (store::MappedFile). Each adds the same key under the same label and takes requests as fast as it
// can until the quota refuses; between them they get exactly the quota, never more.
//
//   shared_quota              uses a temporary file, removed at the end
//   shared_quota quota.kp     keeps the file: run it again and the day's quota is already spent
//                             (keypool_inspect quota.kp shows it)
//
// Exit status: 0 when the workers got exactly what the quota had left, 1 otherwise.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <keypool/keypool.hpp>
#include <keypool/store/mapped_file.hpp>

namespace kp = keypool;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t daily_quota = 1'000;

using SharedPool = kp::KeyPool<kp::store::MappedFile>;

/// What every process does to use the shared key: the same label and limits. Each process holds
/// the secret itself (here a demo string; in a service, kp::env::keys("GROQ_API_KEY")): the file
/// never has it.
void add_shared_key(SharedPool& pool) {
  const kp::ProviderId groq = pool.add_provider("groq");
  pool.add_key(groq, kp::Secret{"gsk_demo_shared_key_0001"}, {kp::Limit::requests(daily_quota).per_day()},
               {.label = "groq-shared"});
}

std::uint64_t used_today(const fs::path& path) {
  SharedPool pool{kp::Capacity{1}, kp::store::MappedFile{path}};
  add_shared_key(pool);
  return pool.snapshot().keys.at(0).limits.at(0).used;
}

/// One worker: takes requests until the quota refuses, then reports how many it got.
[[noreturn]] void work(const fs::path& path, int start_gate, int report) {
  std::uint64_t granted = 0;
  int status = 0;
  try {
    SharedPool pool{kp::Capacity{1}, kp::store::MappedFile{path}};
    add_shared_key(pool);
    char byte;
    while (::read(start_gate, &byte, 1) > 0) {  // both workers start when the parent says so
    }
    for (kp::Lease lease = pool.acquire(); lease; lease = pool.acquire()) {
      // … call the provider with lease.secret().reveal() here …
      lease.commit();
      ++granted;
    }
  } catch (const std::exception& error) {
    std::cerr << "worker " << ::getpid() << ": " << error.what() << '\n';
    status = 1;
  }
  const std::string text = std::to_string(granted);
  if (::write(report, text.data(), text.size()) != static_cast<ssize_t>(text.size())) status = 1;
  ::_exit(status);  // a forked child leaves without running the parent's exit handlers
}

}  // namespace

int main(int argc, char** argv) {
  const bool temporary = argc < 2;
  const fs::path path = temporary ? fs::temp_directory_path() / ("shared_quota-" + std::to_string(::getpid()) + ".kp")
                                  : fs::path{argv[1]};
  try {
    const std::uint64_t before = used_today(path);  // creates the file if absent
    const auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
    std::cout << "state file " << path.string() << ": " << before << " of " << daily_quota << " requests used today\n";

    int gate[2];
    if (::pipe(gate) != 0) throw std::runtime_error("pipe failed");
    struct Worker {
      pid_t pid;
      int report;
    };
    std::vector<Worker> workers;
    for (int w = 0; w < 2; ++w) {  // fork before any thread exists
      int report[2];
      if (::pipe(report) != 0) throw std::runtime_error("pipe failed");
      const pid_t pid = ::fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        ::close(gate[1]);
        ::close(report[0]);
        work(path, gate[0], report[1]);
      }
      ::close(report[1]);
      workers.push_back({pid, report[0]});
    }
    ::close(gate[0]);
    ::close(gate[1]);  // go

    std::uint64_t total = 0;
    bool failed = false;
    for (std::size_t w = 0; w < workers.size(); ++w) {
      std::string text;
      char buffer[64];
      for (ssize_t n; (n = ::read(workers[w].report, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
      ::close(workers[w].report);
      int status = 0;
      ::waitpid(workers[w].pid, &status, 0);
      failed = failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || text.empty();
      const std::uint64_t granted = text.empty() ? 0 : std::stoull(text);
      std::cout << "worker " << w + 1 << " (pid " << workers[w].pid << ") got " << granted << " requests\n";
      total += granted;
    }

    const std::uint64_t after = used_today(path);
    const std::uint64_t left = daily_quota - std::min(daily_quota, before);
    std::cout << "together: " << total << " requests; the quota had " << left << " left; the file now records " << after
              << " of " << daily_quota << '\n';
    if (std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()) != today)
      std::cout << "(a new UTC day began during the run: the quota reset, so the figures cover two days)\n";
    else if (failed || total != left || after != daily_quota) failed = true, std::cout << "MISMATCH: see above\n";
    else std::cout << "exactly the quota, never more: OK\n";
    if (temporary) fs::remove(path);
    return failed ? 1 : 0;
  } catch (const std::exception& error) {
    std::cerr << error.what() << '\n';
    if (temporary) fs::remove(path);
    return 1;
  }
}
