// Specification by reference model: a pool driven by thousands of random operations on a manual
// clock agrees, step by step, with a plain single-threaded model of what keypool promises.
//
// The model below is the specification, written with integers and std::map only: calendar
// windows by their own arithmetic (UTC and fixed offsets), GCRA for rolling limits, leases that
// settle in the window they reserved in, health (cooldowns, disable), reset, round-robin order,
// refusal reasons and exact retry times, threshold events. After every operation the pool's
// decision, its refusal, its events and its snapshot must match the model's.
//
// Rules it pins down that are easy to get subtly wrong:
//  - a clock stepping back keeps a calendar limit counting in the newest window it counted in;
//  - a key's limits are reserved in order; when one refuses, the earlier ones are given back
//    exactly; threshold levels a reservation reaches are judged when its lease settles, on the
//    usage that stands then (a commit's, a failed call's request; never a cancel's);
//  - a lease reserved before reset(k) settles nothing against the counts afterwards;
//  - a rolling refund gives back only the part of the reservation still ahead of the clock, and a
//    commit above the estimate is charged from now;
//  - a commit whose cost of a metric is above the largest calendar or rolling limit of it counts
//    the estimate for that metric and raises cost_rejected (a wrapped cost cannot poison a day);
//  - a refusal reports the shortest wait over the keys; per key the longest wait over its limits
//    and cooldown (ties: the first limit in order, then the cooldown); too_large beats disabled
//    on a key, and across keys too_large is reported only when every key is too_large.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <keypool/keypool.hpp>

namespace {

namespace kp = keypool;
using namespace std::chrono_literals;

constexpr std::int64_t ns_per_second = 1'000'000'000;
constexpr std::uint64_t never = std::numeric_limits<std::uint64_t>::max();  // a wait that never ends
__extension__ using Wide = unsigned __int128;  // exact rolling arithmetic: ns × units

std::uint64_t to_ns(kp::TimePoint t) { return static_cast<std::uint64_t>(t.time_since_epoch().count()); }
kp::TimePoint from_ns(std::uint64_t ns) { return kp::TimePoint{kp::Duration{static_cast<std::int64_t>(ns)}}; }

std::int64_t floor_div(std::int64_t a, std::int64_t b) {  // b > 0
  return a / b - (a % b < 0 ? 1 : 0);
}

// =================================================================================================
// Calendar windows: a window of `unit` in local time, local time = UTC + offset (fixed offsets;
// UTC is offset 0). Windows are numbered by any increasing numbering: the model only compares
// them and asks where one ends.

enum class Unit { second, minute, hour, day, month };

struct Calendar {
  Unit unit = Unit::minute;
  std::int64_t offset_seconds = 0;

