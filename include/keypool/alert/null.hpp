// keypool::alert::Null: the sink that discards every event. The default; with it the pool skips
// building events altogether.
#pragma once

#include <keypool/events.hpp>

namespace keypool::alert {

/// Discards events. The pool detects it (`discards_events`) and does no event work at all.
struct Null {
  static constexpr bool discards_events = true;
  void emit(const Event&) noexcept {}
};

}  // namespace keypool::alert
