// What the dashboard shows beside the live snapshot: gateway::History (each provider's usage,
// sampled every few seconds into a fixed ring of a few hours: GET /quota-status/history),
// gateway::RecentEvents (the last N pool events and the gateway's own retries: GET /events/recent)
// and gateway::counters_json (the gateway's request and upstream-answer counters: GET /stats).
// Every time in these documents is UTC RFC 3339 in whole seconds ("2026-11-24T10:42:07Z").
// docs/gateway.md describes the three endpoints.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <keypool/alert/ostream.hpp>
#include <keypool/events.hpp>
#include <keypool/snapshot.hpp>
#include <keypool/time.hpp>

namespace gateway {

/// "2026-11-24T10:42:07Z": UTC, whole seconds (rounded down), the one time format of the
/// dashboard and of its endpoints. Thread-safe.
[[nodiscard]] inline std::string utc_seconds(keypool::TimePoint t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(std::chrono::floor<std::chrono::seconds>(t)));
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const std::size_t size = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string{text, size};
}

/// JSON text of `value`; invalid UTF-8 (never expected: labels come from the configuration) is
/// replaced, never thrown.
[[nodiscard]] inline std::string dump_json(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// -------------------------------------------------------------------------------------------------
// Usage history

/// How often History is sampled and how far back it reaches (`history EVERY SPAN`).
struct HistoryOptions {
  std::chrono::nanoseconds every = std::chrono::seconds{30};
  std::chrono::nanoseconds span = std::chrono::hours{6};
  /// Samples kept per provider: span / every, at least 2.
  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(std::max<std::int64_t>(span / every, 2));
  }
};

/// Each provider's usage over the last hours: a fixed ring of samples per provider (the oldest
/// is overwritten), filled by sample(). Memory is bounded by providers × capacity() samples.
class History {
 public:
  explicit History(HistoryOptions options) : options_(options), capacity_(options.capacity()) {}

  /// Records one sample of every provider in `snapshot`, at snapshot.at. Providers are matched
  /// by name (a provider added later starts its own ring). Thread-safe. O(providers).
  void sample(const keypool::Snapshot& snapshot) {
    std::lock_guard lock{mutex_};
    for (const keypool::ProviderSnapshot& provider : snapshot.providers) {
      Series& series = series_of(provider.name, provider.tier);
      Sample sample;
      sample.at = snapshot.at;
      sample.used = provider.totals.daily_used;
      sample.capacity = provider.totals.daily_capacity;
      sample.successes = provider.totals.successes;
      sample.failures = provider.totals.failures;
      sample.keys = provider.totals.keys;
      sample.available = provider.totals.available;
      if (series.samples.size() == capacity_) series.samples.pop_front();
      series.samples.push_back(sample);
    }
  }

  /// The history as JSON (docs/gateway.md, GET /quota-status/history): per provider, columns of
  /// equal length, oldest first. Thread-safe. O(providers × samples).
  [[nodiscard]] std::string to_json(keypool::TimePoint now) const {
    using nlohmann::ordered_json;
    std::lock_guard lock{mutex_};
    ordered_json out;
    out["now"] = utc_seconds(now);
    out["every_s"] = std::chrono::duration<double>(options_.every).count();
    out["span_s"] = std::chrono::duration<double>(options_.span).count();
    out["capacity"] = capacity_;
    out["providers"] = ordered_json::array();
    for (const Series& series : series_) {
      ordered_json at = ordered_json::array(), percent = ordered_json::array(), metric = ordered_json::array(),
                   served = ordered_json::array(), failed = ordered_json::array(), available = ordered_json::array(),
                   keys = ordered_json::array();
      const Sample* previous = nullptr;
      for (const Sample& sample : series.samples) {
        at.push_back(utc_seconds(sample.at));
        // The fullest of the daily metrics, in tenths of a percent (rounded down); null when the
        // provider has no daily limit.
        std::uint64_t best_tenths = 0;
        int best_metric = -1;
        for (std::size_t m = 0; m < keypool::metric_count; ++m) {
          if (sample.capacity[m] == 0) continue;
          const std::uint64_t tenths = tenths_of(sample.used[m], sample.capacity[m]);
          if (best_metric < 0 || tenths > best_tenths) {
            best_tenths = tenths;
            best_metric = static_cast<int>(m);
          }
        }
        if (best_metric < 0) {
          percent.push_back(nullptr);
          metric.push_back(nullptr);
        } else {
          percent.push_back(static_cast<double>(best_tenths) / 10.0);
          metric.push_back(std::string{keypool::to_string(static_cast<keypool::Metric>(best_metric))});
        }
        // Settled since the previous sample (0 for the first, and when a counter went back).
        served.push_back(previous == nullptr ? 0 : since(previous->successes, sample.successes));
        failed.push_back(previous == nullptr ? 0 : since(previous->failures, sample.failures));
        available.push_back(sample.available);
        keys.push_back(sample.keys);
        previous = &sample;
      }
      ordered_json provider;
      provider["name"] = series.name;
      provider["tier"] = series.tier;
      provider["at"] = std::move(at);
      provider["percent"] = std::move(percent);
      provider["metric"] = std::move(metric);
      provider["served"] = std::move(served);
      provider["failed"] = std::move(failed);
      provider["available"] = std::move(available);
      provider["keys"] = std::move(keys);
      out["providers"].push_back(std::move(provider));
    }
    return dump_json(out);
  }

