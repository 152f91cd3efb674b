// Whether a provider, or the whole pool, can serve at all: provider_exhausted and all_exhausted,
// raised once per occurrence on the refusal path, and provider_recovered (and the re-arming of
// all_exhausted) from poll. Each carries the reason of the soonest recovery (its horizon).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <keypool/accounting/counter.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/detail/key_table.hpp>
#include <keypool/events.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool::detail {

template <class Metering>
class ExhaustionWatch {
 public:
  /// The soonest any key (of `provider`, or of the pool) could serve `request` (wait zero: one
  /// can now), and why that key cannot before. Loads only.
  static accounting::Verdict soonest(const KeyTable& table, const ProviderId* provider, const Request& request,
                                     TimePoint now) noexcept {
    const accounting::Instant instant{now};
    accounting::Verdict best{Reason::no_keys, Duration::max()};
    table.each(
        [&](const KeyRecord& key) {
          const accounting::Verdict v = Metering::key_verdict(key, request, instant);
          if (v.wait < best.wait || best.reason == Reason::no_keys) best = v;
          return best.wait > Duration::zero();  // stop at the first key that can serve
        },
        provider);
    return best;
  }

  /// A key refused `request` for quota: provider_exhausted if no key of its provider can serve
  /// that request, once per occurrence (until the provider's earliest recovery, or a poll that
  /// sees it able to serve such a request again).
  template <class Events>
  [[gnu::noinline, gnu::cold]] void provider_refused(const KeyTable& table, const KeyRecord& key, const Request& request, TimePoint now,
                                                     Events& events) noexcept {
    ProviderRecord& provider = *key.provider_record;
    std::uint64_t seen = provider.exhausted_until.load(std::memory_order_relaxed);
    if (seen > to_ns(now)) return;  // reported already
    const accounting::Verdict first = soonest(table, &key.provider, request, now);
    if (first.wait == Duration::zero()) return;
    const TimePoint until = saturating_add(now, first.wait);
    if (!provider.exhausted_until.compare_exchange_strong(seen, to_ns(until), std::memory_order_relaxed)) return;
    provider.probe.store(request);
    Event event = Events::key_event(EventKind::provider_exhausted, key, now, until);
    event.key = KeyId{};
    event.key_label = {};
    event.reason = first.reason;
    events.deliver(event);
  }

  /// poll: provider p, reported exhausted, can serve its probe again → provider_recovered.
  template <class Events>
  void provider_poll(const KeyTable& table, std::size_t p, TimePoint now, Events& events) noexcept {
    ProviderRecord& provider = table.provider(p);
    const ProviderId id{static_cast<std::uint32_t>(p)};
    if (provider.exhausted_until.load(std::memory_order_relaxed) == 0 ||
        soonest(table, &id, provider.probe.load(), now).wait != Duration::zero())
      return;
    provider.exhausted_until.store(0, std::memory_order_relaxed);
    events.general(EventKind::provider_recovered, now, now, id, provider.name);
  }

  /// An acquire was refused: all_exhausted if no key at all can serve, once per occurrence.
  template <class Events>
  [[gnu::noinline, gnu::cold]] void pool_refused(const KeyTable& table, const Request& request, TimePoint now, Events& events) noexcept {
    std::uint64_t seen = until_.load(std::memory_order_relaxed);
    if (seen > to_ns(now)) return;
    const accounting::Verdict first = soonest(table, nullptr, request, now);
    if (first.wait == Duration::zero()) return;
    const TimePoint until = saturating_add(now, first.wait);
    if (!until_.compare_exchange_strong(seen, to_ns(until), std::memory_order_relaxed)) return;
    probe_.store(request);
    events.general(EventKind::all_exhausted, now, until, {}, {}, first.reason);
  }

  /// poll: the pool can serve the request it was reported exhausted for: re-arm all_exhausted.
  void pool_poll(const KeyTable& table, TimePoint now) noexcept {
    if (until_.load(std::memory_order_relaxed) != 0 && soonest(table, nullptr, probe_.load(), now).wait == Duration::zero())
      until_.store(0, std::memory_order_relaxed);
  }

 private:
  alignas(64) std::atomic<std::uint64_t> until_{0};  // ns until which all_exhausted was reported; 0: not
  RequestProbe probe_;                                // the request refused then
};

}  // namespace keypool::detail
