// keypool::alert::Queued<Sink>: moves events through a bounded lock-free ring to a background
// thread that feeds a slow sink (a file, a webhook, e-mail), so emitting never waits for it;
// counts and reports what a full ring made it drop.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#if defined(__linux__)
#include <pthread.h>
#endif

#include <keypool/concepts.hpp>
#include <keypool/detail/ring.hpp>
#include <keypool/error.hpp>
#include <keypool/events.hpp>
#include <keypool/time.hpp>

namespace keypool {
namespace detail {

/// How many bytes of `text` fit in `max_size` without cutting a UTF-8 sequence in two: `text`'s
/// size if it fits, else `max_size` moved back to the start of the sequence that straddles the
/// cut (at most 3 bytes back; invalid UTF-8 is cut at `max_size`).
[[nodiscard]] constexpr std::size_t utf8_prefix_size(std::string_view text, std::size_t max_size) noexcept {
  if (text.size() <= max_size) return text.size();
  const auto is_continuation = [&](std::size_t i) { return (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80; };
  std::size_t size = max_size;
  for (int back = 0; back < 3 && size > 0 && is_continuation(size); ++back) --size;
  return is_continuation(size) ? max_size : size;
}

/// An Event as a ring cell holds it: every field by value, and its six names (provider,
/// key label, window, to-provider, model, group) copied back to back into `text`, each cut to at most
/// `max_name_size` bytes (the Event's own views are left empty, so no cell ever holds a view into
/// the pool). Packed so that a typical event (short names) writes four cache lines, not seven.
struct QueuedEvent {
  static constexpr std::size_t max_name_size = 63;
  static constexpr std::size_t name_count = 6;

  Event event{};
  std::array<std::uint8_t, name_count> sizes{};
  std::array<char, name_count * max_name_size> text{};

  void assign(const Event& source) noexcept {
    event = source;
    event.provider_name = event.key_label = event.window = event.to_provider_name = event.model = event.group = std::string_view{};
    const std::array<std::string_view, name_count> names{source.provider_name, source.key_label, source.window,
                                                         source.to_provider_name, source.model, source.group};
    std::size_t offset = 0;
    for (std::size_t i = 0; i < name_count; ++i) {
      const std::size_t size = utf8_prefix_size(names[i], max_name_size);
      if (size != 0) std::memcpy(text.data() + offset, names[i].data(), size);
      sizes[i] = static_cast<std::uint8_t>(size);
      offset += size;
    }
  }

  /// The event, its names viewing this object's copies: valid while this object is unchanged.
  [[nodiscard]] Event view() const noexcept {
    std::array<std::string_view, name_count> names;
    std::size_t offset = 0;
    for (std::size_t i = 0; i < name_count; ++i) {
      names[i] = std::string_view{text.data() + offset, sizes[i]};
      offset += sizes[i];
    }
    Event copy = event;
    copy.provider_name = names[0];
    copy.key_label = names[1];
    copy.window = names[2];
    copy.to_provider_name = names[3];
    copy.model = names[4];
    copy.group = names[5];
    return copy;
  }
};

// Every string_view of an Event must be copied by QueuedEvent, or a queued event would point
// into a pool that may be gone when it is delivered. This catches a change to Event's layout.
static_assert(sizeof(void*) != 8 || sizeof(Event) == 208,
              "keypool::Event changed: if it gained a string_view (or another pointer into the pool), copy "
              "it in detail::QueuedEvent (alert/queued.hpp), then update the size in this assertion");

}  // namespace detail

namespace alert {

/// Tag: construct an alert::Queued without a background thread; the owner calls drain().
struct ManualDrain {
  explicit ManualDrain() = default;
};
inline constexpr ManualDrain manual_drain{};

/// Puts a sink behind a bounded lock-free ring. `emit` copies the event into the ring and
/// returns: it never blocks, never allocates, never makes a system call unless the drainer is
/// asleep (then one futex wake), and never throws. A background thread (the drainer, named
/// "keypool-alerts" on Linux), or the owner calling drain(), delivers the events to the inner
/// sink.
///
///     kp::alert::Queued<kp::alert::Ostream>{kp::alert::Ostream{std::cerr}, /*capacity=*/1024};
///     kp::alert::Queued<MySink>{MySink{}, 256, kp::alert::manual_drain};   // no thread: call drain()
///
/// Guarantees:
///  - Delivery: every event that found room is delivered exactly once, in the order its emit
///    claimed a cell (so the events of one thread arrive in that thread's order). The inner sink's
///    emit is never called by two threads at once: it need not be thread-safe.
///  - Drops: when the ring is full, emit drops the event and counts it. The next drain pass
///    (after delivering what the ring holds) reports every drop since the last report as ONE
///    `EventKind::events_dropped` event with `count` set and `at` = the time of the most recently
///    dropped event; dropped() is the running total.
///  - Names: provider_name, key_label, window and to_provider_name are copied into the cell,
///    truncated to 63 bytes on a UTF-8 character boundary. The delivered event's views point into
///    that copy and are valid during the inner sink's emit only: the pool's own storage may be gone
///    by then (the pool destroys its sink last).
///  - Exceptions: an inner sink that throws loses that event; the exception is caught and counted
///    in sink_failures(), and delivery goes on.
///  - Waiting: an idle drainer sleeps on an atomic wait (a futex): no polling, no CPU. An emit
///    wakes it only when it is actually asleep; otherwise emit pays one load of a shared flag
///    (and its publishing store is sequentially consistent: one xchg on x86).
///  - Destruction delivers what is left (reporting final drops), then stops and joins the drainer.
///    No emit may run concurrently with destruction, a move, or a move assignment.
///  - A moved-from Queued is inert: emit discards, drain and flush do nothing, counters read 0.
///
/// Not guaranteed: emit is not linearizable with drain(): an event whose emit is still copying
/// when a drain pass starts waits for the next pass. A producer preempted between claiming its
/// cell and publishing it (some tens of nanoseconds) holds delivery back at that cell until it
/// runs again; meanwhile other emits fill the ring, and drop once it is full. The inner sink must
/// not call this Queued's drain() or flush() (they return at once if it does); it may emit into it.
template <class Sink>
class Queued {
  static_assert(AlertSink<Sink>,
                "alert::Queued<Sink>: Sink must satisfy keypool::AlertSink (move-constructible, emit(const Event&))");

