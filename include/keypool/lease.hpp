// keypool::Lease: the right to make one call with one key, holding its reservation until the call
// is settled (commit, fail or cancel); and keypool::Refusal, the answer when no key could serve.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>
#include <utility>

#include <keypool/classify.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/dialect.hpp>
#include <keypool/outcome.hpp>
#include <keypool/reason.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {

/// Why a request was refused and when to come back. `retry_after` is exact: the time until the
/// earliest key could admit this very request if nothing else used it meanwhile;
/// `resets_at` = the time of the refusal + `retry_after`. When no key can ever admit it
/// (too_large, disabled, no_keys, invalid), `retry_after` is Duration::max() and `resets_at`
/// TimePoint::max().
struct Refusal {
  Reason reason = Reason::no_keys;
  Duration retry_after = Duration::max();
  TimePoint resets_at = TimePoint::max();

  /// True when waiting cannot help.
  [[nodiscard]] bool permanent() const noexcept { return retry_after == Duration::max(); }
};

/// What `pool.check(request)` answers: whether a key could admit the request now (and which),
/// or the refusal `acquire` would give. Nothing is reserved.
struct Check {
  bool admitted = false;
  KeyId key{};         ///< when admitted: the first key that could serve
  Refusal refusal{};   ///< when not: reason and exact wait, as acquire's
  [[nodiscard]] explicit operator bool() const noexcept { return admitted; }
};

namespace detail {

/// The most limits one request counts on one key: its own, its group's, and their model's.
inline constexpr std::size_t max_limits_per_request = 16;

/// What a lease holds of its reservation: the key (and the meters of its group and model, when
/// it has any) and, per limit, the window it reserved in.
struct Reservation {
  const KeyRecord* key = nullptr;
  const MeterRoute* route;            // the meters reserved after the key's limits (nullptr: none); set when granted
  std::uint64_t generation = 0;       // the key's reset generation when reserved
  Request estimate{};
  /// Per meter of the route, its reset generation when reserved.
  std::array<std::uint64_t, 3> route_generations;
  /// Per reserved limit (bit i: the i-th, in `epochs` order): the reservation brought a calendar
  /// limit to its first threshold level. Its levels are judged when the usage stands (a commit,
  /// or the request of a failed call), never for a cancel.
  std::uint32_t reached = 0;
  /// Per reserved limit (the key's, then each meter's in route order): the calendar window
  /// reserved in, or for a rolling limit the theoretical arrival time this reservation ended at
  /// (what a refund may still give back).
  std::array<std::uint64_t, max_limits_per_request> epochs;
};

enum class Settlement : std::uint8_t { commit, fail, cancel };

struct LeaseAccess;

/// The pool behind a lease. A virtual call: one indirect jump per settlement.
class LeaseOwner {
 public:
  virtual void settle(Reservation& reservation, Settlement how, const Cost* actual,
                      const Outcome* outcome, const TimePoint* now) noexcept = 0;

 protected:
  ~LeaseOwner() = default;
};

}  // namespace detail

