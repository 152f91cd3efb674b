// store::Redis's connection (hiredis): connect, AUTH, SELECT and SCRIPT LOAD within a deadline,
// one pipelined round trip at a time, error replies and NOSCRIPT, and when Redis counts as away.
#pragma once

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keypool/store/redis/options.hpp>
#include <keypool/store/redis/scripts.hpp>
#include <keypool/time.hpp>

namespace keypool::detail::redis {

using SteadyTime = std::chrono::steady_clock::time_point;

/// One connection to Redis and what it counts. Not thread-safe: the store calls it under its
/// lock; the counters may be read from any thread.
class Connection {
 public:
  /// Counted since the store was built (relaxed atomics, read by Redis::stats()).
  struct Counters {
    std::atomic<std::uint64_t> round_trips{0};  ///< pipelines sent
    std::atomic<std::uint64_t> commands{0};     ///< commands in them
    std::atomic<std::uint64_t> errors{0};       ///< commands answered with an error
    std::atomic<std::uint64_t> outages{0};      ///< times Redis became unreachable
    std::atomic<bool> available{false};         ///< reachable at the last attempt
  };

  /// `options` must outlive the connection (the store owns both).
  explicit Connection(const store::RedisOptions& options) noexcept : options_(options) {}
  ~Connection() { disconnect(); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] bool connected() const noexcept { return context_ != nullptr; }
  /// Whether a reconnect may be tried at `now` (reconnect_interval after a failure).
  [[nodiscard]] bool may_connect(SteadyTime now) const noexcept { return now >= next_connect_; }
  /// The SHA1 of a loaded script (empty before the first connection).
  [[nodiscard]] const std::string& sha(Script s) const noexcept { return shas_[static_cast<std::size_t>(s)]; }
  [[nodiscard]] const Counters& counters() const noexcept { return counters_; }

  /// Whether an outage began since the last call: true once per outage, for its event.
  [[nodiscard]] bool take_outage() noexcept { return std::exchange(outage_began_, false); }