 public:
  /// Ring capacity when none is given.
  static constexpr std::size_t default_capacity = 1024;
  /// The largest capacity accepted (each cell holds a 448-byte event copy: 448 MiB at most).
  static constexpr std::size_t max_capacity = std::size_t{1} << 20;
  /// Names longer than this many bytes are truncated in the ring.
  static constexpr std::size_t max_name_size = detail::QueuedEvent::max_name_size;
  /// A queue in front of a sink that discards everything discards everything too.
  static constexpr bool discards_events = requires { requires Sink::discards_events; };

  /// A default Sink behind a ring of default_capacity, with a drainer thread.
  Queued()
    requires std::default_initializable<Sink>
      : Queued(Sink{}, default_capacity) {}

  /// Owns `sink`, behind a ring of `capacity` events (rounded up to a power of two; capacity()
  /// says how many), and starts the drainer thread. Throws keypool::Error on a capacity of 0 or
  /// above max_capacity, or when the thread cannot be started; std::bad_alloc. O(capacity).
  explicit Queued(Sink sink, std::size_t capacity = default_capacity)
      : state_(make_state(std::move(sink), capacity)) {
    state_->has_drainer = true;
    try {
      state_->drainer = std::thread([state = state_.get()] { state->run(); });
    } catch (const std::system_error& e) {
      throw Error(std::string{"alert::Queued: cannot start the drainer thread ("} + e.what() +
                  "); construct it with alert::manual_drain and call drain() yourself");
    }
#if defined(__linux__)
    pthread_setname_np(state_->drainer.native_handle(), "keypool-alerts");  // shown by top -H, gdb
#endif
  }

  /// The same without a thread: events wait in the ring until the owner calls drain() or flush()
  /// (or the destructor delivers them). For tests and single-threaded programs.
  Queued(Sink sink, std::size_t capacity, ManualDrain) : state_(make_state(std::move(sink), capacity)) {}

