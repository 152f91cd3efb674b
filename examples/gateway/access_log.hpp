// The gateway's access log: one JSON line per request, with the request's id (also sent to the
// client in `x-request-id`), time, client, method, path, model, provider, key label, status,
// result, the cause of a 429, attempts, latency and tokens. Handlers fill the record of the
// request in progress (one per server thread: cpp-httplib runs a request's routing, handler and
// logger on one thread); the server's logger writes it. docs/gateway.md, "Logs".
#pragma once

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace gateway {

/// What one request did, filled as it is served.
struct AccessRecord {
  std::string id;
  std::chrono::system_clock::time_point time{};    // when its headers were read
  std::chrono::steady_clock::time_point started{};  // for the latency
  std::string model;     // as the client asked
  std::string provider;  // the one that answered last
  std::string key;       // that key's label
  std::string result;    // as in /metrics' keypool_gateway_requests_total, empty: not a proxied request
  std::string cause;     // of a 429: "client_limit" or "keys"
  std::string reason;    // the pool's reason for a refusal (exhausted, rate_limited, cooling_down, ...)
  unsigned attempts = 0;
  std::optional<std::uint64_t> tokens;  // committed
  std::string stream;  // a streamed answer's end: "complete", "broke_off" or "client_gone"
  std::string usage;   // where `tokens` came from: "reported" (by the provider) or "estimated"
};

/// The record of the request this thread serves.
[[nodiscard]] inline AccessRecord& current_access() {
  thread_local AccessRecord record;
  return record;
}

/// A new request id: "req_" and 16 hex digits, unique in this process and unpredictable across
/// processes (a random start, then a counter through a bijective mix).
[[nodiscard]] inline std::string new_request_id() {
  static const std::uint64_t seed = [] {
    std::random_device random;
    return (std::uint64_t{random()} << 32) ^ random();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (counter.fetch_add(1, std::memory_order_relaxed) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "req_";
  for (int shift = 60; shift >= 0; shift -= 4) id += hex[(z >> shift) & 0xF];
  return id;
}

/// "2026-12-05T03:36:28.123Z": RFC 3339, UTC, milliseconds.
[[nodiscard]] inline std::string rfc3339_ms(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const std::time_t seconds = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(ms));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  const std::size_t size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  const auto fraction = (ms.time_since_epoch() % std::chrono::seconds{1}).count();
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(fraction < 0 ? fraction + 1000 : fraction));
  return std::string{text, size} + millis;
}

/// Starts the record of a request whose headers were just read; returns its id.
inline const std::string& begin_access() {
  AccessRecord& record = current_access();
  record = AccessRecord{};
  record.id = new_request_id();
  record.time = std::chrono::system_clock::now();
  record.started = std::chrono::steady_clock::now();
  return record.id;
}

/// Takes the record of the request this thread served, leaving none: a request the server answers
/// without routing it (a malformed request line) is logged without another request's fields.
[[nodiscard]] inline AccessRecord finish_access() {
  AccessRecord record = std::move(current_access());
  current_access() = AccessRecord{};
  return record;
}

/// The access line of a finished request: one JSON object, every string escaped (a path holding a
/// decoded newline stays on one line), bad UTF-8 replaced. Fields without a value are left out.
[[nodiscard]] inline std::string access_line(const AccessRecord& record, const httplib::Request& req,
                                             const httplib::Response& res) {
  using nlohmann::json;
  const bool begun = !record.id.empty();
  json line = json::object();
  line["time"] = rfc3339_ms(begun ? record.time : std::chrono::system_clock::now());
  line["request_id"] = begun ? json(record.id) : json();
  line["client"] = req.remote_addr;
  line["method"] = req.method;
  line["path"] = req.path;
  line["status"] = res.status;
  if (!record.result.empty()) line["result"] = record.result;
  if (!record.model.empty()) line["model"] = record.model;
  if (!record.provider.empty()) line["provider"] = record.provider;
  if (!record.key.empty()) line["key"] = record.key;
  if (!record.cause.empty()) line["cause"] = record.cause;
  if (!record.reason.empty()) line["reason"] = record.reason;
  if (record.attempts != 0) line["attempts"] = record.attempts;
  if (record.tokens) line["tokens"] = *record.tokens;
  if (!record.stream.empty()) line["stream"] = record.stream;
  if (!record.usage.empty()) line["usage"] = record.usage;
  if (begun)
    line["latency_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - record.started).count();
  // Integral milliseconds with one decimal are plenty; keep the line short.
  if (line.contains("latency_ms")) line["latency_ms"] = std::round(line["latency_ms"].get<double>() * 10) / 10;
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace gateway
