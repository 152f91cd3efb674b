// keypool::alert::Fanout<Sinks...>: one sink that hands every event to several, in order
// (a log line and a pager; a counter and a queued webhook).
#pragma once

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include <keypool/concepts.hpp>
#include <keypool/events.hpp>

namespace keypool {
namespace detail {

/// True if sink S declares `static constexpr bool discards_events = true`.
template <class S>
inline constexpr bool fanout_discards_v = requires { requires S::discards_events; };

}  // namespace detail

namespace alert {

/// Delivers each event to every inner sink, in the order of the template arguments, on the
/// calling thread.
///
///     kp::alert::Fanout<kp::alert::Ostream, kp::alert::Callback>{kp::alert::Ostream{std::cerr}, kp::alert::Callback{f}};
///
/// Exceptions: an inner sink that throws does not stop the others. Fanout catches the exception,
/// counts it (sink_failures(i) for sink i, sink_failures() in all), and goes on with the next
/// sink; emit itself never throws, so the pool's own sink_failures() does not see these.
/// Threads: emit is thread-safe if every inner sink's emit is, and may then run on several
/// threads at once; it adds no lock. Slow sinks belong behind alert::Queued (as an inner sink:
/// `Fanout<Ostream, Queued<Webhook>>`, or around the whole: `Queued<Fanout<...>>`).
/// `discards_events` is true only if every inner sink discards events.
template <class... Sinks>
class Fanout {
  static_assert(sizeof...(Sinks) >= 1, "alert::Fanout: give at least one sink, e.g. Fanout<Ostream, Callback>");
  static_assert((AlertSink<Sinks> && ...),
                "alert::Fanout<Sinks...>: every sink must satisfy keypool::AlertSink (move-constructible, "
                "emit(const Event&))");
  static_assert(((std::is_same_v<Sinks, std::remove_cvref_t<Sinks>>) && ...),
                "alert::Fanout<Sinks...>: pass sink types without const, volatile or references");

 public:
  static constexpr std::size_t size = sizeof...(Sinks);
  static constexpr bool discards_events = (detail::fanout_discards_v<Sinks> && ...);

  /// Default-constructs every sink.
  Fanout()
    requires(std::default_initializable<Sinks> && ...)
  = default;

  /// Takes the sinks, one per template argument, in order.
  explicit Fanout(Sinks... sinks) : sinks_(std::move(sinks)...) {}

  /// Moves (or copies) the sinks and copies the failure counts. Not thread-safe: nothing may emit into `other` meanwhile.
  Fanout(Fanout&& other) noexcept(std::is_nothrow_move_constructible_v<std::tuple<Sinks...>>)
      : sinks_(std::move(other.sinks_)) {
    copy_counts(other);
  }
  Fanout(const Fanout& other)
    requires(std::copy_constructible<Sinks> && ...)
      : sinks_(other.sinks_) {
    copy_counts(other);
  }
  Fanout& operator=(const Fanout&) = delete;
  Fanout& operator=(Fanout&&) = delete;
  ~Fanout() = default;

  /// Calls emit(event) on each sink in order; a sink that throws is counted and skipped. Never
  /// throws. Thread-safe when every inner sink is. O(sum of the inner sinks).
  void emit(const Event& event) noexcept {
    emit_each(event, std::index_sequence_for<Sinks...>{});
  }

  /// Sink I (0-based, in template order).
  template <std::size_t I>
  [[nodiscard]] auto& get() noexcept {
    static_assert(I < size, "alert::Fanout::get<I>: index out of range");
    return std::get<I>(sinks_);
  }
  template <std::size_t I>
  [[nodiscard]] const auto& get() const noexcept {
    static_assert(I < size, "alert::Fanout::get<I>: index out of range");
    return std::get<I>(sinks_);
  }
  /// The sink of type T, which must appear exactly once among Sinks.
  template <class T>
  [[nodiscard]] T& get() noexcept {
    static_assert(count_of<T>() == 1, "alert::Fanout::get<T>: T must appear exactly once among the sinks; use get<I>()");
    return std::get<T>(sinks_);
  }
  template <class T>
  [[nodiscard]] const T& get() const noexcept {
    static_assert(count_of<T>() == 1, "alert::Fanout::get<T>: T must appear exactly once among the sinks; use get<I>()");
    return std::get<T>(sinks_);
  }

  /// Exceptions thrown by sink `index` (0-based), each of which lost that sink the event.
  /// Thread-safe; may be stale at once. `index` must be below size.
  [[nodiscard]] std::uint64_t sink_failures(std::size_t index) const noexcept {
    return failures_[index].load(std::memory_order_relaxed);
  }
  /// Exceptions thrown by all sinks together. Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t sink_failures() const noexcept {
    std::uint64_t total = 0;
    for (const auto& count : failures_) total += count.load(std::memory_order_relaxed);
    return total;
  }

 private:
  using Counts = std::array<std::atomic<std::uint64_t>, sizeof...(Sinks)>;

  template <class T>
  static constexpr std::size_t count_of() noexcept {
    return (std::size_t{std::is_same_v<T, Sinks>} + ...);
  }

  void copy_counts(const Fanout& other) noexcept {
    for (std::size_t i = 0; i < size; ++i)
      failures_[i].store(other.failures_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
  }

  template <std::size_t... I>
  void emit_each(const Event& event, std::index_sequence<I...>) noexcept {
    (emit_one<I>(event), ...);
  }

  template <std::size_t I>
  void emit_one(const Event& event) noexcept {
    try {
      std::get<I>(sinks_).emit(event);
    } catch (...) {
      failures_[I].fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::tuple<Sinks...> sinks_;
  Counts failures_{};
};

}  // namespace alert
}  // namespace keypool
