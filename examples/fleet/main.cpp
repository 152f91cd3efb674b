// fleet: a small fleet of service instances (processes) sharing one key's daily quota through one
// Redis with store::Redis. Each instance takes requests on a few threads as fast as it can until
// the fleet's quota is spent; the parent prints each instance's share and the total against the
// limit, and what Redis itself counted.
//
//   fleet --spawn-redis                 starts a private redis-server on a free loopback port
//   fleet --redis 127.0.0.1:6379        uses a running Redis (a fresh namespace per run)
//   options: --instances N (4)  --threads T (2)  --limit L (20000)
//
// Exit status: 0 when the fleet admitted at most the limit and Redis counts exactly what was
// admitted; 1 otherwise; 2 on a bad option.
#include <hiredis/hiredis.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <keypool/keypool.hpp>
#include <keypool/store/redis.hpp>

namespace kp = keypool;
using namespace std::chrono_literals;

namespace {

struct Config {
  std::string host = "127.0.0.1";
  int port = 0;
  bool spawn = false;
  int instances = 4;
  int threads = 2;
  std::uint64_t limit = 20'000;
};

using FleetPool = kp::KeyPool<kp::store::Redis>;

/// What every instance does to use the shared key: the same pool name, label and limits. Each
/// instance holds the secret itself (in a service: kp::env::keys); Redis never sees it.
void add_shared_key(FleetPool& pool, std::uint64_t limit) {
  const kp::ProviderId gemini = pool.add_provider("gemini");
  pool.add_key(gemini, kp::Secret{"AIza-demo-fleet-key"}, {kp::Limit::requests(limit).per_day()}, {.label = "gemini-shared"});
}

/// One instance: threads take requests until the fleet has nothing left for a while, then the
/// instance reports its count on `report` and exits (giving back whatever it still holds).
[[noreturn]] void instance(const Config& config, const std::string& ns, int start_gate, int report) {
  std::atomic<std::uint64_t> admitted{0};
  int status = 0;
  try {
    kp::store::Redis::Options options;
    options.host = config.host;
    options.port = config.port;
    options.pool = ns;
    FleetPool pool{kp::store::Redis{options}};
    add_shared_key(pool, config.limit);
    char byte;
    while (::read(start_gate, &byte, 1) > 0) {  // every instance starts when the parent closes the gate
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < config.threads; ++t)
      threads.emplace_back([&] {
        for (int refusals = 0; refusals < 5;) {
          if (kp::Lease lease = pool.acquire()) {
            lease.commit();
            admitted.fetch_add(1, std::memory_order_relaxed);
            refusals = 0;
          } else {
            ++refusals;  // out of quota (or Redis away): look again a little later
            std::this_thread::sleep_for(20ms);
          }
        }
      });
    for (std::thread& t : threads) t.join();
  } catch (const std::exception& e) {
    std::cerr << "instance " << getpid() << ": " << e.what() << "\n";
    status = 1;
  }
  const std::uint64_t count = admitted.load();
  if (::write(report, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) status = 1;
  _exit(status);
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("no free loopback port");
  close(fd);
  return ntohs(addr.sin_port);
}

/// Runs `command` on a fresh connection; the reply's integer or string as text ("" on failure).
std::string redis_command(const Config& config, const std::string& command, const std::string& arg) {
  redisContext* ctx = redisConnectWithTimeout(config.host.c_str(), config.port, timeval{1, 0});
  std::string out;
  if (ctx != nullptr && ctx->err == 0) {
    auto* reply = static_cast<redisReply*>(redisCommand(ctx, (command + " %s").c_str(), arg.c_str()));
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) out.assign(reply->str, reply->len);
      if (reply->type == REDIS_REPLY_INTEGER) out = std::to_string(reply->integer);
      freeReplyObject(reply);
    }
  }
  if (ctx != nullptr) redisFree(ctx);
  return out;
}

/// A private redis-server (no persistence) for the demo, stopped at exit.
pid_t spawn_redis(Config& config) {
  config.port = free_port();
  const std::string port = std::to_string(config.port);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(127);
    execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "", "--appendonly",
           "no", "--loglevel", "warning", static_cast<char*>(nullptr));
    std::perror("fleet: cannot run redis-server (apt-get install redis-server)");
    _exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    if (redis_command(config, "ECHO", "up") == "up") return pid;
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  throw std::runtime_error("redis-server did not start on port " + port);
}