  [[nodiscard]] const HistoryOptions& options() const noexcept { return options_; }

  /// used / capacity in tenths of a percent, rounded down (the dashboard's own rounding).
  [[nodiscard]] static std::uint64_t tenths_of(std::uint64_t used, std::uint64_t capacity) noexcept {
    if (capacity == 0) return 0;
    if (used <= UINT64_MAX / 1000) return used * 1000 / capacity;
    return static_cast<std::uint64_t>(static_cast<long double>(used) * 1000.0L / static_cast<long double>(capacity));
  }

 private:
  struct Sample {
    keypool::TimePoint at{};
    std::array<std::uint64_t, keypool::metric_count> used{}, capacity{};
    std::uint64_t successes = 0, failures = 0;
    std::uint64_t keys = 0, available = 0;
  };
  struct Series {
    std::string name;
    std::uint32_t tier = 0;
    std::deque<Sample> samples;
  };

  static std::uint64_t since(std::uint64_t before, std::uint64_t after) noexcept { return after >= before ? after - before : 0; }

  Series& series_of(const std::string& name, std::uint32_t tier) {
    for (Series& series : series_)
      if (series.name == name) return series;
    series_.push_back(Series{name, tier, {}});
    return series_.back();
  }

  HistoryOptions options_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<Series> series_;
};

