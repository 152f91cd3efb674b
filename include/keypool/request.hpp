// What a call costs: the metrics keypool counts, a request's estimate, its priority and affinity.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace keypool {

/// What a limit counts. `spend` is micro-units of money (1'000'000 = one dollar, euro, …).
enum class Metric : std::uint8_t { requests, tokens, characters, units, spend };
inline constexpr std::size_t metric_count = 5;

/// The metric's name as used in messages and exports: "requests", "tokens", …
[[nodiscard]] constexpr std::string_view to_string(Metric metric) noexcept {
  switch (metric) {
    case Metric::requests: return "requests";
    case Metric::tokens: return "tokens";
    case Metric::characters: return "characters";
    case Metric::units: return "units";
    case Metric::spend: return "spend";
  }
  return "unknown";
}

/// What a call really cost (for `Lease::commit`). A call always costs one request besides.
struct Cost {
  std::uint64_t tokens = 0, characters = 0, units = 0, spend = 0;
};

/// Who is asking. Lower priorities stop earlier when a limit has `headroom` set.
enum class Priority : std::uint8_t { batch, normal, critical };
inline constexpr std::size_t priority_count = 3;

[[nodiscard]] constexpr std::string_view to_string(Priority priority) noexcept {
  switch (priority) {
    case Priority::batch: return "batch";
    case Priority::normal: return "normal";
    case Priority::critical: return "critical";
  }
  return "unknown";
}

/// A model's handle in one pool, as returned by `pool.model("name")` (interned: the same name
/// gives the same id). The default, `ModelId{}`, names no model.
struct ModelId {
  std::uint32_t value = 0;
  [[nodiscard]] constexpr bool named() const noexcept { return value != 0; }
  friend constexpr bool operator==(ModelId, ModelId) = default;
};

/// One call the caller wants to make: its estimated cost, its priority, an affinity value
/// (`select::Sticky` keeps equal affinities on one key so provider-side prompt caches hit), and
/// the model it calls (keys with per-model limits serve only the models they list; see
/// KeyOptions::models).
struct Request {
  std::uint64_t tokens = 0, characters = 0, units = 0, spend = 0;
  Priority priority = Priority::normal;
  std::uint64_t affinity = 0;
  ModelId model{};
};

/// The amount of `metric` in a request: always 1 for requests.
[[nodiscard]] constexpr std::uint64_t amount_of(Metric metric, const Request& request) noexcept {
  switch (metric) {
    case Metric::requests: return 1;
    case Metric::tokens: return request.tokens;
    case Metric::characters: return request.characters;
    case Metric::units: return request.units;
    case Metric::spend: return request.spend;
  }
  return 0;
}

/// The amount of `metric` in a cost: always 1 for requests.
[[nodiscard]] constexpr std::uint64_t amount_of(Metric metric, const Cost& cost) noexcept {
  switch (metric) {
    case Metric::requests: return 1;
    case Metric::tokens: return cost.tokens;
    case Metric::characters: return cost.characters;
    case Metric::units: return cost.units;
    case Metric::spend: return cost.spend;
  }
  return 0;
}

namespace detail {

/// A request's amount of every metric, indexed by Metric: built once per acquire so each limit
/// reads its amount with one indexed load instead of a switch.
using Amounts = std::array<std::uint64_t, metric_count>;

[[nodiscard]] constexpr Amounts amounts_of(const Request& r) noexcept { return {1, r.tokens, r.characters, r.units, r.spend}; }
[[nodiscard]] constexpr Amounts amounts_of(const Cost& c) noexcept { return {1, c.tokens, c.characters, c.units, c.spend}; }
[[nodiscard]] constexpr bool same_cost(const Cost& c, const Request& r) noexcept {
  return c.tokens == r.tokens && c.characters == r.characters && c.units == r.units && c.spend == r.spend;
}

}  // namespace detail
}  // namespace keypool