std::uint64_t number(const std::string& option, const char* text, std::uint64_t low, std::uint64_t high) {
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high)
    throw std::invalid_argument(option + " wants a number in " + std::to_string(low) + ".." + std::to_string(high) +
                                ", not '" + text + "'");
  return value;
}

Config parse(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string option = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) throw std::invalid_argument(option + " needs a value");
      return argv[++i];
    };
    if (option == "--spawn-redis") {
      config.spawn = true;
    } else if (option == "--redis") {
      const std::string address = value();
      const auto colon = address.rfind(':');
      if (colon == std::string::npos) throw std::invalid_argument("--redis wants host:port, not '" + address + "'");
      config.host = address.substr(0, colon);
      config.port = static_cast<int>(number("--redis port", address.c_str() + colon + 1, 1, 65535));
    } else if (option == "--instances") {
      config.instances = static_cast<int>(number(option, value(), 1, 64));
    } else if (option == "--threads") {
      config.threads = static_cast<int>(number(option, value(), 1, 64));
    } else if (option == "--limit") {
      config.limit = number(option, value(), 1, 100'000'000);
    } else {
      throw std::invalid_argument("unknown option '" + option + "' (see the comment at the top of fleet/main.cpp)");
    }
  }
  if (!config.spawn && config.port == 0) throw std::invalid_argument("say where Redis is: --redis host:port, or --spawn-redis");
  return config;
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  try {
    config = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fleet: " << e.what() << "\n";
    return 2;
  }
  pid_t redis = -1;
  int code = 1;
  try {
    if (config.spawn) redis = spawn_redis(config);
    // A namespace of its own, so every run starts with the whole day's quota.
    const std::string ns = "fleet-demo-" + std::to_string(getpid()) + "-" +
                           std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
    std::cout << "fleet: " << config.instances << " instances x " << config.threads << " threads share "
              << config.limit << " requests/day on one key, through Redis at " << config.host << ":" << config.port
              << "\n\n";
    std::vector<std::pair<pid_t, int>> children;
    int gate[2];
    if (pipe(gate) != 0) throw std::runtime_error("pipe failed");
    for (int i = 0; i < config.instances; ++i) {
      int fds[2];
      if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("fork failed");
      if (pid == 0) {
        close(fds[0]);
        close(gate[1]);
        instance(config, ns, gate[0], fds[1]);
      }
      close(fds[1]);
      children.emplace_back(pid, fds[0]);
    }
    close(gate[0]);
    std::this_thread::sleep_for(200ms);  // let every instance connect, then open the gate
    close(gate[1]);
    std::uint64_t total = 0;
    bool all_ok = true;
    std::printf("  %-10s %10s %8s\n", "instance", "admitted", "share");
    std::vector<std::uint64_t> counts;
    for (const auto& [pid, fd] : children) {
      std::uint64_t count = 0;
      all_ok &= ::read(fd, &count, sizeof count) == static_cast<ssize_t>(sizeof count);
      close(fd);
      int status = 0;
      waitpid(pid, &status, 0);
      all_ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
      counts.push_back(count);
      total += count;
    }
    for (std::size_t i = 0; i < counts.size(); ++i)
      std::printf("  pid %-6d %10llu %7.1f%%\n", static_cast<int>(children[i].first),
                  static_cast<unsigned long long>(counts[i]),
                  100.0 * static_cast<double>(counts[i]) / static_cast<double>(config.limit));
    const auto day = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()).time_since_epoch().count();
    const std::string counted = redis_command(config, "GET", kp::store::Redis::counter_key(ns, "gemini-shared", 0,
                                                                                         static_cast<std::uint64_t>(day)));
    const std::uint64_t in_redis = counted.empty() ? 0 : std::stoull(counted);
    std::printf("\n  total admitted %llu of %llu (%.2f%%); Redis counts %llu\n", static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(config.limit), 100.0 * static_cast<double>(total) / static_cast<double>(config.limit),
                static_cast<unsigned long long>(in_redis));
    if (all_ok && total <= config.limit && in_redis == total) {
      std::printf("  OK: never over the limit, and every unit Redis debited was spent or given back\n");
      code = 0;
    } else {
      std::printf("  FAILED: %s\n", !all_ok ? "an instance failed" : total > config.limit ? "over the limit" : "Redis disagrees");
    }
  } catch (const std::exception& e) {
    std::cerr << "fleet: " << e.what() << "\n";
  }
  if (redis > 0) {
    kill(redis, SIGTERM);
    waitpid(redis, nullptr, 0);
  }
  return code;
}
