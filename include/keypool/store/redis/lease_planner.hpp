// How much of one limit store::Redis asks Redis for, and when: lease sizing, what a tick and a
// refused acquire ask for, and the local share in an outage. Pure: no I/O, no counter words.
//
// The store reads the hand through the leased accounting, asks the planner, sends what it says,
// and tells it what Redis answered. Every member runs under the store's lock (not thread-safe);
// times are passed in, so a test drives it with any clock.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>

#include <keypool/accounting/calendar_window.hpp>
#include <keypool/accounting/counter.hpp>
#include <keypool/detail/limit_plan.hpp>
#include <keypool/limit.hpp>
#include <keypool/store/redis/options.hpp>

namespace keypool::detail::redis {

using SteadyTime = std::chrono::steady_clock::time_point;

/// What a leased word holds: its window and figure, and the units in hand for the current window
/// (negative: spent beyond leases, a debt; 0 when the word is in another window). A rolling
/// limit's hand is {0, 0, units}.
using Hand = accounting::LeasedWindow::Hand;

/// What a tick asks Redis for, for one limit.
struct TickAsk {
  /// Debt of the word's past window (Hand::word_epoch), spent beyond leases before it ended:
  /// debited in that window's counter.
  std::uint64_t past_debt = 0;
  /// Rolling units held longer than rolling_hold: give back what is in hand. When the hand gives
  /// anything, nothing else is asked for this limit on this tick.
  bool give_back = false;
  std::uint64_t want = 0;     ///< a top-up, in the current window
  std::uint64_t minimum = 0;  ///< the least worth granting of `want`
  std::uint64_t debt = 0;     ///< the current window's debt, to debit
  std::uint64_t owed = 0;     ///< granted locally in an outage, to debit
};

/// What a refused acquire asks Redis for, for one limit.
struct RefusalAsk {
  enum class What : std::uint8_t {
    enough,  ///< the hand covers the request: nothing to ask
    dry,     ///< short, but Redis had nothing left less than dry_recheck ago: this key cannot serve
    lease,   ///< ask for `want`, at least `minimum` (the shortfall)
  } what = What::enough;
  std::uint64_t want = 0;
  std::uint64_t minimum = 0;
};

/// One leased limit's lease sizing and asks.
class LeasePlanner {
 public:
  /// Sizes leases between min_lease and max_lease (0: limit ÷ 1000, at least 1, and limit ÷ 16),
  /// both clamped to the limit; the first lease is min_lease.
  LeasePlanner(const detail::LimitPlan& plan, const store::RedisOptions& options)
      : plan_(plan),
        horizon_s_(std::chrono::duration<double>(options.lease_horizon).count()),
        dry_recheck_(std::chrono::duration_cast<SteadyTime::duration>(options.dry_recheck)),
        rolling_hold_(std::chrono::duration_cast<SteadyTime::duration>(options.rolling_hold)),
        expected_instances_(std::max<std::uint32_t>(1, options.expected_instances)) {
    min_lease_ = options.min_lease != 0 ? options.min_lease : std::max<std::uint64_t>(1, plan.amount / 1000);
    max_lease_ = options.max_lease != 0 ? options.max_lease : std::max<std::uint64_t>(1, plan.amount / 16);
    min_lease_ = std::min(min_lease_, plan.amount);
    max_lease_ = std::clamp(max_lease_, min_lease_, plan.amount);
    size_ = min_lease_;
  }

  [[nodiscard]] const detail::LimitPlan& plan() const noexcept { return plan_; }
  /// A rolling (GCRA) limit: its hand is a signed count of units, and it has one endless window.
  [[nodiscard]] bool rolling() const noexcept { return plan_.kind == Limit::Kind::rolling; }
  [[nodiscard]] std::uint64_t min_lease() const noexcept { return min_lease_; }
  [[nodiscard]] std::uint64_t max_lease() const noexcept { return max_lease_; }
  /// The next lease's size.
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  /// The instance's smoothed rate, units per second.
  [[nodiscard]] double rate() const noexcept { return rate_; }
  /// The window the planner is in (start_window), and what was leased in it (from Redis or, in
  /// an outage, locally).
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }
  [[nodiscard]] std::uint64_t granted() const noexcept { return granted_; }

  // --- Windows -------------------------------------------------------------------------------------