  /// Takes over the ring, the counters and the running drainer; `other` becomes inert. Not
  /// thread-safe: nothing may emit into `other` meanwhile.
  Queued(Queued&& other) noexcept = default;
  /// Delivers and stops this queue's events (as the destructor does), then takes over `other`'s.
  Queued& operator=(Queued&& other) noexcept {
    if (this != &other) {
      shut_down();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Queued(const Queued&) = delete;
  Queued& operator=(const Queued&) = delete;

  /// Delivers every event still in the ring, reports final drops, stops and joins the drainer.
  ~Queued() { shut_down(); }

  /// Copies `event` into the ring, or counts it as dropped when the ring is full. Never blocks,
  /// never allocates, never throws. Thread-safe, lock-free; O(length of the names, at most 4 × 63 bytes).
  void emit(const Event& event) noexcept {
    State* const state = state_.get();
    if (state == nullptr) return;  // moved-from
    const bool queued = state->ring.try_push([&](detail::QueuedEvent& cell) noexcept { cell.assign(event); });
    if (!queued) {
      state->last_drop_ns.store(event.at.time_since_epoch().count(), std::memory_order_relaxed);
      // seq_cst (so also release: the drainer that reads this count sees the drop time above).
      state->dropped.fetch_add(1, std::memory_order_seq_cst);
    }
    // Dekker with the drainer, all four operations seq_cst: we publish (the ring's seq_cst store,
    // or the increment above) then read `sleeping`; the drainer stores sleeping = 1 then reads
    // the ring and the drop count. One of the two sees the other's write, so the drainer never
    // sleeps on a non-empty ring. An awake drainer costs emit this one load of a shared line.
    if (state->has_drainer && state->sleeping.load(std::memory_order_seq_cst) != 0) state->wake();
  }

  /// Delivers to the inner sink, on the calling thread, every event published in the ring when
  /// the call starts, then the pending `events_dropped` report if there were drops. Returns how
  /// many queued events it delivered (the report is not counted). Thread-safe: passes (of the
  /// drainer and of other callers) run one at a time, so this waits while another is delivering.
  /// Returns 0 at once when called from within the inner sink. O(events delivered).
  std::size_t drain() {
    State* const state = state_.get();
    if (state == nullptr) return 0;
    return state->drain();
  }

  /// Returns once every event emitted (on any thread) before the call has been delivered — by
  /// the drainer or by this thread, whichever gets there first — and every drop counted before
  /// the call has been reported. Thread-safe; returns at once when called from within the inner
  /// sink. Waits as long as the inner sink takes.
  void flush() {
    State* const state = state_.get();
    if (state == nullptr || state->in_inner_sink()) return;
    const std::uint64_t target = state->ring.pushed();
    const std::uint64_t drops = state->dropped.load(std::memory_order_acquire);
    for (;;) {
      (void)state->drain();
      // Both figures are stored at the end of a pass, after its deliveries: a pass the drainer
      // started after our drain() (taking a late-published cell) counts only once it is done.
      if (state->completed.load(std::memory_order_acquire) >= target &&
          state->drops_reported.load(std::memory_order_acquire) >= drops)
        return;
      std::this_thread::yield();  // an emit claimed a cell before the call and is still copying
    }
  }

  /// Events the ring holds (at most capacity()). Thread-safe; may be stale at once. 0 if moved-from.
  [[nodiscard]] std::size_t capacity() const noexcept { return state_ ? state_->ring.capacity() : 0; }
  /// Events dropped because the ring was full, since construction. Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t dropped() const noexcept {
    return state_ ? state_->dropped.load(std::memory_order_relaxed) : 0;
  }
  /// Queued events handed to the inner sink so far (whether or not its emit threw).
  /// Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t delivered() const noexcept {
    return state_ ? state_->delivered.load(std::memory_order_relaxed) : 0;
  }
  /// Exceptions the inner sink threw (each lost its event). Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t sink_failures() const noexcept {
    return state_ ? state_->sink_failures.load(std::memory_order_relaxed) : 0;
  }
  /// Events claimed in the ring and not yet taken by a drain pass. Thread-safe; may be stale at once.
  [[nodiscard]] std::size_t pending() const noexcept {
    if (!state_) return 0;
    const std::uint64_t popped = state_->ring.popped();  // first: pushed() only grows, so no underflow
    return static_cast<std::size_t>(state_->ring.pushed() - popped);
  }
  /// True if a drainer thread delivers the events (not constructed with manual_drain, not moved-from).
  [[nodiscard]] bool has_drainer() const noexcept { return state_ && state_->has_drainer; }

  /// The inner sink. Its emit runs on the drainer thread (or drain()'s caller): touching it
  /// concurrently is the caller's responsibility. Precondition: not moved-from.
  [[nodiscard]] Sink& sink() noexcept { return state_->sink; }
  [[nodiscard]] const Sink& sink() const noexcept { return state_->sink; }

 private:
  struct State {
    State(Sink&& inner, std::size_t capacity) : sink(std::move(inner)), ring(capacity) {}

    Sink sink;
    detail::BoundedRing<detail::QueuedEvent> ring;
    bool has_drainer = false;  // set before the drainer starts; constant after
    // Written by emit only when the ring is full.
    alignas(128) std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::int64_t> last_drop_ns{0};
    // Read by every emit, written only when the drainer falls asleep or is woken: its own line.
    alignas(128) std::atomic<std::uint32_t> sleeping{0};
    std::atomic<bool> stopping{false};
    // The consumer side: one drain pass at a time.
    alignas(128) std::mutex drain_mutex;
    std::atomic<std::thread::id> draining_thread{};
    std::atomic<std::uint64_t> drops_reported{0};  // written under drain_mutex, after the report's delivery
    std::atomic<std::uint64_t> completed{0};       // ring position every finished pass delivered up to
    std::atomic<std::uint64_t> delivered{0};       // written under drain_mutex
    std::atomic<std::uint64_t> sink_failures{0};   // written under drain_mutex
    std::thread drainer;

