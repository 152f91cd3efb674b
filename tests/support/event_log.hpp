// An alert sink for tests: every event a pool raises, kept in order under a mutex (leases may
// settle on several threads), and the events of one kind.
#pragma once

#include <mutex>
#include <vector>

#include <keypool/keypool.hpp>

struct EventLog {
  std::mutex mutex;
  std::vector<keypool::Event> events;

  /// A sink that appends to `events`; the log must outlive the pool.
  keypool::alert::Callback sink() {
    return keypool::alert::Callback{[this](const keypool::Event& e) {
      std::lock_guard lock{mutex};
      events.push_back(e);
    }};
  }
  std::vector<keypool::Event> of(keypool::EventKind kind) {
    std::lock_guard lock{mutex};
    std::vector<keypool::Event> found;
    for (const auto& e : events)
      if (e.kind == kind) found.push_back(e);
    return found;
  }
};
