// A real redis-server for the store::Redis tests: started on a free loopback port, stopped (and
// restartable, for outage tests) by the test. Needs redis-server on PATH (Debian: redis-server),
// or KEYPOOL_REDIS_SERVER naming the binary.
#pragma once

#include <hiredis/hiredis.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <keypool/store/redis.hpp>

class RedisServer {
 public:
  /// `extra`: more redis-server arguments, e.g. {"--requirepass", "secret"}.
  explicit RedisServer(std::vector<std::string> extra = {}) : port_(free_port()), extra_(std::move(extra)) { start(); }
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

  /// Starts redis-server on port() (no persistence) and waits until it answers PING.
  void start() {
    if (pid_ > 0) return;
    const char* binary = std::getenv("KEYPOOL_REDIS_SERVER");
    const std::string server = binary != nullptr && *binary != '\0' ? binary : "redis-server";
    const std::string port = std::to_string(port_);
    // Everything the child needs is built before fork: a child of a multi-threaded process may
    // only make async-signal-safe calls (no allocation) before exec.
    std::vector<const char*> argv{server.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--loglevel", "warning"};
    for (const std::string& arg : extra_) argv.push_back(arg.c_str());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int null = open("/dev/null", O_WRONLY);
      if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
      }
      execvp(argv[0], const_cast<char* const*>(argv.data()));
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server did not start (exit status " + std::to_string(WEXITSTATUS(status)) +
                                 "); install it: apt-get install redis-server");
      }
      if (!command("PING").empty()) return;  // PONG, or NOAUTH's error when a password is set
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    stop();
    throw std::runtime_error("redis-server did not answer PING on port " + port);
  }

  /// Stops it (SIGKILL: an outage, not a shutdown) and waits for it to exit.
  void stop() noexcept {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// Runs one command; returns a string, status or integer reply as text ("" for nil/errors).
  std::string command(const std::string& a, const std::string& b = {}, const std::string& c = {}) const {
    const timeval tv{1, 0};
    redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (ctx == nullptr || ctx->err != 0) {
      if (ctx != nullptr) redisFree(ctx);
      return {};
    }
    const char* argv[3] = {a.c_str(), b.c_str(), c.c_str()};
    const std::size_t lens[3] = {a.size(), b.size(), c.size()};
    const int argc = c.empty() ? (b.empty() ? 1 : 2) : 3;
    auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx, argc, argv, lens));
    std::string out;
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS || reply->type == REDIS_REPLY_ERROR)
        out.assign(reply->str, reply->len);
      else if (reply->type == REDIS_REPLY_INTEGER) out = std::to_string(reply->integer);
      freeReplyObject(reply);
    }
    redisFree(ctx);
    return out;
  }

  /// The integer value of `key` (0 when absent).
  [[nodiscard]] long long get(const std::string& key) const {
    const std::string value = command("GET", key);
    return value.empty() ? 0 : std::stoll(value);
  }

 private:
  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) close(fd);
      throw std::runtime_error("no free loopback port");
    }
    close(fd);
    return ntohs(addr.sin_port);
  }

  int port_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

/// A loopback socket that accepts connections (into its backlog) and never answers: a stalled
/// Redis. Throws std::runtime_error when the socket cannot be set up.
struct SilentServer {
  int fd = -1;
  int port = 0;
  SilentServer() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("SilentServer: cannot listen on a loopback port");
    }
    port = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
};

/// store::Redis options for a pool named `pool` on `server`, with a 500 ms timeout (tests).
inline keypool::store::Redis::Options redis_options(const RedisServer& server, std::string pool) {
  keypool::store::Redis::Options options;
  options.port = server.port();
  options.pool = std::move(pool);
  options.timeout = std::chrono::milliseconds{500};
  return options;
}
