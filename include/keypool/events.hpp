// keypool::Event: what the pool tells an alert sink — threshold crossings, exhaustion, recovery,
// cooldowns, failovers, forecasts.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <keypool/options.hpp>
#include <keypool/reason.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

enum class EventKind : std::uint8_t {
  threshold_crossed,    // a calendar limit of a key passed a level (default 80%, 90%, 100%)
  key_exhausted,        // a calendar limit of a key is full for this window
  key_recovered,        // a key can serve again (window reset, cooldown over, enabled)
  key_cooling_down,     // the provider rate-limited a key; it rests until resets_at
  key_disabled,         // a key was disabled (by the operator or a refused credential)
  provider_exhausted,   // no key of a provider can serve
  provider_recovered,   // a provider can serve again
  all_exhausted,        // no key of any provider can serve; resets_at: the earliest reset
  failover,             // traffic moved from one provider to another
  exhaustion_forecast,  // at the current rate a key or provider runs out before its reset
  backend_unavailable,  // the storage backend cannot be reached
  events_dropped,       // a queued sink had to drop `count` events
  limit_mismatch,       // a provider reports a limit (`reported`) other than the one configured (`limit`)
  cost_rejected,        // a commit's cost (`used`) exceeds every limit of its metric (`limit`: the largest): the estimate was counted
  provider_keys_out,    // `count` of the provider's `keys` cannot serve (some still can); raised by poll when the count rises
  traffic_spike,        // a provider's settled calls per minute (`count`) rose to `level` × its recent baseline; raised by poll
  key_probed,           // a probe checked a key a provider's answer disabled: `reason` empty when it works (enabled), else disabled until the next probe (`resets_at`); `count`: the attempt
  state_repaired,       // a word of a key's stored state was impossible (corrupted) and was repaired: `window` names it, `reported` held it
  key_added,            // a key joined the pool (add_key); `count`: the provider's keys now
  key_removed,          // a key left the pool (remove_key); `count`: the provider's keys now
  key_rotated,          // a key's secret was replaced (rotate_secret); its counts are kept
  key_limits_changed,   // a key's limits were replaced (set_limits); `count`: its limits now
};

[[nodiscard]] constexpr std::string_view to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::threshold_crossed: return "threshold_crossed";
    case EventKind::key_exhausted: return "key_exhausted";
    case EventKind::key_recovered: return "key_recovered";
    case EventKind::key_cooling_down: return "key_cooling_down";
    case EventKind::key_disabled: return "key_disabled";
    case EventKind::provider_exhausted: return "provider_exhausted";
    case EventKind::provider_recovered: return "provider_recovered";
    case EventKind::all_exhausted: return "all_exhausted";
    case EventKind::failover: return "failover";
    case EventKind::exhaustion_forecast: return "exhaustion_forecast";
    case EventKind::backend_unavailable: return "backend_unavailable";
    case EventKind::events_dropped: return "events_dropped";
    case EventKind::limit_mismatch: return "limit_mismatch";
    case EventKind::cost_rejected: return "cost_rejected";
    case EventKind::provider_keys_out: return "provider_keys_out";
    case EventKind::traffic_spike: return "traffic_spike";
    case EventKind::key_probed: return "key_probed";
    case EventKind::state_repaired: return "state_repaired";
    case EventKind::key_added: return "key_added";
    case EventKind::key_removed: return "key_removed";
    case EventKind::key_rotated: return "key_rotated";
    case EventKind::key_limits_changed: return "key_limits_changed";
  }
  return "unknown";
}

/// One event. Fields that do not apply to a kind keep their defaults. Names are views into
/// storage the pool owns: valid while the pool lives (a queued sink copies what it keeps).
/// An event never carries a secret: keys are named by their label.
struct Event {
  EventKind kind = EventKind::threshold_crossed;
  TimePoint at{};                  ///< when it happened, on the pool's clock
  ProviderId provider{};           ///< the provider concerned (from-provider for failover)
  std::string_view provider_name{};
  KeyId key{};                     ///< the key concerned, if any
  std::string_view key_label{};
  std::string_view model{};        ///< the model concerned, when the event is about one model's limits
  std::string_view group{};        ///< the group concerned, when about a group's limits (no key then)
  Metric metric = Metric::requests;  ///< the limit concerned, if any
  std::string_view window{};       ///< "minute", "day", "rolling", …
  double level = 0.0;              ///< threshold_crossed: the level passed (0.8 = 80%)
  std::uint64_t used = 0;          ///< usage of the limit after the event
  std::uint64_t limit = 0;         ///< the limit's amount
  TimePoint resets_at{};           ///< when the limit, key or provider can serve again
  Duration eta{};                  ///< exhaustion_forecast: time until exhaustion at the current rate
  ProviderId to_provider{};        ///< failover: where traffic went
  std::string_view to_provider_name{};
  std::uint64_t count = 0;         ///< events_dropped: how many
  std::uint64_t reported = 0;      ///< limit_mismatch: the limit the provider reports
  /// The horizon of an event that says something cannot serve: Reason::exhausted when a calendar
  /// quota is spent until `resets_at` (worth a page), cooling_down or rate_limited for a rest the
  /// pool ends by itself (a provider's 429, a rolling rate), disabled until an operator acts. Set
  /// on key_exhausted, key_cooling_down, key_disabled, provider_exhausted and all_exhausted (for
  /// those two: the reason of the soonest recovery); empty on the others.
  std::optional<Reason> reason{};
  std::uint32_t keys = 0;          ///< provider_keys_out: the provider's keys (`count` of them are out)
};

}  // namespace keypool