  /// Connects, authenticates and loads the scripts unless connected: each step bounded by
  /// `timeout`, and all of them by `deadline` when one is given (a refused acquire's). False (an
  /// outage, see take_outage) when Redis cannot be reached, or before the next reconnect attempt.
  bool ensure_connected(SteadyTime steady_now, SteadyTime deadline = SteadyTime::max()) noexcept {
    if (context_ != nullptr) return true;
    if (steady_now < next_connect_) return false;
    auto step = [&]() -> Duration {
      if (deadline == SteadyTime::max()) return options_.timeout;
      return std::min<Duration>(options_.timeout, std::chrono::duration_cast<Duration>(deadline - std::chrono::steady_clock::now()));
    };
    auto within = [&] {
      const Duration left = step();
      return left > Duration::zero() && redisSetTimeout(context_, to_timeval(left)) == REDIS_OK;
    };
    const Duration first = step();
    if (first <= Duration::zero()) return false;
    const timeval tv = to_timeval(first);
    context_ = options_.unix_socket.empty() ? redisConnectWithTimeout(options_.host.c_str(), options_.port, tv)
                                            : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), tv);
    bool ok = context_ != nullptr && context_->err == 0 && within();
    if (ok && !options_.password.empty())
      ok = within() &&
           (options_.user.empty() ? simple({"AUTH", options_.password}) : simple({"AUTH", options_.user, options_.password}));
    if (ok && options_.database != 0) ok = within() && simple({"SELECT", std::to_string(options_.database)});
    for (const Script s : scripts)
      if (ok) ok = within() && simple({"SCRIPT", "LOAD", source_of(s)}, &shas_[static_cast<std::size_t>(s)]);
    if (!ok) {
      fail(steady_now);
      return false;
    }
    counters_.available.store(true, std::memory_order_relaxed);
    outage_reported_ = false;
    return true;
  }

  /// Sends `commands` in one pipeline (connecting first, within `deadline`) and reads every reply
  /// into `replies`, in order. False, with the connection dropped, when the round trip failed:
  /// then no reply counts. A command answered with an error has no effect and the others stand;
  /// NOSCRIPT (SCRIPT FLUSH, a failover) reconnects on the next call, which loads the scripts again.
  bool exchange(const std::vector<Command>& commands, std::vector<ScriptReply>& replies, SteadyTime deadline) noexcept {
    replies.assign(commands.size(), ScriptReply{});
    const auto steady_now = std::chrono::steady_clock::now();
    if (!ensure_connected(steady_now, deadline)) return false;
    const auto left = std::max(deadline - steady_now, std::chrono::steady_clock::duration{std::chrono::microseconds{100}});
    redisSetTimeout(context_, to_timeval(std::chrono::duration_cast<Duration>(left)));
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (const Command& command : commands) {
      ptrs.clear();
      lens.clear();
      for (const std::string& a : command) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(context_, static_cast<int>(ptrs.size()), ptrs.data(), lens.data()) != REDIS_OK) {
        fail(std::chrono::steady_clock::now());
        return false;
      }
    }
    counters_.round_trips.fetch_add(1, std::memory_order_relaxed);
    counters_.commands.fetch_add(commands.size(), std::memory_order_relaxed);
    bool noscript = false;
    for (ScriptReply& out : replies) {
      void* raw = nullptr;
      if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
        fail(std::chrono::steady_clock::now());
        return false;
      }
      auto* reply = static_cast<redisReply*>(raw);
      if (reply->type == REDIS_REPLY_ERROR) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        if (std::string_view{reply->str, reply->len}.starts_with("NOSCRIPT")) noscript = true;
      }
      out = copy(*reply);
      freeReplyObject(reply);
    }
    if (noscript) {
      disconnect();
      next_connect_ = SteadyTime{};  // reload at once, no outage
    }
    return true;
  }

  void disconnect() noexcept {
    if (context_ != nullptr) redisFree(context_);
    context_ = nullptr;
  }

 private:
  static timeval to_timeval(Duration d) noexcept {
    const auto us = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
  }

  static ScriptReply copy(const redisReply& reply) noexcept {
    ScriptReply out;
    if (reply.type != REDIS_REPLY_ARRAY) return out;
    out.array = true;
    out.size = reply.elements;
    for (std::size_t i = 0; i < std::min(out.size, out.values.size()); ++i)
      if (reply.element[i]->type == REDIS_REPLY_INTEGER) out.values[i] = reply.element[i]->integer;
    return out;
  }

  // A failed call: drop the connection, count the outage once, try again later.
  void fail(SteadyTime steady_now) noexcept {
    disconnect();
    counters_.available.store(false, std::memory_order_relaxed);
    next_connect_ = steady_now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.reconnect_interval);
    if (!outage_reported_) {
      outage_reported_ = true;
      outage_began_ = true;
      counters_.outages.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // One command, synchronously (connection setup only).
  bool simple(std::initializer_list<std::string_view> argv, std::string* out = nullptr) noexcept {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (const std::string_view a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(context_, static_cast<int>(ptrs.size()), ptrs.data(), lens.data()));
    if (reply == nullptr) return false;
    const bool ok = reply->type != REDIS_REPLY_ERROR;
    if (ok && out != nullptr && reply->type == REDIS_REPLY_STRING) out->assign(reply->str, reply->len);
    freeReplyObject(reply);
    return ok;
  }

  const store::RedisOptions& options_;
  redisContext* context_ = nullptr;
  std::array<std::string, scripts.size()> shas_;
  bool outage_reported_ = false;  // counted (and announced) once per outage
  bool outage_began_ = false;     // not yet taken by take_outage
  SteadyTime next_connect_{};
  Counters counters_;
};

}  // namespace keypool::detail::redis
