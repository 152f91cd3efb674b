// keypool::alert::Callback: calls a function for every event, on the thread that caused it.
#pragma once

#include <functional>
#include <utility>

#include <keypool/events.hpp>

namespace keypool::alert {

/// Calls `f(event)` synchronously, on the thread whose acquire, commit or poll raised the event:
/// keep `f` short and non-blocking, or put this sink behind `alert::Queued`. `f` may be called
/// from several threads at once. If `f` throws, the pool swallows the exception and goes on.
class Callback {
 public:
  Callback() = default;
  template <class F>
    requires std::is_invocable_v<F&, const Event&>
  explicit Callback(F&& f) : f_(std::forward<F>(f)) {}

  void emit(const Event& event) {
    if (f_) f_(event);
  }

 private:
  std::function<void(const Event&)> f_;
};

}  // namespace keypool::alert
