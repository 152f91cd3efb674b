// The schedule of probes of keys a provider's answer disabled: per key, when its next probe is due
// and how long the one after waits (doubling up to ProbeOptions::longest). Not thread-safe: the
// pool runs it under its poll mutex.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <keypool/detail/health.hpp>
#include <keypool/detail/key_record.hpp>
#include <keypool/error.hpp>
#include <keypool/events.hpp>
#include <keypool/probe.hpp>

namespace keypool::detail {

class Prober {
 public:
  /// Probes, at `now`, each of keys 0 … count-1 that a provider's answer disabled and whose probe
  /// is due: `probe(KeyProbe)` answers; `works` calls `enable(record)`; every probe raises
  /// key_probed through `events` (`reason` empty when it works, Reason::disabled otherwise, with
  /// `resets_at` the next probe and `count` the attempt). A probe that throws counts as
  /// inconclusive. Returns how many probes ran.
  template <class Records, class Probe, class Events, class Enable>
  std::size_t run(const Records& records, std::size_t count, const ProbeOptions& options, TimePoint now, Probe& probe,
                  Events& events, Enable&& enable) {
    options.check();
    if (keys_.size() < count) keys_.resize(count);
    std::size_t ran = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const KeyRecord& key = records[k];
      Schedule& schedule = keys_[k];
      if (key.is_removed() || !key.answer_disabled.load(std::memory_order_relaxed) || health::blocked(*key.slot) != disabled_until) {
        schedule = {};  // not (or no longer) disabled by an answer: a later disable starts afresh
        continue;
      }
      if (schedule.attempt == 0) {
        schedule = {now + options.first, options.first, 1};
        continue;
      }
      if (now < schedule.due) continue;
      ProbeResult result = ProbeResult::inconclusive;
      try {
        result = probe(KeyProbe{key.id, key.label, key.provider_record->name, key.secret(), schedule.attempt});
      } catch (...) {
      }
      ++ran;
      Event event = Events::key_event(EventKind::key_probed, key, now, now);
      event.count = schedule.attempt;
      if (result == ProbeResult::works) {
        schedule = {};
        events.deliver(event);
        enable(key);
        continue;
      }
      schedule.wait = std::min(schedule.wait * 2, options.longest);
      schedule.due = now + schedule.wait;
      ++schedule.attempt;
      event.reason = Reason::disabled;
      event.resets_at = schedule.due;
      events.deliver(event);
    }
    return ran;
  }

 private:
  struct Schedule {
    TimePoint due{};
    Duration wait{};
    std::uint32_t attempt = 0;  // 0: not scheduled
  };
  std::vector<Schedule> keys_;
};

}  // namespace keypool::detail
