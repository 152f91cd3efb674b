// keypool::alert::Ostream: writes one line per event to a std::ostream; and format_event, the
// line itself, for sinks of your own (a webhook, a log shipper).
#pragma once

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

#include <keypool/detail/text.hpp>
#include <keypool/events.hpp>
#include <keypool/request.hpp>
#include <keypool/time.hpp>

namespace keypool {
namespace detail {

inline void append_digits(std::string& out, std::uint64_t value, int min_width = 1) {
  std::array<char, 20> digits{};
  int n = 0;
  do {
    digits[static_cast<std::size_t>(n++)] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int pad = n; pad < min_width; ++pad) out.push_back('0');
  while (n > 0) out.push_back(digits[static_cast<std::size_t>(--n)]);
}

/// "2026-11-24T10:42:07Z", or "2026-11-24T10:42:07.250Z" when the millisecond part is not zero;
/// "never" for TimePoint::max(). Milliseconds are truncated, not rounded.
inline void append_time(std::string& out, TimePoint t) {
  if (t == TimePoint::max()) {
    out += "never";
    return;
  }
  const text::Seconds s = text::split_seconds(t.time_since_epoch());  // nanos in [0, 1e9)
  text::append_utc_date_time(out, s.whole);
  if (const auto ms = static_cast<std::uint64_t>(s.nanos / 1'000'000); ms != 0) {
    out.push_back('.');
    append_digits(out, ms, 3);
  }
  out.push_back('Z');
}

/// Go's duration style, truncated to whole seconds from one second up: "1h2m3s", "15m0s", "45s";
/// below one second, whole milliseconds: "250ms", "0s". A negative duration gets a leading '-'.
inline void append_duration(std::string& out, Duration d) {
  using namespace std::chrono;
  std::uint64_t ns = 0;
  if (d < Duration::zero()) {
    out.push_back('-');
    ns = static_cast<std::uint64_t>(-(d.count() + 1)) + 1;  // no overflow at Duration::min()
  } else {
    ns = static_cast<std::uint64_t>(d.count());
  }
  if (ns < 1'000'000'000) {
    const std::uint64_t ms = ns / 1'000'000;
    if (ms == 0) {
      out += "0s";
    } else {
      append_digits(out, ms);
      out += "ms";
    }
    return;
  }
  const std::uint64_t seconds = ns / 1'000'000'000;
  if (seconds >= 3600) {
    append_digits(out, seconds / 3600);
    out.push_back('h');
  }
  if (seconds >= 60) {
    append_digits(out, seconds / 60 % 60);
    out.push_back('m');
  }
  append_digits(out, seconds % 60);
  out.push_back('s');
}

/// A fraction as a percentage with at most two decimals, trailing zeros dropped: 0.8 -> "80%",
/// 0.875 -> "87.5%", 1/3 -> "33.33%". Independent of the C locale.
inline void append_percent(std::string& out, double fraction) {
  const double percent = fraction * 100.0;
  std::array<char, 64> buffer{};
  std::to_chars_result result{};
  if (std::isfinite(percent) && std::fabs(percent) < 1e15)
    result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), percent, std::chars_format::fixed, 2);
  else
    result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), percent);  // "inf", "nan", "1e+20"
  std::string_view text{buffer.data(), static_cast<std::size_t>(result.ptr - buffer.data())};
  if (text.find('.') != std::string_view::npos && text.find('e') == std::string_view::npos) {
    while (text.back() == '0') text.remove_suffix(1);
    if (text.back() == '.') text.remove_suffix(1);
  }
  if (text == "-0") text = "0";
  out += text;
  out.push_back('%');
}

/// True if `value` can be written without quotes: not empty, and every byte is printable ASCII
/// other than space, '"', '=' and '\\', or a byte >= 0x80 (UTF-8 passes through unchanged).
[[nodiscard]] constexpr bool is_bare_value(std::string_view value) noexcept {
  if (value.empty()) return false;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) continue;
    if (byte <= 0x20 || byte == 0x7f || c == '"' || c == '=' || c == '\\') return false;
  }
  return true;
}