  /// The limit's window at `now_sec`; a rolling limit has one endless "window", epoch 0.
  [[nodiscard]] accounting::WindowNow window(std::int64_t now_sec) const noexcept {
    if (rolling()) return {0, now_sec + 1};
    return accounting::current_window_of(plan_.limit, now_sec);
  }
  /// The end (seconds) of window `epoch`; 0 for a rolling limit.
  [[nodiscard]] std::int64_t window_end(std::uint64_t epoch) const noexcept {
    return rolling() ? 0 : accounting::window_end_of(plan_.limit, epoch);
  }
  /// Moves to window `epoch`: nothing granted in it yet. Nothing changes when already there.
  void start_window(std::uint64_t epoch) noexcept {
    if (epoch_ == epoch) return;
    epoch_ = epoch;
    granted_ = 0;
    consumed_mark_ = 0;
  }

  // --- Sizing ----------------------------------------------------------------------------------------

  /// Measures the rate from what was consumed of the window's grants since the last sample,
  /// `dt_s` seconds ago (0: no measure), smoothed over about a second; then sizes the next lease
  /// to last lease_horizon at that rate, between min_lease and max_lease. A size grown by
  /// refusals decays by a tenth per sample rather than collapsing at once.
  void sample(const Hand& h, double dt_s) noexcept {
    const std::uint64_t in_hand = h.in_hand > 0 ? static_cast<std::uint64_t>(h.in_hand) : 0;
    const std::uint64_t consumed = granted_ - std::min(granted_, in_hand) + debt_of(h);
    if (dt_s > 0.0) {
      const double delta = consumed >= consumed_mark_ ? static_cast<double>(consumed - consumed_mark_) : 0.0;
      const double alpha = 1.0 - std::exp(-dt_s / 1.0);
      rate_ += alpha * (delta / dt_s - rate_);
      spending_ = delta > 0.0;
    }
    consumed_mark_ = consumed;
    const double by_rate = std::ceil(rate_ * horizon_s_);
    const double decayed = static_cast<double>(size_) * 0.9;
    const double want = std::max(by_rate, decayed);
    size_ = want >= static_cast<double>(max_lease_) ? max_lease_ : std::max(min_lease_, static_cast<std::uint64_t>(want));
  }

  // --- Asks --------------------------------------------------------------------------------------------

  /// The background's ask for the current window `epoch` (the planner in it: start_window) at
  /// `now`, `dt_s` after the last tick: samples the rate, then asks for a top-up when less than
  /// half a lease is in hand (not while the key rests, nor while the limit is dry, nor for a
  /// rolling limit this instance spent nothing of since the last tick: an idle instance would
  /// only hold units, give them back after rolling_hold and take them again, keeping them from
  /// the instances that spend), the debts, the outage grants owed, and whether rolling units were
  /// held too long.
  [[nodiscard]] TickAsk tick(const Hand& h, std::uint64_t epoch, SteadyTime now, double dt_s, bool resting) noexcept {
    sample(h, dt_s);
    TickAsk ask;
    ask.debt = debt_of(h);
    if (h.word_epoch < epoch && h.used > plan_.amount) ask.past_debt = h.used - plan_.amount;
    // Rolling units are spent soon after they are leased, or given back: held longer, they would
    // let this instance burst past the rate the fleet granted them at.
    ask.give_back = rolling() && h.in_hand > 0 && now - leased_at_ > rolling_hold_;
    if (owed_epoch_ != epoch) owed_ = 0;
    ask.owed = owed_;
    const std::uint64_t in_hand = h.in_hand > 0 ? static_cast<std::uint64_t>(h.in_hand) : 0;
    if (!resting && !dry(epoch, now) && (spending_ || !rolling()) && in_hand * 2 < size_) ask.want = size_ - in_hand;
    ask.minimum = std::min(ask.want, min_lease_);
    return ask;
  }

  /// A refused acquire needs `need` units in window `epoch` at `now`: nothing if the hand has
  /// them, nothing either if the limit is dry; otherwise at least the shortfall, and the lease
  /// size doubles (the hand ran dry: the lease was too small for this rate).
  [[nodiscard]] RefusalAsk refused(const Hand& h, std::uint64_t need, std::uint64_t epoch, SteadyTime now) noexcept {
    if (h.in_hand >= static_cast<std::int64_t>(need)) return {};
    if (dry(epoch, now)) return {RefusalAsk::What::dry, 0, 0};
    const auto shortfall = static_cast<std::uint64_t>(static_cast<std::int64_t>(need) - h.in_hand);
    size_ = std::min(max_lease_, size_ * 2);
    return {RefusalAsk::What::lease, std::max(shortfall, size_), shortfall};
  }

  /// Outage grants of window `epoch` not yet debited in Redis.
  [[nodiscard]] std::uint64_t owed(std::uint64_t epoch) const noexcept { return owed_epoch_ == epoch ? owed_ : 0; }

  // --- Redis's answers -------------------------------------------------------------------------------

