// What the gateway checks before it trusts a request: the body's size (Content-Length and chunked
// bodies alike), its bytes (UTF-8), its JSON nesting depth (scanned before any parse, copy or
// dump, each of which recurses), the `max_tokens` the client asks for, and the errors it answers
// in OpenAI's shape. Also the worker pool that keeps slow clients from starving others, and the
// listening socket's options (one gateway per port). docs/gateway.md, "Hostile input".
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace gateway {

/// The largest body the gateway reads (Content-Length or chunked), in bytes.
inline constexpr std::size_t max_body_bytes = std::size_t{4} << 20;
/// The deepest nesting of arrays and objects a request body may have.
inline constexpr std::size_t max_json_depth = 64;
/// The largest `max_tokens` (or `max_completion_tokens`) a request may ask for.
inline constexpr std::uint64_t max_completion_tokens = 1'000'000;
/// The largest token estimate of one request: a 4 MiB body is about 1 M tokens, plus the completion.
inline constexpr std::uint64_t max_estimate_tokens = (max_body_bytes + 3) / 4 + max_completion_tokens;

/// A request the gateway refuses: an HTTP status and OpenAI's error fields. `message` never holds
/// a library's exception text nor bytes of the request.
struct Problem {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // empty: null
  std::string code;   // empty: null
};

/// {"error":{"message","type","param","code"}} plus `extra`'s fields. Never throws on bad UTF-8
/// in a field (replaced by U+FFFD).
[[nodiscard]] inline std::string error_json(std::string_view type, std::string_view message, std::string_view param = {},
                                            std::string_view code = {},
                                            nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json error = std::move(extra);
  error["message"] = message;
  error["type"] = type;
  error["param"] = param.empty() ? nlohmann::json() : nlohmann::json(param);
  error["code"] = code.empty() ? nlohmann::json() : nlohmann::json(code);
  return nlohmann::json{{"error", std::move(error)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline void answer_problem(httplib::Response& res, const Problem& problem) {
  res.status = problem.status;
  res.set_content(error_json(problem.type, problem.message, problem.param, problem.code), "application/json");
}

/// Whether `text` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
/// Returns the offset of the first bad byte, or nothing.
[[nodiscard]] inline std::optional<std::size_t> utf8_error(std::string_view text) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) length = 2;
    else if (c == 0xE0) length = 3, low = 0xA0;
    else if (c == 0xED) length = 3, high = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) length = 3;
    else if (c == 0xF0) length = 4, low = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) length = 4;
    else if (c == 0xF4) length = 4, high = 0x8F;
    else return i;
    if (i + length > n) return i;
    if (s[i + 1] < low || s[i + 1] > high) return i;
    for (std::size_t k = 2; k < length; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    i += length;
  }
  return std::nullopt;
}

/// The deepest nesting of arrays and objects in `text`, counted outside strings, stopping as soon
/// as it passes `limit` (then returns limit + 1). Linear, no recursion, no allocation: safe on any
/// input, before any parser sees it.
[[nodiscard]] inline std::size_t json_depth(std::string_view text, std::size_t limit) noexcept {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return limit + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// Parses a request body that must be a JSON object: size, UTF-8 and depth first, then the parser
/// (without exceptions). Sets `problem` and returns nothing when the body is refused.
[[nodiscard]] inline std::optional<nlohmann::json> parse_body(std::string_view body, Problem& problem) {
  if (body.size() > max_body_bytes) {
    problem = {413, "invalid_request_error",
               "the request body is larger than " + std::to_string(max_body_bytes) + " bytes", "", "payload_too_large"};
    return std::nullopt;
  }
  if (const auto at = utf8_error(body)) {
    problem = {400, "invalid_request_error",
               "the request body is not valid UTF-8 (first bad byte at offset " + std::to_string(*at) + ")", "",
               "invalid_utf8"};
    return std::nullopt;
  }
  if (json_depth(body, max_json_depth) > max_json_depth) {
    problem = {400, "invalid_request_error",
               "the request body nests arrays and objects deeper than " + std::to_string(max_json_depth) + " levels", "",
               "too_deep"};
    return std::nullopt;
  }
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    problem = {400, "invalid_request_error", "the request body is not valid JSON", "", "invalid_json"};
    return std::nullopt;
  }
  if (!parsed.is_object()) {
    problem = {400, "invalid_request_error", "the request body must be a JSON object", "", "invalid_json"};
    return std::nullopt;
  }
  return parsed;
}

/// The completion tokens a request asks for: `max_completion_tokens`, else `max_tokens`, else
/// `fallback`. Each present one must be a whole number from 1 to max_completion_tokens (null
/// counts as absent); anything else (negative, fractional, a string, 1e30, 2^64-2) sets
/// `problem` and returns nothing.
[[nodiscard]] inline std::optional<std::uint64_t> completion_tokens(const nlohmann::json& body, std::uint64_t fallback,
                                                                   Problem& problem) {
  std::optional<std::uint64_t> asked;
  for (const char* name : {"max_completion_tokens", "max_tokens"}) {
    const auto field = body.find(name);
    if (field == body.end() || field->is_null()) continue;
    const bool whole = field->is_number_unsigned() || field->is_number_integer();
    const bool in_range = whole && !(field->is_number_integer() && !field->is_number_unsigned() &&
                                     field->get<std::int64_t>() < 1) &&
                          field->get<std::uint64_t>() >= 1 && field->get<std::uint64_t>() <= max_completion_tokens;
    if (!in_range) {
      problem = {400, "invalid_request_error",
                 std::string{"'"} + name + "' must be a whole number from 1 to " + std::to_string(max_completion_tokens),
                 name, "invalid_value"};
      return std::nullopt;
    }
    if (!asked) asked = field->get<std::uint64_t>();
  }
  return asked.value_or(fallback);
}