  // The window containing UTC second t.
  [[nodiscard]] std::int64_t window_of(std::int64_t t) const {
    const std::int64_t local = t + offset_seconds;
    switch (unit) {
      case Unit::second: return local;
      case Unit::minute: return floor_div(local, 60);
      case Unit::hour: return floor_div(local, 3'600);
      case Unit::day: return floor_div(local, 86'400);
      case Unit::month: {
        const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{floor_div(local, 86'400)}}};
        return static_cast<std::int64_t>(static_cast<int>(date.year())) * 12 + static_cast<unsigned>(date.month()) - 1;
      }
    }
    return 0;
  }
  // The UTC second at which window w ends and w + 1 begins.
  [[nodiscard]] std::int64_t end_of(std::int64_t w) const {
    const std::int64_t next = w + 1;
    switch (unit) {
      case Unit::second: return next - offset_seconds;
      case Unit::minute: return next * 60 - offset_seconds;
      case Unit::hour: return next * 3'600 - offset_seconds;
      case Unit::day: return next * 86'400 - offset_seconds;
      case Unit::month: {
        const std::int64_t year = floor_div(next, 12);
        const auto month = static_cast<unsigned>(next - year * 12 + 1);
        const std::chrono::sys_days first{std::chrono::year{static_cast<int>(year)} / std::chrono::month{month} / 1};
        return first.time_since_epoch().count() * 86'400 - offset_seconds;
      }
    }
    return 0;
  }
};

// =================================================================================================
// Limits, as the test configures them: plain numbers, turned into a kp::Limit for the pool.

struct LimitSpec {
  enum class Kind { window, rolling, per_request };
  Kind kind = Kind::window;
  kp::Metric metric = kp::Metric::requests;
  std::uint64_t amount = 1;
  Calendar calendar{};                                  // window
  std::uint64_t period_ns = 0;                          // rolling
  std::array<std::uint64_t, 3> headroom_percent{100, 100, 100};  // per priority

  [[nodiscard]] kp::Limit build() const {
    kp::Limit limit = kp::Limit::of(metric, amount);
    switch (kind) {
      case Kind::per_request: return limit.per_request();
      case Kind::rolling: limit = limit.per(kp::Duration{static_cast<std::int64_t>(period_ns)}); break;
      case Kind::window:
        switch (calendar.unit) {
          case Unit::second: limit = limit.per_second(); break;
          case Unit::minute: limit = limit.per_minute(); break;
          case Unit::hour: limit = limit.per_hour(); break;
          case Unit::day: limit = limit.per_day(); break;
          case Unit::month: limit = limit.per_month(); break;
        }
        if (calendar.offset_seconds != 0)
          limit = limit.reset_zone(kp::Zone::fixed(std::chrono::minutes{calendar.offset_seconds / 60}));
        break;
    }
    for (std::size_t p = 0; p < 3; ++p)
      if (headroom_percent[p] != 100)
        limit = limit.headroom(static_cast<kp::Priority>(p), static_cast<double>(headroom_percent[p]) / 100.0);
    return limit;
  }

  // The most a request of priority p may bring usage to: floor(amount × headroom).
  [[nodiscard]] std::uint64_t cap(kp::Priority p) const {
    return amount * headroom_percent[static_cast<std::size_t>(p)] / 100;
  }
  // Rolling: the emission interval, ns per unit, rounded up (where the driver moves the clock to).
  [[nodiscard]] std::uint64_t interval() const { return (period_ns + amount - 1) / amount; }
  // Rolling: rate_units units per rate_ns ns, exactly the amount per the period where keypool
  // counts rolling limits exactly (x86-64), else one unit per interval() (rounded up).
  [[nodiscard]] std::uint64_t rate_ns() const { return kp::detail::exact_rolling ? period_ns : interval(); }
  [[nodiscard]] std::uint64_t rate_units() const { return kp::detail::exact_rolling ? amount : 1; }

  [[nodiscard]] std::string window_name() const {
    if (kind == Kind::rolling) return "rolling";
    if (kind == Kind::per_request) return "request";
    constexpr const char* names[] = {"second", "minute", "hour", "day", "month"};
    return names[static_cast<int>(calendar.unit)];
  }
  [[nodiscard]] std::string describe() const {
    std::ostringstream out;
    out << kp::to_string(metric) << ' ' << amount << " per ";
    if (kind == Kind::rolling) out << period_ns << "ns rolling";
    else out << window_name();
    if (kind == Kind::window && calendar.offset_seconds != 0) out << " (UTC" << calendar.offset_seconds / 60 << "min)";
    for (std::size_t p = 0; p < 3; ++p)
      if (headroom_percent[p] != 100) out << " headroom[" << p << "]=" << headroom_percent[p] << '%';
    return out.str();
  }
};

// What a request or a cost counts on a metric: a call is always one request.
std::uint64_t cost_of(kp::Metric metric, std::uint64_t tokens, std::uint64_t characters) {
  switch (metric) {
    case kp::Metric::requests: return 1;
    case kp::Metric::tokens: return tokens;
    case kp::Metric::characters: return characters;
    default: return 0;
  }
}
std::uint64_t cost_of(kp::Metric metric, const kp::Request& r) { return cost_of(metric, r.tokens, r.characters); }
std::uint64_t cost_of(kp::Metric metric, const kp::Cost& c) { return cost_of(metric, c.tokens, c.characters); }
void set_cost(kp::Metric metric, kp::Cost& c, std::uint64_t amount) {
  if (metric == kp::Metric::tokens) c.tokens = amount;
  if (metric == kp::Metric::characters) c.characters = amount;
}

// =================================================================================================
// Events, as compared: what an operator reads from each.

struct Ev {
  kp::EventKind kind;
  std::uint32_t key;
  std::string window;  // "" for key events
  kp::Metric metric;
  int level_percent;
  std::uint64_t used;
  std::int64_t resets_at_ns;
  friend auto operator<=>(const Ev&, const Ev&) = default;
};

std::ostream& operator<<(std::ostream& out, const Ev& e) {
  return out << kp::to_string(e.kind) << "{key " << e.key << ", " << e.window << ' ' << kp::to_string(e.metric) << ", "
             << e.level_percent << "%, used " << e.used << ", resets_at " << e.resets_at_ns << '}';
}

Ev from_pool(const kp::Event& e) {
  return {e.kind,
          e.key.value,
          std::string{e.window},
          e.metric,
          static_cast<int>(e.level * 100.0 + 0.5),
          e.used,
          e.resets_at == kp::TimePoint::max() ? std::numeric_limits<std::int64_t>::max() : e.resets_at.time_since_epoch().count()};
}

// =================================================================================================
// The model.

struct Counter {
  // Calendar window: the newest window counted in, and the usage counted in it. A clock that
  // steps back keeps counting in that window until real time passes its end.
  std::optional<std::int64_t> window;
  std::uint64_t used = 0;
  // Rolling (GCRA, exact): the theoretical arrival time, ns since 1970, times the limit's
  // rate_units (a unit lasts rate_ns / rate_units ns, so a unit moves it by rate_ns).
  Wide tat = 0;
  // Threshold events already reported, per window: level percents, and 0 for key_exhausted.
  std::map<std::int64_t, std::set<int>> reported;
};

struct ModelKey {
  std::vector<LimitSpec> limits;
  std::vector<Counter> counters;
  bool disabled = false;
  std::uint64_t cooling_until = 0;  // ns
  std::uint64_t resets = 0;         // how many times reset(k) forgot this key's usage
};

struct ModelLease {
  std::size_t key = 0;
  kp::Request estimate{};
  // Per limit: for a calendar window, the window the reservation was counted in; for a rolling
  // limit, the theoretical arrival time the reservation brought it to, rounded down to whole ns.
  std::vector<std::int64_t> windows;
  std::vector<std::uint64_t> arrivals;
  std::uint64_t resets = 0;  // the key's reset count when reserved
  // Per limit: the reservation brought a calendar limit to its first level; its levels are
  // judged on the usage when the lease settles with it standing (never for a cancel).
  std::vector<bool> reached;
};

// A threshold event of limit `limit` in window `window`, to be reported unless it already was.
struct Crossing {
  std::size_t limit;
  std::int64_t window;
  Ev event;
};

struct Verdict {
  kp::Reason reason = kp::Reason::no_keys;
  std::uint64_t wait = never;  // ns until this request could be admitted
};

enum class Settlement { commit_actual, commit_estimate, cancel, fail };

class Model {
 public:
  std::vector<ModelKey> keys;
  std::vector<int> levels;  // threshold levels, percent
  std::size_t cursor = 0;   // round-robin: the key tried first by the next acquire
  std::vector<Ev> events;   // emitted by the last operations

  void add_key(std::vector<LimitSpec> limits) {
    ModelKey key;
    key.counters.resize(limits.size());
    key.limits = std::move(limits);
    keys.push_back(std::move(key));
  }

  // Round-robin: keys are tried in turn from the cursor; a grant moves the cursor past the key
  // granted, a refusal moves it one on. The refusal is the shortest wait over all keys (a key
  // that can never serve is reported as too_large only when every key is too_large).
  std::optional<ModelLease> acquire(const kp::Request& r, std::uint64_t now, Verdict& refusal) {
    const std::size_t n = keys.size();
    std::optional<Verdict> best;
    for (std::size_t tried = 0; tried < n; ++tried) {
      const std::size_t i = (cursor + tried) % n;
      if (std::optional<ModelLease> lease = try_key(i, r, now)) {
        cursor = (i + 1) % n;
        return lease;
      }
      const Verdict v = verdict(i, r, now);
      if (!best || v.wait < best->wait || (v.wait == best->wait && best->reason == kp::Reason::too_large)) best = v;
    }
    cursor = (cursor + 1) % n;
    refusal = best.value_or(Verdict{});
    return std::nullopt;
  }

  void settle(const ModelLease& lease, Settlement how, kp::Cost actual, const kp::Outcome& outcome, std::uint64_t now) {
    ModelKey& key = keys[lease.key];
    // A real cost above the largest calendar or rolling limit of its metric can never have been
    // admitted (a wrapped after − before): the estimate is counted instead, and cost_rejected
    // names that limit (the first of the largest), metric by metric.
    if (how == Settlement::commit_actual) {
      for (const kp::Metric metric : {kp::Metric::tokens, kp::Metric::characters, kp::Metric::units, kp::Metric::spend}) {
        const std::uint64_t real = cost_of(metric, actual), estimate = cost_of(metric, lease.estimate);
        const LimitSpec* largest = nullptr;
        for (const LimitSpec& limit : key.limits)
          if (limit.metric == metric && limit.kind != LimitSpec::Kind::per_request && (!largest || limit.amount > largest->amount))
            largest = &limit;
        if (real <= estimate || largest == nullptr || real <= largest->amount) continue;
        events.push_back({kp::EventKind::cost_rejected, id(lease.key), largest->window_name(), metric, 0, real, 0});
        set_cost(metric, actual, estimate);
      }
    }
    // A reset forgot everything reserved before it: such a lease no longer moves the counters.
    const bool counted = lease.resets == key.resets;
    for (std::size_t j = 0; counted && j < key.limits.size(); ++j) {
      const LimitSpec& limit = key.limits[j];
      const std::uint64_t estimate = cost_of(limit.metric, lease.estimate);
      switch (how) {
        case Settlement::commit_actual: {  // reconciled in the window reserved in; requests stay 1
          if (limit.metric == kp::Metric::requests) break;
          const std::uint64_t real = cost_of(limit.metric, actual);
          if (real > estimate) charge(lease.key, j, real - estimate, lease.windows[j], now);
          else refund(key, j, estimate - real, lease, now);
          break;
        }
        case Settlement::commit_estimate: break;
        case Settlement::cancel: refund(key, j, estimate, lease, now); break;
        case Settlement::fail:  // the request was made: it stays counted; the rest is refunded
          if (limit.metric != kp::Metric::requests) refund(key, j, estimate, lease, now);
          break;
      }
    }
    // The levels the reservation reached are judged on the usage that stands now, in the window
    // it counted in: a commit's every limit, a failed call's request; nothing for a cancel.
    for (std::size_t j = 0; counted && how != Settlement::cancel && j < key.limits.size(); ++j) {
      const LimitSpec& limit = key.limits[j];
      const Counter& c = key.counters[j];
      if (!lease.reached[j] || (how == Settlement::fail && limit.metric != kp::Metric::requests) || c.window != lease.windows[j]) continue;
      std::vector<Crossing> crossings;
      add_crossings(lease.key, j, lease.windows[j], 0, c.used, crossings);
      for (const Crossing& crossing : crossings) claim(lease.key, crossing);
    }
    if (how != Settlement::fail) return;
    switch (outcome.kind()) {
      case kp::Outcome::Kind::rate_limited: {
        const std::uint64_t wait = outcome.retry_after() > kp::Duration::zero() ? static_cast<std::uint64_t>(outcome.retry_after().count())
                                                                               : 60 * ns_per_second;  // the default cooldown
        const std::uint64_t until = now + wait;
        if (!key.disabled && until > key.cooling_until) {  // never shortened
          key.cooling_until = until;
          events.push_back({kp::EventKind::key_cooling_down, id(lease.key), "", kp::Metric::requests, 0, 0, static_cast<std::int64_t>(until)});
        }
        break;
      }
      case kp::Outcome::Kind::auth_failed: disable(lease.key); break;
      default: break;  // bad_request: not the key's fault
    }
  }

  void disable(std::size_t k) {
    if (!keys[k].disabled)
      events.push_back({kp::EventKind::key_disabled, id(k), "", kp::Metric::requests, 0, 0, std::numeric_limits<std::int64_t>::max()});
    keys[k].disabled = true;
  }
  void enable(std::size_t k, std::uint64_t now) {
    if (keys[k].disabled)
      events.push_back({kp::EventKind::key_recovered, id(k), "", kp::Metric::requests, 0, 0, static_cast<std::int64_t>(now)});
    keys[k].disabled = false;
    keys[k].cooling_until = 0;  // a cooldown in progress is cleared too
  }
  // Forgets the usage in the current windows (keeping the windows: a clock stepping back still
  // cannot reopen one), the reported thresholds, and any cooldown; a disable stays.
  void reset(std::size_t k) {
    ModelKey& key = keys[k];
    for (Counter& c : key.counters) {
      c.used = 0;
      c.tat = 0;
      c.reported.clear();
    }
    key.cooling_until = 0;
    ++key.resets;
  }

  // What a snapshot at `now` shows for limit j of key k.
  [[nodiscard]] std::uint64_t used(std::size_t k, std::size_t j, std::uint64_t now) const {
    const LimitSpec& limit = keys[k].limits[j];
    const Counter& c = keys[k].counters[j];
    switch (limit.kind) {
      case LimitSpec::Kind::window:
        return c.window && *c.window >= limit.calendar.window_of(seconds(now)) ? c.used : 0;
      case LimitSpec::Kind::rolling: {  // what is not yet replenished, in units, rounded up
        const Wide now_n = Wide{now} * limit.rate_units();
        const Wide ahead = c.tat > now_n ? c.tat - now_n : 0;  // × rate_units
        return static_cast<std::uint64_t>(std::min<Wide>(limit.amount, (ahead + limit.rate_ns() - 1) / limit.rate_ns()));
      }
      case LimitSpec::Kind::per_request: return 0;
    }
    return 0;
  }
  [[nodiscard]] kp::KeyStatus status(std::size_t k, std::uint64_t now) const {
    const ModelKey& key = keys[k];
    if (key.disabled) return kp::KeyStatus::disabled;
    if (key.cooling_until > now) return kp::KeyStatus::cooling_down;
    bool full = false, critical = false, warning = false;
    for (std::size_t j = 0; j < key.limits.size(); ++j) {
      const LimitSpec& limit = key.limits[j];
      if (limit.kind == LimitSpec::Kind::per_request) continue;
      const std::uint64_t u = used(k, j, now);
      full = full || (limit.kind == LimitSpec::Kind::window && u >= limit.amount);
      // The snapshot's bands follow the pool's levels: warning at the first, critical at the
      // second when it is below 100%; at level L when u ≥ max(1, ⌈amount × L⌉).
      auto at = [&](int percent) {
        return u >= std::max<std::uint64_t>(1, (limit.amount * static_cast<std::uint64_t>(percent) + 99) / 100);
      };
      warning = warning || at(levels[0]);
      critical = critical || (levels.size() > 1 && levels[1] < 100 && at(levels[1]));
    }
    if (full) return kp::KeyStatus::exhausted;
    if (critical) return kp::KeyStatus::critical;
    if (warning) return kp::KeyStatus::warning;
    return kp::KeyStatus::available;
  }
  [[nodiscard]] kp::TimePoint blocked_until(std::size_t k) const {
    return keys[k].disabled ? kp::TimePoint::max() : from_ns(keys[k].cooling_until);
  }

  static std::int64_t seconds(std::uint64_t ns) { return static_cast<std::int64_t>(ns / ns_per_second); }

 private:
  static std::uint32_t id(std::size_t k) { return static_cast<std::uint32_t>(k); }

  // The health gate, then each limit in order; if one refuses, the earlier ones are given back.
  // Threshold events wait for the lease to settle (see settle): a reservation reports nothing.
  std::optional<ModelLease> try_key(std::size_t k, const kp::Request& r, std::uint64_t now) {
    ModelKey& key = keys[k];
    if (key.disabled || key.cooling_until > now) return std::nullopt;
    ModelLease lease{k, r, std::vector<std::int64_t>(key.limits.size(), 0), std::vector<std::uint64_t>(key.limits.size(), 0),
                     key.resets, std::vector<bool>(key.limits.size(), false)};
    for (std::size_t j = 0; j < key.limits.size(); ++j) {
      if (!reserve(k, j, r, now, lease)) {
        for (std::size_t earlier = 0; earlier < j; ++earlier)
          refund(key, earlier, cost_of(key.limits[earlier].metric, r), lease, now);
        return std::nullopt;
      }
    }
    return lease;
  }

  bool reserve(std::size_t k, std::size_t j, const kp::Request& r, std::uint64_t now, ModelLease& lease) {
    const LimitSpec& limit = keys[k].limits[j];
    Counter& c = keys[k].counters[j];
    const std::uint64_t amount = cost_of(limit.metric, r);
    const std::uint64_t cap = limit.cap(r.priority);
    switch (limit.kind) {
      case LimitSpec::Kind::per_request: return amount <= limit.amount;
      case LimitSpec::Kind::window: {
        if (amount > cap) return false;
        const std::int64_t w = counting_window(limit, c, now);
        const std::uint64_t used = c.window == w ? c.used : 0;
        if (used + amount > cap) {
          // Refused for lack of quota at full cap: the key is exhausted for this window.
          if (cap == limit.amount) claim(k, {j, w, limit_event(kp::EventKind::key_exhausted, k, j, w, 100, used)});
          return false;
        }
        c.window = w;
        c.used = used + amount;
        lease.windows[j] = w;
        lease.reached[j] = c.used >= level_usage(limit, levels.front());
        return true;
      }
      case LimitSpec::Kind::rolling: {
        // GCRA, exact: admit when max(tat, now) + cost × P/N − now ≤ cap × P/N (all × N; here N = rate_units, P = rate_ns).
        const Wide now_n = Wide{now} * limit.rate_units();
        const Wide next = std::max(c.tat, now_n) + Wide{amount} * limit.rate_ns();
        if (next - now_n > Wide{cap} * limit.rate_ns()) return false;
        c.tat = next;
        lease.arrivals[j] = static_cast<std::uint64_t>(next / limit.rate_units());
        return true;
      }
    }
    return false;
  }

  // Gives back what a lease reserved. A calendar window refunds only the window reserved in (a
  // window that has ended keeps what it counted). A rolling limit gives back the reservation's
  // time only as far as it is still ahead of the clock: the rest has replenished already.
  void refund(ModelKey& key, std::size_t j, std::uint64_t amount, const ModelLease& lease, std::uint64_t now) {
    const LimitSpec& limit = key.limits[j];
    Counter& c = key.counters[j];
    if (limit.kind == LimitSpec::Kind::window && c.window == lease.windows[j]) c.used -= std::min(c.used, amount);
    if (limit.kind == LimitSpec::Kind::rolling) {
      const std::uint64_t still_ahead = lease.arrivals[j] > now ? lease.arrivals[j] - now : 0;
      c.tat -= std::min(c.tat, std::min(Wide{amount} * limit.rate_ns(), Wide{still_ahead} * limit.rate_units()));
    }
  }

  // A commit above the estimate: the calendar window reserved in counts the extra (unless it has
  // ended); a rolling limit is charged the extra from now.
  void charge(std::size_t k, std::size_t j, std::uint64_t amount, std::int64_t window, std::uint64_t now) {
    const LimitSpec& limit = keys[k].limits[j];
    Counter& c = keys[k].counters[j];
    if (limit.kind == LimitSpec::Kind::window && c.window == window) {
      std::vector<Crossing> crossings;
      add_crossings(k, j, window, 0, c.used + amount, crossings);  // every level the usage now reaches
      c.used += amount;
      for (const Crossing& crossing : crossings) claim(k, crossing);
    }
    if (limit.kind == LimitSpec::Kind::rolling) c.tat = std::max(c.tat, Wide{now} * limit.rate_units()) + Wide{amount} * limit.rate_ns();
  }

  // The window a calendar limit counts in at `now`: the current one, or a newer one it already
  // counted in before the clock stepped back.
  static std::int64_t counting_window(const LimitSpec& limit, const Counter& c, std::uint64_t now) {
    const std::int64_t current = limit.calendar.window_of(seconds(now));
    return c.window ? std::max(*c.window, current) : current;
  }

  // The usage at which level `percent` of `limit` is reached: max(1, ceil(amount × level)).
  static std::uint64_t level_usage(const LimitSpec& limit, int percent) {
    return std::max<std::uint64_t>(1, (limit.amount * static_cast<std::uint64_t>(percent) + 99) / 100);
  }

  // Each level whose usage ceil(amount × level) lies in (before, after], and exhaustion.
  void add_crossings(std::size_t k, std::size_t j, std::int64_t w, std::uint64_t before, std::uint64_t after,
                     std::vector<Crossing>& out) const {
    const LimitSpec& limit = keys[k].limits[j];
    for (const int percent : levels) {
      const std::uint64_t at = level_usage(limit, percent);
      if (before < at && at <= after) out.push_back({j, w, limit_event(kp::EventKind::threshold_crossed, k, j, w, percent, after)});
    }
    if (before < limit.amount && after >= limit.amount)
      out.push_back({j, w, limit_event(kp::EventKind::key_exhausted, k, j, w, 100, after)});
  }

  Ev limit_event(kp::EventKind kind, std::size_t k, std::size_t j, std::int64_t w, int percent, std::uint64_t used) const {
    const LimitSpec& limit = keys[k].limits[j];
    return {kind, id(k), limit.window_name(), limit.metric, percent, used, limit.calendar.end_of(w) * ns_per_second};
  }

  // Each (key, limit, level, window) is reported once; key_exhausted is "level 0" here.
  void claim(std::size_t k, const Crossing& crossing) {
    const int mark = crossing.event.kind == kp::EventKind::key_exhausted ? 0 : crossing.event.level_percent;
    if (keys[k].counters[crossing.limit].reported[crossing.window].insert(mark).second) events.push_back(crossing.event);
  }

  Verdict verdict(std::size_t k, const kp::Request& r, std::uint64_t now) const {
    const ModelKey& key = keys[k];
    // A request too large for some limit can never be admitted, whatever else holds the key.
    for (const LimitSpec& limit : key.limits) {
      const std::uint64_t amount = cost_of(limit.metric, r);
      if (amount > (limit.kind == LimitSpec::Kind::per_request ? limit.amount : limit.cap(r.priority)))
        return {kp::Reason::too_large, never};
    }
    if (key.disabled) return {kp::Reason::disabled, never};
    // Otherwise the time until every limit and the health gate allow it: the longest wait wins
    // (on a tie, the first limit in the key's order, then the cooldown).
    Verdict v{kp::Reason::rate_limited, 0};
    for (std::size_t j = 0; j < key.limits.size(); ++j) {
      const LimitSpec& limit = key.limits[j];
      const Counter& c = key.counters[j];
      const std::uint64_t amount = cost_of(limit.metric, r);
      const std::uint64_t cap = limit.cap(r.priority);
      if (limit.kind == LimitSpec::Kind::window) {
        const std::int64_t w = counting_window(limit, c, now);
        const std::uint64_t used = c.window == w ? c.used : 0;
        if (used + amount <= cap) continue;
        const std::uint64_t end = static_cast<std::uint64_t>(limit.calendar.end_of(w)) * ns_per_second;
        if (end - now > v.wait) v = {kp::Reason::exhausted, end - now};
      } else if (limit.kind == LimitSpec::Kind::rolling) {
        // Admitted from the first whole ns t with next − t ≤ burst (all × rate_units).
        const Wide now_n = Wide{now} * limit.rate_units();
        const Wide next = std::max(c.tat, now_n) + Wide{amount} * limit.rate_ns();
        const Wide burst = Wide{cap} * limit.rate_ns();
        if (next - now_n <= burst) continue;
        const auto at = static_cast<std::uint64_t>((next - burst + limit.rate_units() - 1) / limit.rate_units());
        if (at - now > v.wait) v = {kp::Reason::rate_limited, at - now};
      }
    }
    if (key.cooling_until > now && key.cooling_until - now > v.wait) v = {kp::Reason::cooling_down, key.cooling_until - now};
    return v;
  }
};

// =================================================================================================
// The random driver: a pool and the model, side by side.

using ModelPool = kp::KeyPool<kp::clock::Manual, kp::alert::Callback>;

class Run {
 public:
  explicit Run(std::uint64_t seed) : rng_(seed) {
    const std::uint64_t start_s = 1'767'225'600 /* 2026-01-01 */ + below(360 * 86'400);
    clock_.set(from_ns(start_s * ns_per_second + below(ns_per_second)));

    static const std::vector<std::vector<int>> threshold_choices{{80, 90, 100}, {50, 100}, {25, 50, 75, 95}, {100}};
    model_.levels = threshold_choices[below(threshold_choices.size())];
    kp::Thresholds thresholds = make_thresholds(model_.levels);

    pool_.emplace(kp::Capacity{8}, clock_, thresholds, kp::alert::Callback{[this](const kp::Event& e) {
      // The model covers the events of keys and limits; provider- and pool-level exhaustion
      // (which depend on every key at once) are tested in events_test.cpp.
      if (e.kind == kp::EventKind::provider_exhausted || e.kind == kp::EventKind::all_exhausted) return;
      seen_.push_back(from_pool(e));
    }});
    const kp::ProviderId provider = pool_->add_provider("p");
    const std::size_t key_count = 1 + below(4);
    std::vector<LimitSpec> previous;
    for (std::size_t k = 0; k < key_count; ++k) {
      std::vector<LimitSpec> limits;
      if (!previous.empty() && below(5) == 0) {
        limits = previous;  // keys often come in sets with the same limits
      } else {
        const std::size_t count = 1 + below(4);
        for (std::size_t j = 0; j < count; ++j) limits.push_back(random_limit());
      }
      std::vector<kp::Limit> built;
      std::ostringstream text;
      for (const LimitSpec& limit : limits) {
        built.push_back(limit.build());
        text << "  " << limit.describe() << '\n';
      }
      pool_->add_key(provider, kp::Secret{"sk_model_" + std::to_string(k) + "_secret"}, built, {.label = "k" + std::to_string(k)});
      setup_ << "key " << k << ":\n" << text.str();
      model_.add_key(limits);
      previous = limits;
    }
    setup_ << "thresholds:";
    for (const int level : model_.levels) setup_ << ' ' << level << '%';
  }

  // Returns a description of the first disagreement, or nothing.
  std::optional<std::string> run(int ops) {
    if (auto error = first_acquire()) return error;
    for (int op = 0; op < ops; ++op) {
      if (auto error = step()) {
        std::ostringstream out;
        out << "after op " << op << ": " << *error << "\n--- setup\n" << setup_.str() << "\n--- last operations\n";
        for (const std::string& line : trace_) out << line << '\n';
        return out.str();
      }
    }
    // Settle what is left, checking as we go.
    while (!leases_.empty()) {
      settle_random(leases_.size() - 1);
      if (auto error = compare_state()) return "settling the rest: " + *error;
    }
    return std::nullopt;
  }

  int grants = 0, refusals = 0;

 private:
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool one_in(std::uint64_t n) { return below(n) == 0; }
  std::uint64_t now() const { return to_ns(clock_.now()); }

  static kp::Thresholds make_thresholds(const std::vector<int>& levels) {
    switch (levels.size()) {
      case 1: return kp::Thresholds{levels[0] / 100.0};
      case 2: return kp::Thresholds{levels[0] / 100.0, levels[1] / 100.0};
      case 3: return kp::Thresholds{levels[0] / 100.0, levels[1] / 100.0, levels[2] / 100.0};
      default: return kp::Thresholds{levels[0] / 100.0, levels[1] / 100.0, levels[2] / 100.0, levels[3] / 100.0};
    }
  }

  LimitSpec random_limit() {
    LimitSpec limit;
    const std::uint64_t kind = below(20);
    limit.kind = kind < 12 ? LimitSpec::Kind::window : kind < 17 ? LimitSpec::Kind::rolling : LimitSpec::Kind::per_request;
    if (limit.kind == LimitSpec::Kind::per_request) {
      limit.metric = one_in(3) ? kp::Metric::characters : kp::Metric::tokens;
      limit.amount = 200 + below(3'000);
      return limit;
    }
    const std::uint64_t metric = below(10);
    limit.metric = metric < 4 ? kp::Metric::requests : metric < 8 ? kp::Metric::tokens : kp::Metric::characters;
    limit.amount = limit.metric == kp::Metric::requests ? 2 + below(30) : 100 + below(5'000);
    if (limit.kind == LimitSpec::Kind::window) {
      static constexpr Unit units[] = {Unit::second, Unit::minute, Unit::minute, Unit::hour, Unit::hour, Unit::day, Unit::day, Unit::month};
      limit.calendar.unit = units[below(std::size(units))];
      static constexpr std::int64_t offsets_minutes[] = {0, 0, 330, -480, 825};
      limit.calendar.offset_seconds = offsets_minutes[below(std::size(offsets_minutes))] * 60;
    } else {
      limit.period_ns = ns_per_second + below(1'800ull * ns_per_second);  // 1 s to 31 min, any ns
    }
    static constexpr std::uint64_t fractions[] = {50, 60, 70, 75, 80, 90, 95};
    if (one_in(3)) limit.headroom_percent[0] = fractions[below(std::size(fractions))];  // batch
    if (one_in(5)) limit.headroom_percent[1] = std::max(limit.headroom_percent[0], fractions[below(std::size(fractions))]);
    return limit;
  }

  kp::Request random_request() {
    kp::Request r;
    auto size = [this] {
      switch (below(10)) {
        case 0: case 1: return std::uint64_t{0};
        case 2: case 3: case 4: return 1 + below(60);
        case 5: case 6: case 7: return 1 + below(600);
        case 8: return 1 + below(3'000);
        default: return 1 + below(40'000);
      }
    };
    r.tokens = size();
    r.characters = size();
    r.priority = static_cast<kp::Priority>(below(3));
    if (one_in(4)) {
      // On a boundary of some limit: exactly its amount, its cap at this priority, what is left
      // of it, or one more than that.
      const std::size_t k = below(model_.keys.size());
      const std::size_t j = below(model_.keys[k].limits.size());
      const LimitSpec& limit = model_.keys[k].limits[j];
      if (limit.metric != kp::Metric::requests) {
        const std::uint64_t cap = limit.kind == LimitSpec::Kind::per_request ? limit.amount : limit.cap(r.priority);
        const std::uint64_t used = model_.used(k, j, now());
        const std::uint64_t left = cap > used ? cap - used : 0;
        const std::uint64_t choices[] = {limit.amount, cap, left, left + 1};
        (limit.metric == kp::Metric::tokens ? r.tokens : r.characters) = choices[below(4)];
      }
    }
    return r;
  }

  // The first acquire of a fresh pool finds every key able to serve a free critical request, so
  // the key it picks shows where round-robin starts; the model starts there too.
  std::optional<std::string> first_acquire() {
    seen_.clear();
    model_.events.clear();
    const kp::Request r{.priority = kp::Priority::critical};
    kp::Lease lease = pool_->acquire(r);
    if (!lease) return std::string{"a fresh pool refused a free critical request"};
    model_.cursor = lease.key().value;
    trace("first acquire: key " + std::to_string(lease.key().value));
    if (auto error = check_acquire(r, std::move(lease))) return error;
    return compare_state();
  }

  std::optional<std::string> step() {
    seen_.clear();
    model_.events.clear();
    const std::uint64_t op = below(100);
    if (op < 42 && leases_.size() < 40) {
      const kp::Request r = random_request();
      if (auto error = check_acquire(r, pool_->acquire(r))) return error;
    } else if (op < 70 && !leases_.empty()) {
      settle_random(below(leases_.size()));
    } else if (op < 90) {
      move_clock();
    } else if (op < 92) {
      const std::size_t k = below(model_.keys.size());
      trace("disable key " + std::to_string(k));
      pool_->disable(kp::KeyId{static_cast<std::uint32_t>(k)});
      model_.disable(k);
    } else if (op < 96) {
      // Mostly a disabled key, so that keys do not stay disabled for long.
      std::size_t k = below(model_.keys.size());
      for (std::size_t tries = 0; tries < model_.keys.size() && !model_.keys[k].disabled; ++tries) k = (k + 1) % model_.keys.size();
      trace("enable key " + std::to_string(k));
      pool_->enable(kp::KeyId{static_cast<std::uint32_t>(k)});
      model_.enable(k, now());
    } else if (op < 98) {
      const std::size_t k = below(model_.keys.size());
      trace("reset key " + std::to_string(k));
      pool_->reset(kp::KeyId{static_cast<std::uint32_t>(k)});
      model_.reset(k);
    } else {
      // A snapshot at another time than the clock's: usage as it will read (or read) then.
      const std::uint64_t at = now() + below(7'200ull * ns_per_second) - 3'600ull * ns_per_second;
      trace("snapshot at " + std::to_string(at));
      if (auto error = compare_snapshot(at)) return error;
    }
    return compare_state();
  }

  std::optional<std::string> check_acquire(const kp::Request& r, kp::Lease lease) {
    std::ostringstream what;
    what << "acquire{tokens " << r.tokens << ", characters " << r.characters << ", priority " << kp::to_string(r.priority)
         << "} at " << now();
    Verdict refusal;
    std::optional<ModelLease> expected = model_.acquire(r, now(), refusal);
    if (lease) {
      ++grants;
      what << " -> key " << lease.key().value;
      trace(what.str());
      if (!expected) {
        std::ostringstream out;
        out << "granted key " << lease.key().value << ", but the model refuses: " << kp::to_string(refusal.reason)
            << ", retry after " << refusal.wait << " ns";
        return out.str();
      }
      if (lease.key().value != expected->key)
        return "granted key " + std::to_string(lease.key().value) + ", the model grants key " + std::to_string(expected->key);
      leases_.push_back(std::move(lease));
      model_leases_.push_back(*expected);
      return std::nullopt;
    }
    ++refusals;
    const kp::Refusal& got = lease.refusal();
    what << " -> refused " << kp::to_string(got.reason) << " " << got.retry_after.count() << " ns";
    trace(what.str());
    if (expected) return "refused, but the model grants key " + std::to_string(expected->key);
    const std::uint64_t got_wait = got.retry_after == kp::Duration::max() ? never : static_cast<std::uint64_t>(got.retry_after.count());
    if (got.reason != refusal.reason || got_wait != refusal.wait) {
      std::ostringstream out;
      out << "refusal " << kp::to_string(got.reason) << " after " << got_wait << " ns; the model says "
          << kp::to_string(refusal.reason) << " after " << refusal.wait << " ns";
      return out.str();
    }
    const kp::TimePoint resets_at = refusal.wait == never ? kp::TimePoint::max() : from_ns(now() + refusal.wait);
    if (got.resets_at != resets_at) return std::string{"refusal resets_at is not the refusal's time + retry_after"};
    return std::nullopt;
  }

  void settle_random(std::size_t i) {
    kp::Lease lease = std::move(leases_[i]);
    const ModelLease expected = model_leases_[i];
    leases_.erase(leases_.begin() + static_cast<std::ptrdiff_t>(i));
    model_leases_.erase(model_leases_.begin() + static_cast<std::ptrdiff_t>(i));

    std::ostringstream what;
    what << "lease on key " << expected.key << " (tokens " << expected.estimate.tokens << ", characters "
         << expected.estimate.characters << "): ";
    const std::uint64_t how = below(10);
    if (how < 4) {
      auto reconcile = [this](std::uint64_t estimate) {
        switch (below(3)) {
          case 0: return estimate + 1 + below(estimate + 200);  // more
          case 1: return estimate == 0 ? 0 : below(estimate);    // less
          default: return estimate;                              // equal
        }
      };
      const kp::Cost actual{.tokens = reconcile(expected.estimate.tokens), .characters = reconcile(expected.estimate.characters)};
      what << "commit{tokens " << actual.tokens << ", characters " << actual.characters << "}";
      lease.commit(actual);
      model_.settle(expected, Settlement::commit_actual, actual, kp::Outcome::success(), now());
    } else if (how < 5) {
      what << "commit()";
      lease.commit();
      model_.settle(expected, Settlement::commit_estimate, {}, kp::Outcome::success(), now());
    } else if (how < 6) {
      what << "dropped";
      { kp::Lease dropped = std::move(lease); }
      model_.settle(expected, Settlement::commit_estimate, {}, kp::Outcome::success(), now());
    } else if (how < 8) {
      what << "cancel()";
      lease.cancel();
      model_.settle(expected, Settlement::cancel, {}, kp::Outcome::success(), now());
    } else {
      kp::Outcome outcome = kp::Outcome::bad_request();
      switch (below(16)) {
        case 0: case 1: outcome = kp::Outcome::rate_limited(); break;  // the default cooldown
        case 2: case 3: case 4: case 5:
          outcome = kp::Outcome::rate_limited(kp::Duration{static_cast<std::int64_t>(1 + below(3'600ull * ns_per_second))});
          break;
        case 6:  // until exactly the end of one of the key's windows: a cooldown and a quota tie
          for (const LimitSpec& limit : model_.keys[expected.key].limits) {
            if (limit.kind != LimitSpec::Kind::window) continue;
            const std::uint64_t end =
                static_cast<std::uint64_t>(limit.calendar.end_of(limit.calendar.window_of(Model::seconds(now())))) * ns_per_second;
            outcome = kp::Outcome::rate_limited(kp::Duration{static_cast<std::int64_t>(end - now())});
            break;
          }
          break;
        case 7: outcome = kp::Outcome::auth_failed(); break;
        default: break;  // bad_request
      }
      what << "fail(" << kp::to_string(outcome.kind()) << ' ' << outcome.retry_after().count() << " ns)";
      lease.fail(outcome);
      model_.settle(expected, Settlement::fail, {}, outcome, now());
    }
    trace(what.str());
  }

  void move_clock() {
    const std::uint64_t t = now();
    std::uint64_t target = t;
    const std::uint64_t how = below(100);
    const LimitSpec* limit = random_limit_of_kind(LimitSpec::Kind::window);
    const LimitSpec* rolling = random_limit_of_kind(LimitSpec::Kind::rolling);
    if (how < 25) {
      target = t + below(3ull * ns_per_second);
    } else if (how < 40) {
      target = t + below(120ull * ns_per_second);
    } else if (how < 48) {
      target = t + below(3ull * 3'600 * ns_per_second);
    } else if (how < 53) {
      target = t + below(3ull * 86'400 * ns_per_second);
    } else if (how < 55) {
      target = t + below(40ull * 86'400 * ns_per_second);
    } else if (how < 75 && limit != nullptr) {
      // To a window's end, a nanosecond before it, or a nanosecond after.
      const std::int64_t w = limit->calendar.window_of(Model::seconds(t));
      target = static_cast<std::uint64_t>(limit->calendar.end_of(w)) * ns_per_second + below(3) - 1;
    } else if (how < 85 && rolling != nullptr) {
      // Whole emission intervals, give or take a nanosecond.
      target = t + rolling->interval() * (1 + below(5)) + below(3) - 1;
    } else if (how < 92) {
      target = t - std::min(t, below(7'200ull * ns_per_second));  // backwards, as NTP may step it
    } else if (limit != nullptr) {
      // Back into the previous window, just before this one began.
      const std::int64_t w = limit->calendar.window_of(Model::seconds(t));
      target = static_cast<std::uint64_t>(limit->calendar.end_of(w - 1)) * ns_per_second - 1 - below(2);
    }
    clock_.set(from_ns(target));
    trace("clock " + std::string{target >= t ? "+" : "-"} + std::to_string(target >= t ? target - t : t - target) + " ns -> " +
          std::to_string(target));
  }

  const LimitSpec* random_limit_of_kind(LimitSpec::Kind kind) {
    std::vector<const LimitSpec*> found;
    for (const ModelKey& key : model_.keys)
      for (const LimitSpec& limit : key.limits)
        if (limit.kind == kind) found.push_back(&limit);
    return found.empty() ? nullptr : found[below(found.size())];
  }

  std::optional<std::string> compare_state() {
    if (auto error = compare_events()) return error;
    return compare_snapshot(now());
  }

  std::optional<std::string> compare_events() {
    std::vector<Ev> got = seen_, want = model_.events;
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    seen_.clear();
    model_.events.clear();
    if (got == want) return std::nullopt;
    std::ostringstream out;
    out << "events differ\n  pool:";
    for (const Ev& e : got) out << "\n    " << e;
    out << "\n  model:";
    for (const Ev& e : want) out << "\n    " << e;
    return out.str();
  }

  std::optional<std::string> compare_snapshot(std::uint64_t at) const {
    const kp::Snapshot snap = pool_->snapshot(from_ns(at));
    if (snap.keys.size() != model_.keys.size()) return std::string{"the snapshot has the wrong number of keys"};
    for (std::size_t k = 0; k < model_.keys.size(); ++k) {
      const kp::KeySnapshot& key = snap.keys[k];
      for (std::size_t j = 0; j < model_.keys[k].limits.size(); ++j) {
        const std::uint64_t want = model_.used(k, j, at);
        if (key.limits.at(j).used != want) {
          std::ostringstream out;
          out << "snapshot at " << at << ": key " << k << " limit " << j << " (" << model_.keys[k].limits[j].describe()
              << ") used " << key.limits[j].used << ", the model says " << want;
          return out.str();
        }
      }
      if (key.blocked_until != model_.blocked_until(k)) {
        std::ostringstream out;
        out << "snapshot: key " << k << " blocked until " << key.blocked_until.time_since_epoch().count() << ", the model says "
            << model_.blocked_until(k).time_since_epoch().count();
        return out.str();
      }
      if (key.status != model_.status(k, at)) {
        std::ostringstream out;
        out << "snapshot at " << at << ": key " << k << " is " << kp::to_string(key.status) << ", the model says "
            << kp::to_string(model_.status(k, at));
        return out.str();
      }
    }
    return std::nullopt;
  }

  void trace(std::string line) {
    trace_.push_back(std::move(line));
    if (trace_.size() > 40) trace_.pop_front();
  }

  std::mt19937_64 rng_;
  kp::clock::Manual clock_;
  Model model_;
  std::vector<Ev> seen_;
  std::optional<ModelPool> pool_;  // after the members its callback uses
  std::vector<kp::Lease> leases_;  // after the pool: leases must not outlive it
  std::vector<ModelLease> model_leases_;
  std::ostringstream setup_;
  std::deque<std::string> trace_;
};

}  // namespace

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define KEYPOOL_MODEL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define KEYPOOL_MODEL_SANITIZED 1
#endif
#endif

TEST_CASE("a pool driven by random operations agrees with the reference model at every step", "[model]") {
#if defined(KEYPOOL_MODEL_SANITIZED)
  constexpr int seeds = 20, ops_per_seed = 2'000;  // sanitizers run it 10× slower
#else
  constexpr int seeds = 40, ops_per_seed = 3'000;
#endif
  for (int seed = 1; seed <= seeds; ++seed) {
    DYNAMIC_SECTION("seed " << seed) {
      Run run{static_cast<std::uint64_t>(seed)};
      const std::optional<std::string> error = run.run(ops_per_seed);
      if (error) FAIL("seed " << seed << ", " << *error);
      // The run went both ways often enough to mean something.
      CHECK(run.grants > 100);
      CHECK(run.refusals > 20);
    }
  }
}