/// Runs `work` at once, then every `every` (on a steady clock, without drift), on its own thread,
/// until destroyed; the destructor wakes the thread and joins it.
class Ticker {
 public:
  Ticker(std::chrono::nanoseconds every, std::function<void()> work)
      : every_(every), work_(std::move(work)), thread_([this] { loop(); }) {}
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker() {
    {
      std::lock_guard lock{mutex_};
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void loop() {
    auto next = std::chrono::steady_clock::now();
    std::unique_lock lock{mutex_};
    while (!stopping_) {
      lock.unlock();
      work_();
      lock.lock();
      next += every_;
      // Behind (a slow sample, a suspended process): skip the missed ticks, never burst.
      if (const auto now = std::chrono::steady_clock::now(); next <= now) next = now + every_;
      wake_.wait_until(lock, next, [this] { return stopping_; });
    }
  }

  std::chrono::nanoseconds every_;
  std::function<void()> work_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the rest is built
};

// -------------------------------------------------------------------------------------------------
// Recent events

/// The last N events: the pool's (threshold_crossed, key_exhausted, failover, …) and the
/// gateway's own ("retry": an attempt failed and the request moved to another key). Thread-safe.
class RecentEvents {
 public:
  explicit RecentEvents(std::size_t capacity) : capacity_(capacity) {}

  /// Records a pool event. Thread-safe; O(line length).
  void push(const keypool::Event& event) {
    Entry entry;
    entry.at = event.at;
    entry.kind = std::string{keypool::to_string(event.kind)};
    entry.provider = std::string{event.provider_name};
    entry.key = std::string{event.key_label};
    if (event.kind == keypool::EventKind::failover) entry.to_provider = std::string{event.to_provider_name};
    entry.text = fields_text(event);
    add(std::move(entry));
  }

  /// Records an event of the gateway itself (`kind` such as "retry"). Thread-safe.
  void push(keypool::TimePoint at, std::string kind, std::string provider, std::string key, std::string text) {
    add(Entry{at, std::move(kind), std::move(provider), std::move(key), {}, std::move(text), 0});
  }

  /// The newest `limit` events, newest first, as JSON (docs/gateway.md, GET /events/recent).
  /// Thread-safe. O(limit).
  [[nodiscard]] std::string to_json(std::size_t limit) const {
    using nlohmann::ordered_json;
    std::lock_guard lock{mutex_};
    ordered_json out;
    out["capacity"] = capacity_;
    out["total"] = total_;
    out["events"] = ordered_json::array();
    std::size_t shown = 0;
    for (auto it = entries_.rbegin(); it != entries_.rend() && shown < limit; ++it, ++shown) {
      ordered_json entry;
      entry["seq"] = it->seq;
      entry["at"] = utc_seconds(it->at);
      entry["kind"] = it->kind;
      entry["provider"] = it->provider;
      entry["key"] = it->key;
      if (!it->to_provider.empty()) entry["to_provider"] = it->to_provider;
      entry["text"] = it->text;
      out["events"].push_back(std::move(entry));
    }
    return dump_json(out);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// format_event's fields (`metric=tokens window=day level=80% …`) without its leading time and
  /// kind and without the provider, key and to_provider (the entry has them apart), with every
  /// time in whole seconds ("resets_at=2026-11-25T00:00:00Z").
  [[nodiscard]] static std::string fields_text(const keypool::Event& event) {
    const std::string line = keypool::format_event(event);
    std::size_t start = line.find(' ');                             // after the time
    start = start == std::string::npos ? line.size() : line.find(' ', start + 1);  // after the kind
    std::string text;
    // The fields: name=value, the value bare or quoted with C-style escapes.
    for (std::size_t i = start == std::string::npos ? line.size() : start + 1; i < line.size();) {
      const std::size_t field_start = i;
      const std::size_t equals = line.find('=', i);
      if (equals == std::string::npos) break;
      std::size_t j = equals + 1;
      if (j < line.size() && line[j] == '"') {
        for (++j; j < line.size() && line[j] != '"'; ++j)
          if (line[j] == '\\') ++j;
        ++j;  // the closing quote
      } else {
        while (j < line.size() && line[j] != ' ') ++j;
      }
      j = std::min(j, line.size());
      const std::string_view name{line.data() + field_start, equals - field_start};
      if (name != "provider" && name != "key" && name != "to_provider") {
        if (!text.empty()) text += ' ';
        text.append(line, field_start, j - field_start);
      }
      i = j;
      while (i < line.size() && line[i] == ' ') ++i;
    }
    // "…T10:42:07.250Z" -> "…T10:42:07Z": a fraction sits between a time's seconds and its 'Z'.
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '.' && i >= 9 && text[i - 9] == 'T' && text[i - 3] == ':' && text[i - 6] == ':') {
        std::size_t j = i + 1;
        while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
        if (j < text.size() && text[j] == 'Z' && j > i + 1) {
          i = j - 1;  // drop ".ddd"; the 'Z' is copied next
          continue;
        }
      }
      out += text[i];
    }
    return out;
  }

 private:
  struct Entry {
    keypool::TimePoint at{};
    std::string kind, provider, key, to_provider, text;
    std::uint64_t seq = 0;
  };

  void add(Entry entry) {
    if (capacity_ == 0) return;
    std::lock_guard lock{mutex_};
    entry.seq = ++total_;
    if (entries_.size() == capacity_) entries_.pop_front();
    entries_.push_back(std::move(entry));
  }

  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;
  std::uint64_t total_ = 0;
};

// -------------------------------------------------------------------------------------------------
// The gateway's counters

/// The figures of GET /stats: the counters /metrics exports as keypool_gateway_requests_total and
/// keypool_gateway_upstream_answers_total, by name, in /metrics' order.
struct Counters {
  keypool::TimePoint started{}, now{};
  std::vector<std::pair<std::string, std::uint64_t>> results;
  struct Provider {
    std::string name;
    std::vector<std::pair<std::string, std::uint64_t>> answers;
  };
  std::vector<Provider> providers;
};

/// GET /stats as JSON: {"started_at","now","uptime_s","requests":{"total",<result>...},
/// "upstream_answers":[{"provider","total",<outcome>...}]}. Thread-safe (no shared state).
[[nodiscard]] inline std::string counters_json(const Counters& counters) {
  using nlohmann::ordered_json;
  ordered_json out;
  out["started_at"] = utc_seconds(counters.started);
  out["now"] = utc_seconds(counters.now);
  out["uptime_s"] = std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(counters.now - counters.started).count());
  ordered_json requests;
  std::uint64_t total = 0;
  for (const auto& [name, value] : counters.results) total += value;
  requests["total"] = total;
  for (const auto& [name, value] : counters.results) requests[name] = value;
  out["requests"] = std::move(requests);
  out["upstream_answers"] = ordered_json::array();
  for (const Counters::Provider& provider : counters.providers) {
    ordered_json entry;
    entry["provider"] = provider.name;
    std::uint64_t answers = 0;
    for (const auto& [name, value] : provider.answers) answers += value;
    entry["total"] = answers;
    for (const auto& [name, value] : provider.answers) entry[name] = value;
    out["upstream_answers"].push_back(std::move(entry));
  }
  return dump_json(out);
}

}  // namespace gateway