/// One admitted call, or the refusal. Move-only. Settle it exactly once:
/// `commit(actual)` after success (counters reconciled with the actual cost, in the window the
/// reservation was made in), `fail(outcome)` when the provider refused (key health updated;
/// the estimate is refunded, one request stays counted), `cancel()` when the call was never
/// sent (all refunded). A lease destroyed unsettled commits its estimate. Settling twice does
/// nothing the second time. A lease must not outlive its pool.
/// Thread safety: a lease is used by one thread at a time; settlement is lock-free.
class Lease {
 public:
  /// A refused lease: `Reason::no_keys`.
  Lease() = default;
  explicit Lease(const Refusal& refusal) noexcept : refusal_(refusal) {}
  Lease(detail::LeaseOwner* owner, const detail::Reservation& reservation) noexcept
      : owner_(owner), reservation_(reservation), admitted_(true) {}

  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  Lease(Lease&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)), refusal_(other.refusal_), admitted_(other.admitted_) {
    copy_reservation(other);
  }
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      commit();
      owner_ = std::exchange(other.owner_, nullptr);
      copy_reservation(other);
      refusal_ = other.refusal_;
      admitted_ = other.admitted_;
    }
    return *this;
  }
  ~Lease() { commit(); }

  /// True when a key was granted (and stays true after settlement).
  [[nodiscard]] explicit operator bool() const noexcept { return admitted_; }
  /// True while the reservation awaits commit, fail or cancel.
  [[nodiscard]] bool pending() const noexcept { return owner_ != nullptr; }
  /// Why the request was refused. Meaningful only when `!lease`.
  [[nodiscard]] const Refusal& refusal() const noexcept { return refusal_; }

  // The granted key. On a refused lease: an empty secret, KeyId{}, ProviderId{}, empty names
  // (never a dangling read), and dialect() is generic.
  [[nodiscard]] const Secret& secret() const noexcept { return admitted_ ? reservation_.key->secret() : no_secret(); }
  [[nodiscard]] KeyId key() const noexcept { return admitted_ ? reservation_.key->id : KeyId{}; }
  [[nodiscard]] ProviderId provider() const noexcept { return admitted_ ? reservation_.key->provider : ProviderId{}; }
  [[nodiscard]] std::string_view provider_name() const noexcept {
    return admitted_ ? std::string_view{reservation_.key->provider_record->name} : std::string_view{};
  }
  [[nodiscard]] std::string_view label() const noexcept { return admitted_ ? std::string_view{reservation_.key->label} : std::string_view{}; }
  /// The estimate the reservation was made for (a default Request on a refused lease).
  [[nodiscard]] const Request& estimate() const noexcept { return admitted_ ? reservation_.estimate : no_request(); }
  /// The model the request named (`Request::model`).
  [[nodiscard]] ModelId model() const noexcept { return estimate().model; }
  /// How the key's provider answers (given to `add_provider`).
  [[nodiscard]] Dialect dialect() const noexcept { return admitted_ ? reservation_.key->provider_record->dialect : Dialect::generic; }

  /// `keypool::classify(status, headers, body, now, dialect())`: the provider's answer read in its
  /// dialect, for `commit` or `fail`. Call only when `lease` is true (settled or not). Never
  /// throws; thread-safe as classify is.
  template <class Headers>
  [[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body, TimePoint now) const noexcept {
    return keypool::classify(status, headers, body, now, dialect());
  }
  /// The same at the current UTC time (`std::chrono::system_clock`); on a pool with another clock,
  /// pass its time.
  template <class Headers>
  [[nodiscard]] Outcome classify(int status, const Headers& headers, std::string_view body) const noexcept {
    return keypool::classify(status, headers, body, dialect());
  }

  /// The call succeeded and cost `actual` (plus one request). Lock-free; never throws.
  void commit(const Cost& actual) noexcept {
    if (detail::same_cost(actual, reservation_.estimate)) commit();
    else settle(detail::Settlement::commit, &actual, nullptr, nullptr);
  }
  void commit(const Cost& actual, TimePoint now) noexcept { settle(detail::Settlement::commit, &actual, nullptr, &now); }
  /// The call succeeded and cost `actual`; `observed` is what the provider's answer said (e.g.
  /// `classify(200, headers, body)`): its remaining-count reports tighten the key's counters when
  /// the provider has less left than the pool thinks. Lock-free; never throws.
  void commit(const Cost& actual, const Outcome& observed) noexcept {
    settle(detail::Settlement::commit, &actual, &observed, nullptr);
  }
  void commit(const Cost& actual, const Outcome& observed, TimePoint now) noexcept {
    settle(detail::Settlement::commit, &actual, &observed, &now);
  }
  /// The call succeeded and cost what was estimated: nothing to reconcile, so no call into the
  /// pool — the key's success count goes up and its failure streak is cleared if it has one —
  /// unless the reservation reached a threshold level, which the pool then judges.
  void commit() noexcept {
    if (owner_ == nullptr) return;
    if (reservation_.reached != 0) [[unlikely]] {
      settle(detail::Settlement::commit, nullptr, nullptr, nullptr);
      return;
    }
    owner_ = nullptr;
    std::atomic_ref<std::uint64_t>{reservation_.key->slot->successes}.fetch_add(1, std::memory_order_relaxed);
    auto streak = std::atomic_ref<std::uint64_t>{reservation_.key->slot->health};
    if (streak.load(std::memory_order_relaxed) != 0) streak.store(0, std::memory_order_relaxed);
  }
  /// The provider refused the call; `outcome` says why. An `Outcome::success()` here (e.g. what
  /// `classify` made of a 200) settles as `commit(estimate, outcome)`. Lock-free; never throws.
  void fail(const Outcome& outcome) noexcept { settle(detail::Settlement::fail, nullptr, &outcome, nullptr); }
  void fail(const Outcome& outcome, TimePoint now) noexcept { settle(detail::Settlement::fail, nullptr, &outcome, &now); }
  /// The call was never sent: everything reserved is refunded. Lock-free; never throws.
  void cancel() noexcept { settle(detail::Settlement::cancel, nullptr, nullptr, nullptr); }
  void cancel(TimePoint now) noexcept { settle(detail::Settlement::cancel, nullptr, nullptr, &now); }

 private:
  friend struct detail::LeaseAccess;

  static const Secret& no_secret() noexcept {
    static const Secret empty{};
    return empty;
  }
  static const Request& no_request() noexcept {
    static constexpr Request none{};
    return none;
  }

  void settle(detail::Settlement how, const Cost* actual, const Outcome* outcome, const TimePoint* now) noexcept {
    if (owner_ == nullptr) return;
    std::exchange(owner_, nullptr)->settle(reservation_, how, actual, outcome, now);
  }

  // Copied as bytes: the epochs of limits the key does not have are never written (see below).
  void copy_reservation(const Lease& other) noexcept {
    static_assert(std::is_trivially_copyable_v<detail::Reservation>);
    std::memcpy(static_cast<void*>(&reservation_), &other.reservation_, sizeof reservation_);
  }

  detail::LeaseOwner* owner_ = nullptr;
  // Deliberately not value-initialized: zeroing the 64-byte epoch array puts a `rep stos` in
  // front of the first counter CAS of acquire, and a locked instruction waits for every older
  // store to drain (measured: about a quarter of an acquire+commit). Only the entries of the
  // key's limits are ever read.
  detail::Reservation reservation_;
  Refusal refusal_{};
  bool admitted_ = false;
};

namespace detail {

/// How a pool fills a lease in place (so acquire builds its result without copies).
struct LeaseAccess {
  static Reservation& reservation(Lease& lease) noexcept { return lease.reservation_; }
  static void grant(Lease& lease, LeaseOwner* owner) noexcept {
    lease.owner_ = owner;
    lease.admitted_ = true;
  }
  static void refuse(Lease& lease, const Refusal& refusal) noexcept { lease.refusal_ = refusal; }
};

}  // namespace detail
}  // namespace keypool