  /// Redis answered a lease of window `epoch` that asked for `want`: it granted `granted` and its
  /// count is now `after`. Short of the ask with the count at the limit: dry until dry_recheck
  /// has passed. Anything granted: not dry.
  void answered(std::uint64_t epoch, std::uint64_t want, std::uint64_t granted, std::uint64_t after, SteadyTime now) noexcept {
    if (want != 0 && granted < want && after >= plan_.amount) {
      dry_epoch_ = epoch;
      dry_until_ = now + dry_recheck_;
    } else if (granted != 0) {
      dry_epoch_ = no_epoch;
    }
  }
  /// `units` leased for window `epoch` are in hand since `now`.
  void landed(std::uint64_t epoch, std::uint64_t units, SteadyTime now) noexcept {
    if (epoch_ == epoch) granted_ += units;
    if (units != 0) leased_at_ = now;
  }
  /// `units` in hand were given back to Redis (rolling units held too long, or at detach): they
  /// were not consumed, so the rate does not count them.
  void gave_back(std::uint64_t units) noexcept { granted_ -= std::min(granted_, units); }
  /// `units` of the outage grants of window `epoch` were debited in Redis.
  void debited_owed(std::uint64_t epoch, std::uint64_t units) noexcept {
    if (units != 0 && owed_epoch_ == epoch) owed_ -= std::min(owed_, units);
  }
  /// The limit was reset (here or on another instance): Redis's count is gone, so what it last
  /// said it had left no longer holds.
  void forget_dry() noexcept { dry_epoch_ = no_epoch; }
  /// Whether Redis had nothing left for window `epoch` less than dry_recheck before `now`.
  [[nodiscard]] bool dry(std::uint64_t epoch, SteadyTime now) const noexcept { return dry_epoch_ == epoch && now < dry_until_; }

  // --- Outage (RedisOnOutage::local_share) -------------------------------------------------------------

  /// What to grant locally in the current window (the planner in it) while Redis is away: a
  /// top-up as a tick would ask, or the `need` of a refused acquire, within the instance's share
  /// of the window, limit ÷ expected_instances (rounded up), less what it was granted in it
  /// already, leased or local. Rolling limits get nothing: a rate has no window to share.
  [[nodiscard]] std::uint64_t outage_grant(const Hand& h, std::uint64_t need) const noexcept {
    if (rolling()) return 0;
    const std::uint64_t share = (plan_.amount + expected_instances_ - 1) / expected_instances_;
    const std::uint64_t budget = share - std::min(share, granted_);
    const std::uint64_t in_hand = h.in_hand > 0 ? static_cast<std::uint64_t>(h.in_hand) : 0;
    std::uint64_t want = in_hand * 2 < size_ ? size_ - in_hand : 0;
    if (need > in_hand) want = std::max(want, need - in_hand);
    return std::min(want, budget);
  }
  /// `units` granted locally in window `epoch` are in hand: owed to Redis until debited.
  void granted_locally(std::uint64_t epoch, std::uint64_t units) noexcept {
    granted_ += units;
    if (owed_epoch_ != epoch) {
      owed_epoch_ = epoch;
      owed_ = 0;
    }
    owed_ += units;
  }

  /// The debt a hand holds: units spent beyond leases.
  [[nodiscard]] static std::uint64_t debt_of(const Hand& h) noexcept {
    return h.in_hand < 0 ? static_cast<std::uint64_t>(-h.in_hand) : 0;
  }

 private:
  static constexpr std::uint64_t no_epoch = ~std::uint64_t{0};

  detail::LimitPlan plan_;
  double horizon_s_;
  SteadyTime::duration dry_recheck_;
  SteadyTime::duration rolling_hold_;
  std::uint32_t expected_instances_;
  std::uint64_t min_lease_ = 1;
  std::uint64_t max_lease_ = 1;

  std::uint64_t size_ = 1;           // the next lease's size
  std::uint64_t epoch_ = 0;          // the window the figures below are about
  std::uint64_t granted_ = 0;        // leased this window (from Redis or, in an outage, locally)
  std::uint64_t consumed_mark_ = 0;  // granted − in hand at the last rate sample
  double rate_ = 0.0;                // units per second, smoothed
  bool spending_ = false;            // something was consumed between the last two samples
  std::uint64_t dry_epoch_ = no_epoch;
  SteadyTime dry_until_{};
  SteadyTime leased_at_{};           // the last grant (rolling limits are given back after rolling_hold)
  std::uint64_t owed_ = 0;           // granted locally in an outage, not yet debited in Redis
  std::uint64_t owed_epoch_ = 0;
};

}  // namespace keypool::detail::redis