/// `value` bare, or quoted with \" \\ \n \r \t and \xHH for other control bytes.
inline void append_value(std::string& out, std::string_view value) {
  if (is_bare_value(value)) {
    out += value;
    return;
  }
  out.push_back('"');
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (const std::string_view escape = text::short_escape(c); !escape.empty()) {
      out += escape;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      text::append_hex_byte(out, byte);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

inline void append_field(std::string& out, std::string_view name) {
  out.push_back(' ');
  out += name;
  out.push_back('=');
}

/// Which fields a kind prints (besides time and kind), in the line's fixed order.
struct EventFields {
  bool provider = false, key = false, to_provider = false, metric = false, level = false, usage = false,
       count = false, keys = false, eta = false, reason = false, resets_at = false, reported = false;
};

/// The fields of docs/alerts.md's table: fixed per kind, except where the pool fills a field
/// only for some events of the kind (a key's or a provider's forecast, a recovery after a window
/// reset or after a cooldown); those print when set (a name not empty, a limit not 0).
[[nodiscard]] inline EventFields fields_of(const Event& e) noexcept {
  const bool has_metric = !e.window.empty();
  const bool has_usage = e.limit != 0;
  switch (e.kind) {
    case EventKind::threshold_crossed:
      return {.provider = true, .key = true, .metric = true, .level = true, .usage = true, .resets_at = true};
    case EventKind::key_exhausted:
      return {.provider = true, .key = true, .metric = true, .usage = true, .resets_at = true};
    case EventKind::key_recovered: return {.provider = true, .key = true, .metric = has_metric, .usage = has_usage};
    case EventKind::key_cooling_down: return {.provider = true, .key = true, .resets_at = true};
    case EventKind::key_disabled: return {.provider = true, .key = true};
    case EventKind::provider_exhausted: return {.provider = true, .reason = true, .resets_at = true};
    case EventKind::provider_recovered: return {.provider = true};
    case EventKind::all_exhausted: return {.reason = true, .resets_at = true};
    case EventKind::failover: return {.provider = true, .to_provider = true};
    case EventKind::exhaustion_forecast:
      return {.provider = true, .key = !e.key_label.empty(), .metric = has_metric, .usage = has_usage, .eta = true,
              .resets_at = true};
    case EventKind::backend_unavailable:
      return {.provider = !e.provider_name.empty(), .key = !e.key_label.empty(), .resets_at = e.resets_at != TimePoint{}};
    case EventKind::events_dropped: return {.count = true};
    case EventKind::limit_mismatch:
      return {.provider = true, .key = true, .metric = true, .usage = true, .reported = true};
    case EventKind::cost_rejected: return {.provider = true, .key = true, .metric = true, .usage = true};
    case EventKind::provider_keys_out: return {.provider = true, .count = true, .keys = true};
    case EventKind::traffic_spike: return {.provider = true, .level = true, .count = true};
    case EventKind::key_probed: return {.provider = true, .key = true, .count = true, .reason = true, .resets_at = e.reason.has_value()};
    case EventKind::state_repaired:
      return {.provider = true, .key = true, .metric = has_usage, .usage = has_usage, .reported = true};
    case EventKind::key_added:
    case EventKind::key_removed: return {.provider = true, .key = true, .count = true};
    case EventKind::key_rotated: return {.provider = true, .key = true};
    case EventKind::key_limits_changed: return {.provider = true, .key = true, .count = true};
  }
  return {};
}

}  // namespace detail

/// Appends the event's line to `out`, without a trailing newline:
///
///     2026-11-24T10:42:07Z threshold_crossed provider=groq key=groq-1 metric=tokens window=day level=80% used=11520 limit=14400 resets_at=2026-11-25T00:00:00Z
///
/// The time, the kind (to_string(EventKind)), then `name=value` fields, each named after its
/// Event member, in a fixed order, only those that apply to the kind (docs/alerts.md lists them
/// per kind, with the grammar). Names are written bare when they hold no space, control byte,
/// '"', '=' or '\\' and are not empty; otherwise quoted with C-style escapes, so a line always
/// splits into fields on unquoted spaces and never contains a newline. An event carries labels,
/// never secrets, so a line never holds a secret.
/// Thread-safe (no shared state). Allocates only when `out` must grow. O(line length).
inline void format_event(std::string& out, const Event& event) {
  detail::append_time(out, event.at);
  out.push_back(' ');
  out += to_string(event.kind);
  const detail::EventFields f = detail::fields_of(event);
  if (f.provider) {
    detail::append_field(out, "provider");
    detail::append_value(out, event.provider_name);
  }
  if (f.key && !(event.key_label.empty() && !event.group.empty())) {
    detail::append_field(out, "key");
    detail::append_value(out, event.key_label);
  }
  if (!event.group.empty()) {
    detail::append_field(out, "group");
    detail::append_value(out, event.group);
  }
  if (!event.model.empty()) {
    detail::append_field(out, "model");
    detail::append_value(out, event.model);
  }
  if (f.to_provider) {
    detail::append_field(out, "to_provider");
    detail::append_value(out, event.to_provider_name);
  }
  if (f.metric) {
    detail::append_field(out, "metric");
    out += to_string(event.metric);
    detail::append_field(out, "window");
    detail::append_value(out, event.window);
  }
  if (f.level) {
    detail::append_field(out, "level");
    detail::append_percent(out, event.level);
  }
  if (f.usage) {
    detail::append_field(out, "used");
    detail::append_digits(out, event.used);
    detail::append_field(out, "limit");
    detail::append_digits(out, event.limit);
  }
  if (f.reported) {
    detail::append_field(out, "reported");
    detail::append_digits(out, event.reported);
  }
  if (f.count) {
    detail::append_field(out, "count");
    detail::append_digits(out, event.count);
  }
  if (f.keys) {
    detail::append_field(out, "keys");
    detail::append_digits(out, event.keys);
  }
  if (f.eta) {
    detail::append_field(out, "eta");
    detail::append_duration(out, event.eta);
  }
  if (f.reason && event.reason) {
    detail::append_field(out, "reason");
    out += to_string(*event.reason);
  }
  if (f.resets_at) {
    detail::append_field(out, "resets_at");
    detail::append_time(out, event.resets_at);
  }
}

/// The event's line (see the overload above), without a trailing newline. Thread-safe. Allocates.
[[nodiscard]] inline std::string format_event(const Event& event) {
  std::string line;
  line.reserve(192);
  format_event(line, event);
  return line;
}

namespace detail {

/// One mutex per stream address (16 stripes, shared by the whole program), so every Ostream
/// writing to one std::ostream, in any pool, takes the same lock. Two streams may share a
/// stripe: that costs contention, never correctness.
[[nodiscard]] inline std::mutex& stream_mutex(const void* stream) noexcept {
  static std::array<std::mutex, 16> stripes;
  const auto address = reinterpret_cast<std::uintptr_t>(stream);
  return stripes[static_cast<std::size_t>((address * 0x9E3779B97F4A7C15ull) >> 60)];
}

}  // namespace detail

namespace alert {

/// Writes each event as one line (format_event, then '\n') to a std::ostream the caller owns
/// and keeps alive for as long as the sink (and every copy of it) may emit.
///
/// Threads: the line is formatted outside any lock, then written with a single `write` (and,
/// by default, a `flush`) under a mutex chosen by the stream's address, so lines from concurrent
/// emits — even from different Ostream instances, in different pools, on the same stream — never
/// interleave. Other code writing to the same stream directly does not take that mutex.
///
/// Failures: emit never clears the stream's state (the stream records a failed write itself, as
/// usual). A write to a stream in a failed state, or one that fails, loses the line and counts it
/// in failed_writes(); later lines are lost too until the owner clear()s the stream. If the stream's
/// exceptions() mask asks for it, the stream's std::ios_base::failure passes out of emit; the pool
/// catches it and counts it in its own sink_failures() (alert::Queued and alert::Fanout count it in
/// theirs).
///
/// emit formats into a per-thread buffer (no allocation once it has grown) and does the
/// stream's I/O on the calling thread: on a hot path, put it behind alert::Queued.
class Ostream {
 public:
  /// Whether emit flushes the stream after each line.
  enum class Flush : std::uint8_t {
    each_line,  ///< flush after every line (the default: events are rare, and the last lines
                ///< before a crash are the ones an operator needs)
    by_stream,  ///< leave flushing to the stream (its buffer, std::unitbuf, std::endl elsewhere)
  };

  /// Writes to `out`, which must outlive this sink and its copies. Does not throw.
  explicit Ostream(std::ostream& out, Flush flush = Flush::each_line) noexcept : out_(&out), flush_(flush) {}

  /// Copies write to the same stream (under the same mutex); each counts its own failed writes,
  /// starting from the source's count.
  Ostream(const Ostream& other) noexcept
      : out_(other.out_), flush_(other.flush_), failed_writes_(other.failed_writes()) {}
  Ostream& operator=(const Ostream& other) noexcept {
    out_ = other.out_;
    flush_ = other.flush_;
    failed_writes_.store(other.failed_writes(), std::memory_order_relaxed);
    return *this;
  }
  ~Ostream() = default;

  /// Writes the event's line. Thread-safe (see the class comment). Throws only what the stream
  /// throws when its exceptions() mask is set, and std::bad_alloc. O(line length) plus the I/O.
  void emit(const Event& event) {
    thread_local std::string line;
    line.clear();
    format_event(line, event);
    line.push_back('\n');
    std::lock_guard lock{detail::stream_mutex(out_)};
    try {
      out_->write(line.data(), static_cast<std::streamsize>(line.size()));
      if (flush_ == Flush::each_line) out_->flush();
    } catch (...) {
      failed_writes_.fetch_add(1, std::memory_order_relaxed);
      throw;  // the stream's exceptions() mask asked for it
    }
    if (!out_->good()) failed_writes_.fetch_add(1, std::memory_order_relaxed);
  }

  /// Lines lost: each write that threw, or left the stream in another state than good() (it was
  /// or went bad, failed or at eof), counts once. Thread-safe; may be stale at once.
  [[nodiscard]] std::uint64_t failed_writes() const noexcept { return failed_writes_.load(std::memory_order_relaxed); }

  /// The stream this sink writes to.
  [[nodiscard]] std::ostream& stream() const noexcept { return *out_; }

 private:
  std::ostream* out_;
  Flush flush_;
  std::atomic<std::uint64_t> failed_writes_{0};
};

}  // namespace alert
}  // namespace keypool