    [[nodiscard]] bool in_inner_sink() const noexcept {
      return draining_thread.load(std::memory_order_relaxed) == std::this_thread::get_id();
    }

    /// Seq_cst loads (front_ready's too): the drainer's half of the Dekker pairing described in emit.
    [[nodiscard]] bool has_work() const noexcept {
      return ring.front_ready() ||
             dropped.load(std::memory_order_seq_cst) != drops_reported.load(std::memory_order_relaxed);
    }

    void deliver(const Event& event) noexcept {
      try {
        sink.emit(event);
      } catch (...) {
        sink_failures.fetch_add(1, std::memory_order_relaxed);  // the event is lost; the drainer goes on
      }
    }

    std::size_t drain() {
      if (in_inner_sink()) return 0;  // re-entered from the inner sink: the pass in progress goes on
      std::lock_guard lock{drain_mutex};
      draining_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
      // Bounded by the claims seen now, so a pass ends even while producers keep emitting.
      const std::uint64_t end = ring.pushed();
      std::size_t count = 0;
      detail::QueuedEvent item;
      // The event is copied out of its cell first, so producers get the cell back before a slow sink runs.
      while (ring.popped() < end && ring.try_pop(item)) {
        deliver(item.view());
        delivered.fetch_add(1, std::memory_order_relaxed);
        ++count;
      }
      completed.store(ring.popped(), std::memory_order_release);  // for flush()
      // Acquire: pairs with emit's release increment, so last_drop_ns is at least that drop's time.
      const std::uint64_t drops = dropped.load(std::memory_order_acquire);
      const std::uint64_t reported = drops_reported.load(std::memory_order_relaxed);
      if (drops != reported) {
        Event report;
        report.kind = EventKind::events_dropped;
        report.at = TimePoint{Duration{last_drop_ns.load(std::memory_order_relaxed)}};
        report.count = drops - reported;
        deliver(report);
        drops_reported.store(drops, std::memory_order_release);  // for flush() and has_work()
      }
      draining_thread.store(std::thread::id{}, std::memory_order_relaxed);
      return count;
    }

    /// Wakes the drainer if it sleeps; only the caller that flips `sleeping` from 1 makes the
    /// (futex) system call.
    void wake() noexcept {
      if (sleeping.exchange(0, std::memory_order_seq_cst) != 0) sleeping.notify_one();
    }

    /// The drainer thread: deliver, and sleep on `sleeping` when there is nothing to do.
    void run() noexcept {
      for (;;) {
        drain_noexcept();
        if (stopping.load(std::memory_order_seq_cst)) break;
        // Announce the sleep, then look once more (seq_cst both: see emit). Whoever published
        // after our look sees sleeping == 1 and wakes us.
        sleeping.store(1, std::memory_order_seq_cst);
        if (stopping.load(std::memory_order_seq_cst) || has_work()) {
          sleeping.store(0, std::memory_order_seq_cst);
          continue;
        }
        sleeping.wait(1, std::memory_order_seq_cst);  // returns once a waker has set it to 0
      }
      deliver_rest();
    }

    void drain_noexcept() noexcept {
      try {
        (void)drain();
      } catch (...) {
        // Only locking the mutex can throw (std::system_error): try again on the next pass.
      }
    }

    /// Drains until the ring is empty and every drop is reported (no emit runs concurrently).
    void deliver_rest() noexcept {
      do drain_noexcept();
      while (has_work());
    }
  };

  static std::unique_ptr<State> make_state(Sink&& sink, std::size_t capacity) {
    if (capacity == 0)
      throw Error("alert::Queued: capacity 0 holds no event; give the ring room, e.g. 1024");
    if (capacity > max_capacity)
      throw Error("alert::Queued: capacity " + std::to_string(capacity) +
                  " is above the maximum of 1048576 events; a smaller ring that drains faster drops less");
    return std::make_unique<State>(std::move(sink), detail::BoundedRing<detail::QueuedEvent>::round_capacity(capacity));
  }

  void shut_down() noexcept {
    State* const state = state_.get();
    if (state == nullptr) return;
    if (state->drainer.joinable()) {
      state->stopping.store(true, std::memory_order_seq_cst);  // then read `sleeping`: see run()
      state->wake();
      state->drainer.join();  // the drainer delivers what is left before it returns
    } else {
      state->deliver_rest();
    }
    state_.reset();
  }

  std::unique_ptr<State> state_;
};

}  // namespace alert
}  // namespace keypool