/// `a + b`, at most max_estimate_tokens.
[[nodiscard]] constexpr std::uint64_t bounded_sum(std::uint64_t a, std::uint64_t b) noexcept {
  return std::min(max_estimate_tokens, std::min(a, max_estimate_tokens) + std::min(b, max_estimate_tokens));
}

/// Text for a log line: control characters, quotes and backslashes escaped as JSON does, bad
/// UTF-8 replaced; a decoded "%0A" in a path cannot start a new line.
[[nodiscard]] inline std::string log_escape(std::string_view text) {
  const std::string quoted =
      nlohmann::json(std::string{text}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

/// The listening socket's options: SO_REUSEADDR only. cpp-httplib's default also sets
/// SO_REUSEPORT, which lets a second gateway bind the same port and split the traffic.
inline void listen_socket_options(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

/// Ends the connection `req` came on once its answer is written: the rest of a refused body is
/// never read, and never parsed as further requests. (cpp-httplib keeps a connection alive after
/// a handler's answer whatever its headers say, and does not show the socket to handlers: it is
/// found by its addresses among this process's descriptors.) Shuts the socket's reading side
/// only; the answer is still written.
inline void close_after_answer(const httplib::Request& req) {
  const auto port_of = [](const sockaddr_storage& address) -> int {
    if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(address).sin_port);
    if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(address).sin6_port);
    return -1;
  };
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return;
  while (const dirent* entry = readdir(fds)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    const int fd = std::atoi(entry->d_name);
    struct stat info{};
    if (fd == dirfd(fds) || fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_size = sizeof local, peer_size = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0)
      continue;
    if (port_of(local) != req.local_port || port_of(peer) != req.remote_port) continue;
    char text[INET6_ADDRSTRLEN] = {};
    const void* where = peer.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in&>(peer).sin_addr)
                                                  : static_cast<const void*>(&reinterpret_cast<sockaddr_in6&>(peer).sin6_addr);
    if (inet_ntop(peer.ss_family, where, text, sizeof text) == nullptr || req.remote_addr != text) continue;
    shutdown(fd, SHUT_RD);
    break;
  }
  closedir(fds);
}

/// Reads a body through `reader` into `out`, at most max_body_bytes, chunked or not: a longer
/// body stops the read at the limit (nothing beyond is buffered). Returns false on too large
/// (`too_large` set) or a broken read.
[[nodiscard]] inline bool read_bounded(const httplib::ContentReader& reader, std::string& out, bool& too_large) {
  too_large = false;
  return reader([&](const char* data, std::size_t length) {
    if (out.size() + length > max_body_bytes) {
      too_large = true;
      return false;
    }
    out.append(data, length);
    return true;
  });
}

/// Connection workers: `min` threads always, more started when every worker is busy, up to `max`
/// (then connections wait in line); a worker above `min` ends after `idle` without work. A few
/// clients that send their headers a byte at a time each hold one worker until the read timeout;
/// they cannot hold them all.
class ElasticPool final : public httplib::TaskQueue {
 public:
  ElasticPool(std::size_t min, std::size_t max, std::chrono::milliseconds idle = std::chrono::seconds{30})
      : min_(std::max<std::size_t>(min, 1)), max_(std::max(max, std::max<std::size_t>(min, 1))), idle_(idle) {
    std::lock_guard lock{mutex_};
    for (std::size_t i = 0; i < min_; ++i) start();
  }
  ElasticPool(const ElasticPool&) = delete;
  ElasticPool& operator=(const ElasticPool&) = delete;
  ~ElasticPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock{mutex_};
      jobs_.push_back(std::move(fn));
      if (idle_workers_ < jobs_.size() && threads_.size() - finished_ < max_) start();
    }
    wake_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock{mutex_};
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    for (Worker& worker : threads_)
      if (worker.thread.joinable()) worker.thread.join();
  }

  /// Workers now (for tests and the log).
  [[nodiscard]] std::size_t workers() const {
    std::lock_guard lock{mutex_};
    return threads_.size() - finished_;
  }

 private:
  // Under mutex_.
  void start() {
    // Join the workers that have ended (they hold nothing more), so the list does not grow.
    for (auto worker = threads_.begin(); worker != threads_.end();) {
      if (!worker->done) {
        ++worker;
        continue;
      }
      worker->thread.join();
      worker = threads_.erase(worker);
      --finished_;
    }
    Worker& worker = threads_.emplace_back();
    worker.thread = std::thread{[this, &worker] { work(worker); }};
  }

  struct Worker {
    std::thread thread;
    bool done = false;  // under mutex_
  };

  void work(Worker& self) {
    std::unique_lock lock{mutex_};
    for (;;) {
      ++idle_workers_;
      const bool woke = wake_.wait_for(lock, idle_, [&] { return stopping_ || !jobs_.empty(); });
      --idle_workers_;
      if (jobs_.empty()) {
        if (stopping_) break;
        if (!woke && threads_.size() - finished_ > min_) break;  // idle too long, above the minimum
        continue;
      }
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    ++finished_;
    self.done = true;
  }

  const std::size_t min_, max_;
  const std::chrono::milliseconds idle_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  std::list<Worker> threads_;  // stable addresses
  std::size_t finished_ = 0;      // threads that have ended (joined at shutdown)
  std::size_t idle_workers_ = 0;  // waiting for a job
  bool stopping_ = false;
};

}  // namespace gateway
